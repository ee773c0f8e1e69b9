"""An order edited after fulfillment was requested from a service (AFTER-THE-SALE §4.7: "you can
accidentally ship an item that was removed"): the service is told, never ships what was taken
off, and the new quantities are requested again; stock and quantities stay exact.

- Submitted, not yet accepted: the request is withdrawn (its fulfillment order closes, so the
  service can't accept it) and the new quantities are requested at once.
- Accepted: a cancellation request says the order was edited; when the service accepts it the
  new quantities are requested at once; when it refuses, the event says it came after an edit.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

# ruff: noqa: F811  (pytest fixtures imported by name are redefined as parameters)

from __future__ import annotations

from typing import Any

import pytest

from orderdeck.services.context import Orderdeck
from tests.conftest import Api, Shop
from tests.integration.order_steps import open_fo, ship, stock
from tests.integration.test_fulfillment_requests import (
    fo_path,
    fos,
    jupiter,  # noqa: F401  (a fixture)
    refused,
    stocked,  # noqa: F401  (a fixture)
    three_mugs_and_a_plate,
    timeline,
    webhooks,
)

PAID = [{"kind": "sale", "status": "success"}]


@pytest.fixture
def order(shop: Shop, stocked: dict[str, int]) -> dict[str, Any]:
    """3 mugs and a plate at Jupiter, paid; the shop requests nothing by itself."""
    return shop.order(three_mugs_and_a_plate(stocked), transactions=PAID)


def edit_quantity(api: Api, order: dict[str, Any], line_index: int, quantity: int) -> Any:
    line_id = order["line_items"][line_index]["id"]
    edit = api.ok(api.post(f"/orders/{order['id']}/order_edits.json", {}))["order_edit"]
    api.ok(
        api.post(
            f"/order_edits/{edit['id']}/set_quantity.json",
            {"line_item_id": line_id, "quantity": quantity, "restock": True},
        )
    )
    return api.ok(api.post(f"/order_edits/{edit['id']}/commit.json", {}))


def active(shop: Shop, order: dict[str, Any]) -> list[dict[str, Any]]:
    return [fo for fo in fos(shop, order).values() if fo["status"] in ("open", "in_progress")]


def units(fo: dict[str, Any]) -> list[tuple[int, int]]:
    return sorted((li["quantity"], li["fulfillable_quantity"]) for li in fo["line_items"])


def test_a_submitted_request_is_withdrawn_and_the_new_quantities_requested(
    deck: Orderdeck, api: Api, shop: Shop, order: dict[str, Any], stocked: dict[str, int]
) -> None:
    fo = open_fo(shop, order["id"])
    api.ok(api.post(fo_path(fo, "fulfillment_request"), {"fulfillment_request": {"message": "Gift"}}))
    assert stock(shop, stocked["mug"], stocked["at"]) == (7, 3, 10)

    edit_quantity(api, order, 0, 1)  # 3 mugs → 1

    old = fos(shop, order)[fo["id"]]
    assert (old["status"], old["request_status"]) == ("closed", "submitted")
    [new] = active(shop, order)
    assert (new["status"], new["request_status"]) == ("open", "submitted")  # even with automatic requests off
    assert units(new) == [(1, 1), (1, 1)]
    assert "edited" in new["merchant_requests"][0]["message"]
    assert stock(shop, stocked["mug"], stocked["at"]) == (9, 1, 10)  # 2 restocked, 1 still committed
    topics = [t for t, _ in webhooks(deck, order["id"])]
    assert "fulfillment_orders/cancelled" in topics
    assert topics.count("fulfillment_orders/fulfillment_request_submitted") == 2
    [said] = [e for e in timeline(api, order["id"]) if e["verb"] == "fulfillment_request_withdrawn"]
    assert said["author"] == "Orderdeck" and "Jupiter Fulfillment" in said["message"]


def test_the_service_cannot_accept_or_ship_the_withdrawn_request(
    api: Api,
    shop: Shop,
    jupiter: Api,
    order: dict[str, Any],
) -> None:
    fo = open_fo(shop, order["id"])
    api.ok(api.post(fo_path(fo, "fulfillment_request"), {"fulfillment_request": {}}))
    edit_quantity(api, order, 0, 2)
    refused(jupiter.post(fo_path(fo, "fulfillment_request/accept"), {"fulfillment_request": {}}), "closed")
    [new] = active(shop, order)
    jupiter.ok(jupiter.post(fo_path(new, "fulfillment_request/accept"), {"fulfillment_request": {}}))
    refused(ship(jupiter, fo), "not in an open state")
    jupiter.ok(ship(jupiter, new))
    assert [li["fulfillable_quantity"] for li in shop.get(order["id"])["line_items"]] == [0, 0]
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"


def test_an_accepted_request_gets_a_cancellation_request_then_the_new_quantities(
    deck: Orderdeck,
    api: Api,
    shop: Shop,
    jupiter: Api,
    order: dict[str, Any],
    stocked: dict[str, int],
) -> None:
    fo = open_fo(shop, order["id"])
    api.ok(api.post(fo_path(fo, "fulfillment_request"), {"fulfillment_request": {}}))
    jupiter.ok(jupiter.post(fo_path(fo, "fulfillment_request/accept"), {"fulfillment_request": {}}))

    edit_quantity(api, order, 0, 1)

    held = fos(shop, order)[fo["id"]]
    assert (held["status"], held["request_status"]) == ("in_progress", "cancellation_requested")
    assert units(held) == [(1, 1), (1, 1)]  # the edited quantities: nothing more can ship from it
    asked = held["merchant_requests"][-1]
    assert asked["kind"] == "cancellation_request" and "The order was edited" in asked["message"]
    assert stock(shop, stocked["mug"], stocked["at"]) == (9, 1, 10)
    # While the cancellation waits, the service can still ship what is left, never more.
    refused(ship(jupiter, held, quantity=2), "only 1 left")

    answer = jupiter.ok(jupiter.post(fo_path(fo, "cancellation_request/accept"), {"cancellation_request": {}}))
    assert answer["fulfillment_order"]["status"] == "cancelled"
    replacement = fos(shop, order)[answer["replacement_fulfillment_order"]["id"]]
    assert (replacement["status"], replacement["request_status"]) == ("open", "submitted")
    assert units(replacement) == [(1, 1), (1, 1)]
    topics = [t for t, _ in webhooks(deck, order["id"])]
    assert topics.count("fulfillment_orders/fulfillment_request_submitted") == 2
    assert "fulfillment_orders/cancellation_request_submitted" in topics

    jupiter.ok(jupiter.post(fo_path(replacement, "fulfillment_request/accept"), {"fulfillment_request": {}}))
    jupiter.ok(ship(jupiter, replacement))
    assert stock(shop, stocked["mug"], stocked["at"]) == (9, 0, 9)  # one mug left the warehouse, once
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"


def test_a_cancellation_refused_after_an_edit_says_so(
    api: Api,
    shop: Shop,
    jupiter: Api,
    order: dict[str, Any],
) -> None:
    fo = open_fo(shop, order["id"])
    api.ok(api.post(fo_path(fo, "fulfillment_request"), {"fulfillment_request": {}}))
    jupiter.ok(jupiter.post(fo_path(fo, "fulfillment_request/accept"), {"fulfillment_request": {}}))
    edit_quantity(api, order, 0, 2)
    body = {"cancellation_request": {"message": "Already packed"}}
    jupiter.ok(jupiter.post(fo_path(fo, "cancellation_request/reject"), body))

    held = fos(shop, order)[fo["id"]]
    assert (held["status"], held["request_status"], held["supported_actions"]) == (
        "in_progress",
        "cancellation_rejected",
        [],
    )
    [said] = [e for e in timeline(api, order["id"]) if e["verb"] == "cancellation_request_rejected"]
    assert said["arguments"] == ["Already packed", True]  # message, after_edit
    # What it ships is what the order has now: the 3rd mug can't be recorded shipped.
    refused(ship(jupiter, held, quantity=3), "only 2 left")
    jupiter.ok(ship(jupiter, held))
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"


def test_an_edit_that_takes_all_a_service_holds_asks_it_to_cancel(
    api: Api,
    shop: Shop,
    jupiter: Api,
    stocked: dict[str, int],
) -> None:
    home = shop.location("Home")
    cap = shop.product("CAP-1", price="5.00", stock={home: 5}, title="Cap")
    order = shop.order(
        [{"variant_id": stocked["mug"], "quantity": 2}, {"variant_id": cap, "quantity": 1}], transactions=PAID
    )
    at_jupiter = next(fo for fo in fos(shop, order).values() if fo["assigned_location_id"] == stocked["at"])
    api.ok(api.post(fo_path(at_jupiter, "fulfillment_request"), {"fulfillment_request": {}}))
    jupiter.ok(jupiter.post(fo_path(at_jupiter, "fulfillment_request/accept"), {"fulfillment_request": {}}))

    edit_quantity(api, order, 0, 0)

    held = fos(shop, order)[at_jupiter["id"]]
    assert (held["status"], held["request_status"], held["line_items"]) == ("in_progress", "cancellation_requested", [])
    assert "Nothing is left to fulfill" in held["merchant_requests"][-1]["message"]
    assert stock(shop, stocked["mug"], stocked["at"]) == (10, 0, 10)
    answer = jupiter.ok(jupiter.post(fo_path(held, "cancellation_request/accept"), {"cancellation_request": {}}))
    assert answer["replacement_fulfillment_order"] is None
    assert answer["fulfillment_order"]["status"] == "cancelled"


def test_added_units_never_join_a_request_a_service_holds(api: Api, shop: Shop, order: dict[str, Any]) -> None:
    fo = open_fo(shop, order["id"])
    api.ok(api.post(fo_path(fo, "fulfillment_request"), {"fulfillment_request": {}}))
    edit_quantity(api, order, 0, 5)  # 3 mugs → 5

    assert units(fos(shop, order)[fo["id"]]) == [(1, 1), (3, 3)]  # as requested
    added = [f for f in active(shop, order) if f["id"] != fo["id"]]
    assert [(f["request_status"], units(f)) for f in added] == [("unsubmitted", [(2, 2)])]


def test_a_refund_of_units_a_service_accepted_asks_it_to_cancel_too(
    api: Api, shop: Shop, jupiter: Api, order: dict[str, Any], stocked: dict[str, int]
) -> None:
    fo = open_fo(shop, order["id"])
    api.ok(api.post(fo_path(fo, "fulfillment_request"), {"fulfillment_request": {}}))
    jupiter.ok(jupiter.post(fo_path(fo, "fulfillment_request/accept"), {"fulfillment_request": {}}))
    mug_line = order["line_items"][0]["id"]
    line = {"line_item_id": mug_line, "quantity": 1, "restock_type": "cancel", "location_id": stocked["at"]}
    refund = {"refund_line_items": [line]}
    api.ok(api.post(f"/orders/{order['id']}/refunds.json", {"refund": refund}))

    held = fos(shop, order)[fo["id"]]
    assert (held["status"], held["request_status"]) == ("in_progress", "cancellation_requested")
    assert held["merchant_requests"][-1]["message"].startswith("Items were refunded after you accepted it.")
    assert units(held) == [(1, 1), (2, 2)]
    assert stock(shop, stocked["mug"], stocked["at"]) == (8, 2, 10)
