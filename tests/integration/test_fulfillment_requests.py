"""Fulfillment requests through the API (Shopify REST 2024-10, AFTER-THE-SALE §4.2 to 4.6): the
merchant sends a fulfillment order to the fulfillment service of its location, the service (the
app that owns it) accepts, rejects, cancels or gives it back; every step is on the order's
timeline and raises its webhook, and a refused step says why and changes nothing.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import select

from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox
from tests.conftest import Api, Shop, make_token
from tests.integration.order_steps import open_fo, ship
from tests.integration.service_steps import SERVICE_SCOPES, service_app


@pytest.fixture
def jupiter(deck: Orderdeck, client: Any) -> Api:
    """The 3PL app: its own token, which owns the Jupiter service."""
    return service_app(deck, client, "Jupiter Fulfillment", "https://jupiter.example/od")


@pytest.fixture
def stocked(shop: Shop, jupiter: Api) -> dict[str, int]:
    """A mug and a plate stocked only at Jupiter's location (`at`)."""
    at = jupiter.location_id  # type: ignore[attr-defined]
    return {
        "at": at,
        "mug": shop.product("MUG-1", price="12.50", stock={at: 10}, title="Delft mug"),
        "plate": shop.product("PLATE-1", price="20.00", stock={at: 10}, title="Plate"),
    }


def three_mugs_and_a_plate(stocked: dict[str, int]) -> list[dict[str, Any]]:
    return [{"variant_id": stocked["mug"], "quantity": 3}, {"variant_id": stocked["plate"], "quantity": 1}]


@pytest.fixture
def order(shop: Shop, stocked: dict[str, int]) -> dict[str, Any]:
    """An order of 3 mugs and 1 plate, stocked only at Jupiter's location."""
    return shop.order(three_mugs_and_a_plate(stocked))


def fo_path(fo: dict[str, Any] | int, action: str) -> str:
    fo_id = fo if isinstance(fo, int) else fo["id"]
    return f"/fulfillment_orders/{fo_id}/{action}.json"


def refused(response: Any, says: str, status: int = 422) -> None:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert says in repr(response.json()["errors"]), response.json()


def request(api: Api, fo: dict[str, Any], message: str = "Fulfill this ASAP please.", **extra: Any) -> Any:
    return api.post(fo_path(fo, "fulfillment_request"), {"fulfillment_request": {"message": message, **extra}})


def submitted(api: Api, shop: Shop, order: dict[str, Any]) -> dict[str, Any]:
    return api.ok(request(api, open_fo(shop, order["id"])))["submitted_fulfillment_order"]  # type: ignore[no-any-return]


def accepted(api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]) -> dict[str, Any]:
    fo = submitted(api, shop, order)
    body = {"fulfillment_request": {"message": "We will start on the next business day."}}
    return jupiter.ok(jupiter.post(fo_path(fo, "fulfillment_request/accept"), body))["fulfillment_order"]  # type: ignore[no-any-return]


def state(fo: dict[str, Any]) -> tuple[str, str, list[str]]:
    return fo["status"], fo["request_status"], fo["supported_actions"]


