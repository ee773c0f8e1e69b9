"""Settings → Fulfillment services: each service with its location, callback URL and health
(failing notifications with the last error, the last acknowledgement, stock and tracking polls
and their last error); a service's page with its recent notifications, "send again now" for a
failing one, and the automatic-request setting; only staff who may manage settings."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderdeck.services import service_sync
from orderdeck.services.context import Orderdeck
from orderdeck.store.fulfillment_services import FulfillmentServices
from orderdeck.store.service_notifications import ServiceNotifications
from tests.conftest import Api, Clock, Shop
from tests.integration.service_steps import (
    Service,
    create_service,
    request_fulfillment,
    stocked_order,
    work,
)

from .conftest import AdminClient, make_staff

BASE = "/admin/settings/fulfillment-services"


@pytest.fixture
def service() -> Any:
    s = Service().start()
    yield s
    s.stop()


def test_the_list_shows_each_service_and_its_health(
    owner: AdminClient, deck: Orderdeck, api: Api, shop: Shop, service: Service
) -> None:
    assert f'href="{BASE}"' in owner.page("/admin/settings").text
    assert "No fulfillment services yet" in owner.page(BASE).text

    jupiter = create_service(api, "Jupiter Fulfillment", service.url, inventory_management=True)
    order = stocked_order(shop, jupiter["location_id"])
    service.script = [500]
    service.stock = (503, b"maintenance")
    request_fulfillment(api, shop, order)
    work(deck)
    service_sync.sync_stock(deck)

    page = owner.page(BASE).text
    assert "Jupiter Fulfillment" in page and service.url in page
    assert "1 failing" in page
    assert "The service answered 500" in page
    assert "fetch_stock: the service answered 503: maintenance" in page
    assert "Never" in page  # acknowledged nothing yet


def test_a_failing_notification_is_sent_again_now(
    owner: AdminClient, deck: Orderdeck, api: Api, shop: Shop, service: Service, clock: Clock
) -> None:
    jupiter = create_service(api, "Jupiter Fulfillment", service.url)
    order = stocked_order(shop, jupiter["location_id"])
    service.script = [500]
    request_fulfillment(api, shop, order)
    work(deck)
    with deck.unit_of_work(read_only=True) as uow:
        [n] = ServiceNotifications(uow.conn).of_order(order["id"])

    page = owner.page(f"{BASE}/{jupiter['id']}").text
    assert order["name"] in page and "Failing" in page and "HTTP 500" in page
    assert f"/notifications/{n.id}/send" in page

    work(deck)  # not due yet: the back-off holds it
    assert len(service.notifications) == 1
    sent = owner.post(f"{BASE}/{jupiter['id']}/notifications/{n.id}/send")
    assert owner.flash(sent).startswith("success: Sending the notification again now")
    work(deck)
    assert len(service.notifications) == 2
    page = owner.page(f"{BASE}/{jupiter['id']}").text
    assert "Acknowledged" in page and f"/notifications/{n.id}/send" not in page

    again = owner.post(f"{BASE}/{jupiter['id']}/notifications/{n.id}/send")
    assert owner.flash(again) == "info: That notification is acknowledged: there is nothing to send again."
    assert owner.post(f"{BASE}/{jupiter['id']}/notifications/not-a-notification/send").status_code == 404


def test_the_automatic_request_setting_is_saved_and_checked(
    owner: AdminClient, deck: Orderdeck, api: Api, service: Service
) -> None:
    jupiter = create_service(api, "Jupiter Fulfillment", service.url)
    form = owner.page(f"{BASE}/{jupiter['id']}").text
    assert 'name="auto_request"' in form and "Follow the shop&#39;s setting" in form

    saved = owner.post(f"{BASE}/{jupiter['id']}", {"auto_request": "on_payment"})
    assert "When the order is paid" in owner.flash(saved)

    def stored() -> str | None:
        with deck.unit_of_work(read_only=True) as uow:
            return FulfillmentServices(uow.conn).get(jupiter["id"]).auto_request

    assert stored() == "on_payment"
    refused = owner.post(f"{BASE}/{jupiter['id']}", {"auto_request": "tomorrow"})
    assert refused.status_code == 422 and "Nothing was changed" in refused.text
    assert "must be one of" in refused.text.lower()
    assert stored() == "on_payment"
    owner.flash(owner.post(f"{BASE}/{jupiter['id']}", {"auto_request": ""}))
    assert stored() is None
    owner.page(f"{BASE}/999999", expect=404)


def test_the_pages_need_the_manage_settings_permission(
    deck: Orderdeck, admin_app: TestClient, api: Api, service: Service
) -> None:
    jupiter = create_service(api, "Jupiter Fulfillment", service.url)
    make_staff(deck, "v@shop.test", permissions=("view_orders",))
    viewer = AdminClient(admin_app)
    viewer.sign_in("v@shop.test")
    assert "may not manage settings" in viewer.page(BASE, expect=403).text
    viewer.page(f"{BASE}/{jupiter['id']}", expect=403)
    assert viewer.post(f"{BASE}/{jupiter['id']}", {"auto_request": "off"}).status_code == 403
