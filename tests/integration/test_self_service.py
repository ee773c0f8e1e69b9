"""Customers cancelling or correcting the shipping address from their status page (S9.4):
within the shop's window, only while safe, as the same commands staff use, and staff are told."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox

from ..conftest import SELL, Api, Clock, Shop

ADDRESS = {
    "name": "Anna de Vries",
    "address1": "Keizersgracht 1",
    "city": "Amsterdam",
    "zip": "1015 CJ",
    "country": "Netherlands",
    "country_code": "NL",
}


@pytest.fixture
def stocked(shop: Shop) -> dict[str, int]:
    location = shop.location()
    return {"location": location, "variant": shop.product("MUG", price="20.00", stock={location: 5})}


def place(shop: Shop, stocked: dict[str, int], **extra: Any) -> dict[str, Any]:
    return shop.order(
        [{"variant_id": stocked["variant"], "quantity": 2}],
        transactions=SELL,
        shipping_address=ADDRESS,
        customer_locale="nl",
        **extra,
    )


def path(order: dict[str, Any]) -> str:
    return str(order["order_status_url"]).split("http://shop.test", 1)[1]


def outbox_topics(deck: Orderdeck, kind: str) -> list[str]:
    with deck.unit_of_work(read_only=True) as uow:
        return list(uow.conn.execute(select(outbox.c.topic).where(outbox.c.kind == kind)).scalars())


def test_nothing_is_offered_while_the_shop_has_it_off(api: Api, shop: Shop, stocked: dict[str, int]) -> None:
    order = place(shop, stocked)
    assert "Annuleer mijn bestelling" not in api.client.get(path(order)).text
    refused = api.client.post(path(order) + "/cancel", data={"reason": "other"})
    assert refused.status_code == 422 and shop.get(order["id"])["cancelled_at"] is None


def test_the_customer_cancels_with_refund_and_restock(
    deck: Orderdeck, api: Api, shop: Shop, stocked: dict[str, int]
) -> None:
    shop.settings(self_service=True)
    order = place(shop, stocked)
    page = api.client.get(path(order)).text
    assert "Annuleer mijn bestelling" in page and "Ik heb me bedacht" in page
    done = api.client.post(path(order) + "/cancel", data={"reason": "changed_my_mind"}, follow_redirects=False)
    assert done.status_code == 303
    after = shop.get(order["id"])
    assert after["cancelled_at"] is not None and after["cancel_reason"] == "customer"
    assert after["financial_status"] == "refunded"
    assert shop.level(stocked["variant"], stocked["location"])["available"] == 5
    [event] = api.ok(api.get(f"/orders/{order['id']}/events.json", params={"verb": "cancelled"}))["events"]
    assert event["author"] == "Customer"
    assert "order_cancelled" in outbox_topics(deck, "notification")
    assert outbox_topics(deck, "staff_alert") == ["customer_cancelled"]
    assert "Je bestelling is geannuleerd" in api.client.get(done.headers["location"]).text


def test_reasons_must_be_the_shops(api: Api, shop: Shop, stocked: dict[str, int]) -> None:
    shop.settings(self_service=True, self_service_reasons=["wrong_item"])
    order = place(shop, stocked)
    assert api.client.post(path(order) + "/cancel", data={"reason": "better_price"}).status_code == 422
    assert shop.get(order["id"])["cancelled_at"] is None


@pytest.mark.parametrize("why", ["too_late", "fulfilled", "fraud_hold"])
def test_no_self_service_when_it_is_not_safe(
    api: Api, shop: Shop, stocked: dict[str, int], clock: Clock, why: str
) -> None:
    shop.settings(self_service=True, self_service_window_minutes=150)
    order = place(shop, stocked)
    if why == "too_late":
        clock.advance(minutes=151)
    elif why == "fulfilled":
        shop.fulfil(order["id"])
    else:
        [fo] = shop.fulfillment_orders(order["id"])
        api.ok(
            api.post(
                f"/fulfillment_orders/{fo['id']}/hold.json", {"fulfillment_hold": {"reason": "high_risk_of_fraud"}}
            )
        )
    page = api.client.get(path(order)).text
    assert "Annuleer mijn bestelling" not in page
    refused = api.client.post(path(order) + "/cancel", data={"reason": "changed_my_mind"})
    assert refused.status_code == 422 and "kan hier niet meer worden gewijzigd" in refused.text
    assert shop.get(order["id"])["cancelled_at"] is None


def test_the_customer_corrects_the_shipping_address(
    deck: Orderdeck, api: Api, shop: Shop, stocked: dict[str, int]
) -> None:
    shop.settings(self_service=True)
    order = place(shop, stocked)
    blank = api.client.post(path(order) + "/address", data={"address1": "", "city": "Amsterdam"})
    assert blank.status_code == 422 and "Vul de straat en de plaats in" in blank.text
    done = api.client.post(
        path(order) + "/address",
        data={
            "first_name": "Anna",
            "last_name": "de Vries",
            "address1": "Prinsengracht 263",
            "zip": "1016 GV",
            "city": "Amsterdam",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    shipping = shop.get(order["id"])["shipping_address"]
    assert shipping["address1"] == "Prinsengracht 263" and shipping["country_code"] == "NL"
    assert outbox_topics(deck, "staff_alert") == ["customer_changed_address"]
