"""The notifications Orderdeck posts to fulfillment services (`service_notifications`): written by
the relay, claimed and recorded by the workers (outbox/service_calls.py), read by the admin and
by the stuck-order sweep."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, insert, or_, select, update

from ..domain import service_notifications as rules
from ..domain.order import Order
from .database import utc
from .orders import load_many
from .tables import fulfillment_services, service_notifications

# A notification's id is derived from the outbox message it came from: handing one message on
# twice (a restore, a bug) collides with the first instead of notifying the service twice.
NAMESPACE = uuid.UUID("0f3c8e9b-54a1-4d0e-9a43-2d7c51b7e6a8")


def notification_id(message_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, message_id))


@dataclass(frozen=True)
class Notification:
    id: str
    service_id: int
    order_id: int
    fulfillment_order_id: int
    kind: str
    request_id: int | None
    body: str
    state: str  # pending | acknowledged | abandoned
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    acknowledged_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Notification:
        return cls(
            id=row["id"],
            service_id=row["service_id"],
            order_id=row["order_id"],
            fulfillment_order_id=row["fulfillment_order_id"],
            kind=row["kind"],
            request_id=row["request_id"],
            body=row["body"],
            state=row["state"],
            attempts=row["attempts"],
            next_attempt_at=utc(row["next_attempt_at"]),
            created_at=utc(row["created_at"]),  # type: ignore[arg-type]
            last_attempt_at=utc(row["last_attempt_at"]),
            last_status=row["last_status"],
            last_error=row["last_error"],
            acknowledged_at=utc(row["acknowledged_at"]),
        )


@dataclass(frozen=True)
class Unacknowledged:
    """A notification its service has neither answered (2xx) nor acted on (through the API)."""

    order_id: int
    fulfillment_order_id: int
    service_id: int
    created_at: datetime
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class Health:
    """A service's notifications at a glance, for the admin."""

    pending: int
    failing: int  # pending and tried at least once without a 2xx
    last_error: str | None
    last_attempt_at: datetime | None
    last_acknowledged_at: datetime | None


