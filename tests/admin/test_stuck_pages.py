"""Stuck orders in the admin (S8.3): the Stuck page lists each flagged order with the reason,
since when, the service and the next step, with a tab per reason; the order page's banner
explains the flag and offers the next step (request again, move, cancel); the Orders page filters
by it; the shop settings page sets the waits."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderdeck.services import sweeps
from orderdeck.services.context import Orderdeck
from tests.conftest import Api, Clock, Shop
from tests.integration.service_steps import service_app
from tests.integration.test_stuck_requests import two_mugs

from .conftest import AdminClient, make_staff

SERVICE_SCOPES = ["read_assigned_fulfillment_orders", "write_assigned_fulfillment_orders", "write_fulfillments"]


@pytest.fixture
def mars(deck: Orderdeck, client: Any) -> Api:
    return service_app(deck, client, "Mars Fulfillment", "http://127.0.0.1:9/mars", SERVICE_SCOPES)


@pytest.fixture
def utrecht(shop: Shop) -> int:
    return shop.location("Utrecht")


@pytest.fixture
def order(shop: Shop, mars: Api, utrecht: int) -> dict[str, Any]:
    return two_mugs(shop, mars, utrecht, customer={"first_name": "Anna", "last_name": "de Vries"})


def text_of(page: Any) -> str:
    words = re.sub(r"<[^>]+>", " ", page.text)
    return re.sub(r"\s+", " ", html.unescape(words))


def fo_of(shop: Shop, order: dict[str, Any], status: str = "open") -> dict[str, Any]:
    return next(f for f in shop.fulfillment_orders(order["id"]) if f["status"] == status)


def rejected(api: Api, shop: Shop, mars: Api, order: dict[str, Any]) -> dict[str, Any]:
    fo = fo_of(shop, order)
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request.json", {"fulfillment_request": {}}))
    body = {"fulfillment_request": {"message": "No stock of the Delft mug.", "reason": "inventory_out_of_stock"}}
    mars.ok(mars.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request/reject.json", body))
    return fo


def test_the_order_page_explains_a_rejected_request_with_the_next_step(
    owner: AdminClient, api: Api, shop: Shop, mars: Api, order: dict[str, Any]
) -> None:
    fo = rejected(api, shop, mars, order)
    page = owner.page(f"/admin/orders/{order['id']}")
    words = text_of(page)
    assert "This order is stuck" in words
    assert (
        "Mars Fulfillment rejected the fulfillment request (inventory out of stock): “No stock of the Delft mug”"
        in words
    )
    assert "Next step: Move the items to another location, or request again once Mars Fulfillment has stock." in words
    assert f'action="/admin/orders/{order["id"]}/stuck/{fo["id"]}/request-again"' in page.text
    assert f'href="#fo{fo["id"]}"' in page.text and 'href="#lifecycle"' in page.text

    # The button sends the request again; the flag and the tag Orderdeck added go with it.
    after = owner.post(f"/admin/orders/{order['id']}/stuck/{fo['id']}/request-again")
    assert owner.flash(after) == "success: Fulfillment requested again; the service is notified."
    again = shop.get(order["id"])
    assert again["stuck"] == [] and "stuck" not in again["tags"]
    assert "This order is stuck" not in text_of(owner.page(f"/admin/orders/{order['id']}"))


def test_moving_the_rejected_items_clears_the_flag(
    owner: AdminClient, api: Api, shop: Shop, mars: Api, utrecht: int, order: dict[str, Any]
) -> None:
    fo = rejected(api, shop, mars, order)
    after = owner.post(f"/admin/orders/{order['id']}/fulfillment-orders/{fo['id']}/move", {"new_location_id": utrecht})
    assert owner.flash(after).startswith("success")
    assert shop.get(order["id"])["stuck"] == []


def test_the_stuck_page_lists_reason_since_service_and_next_step_with_a_tab_per_reason(
    deck: Orderdeck, owner: AdminClient, api: Api, shop: Shop, mars: Api, clock: Clock, order: dict[str, Any]
) -> None:
    shop.settings(stuck_after_days=2, request_acknowledge_hours=0)
    rejected(api, shop, mars, order)
    shop.location("Amsterdam")
    waiting = shop.order([{"title": "Plate", "price": "20.00", "quantity": 1}])
    clock.advance(days=2, hours=1)
    sweeps.flag_stuck_orders(deck)

    page = owner.page("/admin/stuck")
    words = text_of(page)
    assert "All stuck (2)" in words and "Request rejected (1)" in words and "Not fulfilled in time (1)" in words
    assert "Request not accepted" not in words  # tabs only for reasons with orders
    assert order["name"] in words and waiting["name"] in words and "Anna de Vries" in words
    assert "Mars Fulfillment" in words
    assert "Move the items to another location, or request again once Mars Fulfillment has stock." in words
    assert f'href="/admin/orders/{order["id"]}#stuck"' in page.text

    one = text_of(owner.page("/admin/stuck?reason=unfulfilled_too_long"))
    assert waiting["name"] in one and order["name"] not in one
    assert "There is no stuck reason" in text_of(owner.page("/admin/stuck?reason=nonsense"))


def test_the_orders_page_filters_stuck_orders(
    owner: AdminClient, api: Api, shop: Shop, mars: Api, order: dict[str, Any]
) -> None:
    rejected(api, shop, mars, order)
    other = shop.order([{"title": "Plate", "price": "20.00", "quantity": 1}])
    words = text_of(owner.page("/admin/orders?stuck=request_rejected"))
    assert order["name"] in words and other["name"] not in words
    assert "Stuck (any reason)" in owner.page("/admin/orders").text
    bad = owner.page("/admin/orders?stuck=lost", expect=422)
    assert "Stuck:" in text_of(bad)


def test_the_shop_settings_page_sets_the_waits(owner: AdminClient, api: Api) -> None:
    page = owner.page("/admin/settings/shop")
    assert 'name="request_accept_hours"' in page.text and "Stuck fulfillment requests" in page.text
    saved = owner.post(
        "/admin/settings/shop",
        {
            "capture_mode": "manual",
            "authorization_period_days": "7",
            "stuck_after_days": "5",
            "retention_days": "30",
            "self_service_window_minutes": "150",
            "request_accept_hours": "6",
            "request_acknowledge_hours": "1",
            "cancellation_answer_hours": "12",
            "request_ship_days": "0",
        },
    )
    assert owner.flash(saved) == "success: Shop settings saved."
    settings = api.ok(api.get("/shop.json"))["shop"]["settings"]
    assert (settings["request_accept_hours"], settings["request_acknowledge_hours"]) == (6, 1)
    assert (settings["cancellation_answer_hours"], settings["request_ship_days"]) == (12, 0)
    refused = owner.post("/admin/settings/shop", {"request_accept_hours": "-1", "stuck_after_days": "5"})
    assert refused.status_code == 422 and "request_accept_hours" in refused.text


def test_a_viewer_sees_the_banner_without_buttons(
    deck: Orderdeck, admin_app: TestClient, api: Api, shop: Shop, mars: Api, order: dict[str, Any]
) -> None:
    fo = rejected(api, shop, mars, order)
    make_staff(deck, "vera@shop.test", permissions=("view_orders",), name="Vera Viewer")
    viewer = AdminClient(admin_app)
    viewer.sign_in("vera@shop.test")
    page = viewer.page(f"/admin/orders/{order['id']}")
    assert "This order is stuck" in text_of(page) and "request-again" not in page.text
    refused = viewer.post(f"/admin/orders/{order['id']}/stuck/{fo['id']}/request-again")
    assert refused.status_code in (303, 403)
    assert shop.get(order["id"])["stuck"] != []


def test_a_request_not_accepted_links_to_the_services_health(
    deck: Orderdeck, owner: AdminClient, api: Api, shop: Shop, clock: Clock, order: dict[str, Any]
) -> None:
    shop.settings(request_accept_hours=1, request_acknowledge_hours=0)
    fo = fo_of(shop, order)
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request.json", {"fulfillment_request": {}}))
    clock.advance(hours=1, minutes=30)
    sweeps.flag_stuck_orders(deck)
    page = owner.page(f"/admin/orders/{order['id']}")
    words = text_of(page)
    assert "Mars Fulfillment has not accepted the fulfillment request sent 1 hour ago." in words
    assert "Next step: Ask Mars Fulfillment whether it received the request" in words
    assert 'href="/admin/settings/fulfillment-services"' in page.text
    assert "request-again" not in page.text  # nothing to send again: the request is out
