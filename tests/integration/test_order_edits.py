"""Order edits through the services (the API, the admin and the status page call the same ones):
what a commit does to lines, fulfillment orders, stock, money and the timeline, and what is
refused with nothing changed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orderdeck.domain.errors import InsufficientInventory, InvalidInput, RuleViolation
from orderdeck.services import order_edits as edits
from orderdeck.services.context import Orderdeck
from tests.conftest import Shop
from tests.integration.returns_steps import run


@pytest.fixture
def cap(shop: Shop, amsterdam: int) -> int:
    """10 caps at 20.00 in Amsterdam."""
    return shop.product("CAP-1", price="20.00", stock={amsterdam: 10}, title="Cap")


def _line(order: dict[str, Any], variant: int) -> dict[str, Any]:
    return next(li for li in order["line_items"] if li["variant_id"] == variant)


def _begin(deck: Orderdeck, order_id: int) -> int:
    edit, _ = run(deck, lambda cmd: edits.begin(cmd, order_id))
    return edit.id


def _commit(deck: Orderdeck, edit_id: int, **kw: Any) -> None:
    run(deck, lambda cmd: edits.commit(cmd, edit_id, **kw))


def test_adding_a_variant_routes_it_reserves_stock_and_leaves_the_difference_to_collect(
    deck: Orderdeck, shop: Shop, mug: int, cap: int, amsterdam: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=[{"kind": "sale", "status": "success"}])
    edit_id = _begin(deck, order["id"])
    _, calc = run(deck, lambda cmd: edits.add_variant(cmd, edit_id, variant_id=cap, quantity=1))
    assert calc.edited.total_price == Decimal("45.00")
    assert shop.level(cap, amsterdam)["available"] == 10  # a preview reserves nothing
    _commit(deck, edit_id, staff_note="Customer phoned")
    after = shop.get(order["id"])
    assert Decimal(after["total_price"]) == Decimal("45.00")
    assert Decimal(after["total_outstanding"]) == Decimal("20.00")
    assert after["financial_status"] == "partially_paid"
    assert _line(after, cap)["fulfillable_quantity"] == 1
    assert shop.level(cap, amsterdam)["available"] == 9
    fos = shop.fulfillment_orders(order["id"])
    assert sum(li["quantity"] for fo in fos for li in fo["line_items"] if li["variant_id"] == cap) == 1
    # Added at the location that already ships the order: one pick list, not two.
    assert len([fo for fo in fos if fo["status"] == "open"]) == 1


def test_removing_unfulfilled_units_keeps_the_line_with_current_quantity_zero_and_restocks(
    deck: Orderdeck, shop: Shop, mug: int, cap: int, amsterdam: int
) -> None:
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}, {"variant_id": cap, "quantity": 2}],
        transactions=[{"kind": "sale", "status": "success"}],
    )
    cap_line = _line(order, cap)["id"]
    edit_id = _begin(deck, order["id"])
    run(deck, lambda cmd: edits.set_quantity(cmd, edit_id, line_item_id=cap_line, quantity=0, restock=True))
    _commit(deck, edit_id)
    after = shop.get(order["id"])
    line = _line(after, cap)
    assert (line["quantity"], line["current_quantity"], line["fulfillable_quantity"]) == (2, 0, 0)
    assert Decimal(after["total_price"]) == Decimal("12.50")
    assert shop.level(cap, amsterdam)["available"] == 10
    assert Decimal(after["total_outstanding"]) == Decimal("0.00")
    assert after["financial_status"] == "paid"  # overpaid by 40.00: a refund is offered, never made


def test_quantity_cannot_go_below_what_was_fulfilled(deck: Orderdeck, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=[{"kind": "sale", "status": "success"}])
    fo = shop.fulfillment_orders(order["id"])[0]
    shop.api.ok(
        shop.api.post(
            "/fulfillments.json",
            {
                "fulfillment": {
                    "line_items_by_fulfillment_order": [
                        {
                            "fulfillment_order_id": fo["id"],
                            "fulfillment_order_line_items": [{"id": fo["line_items"][0]["id"], "quantity": 2}],
                        }
                    ]
                }
            },
        )
    )
    edit_id = _begin(deck, order["id"])
    line_id = order["line_items"][0]["id"]
    with pytest.raises(RuleViolation, match="below 2"):
        run(deck, lambda cmd: edits.set_quantity(cmd, edit_id, line_item_id=line_id, quantity=1))
    run(deck, lambda cmd: edits.set_quantity(cmd, edit_id, line_item_id=line_id, quantity=2))
    _commit(deck, edit_id)
    after = shop.get(order["id"])
    assert after["fulfillment_status"] == "fulfilled"


def test_a_commit_after_the_order_changed_is_refused_and_changes_nothing(
    deck: Orderdeck, shop: Shop, mug: int, cap: int, amsterdam: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=[{"kind": "sale", "status": "success"}])
    edit_id = _begin(deck, order["id"])
    run(deck, lambda cmd: edits.add_variant(cmd, edit_id, variant_id=cap, quantity=1))
    shop.fulfil(order["id"])
    with pytest.raises(RuleViolation, match="changed since this edit began"):
        _commit(deck, edit_id)
    after = shop.get(order["id"])
    assert [li["variant_id"] for li in after["line_items"]] == [mug]
    assert shop.level(cap, amsterdam)["available"] == 10


def test_refusals_name_the_field(deck: Orderdeck, shop: Shop, mug: int, cap: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit_id = _begin(deck, order["id"])
    with pytest.raises(InsufficientInventory):
        run(deck, lambda cmd: edits.add_variant(cmd, edit_id, variant_id=cap, quantity=11))
    with pytest.raises(RuleViolation, match="already on the order"):
        run(deck, lambda cmd: edits.add_variant(cmd, edit_id, variant_id=mug, quantity=1))
    with pytest.raises(InvalidInput) as bad:
        run(deck, lambda cmd: edits.add_custom_item(cmd, edit_id, title=" ", price=Decimal("1"), quantity=1))
    assert bad.value.field == "title"
    with pytest.raises(RuleViolation, match="changes nothing"):
        _commit(deck, edit_id)


def test_custom_item_discount_and_shipping(deck: Orderdeck, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    edit_id = _begin(deck, order["id"])
    run(deck, lambda cmd: edits.add_custom_item(cmd, edit_id, title="Gift wrap", price=Decimal("3.00"), quantity=1))
    run(
        deck,
        lambda cmd: edits.add_discount(
            cmd, edit_id, line_item_id=order["line_items"][0]["id"], value=Decimal("10"), value_type="percentage"
        ),
    )
    run(deck, lambda cmd: edits.add_shipping_line(cmd, edit_id, title="DHL Express", price=Decimal("9.95")))
    _commit(deck, edit_id)
    after = shop.get(order["id"])
    # 25.00 - 2.50 + 3.00 + 9.95
    assert Decimal(after["total_price"]) == Decimal("35.45")
    assert any(s["title"] == "DHL Express" for s in after["shipping_lines"])


def test_orders_edited_then_orders_updated_with_shopifys_payload(
    deck: Orderdeck, shop: Shop, mug: int, cap: int
) -> None:
    import orjson
    from sqlalchemy import select

    from orderdeck.store.tables import outbox

    order = shop.order([{"variant_id": mug, "quantity": 2}])
    edit_id = _begin(deck, order["id"])
    run(deck, lambda cmd: edits.add_variant(cmd, edit_id, variant_id=cap, quantity=1))
    run(deck, lambda cmd: edits.set_quantity(cmd, edit_id, line_item_id=order["line_items"][0]["id"], quantity=1))
    _commit(deck, edit_id, notify_customer=True, staff_note="Swap")
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(outbox).where(outbox.c.order_id == order["id"])).all()
    topics = sorted(r.topic for r in rows if r.kind == "webhook")
    assert topics == ["orders/create", "orders/edited", "orders/updated"]
    payload = orjson.loads(next(r.payload for r in rows if r.topic == "orders/edited"))["order_edit"]
    assert payload["order_id"] == order["id"] and payload["staff_note"] == "Swap" and payload["notify_customer"]
    assert payload["line_items"]["removals"] == [{"id": order["line_items"][0]["id"], "delta": 1}]
    assert [a["delta"] for a in payload["line_items"]["additions"]] == [1]
    assert any(r.kind == "notification" for r in rows)


def test_the_demo_shows_edited_orders(deck: Orderdeck) -> None:
    from rich.console import Console
    from sqlalchemy import select

    from orderdeck.demo import load_demo
    from orderdeck.store.tables import order_edits

    load_demo(deck, count=300, batch=100, workers=1, console=Console(file=open("/dev/null", "w")))  # noqa: SIM115
    with deck.unit_of_work(read_only=True) as uow:
        committed = uow.conn.execute(select(order_edits.c.order_id).where(order_edits.c.status == "committed")).all()
        assert len(committed) >= 3
        edited = [uow.orders.get(row.order_id, for_update=False) for row in committed]
    removed = [li for o in edited for li in o.line_items if li.quantity == 0 and li.ordered_quantity > 0]
    added = [li for o in edited for li in o.line_items if li.title == "Gift wrap"]
    assert removed and added


def test_customer_edit_settings_change_through_the_api(api: Any) -> None:
    answer = api.ok(
        api.put("/shop/settings.json", {"settings": {"customer_edits": False, "customer_edits_may_raise_total": True}})
    )
    assert answer["settings"]["customer_edits"] is False
    assert answer["settings"]["customer_edits_may_raise_total"] is True
    refused = api.put("/shop/settings.json", {"settings": {"customer_edits": "maybe"}})
    assert refused.status_code == 422 and "customer_edits" in refused.text


def test_an_edit_that_would_push_the_total_past_what_can_be_stored_is_refused_when_staged(
    deck: Orderdeck, shop: Shop, mug: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit_id = _begin(deck, order["id"])
    big = {"title": "Yacht", "price": Decimal("999999999"), "quantity": 10_000}
    run(deck, lambda cmd: edits.add_custom_item(cmd, edit_id, **big))  # 9.99 × 10¹² : fine
    with pytest.raises(InvalidInput) as refused:
        for _ in range(10):
            run(deck, lambda cmd: edits.add_custom_item(cmd, edit_id, **big))
    assert refused.value.field == "price" and "total would reach" in refused.value.message
    assert len(run(deck, lambda cmd: edits.get(cmd, edit_id)).changes) < 11


def test_an_edit_cannot_take_every_item_off(deck: Orderdeck, shop: Shop, mug: int, amsterdam: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=[{"kind": "sale", "status": "success"}])
    edit_id = _begin(deck, order["id"])
    run(deck, lambda cmd: edits.set_quantity(cmd, edit_id, line_item_id=order["line_items"][0]["id"], quantity=0))
    with pytest.raises(RuleViolation, match="cancel the order instead"):
        _commit(deck, edit_id)
    assert shop.get(order["id"])["line_items"][0]["current_quantity"] == 2
    assert shop.level(mug, amsterdam)["available"] == 48


def test_a_location_named_for_an_added_variant_is_where_it_ships_from_or_it_is_refused(
    deck: Orderdeck, shop: Shop, mug: int, amsterdam: int
) -> None:
    utrecht = shop.location("Utrecht")
    jug = shop.product("JUG-1", price="15.00", stock={amsterdam: 5}, title="Jug")
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit_id = _begin(deck, order["id"])
    with pytest.raises(InsufficientInventory) as refused:
        run(deck, lambda cmd: edits.add_variant(cmd, edit_id, variant_id=jug, quantity=1, location_id=utrecht))
    assert refused.value.field == "location_id"
    run(deck, lambda cmd: edits.add_variant(cmd, edit_id, variant_id=jug, quantity=1, location_id=amsterdam))
    _commit(deck, edit_id)
    fos = shop.fulfillment_orders(order["id"])
    assert {fo["assigned_location_id"] for fo in fos if any(li["variant_id"] == jug for li in fo["line_items"])} == {
        amsterdam
    }


def test_a_variant_deleted_after_it_was_staged_is_named_at_the_commit(
    deck: Orderdeck, api: Any, shop: Shop, mug: int, cap: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit_id = _begin(deck, order["id"])
    run(deck, lambda cmd: edits.add_variant(cmd, edit_id, variant_id=cap, quantity=1))
    product_id = api.ok(api.get(f"/variants/{cap}.json"))["variant"]["product_id"]
    api.ok(api.delete(f"/products/{product_id}.json"))
    with pytest.raises(InvalidInput) as refused:
        _commit(deck, edit_id)
    assert refused.value.field == "variant_id" and "deleted from the catalogue" in refused.value.message
    assert [li["variant_id"] for li in shop.get(order["id"])["line_items"]] == [mug]


def test_refunds_calculate_suggests_what_an_edit_left_to_refund(
    deck: Orderdeck, api: Any, shop: Shop, mug: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=[{"kind": "sale", "status": "success"}])
    edit_id = _begin(deck, order["id"])
    run(deck, lambda cmd: edits.set_quantity(cmd, edit_id, line_item_id=order["line_items"][0]["id"], quantity=1))
    _commit(deck, edit_id)
    calc = api.ok(api.post(f"/orders/{order['id']}/refunds/calculate.json", {"refund": {}}))["refund"]
    assert [(t["kind"], t["amount"]) for t in calc["transactions"]] == [("suggested_refund", "25.00")]
    api.ok(
        api.post(
            f"/orders/{order['id']}/refunds.json",
            {"refund": {"transactions": [{**t, "kind": "refund"} for t in calc["transactions"]]}},
        )
    )
    again = api.ok(api.post(f"/orders/{order['id']}/refunds/calculate.json", {"refund": {}}))["refund"]
    assert again["transactions"] == []
    assert Decimal(shop.get(order["id"])["total_outstanding"]) == 0
