"""Time-based work over many orders: authorization expiry, auto-archive, due schedules.

Each order is its own command and transaction, so one bad order cannot hold up the rest and a
sweep can be stopped and re-run at any point. The scheduler (and the CLI) call these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, select, union
from sqlalchemy.exc import OperationalError

from ..domain import lifecycle
from ..domain.errors import OrderError
from ..domain.order import SYSTEM
from ..store.fulfillment_services import FulfillmentServices
from ..store.orders import REQUEST_TERMS
from ..store.service_notifications import ServiceNotifications
from ..store.tables import (
    order_search_terms,
    orders,
    outbox,
    service_notifications,
    webhook_attempts,
    webhook_deliveries,
)
from . import fulfillments, payments
from . import orders as order_commands
from .context import Command, Orderdeck


def _candidates(app: Orderdeck, where: object, batch: int = 500) -> Iterator[int]:
    last = 0
    while True:
        with app.unit_of_work(read_only=True) as uow:
            ids = list(
                uow.conn.execute(
                    select(orders.c.id).where(where, orders.c.id > last).order_by(orders.c.id).limit(batch)  # type: ignore[arg-type]
                ).scalars()
            )
        if not ids:
            return
        yield from ids
        last = ids[-1]


def _each(
    app: Orderdeck,
    ids: Iterator[int],
    step: Callable[[Command, int], bool],
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    done = 0
    for order_id in ids:
        if should_stop():  # a worker shutting down stops between orders; the next run goes on
            break
        with app.unit_of_work() as uow:
            try:
                if step(Command(app, uow, SYSTEM), order_id):
                    uow.commit()
                    done += 1
            except OrderError:
                continue  # the order changed meanwhile (deleted, cancelled): nothing to do
            except OperationalError:
                continue  # a concurrent command won a lock race (PostgreSQL); the next run retries
    return done


AUTHORIZED = orders.c.financial_status.in_(("authorized", "partially_paid"))


def expire_authorizations(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Record expiry on every authorization past its deadline. Returns orders changed."""
    return _each(app, _candidates(app, AUTHORIZED), payments.expire_authorizations, should_stop)


def warn_expiring_authorizations(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Warn staff about authorizations that expire within two days. Returns orders changed."""
    return _each(app, _candidates(app, AUTHORIZED), payments.warn_expiring_authorizations, should_stop)


def auto_archive(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Archive open orders the auto-archive rule covers (fulfilled and paid or refunded), when the
    shop has auto-archive switched on; otherwise nothing is touched."""
    with app.unit_of_work(read_only=True) as uow:
        if not uow.shop.settings.auto_archive:
            return 0
    where = (
        (orders.c.order_status != "closed")
        & orders.c.closed_at.is_(None)
        & (orders.c.financial_status.in_(("paid", "partially_refunded", "refunded", "voided", "pending")))
    )
    return _each(app, _candidates(app, where), order_commands.auto_archive, should_stop)


def open_due_fulfillment_orders(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Open scheduled fulfillment orders whose date has come (any order with work left)."""
    where = (orders.c.display_fulfillment_status != "fulfilled") & (orders.c.order_status != "cancelled")
    return _each(app, _candidates(app, where), lambda cmd, oid: fulfillments.open_due(cmd, oid) > 0, should_stop)


def flag_stuck_orders(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Flag orders stuck (S8.3, domain/stuck.py) and drop the flags whose cause went: requests a
    service has not accepted, acknowledged, answered or shipped in the shop's time, and open
    orders unfulfilled longer than `stuck_after_days`. Callable directly (tests, the CLI); the
    scheduler runs it every 10 minutes. Returns the orders changed."""
    with app.unit_of_work(read_only=True) as uow:
        settings = uow.shop.settings
        now = uow.now
        limits = order_commands.stuck_limits(settings)
        services = {s.location_id: s.name for s in FulfillmentServices(uow.conn).all()}
        late: dict[int, dict[int, datetime]] = {}
        if limits.acknowledge_within is not None and services:
            for n in ServiceNotifications(uow.conn).unacknowledged_since(now - limits.acknowledge_within):
                late.setdefault(n.order_id, {}).setdefault(n.fulfillment_order_id, n.created_at)
    # Orders with a request still out, a flag standing or a notification unanswered: each an
    # indexed lookup (search terms, ix_orders_display_fulfillment_id), united, never a scan.
    lookups = [_with_term("stuck", "any")]
    if services:
        lookups += [_with_term("request", status) for status in REQUEST_TERMS]
        lookups.append(select(orders.c.id).where(orders.c.display_fulfillment_status == "request_declined"))
    if late:
        lookups.append(select(orders.c.id).where(orders.c.id.in_(sorted(late))))
    open_order = orders.c.order_status == "open"
    # A cancelled order is looked at too: a service may still hold its work (it was asked to
    # cancel it and has not answered, domain/stuck.py).
    open_or_cancelled = orders.c.order_status.in_(("open", "cancelled"))

    def step(cmd: Command, order_id: int) -> bool:
        return order_commands.flag_stuck(cmd, order_id, services=services, unacknowledged=late.get(order_id, {}))

    candidates = _candidates(app, open_or_cancelled & orders.c.id.in_(union(*lookups)))
    changed = _each(app, candidates, step, should_stop)
    if limits.unfulfilled_after is not None:
        # Orders waiting longer than stuck_after_days (a second pass: an order already reviewed
        # above finds nothing new here).
        waiting = (
            orders.c.display_fulfillment_status.in_(lifecycle.STUCK_WAITING)
            & open_order
            & (orders.c.processed_at <= now - limits.unfulfilled_after)
        )
        changed += _each(app, _candidates(app, waiting), step, should_stop)
    return changed


def _with_term(kind: str, term: str) -> Select[tuple[int]]:
    t = order_search_terms.c
    return select(t.order_id).where(t.kind == kind, t.term == term)


def forget_old_deliveries(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Remove handled outbox messages, webhook deliveries that ended (delivered or failed) with
    their attempts, and notifications to fulfillment services that ended (acknowledged or
    abandoned), once older than the shop's retention period. Pending ones stay."""
    with app.unit_of_work(read_only=True) as uow:
        cutoff = uow.now - timedelta(days=uow.shop.settings.retention_days)
    removed = 0
    while not should_stop():
        with app.unit_of_work() as uow:
            ids = list(
                uow.conn.execute(select(outbox.c.id).where(outbox.c.delivered_at < cutoff).limit(1000)).scalars()
            )
            old = list(
                uow.conn.execute(
                    select(webhook_deliveries.c.id)
                    .where(webhook_deliveries.c.state != "pending", webhook_deliveries.c.created_at < cutoff)
                    .limit(1000)
                ).scalars()
            )
            notified = list(
                uow.conn.execute(
                    select(service_notifications.c.id)
                    .where(
                        service_notifications.c.state.in_(("acknowledged", "abandoned")),
                        service_notifications.c.created_at < cutoff,
                    )
                    .limit(1000)
                ).scalars()
            )
            if not ids and not old and not notified:
                return removed
            uow.conn.execute(delete(outbox).where(outbox.c.id.in_(ids)))
            uow.conn.execute(delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(old)))
            uow.conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.id.in_(old)))
            uow.conn.execute(delete(service_notifications).where(service_notifications.c.id.in_(notified)))
            uow.commit()
            removed += len(ids) + len(old) + len(notified)
    return removed


def forget_expired_sessions(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Remove admin sessions past their lifetime (they already sign nobody in; this keeps the table small)."""
    with app.unit_of_work() as uow:
        removed = uow.staff.forget_expired_sessions(uow.now)
        uow.commit()
    return removed
