"""Shopify's contract at a fulfillment service's location (AFTER-THE-SALE §4.2, §4.5): only the
service fulfils there, through the API, once it has accepted the request; the merchant is told
the next step instead; supported_actions say so; `order_routing_complete` announces work routed
to a service; locations carry `legacy: false`. The admin order page follows the same rules.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

# ruff: noqa: F811  (pytest fixtures imported by name are redefined as parameters)

from __future__ import annotations

import html
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderdeck.services.context import Orderdeck
from tests.admin.conftest import AdminClient
from tests.admin.conftest import admin_app as admin_app
from tests.admin.conftest import owner as owner
from tests.conftest import Api, Shop, make_token
from tests.integration.order_steps import open_fo, ship
from tests.integration.test_fulfillment_requests import (
    SERVICE_SCOPES,
    fo_path,
    fos,
    jupiter,  # noqa: F401  (a fixture)
    order,  # noqa: F401  (a fixture: 3 mugs and a plate at Jupiter)
    refused,
    stocked,  # noqa: F401  (a fixture the order fixture uses)
    webhooks,
)

SERVICE_ACTIONS = ["request_fulfillment", "cancel_fulfillment_order", "move", "hold"]
OWN_ACTIONS = ["create_fulfillment", "cancel_fulfillment_order", "move", "hold"]


def test_order_routing_complete_is_raised_for_work_routed_to_a_service(
    deck: Orderdeck,
    api: Api,
    shop: Shop,
    jupiter: Api,
) -> None:
    hook = {"webhook": {"topic": "fulfillment_orders/order_routing_complete", "address": "https://hooks.example/od"}}
    assert api.post("/webhooks.json", hook).status_code == 201
    home = shop.location("Home")
    mug = shop.product("MUG-1", stock={jupiter.location_id: 5})  # type: ignore[attr-defined]
    cap = shop.product("CAP-1", stock={home: 5})
    placed = shop.order([{"variant_id": mug, "quantity": 1}, {"variant_id": cap, "quantity": 1}])
    at_jupiter = next(f for f in fos(shop, placed).values() if f["assigned_location_id"] != home)
    # Only the fulfillment order at the service's location: Shopify's "assigned to a fulfillment service's location".
    assert webhooks(deck, placed["id"]) == [
        (
            "fulfillment_orders/order_routing_complete",
            {"fulfillment_order": {"id": f"gid://shopify/FulfillmentOrder/{at_jupiter['id']}", "status": "open"}},
        )
    ]


def test_service_locations_are_not_legacy(api: Api, jupiter: Api) -> None:
    location = api.ok(api.get(f"/locations/{jupiter.location_id}.json"))["location"]  # type: ignore[attr-defined]
    assert location["legacy"] is False and location["name"] == "Jupiter Fulfillment"


def test_supported_actions_at_a_service_ask_for_a_request_not_a_fulfillment(
    api: Api,
    shop: Shop,
    order: dict[str, Any],
) -> None:
    fo = open_fo(shop, order["id"])
    assert fo["supported_actions"] == SERVICE_ACTIONS
    assert api.ok(api.get(f"/fulfillment_orders/{fo['id']}.json"))["fulfillment_order"]["supported_actions"] == (
        SERVICE_ACTIONS
    )
    home = shop.location("Home")
    cap = shop.product("CAP-1", stock={home: 5})
    own = shop.order([{"variant_id": cap, "quantity": 1}])
    assert open_fo(shop, own["id"])["supported_actions"] == OWN_ACTIONS


@pytest.mark.parametrize(
    ("steps", "says"),
    [
        ([], "request fulfillment from Jupiter Fulfillment, or move it to one of your own locations"),
        (["request"], "wait for its answer, or cancel the fulfillment order"),
        (["request", "reject"], "Jupiter Fulfillment rejected the request: request fulfillment again"),
        (["request", "accept"], "send a cancellation request to take it back"),
        (["request", "accept", "cancel"], "has not answered the cancellation request yet"),
    ],
)
def test_the_merchant_cannot_fulfil_at_a_service_and_is_told_the_next_step(
    api: Api,
    shop: Shop,
    jupiter: Api,
    order: dict[str, Any],
    steps: list[str],
    says: str,
) -> None:
    fo = open_fo(shop, order["id"])
    for step in steps:
        if step == "request":
            api.ok(api.post(fo_path(fo, "fulfillment_request"), {"fulfillment_request": {}}))
        elif step == "cancel":
            api.ok(api.post(fo_path(fo, "cancellation_request"), {"cancellation_request": {}}))
        else:
            jupiter.ok(jupiter.post(fo_path(fo, f"fulfillment_request/{step}"), {"fulfillment_request": {}}))
    before = fos(shop, order)
    answer = ship(api, fo)
    refused(answer, says)
    assert "line_items_by_fulfillment_order" in answer.json()["errors"]
    assert fos(shop, order) == before


def test_only_the_owning_service_fulfils_and_only_what_it_accepted(
    deck: Orderdeck,
    client: Any,
    api: Api,
    shop: Shop,
    jupiter: Api,
    order: dict[str, Any],
) -> None:
    fo = open_fo(shop, order["id"])
    refused(ship(jupiter, fo), "accept the fulfillment request first")
    api.ok(api.post(fo_path(fo, "fulfillment_request"), {"fulfillment_request": {}}))
    refused(ship(jupiter, fo), "accept the fulfillment request first")
    jupiter.ok(jupiter.post(fo_path(fo, "fulfillment_request/accept"), {"fulfillment_request": {}}))
    # Another service's app is the merchant's equal here: it does not fulfil Jupiter's work.
    mars = Api(client, make_token(deck, SERVICE_SCOPES, name="Mars app"))
    mars.ok(
        mars.post(
            "/fulfillment_services.json",
            {"fulfillment_service": {"name": "Mars", "callback_url": "https://mars.example/od"}},
        )
    )
    refused(ship(mars, fo), "Jupiter Fulfillment fulfills it")
    made = jupiter.ok(ship(jupiter, fo, quantity=2))["fulfillment"]
    assert [li["quantity"] for li in made["line_items"]] == [2]
    jupiter.ok(ship(jupiter, fos(shop, order)[fo["id"]]))
    after = fos(shop, order)[fo["id"]]
    assert (after["status"], after["request_status"]) == ("closed", "accepted")
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"


def test_the_order_page_says_where_the_request_stands_and_offers_no_fulfil_form(
    owner: AdminClient,
    admin_app: TestClient,
    api: Api,
    shop: Shop,
    order: dict[str, Any],
) -> None:
    fo = open_fo(shop, order["id"])
    page = html.unescape(owner.page(f"/admin/orders/{order['id']}").text)
    assert "Jupiter Fulfillment fulfills this: fulfillment has not been requested yet." in page
    assert f"/fulfillment-orders/{fo['id']}/fulfil" not in page
    assert "request fulfillment from Jupiter Fulfillment" in page  # why "Fulfill items" is not offered

    # Its buttons follow supported_actions: request fulfillment, here from the staff's page.
    assert "Request fulfillment from Jupiter Fulfillment" in page
    sent = owner.post(
        f"/admin/orders/{order['id']}/fulfillment-orders/{fo['id']}/request",
        {"message": "Gift wrap, please", "notify_customer": "1"},
    )
    assert sent.status_code == 303
    requested = fos(shop, order)[fo["id"]]
    assert requested["request_status"] == "submitted"
    assert requested["merchant_requests"][0]["message"] == "Gift wrap, please"
    page = html.unescape(owner.page(f"/admin/orders/{order['id']}").text)
    assert "Requested from Jupiter Fulfillment; waiting for it to accept." in page
    assert "Request fulfillment from Jupiter Fulfillment" not in page
    assert f"/fulfillment-orders/{fo['id']}/fulfil" not in page
    refused_post = owner.post(f"/admin/orders/{order['id']}/fulfillment-orders/{fo['id']}/fulfil", {})
    assert refused_post.status_code in (303, 422)
    assert fos(shop, order)[fo["id"]]["line_items"][0]["fulfillable_quantity"] == 3
