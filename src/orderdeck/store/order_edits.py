"""Order edits: each edit as a JSON document beside the columns it is found by."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from ..domain.errors import NotFound
from ..domain.order_edits import OrderEdit
from .database import utc
from .tables import order_edits

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(OrderEdit)


class OrderEdits:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def next_id(self, order_id: int, now: datetime) -> int:
        """Claim the edit's id: a row is written first so its staged items' ids can derive from it."""
        return int(
            self.conn.execute(
                insert(order_edits).values(
                    order_id=order_id, status="open", document="{}", created_at=now, updated_at=now, expires_at=now
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )

    def get(self, edit_id: int, *, for_update: bool = True) -> OrderEdit:
        query = select(order_edits.c.document).where(order_edits.c.id == edit_id)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        document = self.conn.execute(query).scalar_one_or_none()
        if document is None or document == "{}":
            raise NotFound(f"Order edit {edit_id} was not found")
        return self._load(document)

    @staticmethod
    def _load(document: str) -> OrderEdit:
        edit = _decoder.decode(document)
        for name in ("created_at", "updated_at", "expires_at", "committed_at"):
            value = getattr(edit, name)
            if value is not None:
                setattr(edit, name, utc(value))
        return edit

    def save(self, edit: OrderEdit) -> None:
        self.conn.execute(
            update(order_edits)
            .where(order_edits.c.id == edit.id)
            .values(
                status=edit.status,
                document=_encoder.encode(edit).decode(),
                created_at=utc(edit.created_at),
                updated_at=utc(edit.updated_at),
                expires_at=utc(edit.expires_at),
            )
        )

    def of_order(self, order_id: int, *, status: str | None = None, limit: int = 50) -> list[OrderEdit]:
        """An order's edits, newest first."""
        query = select(order_edits.c.document).where(order_edits.c.order_id == order_id, order_edits.c.document != "{}")
        if status is not None:
            query = query.where(order_edits.c.status == status)
        rows = self.conn.execute(query.order_by(order_edits.c.id.desc()).limit(limit))
        return [self._load(row.document) for row in rows]

    def delete_of_order(self, order_id: int) -> None:
        """A deleted order takes its edits with it."""
        self.conn.execute(delete(order_edits).where(order_edits.c.order_id == order_id))
