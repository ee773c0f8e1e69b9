"""The order timeline (S3): every change with its author, and staff comments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, update

from ..domain.errors import Forbidden, NotFound
from ..domain.order import Author, DomainEvent
from .tables import timeline_events


@dataclass
class TimelineEntry:
    id: int
    order_id: int
    created_at: datetime
    updated_at: datetime | None
    verb: str
    message: str
    author: Author
    subject_id: int | None
    arguments: dict[str, Any]
    is_comment: bool


def _entry(row: Any) -> TimelineEntry:
    return TimelineEntry(
        id=row.id,
        order_id=row.order_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        verb=row.verb,
        message=row.message,
        author=Author(row.author_kind, row.author_name, row.author_ref),
        subject_id=row.subject_id,
        arguments=orjson.loads(row.arguments),
        is_comment=row.is_comment,
    )


def event_rows(order_id: int, events: list[DomainEvent], now: datetime) -> list[dict[str, Any]]:
    """Timeline rows for an order's domain events."""
    return [
        {
            "order_id": order_id,
            "created_at": now,
            "verb": e.verb,
            "message": e.message,
            "author_kind": e.author.kind,
            "author_name": e.author.name,
            "author_ref": e.author.ref,
            "subject_id": e.subject_id,
            "arguments": orjson.dumps(e.arguments).decode(),
            "is_comment": False,
        }
        for e in events
    ]


class Timeline:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(self, order_id: int, events: list[DomainEvent], now: datetime) -> None:
        if events:
            self.conn.execute(insert(timeline_events), event_rows(order_id, events, now))

    def add_comment(self, order_id: int, body: str, author: Author, now: datetime) -> TimelineEntry:
        new_id = self.conn.execute(
            insert(timeline_events)
            .values(
                order_id=order_id,
                created_at=now,
                verb="comment",
                message=body,
                author_kind=author.kind,
                author_name=author.name,
                author_ref=author.ref,
                arguments="{}",
                is_comment=True,
            )
            .returning(timeline_events.c.id)
        ).scalar_one()
        return self.get(order_id, new_id)

    def get(self, order_id: int, entry_id: int) -> TimelineEntry:
        row = self.conn.execute(
            select(timeline_events).where(timeline_events.c.id == entry_id, timeline_events.c.order_id == order_id)
        ).one_or_none()
        if row is None:
            raise NotFound("Not Found")
        return _entry(row)

    def _own_comment(self, order_id: int, entry_id: int, author: Author) -> TimelineEntry:
        entry = self.get(order_id, entry_id)
        if not entry.is_comment:
            raise Forbidden("Only comments can be changed; the order's history cannot")
        if (entry.author.kind, entry.author.ref) != (author.kind, author.ref):
            raise Forbidden("You can only edit or delete your own comments")
        return entry

    def edit_comment(self, order_id: int, entry_id: int, body: str, author: Author, now: datetime) -> TimelineEntry:
        self._own_comment(order_id, entry_id, author)
        self.conn.execute(
            update(timeline_events).where(timeline_events.c.id == entry_id).values(message=body, updated_at=now)
        )
        return self.get(order_id, entry_id)

    def delete_comment(self, order_id: int, entry_id: int, author: Author) -> None:
        self._own_comment(order_id, entry_id, author)
        self.conn.execute(delete(timeline_events).where(timeline_events.c.id == entry_id))

    def delete_for_order(self, order_id: int) -> None:
        self.conn.execute(delete(timeline_events).where(timeline_events.c.order_id == order_id))

    def find(self, entry_id: int) -> TimelineEntry:
        """One event of any order (GET /events/{id}.json)."""
        row = self.conn.execute(select(timeline_events).where(timeline_events.c.id == entry_id)).one_or_none()
        if row is None:
            raise NotFound("Not Found")
        return _entry(row)

    def list(
        self,
        *,
        order_id: int | None,
        since_id: int | None,
        after_id: int | None,
        limit: int,
        verb: str | None = None,
        created_at_min: datetime | None = None,
        created_at_max: datetime | None = None,
        before_id: int | None = None,
    ) -> list[TimelineEntry]:
        """Oldest first; with `before_id` (a previous page) the `limit` events just before it,
        still oldest first."""
        conditions = _matching(order_id, verb, created_at_min, created_at_max)
        floor = max(x for x in (since_id, after_id, 0) if x is not None)
        if floor:
            conditions.append(timeline_events.c.id > floor)
        if before_id is not None:
            conditions.append(timeline_events.c.id < before_id)
            query = select(timeline_events).where(*conditions).order_by(timeline_events.c.id.desc()).limit(limit)
            return [_entry(r) for r in reversed(list(self.conn.execute(query)))]
        query = select(timeline_events).where(*conditions).order_by(timeline_events.c.id).limit(limit)
        return [_entry(r) for r in self.conn.execute(query)]

    def count(
        self,
        *,
        order_id: int | None = None,
        verb: str | None = None,
        created_at_min: datetime | None = None,
        created_at_max: datetime | None = None,
    ) -> int:
        conditions = _matching(order_id, verb, created_at_min, created_at_max)
        return int(self.conn.execute(select(func.count()).select_from(timeline_events).where(*conditions)).scalar_one())


def _matching(
    order_id: int | None, verb: str | None, created_at_min: datetime | None, created_at_max: datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if order_id is not None:
        conditions.append(timeline_events.c.order_id == order_id)
    if verb:
        conditions.append(timeline_events.c.verb == verb)
    if created_at_min:
        conditions.append(timeline_events.c.created_at >= created_at_min)
    if created_at_max:
        conditions.append(timeline_events.c.created_at <= created_at_max)
    return conditions
