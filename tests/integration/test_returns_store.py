"""Returns as rows beside the order (store/returns.py): they follow each return through its life,
the admin's Returns list filters and pages by them, an order deleted takes them along, and the
return reports count units per reason and product from them, live returns only."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from orderdeck.domain import returns as rules
from orderdeck.domain.errors import InvalidInput
from orderdeck.services import returns as commands
from orderdeck.services.context import Orderdeck
from orderdeck.store import reports
from orderdeck.store.returns import ReturnsFilter, ReturnsPage
from orderdeck.store.tables import fulfilled_units, return_lines, returns
from tests.conftest import Shop
from tests.integration.returns_steps import fulfillment_line_ids, run, shipped_order

NOVEMBER = reports.Period(date(2026, 11, 1), date(2026, 11, 30), "month", "Europe/Amsterdam")


def asking(fl_id: int, qty: int = 1, reason: str = "size_too_small") -> rules.ReturnRequest:
    return rules.ReturnRequest(
        lines=[rules.ReturnLineRequest(fulfillment_line_item_id=fl_id, quantity=qty, return_reason=reason)]
    )  # type: ignore[call-arg]


def start(deck: Orderdeck, order_id: int, qty: int = 1, status: str = "open", reason: str = "size_too_small") -> Any:
    fl = fulfillment_line_ids(deck, order_id)[0]
    _, ret = run(
        deck, lambda c: commands.start(c, order_id, commands.StartReturn(asking(fl, qty, reason), status=status))
    )
    return ret


def return_row(deck: Orderdeck, return_id: int) -> Any:
    with deck.db.reader.connect() as conn:
        return conn.execute(select(returns).where(returns.c.id == return_id)).mappings().one_or_none()


def line_rows(deck: Orderdeck, order_id: int) -> list[Any]:
    with deck.db.reader.connect() as conn:
        query = select(return_lines).where(return_lines.c.order_id == order_id).order_by(return_lines.c.id)
        return list(conn.execute(query).mappings())


def listed(deck: Orderdeck, **wanted: Any) -> ReturnsPage:
    with deck.unit_of_work(read_only=True) as uow:
        return uow.returns.list(ReturnsFilter(**wanted))


def due_counts(deck: Orderdeck, **wanted: Any) -> dict[str, int]:
    with deck.unit_of_work(read_only=True) as uow:
        return uow.returns.count_by_due(ReturnsFilter(**wanted))


def product_of(shop: Shop, variant: int) -> int:
    body = shop.api.ok(shop.api.get(f"/variants/{variant}.json"))
    return int(body["variant"]["product_id"])


def test_the_rows_follow_a_request_through_approval_receipt_and_refund(
    deck: Orderdeck, shop: Shop, mug: int, amsterdam: int
) -> None:
    order = shipped_order(shop, mug, quantity=3)
    ret = start(deck, order["id"], qty=2, status="requested")
    row = return_row(deck, ret.id)
    assert (row["status"], row["due"], row["total_quantity"], row["exchange"]) == ("requested", "to_approve", 2, False)
    assert row["order_id"] == order["id"] and row["name"] == f"{order['name']}-R1" and row["closed_at"] is None
    [line] = line_rows(deck, order["id"])
    assert (line["status"], line["reason"], line["quantity"], line["sku"]) == (
        "requested",
        "size_too_small",
        2,
        "MUG-1",
    )
    assert (line["product_id"], line["variant_id"], line["title"]) == (product_of(shop, mug), mug, "Delft mug")
    assert line["return_id"] == ret.id and line["line_item_id"] == order["line_items"][0]["id"]

    _, ret = run(deck, lambda c: commands.approve(c, ret.id, notify=False))
    assert (return_row(deck, ret.id)["status"], return_row(deck, ret.id)["due"]) == ("open", "awaiting_parcel")
    assert line_rows(deck, order["id"])[0]["status"] == "open"

    rfo_line = ret.reverse_fulfillment_orders[0].line_items[0].id
    run(deck, lambda c: commands.dispose(c, [rules.DispositionRequest(rfo_line, 1, "restocked", amsterdam)]))
    assert return_row(deck, ret.id)["due"] == "to_inspect"
    run(deck, lambda c: commands.dispose(c, [rules.DispositionRequest(rfo_line, 1, "not_restocked", None)]))
    assert return_row(deck, ret.id)["due"] == "to_refund"

    run(deck, lambda c: commands.refund(c, ret.id, commands.ReturnRefund(lines=[])))
    row = return_row(deck, ret.id)
    assert (row["status"], row["due"]) == ("closed", "nothing")
    assert row["closed_at"] is not None
    assert line_rows(deck, order["id"])[0]["status"] == "closed"

    run(deck, lambda c: commands.reopen(c, ret.id))
    assert return_row(deck, ret.id)["status"] == "open"
    run(deck, lambda c: commands.close(c, ret.id))
    assert return_row(deck, ret.id)["status"] == "closed"


def test_declined_cancelled_and_shortened_returns_keep_their_rows_with_their_status(
    deck: Orderdeck, shop: Shop, mug: int
) -> None:
    order = shipped_order(shop, mug, quantity=3)
    declined = start(deck, order["id"], qty=1, status="requested")
    run(deck, lambda c: commands.decline(c, declined.id, reason="final_sale", note=None, notify=False))
    cancelled = start(deck, order["id"], qty=1)
    run(deck, lambda c: commands.cancel(c, cancelled.id))
    shortened = start(deck, order["id"], qty=3, reason="defective")
    line_id = shortened.return_line_items[0].id
    run(deck, lambda c: commands.remove_lines(c, shortened.id, return_lines=[(line_id, 2)], exchange_lines=[]))

    assert {r.id: (r.status, r.due) for r in listed(deck).rows} == {
        declined.id: ("declined", "nothing"),
        cancelled.id: ("canceled", "nothing"),
        shortened.id: ("open", "awaiting_parcel"),
    }
    assert return_row(deck, shortened.id)["total_quantity"] == 1
    assert {r["return_id"]: (r["status"], r["quantity"]) for r in line_rows(deck, order["id"])} == {
        declined.id: ("declined", 1),
        cancelled.id: ("canceled", 1),
        shortened.id: ("open", 1),
    }


def test_a_return_with_an_exchange_is_marked_as_one(deck: Orderdeck, shop: Shop, mug: int, amsterdam: int) -> None:
    jug = shop.product("JUG-1", price="12.50", stock={amsterdam: 5}, title="Jug")
    order = shipped_order(shop, mug, quantity=1)
    fl = fulfillment_line_ids(deck, order["id"])[0]

    def with_exchange(c):  # type: ignore[no-untyped-def]
        request = rules.ReturnRequest(
            lines=asking(fl).lines, exchanges=commands.exchange_variants(c, [(jug, 1, None, None, None)])
        )
        return commands.start(c, order["id"], commands.StartReturn(request, status="open"))

    _, ret = run(deck, with_exchange)
    assert return_row(deck, ret.id)["exchange"] is True
    assert [r.id for r in listed(deck).rows if r.exchange] == [ret.id]


def test_the_returns_list_filters_by_status_due_and_name_and_pages_newest_first(
    deck: Orderdeck, shop: Shop, mug: int
) -> None:
    first = shipped_order(shop, mug, quantity=2)
    second = shipped_order(shop, mug, quantity=2)
    requested = start(deck, first["id"], status="requested")
    opened = start(deck, first["id"])
    other = start(deck, second["id"], qty=2)
    run(deck, lambda c: commands.cancel(c, other.id))
    again = start(deck, second["id"])

    assert [r.id for r in listed(deck).rows] == [again.id, other.id, opened.id, requested.id]
    assert [r.id for r in listed(deck, status="open").rows] == [again.id, opened.id]
    assert [r.id for r in listed(deck, status="canceled").rows] == [other.id]
    assert [r.id for r in listed(deck, due="to_approve").rows] == [requested.id]
    assert [r.id for r in listed(deck, due="awaiting_parcel").rows] == [again.id, opened.id]
    assert [r.id for r in listed(deck, search=first["name"]).rows] == [opened.id, requested.id]
    number = second["name"].lstrip("#")
    assert [r.id for r in listed(deck, search=number).rows] == [again.id, other.id]
    assert [r.id for r in listed(deck, search=f"{number}-r2").rows] == [again.id]
    assert listed(deck, search="#99999").rows == []
    assert listed(deck, search="%").rows == []
    assert {r.order_name for r in listed(deck, search=number).rows} == {second["name"]}

    page = listed(deck, limit=3)
    assert [r.id for r in page.rows] == [again.id, other.id, opened.id]
    assert page.next_before_id == opened.id
    last = listed(deck, limit=3, before_id=page.next_before_id)
    assert [r.id for r in last.rows] == [requested.id] and last.next_before_id is None
    assert listed(deck, limit=4).next_before_id is None

    assert due_counts(deck) == {"to_approve": 1, "awaiting_parcel": 2, "to_inspect": 0, "to_refund": 0, "nothing": 1}
    assert due_counts(deck, status="open")["awaiting_parcel"] == 2
    assert due_counts(deck, status="open", due="to_approve")["awaiting_parcel"] == 2  # tabs ignore the due filter
    assert sum(due_counts(deck, search=first["name"]).values()) == 2


@pytest.mark.parametrize(
    ("wanted", "field"), [({"status": "lost"}, "status"), ({"due": "soon"}, "due"), ({"limit": 0}, "limit")]
)
def test_the_returns_list_refuses_unknown_filters_naming_them(wanted: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        ReturnsFilter(**wanted)
    assert refused.value.field == field


def test_deleting_an_order_deletes_its_return_rows(deck: Orderdeck, shop: Shop, mug: int) -> None:
    order = shipped_order(shop, mug, quantity=2)
    kept = shipped_order(shop, mug, quantity=1)
    ret = start(deck, order["id"])
    start(deck, kept["id"])
    run(deck, lambda c: commands.close(c, ret.id))
    shop.api.ok(shop.api.post(f"/orders/{order['id']}/close.json", {}))
    response = shop.api.delete(f"/orders/{order['id']}.json")
    assert response.status_code == 200, response.text
    assert return_row(deck, ret.id) is None and line_rows(deck, order["id"]) == []
    with deck.db.reader.connect() as conn:
        units = {r.order_id for r in conn.execute(select(fulfilled_units.c.order_id))}
    assert units == {kept["id"]}
    assert len(listed(deck).rows) == 1 and len(line_rows(deck, kept["id"])) == 1


def test_fulfilled_units_follow_fulfillments(deck: Orderdeck, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=[{"kind": "sale", "status": "success"}])

    def units() -> list[tuple[int, int, int]]:
        with deck.db.reader.connect() as conn:
            query = select(fulfilled_units.c.line_item_id, fulfilled_units.c.product_id, fulfilled_units.c.quantity)
            return [tuple(r) for r in conn.execute(query.where(fulfilled_units.c.order_id == order["id"]))]

    assert units() == []
    fulfillment = shop.fulfil(order["id"])
    line = order["line_items"][0]["id"]
    assert units() == [(line, product_of(shop, mug), 3)]
    shop.api.ok(shop.api.post(f"/orders/{order['id']}/fulfillments/{fulfillment['id']}/cancel.json", {}))
    assert units() == []


def test_return_reports_count_units_of_live_returns_per_reason_and_product(
    deck: Orderdeck, shop: Shop, mug: int, amsterdam: int
) -> None:
    vase = shop.product("VASE-1", price="30.00", stock={amsterdam: 20}, title="Tulip vase")
    mugs = shipped_order(shop, mug, quantity=4)
    vases = shipped_order(shop, vase, quantity=2)
    shipped_order(shop, mug, quantity=4)  # sold, never returned
    start(deck, mugs["id"], qty=2, reason="defective")
    start(deck, mugs["id"], qty=1, status="requested", reason="size_too_small")
    declined = start(deck, vases["id"], qty=1, status="requested", reason="unwanted")
    run(deck, lambda c: commands.decline(c, declined.id, reason="final_sale", note=None, notify=False))
    cancelled = start(deck, vases["id"], qty=2, reason="unwanted")
    run(deck, lambda c: commands.cancel(c, cancelled.id))
    start(deck, vases["id"], qty=1, reason="defective")
    test_order = shipped_order(shop, mug, quantity=5, test=True)
    start(deck, test_order["id"], qty=5, reason="wrong_item")

    with deck.db.reader.connect() as conn:
        by_reason = reports.returns_by_reason(conn, NOVEMBER)
        by_product = reports.returns_by_product(conn, NOVEMBER)
        rate = reports.return_rate(conn, NOVEMBER)
        rate_by_product = reports.return_rate_by_product(conn, NOVEMBER)
        december = reports.returns_by_reason(
            conn, reports.Period(date(2026, 12, 1), date(2026, 12, 31), "day", "Europe/Amsterdam")
        )

    month = date(2026, 11, 1)
    assert by_reason == {(month, "defective"): 3, (month, "size_too_small"): 1}
    mug_product, vase_product = product_of(shop, mug), product_of(shop, vase)
    assert by_product == {(month, mug_product, "Delft mug"): 3, (month, vase_product, "Tulip vase"): 1}
    assert (rate[month].returned, rate[month].fulfilled) == (4, 10)
    assert (rate[None].returned, rate[None].fulfilled, rate[None].rate) == (4, 10, 0.4)
    assert (
        rate_by_product[(mug_product, "Delft mug")].returned,
        rate_by_product[(mug_product, "Delft mug")].fulfilled,
    ) == (3, 8)
    assert rate_by_product[(vase_product, "Tulip vase")].rate == 0.5
    assert december == {}


def test_return_reports_group_by_when_the_return_was_made(deck: Orderdeck, shop: Shop, mug: int, clock: Any) -> None:
    order = shipped_order(shop, mug, quantity=3)
    start(deck, order["id"], qty=1)
    clock.advance(days=2)
    start(deck, order["id"], qty=2, reason="defective")
    days = reports.Period(date(2026, 11, 1), date(2026, 11, 7), "day", "Europe/Amsterdam")
    with deck.db.reader.connect() as conn:
        by_reason = reports.returns_by_reason(conn, days)
        rate = reports.return_rate(conn, days)
    assert by_reason == {(date(2026, 11, 2), "size_too_small"): 1, (date(2026, 11, 4), "defective"): 2}
    assert len([g for g in rate if g is not None]) == 7
    assert (rate[date(2026, 11, 2)].returned, rate[date(2026, 11, 2)].fulfilled) == (1, 3)
    assert (rate[date(2026, 11, 4)].returned, rate[date(2026, 11, 4)].fulfilled, rate[date(2026, 11, 4)].rate) == (
        2,
        0,
        None,
    )
    assert rate[None].rate == 1.0
