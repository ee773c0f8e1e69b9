"""The merchant's custom statuses (stages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from ..domain.errors import NotFound
from .database import utc
from .tables import custom_statuses, orders


@dataclass(frozen=True)
class CustomStatus:
    id: int
    handle: str
    names: dict[str, str]
    color: str
    position: int
    customer_visible: bool
    notify: bool
    created_at: datetime
    updated_at: datetime

    def name(self, locale: str) -> str:
        return self.names.get(locale) or self.names.get("en") or self.handle

    @classmethod
    def of(cls, row: Any) -> CustomStatus:
        values = dict(row)
        values["names"] = orjson.loads(values["names"])
        values["created_at"] = utc(values["created_at"])
        values["updated_at"] = utc(values["updated_at"])
        return cls(**values)


class CustomStatuses:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def all(self) -> list[CustomStatus]:
        rows = self.conn.execute(select(custom_statuses).order_by(custom_statuses.c.position, custom_statuses.c.id))
        return [CustomStatus.of(r) for r in rows.mappings()]

    def get(self, status_id: int) -> CustomStatus:
        row = self.conn.execute(select(custom_statuses).where(custom_statuses.c.id == status_id)).mappings().first()
        if row is None:
            raise NotFound(f"No custom status with id {status_id}")
        return CustomStatus.of(row)

    def by_handle(self, handle: str) -> CustomStatus | None:
        row = self.conn.execute(select(custom_statuses).where(custom_statuses.c.handle == handle)).mappings().first()
        return CustomStatus.of(row) if row is not None else None

    def add(self, values: dict[str, Any], now: datetime) -> CustomStatus:
        new_id = self.conn.execute(
            insert(custom_statuses)
            .values(**{**values, "names": orjson.dumps(values["names"]).decode()}, created_at=now, updated_at=now)
            .returning(custom_statuses.c.id)
        ).scalar_one()
        return self.get(new_id)

    def change(self, status_id: int, values: dict[str, Any], now: datetime) -> CustomStatus:
        if "names" in values:
            values = {**values, "names": orjson.dumps(values["names"]).decode()}
        self.conn.execute(
            update(custom_statuses).where(custom_statuses.c.id == status_id).values(**values, updated_at=now)
        )
        return self.get(status_id)

    def remove(self, status_id: int) -> None:
        self.conn.execute(delete(custom_statuses).where(custom_statuses.c.id == status_id))

    def next_position(self) -> int:
        return int(self.conn.execute(select(func.coalesce(func.max(custom_statuses.c.position), 0) + 1)).scalar_one())

    def order_ids_in(self, handle: str) -> list[int]:
        return list(self.conn.execute(select(orders.c.id).where(orders.c.custom_status == handle)).scalars())
