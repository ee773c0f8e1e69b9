"""The narrow order row (issue 16): the CSV export and the reports read columns that every save
keeps on `orders` (and `shipments.delivered_at`), never the order documents. They must give
exactly what the documents and the timeline gave before: here the export and every report are
worked out both ways, the new one against the old computation kept below as it was, over a
varied shop (the demo's mix of statuses, plus orders placed and changed through the API:
partially fulfilled, refunded, cancelled for each reason, a USD customer in a EUR shop, tags and
discount codes, a fulfillment cancelled after delivery news, several shipments per order).

Runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import (
    Connection,
    Float,
    Select,
    and_,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql

from orderdeck.demo import load_demo
from orderdeck.services.context import Orderdeck
from orderdeck.store import reports
from orderdeck.store.codec import decode_order
from orderdeck.store.csv_cells import SafeWriter
from orderdeck.store.document_move import SUMMARY
from orderdeck.store.orders import summary_columns
from orderdeck.store.queries import CSV_COLUMNS, OrderFilter, export_csv
from orderdeck.store.tables import order_documents, orders, timeline_events
from tests.conftest import AUTHORIZE, SELL, Api, Shop
from tests.integration.order_steps import refund_unrestocked

# ---- the old computations, as they were before the narrow row ----------------------------------


def old_export(conn: Connection) -> str:
    """The CSV export as it was: statuses from the row, everything else from the document."""
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    writer.writerow(CSV_COLUMNS)
    query = (
        select(
            orders.c.financial_status,
            orders.c.display_fulfillment_status,
            orders.c.order_status,
            order_documents.c.document,
        )
        .select_from(orders.join(order_documents, order_documents.c.order_id == orders.c.id))
        .order_by(orders.c.id)
    )
    for row in conn.execute(query):
        o = decode_order(row.document)
        writer.writerow(
            (
                o.name,
                o.created_at.isoformat(),
                o.email or "",
                o.customer.name if o.customer else "",
                row.financial_status,
                row.display_fulfillment_status,
                "archived" if row.order_status == "closed" else row.order_status,
                o.currency,
                o.subtotal_price,
                o.total_shipping_price,
                o.total_tax,
                o.total_price,
                " ".join(d.code for d in o.discount_codes),
                ", ".join(o.tags),
                o.source_name,
                "; ".join(f"{li.quantity}x {li.sku or li.name}" for li in o.line_items),
                " ".join(n for ful in o.fulfillments if ful.is_active for n in ful.tracking_numbers),
                o.cancelled_at.isoformat() if o.cancelled_at else "",
                o.cancel_reason or "",
            )
        )
    return buffer.getvalue()


def _argument(conn: Connection, arguments: Any, key: str) -> Any:
    if conn.dialect.name == "postgresql":
        return cast(arguments, postgresql.JSON)[key].astext
    return func.json_extract(arguments, f"$.{key}")


def _still_made(made: Any) -> Any:
    undone = timeline_events.alias("undone")
    return ~exists().where(
        undone.c.order_id == made.c.order_id,
        undone.c.verb == "fulfillment_cancelled",
        undone.c.subject_id == made.c.subject_id,
    )


def _seconds(conn: Connection, earlier: Any, later: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _fulfilled(conn: Connection, period: reports.Period) -> Any:
    return (
        select(orders.c.id, orders.c.created_at, reports._group_key(conn, period).label("grp"))
        .where(reports._placed_in(period), orders.c.fulfillment_status.in_(("partial", "fulfilled")))
        .cte("fulfilled")
    )


def old_cancel_reasons(conn: Connection, period: reports.Period) -> dict[tuple[date, str], int]:
    grp = reports._group_key(conn, period).label("grp")
    event = timeline_events.alias("cancelling")
    reason = func.coalesce(_argument(conn, event.c.arguments, "reason"), "other").label("reason")
    query = (
        select(grp, reason, func.count(orders.c.id.distinct()))
        .select_from(orders.join(event, and_(event.c.order_id == orders.c.id, event.c.verb == "cancelled")))
        .where(reports._placed_in(period), orders.c.cancelled_at.is_not(None))
        .group_by(grp, reason)
    )
    return {(reports._day(g), str(r)): int(n) for g, r, n in conn.execute(query)}


def old_lead_time(conn: Connection, period: reports.Period) -> dict[date | None, reports.Durations]:
    fulfilled = _fulfilled(conn, period)
    made = timeline_events.alias("made")
    first = (
        select(func.min(made.c.created_at))
        .where(made.c.order_id == fulfilled.c.id, made.c.verb == "fulfillment_success", _still_made(made))
        .scalar_subquery()
    )
    per_order: Select[Any] = select(fulfilled.c.grp, _seconds(conn, fulfilled.c.created_at, first).label("seconds"))
    return reports._durations(conn, per_order)


def old_transit_time(conn: Connection, period: reports.Period) -> dict[date | None, reports.Durations]:
    fulfilled = _fulfilled(conn, period)
    made = timeline_events.alias("made")
    news = timeline_events.alias("news")
    delivered = (
        select(func.min(news.c.created_at))
        .where(
            news.c.order_id == made.c.order_id,
            news.c.subject_id == made.c.subject_id,
            news.c.verb == "shipment_status_changed",
            _argument(conn, news.c.arguments, "status") == literal("delivered"),
        )
        .scalar_subquery()
    )
    per_shipment: Select[Any] = (
        select(fulfilled.c.grp, _seconds(conn, made.c.created_at, delivered).label("seconds"))
        .select_from(
            fulfilled.join(made, and_(made.c.order_id == fulfilled.c.id, made.c.verb == "fulfillment_success"))
        )
        .where(_still_made(made))
    )
    return reports._durations(conn, per_shipment)


# ---- the shop ----------------------------------------------------------------------------------


def delivered(api: Api, order_id: int, fulfillment_id: int, status: str = "delivered") -> None:
    api.ok(api.post(f"/orders/{order_id}/fulfillments/{fulfillment_id}/events.json", {"event": {"status": status}}))


def ship_units(api: Api, shop: Shop, order_id: int, quantity: int, tracking: str | None = None) -> dict[str, Any]:
    """Fulfil `quantity` units of the first line of the order's first open fulfillment order."""
    fo = next(fo for fo in shop.fulfillment_orders(order_id) if fo["status"] in ("open", "in_progress"))
    wanted = [{"id": fo["line_items"][0]["id"], "quantity": quantity}]
    body: dict[str, Any] = {
        "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": wanted}]
    }
    if tracking:
        body["tracking_info"] = {"number": tracking}
    return api.ok(api.post("/fulfillments.json", {"fulfillment": body}))["fulfillment"]  # type: ignore[no-any-return]


