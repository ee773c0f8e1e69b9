"""Issue 12, "Money, stock and statuses": each test is one of the problems found against
ORDER-MODEL.md and SHOPIFY-REST.md, through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from orderdeck.services import sweeps
from orderdeck.services.context import Orderdeck
from orderdeck.store.migrate import migrate
from tests.conftest import AUTHORIZE, SELL, Api, Shop
from tests.integration.order_steps import (
    counted,
    ids_listed,
    open_fo,
    refund_unrestocked,
    run_migration,
    sale_id,
    ship,
    stock,
)
from tests.integration.test_migration_0027_narrow_rows import at_0026


def refund(api: Api, order_id: int, **body: Any) -> Any:
    return api.post(f"/orders/{order_id}/refunds.json", {"refund": body})


def refuses(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body: dict[str, Any] = response.json()
    assert field in repr(body["errors"]), body
    return body


# ---- 1. units refunded without restock come off the fulfillment order ---------------------------
def test_refunding_unfulfilled_units_without_restock_lets_the_kept_units_finish_the_order(
    api: Api, shop: Shop, mug: int, amsterdam: int
) -> None:
    """S7.4: the admin's refund form sends no_restock when Restock is unticked. The refunded
    unit must not stay on the fulfillment order: shipping the kept one fulfils the order, which
    is then auto-archived, and no stock stays committed."""
    shop.settings(auto_archive=True)
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    refund_unrestocked(api, order, amount="12.50")
    after = shop.get(order["id"])
    assert after["line_items"][0]["fulfillable_quantity"] == 1
    assert stock(shop, mug, amsterdam) == (48, 1, 49)  # released, not back to available
    events = api.ok(api.get(f"/orders/{order['id']}/events.json"))["events"]
    assert any("1 unfulfilled item will not be shipped" in e["description"] for e in events)
    fo = open_fo(shop, order["id"])
    assert fo["line_items"][0]["fulfillable_quantity"] == 1
    refuses(ship(api, fo, 2), 422, "fulfillment_order_line_items")  # the refunded unit cannot ship

    api.ok(ship(api, fo, 1))

    done = shop.get(order["id"])
    assert done["fulfillment_status"] == "fulfilled"
    assert done["display_fulfillment_status"] == "fulfilled"
    assert done["closed_at"] is not None  # auto-archived
    assert stock(shop, mug, amsterdam) == (48, 0, 48)


def test_a_no_restock_refund_after_shipping_counts_against_the_shipped_units(
    api: Api, shop: Shop, mug: int, amsterdam: int
) -> None:
    """quantity - max(refunded, fulfilled): one of two shipped and one refunded without restock
    (say the parcel was lost): the other unit still ships."""
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    api.ok(ship(api, open_fo(shop, order["id"]), 1))
    refund_unrestocked(api, order)
    assert shop.get(order["id"])["line_items"][0]["fulfillable_quantity"] == 1
    assert stock(shop, mug, amsterdam) == (48, 1, 49)
    api.ok(ship(api, open_fo(shop, order["id"])))
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"
    assert stock(shop, mug, amsterdam) == (48, 0, 48)


def test_undoing_a_shipment_brings_back_only_the_units_still_owed(
    api: Api, shop: Shop, mug: int, amsterdam: int
) -> None:
    """Both shipped, one refunded without restock, then the shipment is cancelled: one unit is
    to ship again (2 - max(1 refunded, 0 fulfilled)), not two."""
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    shipped = api.ok(ship(api, open_fo(shop, order["id"])))["fulfillment"]
    refund_unrestocked(api, order)
    assert stock(shop, mug, amsterdam) == (48, 0, 48)

    api.ok(api.post(f"/fulfillments/{shipped['id']}/cancel.json", {}))

    after = shop.get(order["id"])
    assert after["line_items"][0]["fulfillable_quantity"] == 1
    assert after["fulfillment_status"] is None
    assert stock(shop, mug, amsterdam) == (48, 1, 49)  # one unit back on hand, reserved again


def test_units_refunded_before_the_rest_shipped_stay_off_the_order(
    api: Api, shop: Shop, mug: int, amsterdam: int
) -> None:
    """Found by the returns state machine: 2 of 3 mugs refunded without restock before any
    shipped, then the third shipped. Nothing is left to ship, although quantity - max(refunded,
    fulfilled) says 1 (it counts the refunded mugs against the shipped one); and an order edit
    may not take the shipped mug off the order (it offered 1 unit: the customer would be owed
    12.50 for a mug they have)."""
    tea = shop.product("TEA-1", price="4.00", stock={amsterdam: 5})
    order = shop.order([{"variant_id": mug, "quantity": 3}, {"variant_id": tea, "quantity": 1}], transactions=SELL)
    refund_unrestocked(api, order, units=2, amount="25.00")
    api.ok(ship(api, open_fo(shop, order["id"])))

    shipped = shop.get(order["id"])
    mugs = shipped["line_items"][0]
    assert (mugs["quantity"], mugs["current_quantity"], mugs["fulfillable_quantity"]) == (3, 1, 0)
    assert mugs["fulfillment_status"] == "fulfilled"
    assert shipped["fulfillment_status"] == "fulfilled"
    assert stock(shop, mug, amsterdam) == (47, 0, 47)  # 2 written off when refunded, 1 shipped

    edit = api.ok(api.post(f"/orders/{order['id']}/order_edits.json", {}))["order_edit"]
    line = next(li for li in edit["line_items"] if li["line_item_id"] == mugs["id"])
    assert (line["quantity"], line["editable_quantity"], line["restockable"]) == (1, 0, False)
    staged = api.post(f"/order_edits/{edit['id']}/set_quantity.json", {"line_item_id": mugs["id"], "quantity": 0})
    assert staged.status_code == 422, staged.text
    assert "can't go below 1" in staged.text
    after = shop.get(order["id"])
    assert (after["current_total_price"], after["total_outstanding"]) == (shipped["current_total_price"], "0.00")


def test_a_shipment_undone_after_a_refund_ships_only_the_units_kept(
    api: Api, shop: Shop, mug: int, amsterdam: int
) -> None:
    """3 mugs shipped, 2 refunded without restock (counted against the shipped ones), the
    shipment undone: 1 mug is to ship; once it ships, none is, and no order edit can take it off."""
    tea = shop.product("TEA-2", price="4.00", stock={amsterdam: 5})
    order = shop.order([{"variant_id": mug, "quantity": 3}, {"variant_id": tea, "quantity": 1}], transactions=SELL)
    first = api.ok(ship(api, open_fo(shop, order["id"])))["fulfillment"]
    refund_unrestocked(api, order, units=2)
    api.ok(api.post(f"/fulfillments/{first['id']}/cancel.json", {}))
    assert shop.get(order["id"])["line_items"][0]["fulfillable_quantity"] == 1

    api.ok(ship(api, open_fo(shop, order["id"])))

    mugs = shop.get(order["id"])["line_items"][0]
    assert (mugs["fulfillable_quantity"], mugs["fulfillment_status"]) == (0, "fulfilled")
    assert [fo["status"] for fo in shop.fulfillment_orders(order["id"])].count("open") == 0
    edit = api.ok(api.post(f"/orders/{order['id']}/order_edits.json", {}))["order_edit"]
    assert next(li for li in edit["line_items"] if li["line_item_id"] == mugs["id"])["editable_quantity"] == 0


# ---- 2. refund discrepancies --------------------------------------------------------------------
def test_a_goodwill_refund_without_lines_is_a_discrepancy_and_nothing_becomes_owed(
    api: Api, shop: Shop, mug: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    made = api.ok(
        refund(
            api,
            order["id"],
            note="goodwill",
            transactions=[{"parent_id": sale_id(api, order["id"]), "amount": "5.00", "kind": "refund"}],
        )
    )["refund"]
    assert [(a["kind"], a["amount"]) for a in made["order_adjustments"]] == [("refund_discrepancy", "-5.00")]
    after = shop.get(order["id"])
    assert after["financial_status"] == "partially_refunded"
    assert after["total_outstanding"] == "0.00"
    assert after["current_total_price"] == "25.00"  # no item came off the order
    refuses(api.post(f"/orders/{order['id']}/mark_as_paid.json"), 422, "already paid")
    assert len(api.ok(api.get(f"/orders/{order['id']}/transactions.json"))["transactions"]) == 2


@pytest.mark.parametrize(("money", "adjustment"), [("7.00", "5.50"), ("15.00", "-2.50")])
def test_refunding_more_or_less_than_the_refunded_line_is_worth_leaves_nothing_owed(
    api: Api, shop: Shop, mug: int, money: str, adjustment: str
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    made = refund_unrestocked(api, order, amount=money, discrepancy_reason="customer")
    assert [(a["kind"], a["amount"], a["reason"]) for a in made["order_adjustments"]] == [
        ("refund_discrepancy", adjustment, "customer")
    ]
    after = shop.get(order["id"])
    assert after["total_outstanding"] == "0.00"
    assert after["financial_status"] == "partially_refunded"
    assert after["current_total_price"] == "12.50"
    refuses(api.post(f"/orders/{order['id']}/mark_as_paid.json"), 422, "already paid")


def test_a_refund_of_exactly_the_suggested_amount_records_no_discrepancy(api: Api, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    made = refund_unrestocked(api, order, amount="12.50")
    assert made["order_adjustments"] == []
    assert shop.get(order["id"])["total_outstanding"] == "0.00"


def test_items_taken_off_an_unpaid_order_lower_what_is_owed(api: Api, shop: Shop, mug: int, amsterdam: int) -> None:
    """Nothing was paid, so nothing could be refunded: no discrepancy, the balance falls."""
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    assert order["financial_status"] == "pending"
    line = order["line_items"][0]["id"]
    made = api.ok(
        refund(
            api,
            order["id"],
            refund_line_items=[
                {"line_item_id": line, "quantity": 1, "restock_type": "cancel", "location_id": amsterdam}
            ],
        )
    )["refund"]
    assert made["order_adjustments"] == []
    assert shop.get(order["id"])["total_outstanding"] == "12.50"
    paid = api.ok(api.post(f"/orders/{order['id']}/mark_as_paid.json"))["order"]
    assert paid["financial_status"] == "paid"
    assert paid["total_outstanding"] == "0.00"


# ---- 3. unarchiving sticks ----------------------------------------------------------------------
def test_unarchiving_an_auto_archived_order_sticks_until_it_is_due_again(
    api: Api, shop: Shop, deck: Orderdeck, mug: int
) -> None:
    shop.settings(auto_archive=True)
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    shop.fulfil(order["id"])
    assert shop.get(order["id"])["closed_at"] is not None

    reopened = api.ok(api.post(f"/orders/{order['id']}/open.json"))["order"]

    assert reopened["closed_at"] is None
    assert shop.get(order["id"])["closed_at"] is None
    assert sweeps.auto_archive(deck) == 0  # the hourly sweep leaves it open
    api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"note": "call first"}}))
    assert shop.get(order["id"])["closed_at"] is None  # a change that does not make it due
    assert order["id"] in ids_listed(api, status="open")

    # A refund is a change that makes it due again: auto-archive takes it.
    api.ok(
        refund(api, order["id"], transactions=[{"parent_id": sale_id(api, order["id"]), "amount": "1.00"}]),
    )
    assert shop.get(order["id"])["closed_at"] is not None


def test_an_unarchived_order_is_archived_again_once_its_last_units_ship(api: Api, shop: Shop, mug: int) -> None:
    shop.settings(auto_archive=True)
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    api.ok(api.post(f"/orders/{order['id']}/close.json"))
    api.ok(api.post(f"/orders/{order['id']}/open.json"))
    fo = open_fo(shop, order["id"])
    api.ok(ship(api, fo, 1))
    assert shop.get(order["id"])["closed_at"] is None  # partially fulfilled: not due
    api.ok(ship(api, open_fo(shop, order["id"])))
    assert shop.get(order["id"])["closed_at"] is not None


# ---- 4. a partial shipping address merges -------------------------------------------------------
def test_a_partial_shipping_address_changes_only_the_keys_sent(api: Api, shop: Shop, mug: int) -> None:
    address = {
        "first_name": "Anna",
        "last_name": "de Vries",
        "address1": "Keizersgracht 1",
        "city": "Amsterdam",
        "zip": "1015 CJ",
        "country_code": "NL",
        "phone": "+31 20 123 4567",
    }
    order = shop.order([{"variant_id": mug, "quantity": 1}], shipping_address=address)

    changed = api.ok(
        api.put(f"/orders/{order['id']}.json", {"order": {"shipping_address": {"address1": "Prinsengracht 2"}}})
    )["order"]["shipping_address"]

    assert changed["address1"] == "Prinsengracht 2"
    for key in ("first_name", "last_name", "city", "zip", "country_code", "phone"):
        assert changed[key] == address[key], key
    renamed = api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"shipping_address": {"zip": None}}}))
    assert renamed["order"]["shipping_address"]["zip"] is None  # null clears that one key
    assert renamed["order"]["shipping_address"]["city"] == "Amsterdam"


# ---- 5. cancelling voids what was still to be paid; the unpaid filter --------------------------
def test_cancelling_an_order_with_a_pending_manual_payment_voids_it(api: Api, shop: Shop, mug: int) -> None:
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        transactions=[{"kind": "sale", "gateway": "bank_transfer", "status": "pending"}],
    )
    assert order["financial_status"] == "pending"
    unpaid = shop.order([{"variant_id": mug, "quantity": 1}])

    for o in (order, unpaid):
        cancelled = api.ok(api.post(f"/orders/{o['id']}/cancel.json", {"reason": "customer"}))["order"]
        assert cancelled["financial_status"] == "voided"
        assert shop.get(o["id"])["financial_status"] == "voided"

    assert ids_listed(api, financial_status="pending") == set()
    assert counted(api, financial_status="pending") == 0
    assert ids_listed(api, financial_status="voided") == {order["id"], unpaid["id"]}
    assert counted(api, financial_status="voided") == 2


def test_financial_status_unpaid_is_authorized_or_partially_paid(api: Api, shop: Shop, mug: int) -> None:
    pending = shop.order([{"variant_id": mug, "quantity": 1}])
    authorized = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    partly = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    shop.capture(partly["id"], "5.00")
    assert shop.get(partly["id"])["financial_status"] == "partially_paid"
    shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)

    assert ids_listed(api, financial_status="unpaid") == {authorized["id"], partly["id"]}
    assert counted(api, financial_status="unpaid") == 2
    # Orderdeck's own "outstanding" (the admin's Unpaid tab) adds payment pending.
    assert ids_listed(api, financial_status="outstanding") == {pending["id"], authorized["id"], partly["id"]}
    assert counted(api, financial_status="outstanding") == 3


# ---- 6. amounts on multi-currency orders need their currency ------------------------------------
@pytest.fixture
def dollars(shop: Shop, mug: int) -> dict[str, Any]:
    """An order placed in USD at a shop that keeps EUR, payment authorized."""
    return shop.order(
        [{"variant_id": mug, "quantity": 2}],
        presentment_currency="USD",
        exchange_rate="1.10",
        transactions=AUTHORIZE,
    )


def test_a_capture_amount_without_currency_on_a_multi_currency_order_is_refused(
    api: Api, shop: Shop, dollars: dict[str, Any]
) -> None:
    path = f"/orders/{dollars['id']}/transactions.json"
    body = refuses(api.post(path, {"transaction": {"kind": "capture", "amount": "10.00"}}), 422, "currency")
    assert "USD" in repr(body["errors"])
    assert shop.get(dollars["id"])["financial_status"] == "authorized"
    refuses(api.post(path, {"transaction": {"kind": "capture", "amount": "10.00", "currency": "EUR"}}), 422, "currency")

    api.ok(api.post(path, {"transaction": {"kind": "capture", "amount": "10.00", "currency": "USD"}}))
    assert shop.get(dollars["id"])["financial_status"] == "partially_paid"
    # Without an amount there is nothing to misread: the rest of the authorization is captured.
    api.ok(api.post(path, {"transaction": {"kind": "capture"}}))
    assert shop.get(dollars["id"])["financial_status"] == "paid"


def test_a_cancel_or_refund_amount_without_currency_on_a_multi_currency_order_is_refused(
    api: Api, shop: Shop, dollars: dict[str, Any]
) -> None:
    shop.capture(dollars["id"])
    refuses(api.post(f"/orders/{dollars['id']}/cancel.json", {"amount": "5.00"}), 422, "currency")
    assert shop.get(dollars["id"])["cancelled_at"] is None
    refuses(
        refund(api, dollars["id"], transactions=[{"parent_id": sale_id(api, dollars["id"]), "amount": "5.00"}]),
        422,
        "currency",
    )
    assert shop.get(dollars["id"])["refunds"] == []

    api.ok(
        refund(
            api,
            dollars["id"],
            currency="USD",
            transactions=[{"parent_id": sale_id(api, dollars["id"]), "amount": "5.00"}],
        )
    )
    cancelled = api.ok(api.post(f"/orders/{dollars['id']}/cancel.json", {"amount": "5.00", "currency": "USD"}))
    assert cancelled["order"]["cancelled_at"] is not None


# ---- 7. a cancelled fulfillment order is closed ------------------------------------------------
def test_cancelling_a_fulfillment_order_closes_the_original_and_opens_a_replacement(
    api: Api, shop: Shop, mug: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    fo = open_fo(shop, order["id"])

    answer = api.ok(api.post(f"/fulfillment_orders/{fo['id']}/cancel.json", {}))

    assert answer["fulfillment_order"]["status"] == "closed"
    assert answer["replacement_fulfillment_order"]["status"] == "open"
    assert answer["replacement_fulfillment_order"]["request_status"] == "unsubmitted"
    assert shop.get(order["id"])["line_items"][0]["fulfillable_quantity"] == 2


def test_moving_a_whole_fulfillment_order_closes_the_original_and_opens_a_moved_one(
    api: Api, shop: Shop, mug: int, amsterdam: int
) -> None:
    """SHOPIFY-REST.md §6: move answers original (closed), moved (open), remaining (null on a full move)."""
    utrecht = shop.location("Utrecht")
    api.ok(api.post("/inventory_levels/set.json", {"location_id": utrecht, "inventory_item_id": mug, "available": 5}))
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    fo = open_fo(shop, order["id"])

    answer = api.ok(
        api.post(f"/fulfillment_orders/{fo['id']}/move.json", {"fulfillment_order": {"new_location_id": utrecht}})
    )

    assert answer["original_fulfillment_order"]["status"] == "closed"
    assert answer["original_fulfillment_order"]["assigned_location_id"] == amsterdam
    moved = answer["moved_fulfillment_order"]
    assert (moved["status"], moved["assigned_location_id"]) == ("open", utrecht)
    assert moved["id"] != fo["id"]
    assert answer["remaining_fulfillment_order"] is None
    assert [li["fulfillable_quantity"] for li in moved["line_items"]] == [2]
    assert open_fo(shop, order["id"])["id"] == moved["id"]
    assert stock(shop, mug, utrecht) == (3, 2, 5)


# ---- 8. REST cancel restocks only when asked ----------------------------------------------------
def test_rest_cancel_without_restock_does_not_restock(api: Api, shop: Shop, mug: int, amsterdam: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    assert stock(shop, mug, amsterdam) == (48, 2, 50)

    api.ok(api.post(f"/orders/{order['id']}/cancel.json?reason=customer"))

    assert stock(shop, mug, amsterdam) == (48, 0, 48)
    assert shop.get(order["id"])["fulfillment_status"] is None  # not "restocked"

    again = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    api.ok(api.post(f"/orders/{again['id']}/cancel.json", {"restock": True}))
    assert stock(shop, mug, amsterdam) == (48, 0, 48)
    assert shop.get(again["id"])["fulfillment_status"] == "restocked"


def test_migration_0016_makes_cancelled_orders_still_pending_voided(
    api: Api, shop: Shop, deck: Orderdeck, mug: int
) -> None:
    """Orders cancelled by an older version while pending were stored `pending`, and counted so."""
    cancelled = shop.order([{"variant_id": mug, "quantity": 1}])
    api.ok(api.post(f"/orders/{cancelled['id']}/cancel.json"))
    waiting = shop.order([{"variant_id": mug, "quantity": 1}])
    assert counted(api, financial_status="voided") == 1
    at_0026(deck)  # 0016 ran on the layout before 0027 (the rendering was a column of orders)
    with deck.db.writer.begin() as conn:  # as an older version left them
        conn.execute(text("UPDATE orders SET financial_status = 'pending' WHERE cancelled_at IS NOT NULL"))
        conn.execute(
            text("UPDATE order_counts SET financial_status = 'pending' WHERE cancelled AND financial_status = 'voided'")
        )

    run_migration(deck, "0016_cancelled_unpaid_voided")

    with deck.db.reader.connect() as conn:
        rendered = conn.execute(text(f"SELECT rendered FROM orders WHERE id = {cancelled['id']}")).scalar_one()
    migrate(deck.db)
    assert ids_listed(api, financial_status="pending") == {waiting["id"]}
    assert counted(api, financial_status="pending") == 1
    assert ids_listed(api, financial_status="voided") == {cancelled["id"]}
    assert counted(api, financial_status="voided") == 1
    assert shop.get(cancelled["id"])["financial_status"] == "voided"
    assert rendered is None  # rendered afresh on reads until `orderdeck rerender` stores it
