"""Tracking URLs are web addresses: anything else (javascript:, data:) is refused at every
input (the API's fulfillment and update_tracking, the admin's forms) and, when found stored from
before, never shown as a link (admin order page, the customer's status page, e-mails)."""

from __future__ import annotations

from typing import Any

import pytest

from orderdeck.domain import fulfillment as rules
from orderdeck.domain.fulfillment import TrackingInfo
from orderdeck.domain.order import SYSTEM
from orderdeck.notify import context as variables
from orderdeck.services.changes import load_order, save_order
from orderdeck.services.context import Command, Orderdeck
from orderdeck.tracking import is_web_address

from ..admin.conftest import AdminClient, admin_app, owner
from ..conftest import Api, Shop

__all__ = ["admin_app", "owner"]  # the admin fixtures, for the admin's forms and page

NOT_WEB = ["javascript:alert(document.cookie)", "JavaScript:alert(1)", "java\tscript:alert(1)", "data:text/html,x"]


@pytest.fixture
def order(shop: Shop) -> dict[str, Any]:
    location = shop.location()
    mug = shop.product("MUG", stock={location: 10})
    return shop.order([{"variant_id": mug, "quantity": 1}])


def fulfil(api: Api, shop: Shop, order_id: int, tracking: dict[str, Any]) -> Any:
    [fo] = [fo for fo in shop.fulfillment_orders(order_id) if fo["status"] == "open"]
    body = {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}], "tracking_info": tracking}
    return api.post("/fulfillments.json", {"fulfillment": body})


@pytest.mark.parametrize("url", ["https://track.example.com/1", "HTTP://track.example.com/?n=1"])
def test_web_addresses_are_tracking_urls(url: str) -> None:
    assert is_web_address(url)


@pytest.mark.parametrize("url", [*NOT_WEB, "https:/no-host", "ftp://files.example.com/1", ""])
def test_anything_else_is_not(url: str) -> None:
    assert not is_web_address(url)


@pytest.mark.parametrize("url", NOT_WEB)
def test_fulfilling_with_a_tracking_url_that_is_no_web_address_is_refused(
    api: Api, shop: Shop, order: dict[str, Any], url: str
) -> None:
    answer = fulfil(api, shop, order["id"], {"number": "123", "url": url})
    assert answer.status_code == 422, answer.text
    assert "must be http:// or https:// addresses" in answer.json()["errors"]["tracking_urls"][0]
    assert shop.get(order["id"])["fulfillments"] == []  # nothing changed


def test_updating_tracking_to_a_url_that_is_no_web_address_is_refused(
    api: Api, shop: Shop, order: dict[str, Any]
) -> None:
    made = api.ok(fulfil(api, shop, order["id"], {"number": "123", "url": "https://track.example.com/123"}))
    fulfillment_id = made["fulfillment"]["id"]
    answer = api.post(
        f"/fulfillments/{fulfillment_id}/update_tracking.json",
        {"fulfillment": {"tracking_info": {"number": "456", "urls": ["https://ok.example.com", NOT_WEB[0]]}}},
    )
    assert answer.status_code == 422, answer.text
    assert "tracking_urls" in answer.json()["errors"]
    assert shop.get(order["id"])["fulfillments"][0]["tracking_urls"] == ["https://track.example.com/123"]


def test_the_admins_tracking_form_refuses_it(owner: AdminClient, shop: Shop, order: dict[str, Any]) -> None:
    [fo] = shop.fulfillment_orders(order["id"])
    owner.page(f"/admin/orders/{order['id']}")
    answer = owner.post(
        f"/admin/orders/{order['id']}/fulfillment-orders/{fo['id']}/fulfil",
        {f"qty_{fo['line_items'][0]['id']}": "1", "tracking_numbers": "123", "tracking_url": NOT_WEB[0]},
    )
    message = owner.flash(answer)
    assert message.startswith("error:") and "must be http:// or https:// addresses" in message.lower()
    assert shop.get(order["id"])["fulfillments"] == []


def store_unchecked(deck: Orderdeck, order_id: int, url: str) -> None:
    """A fulfillment whose URL was stored before the check (straight through the domain)."""
    with deck.unit_of_work() as uow:
        cmd = Command(deck, uow, SYSTEM)
        loaded = load_order(cmd, order_id)
        fo = loaded.order.fulfillment_orders[0]
        requests = {fo.id: None}
        inventory = uow.inventory.load([li.variant_id for li in loaded.order.line_items if li.variant_id])
        rules.create_fulfillment(
            loaded.order,
            requests=requests,
            tracking=TrackingInfo(numbers=("123",), urls=(url,)),
            inventory=inventory,
            author=SYSTEM,
            now=uow.now,
        )
        uow.inventory.save(inventory, uow.now)
        save_order(cmd, loaded.order, loaded)
        uow.commit()


def test_a_stored_url_that_is_no_web_address_is_never_a_link(
    deck: Orderdeck, api: Api, owner: AdminClient, shop: Shop, order: dict[str, Any]
) -> None:
    store_unchecked(deck, order["id"], NOT_WEB[0])
    admin_page = owner.page(f"/admin/orders/{order['id']}").text
    assert "123" in admin_page and 'href="javascript:' not in admin_page
    status_url = shop.get(order["id"])["order_status_url"]
    status_page = api.client.get(status_url.split("http://shop.test", 1)[-1]).text
    assert "123" in status_page and "javascript:" not in status_page
    stored = shop.get(order["id"])
    mail = variables.build(stored, shop={"name": "Shop"}, locale="en", subject_id=stored["fulfillments"][0]["id"])
    assert mail["fulfillment"]["tracking_urls"] == [""]