@pytest.fixture
def varied(deck: Orderdeck, api: Api, shop: Shop) -> None:
    # The demo's mix: paid, pending, refunded, cancelled, archived, partly returned, shipped and delivered.
    load_demo(deck, count=300, console=Console(file=io.StringIO()), workers=1)
    here = shop.location()
    mug = shop.product("MUG-N", "12.50", {here: 500}, title="Stoneware mug")
    kettle = shop.product("KETTLE-N", "49.00", {here: 500}, title="Copper kettle")

    def line(variant: int, quantity: int = 1) -> dict[str, Any]:
        return {"variant_id": variant, "quantity": quantity}

    # A USD customer in a EUR shop, tagged, with a discount code, fulfilled and delivered twice over.
    usd = shop.order(
        [line(mug, 2), line(kettle)],
        presentment_currency="USD",
        exchange_rate="1.10",
        transactions=SELL,
        tags="vip, Gift",
        discount_codes=[{"code": "WELCOME5", "amount": "5.00", "type": "fixed_amount"}],
        customer={"first_name": "Zoë", "last_name": "Ünal", "email": "Zoe.Unal@Example.com"},
        email="Zoe.Unal@Example.com",
    )
    first = ship_units(api, shop, usd["id"], 1, tracking="TRACK-USD-1")
    delivered(api, usd["id"], first["id"], "in_transit")
    delivered(api, usd["id"], first["id"])
    delivered(api, usd["id"], first["id"])  # a second "delivered": the first one counts
    second = shop.fulfil(usd["id"], tracking="TRACK-USD-2")
    delivered(api, usd["id"], second["id"])
    # Partially fulfilled (one unit of three), then a refund of one unit.
    part = shop.order([line(mug, 3)], transactions=SELL)
    ship_units(api, shop, part["id"], 1)
    refund_unrestocked(api, part, units=1, amount="12.50")
    # Fulfilled, news of delivery, then the fulfillment cancelled: it counts in neither report.
    undone = shop.order([line(kettle)], transactions=SELL)
    gone = shop.fulfil(undone["id"])
    delivered(api, undone["id"], gone["id"])
    api.ok(api.post(f"/orders/{undone['id']}/fulfillments/{gone['id']}/cancel.json"))
    # Cancelled, for each reason and for none given.
    for reason in ("customer", "inventory", "fraud", None):
        cancelled = shop.order([line(mug)], transactions=AUTHORIZE)
        api.ok(api.post(f"/orders/{cancelled['id']}/cancel.json", {"reason": reason} if reason else {}))


