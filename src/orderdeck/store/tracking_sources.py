"""Tracking sources (one row each) and the fulfillments a pushed tracking number belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from ..domain.errors import NotFound
from .tables import order_search_terms, tracking_sources


@dataclass(frozen=True)
class TrackingSource:
    id: int
    kind: str  # aftership | generic
    name: str
    secret: str
    created_at: datetime
    last_received_at: datetime | None


class TrackingSources:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, *, kind: str, name: str, secret: str, now: datetime) -> int:
        values = {"kind": kind, "name": name, "secret": secret, "created_at": now}
        return int(
            self.conn.execute(insert(tracking_sources).values(**values).returning(tracking_sources.c.id)).scalar_one()
        )

    def find(self, source_id: int) -> TrackingSource | None:
        row = self.conn.execute(select(tracking_sources).where(tracking_sources.c.id == source_id)).one_or_none()
        return TrackingSource(**row._mapping) if row is not None else None

    def get(self, source_id: int) -> TrackingSource:
        found = self.find(source_id)
        if found is None:
            raise NotFound("Not Found")
        return found

    def all(self) -> list[TrackingSource]:
        rows = self.conn.execute(select(tracking_sources).order_by(tracking_sources.c.id))
        return [TrackingSource(**row._mapping) for row in rows]

    def delete(self, source_id: int) -> None:
        self.get(source_id)
        self.conn.execute(delete(tracking_sources).where(tracking_sources.c.id == source_id))

    def received(self, source_id: int, now: datetime) -> None:
        self.conn.execute(
            update(tracking_sources).where(tracking_sources.c.id == source_id).values(last_received_at=now)
        )

    def orders_with_tracking_number(self, number: str) -> list[int]:
        """The orders whose fulfillments carry the number (the search terms' `tracking` kind,
        lower-cased and cut at 255 as store/orders.py writes them); the caller checks each."""
        term = number.lower()[:255]
        query = (
            select(order_search_terms.c.order_id)
            .where(order_search_terms.c.kind == "tracking", order_search_terms.c.term == term)
            .distinct()
            .order_by(order_search_terms.c.order_id)
        )
        return [int(order_id) for order_id in self.conn.execute(query).scalars()]
