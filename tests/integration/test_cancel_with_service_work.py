"""Cancelling an order while a fulfillment service holds its work (AFTER-THE-SALE §4.2): work the
service accepted gets a cancellation request ("The order was cancelled"), notified like any
cancellation request, and stays in progress until the service answers; work only submitted is
withdrawn at once. Accepting the cancellation ends it (no work comes back: the order is
cancelled); refusing it flags the order stuck, and a fulfillment the service then tries to
create is refused (the cancellation already released the units). Stock stays exact throughout.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from typing import Any

from orderdeck.outbox import scheduler
from orderdeck.services.context import Orderdeck
from tests.conftest import Api, Clock, Shop
from tests.integration.service_steps import (
    Service,
    answer,
    notifications,
    request_fulfillment,
    stocked_order,
    work,
)


def fulfillment_order(api: Api, fo_id: int) -> dict[str, Any]:
    return api.ok(api.get(f"/fulfillment_orders/{fo_id}.json"))["fulfillment_order"]  # type: ignore[no-any-return]


def accepted_then_cancelled(
    deck: Orderdeck, api: Api, shop: Shop, jupiter: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], int]:
    order = stocked_order(shop, jupiter["location_id"])  # two of ten mugs committed at the service
    fo = request_fulfillment(api, shop, order)
    work(deck)
    answer(api, fo, "fulfillment_request/accept")
    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer", "restock": True}))
    return order, fo, order["line_items"][0]["variant_id"]


def test_cancelling_the_order_asks_the_service_holding_the_work_to_cancel_and_it_accepts(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    order, fo, mug = accepted_then_cancelled(deck, api, shop, jupiter)
    at = jupiter["location_id"]

    asked = fulfillment_order(api, fo["id"])
    assert (asked["status"], asked["request_status"]) == ("in_progress", "cancellation_requested")
    [request] = [r for r in asked["merchant_requests"] if r["kind"] == "cancellation_request"]
    assert request["message"] == "The order was cancelled"
    assert shop.get(order["id"])["cancelled_at"] is not None
    # The cancellation restocked the two mugs: they are not committed any more, and not twice available.
    assert shop.level(mug, at) == {**shop.level(mug, at), "available": 10, "committed": 0, "on_hand": 10}
    assert asked["line_items"][0]["fulfillable_quantity"] == 0

    work(deck)
    assert [c.json["kind"] for c in service.notifications] == ["FULFILLMENT_REQUEST", "CANCELLATION_REQUEST"]
    assert [(n.kind, n.state) for n in notifications(deck, order["id"])] == [
        ("fulfillment_request", "acknowledged"),
        ("cancellation_request", "acknowledged"),
    ]
    listed = api.ok(api.get("/assigned_fulfillment_orders.json?assignment_status=cancellation_requested"))
    assert [f["id"] for f in listed["fulfillment_orders"]] == [fo["id"]]

    answer(api, fo, "cancellation_request/accept", key="cancellation_request")
    done = fulfillment_order(api, fo["id"])
    assert (done["status"], done["request_status"]) == ("cancelled", "cancellation_accepted")
    assert all(f["status"] == "cancelled" for f in shop.fulfillment_orders(order["id"]))  # no work came back
    assert shop.get(order["id"])["stuck"] == []
    assert shop.level(mug, at) == {**shop.level(mug, at), "available": 10, "committed": 0, "on_hand": 10}


def test_a_refused_cancellation_of_a_cancelled_order_is_stuck_and_its_shipment_refused(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    order, fo, mug = accepted_then_cancelled(deck, api, shop, jupiter)
    at = jupiter["location_id"]

    answer(api, fo, "cancellation_request/reject", key="cancellation_request")
    refused = fulfillment_order(api, fo["id"])
    assert (refused["status"], refused["request_status"]) == ("in_progress", "cancellation_rejected")
    placed = shop.get(order["id"])
    [flag] = placed["stuck"]
    assert (flag["reason"], flag["service"], flag["fulfillment_order_id"]) == (
        "cancellation_rejected",
        "Jupiter Fulfillment",
        fo["id"],
    )
    assert "may ship the cancelled order" in flag["next_step"]
    assert "stuck" in placed["tags"]

    # The service ships anyway: Orderdeck refuses to record a fulfillment of a cancelled order.
    body = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}}
    shipped = api.post("/fulfillments.json", body)
    assert shipped.status_code == 422
    assert "cancelled order" in shipped.text
    assert api.ok(api.get(f"/orders/{order['id']}/fulfillments.json"))["fulfillments"] == []
    assert shop.level(mug, at) == {**shop.level(mug, at), "available": 10, "committed": 0, "on_hand": 10}

    # Staff cannot ask again (supported_actions is empty after a refusal, §4.2); the service, once
    # staff reached it, gives the work back instead (close): the flag goes, nothing comes back.
    assert refused["supported_actions"] == []
    answer(api, fo, "close", key="fulfillment_order")
    closed = fulfillment_order(api, fo["id"])
    assert (closed["status"], closed["request_status"]) == ("incomplete", "closed")
    assert [f["id"] for f in shop.fulfillment_orders(order["id"])] == [fo["id"]]
    assert shop.get(order["id"])["stuck"] == []
    assert shop.level(mug, at) == {**shop.level(mug, at), "available": 10, "committed": 0, "on_hand": 10}


def test_an_unanswered_cancellation_of_a_cancelled_order_is_flagged_by_the_sweep(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any], clock: Clock
) -> None:
    shop.settings(cancellation_answer_hours=24)
    order, fo, _ = accepted_then_cancelled(deck, api, shop, jupiter)
    work(deck)
    clock.advance(hours=23)
    scheduler.run_now(deck, "stuck-orders", "test")
    assert shop.get(order["id"])["stuck"] == []
    clock.advance(hours=2)
    scheduler.run_now(deck, "stuck-orders", "test")
    [flag] = shop.get(order["id"])["stuck"]
    assert (flag["reason"], flag["fulfillment_order_id"]) == ("cancellation_unanswered", fo["id"])


def test_work_only_submitted_is_withdrawn_at_once_without_asking_the_service(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    order = stocked_order(shop, jupiter["location_id"])
    fo = request_fulfillment(api, shop, order)
    work(deck)
    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer", "restock": True}))
    gone = fulfillment_order(api, fo["id"])
    assert gone["status"] == "cancelled"
    work(deck)
    assert [c.json["kind"] for c in service.notifications] == ["FULFILLMENT_REQUEST"]
    refused = api.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request/accept.json", {})
    assert refused.status_code == 422
    mug = order["line_items"][0]["variant_id"]
    level = shop.level(mug, jupiter["location_id"])
    assert (level["available"], level["committed"]) == (10, 0)
