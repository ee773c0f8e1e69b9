"""Payments, refunds, cancellation, fulfillment orders and fulfillments, end to end over the API.

Each test is named after the rule it checks (product/ORDER-MODEL.md, SHOPIFY-REST.md). Every
scenario that touches stock ends by checking that on_hand == available + committed at every
location involved.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orderdeck.services import sweeps
from tests.conftest import AUTHORIZE, SELL

UPS_NUMBER = "1Z001985YW99744790"


# ---- helpers -----------------------------------------------------------------------------------
def assert_conserved(shop: Any, variant_id: int, *locations: int) -> None:
    """Inventory conservation: on_hand == available + committed at each location."""
    for location_id in locations:
        level = shop.level(variant_id, location_id)
        assert level["on_hand"] == level["available"] + level["committed"], (location_id, level)


def stock(shop: Any, variant_id: int, location_id: int) -> tuple[int, int, int]:
    """(available, committed, on_hand) of one item at one location."""
    level = shop.level(variant_id, location_id)
    return level["available"], level["committed"], level["on_hand"]


def transactions(api: Any, order_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order_id}/transactions.json"))["transactions"]  # type: ignore[no-any-return]


def the_authorization(api: Any, order_id: int) -> dict[str, Any]:
    found = [t for t in transactions(api, order_id) if t["kind"] == "authorization" and t["status"] == "success"]
    assert len(found) == 1, found
    return found[0]


def verbs(api: Any, order_id: int) -> list[str]:
    events = api.ok(api.get(f"/orders/{order_id}/events.json?limit=250"))["events"]
    return [e["verb"] for e in events]


def transact(api: Any, order_id: int, **txn: Any) -> Any:
    return api.post(f"/orders/{order_id}/transactions.json", {"transaction": txn})


def active_fos(shop: Any, order_id: int) -> list[dict[str, Any]]:
    return [fo for fo in shop.fulfillment_orders(order_id) if fo["status"] not in ("closed", "cancelled", "incomplete")]


def only_fo(shop: Any, order_id: int) -> dict[str, Any]:
    fos = active_fos(shop, order_id)
    assert len(fos) == 1, fos
    return fos[0]


def fulfil_units(api: Any, fo: dict[str, Any], quantity: int, tracking: dict[str, Any] | None = None) -> Any:
    """POST /fulfillments.json for `quantity` units of the first line of one fulfillment order."""
    body: dict[str, Any] = {
        "line_items_by_fulfillment_order": [
            {
                "fulfillment_order_id": fo["id"],
                "fulfillment_order_line_items": [{"id": fo["line_items"][0]["id"], "quantity": quantity}],
            }
        ]
    }
    if tracking:
        body["tracking_info"] = tracking
    return api.post("/fulfillments.json", {"fulfillment": body})


def fulfil_fo(api: Any, fo_id: int) -> Any:
    return api.post(
        "/fulfillments.json", {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo_id}]}}
    )


def line(order: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return order["line_items"][index]  # type: ignore[no-any-return]


def paid_order(shop: Any, variant: int, quantity: int = 2, **fields: Any) -> dict[str, Any]:
    order = shop.order([{"variant_id": variant, "quantity": quantity}], transactions=SELL, **fields)
    assert order["financial_status"] == "paid"
    return order


def sale_id(api: Any, order_id: int) -> int:
    found = [t for t in transactions(api, order_id) if t["kind"] in ("sale", "capture") and t["status"] == "success"]
    return int(found[0]["id"])


def refund(api: Any, order_id: int, **body: Any) -> Any:
    return api.post(f"/orders/{order_id}/refunds.json", {"refund": body})


# ---- 1. payments -------------------------------------------------------------------------------
def test_capturing_the_full_authorization_marks_the_order_paid(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    assert order["financial_status"] == "authorized"
    auth = the_authorization(api, order["id"])
    assert auth["amount"] == "20.00"

    capture = shop.capture(order["id"])

    assert (capture["kind"], capture["status"], capture["amount"]) == ("capture", "success", "20.00")
    assert capture["parent_id"] == auth["id"]
    after = shop.get(order["id"])
    assert after["financial_status"] == "paid"
    assert after["display_financial_status"] == "paid"
    assert after["total_outstanding"] == "0.00"


def test_partial_captures_make_the_order_partially_paid_then_paid(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)

    shop.capture(order["id"], "8.00")
    middle = shop.get(order["id"])
    assert middle["financial_status"] == "partially_paid"
    assert middle["total_outstanding"] == "12.00"

    shop.capture(order["id"], "12.00")
    assert shop.get(order["id"])["financial_status"] == "paid"


def test_cannot_capture_more_than_was_authorized(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    before = transactions(api, order["id"])

    response = transact(api, order["id"], kind="capture", amount="20.01")

    assert response.status_code == 422
    assert transactions(api, order["id"]) == before
    assert shop.get(order["id"])["financial_status"] == "authorized"


def test_cannot_capture_more_than_is_left_of_a_partly_captured_authorization(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    shop.capture(order["id"], "15.00")

    assert transact(api, order["id"], kind="capture", amount="6.00").status_code == 422
    assert shop.get(order["id"])["financial_status"] == "partially_paid"
    assert shop.capture(order["id"])["amount"] == "5.00"  # without amount: what is left
    assert shop.get(order["id"])["financial_status"] == "paid"


def test_capture_takes_the_authorization_named_by_parent_id(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    auth = the_authorization(api, order["id"])

    capture = api.ok(transact(api, order["id"], kind="capture", parent_id=auth["id"], amount="10.00"))["transaction"]

    assert capture["parent_id"] == auth["id"]
    assert capture["status"] == "success"
    assert shop.get(order["id"])["financial_status"] == "paid"
    # A capture cannot be the parent of another capture.
    assert transact(api, order["id"], kind="capture", parent_id=capture["id"], amount="1.00").status_code == 422


def test_voiding_the_authorization_makes_the_order_voided(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    auth = the_authorization(api, order["id"])

    void = api.ok(transact(api, order["id"], kind="void", parent_id=auth["id"]))["transaction"]

    assert (void["kind"], void["status"], void["parent_id"]) == ("void", "success", auth["id"])
    after = shop.get(order["id"])
    assert after["financial_status"] == "voided"
    assert after["display_financial_status"] == "voided"
    assert transact(api, order["id"], kind="capture").status_code == 422


def test_a_declined_card_records_a_failed_sale_and_payment_stays_pending(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    assert order["financial_status"] == "pending"

    transact(api, order["id"], kind="sale", gateway="bogus", credit_card={"number": "2"})

    sales = [t for t in transactions(api, order["id"]) if t["kind"] == "sale"]
    assert [t["status"] for t in sales] == ["failure"]
    assert sales[0]["error_code"] == "card_declined"
    after = shop.get(order["id"])
    assert after["financial_status"] == "pending"
    assert after["total_outstanding"] == "10.00"


def test_a_gateway_error_records_an_error_transaction(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])

    transact(api, order["id"], kind="sale", gateway="bogus", credit_card={"number": "3"})

    sales = [t for t in transactions(api, order["id"]) if t["kind"] == "sale"]
    assert [t["status"] for t in sales] == ["error"]
    assert shop.get(order["id"])["financial_status"] == "pending"


def test_a_successful_card_sale_pays_a_pending_order(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])

    sale = api.ok(transact(api, order["id"], kind="sale", gateway="bogus", credit_card={"number": "1"}))["transaction"]

    assert (sale["status"], sale["amount"]) == ("success", "10.00")
    assert shop.get(order["id"])["financial_status"] == "paid"


def test_a_pending_cash_on_delivery_order_can_be_marked_as_paid(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    cod = [{"kind": "sale", "gateway": "Cash on Delivery (COD)", "status": "pending"}]
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=cod)
    assert order["financial_status"] == "pending"
    assert order["display_financial_status"] == "pending"

    paid = api.ok(api.post(f"/orders/{order['id']}/mark_as_paid.json"))["order"]

    assert paid["financial_status"] == "paid"
    assert paid["total_outstanding"] == "0.00"
    assert shop.get(order["id"])["financial_status"] == "paid"


def test_a_manual_gateway_sale_is_pending_until_marked_as_paid(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=[{"kind": "sale", "gateway": "manual"}])
    assert order["financial_status"] == "pending"

    api.ok(api.post(f"/orders/{order['id']}/mark_as_paid.json", {"amount": "10.00"}))

    assert shop.get(order["id"])["financial_status"] == "paid"


def test_mark_as_paid_takes_exactly_the_outstanding_amount(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    cod = [{"kind": "sale", "gateway": "Cash on Delivery (COD)", "status": "pending"}]
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=cod)
    before = transactions(api, order["id"])

    assert api.post(f"/orders/{order['id']}/mark_as_paid.json", {"amount": "5.00"}).status_code == 422
    assert api.post(f"/orders/{order['id']}/mark_as_paid.json", {"amount": "25.00"}).status_code == 422

    assert transactions(api, order["id"]) == before
    assert shop.get(order["id"])["financial_status"] == "pending"


def test_a_paid_order_cannot_be_marked_as_paid(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug)

    assert api.post(f"/orders/{order['id']}/mark_as_paid.json").status_code == 422
    assert len(transactions(api, order["id"])) == 1


def test_an_uncaptured_authorization_expires_after_the_authorization_period(api, shop, deck, clock):
    shop.settings(authorization_period_days=7)
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)

    clock.advance(days=8)
    sweeps.expire_authorizations(deck)

    after = shop.get(order["id"])
    assert after["display_financial_status"] == "expired"
    assert after["financial_status"] == "voided"  # REST 2024-10 has no "expired"
    assert transact(api, order["id"], kind="capture").status_code == 422
    assert (
        transact(api, order["id"], kind="capture", parent_id=the_authorization(api, order["id"])["id"]).status_code
        == 422
    )
    assert shop.get(order["id"])["display_financial_status"] == "expired"


def test_authorization_period_setting_decides_when_an_authorization_expires(api, shop, deck, clock):
    shop.settings(authorization_period_days=10)
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)

    clock.advance(days=8)
    sweeps.expire_authorizations(deck)
    assert shop.get(order["id"])["display_financial_status"] == "authorized"

    clock.advance(days=3)
    sweeps.expire_authorizations(deck)
    assert shop.get(order["id"])["display_financial_status"] == "expired"


def test_an_authorization_captured_in_time_does_not_expire(api, shop, deck, clock):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    shop.capture(order["id"])

    clock.advance(days=8)
    sweeps.expire_authorizations(deck)

    assert shop.get(order["id"])["display_financial_status"] == "paid"


def test_checkout_capture_mode_captures_when_the_order_is_placed(api, shop):
    shop.settings(capture_mode="checkout")
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})

    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)

    assert order["financial_status"] == "paid"
    kinds = [(t["kind"], t["status"], t["amount"]) for t in transactions(api, order["id"])]
    assert kinds == [("authorization", "success", "20.00"), ("capture", "success", "20.00")]


def test_fulfillment_capture_mode_captures_only_when_the_whole_order_is_fulfilled(api, shop):
    shop.settings(capture_mode="fulfillment")
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=AUTHORIZE)
    assert order["financial_status"] == "authorized"

    api.ok(fulfil_units(api, only_fo(shop, order["id"]), 1))
    assert shop.get(order["id"])["financial_status"] == "authorized"

    api.ok(fulfil_units(api, only_fo(shop, order["id"]), 2))
    after = shop.get(order["id"])
    assert after["fulfillment_status"] == "fulfilled"
    assert after["financial_status"] == "paid"
    assert_conserved(shop, mug, loc)


def test_payments_are_recorded_on_the_timeline(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    shop.capture(order["id"], "5.00")
    api.ok(transact(api, order["id"], kind="void"))
    declined = shop.order([{"variant_id": mug, "quantity": 1}])
    transact(api, declined["id"], kind="sale", gateway="bogus", credit_card={"number": "2"})

    seen = verbs(api, order["id"])
    assert "authorization_success" in seen
    assert "capture_success" in seen
    assert "void_success" in seen
    assert "sale_failure" in verbs(api, declined["id"])
    captures = api.ok(api.get(f"/orders/{order['id']}/events.json?verb=capture_success"))["events"]
    assert len(captures) == 1


# ---- 2. refunds --------------------------------------------------------------------------------
def test_refund_calculation_changes_nothing_and_suggests_the_amount(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)
    before_order = shop.get(order["id"])
    before_stock = stock(shop, mug, loc)

    calc = api.ok(
        api.post(
            f"/orders/{order['id']}/refunds/calculate.json",
            {
                "refund": {
                    "refund_line_items": [
                        {"line_item_id": line(order)["id"], "quantity": 1, "restock_type": "cancel", "location_id": loc}
                    ]
                }
            },
        )
    )["refund"]

    suggested = calc["transactions"]
    assert len(suggested) == 1
    assert suggested[0]["kind"] == "suggested_refund"
    assert suggested[0]["amount"] == "10.00"
    assert suggested[0]["parent_id"] == sale_id(api, order["id"])
    after = shop.get(order["id"])
    assert after["refunds"] == []
    assert after["financial_status"] == "paid"
    assert line(after)["fulfillable_quantity"] == line(before_order)["fulfillable_quantity"] == 2
    assert stock(shop, mug, loc) == before_stock
    assert api.ok(api.get(f"/orders/{order['id']}/refunds.json"))["refunds"] == []


def test_refund_with_restock_type_cancel_takes_unfulfilled_units_off_and_restocks_them(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 3)
    assert stock(shop, mug, loc) == (7, 3, 10)

    api.ok(
        refund(
            api,
            order["id"],
            refund_line_items=[
                {"line_item_id": line(order)["id"], "quantity": 1, "restock_type": "cancel", "location_id": loc}
            ],
            transactions=[{"parent_id": sale_id(api, order["id"]), "amount": "10.00", "kind": "refund"}],
        )
    )

    after = shop.get(order["id"])
    assert line(after)["fulfillable_quantity"] == 2
    assert only_fo(shop, order["id"])["line_items"][0]["fulfillable_quantity"] == 2
    assert stock(shop, mug, loc) == (8, 2, 10)
    assert after["financial_status"] == "partially_refunded"
    assert_conserved(shop, mug, loc)


def test_refund_with_restock_type_return_brings_fulfilled_units_back_on_hand(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)
    shop.fulfil(order["id"])
    assert stock(shop, mug, loc) == (8, 0, 8)

    api.ok(
        refund(
            api,
            order["id"],
            refund_line_items=[
                {"line_item_id": line(order)["id"], "quantity": 1, "restock_type": "return", "location_id": loc}
            ],
        )
    )

    assert stock(shop, mug, loc) == (9, 0, 9)
    after = shop.get(order["id"])
    assert line(after)["fulfillable_quantity"] == 0
    assert after["fulfillment_status"] == "fulfilled"
    assert_conserved(shop, mug, loc)


def test_refund_without_restock_takes_unfulfilled_units_off_and_writes_their_stock_off(api, shop):
    """Shopify: fulfillable = quantity - max(refunded, fulfilled). The refunded unit no longer
    ships; its reservation is released without going back to available (no_restock)."""
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)

    api.ok(
        refund(
            api,
            order["id"],
            refund_line_items=[{"line_item_id": line(order)["id"], "quantity": 1, "restock_type": "no_restock"}],
            transactions=[{"parent_id": sale_id(api, order["id"]), "amount": "10.00", "kind": "refund"}],
        )
    )

    assert stock(shop, mug, loc) == (8, 1, 9)
    assert line(shop.get(order["id"]))["fulfillable_quantity"] == 1
    assert_conserved(shop, mug, loc)


def test_shipping_can_be_refunded_by_amount_and_then_in_full(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 1, shipping_lines=[{"title": "PostNL", "price": "4.95"}])
    assert order["total_price"] == "14.95"
    parent = sale_id(api, order["id"])

    first = api.ok(
        refund(
            api,
            order["id"],
            shipping={"amount": "2.00"},
            transactions=[{"parent_id": parent, "amount": "2.00", "kind": "refund"}],
        )
    )["refund"]
    # Shopify reports a shipping refund as a negative adjustment of the order.
    assert [(a["kind"], a["amount"]) for a in first["order_adjustments"]] == [("shipping_refund", "-2.00")]

    calc = api.ok(
        api.post(f"/orders/{order['id']}/refunds/calculate.json", {"refund": {"shipping": {"full_refund": True}}})
    )["refund"]
    assert calc["shipping"]["amount"] == "2.95"
    assert calc["shipping"]["maximum_refundable"] == "2.95"

    assert refund(api, order["id"], shipping={"amount": "3.00"}).status_code == 422  # only 2.95 left

    second = api.ok(
        refund(
            api,
            order["id"],
            shipping={"full_refund": True},
            transactions=[{"parent_id": parent, "amount": "2.95", "kind": "refund"}],
        )
    )["refund"]
    assert [(a["kind"], a["amount"]) for a in second["order_adjustments"]] == [("shipping_refund", "-2.95")]
    after = shop.get(order["id"])
    assert after["financial_status"] == "partially_refunded"
    assert (
        api.ok(
            api.post(f"/orders/{order['id']}/refunds/calculate.json", {"refund": {"shipping": {"full_refund": True}}})
        )["refund"]["shipping"]["maximum_refundable"]
        == "0.00"
    )


def test_cannot_refund_more_than_was_captured(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    paid = paid_order(shop, mug, 2)
    assert (
        refund(
            api, paid["id"], transactions=[{"parent_id": sale_id(api, paid["id"]), "amount": "20.01", "kind": "refund"}]
        ).status_code
        == 422
    )
    assert shop.get(paid["id"])["financial_status"] == "paid"

    partly = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    capture = shop.capture(partly["id"], "8.00")
    assert (
        refund(
            api, partly["id"], transactions=[{"parent_id": capture["id"], "amount": "10.00", "kind": "refund"}]
        ).status_code
        == 422
    )
    after = shop.get(partly["id"])
    assert after["financial_status"] == "partially_paid"
    assert after["refunds"] == []
    assert_conserved(shop, mug, loc)


def test_cannot_refund_more_units_than_were_ordered(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)

    response = refund(
        api,
        order["id"],
        refund_line_items=[
            {"line_item_id": line(order)["id"], "quantity": 3, "restock_type": "cancel", "location_id": loc}
        ],
    )

    assert response.status_code == 422
    assert stock(shop, mug, loc) == (8, 2, 10)
    assert shop.get(order["id"])["refunds"] == []

    api.ok(
        refund(
            api,
            order["id"],
            refund_line_items=[{"line_item_id": line(order)["id"], "quantity": 2, "restock_type": "no_restock"}],
        )
    )
    again = refund(
        api,
        order["id"],
        refund_line_items=[{"line_item_id": line(order)["id"], "quantity": 1, "restock_type": "no_restock"}],
    )
    assert again.status_code == 422


def test_refunds_make_the_order_partially_refunded_then_refunded(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)
    parent = sale_id(api, order["id"])

    api.ok(refund(api, order["id"], transactions=[{"parent_id": parent, "amount": "5.00", "kind": "refund"}]))
    assert shop.get(order["id"])["financial_status"] == "partially_refunded"

    api.ok(refund(api, order["id"], transactions=[{"parent_id": parent, "amount": "15.00", "kind": "refund"}]))
    after = shop.get(order["id"])
    assert after["financial_status"] == "refunded"
    assert after["display_financial_status"] == "refunded"
    assert "refund_success" in verbs(api, order["id"])


def test_a_calculate_answer_can_be_posted_back_as_the_refund(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2, shipping_lines=[{"title": "PostNL", "price": "4.95"}])

    calc = api.ok(
        api.post(
            f"/orders/{order['id']}/refunds/calculate.json",
            {
                "refund": {
                    "shipping": {"full_refund": True},
                    "refund_line_items": [
                        {"line_item_id": line(order)["id"], "quantity": 1, "restock_type": "cancel", "location_id": loc}
                    ],
                }
            },
        )
    )["refund"]
    assert calc["transactions"][0]["amount"] == "14.95"

    created = api.post(f"/orders/{order['id']}/refunds.json", {"refund": calc})

    assert created.status_code == 201, created.text
    made = created.json()["refund"]
    assert [t["amount"] for t in made["transactions"]] == ["14.95"]
    assert [t["kind"] for t in made["transactions"]] == ["refund"]
    after = shop.get(order["id"])
    assert after["financial_status"] == "partially_refunded"
    assert line(after)["fulfillable_quantity"] == 1
    assert stock(shop, mug, loc) == (9, 1, 10)
    assert_conserved(shop, mug, loc)


def test_refund_with_restock_type_cancel_can_restock_at_another_location(api, shop):
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG", price="10.00", stock={amsterdam: 5, utrecht: 1})
    order = paid_order(shop, mug, 2)
    assert only_fo(shop, order["id"])["assigned_location_id"] == amsterdam

    api.ok(
        refund(
            api,
            order["id"],
            refund_line_items=[
                {"line_item_id": line(order)["id"], "quantity": 1, "restock_type": "cancel", "location_id": utrecht}
            ],
        )
    )

    assert stock(shop, mug, amsterdam) == (3, 1, 4)
    assert stock(shop, mug, utrecht) == (2, 0, 2)
    assert line(shop.get(order["id"]))["fulfillable_quantity"] == 1
    assert_conserved(shop, mug, amsterdam, utrecht)


def test_refund_calculation_refuses_more_units_than_were_ordered(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)

    response = api.post(
        f"/orders/{order['id']}/refunds/calculate.json",
        {"refund": {"refund_line_items": [{"line_item_id": line(order)["id"], "quantity": 3}]}},
    )

    assert response.status_code == 422


# ---- 3. cancel ---------------------------------------------------------------------------------
def test_an_order_with_fulfilled_items_cannot_be_cancelled(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)
    shop.fulfil(order["id"])

    response = api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer"})

    assert response.status_code == 422
    assert "cancel the fulfillment" in response.text.lower()
    after = shop.get(order["id"])
    assert after["cancelled_at"] is None
    assert after["financial_status"] == "paid"
    assert_conserved(shop, mug, loc)


def test_cancelling_an_authorized_order_voids_it_cancels_its_fulfillment_orders_and_restocks(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    assert stock(shop, mug, loc) == (8, 2, 10)

    body = api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer", "restock": True}))

    assert body["order"]["financial_status"] == "voided"
    after = shop.get(order["id"])
    assert after["financial_status"] == "voided"
    assert {fo["status"] for fo in shop.fulfillment_orders(order["id"])} == {"cancelled"}
    assert stock(shop, mug, loc) == (10, 0, 10)
    assert "void_success" in verbs(api, order["id"])
    assert_conserved(shop, mug, loc)


def test_cancelling_a_paid_order_with_refund_refunds_everything(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)

    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer", "refund": True, "restock": True}))

    after = shop.get(order["id"])
    assert after["financial_status"] == "refunded"
    assert len(after["refunds"]) == 1
    money = [t for t in after["refunds"][0]["transactions"] if t["kind"] == "refund"]
    assert [(t["amount"], t["status"]) for t in money] == [("20.00", "success")]
    assert stock(shop, mug, loc) == (10, 0, 10)
    assert_conserved(shop, mug, loc)


def test_cancelling_with_refund_false_keeps_the_money(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)

    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer", "refund": False, "restock": True}))

    after = shop.get(order["id"])
    assert after["cancelled_at"] is not None
    assert after["financial_status"] == "paid"
    assert not [t for t in transactions(api, order["id"]) if t["kind"] == "refund"]
    assert stock(shop, mug, loc) == (10, 0, 10)
    assert_conserved(shop, mug, loc)


def test_cancelling_without_restock_writes_the_reserved_stock_off(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)

    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "inventory", "restock": False}))

    available, committed, on_hand = stock(shop, mug, loc)
    assert committed == 0
    assert on_hand == 8
    assert available == 8
    assert_conserved(shop, mug, loc)


def test_cancel_can_restock_at_another_location(api, shop):
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG", price="10.00", stock={amsterdam: 5, utrecht: 0})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    assert only_fo(shop, order["id"])["assigned_location_id"] == amsterdam

    api.ok(
        api.post(
            f"/orders/{order['id']}/cancel.json",
            {
                "reason": "customer",
                "refund": {
                    "refund_line_items": [
                        {
                            "line_item_id": line(order)["id"],
                            "quantity": 2,
                            "restock_type": "cancel",
                            "location_id": utrecht,
                        }
                    ]
                },
            },
        )
    )

    assert stock(shop, mug, amsterdam) == (3, 0, 3)
    assert stock(shop, mug, utrecht) == (2, 0, 2)
    assert shop.get(order["id"])["financial_status"] == "voided"
    assert_conserved(shop, mug, amsterdam, utrecht)


def test_an_order_cannot_be_cancelled_twice(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)
    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"refund": True}))
    snapshot = stock(shop, mug, loc)

    assert api.post(f"/orders/{order['id']}/cancel.json", {"refund": True}).status_code == 422

    assert stock(shop, mug, loc) == snapshot
    assert len(shop.get(order["id"])["refunds"]) == 1
    assert_conserved(shop, mug, loc)


def test_cancellation_and_restock_are_on_the_timeline(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = paid_order(shop, mug, 2)

    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer", "refund": True, "restock": True}))

    seen = verbs(api, order["id"])
    assert "cancelled" in seen
    assert "restock_line_items" in seen
    assert "refund_success" in seen


def test_a_cancelled_order_carries_its_reason_and_cancel_time(api, shop, clock):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    assert (order["cancel_reason"], order["cancelled_at"]) == (None, None)

    # Shopify's clients send cancel parameters in the query string.
    api.ok(api.post(f"/orders/{order['id']}/cancel.json?reason=fraud&email=false"))

    after = shop.get(order["id"])
    assert after["cancel_reason"] == "fraud"
    assert after["cancelled_at"] is not None
    listed = api.ok(api.get("/orders.json?status=cancelled"))["orders"]
    assert [o["id"] for o in listed] == [order["id"]]


def test_a_cancelled_and_restocked_order_reads_restocked(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    assert order["fulfillment_status"] is None

    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer", "restock": True}))

    assert shop.get(order["id"])["fulfillment_status"] == "restocked"


def test_cancelling_a_partially_paid_order_voids_the_rest_and_refunds_what_was_captured(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    shop.capture(order["id"], "8.00")

    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer", "refund": True}))

    after = shop.get(order["id"])
    assert after["financial_status"] == "refunded"
    kinds = [(t["kind"], t["amount"]) for t in transactions(api, order["id"]) if t["status"] == "success"]
    assert ("refund", "8.00") in kinds
    assert any(k == "void" for k, _ in kinds)
    assert transact(api, order["id"], kind="capture").status_code == 422
    assert_conserved(shop, mug, loc)


def test_a_cancelled_order_can_be_neither_fulfilled_nor_captured(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", price="10.00", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    fo = only_fo(shop, order["id"])
    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer"}))

    assert fulfil_fo(api, fo["id"]).status_code == 422
    assert transact(api, order["id"], kind="capture").status_code == 422
    assert api.post(f"/orders/{order['id']}/mark_as_paid.json").status_code == 422
    assert stock(shop, mug, loc) == (9, 0, 9)  # REST cancel restocks only when asked (Shopify's default)


# ---- 4. fulfillment orders: routing ------------------------------------------------------------
def test_one_location_that_covers_every_line_gets_the_whole_order(api, shop):
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG", stock={amsterdam: 5, utrecht: 5})
    plate = shop.product("PLATE", stock={utrecht: 5})

    order = shop.order([{"variant_id": mug, "quantity": 1}, {"variant_id": plate, "quantity": 1}])

    fos = shop.fulfillment_orders(order["id"])
    assert len(fos) == 1
    assert fos[0]["assigned_location_id"] == utrecht
    assert stock(shop, mug, utrecht) == (4, 1, 5)
    assert stock(shop, mug, amsterdam) == (5, 0, 5)
    assert_conserved(shop, mug, amsterdam, utrecht)
    assert_conserved(shop, plate, utrecht)


def test_an_order_no_single_location_covers_is_split_into_two_fulfillment_orders(api, shop):
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG", stock={amsterdam: 5})
    plate = shop.product("PLATE", stock={utrecht: 5})

    order = shop.order([{"variant_id": mug, "quantity": 2}, {"variant_id": plate, "quantity": 1}])

    fos = shop.fulfillment_orders(order["id"])
    assert sorted(fo["assigned_location_id"] for fo in fos) == sorted([amsterdam, utrecht])
    by_location = {fo["assigned_location_id"]: fo for fo in fos}
    assert [li["variant_id"] for li in by_location[amsterdam]["line_items"]] == [mug]
    assert [li["variant_id"] for li in by_location[utrecht]["line_items"]] == [plate]
    assert stock(shop, mug, amsterdam) == (3, 2, 5)
    assert stock(shop, plate, utrecht) == (4, 1, 5)
    assert_conserved(shop, mug, amsterdam)
    assert_conserved(shop, plate, utrecht)


def test_an_out_of_stock_item_that_may_not_oversell_is_refused_and_nothing_is_reserved(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 1}, policy="deny")
    plate = shop.product("PLATE", stock={loc: 5})

    response = api.post(
        "/orders.json",
        {
            "order": {
                "email": "anna@example.nl",
                "line_items": [{"variant_id": plate, "quantity": 1}, {"variant_id": mug, "quantity": 2}],
            }
        },
    )

    assert response.status_code == 422
    assert stock(shop, mug, loc) == (1, 0, 1)
    assert stock(shop, plate, loc) == (5, 0, 5)
    assert api.ok(api.get("/orders/count.json?status=any"))["count"] == 0
    assert_conserved(shop, mug, loc)
    assert_conserved(shop, plate, loc)


def test_an_item_that_may_oversell_goes_below_zero_available(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 1}, policy="continue")

    order = shop.order([{"variant_id": mug, "quantity": 3}])

    assert only_fo(shop, order["id"])["assigned_location_id"] == loc
    assert stock(shop, mug, loc) == (-2, 3, 1)
    assert_conserved(shop, mug, loc)


def test_inventory_behaviour_bypass_leaves_stock_alone(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 1})

    order = shop.order([{"variant_id": mug, "quantity": 2}], inventory_behaviour="bypass")
    assert stock(shop, mug, loc) == (1, 0, 1)

    shop.fulfil(order["id"])
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"
    assert stock(shop, mug, loc) == (1, 0, 1)
    assert_conserved(shop, mug, loc)


# ---- 4. fulfillment orders: holds --------------------------------------------------------------
def hold(
    api: Any, fo_id: int, reason: str = "other", notes: str | None = None, lines: list[dict[str, int]] | None = None
) -> Any:
    body: dict[str, Any] = {"reason": reason, "reason_notes": notes}
    if lines:
        body["fulfillment_order_line_items"] = lines
    return api.post(f"/fulfillment_orders/{fo_id}/hold.json", {"fulfillment_hold": body})


def test_a_fulfillment_order_on_hold_cannot_be_fulfilled(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    fo = only_fo(shop, order["id"])

    held = api.ok(hold(api, fo["id"], "incorrect_address", "Street number missing"))["fulfillment_order"]

    assert held["status"] == "on_hold"
    assert [(h["reason"], h["reason_notes"]) for h in held["fulfillment_holds"]] == [
        ("incorrect_address", "Street number missing")
    ]
    assert shop.get(order["id"])["display_fulfillment_status"] == "on_hold"
    assert fulfil_fo(api, fo["id"]).status_code == 422
    assert shop.get(order["id"])["fulfillment_status"] is None
    assert stock(shop, mug, loc) == (8, 2, 10)
    assert_conserved(shop, mug, loc)


def test_a_fulfillment_order_stays_on_hold_until_every_hold_is_released(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    fo = only_fo(shop, order["id"])
    api.ok(hold(api, fo["id"], "awaiting_payment"))
    both = api.ok(hold(api, fo["id"], "high_risk_of_fraud"))["fulfillment_order"]
    assert len(both["fulfillment_holds"]) == 2
    first = both["fulfillment_holds"][0]["id"]

    one_left = api.ok(api.post(f"/fulfillment_orders/{fo['id']}/release_hold.json", {"hold_ids": [first]}))
    assert one_left["fulfillment_order"]["status"] == "on_hold"
    assert [h["reason"] for h in one_left["fulfillment_order"]["fulfillment_holds"]] == ["high_risk_of_fraud"]
    assert shop.get(order["id"])["display_fulfillment_status"] == "on_hold"
    assert fulfil_fo(api, fo["id"]).status_code == 422

    released = api.ok(api.post(f"/fulfillment_orders/{fo['id']}/release_hold.json", {}))["fulfillment_order"]
    assert released["status"] == "open"
    assert released["fulfillment_holds"] == []
    assert shop.get(order["id"])["display_fulfillment_status"] == "unfulfilled"
    api.ok(fulfil_fo(api, fo["id"]))
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"


def test_holding_some_units_splits_off_the_rest_into_a_fulfillment_order_that_can_ship(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 3}])
    fo = only_fo(shop, order["id"])

    body = api.ok(
        hold(api, fo["id"], "inventory_out_of_stock", lines=[{"id": fo["line_items"][0]["id"], "quantity": 1}])
    )

    held, rest = body["fulfillment_order"], body["remaining_fulfillment_order"]
    assert held["status"] == "on_hold"
    assert [li["fulfillable_quantity"] for li in held["line_items"]] == [1]
    assert rest is not None and rest["status"] == "open"
    assert [li["fulfillable_quantity"] for li in rest["line_items"]] == [2]
    api.ok(fulfil_fo(api, rest["id"]))
    assert shop.get(order["id"])["fulfillment_status"] == "partial"
    assert fulfil_fo(api, held["id"]).status_code == 422
    assert stock(shop, mug, loc) == (7, 1, 8)
    assert_conserved(shop, mug, loc)


# ---- 4. fulfillment orders: schedules ----------------------------------------------------------
def reschedule(api: Any, fo_id: int, when: Any) -> Any:
    return api.post(
        f"/fulfillment_orders/{fo_id}/reschedule.json", {"fulfillment_order": {"new_fulfill_at": when.isoformat()}}
    )


def test_a_rescheduled_fulfillment_order_cannot_ship_until_opened(api, shop, clock):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    fo = only_fo(shop, order["id"])

    scheduled = api.ok(reschedule(api, fo["id"], clock.now + timedelta(days=5)))["fulfillment_order"]

    assert scheduled["status"] == "scheduled"
    assert shop.get(order["id"])["display_fulfillment_status"] == "scheduled"
    assert fulfil_fo(api, fo["id"]).status_code == 422
    opened = api.ok(api.post(f"/fulfillment_orders/{fo['id']}/open.json"))["fulfillment_order"]
    assert opened["status"] == "open"
    api.ok(fulfil_fo(api, fo["id"]))
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"
    assert_conserved(shop, mug, loc)


def test_a_scheduled_fulfillment_order_opens_when_its_date_arrives(api, shop, deck, clock):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    fo = only_fo(shop, order["id"])
    api.ok(reschedule(api, fo["id"], clock.now + timedelta(days=3)))

    sweeps.open_due_fulfillment_orders(deck)
    assert only_fo(shop, order["id"])["status"] == "scheduled"

    clock.advance(days=4)
    sweeps.open_due_fulfillment_orders(deck)

    assert only_fo(shop, order["id"])["status"] == "open"
    assert shop.get(order["id"])["display_fulfillment_status"] == "unfulfilled"
    api.ok(fulfil_fo(api, fo["id"]))


def test_a_fulfillment_order_cannot_be_rescheduled_into_the_past(api, shop, clock):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    fo = only_fo(shop, order["id"])

    assert reschedule(api, fo["id"], clock.now - timedelta(days=1)).status_code == 422
    assert only_fo(shop, order["id"])["status"] == "open"


def test_releasing_the_hold_on_a_scheduled_fulfillment_order_keeps_it_scheduled(api, shop, clock):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    fo = only_fo(shop, order["id"])
    api.ok(reschedule(api, fo["id"], clock.now + timedelta(days=5)))
    api.ok(hold(api, fo["id"], "other"))
    assert shop.get(order["id"])["display_fulfillment_status"] == "on_hold"

    released = api.ok(api.post(f"/fulfillment_orders/{fo['id']}/release_hold.json", {}))["fulfillment_order"]

    assert released["status"] == "scheduled"
    assert fulfil_fo(api, fo["id"]).status_code == 422


# ---- 4. fulfillment orders: moves --------------------------------------------------------------
def move(api: Any, fo_id: int, location_id: int, lines: list[dict[str, int]] | None = None) -> Any:
    body: dict[str, Any] = {"new_location_id": location_id}
    if lines:
        body["fulfillment_order_line_items"] = lines
    return api.post(f"/fulfillment_orders/{fo_id}/move.json", {"fulfillment_order": body})


def test_moving_a_fulfillment_order_moves_its_reservation(api, shop):
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG", stock={amsterdam: 5, utrecht: 5})
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    fo = only_fo(shop, order["id"])
    origin = fo["assigned_location_id"]
    target = utrecht if origin == amsterdam else amsterdam
    assert stock(shop, mug, origin) == (3, 2, 5)

    body = api.ok(move(api, fo["id"], target))

    assert body["moved_fulfillment_order"]["assigned_location_id"] == target
    assert body["remaining_fulfillment_order"] is None
    assert only_fo(shop, order["id"])["assigned_location_id"] == target
    assert stock(shop, mug, origin) == (5, 0, 5)
    assert stock(shop, mug, target) == (3, 2, 5)
    shop.fulfil(order["id"])
    assert stock(shop, mug, target) == (3, 0, 3)
    assert_conserved(shop, mug, amsterdam, utrecht)


def test_a_fulfillment_order_cannot_move_to_a_location_that_never_stocked_the_item(api, shop):
    amsterdam = shop.location("Amsterdam")
    rotterdam = shop.location("Rotterdam")
    mug = shop.product("MUG", stock={amsterdam: 5})
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    fo = only_fo(shop, order["id"])

    response = move(api, fo["id"], rotterdam)

    assert response.status_code == 422
    assert only_fo(shop, order["id"])["assigned_location_id"] == amsterdam
    assert stock(shop, mug, amsterdam) == (3, 2, 5)
    assert stock(shop, mug, rotterdam) == (0, 0, 0)
    assert_conserved(shop, mug, amsterdam, rotterdam)


def test_after_a_partial_fulfilment_only_the_remaining_units_move(api, shop):
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG", stock={amsterdam: 5, utrecht: 5})
    order = shop.order([{"variant_id": mug, "quantity": 3}])
    fo = only_fo(shop, order["id"])
    assert fo["assigned_location_id"] == amsterdam
    api.ok(fulfil_units(api, fo, 1))
    assert stock(shop, mug, amsterdam) == (2, 2, 4)

    body = api.ok(move(api, fo["id"], utrecht))

    moved = body["moved_fulfillment_order"]
    assert moved["assigned_location_id"] == utrecht
    assert [li["fulfillable_quantity"] for li in moved["line_items"]] == [2]
    assert [f["location_id"] for f in shop.get(order["id"])["fulfillments"]] == [amsterdam]
    assert stock(shop, mug, amsterdam) == (4, 0, 4)
    assert stock(shop, mug, utrecht) == (3, 2, 5)
    open_now = active_fos(shop, order["id"])
    assert [(f["assigned_location_id"], f["line_items"][0]["fulfillable_quantity"]) for f in open_now] == [(utrecht, 2)]
    api.ok(fulfil_fo(api, moved["id"]))
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"
    assert_conserved(shop, mug, amsterdam, utrecht)


def test_locations_for_move_lists_where_a_fulfillment_order_can_go(api, shop):
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    rotterdam = shop.location("Rotterdam")
    mug = shop.product("MUG", stock={amsterdam: 5, utrecht: 5})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    fo = only_fo(shop, order["id"])
    assert fo["assigned_location_id"] == amsterdam

    found = api.ok(api.get(f"/fulfillment_orders/{fo['id']}/locations_for_move.json"))["locations_for_move"]

    movable = {entry["location"]["id"]: entry["movable"] for entry in found}
    assert movable == {amsterdam: False, utrecht: True, rotterdam: False}


def test_a_fulfillment_order_can_move_to_a_location_that_stocks_the_item_but_has_none_available(api, shop):
    # ORDER-MODEL.md §3: a move fails when the FO is closed, the destination never stocked the
    # item, or a fulfillment service holds the request; running out at the destination is not
    # among the reasons. The reservation follows the FO.
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG", stock={amsterdam: 5, utrecht: 0})
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    fo = only_fo(shop, order["id"])
    listed = api.ok(api.get(f"/fulfillment_orders/{fo['id']}/locations_for_move.json"))["locations_for_move"]
    assert {e["location"]["id"]: e["movable"] for e in listed}[utrecht] is True

    body = api.ok(move(api, fo["id"], utrecht))

    assert body["moved_fulfillment_order"]["assigned_location_id"] == utrecht
    assert stock(shop, mug, amsterdam) == (5, 0, 5)
    assert stock(shop, mug, utrecht) == (-2, 2, 0)
    assert_conserved(shop, mug, amsterdam, utrecht)


# ---- 5. fulfillments ---------------------------------------------------------------------------
def test_fulfilling_some_units_makes_the_order_partial_then_fulfilled(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 3}])

    api.ok(fulfil_units(api, only_fo(shop, order["id"]), 1))
    middle = shop.get(order["id"])
    assert middle["fulfillment_status"] == "partial"
    assert middle["display_fulfillment_status"] == "partially_fulfilled"
    assert line(middle)["fulfillable_quantity"] == 2
    assert stock(shop, mug, loc) == (7, 2, 9)

    api.ok(fulfil_units(api, only_fo(shop, order["id"]), 2))
    after = shop.get(order["id"])
    assert after["fulfillment_status"] == "fulfilled"
    assert after["display_fulfillment_status"] == "fulfilled"
    assert line(after)["fulfillable_quantity"] == 0
    assert stock(shop, mug, loc) == (7, 0, 7)
    assert_conserved(shop, mug, loc)


def test_cannot_fulfil_more_units_than_are_left(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    fo = only_fo(shop, order["id"])

    assert fulfil_units(api, fo, 3).status_code == 422
    assert shop.get(order["id"])["fulfillments"] == []
    api.ok(fulfil_units(api, fo, 1))
    assert fulfil_units(api, only_fo(shop, order["id"]), 2).status_code == 422
    assert shop.get(order["id"])["fulfillment_status"] == "partial"
    assert stock(shop, mug, loc) == (8, 1, 9)
    assert_conserved(shop, mug, loc)


def test_a_ups_tracking_number_is_recognised_and_linked(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])

    made = shop.fulfil(order["id"], tracking=UPS_NUMBER)

    assert made["tracking_company"] == "UPS"
    assert made["tracking_number"] == UPS_NUMBER
    assert made["tracking_url"] is not None and "ups.com" in made["tracking_url"]
    assert UPS_NUMBER in made["tracking_url"]


def test_tracking_can_be_updated_after_fulfilment(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    made = shop.fulfil(order["id"], tracking=UPS_NUMBER)

    updated = api.ok(
        api.post(
            f"/fulfillments/{made['id']}/update_tracking.json",
            {
                "fulfillment": {
                    "notify_customer": False,
                    "tracking_info": {"number": "3SABCD1234567", "company": "PostNL"},
                }
            },
        )
    )["fulfillment"]

    assert updated["tracking_company"] == "PostNL"
    assert updated["tracking_numbers"] == ["3SABCD1234567"]
    assert "postnl" in updated["tracking_url"]
    stored = shop.get(order["id"])["fulfillments"][0]
    assert (stored["tracking_company"], stored["tracking_number"]) == ("PostNL", "3SABCD1234567")


def test_shipment_status_follows_the_latest_shipment_event(api, shop, clock):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    made = shop.fulfil(order["id"], tracking=UPS_NUMBER)
    assert made["shipment_status"] is None
    path = f"/orders/{order['id']}/fulfillments/{made['id']}/events.json"

    def shipment_status() -> Any:
        return api.ok(api.get(f"/orders/{order['id']}/fulfillments/{made['id']}.json"))["fulfillment"][
            "shipment_status"
        ]

    api.ok(api.post(path, {"event": {"status": "in_transit"}}))
    assert shipment_status() == "in_transit"
    clock.advance(hours=5)
    delivered = api.ok(api.post(path, {"event": {"status": "delivered"}}))["fulfillment_event"]
    assert shipment_status() == "delivered"
    # A late report of something that happened earlier does not undo the delivery.
    earlier = (clock.now - timedelta(hours=2)).isoformat()
    api.ok(api.post(path, {"event": {"status": "out_for_delivery", "happened_at": earlier}}))
    assert shipment_status() == "delivered"
    assert len(api.ok(api.get(path))["fulfillment_events"]) == 3

    api.ok(api.delete(f"/orders/{order['id']}/fulfillments/{made['id']}/events/{delivered['id']}.json"))
    assert shipment_status() == "out_for_delivery"


def test_cancelling_a_fulfillment_makes_its_units_fulfillable_again(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    made = shop.fulfil(order["id"])
    assert stock(shop, mug, loc) == (8, 0, 8)

    cancelled = api.ok(api.post(f"/fulfillments/{made['id']}/cancel.json", {}))["fulfillment"]

    assert cancelled["status"] == "cancelled"
    after = shop.get(order["id"])
    assert after["fulfillment_status"] is None
    assert after["display_fulfillment_status"] == "unfulfilled"
    assert line(after)["fulfillable_quantity"] == 2
    assert stock(shop, mug, loc) == (8, 2, 10)
    assert sum(li["fulfillable_quantity"] for fo in active_fos(shop, order["id"]) for li in fo["line_items"]) == 2
    assert "fulfillment_cancelled" in verbs(api, order["id"])

    assert api.post(f"/fulfillments/{made['id']}/cancel.json", {}).status_code == 422
    assert stock(shop, mug, loc) == (8, 2, 10)

    shop.fulfil(order["id"])  # and it can ship again
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"
    assert stock(shop, mug, loc) == (8, 0, 8)
    assert_conserved(shop, mug, loc)


def test_cancelling_one_of_two_fulfillments_leaves_the_order_partial(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 3}])
    api.ok(fulfil_units(api, only_fo(shop, order["id"]), 1))
    second = api.ok(fulfil_units(api, only_fo(shop, order["id"]), 2))["fulfillment"]
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"

    api.ok(api.post(f"/fulfillments/{second['id']}/cancel.json", {}))

    after = shop.get(order["id"])
    assert after["fulfillment_status"] == "partial"
    assert line(after)["fulfillable_quantity"] == 2
    assert stock(shop, mug, loc) == (7, 2, 9)
    assert_conserved(shop, mug, loc)


def test_the_legacy_order_scoped_cancel_path_unfulfils_too(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    made = shop.fulfil(order["id"])

    body = api.ok(api.post(f"/orders/{order['id']}/fulfillments/{made['id']}/cancel.json"))

    assert body["fulfillment"]["status"] == "cancelled"
    assert shop.get(order["id"])["fulfillment_status"] is None
    assert stock(shop, mug, loc) == (9, 1, 10)
    assert api.post(f"/orders/{order['id']}/fulfillments/{made['id']}/cancel.json").status_code == 422
    assert_conserved(shop, mug, loc)


def test_a_fulfillment_cannot_be_cancelled_through_another_orders_path(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    first = shop.order([{"variant_id": mug, "quantity": 1}])
    second = shop.order([{"variant_id": mug, "quantity": 1}])
    made = shop.fulfil(first["id"])

    assert api.post(f"/orders/{second['id']}/fulfillments/{made['id']}/cancel.json").status_code == 404
    assert shop.get(first["id"])["fulfillment_status"] == "fulfilled"


def test_point_of_sale_orders_are_fulfilled_when_placed(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})

    order = shop.order([{"variant_id": mug, "quantity": 2}], source_name="pos", transactions=SELL)

    assert order["fulfillment_status"] == "fulfilled"
    assert len(order["fulfillments"]) == 1
    assert stock(shop, mug, loc) == (8, 0, 8)
    assert_conserved(shop, mug, loc)


def test_auto_fulfill_false_keeps_a_point_of_sale_order_unfulfilled(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})

    order = shop.order([{"variant_id": mug, "quantity": 2}], source_name="pos", transactions=SELL, auto_fulfill=False)

    assert order["fulfillment_status"] is None
    assert order["fulfillments"] == []
    assert stock(shop, mug, loc) == (8, 2, 10)
    assert_conserved(shop, mug, loc)


def test_web_orders_are_not_fulfilled_automatically(api, shop):
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})

    order = shop.order([{"variant_id": mug, "quantity": 2}], source_name="web", transactions=SELL)

    assert order["fulfillment_status"] is None
    assert order["display_fulfillment_status"] == "unfulfilled"
    assert stock(shop, mug, loc) == (8, 2, 10)
    assert_conserved(shop, mug, loc)


def test_auto_fulfill_channels_setting_decides_which_channels_are_fulfilled_at_placement(api, shop):
    shop.settings(auto_fulfill_channels=["web"])
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})

    web = shop.order([{"variant_id": mug, "quantity": 1}], source_name="web")
    pos = shop.order([{"variant_id": mug, "quantity": 1}], source_name="pos")

    assert web["fulfillment_status"] == "fulfilled"
    assert pos["fulfillment_status"] is None
    assert stock(shop, mug, loc) == (8, 1, 9)
    assert_conserved(shop, mug, loc)
