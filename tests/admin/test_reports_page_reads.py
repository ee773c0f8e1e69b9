"""The reports page reads what several reports are worked out from once
(store.reports.PeriodReports): the period's orders once for orders and revenue, payment status
and cancel reasons, and its fulfilled orders once for time to fulfil, time in transit and the
units fulfilled (read once for both return rates). Counted as the statements that walk the
period's orders by when they were placed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from orderdeck.services.context import Orderdeck
from tests.conftest import SELL, Clock, Shop

from .conftest import AdminClient


def test_the_page_walks_the_periods_orders_once_for_each_kind_of_report(
    deck: Orderdeck, owner: AdminClient, shop: Shop, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    here = shop.location()
    mug = shop.product("MUG-1", "10.00", {here: 100}, title="Stoneware mug")
    placed = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    shop.fulfil(placed["id"])
    walks: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "orders.created_at >=" in statement:
            walks.append(statement)

    engines = {id(deck.db.writer): deck.db.writer, id(deck.db.reader): deck.db.reader}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", seen)
    try:
        page = owner.page("/admin/reports?period=7&group=day").text
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", seen)
    assert "Time in transit" in page
    # The orders counted (one walk for three reports), the cancelled orders' products, and the
    # fulfilled orders' time to fulfil, time in transit and units (one walk for the three).
    assert len(walks) == 3, "\n\n".join(walks)
    assert sum("fulfilled_units" in statement for statement in walks) == 1
