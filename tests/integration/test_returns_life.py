"""The return life of an order through the commands every caller uses: staff create a return,
receive the units, refund them; a customer's request is approved or declined; an exchange
holds its items until the return is back and puts a dearer item's difference on the order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderdeck.domain import returns as rules
from orderdeck.domain.errors import RuleViolation
from orderdeck.services import returns as commands
from orderdeck.services.context import Orderdeck
from tests.conftest import Shop
from tests.integration.order_steps import stock
from tests.integration.returns_steps import fulfillment_line_ids, run, shipped_order


def _return_one(fl_id: int, qty: int = 1, **kw: object) -> rules.ReturnRequest:
    return rules.ReturnRequest(
        lines=[
            rules.ReturnLineRequest(fulfillment_line_item_id=fl_id, quantity=qty, return_reason="size_too_small", **kw)
        ]
    )  # type: ignore[arg-type]


def test_a_return_received_and_refunded_closes_and_puts_the_unit_back(
    deck: Orderdeck, shop: Shop, mug: int, amsterdam: int
) -> None:
    order = shipped_order(shop, mug, quantity=2)
    assert stock(shop, mug, amsterdam) == (48, 0, 48)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    _, ret = run(deck, lambda c: commands.start(c, order["id"], commands.StartReturn(_return_one(fl), status="open")))
    assert shop.get(order["id"])["return_status"] == "in_progress"
    rfo_line = ret.reverse_fulfillment_orders[0].line_items[0].id
    run(deck, lambda c: commands.dispose(c, [rules.DispositionRequest(rfo_line, 1, "restocked", amsterdam)]))
    assert stock(shop, mug, amsterdam) == (49, 0, 49)
    assert shop.get(order["id"])["return_status"] == "inspection_complete"
    _, refund = run(deck, lambda c: commands.refund(c, ret.id, commands.ReturnRefund(lines=[])))
    after = shop.get(order["id"])
    assert after["return_status"] == "returned"
    assert after["financial_status"] == "partially_refunded"
    assert after["returns"][0]["status"] == "closed"
    refunded = next(r for r in after["refunds"] if r["id"] == refund.id)
    assert refunded["return"]["id"] == ret.id
    assert sum(Decimal(t["amount"]) for t in refunded["transactions"]) == Decimal("12.50")
    assert after["total_outstanding"] == "0.00"


def test_a_requested_return_is_declined_and_its_units_can_be_returned_again(
    deck: Orderdeck, shop: Shop, mug: int
) -> None:
    order = shipped_order(shop, mug, quantity=1)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    _, ret = run(
        deck, lambda c: commands.start(c, order["id"], commands.StartReturn(_return_one(fl), status="requested"))
    )
    assert shop.get(order["id"])["return_status"] == "return_requested"
    with pytest.raises(RuleViolation):
        run(deck, lambda c: commands.start(c, order["id"], commands.StartReturn(_return_one(fl), status="open")))
    run(deck, lambda c: commands.decline(c, ret.id, reason="final_sale", note="Sale items are final.", notify=False))
    assert shop.get(order["id"])["return_status"] == "return_failed"
    run(deck, lambda c: commands.start(c, order["id"], commands.StartReturn(_return_one(fl), status="open")))
    assert shop.get(order["id"])["return_status"] == "in_progress"


def test_a_dearer_exchange_puts_the_difference_on_the_order_and_waits(
    deck: Orderdeck, shop: Shop, mug: int, amsterdam: int
) -> None:
    jug = shop.product("JUG-1", price="20.00", stock={amsterdam: 5}, title="Jug")
    order = shipped_order(shop, mug, quantity=1)
    fl = fulfillment_line_ids(deck, order["id"])[0]

    def start(c):  # type: ignore[no-untyped-def]
        request = _return_one(fl)
        exchanges = commands.exchange_variants(c, [(jug, 1, None, None, None)])
        request = rules.ReturnRequest(lines=request.lines, exchanges=exchanges)
        return commands.start(c, order["id"], commands.StartReturn(request, status="open"))

    _, ret = run(deck, start)
    after = shop.get(order["id"])
    assert after["financial_status"] == "partially_paid"
    assert after["total_outstanding"] == "7.50"
    assert stock(shop, jug, amsterdam) == (4, 1, 5)
    fos = [fo for fo in shop.fulfillment_orders(order["id"]) if fo["status"] == "on_hold"]
    assert {h["reason"] for h in fos[0]["fulfillment_holds"]} == {"awaiting_return_items", "awaiting_payment"}
    rfo_line = ret.reverse_fulfillment_orders[0].line_items[0].id
    run(deck, lambda c: commands.dispose(c, [rules.DispositionRequest(rfo_line, 1, "not_restocked", None)]))
    fo = next(fo for fo in shop.fulfillment_orders(order["id"]) if fo["id"] == fos[0]["id"])
    assert [h["reason"] for h in fo["fulfillment_holds"]] == ["awaiting_payment"]
    shop.api.ok(
        shop.api.post(
            f"/orders/{order['id']}/transactions.json",
            {"transaction": {"kind": "sale", "status": "success", "amount": "7.50", "gateway": "manual"}},
        )
    )
    fo = next(fo for fo in shop.fulfillment_orders(order["id"]) if fo["id"] == fos[0]["id"])
    assert fo["status"] == "open"
    assert shop.get(order["id"])["financial_status"] == "paid"
    run(deck, lambda c: commands.refund(c, ret.id, commands.ReturnRefund(lines=[])))
    after = shop.get(order["id"])
    assert after["returns"][0]["status"] == "closed"
    assert after["financial_status"] == "paid"
    assert after["total_outstanding"] == "0.00"


def test_a_returns_fees_come_off_its_own_refund_whichever_return_is_refunded_first(
    deck: Orderdeck, shop: Shop, mug: int
) -> None:
    """Two returns of one mug (12.50) each; the first keeps a 10 % restocking fee (1.25). Refunded
    the fee's return first, it pays 11.25 and the other 12.50, not 12.50 and 11.25."""
    order = shipped_order(shop, mug, quantity=2)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    _, with_fee = run(
        deck,
        lambda c: commands.start(
            c, order["id"], commands.StartReturn(_return_one(fl, restocking_fee_percentage=Decimal(10)), status="open")
        ),
    )
    _, without = run(
        deck, lambda c: commands.start(c, order["id"], commands.StartReturn(_return_one(fl), status="open"))
    )
    _, first = run(deck, lambda c: commands.refund(c, with_fee.id, commands.ReturnRefund(lines=[])))
    _, second = run(deck, lambda c: commands.refund(c, without.id, commands.ReturnRefund(lines=[])))
    after = shop.get(order["id"])

    def paid(refund_id: int) -> Decimal:
        return sum(
            (Decimal(t["amount"]) for r in after["refunds"] if r["id"] == refund_id for t in r["transactions"]),
            Decimal(0),
        )

    assert (paid(first.id), paid(second.id)) == (Decimal("11.25"), Decimal("12.50"))
    assert after["total_outstanding"] == "0.00"
    assert all(a["kind"] != "refund_discrepancy" for r in after["refunds"] for a in r["order_adjustments"])
