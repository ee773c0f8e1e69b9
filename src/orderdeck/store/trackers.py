"""Trackers: one row per tracking number of a fulfillment that a carrier account can poll, and
the queries the sweep (services/trackers.py) takes them by."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, literal, select, tuple_, update

from ..domain.order import Order
from ..tracking.karrio_tracker import carrier_for
from .carrier_accounts import CarrierAccounts
from .database import utc
from .shipments import FINISHED
from .tables import shipments, trackers

# active: polled at next_check_at; delivered / failed: the carrier's last word, no more polling;
# retired: 90 days old, its fulfillment cancelled or the number taken off it.
STATES = ("active", "delivered", "failed", "retired")


@dataclass(frozen=True)
class Tracker:
    id: int
    order_id: int
    fulfillment_id: int
    tracking_number: str
    carrier: str
    state: str
    shipment_status: str | None
    next_check_at: datetime | None
    checked_at: datetime | None
    last_event_at: datetime | None
    errors: int
    last_error: str | None
    created_at: datetime


def _tracker(row: Any) -> Tracker:
    values = dict(row._mapping)
    for name in ("next_check_at", "checked_at", "last_event_at", "created_at"):
        values[name] = utc(values[name])
    return Tracker(**values)


class Trackers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def follow(self, order: Order, now: datetime) -> None:
        """Keep the order's trackers in step with its tracking numbers (save_order calls this, in
        the order's transaction): a tracker for each new number of an active fulfillment whose
        company a carrier account tracks; retired when the number or the fulfillment goes."""
        if not any(f.tracking_numbers for f in order.fulfillments):
            return  # no query for the orders that never had a tracking number
        wanted = {
            (f.id, number.strip()[:255]): f.tracking_company
            for f in order.fulfillments
            if f.is_active
            for number in f.tracking_numbers
            if number and number.strip()
        }
        existing = self.of_order(order.id)
        known = {(t.fulfillment_id, t.tracking_number) for t in existing}
        self.retire(t.id for t in existing if (t.fulfillment_id, t.tracking_number) not in wanted)
        missing = [key for key in wanted if key not in known]
        if not missing:
            return
        active = CarrierAccounts(self.conn).active_carriers()
        rows = []
        for fulfillment_id, number in missing:
            carrier = carrier_for(wanted[(fulfillment_id, number)], active)
            if carrier is not None:
                rows.append(
                    {
                        "order_id": order.id,
                        "fulfillment_id": fulfillment_id,
                        "tracking_number": number,
                        "carrier": carrier,
                    }
                )
        self.add(rows, now)

    def catch_up(
        self, after: tuple[datetime, int], *, since: datetime, now: datetime, limit: int
    ) -> tuple[int, tuple[datetime, int] | None]:
        """Trackers for shipments that were on their way before a carrier account could track
        them: the next `limit` shipments after `after` (created_at, fulfillment_id; the
        ix_shipments_created_id range, no order decoded) are looked at, and each one created
        since `since`, neither cancelled, delivered nor failed, with a tracking number whose
        company an active account tracks and no tracker yet gets one. Returns the trackers
        made and where to go on from (None: no shipment left after these)."""
        c = shipments.c
        start = max(after, (since, 0))
        rows = self.conn.execute(
            select(c.fulfillment_id, c.order_id, c.carrier, c.tracking_number, c.stage, c.created_at)
            .where(
                tuple_(c.created_at, c.fulfillment_id)
                > tuple_(literal(start[0], c.created_at.type), literal(start[1], c.fulfillment_id.type))
            )
            .order_by(c.created_at, c.fulfillment_id)
            .limit(limit)
        ).all()
        if not rows:
            return 0, None
        active = CarrierAccounts(self.conn).active_carriers()
        wanted: dict[tuple[int, str], dict[str, Any]] = {}
        for row in rows:
            number = (row.tracking_number or "").strip()
            # shipments.carrier is the company as carrier_name() spells it ("dhl" → DHL Express),
            # which carrier_for() maps to the same carrier as the company itself.
            carrier = carrier_for(row.carrier, active)
            if number and carrier is not None and row.stage not in FINISHED:
                wanted[(row.fulfillment_id, number)] = {
                    "order_id": row.order_id,
                    "fulfillment_id": row.fulfillment_id,
                    "tracking_number": number,
                    "carrier": carrier,
                }
        if wanted:
            known = self.conn.execute(
                select(trackers.c.fulfillment_id, trackers.c.tracking_number).where(
                    trackers.c.fulfillment_id.in_({fulfillment_id for fulfillment_id, _ in wanted})
                )
            )
            for key in known:
                wanted.pop((key.fulfillment_id, key.tracking_number), None)
            self.add(list(wanted.values()), now)
        last = rows[-1]
        went_to = (utc(last.created_at) or since, int(last.fulfillment_id))
        return len(wanted), (went_to if len(rows) == limit else None)

    def of_order(self, order_id: int) -> list[Tracker]:
        rows = self.conn.execute(select(trackers).where(trackers.c.order_id == order_id).order_by(trackers.c.id))
        return [_tracker(row) for row in rows]

    def find(self, tracker_id: int) -> Tracker | None:
        row = self.conn.execute(select(trackers).where(trackers.c.id == tracker_id)).one_or_none()
        return _tracker(row) if row is not None else None

    def add(self, rows: list[dict[str, Any]], now: datetime) -> None:
        if rows:
            self.conn.execute(
                insert(trackers),
                [
                    {
                        **row,
                        "state": "active",
                        "next_check_at": now,
                        "errors": 0,
                        "created_at": now,
                    }
                    for row in rows
                ],
            )

    def due(self, now: datetime, limit: int) -> list[Tracker]:
        """Active trackers whose time has come, the longest waiting first (ix_trackers_due)."""
        query = (
            select(trackers)
            .where(trackers.c.state == "active", trackers.c.next_check_at <= now)
            .order_by(trackers.c.next_check_at, trackers.c.id)
            .limit(limit)
        )
        return [_tracker(row) for row in self.conn.execute(query)]

    def retire_older_than(self, cutoff: datetime) -> int:
        """Stop following numbers created before `cutoff` (karrio's TRACKER_MAX_ACTIVE_DAYS)."""
        return int(
            self.conn.execute(
                update(trackers)
                .where(trackers.c.state == "active", trackers.c.created_at < cutoff)
                .values(state="retired", next_check_at=None)
            ).rowcount
        )

    def retire(self, ids: Iterable[int]) -> None:
        wanted = list(ids)
        if wanted:
            self.conn.execute(
                update(trackers)
                .where(and_(trackers.c.id.in_(wanted), trackers.c.state == "active"))
                .values(state="retired", next_check_at=None)
            )

    def change(self, tracker_id: int, **values: Any) -> None:
        self.conn.execute(update(trackers).where(trackers.c.id == tracker_id).values(**values))

    def change_many(self, changes: list[tuple[int, dict[str, Any]]]) -> None:
        """Each tracker's own changes, one executemany per set of columns changed."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for tracker_id, values in changes:
            groups.setdefault(tuple(sorted(values)), []).append(
                {"tracker_id": tracker_id, **{f"new_{k}": v for k, v in values.items()}}
            )
        for columns, rows in groups.items():
            statement = (
                update(trackers)
                .where(trackers.c.id == bindparam("tracker_id"))
                .values({name: bindparam(f"new_{name}") for name in columns})
            )
            self.conn.execute(statement, rows)