def test_every_order_row_keeps_what_its_document_says(deck: Orderdeck, varied: None) -> None:
    kept_columns = (*SUMMARY, "tag_list")  # 0027's columns, and 0030's tag list
    with deck.unit_of_work(read_only=True) as uow:
        query = select(orders.c.id, order_documents.c.document, *(orders.c[n] for n in kept_columns)).select_from(
            orders.join(order_documents, order_documents.c.order_id == orders.c.id)
        )
        rows = uow.conn.execute(query).all()
    assert len(rows) > 300
    for row in rows:
        kept = {n: getattr(row, n) for n in kept_columns}
        wanted = summary_columns(decode_order(row.document))
        if kept["first_fulfilled_at"] is not None:  # SQLite hands times back without their offset
            kept["first_fulfilled_at"] = kept["first_fulfilled_at"].replace(tzinfo=None)
            wanted["first_fulfilled_at"] = wanted["first_fulfilled_at"].replace(tzinfo=None)
        assert kept == wanted, row.id


def test_the_export_from_the_rows_is_byte_for_byte_the_export_from_the_documents(
    deck: Orderdeck, varied: None, api: Api
) -> None:
    with deck.unit_of_work(read_only=True) as uow:
        expected = old_export(uow.conn)
    exported = "".join(export_csv(deck.db.reader.connect, OrderFilter(status="any"), batch=64))
    assert exported == expected
    answer = api.get("/orders/export.csv?status=any")
    assert answer.text.replace("\r\n", "\n") == expected.replace("\r\n", "\n")
    rows = list(csv.reader(io.StringIO(exported)))
    assert len(rows) > 300
    usd = next(r for r in rows if "TRACK-USD-1 TRACK-USD-2" in r)
    assert usd[CSV_COLUMNS.index("Email")] == "Zoe.Unal@Example.com"
    assert usd[CSV_COLUMNS.index("Discount codes")] == "WELCOME5"


@pytest.mark.parametrize(("days", "grouping"), [(30, "day"), (130, "week"), (400, "month")])
def test_reports_from_the_rows_give_what_the_timeline_gave(
    deck: Orderdeck, varied: None, days: int, grouping: str
) -> None:
    with deck.unit_of_work(read_only=True) as uow:
        last = deck.clock().date() + timedelta(days=1)
        period = reports.Period(last - timedelta(days=days - 1), last, grouping, uow.shop.timezone)
        conn = uow.conn
        lead, transit = reports.lead_time(conn, period), reports.transit_time(conn, period)
        assert lead == old_lead_time(conn, period)
        assert transit == old_transit_time(conn, period)
        reasons = reports.cancel_reasons(conn, period)
        assert reasons == old_cancel_reasons(conn, period)
    assert lead[None].count > 20 and transit[None].count > 20  # something to compare
    assert {reason for _, reason in reasons} >= {"customer", "inventory", "fraud", "other"}
