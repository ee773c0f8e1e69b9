"""Time-based work over many orders: authorization expiry, auto-archive, due schedules.

Each order is its own command and transaction, so one bad order cannot hold up the rest and a
sweep can be stopped and re-run at any point. The scheduler (and the CLI) call these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ..domain.errors import OrderError
from ..domain.order import SYSTEM
from ..store.tables import orders
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


def _each(app: Orderdeck, ids: Iterator[int], step: Callable[[Command, int], bool]) -> int:
    done = 0
    for order_id in ids:
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


def expire_authorizations(app: Orderdeck) -> int:
    """Record expiry on every authorization past its deadline. Returns orders changed."""
    return _each(
        app,
        _candidates(app, orders.c.financial_status.in_(("authorized", "partially_paid"))),
        payments.expire_authorizations,
    )


def auto_archive(app: Orderdeck) -> int:
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
    return _each(app, _candidates(app, where), order_commands.auto_archive)


def open_due_fulfillment_orders(app: Orderdeck) -> int:
    """Open scheduled fulfillment orders whose date has come (any order with work left)."""
    where = (orders.c.display_fulfillment_status != "fulfilled") & (orders.c.order_status != "cancelled")
    return _each(app, _candidates(app, where), lambda cmd, oid: fulfillments.open_due(cmd, oid) > 0)