def fos(shop: Shop, order: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {fo["id"]: fo for fo in shop.fulfillment_orders(order["id"])}


def webhooks(deck: Orderdeck, order_id: int, prefix: str = "fulfillment_orders/") -> list[tuple[str, Any]]:
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(
            select(outbox.c.topic, outbox.c.payload)
            .where(outbox.c.kind == "webhook", outbox.c.order_id == order_id)
            .order_by(outbox.c.created_at, outbox.c.id)
        ).all()
    return [(r.topic, orjson.loads(r.payload)) for r in rows if r.topic.startswith(prefix)]


def timeline(api: Api, order_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order_id}/events.json"))["events"]  # type: ignore[no-any-return]


def display(shop: Shop, order: dict[str, Any]) -> str:
    return str(shop.get(order["id"])["display_fulfillment_status"])


# ---- the merchant's request ---------------------------------------------------------------------
def test_a_whole_request_is_submitted_with_the_merchants_message(
    deck: Orderdeck, api: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = open_fo(shop, order["id"])
    assert (fo["request_status"], fo["merchant_requests"]) == ("unsubmitted", [])
    answer = api.ok(request(api, fo, notify_customer=True))
    sent = answer["submitted_fulfillment_order"]
    assert answer["original_fulfillment_order"] == sent and answer["unsubmitted_fulfillment_order"] is None
    assert sent["id"] == fo["id"]
    assert state(sent) == ("open", "submitted", ["cancel_fulfillment_order"])
    [merchant_request] = sent["merchant_requests"]
    assert merchant_request["kind"] == "fulfillment_request"
    assert merchant_request["message"] == "Fulfill this ASAP please."
    assert merchant_request["request_options"] == {"notify_customer": True}
    assert merchant_request["sent_at"]
    assert [li["quantity"] for li in sent["line_items"]] == [3, 1]
    assert fos(shop, order)[fo["id"]] == sent

    [(routed, _), (topic, payload)] = webhooks(deck, order["id"])
    assert routed == "fulfillment_orders/order_routing_complete"  # at placement
    assert topic == "fulfillment_orders/fulfillment_request_submitted"
    gid = f"gid://shopify/FulfillmentOrder/{fo['id']}"
    assert payload["original_fulfillment_order"] == {"id": gid, "request_status": "submitted", "status": "open"}
    assert payload["submitted_fulfillment_order"]["id"] == gid
    assert payload["fulfillment_order_merchant_request"]["message"] == "Fulfill this ASAP please."
    assert payload["fulfillment_order_merchant_request"]["id"].startswith(
        "gid://shopify/FulfillmentOrderMerchantRequest/"
    )
    said = [e["message"] for e in timeline(api, order["id"]) if e["verb"] == "fulfillment_request_submitted"]
    assert said == ["Fulfillment was requested from Jupiter Fulfillment: Fulfill this ASAP please."]


def test_a_partial_request_splits_off_the_unsubmitted_rest(
    deck: Orderdeck, api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = open_fo(shop, order["id"])
    mugs = fo["line_items"][0]
    answer = api.ok(request(api, fo, fulfillment_order_line_items=[{"id": mugs["id"], "quantity": 2}]))
    sent, rest = answer["submitted_fulfillment_order"], answer["unsubmitted_fulfillment_order"]
    assert answer["original_fulfillment_order"]["id"] == sent["id"] == fo["id"]
    assert [(li["line_item_id"], li["quantity"]) for li in sent["line_items"]] == [(mugs["line_item_id"], 2)]
    assert sorted(li["quantity"] for li in rest["line_items"]) == [1, 1]
    assert state(sent)[:2] == ("open", "submitted")
    assert (rest["status"], rest["request_status"], rest["merchant_requests"]) == ("open", "unsubmitted", [])
    assert rest["assigned_location_id"] == fo["assigned_location_id"]
    assert set(fos(shop, order)) == {sent["id"], rest["id"]}
    # The rest can be requested on its own later.
    again = api.ok(request(api, rest, "The rest too."))
    assert again["submitted_fulfillment_order"]["request_status"] == "submitted"


def test_the_service_accepts_and_the_order_shows_in_progress(
    deck: Orderdeck, api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    assert display(shop, order) == "unfulfilled"
    fo = accepted(api, jupiter, shop, order)
    assert state(fo) == ("in_progress", "accepted", ["request_cancellation"])
    assert display(shop, order) == "in_progress"
    topic, payload = webhooks(deck, order["id"])[-1]
    assert topic == "fulfillment_orders/fulfillment_request_accepted"
    assert payload == {
        "fulfillment_order": {
            "id": f"gid://shopify/FulfillmentOrder/{fo['id']}",
            "request_status": "accepted",
            "status": "in_progress",
        },
        "message": "We will start on the next business day.",
    }
    [event] = [e for e in timeline(api, order["id"]) if e["verb"] == "fulfillment_request_accepted"]
    assert (
        event["message"]
        == "Jupiter Fulfillment accepted the fulfillment request: We will start on the next business day."
    )

    # The service ships it: the fulfillment order closes and the order is fulfilled.
    jupiter_ships = ship(jupiter, fo)
    assert jupiter_ships.status_code == 201, jupiter_ships.text
    assert fos(shop, order)[fo["id"]]["status"] == "closed"
    assert display(shop, order) == "fulfilled"


def test_the_service_rejects_with_a_reason_and_line_messages_and_the_merchant_may_ask_again(
    deck: Orderdeck, api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = submitted(api, shop, order)
    body = {
        "fulfillment_request": {
            "message": "Not enough inventory on hand to complete the work.",
            "reason": "inventory_out_of_stock",
            "line_items": [{"fulfillment_order_line_item_id": fo["line_items"][0]["id"], "message": "No mugs."}],
        }
    }
    rejected = jupiter.ok(jupiter.post(fo_path(fo, "fulfillment_request/reject"), body))["fulfillment_order"]
    assert state(rejected) == ("open", "rejected", ["request_fulfillment"])
    assert display(shop, order) == "request_declined"
    topic, payload = webhooks(deck, order["id"])[-1]
    assert topic == "fulfillment_orders/fulfillment_request_rejected"
    assert payload["fulfillment_order"]["request_status"] == "rejected"
    assert payload["message"] == "Not enough inventory on hand to complete the work."
    [event] = [e for e in timeline(api, order["id"]) if e["verb"] == "fulfillment_request_rejected"]
    assert "inventory out of stock" in event["message"] and "Not enough inventory on hand" in event["message"]

    # Asked again, it is submitted again (two requests now on record).
    again = api.ok(request(api, rejected, "We restocked."))["submitted_fulfillment_order"]
    assert state(again)[:2] == ("open", "submitted")
    assert [r["message"] for r in again["merchant_requests"]] == ["Fulfill this ASAP please.", "We restocked."]
    assert display(shop, order) == "unfulfilled"


def test_a_bad_rejection_reason_or_line_is_refused_naming_the_field(
    api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = submitted(api, shop, order)
    bad_reason = {"fulfillment_request": {"reason": "too_busy"}}
    refused(jupiter.post(fo_path(fo, "fulfillment_request/reject"), bad_reason), "reason")
    bad_line = {"fulfillment_request": {"line_items": [{"fulfillment_order_line_item_id": 1, "message": "?"}]}}
    refused(jupiter.post(fo_path(fo, "fulfillment_request/reject"), bad_line), "line_items")
    assert state(fos(shop, order)[fo["id"]])[:2] == ("open", "submitted")


# ---- cancellation -----------------------------------------------------------------------------------
def test_a_cancellation_accepted_gives_the_work_back_to_the_merchant(
    deck: Orderdeck, api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = accepted(api, jupiter, shop, order)
    asked = api.ok(
        api.post(
            fo_path(fo, "cancellation_request"), {"cancellation_request": {"message": "The customer changed his mind."}}
        )
    )["fulfillment_order"]
    assert state(asked) == ("in_progress", "cancellation_requested", ["cancel_fulfillment_order"])
    assert [r["kind"] for r in asked["merchant_requests"]] == ["fulfillment_request", "cancellation_request"]
    topic, payload = webhooks(deck, order["id"])[-1]
    assert topic == "fulfillment_orders/cancellation_request_submitted"
    assert payload["fulfillment_order_merchant_request"]["message"] == "The customer changed his mind."
    assert [
        f["id"]
        for f in jupiter.ok(jupiter.get("/assigned_fulfillment_orders.json?assignment_status=cancellation_requested"))[
            "fulfillment_orders"
        ]
    ] == [fo["id"]]

    body = {"cancellation_request": {"message": "We had not started any processing yet."}}
    answer = jupiter.ok(jupiter.post(fo_path(fo, "cancellation_request/accept"), body))
    assert state(answer["fulfillment_order"])[:2] == ("cancelled", "cancellation_accepted")
    replacement = answer["replacement_fulfillment_order"]
    assert state(replacement) == (
        "open",
        "unsubmitted",
        ["request_fulfillment", "cancel_fulfillment_order", "move", "hold"],
    )
    assert sum(li["quantity"] for li in replacement["line_items"]) == 4
    topic, payload = webhooks(deck, order["id"])[-1]
    assert topic == "fulfillment_orders/cancellation_request_accepted"
    assert payload["message"] == "We had not started any processing yet."
    assert any("accepted the cancellation request" in e["message"] for e in timeline(api, order["id"]))
    # The merchant may request fulfillment of the returned work again.
    assert api.ok(request(api, replacement))["submitted_fulfillment_order"]["request_status"] == "submitted"


def test_a_cancellation_rejected_leaves_the_service_working(
    deck: Orderdeck, api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = accepted(api, jupiter, shop, order)
    api.ok(api.post(fo_path(fo, "cancellation_request"), {"cancellation_request": {"message": "Stop please."}}))
    body = {"cancellation_request": {"message": "We have already sent the shipment out."}}
    rejected = jupiter.ok(jupiter.post(fo_path(fo, "cancellation_request/reject"), body))["fulfillment_order"]
    assert state(rejected) == ("in_progress", "cancellation_rejected", [])
    topic, payload = webhooks(deck, order["id"])[-1]
    assert (topic, payload["message"]) == (
        "fulfillment_orders/cancellation_request_rejected",
        "We have already sent the shipment out.",
    )
    assert display(shop, order) == "in_progress"


def test_before_acceptance_the_merchant_cancels_directly_and_after_it_must_ask(
    api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = submitted(api, shop, order)
    refused(api.post(fo_path(fo, "cancellation_request"), {"cancellation_request": {}}), "not accepted the request yet")
    answer = api.ok(api.post(fo_path(fo, "cancel")))
    assert answer["fulfillment_order"]["status"] == "closed"
    assert state(answer["replacement_fulfillment_order"])[:2] == ("open", "unsubmitted")

    fo = accepted(api, jupiter, shop, order)
    refused(api.post(fo_path(fo, "cancel")), "cancellation request")
    assert state(fos(shop, order)[fo["id"]])[:2] == ("in_progress", "accepted")


# ---- close ---------------------------------------------------------------------------------------
def test_the_service_closes_what_it_cannot_complete(
    deck: Orderdeck, api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = accepted(api, jupiter, shop, order)
    mugs = fo["line_items"][0]
    group = {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": [{"id": mugs["id"], "quantity": 1}]}
    jupiter.ok(jupiter.post("/fulfillments.json", {"fulfillment": {"line_items_by_fulfillment_order": [group]}}))
    answer = jupiter.ok(
        jupiter.post(fo_path(fo, "close"), {"fulfillment_order": {"message": "We broke the last item."}})
    )
    assert state(answer["fulfillment_order"])[:2] == ("incomplete", "closed")
    replacement = answer["replacement_fulfillment_order"]
    assert state(replacement)[:2] == ("open", "unsubmitted")
    assert sorted(li["quantity"] for li in replacement["line_items"]) == [1, 2]  # the shipped mug stays shipped
    topic, payload = webhooks(deck, order["id"])[-1]
    assert topic == "fulfillment_orders/fulfillment_service_failed_to_complete"
    assert payload["message"] == "We broke the last item."
    assert payload["fulfillment_order"]["status"] == "incomplete"
    [event] = [e for e in timeline(api, order["id"]) if e["verb"] == "fulfillment_service_failed_to_complete"]
    assert "Jupiter Fulfillment" in event["message"] and "We broke the last item." in event["message"]
    assert display(shop, order) == "partially_fulfilled"


# ---- refusals ------------------------------------------------------------------------------------
def test_every_step_out_of_turn_is_refused_and_changes_nothing(
    deck: Orderdeck, api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = open_fo(shop, order["id"])
    unsubmitted = [
        (jupiter, "fulfillment_request/accept", {"fulfillment_request": {}}),
        (jupiter, "fulfillment_request/reject", {"fulfillment_request": {}}),
        (api, "cancellation_request", {"cancellation_request": {}}),
        (jupiter, "cancellation_request/accept", {"cancellation_request": {}}),
        (jupiter, "cancellation_request/reject", {"cancellation_request": {}}),
        (jupiter, "close", {"fulfillment_order": {}}),
    ]
    for who, action, body in unsubmitted:
        refused(who.post(fo_path(fo, action), body), "unsubmitted")
    fo = submitted(api, shop, order)
    before = fos(shop, order)
    refused(request(api, fo), "submitted")
    refused(api.post(fo_path(fo, "hold"), {"fulfillment_hold": {"reason": "other"}}), "submitted")
    refused(api.post(fo_path(fo, "cancellation_request"), {"cancellation_request": {}}), "fulfillment order instead")
    for who, action, body in unsubmitted[3:]:
        refused(who.post(fo_path(fo, action), body), "submitted")
    assert fos(shop, order) == before
    accepted_fo = jupiter.ok(jupiter.post(fo_path(fo, "fulfillment_request/accept"), {"fulfillment_request": {}}))[
        "fulfillment_order"
    ]
    before = fos(shop, order)
    for who, action, body in [
        (api, "fulfillment_request", {"fulfillment_request": {}}),
        (jupiter, "fulfillment_request/accept", {"fulfillment_request": {}}),
        (jupiter, "fulfillment_request/reject", {"fulfillment_request": {}}),
        (jupiter, "cancellation_request/accept", {"cancellation_request": {}}),
        (api, "hold", {"fulfillment_hold": {"reason": "other"}}),
    ]:
        refused(who.post(fo_path(accepted_fo, action), body), "accepted")
    refused(
        api.post(fo_path(accepted_fo, "move"), {"fulfillment_order": {"new_location_id": shop.location()}}),
        "fulfillment service",
    )
    assert {k: v for k, v in fos(shop, order).items()} == before
    topics = [t for t, _ in webhooks(deck, order["id"])]
    assert topics == [
        "fulfillment_orders/order_routing_complete",
        "fulfillment_orders/fulfillment_request_submitted",
        "fulfillment_orders/fulfillment_request_accepted",
    ]


def test_a_request_to_a_location_without_a_service_is_refused(api: Api, shop: Shop) -> None:
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-2", stock={amsterdam: 5})
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    fo = open_fo(shop, order["id"])
    refused(request(api, fo), "does not belong to a fulfillment service")
    assert open_fo(shop, order["id"])["request_status"] == "unsubmitted"


def test_bad_line_quantities_are_refused_naming_the_field(api: Api, shop: Shop, order: dict[str, Any]) -> None:
    fo = open_fo(shop, order["id"])
    line = fo["line_items"][0]
    refused(
        request(api, fo, fulfillment_order_line_items=[{"id": line["id"], "quantity": 4}]),
        "fulfillment_order_line_items",
    )
    refused(request(api, fo, fulfillment_order_line_items=[{"id": 1, "quantity": 1}]), "fulfillment_order_line_items")
    assert fos(shop, order) == {fo["id"]: fo}


# ---- the service's side -------------------------------------------------------------------------
def test_only_the_owning_app_answers_and_lists_its_requests(
    deck: Orderdeck, client: Any, api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    mars = Api(client, make_token(deck, SERVICE_SCOPES, name="Mars app"))
    mars.ok(
        mars.post(
            "/fulfillment_services.json",
            {"fulfillment_service": {"name": "Mars", "callback_url": "https://mars.example/od"}},
        )
    )
    fo = submitted(api, shop, order)
    for who in (mars, api):  # another service's app, and the merchant, are not the service
        refused(who.post(fo_path(fo, "fulfillment_request/accept"), {"fulfillment_request": {}}), "Not Found", 404)
        refused(who.post(fo_path(fo, "close"), {"fulfillment_order": {}}), "Not Found", 404)
    assert mars.ok(mars.get("/assigned_fulfillment_orders.json"))["fulfillment_orders"] == []
    assert state(fos(shop, order)[fo["id"]])[:2] == ("open", "submitted")

    listed = jupiter.ok(jupiter.get("/assigned_fulfillment_orders.json?assignment_status=fulfillment_requested"))
    assert [f["id"] for f in listed["fulfillment_orders"]] == [fo["id"]]
    at = jupiter.location_id  # type: ignore[attr-defined]
    by_location = jupiter.ok(jupiter.get(f"/assigned_fulfillment_orders.json?location_ids[]={at}"))
    assert [f["id"] for f in by_location["fulfillment_orders"]] == [fo["id"]]
    elsewhere = jupiter.ok(jupiter.get(f"/assigned_fulfillment_orders.json?location_ids[]={at + 999}"))
    assert elsewhere["fulfillment_orders"] == []
    none_accepted = jupiter.ok(jupiter.get("/assigned_fulfillment_orders.json?assignment_status=fulfillment_accepted"))
    assert none_accepted["fulfillment_orders"] == []
    refused(jupiter.get("/assigned_fulfillment_orders.json?assignment_status=shipped"), "assignment_status")


def test_the_service_side_needs_the_assigned_or_fulfillments_scopes(
    deck: Orderdeck, client: Any, api: Api, jupiter: Api, shop: Shop, order: dict[str, Any]
) -> None:
    orders_only = Api(client, make_token(deck, ["read_orders", "write_orders"], name="Orders app"))
    assert orders_only.get("/assigned_fulfillment_orders.json").status_code == 403
    fo = submitted(api, shop, order)
    assert orders_only.post(fo_path(fo, "fulfillment_request/accept"), {}).status_code == 403


def test_the_new_topics_can_be_subscribed(api: Api) -> None:
    for topic in (
        "fulfillment_orders/fulfillment_request_submitted",
        "fulfillment_orders/fulfillment_request_accepted",
        "fulfillment_orders/fulfillment_request_rejected",
        "fulfillment_orders/cancellation_request_submitted",
        "fulfillment_orders/cancellation_request_accepted",
        "fulfillment_orders/cancellation_request_rejected",
        "fulfillment_orders/fulfillment_service_failed_to_complete",
    ):
        hook = {"webhook": {"topic": topic, "address": "https://hooks.example/od"}}
        assert api.post("/webhooks.json", hook).status_code == 201, topic