class ServiceNotifications:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ---- writing (the relay) ---------------------------------------------------------------------

    def add(self, rows: list[dict[str, Any]]) -> int:
        """Insert new notifications, skipping ids already there. Returns how many were added."""
        if not rows:
            return 0
        n = service_notifications.c
        there = set(self.conn.execute(select(n.id).where(n.id.in_([r["id"] for r in rows]))).scalars())
        fresh = [r for r in rows if r["id"] not in there]
        if fresh:
            self.conn.execute(insert(service_notifications), fresh)
        return len(fresh)

    # ---- settling what the request's own state decides ----------------------------------------

    def settle(self, order: Order, now: datetime) -> int:
        """Stop the order's pending notifications whose request has moved on: answered through the
        API (acknowledged) or withdrawn (abandoned). Called with every saved order that has
        merchant requests, so the stuck-order sweep never flags an answered request."""
        n = service_notifications.c
        rows = self.conn.execute(
            select(n.id, n.fulfillment_order_id, n.kind, n.request_id).where(
                n.order_id == order.id, n.state == "pending"
            )
        ).all()
        settled = 0
        for row in rows:
            state = rules.state_of_request(order, row.fulfillment_order_id, row.kind, row.request_id)
            if state != "waiting":
                self.stop(row.id, state, now)
                settled += 1
        return settled

    def stop(self, notification_id: str, request_state: str, now: datetime) -> None:
        """No more sending: the request was answered, withdrawn, or its service deleted."""
        n = service_notifications.c
        values: dict[str, Any] = {"next_attempt_at": None, "leased_until": None, "leased_by": None}
        if request_state == "answered":
            values.update(state="acknowledged", acknowledged_at=now)
        else:
            values["state"] = "abandoned"
            if request_state == "service_deleted":
                values["last_error"] = "The fulfillment service was deleted"
        self.conn.execute(
            update(service_notifications).where(n.id == notification_id, n.state == "pending").values(**values)
        )

    # ---- the workers ---------------------------------------------------------------------------------

    def claim(
        self, now: datetime, lease: timedelta, limit: int, worker: str, *, skip_locked: bool
    ) -> list[Notification]:
        """Due pending notifications, held for `lease` (one held by a worker that died is due
        again when its lease runs out)."""
        n = service_notifications.c
        query = (
            select(service_notifications)
            .where(
                n.state == "pending",
                n.next_attempt_at <= now,
                or_(n.leased_until.is_(None), n.leased_until < now),
            )
            .order_by(n.next_attempt_at)
            .limit(limit)
        )
        if skip_locked:
            query = query.with_for_update(skip_locked=True)
        found = [Notification.of(r) for r in self.conn.execute(query).mappings()]
        if found:
            self.conn.execute(
                update(service_notifications)
                .where(n.id.in_([f.id for f in found]))
                .values(leased_until=now + lease, leased_by=worker)
            )
        return found

    def record(
        self, notification_id: str, *, status: int | None, error: str | None, now: datetime, retry_at: datetime | None
    ) -> None:
        """One attempt: a 2xx acknowledges (retry_at None); anything else waits until `retry_at`.
        Only a notification still pending changes: the request may have been answered meanwhile."""
        n = service_notifications.c
        values: dict[str, Any] = {
            "attempts": n.attempts + 1,
            "last_attempt_at": now,
            "last_status": status,
            "last_error": error,
            "leased_until": None,
            "leased_by": None,
            "next_attempt_at": retry_at,
        }
        if retry_at is None:
            values.update(state="acknowledged", acknowledged_at=now)
        self.conn.execute(
            update(service_notifications).where(n.id == notification_id, n.state == "pending").values(**values)
        )

    def send_now(self, notification_id: str, now: datetime) -> bool:
        """Staff's "send again now": a pending notification becomes due at once."""
        n = service_notifications.c
        done = self.conn.execute(
            update(service_notifications)
            .where(n.id == notification_id, n.state == "pending")
            .values(next_attempt_at=now, leased_until=None, leased_by=None)
        ).rowcount
        return bool(done)

    # ---- reading -------------------------------------------------------------------------------------

    def get(self, notification_id: str) -> Notification | None:
        row = (
            self.conn.execute(select(service_notifications).where(service_notifications.c.id == notification_id))
            .mappings()
            .first()
        )
        return Notification.of(row) if row else None

    def unacknowledged_since(self, cutoff: datetime) -> list[Unacknowledged]:
        """Notifications created at or before `cutoff` whose service has neither answered 2xx nor
        acted on the request, oldest first: "a notification the service never acknowledged".
        Each is checked against its order as it is now, so a request answered through the API
        (before the worker noticed) is not among them."""
        n = service_notifications.c
        rows = self.conn.execute(
            select(service_notifications)
            .join(fulfillment_services, fulfillment_services.c.id == n.service_id)
            .where(n.state == "pending", n.created_at <= cutoff)
            .order_by(n.created_at, n.id)
        ).mappings()
        candidates = [Notification.of(r) for r in rows]
        documents = load_many(self.conn, {c.order_id for c in candidates})
        return [
            Unacknowledged(c.order_id, c.fulfillment_order_id, c.service_id, c.created_at, c.attempts, c.last_error)
            for c in candidates
            if rules.state_of_request(documents.get(c.order_id), c.fulfillment_order_id, c.kind, c.request_id)
            == "waiting"
        ]

    def of_service(self, service_id: int, limit: int = 50) -> list[Notification]:
        """A service's latest notifications, newest first."""
        n = service_notifications.c
        rows = self.conn.execute(
            select(service_notifications)
            .where(n.service_id == service_id)
            .order_by(n.created_at.desc(), n.id.desc())
            .limit(limit)
        ).mappings()
        return [Notification.of(r) for r in rows]

    def of_order(self, order_id: int) -> list[Notification]:
        n = service_notifications.c
        rows = self.conn.execute(
            select(service_notifications).where(n.order_id == order_id).order_by(n.created_at, n.id)
        ).mappings()
        return [Notification.of(r) for r in rows]

    def health(self) -> dict[int, Health]:
        """Per service: pending and failing counts, the last error and attempt, the last acknowledgement."""
        n = service_notifications.c
        failing = (n.state == "pending") & (n.attempts > 0)
        rows = self.conn.execute(
            select(
                n.service_id,
                func.sum(case((n.state == "pending", 1), else_=0)).label("pending"),
                func.sum(case((failing, 1), else_=0)).label("failing"),
                func.max(n.last_attempt_at).label("last_attempt_at"),
                func.max(n.acknowledged_at).label("last_acknowledged_at"),
            ).group_by(n.service_id)
        ).all()
        errors = {
            row.service_id: row.last_error
            for row in self.conn.execute(
                select(n.service_id, n.last_error, n.last_attempt_at)
                .where(failing, n.last_error.is_not(None))
                .order_by(n.last_attempt_at)
            )
        }
        return {
            row.service_id: Health(
                pending=int(row.pending or 0),
                failing=int(row.failing or 0),
                last_error=errors.get(row.service_id),
                last_attempt_at=utc(row.last_attempt_at),
                last_acknowledged_at=utc(row.last_acknowledged_at),
            )
            for row in rows
        }
