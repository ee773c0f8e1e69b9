"""Prices that include tax (`taxes_included`, how shops in the Netherlands, Germany and Finland
price): the tax lines say which part of a price is tax, so refunding a unit gives back its price,
not its price and its tax again; refunds and returns alike."""

from __future__ import annotations

from decimal import Decimal

from orderdeck.domain import returns as rules
from orderdeck.domain.order import Order, OrderAdjustment
from orderdeck.services import returns as commands
from orderdeck.services.context import Orderdeck
from tests.conftest import Shop
from tests.integration.order_steps import run_migration, sale_id
from tests.integration.returns_steps import fulfillment_line_ids, run
from tests.integration.test_repair_old_orders import store_as_old_version_left_it


def _order(shop: Shop, variant: int) -> dict:  # type: ignore[type-arg]
    """Two shirts at 24.20 each, 21 % VAT included (4.20 a shirt), paid 48.40."""
    order = shop.order(
        [
            {
                "variant_id": variant,
                "quantity": 2,
                "price": "24.20",
                "tax_lines": [{"title": "BTW", "price": "8.40", "rate": 0.21}],
            }
        ],
        taxes_included=True,
        transactions=[{"kind": "sale", "status": "success", "amount": "48.40"}],
    )
    assert order["total_price"] == "48.40" and order["total_tax"] == "8.40"
    return order


def test_refunding_a_unit_gives_back_its_price_with_the_tax_in_it(shop: Shop, amsterdam: int) -> None:
    shirt = shop.product("SHIRT-1", price="24.20", stock={amsterdam: 10}, title="Shirt")
    order = _order(shop, shirt)
    line = order["line_items"][0]["id"]
    calc = shop.api.ok(
        shop.api.post(
            f"/orders/{order['id']}/refunds/calculate.json",
            {"refund": {"refund_line_items": [{"line_item_id": line, "quantity": 1}]}},
        )
    )["refund"]
    assert calc["transactions"][0]["amount"] == "24.20"
    refund = {
        "refund_line_items": [{"line_item_id": line, "quantity": 1}],
        "transactions": [{"parent_id": sale_id(shop.api, order["id"]), "amount": "24.20", "kind": "refund"}],
    }
    shop.api.ok(shop.api.post(f"/orders/{order['id']}/refunds.json", {"refund": refund}))
    after = shop.get(order["id"])
    assert after["current_total_price"] == "24.20"
    assert after["total_outstanding"] == "0.00"
    assert after["financial_status"] == "partially_refunded"
    # Nothing was recorded as refunded short or beyond what the unit was worth.
    assert all(a["kind"] != "refund_discrepancy" for r in after["refunds"] for a in r["order_adjustments"])


def test_a_return_of_a_unit_suggests_its_price_with_the_tax_in_it(deck: Orderdeck, shop: Shop, amsterdam: int) -> None:
    shirt = shop.product("SHIRT-1", price="24.20", stock={amsterdam: 10}, title="Shirt")
    order = _order(shop, shirt)
    shop.fulfil(order["id"])
    fl = fulfillment_line_ids(deck, order["id"])[0]
    request = rules.ReturnRequest(lines=[rules.ReturnLineRequest(fl, 1, "unwanted")])
    _, ret = run(deck, lambda c: commands.start(c, order["id"], commands.StartReturn(request, status="open")))
    _, refund = run(deck, lambda c: commands.refund(c, ret.id, commands.ReturnRefund(lines=[])))
    after = shop.get(order["id"])
    paid_back = sum(Decimal(t["amount"]) for r in after["refunds"] if r["id"] == refund.id for t in r["transactions"])
    assert paid_back == Decimal("24.20")
    assert after["current_total_price"] == "24.20"
    assert after["total_outstanding"] == "0.00"


def test_a_refund_recorded_short_by_its_tax_is_put_right_on_upgrade(
    deck: Orderdeck, shop: Shop, amsterdam: int
) -> None:
    """What the version before stored for a refund of exactly a unit's price on such an order: a
    refund_discrepancy of minus the unit's tax (its worth counted the tax twice), so the customer
    seemed to owe 4.20. Migration 0019 records what today's refund command records (nothing)."""
    shirt = shop.product("SHIRT-1", price="24.20", stock={amsterdam: 10}, title="Shirt")
    order = _order(shop, shirt)
    line = order["line_items"][0]["id"]
    refund = {
        "refund_line_items": [{"line_item_id": line, "quantity": 1}],
        "transactions": [{"parent_id": sale_id(shop.api, order["id"]), "amount": "24.20", "kind": "refund"}],
    }
    shop.api.ok(shop.api.post(f"/orders/{order['id']}/refunds.json", {"refund": refund}))

    def as_the_old_worth_left_it(o: Order) -> None:
        o.refunds[-1].order_adjustments.append(
            OrderAdjustment(
                id=o.child_id(),
                kind="refund_discrepancy",
                amount=Decimal("-4.20"),
                tax_amount=Decimal(0),
                reason="Refund discrepancy",
                presentment_amount=Decimal("-4.20"),
            )
        )

    store_as_old_version_left_it(deck, order["id"], as_the_old_worth_left_it)
    assert shop.get(order["id"])["total_outstanding"] == "4.20"
    run_migration(deck, "0019_refunds_of_prices_with_tax")
    after = shop.get(order["id"])
    assert after["total_outstanding"] == "0.00"
    assert all(a["kind"] != "refund_discrepancy" for r in after["refunds"] for a in r["order_adjustments"])
    # Run again: nothing changes (no second repaired event).
    run_migration(deck, "0019_refunds_of_prices_with_tax")
    events = shop.api.ok(shop.api.get(f"/orders/{order['id']}/events.json"))["events"]
    assert sum(1 for e in events if e["verb"] == "repaired") == 1
