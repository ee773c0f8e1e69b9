"""Draft orders: the draft as a JSON document beside the columns its list filters on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, update

from ..domain.draft_orders import DraftOrder
from ..domain.errors import NotFound
from .database import utc
from .tables import draft_orders

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(DraftOrder)


@dataclass(frozen=True)
class DraftFilter:
    ids: tuple[int, ...] | None = None
    status: str | None = None
    since_id: int = 0
    updated_at_min: datetime | None = None
    updated_at_max: datetime | None = None


class DraftOrders:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def next_id(self, now: datetime, token: str) -> int:
        """Claim the draft's number: a row is written first so the id (its name "#D<id>") is known."""
        return int(
            self.conn.execute(
                insert(draft_orders).values(status="open", token=token, document="{}", created_at=now, updated_at=now)
            ).inserted_primary_key[0]  # type: ignore[index]
        )

    def get(self, draft_id: int, *, for_update: bool = True) -> DraftOrder:
        query = select(draft_orders.c.document).where(draft_orders.c.id == draft_id)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        document = self.conn.execute(query).scalar_one_or_none()
        if document is None or document == "{}":
            raise NotFound("Not Found")
        return self._load(document)

    @staticmethod
    def _load(document: str) -> DraftOrder:
        draft = _decoder.decode(document)
        draft.created_at = utc(draft.created_at) or draft.created_at
        draft.updated_at = utc(draft.updated_at) or draft.updated_at
        return draft

    def save(self, draft: DraftOrder) -> None:
        self.conn.execute(
            update(draft_orders)
            .where(draft_orders.c.id == draft.id)
            .values(
                status=draft.status,
                order_id=draft.order_id,
                document=_encoder.encode(draft).decode(),
                created_at=utc(draft.created_at),
                updated_at=utc(draft.updated_at),
            )
        )

    def id_of_token(self, token: str) -> int | None:
        found = self.conn.execute(select(draft_orders.c.id).where(draft_orders.c.token == token)).first()
        return None if found is None else int(found.id)

    def delete(self, draft_id: int) -> None:
        self.conn.execute(delete(draft_orders).where(draft_orders.c.id == draft_id))

    def _where(self, f: DraftFilter) -> list[ColumnElement[bool]]:
        c = draft_orders.c
        found: list[ColumnElement[bool]] = [c.id > f.since_id, c.document != "{}"]
        if f.ids is not None:
            found.append(c.id.in_(f.ids))
        if f.status is not None:
            found.append(c.status == f.status)
        if f.updated_at_min is not None:
            found.append(c.updated_at >= utc(f.updated_at_min))
        if f.updated_at_max is not None:
            found.append(c.updated_at <= utc(f.updated_at_max))
        return found

    def page(self, f: DraftFilter, limit: int) -> list[DraftOrder]:
        """Oldest first from since_id; one more than `limit` tells the caller a next page exists."""
        rows = self.conn.execute(
            select(draft_orders.c.document).where(*self._where(f)).order_by(draft_orders.c.id).limit(limit)
        )
        return [self._load(row.document) for row in rows]

    def newest(self, f: DraftFilter, limit: int, *, before: int | None = None) -> list[DraftOrder]:
        """The admin's list: newest first, before a draft id for the next page."""
        where = self._where(f)
        if before is not None:
            where.append(draft_orders.c.id < before)
        rows = self.conn.execute(
            select(draft_orders.c.document).where(*where).order_by(draft_orders.c.id.desc()).limit(limit)
        )
        return [self._load(row.document) for row in rows]

    def count(self, f: DraftFilter) -> int:
        return int(
            self.conn.execute(select(func.count()).select_from(draft_orders).where(*self._where(f))).scalar_one()
        )
