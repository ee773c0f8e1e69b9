"""Customers asking to send items back from their order status page (issue 13): the form
offers the shipped units the shop's return policy allows, refuses the rest with the reason at
the field (the input kept, nothing changed), creates the return as the customer through the
same command staff use, and the page then follows the return."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from orderdeck.services import returns as commands
from orderdeck.services.context import Orderdeck

from ..conftest import SELL, Api, Clock, Shop
from .returns_steps import fulfillment_line_ids, run


@pytest.fixture
def shirt(api: Api, amsterdam: int) -> dict[str, int]:
    """A shirt in three sizes at 25.00: S and M in stock, L sold out."""
    variants = [
        {"option1": size, "sku": f"SHIRT-{size}", "price": "25.00", "inventory_quantities": {str(amsterdam): stock}}
        for size, stock in (("S", 5), ("M", 5), ("L", 0))
    ]
    product = api.ok(
        api.post("/products.json", {"product": {"title": "Linen shirt", "options": ["Size"], "variants": variants}})
    )["product"]
    return {v["option1"]: v["id"] for v in product["variants"]} | {"product": product["id"]}


def shipped(shop: Shop, variant: int, quantity: int = 2, locale: str = "nl") -> dict[str, Any]:
    order = shop.order(
        [{"variant_id": variant, "quantity": quantity}],
        transactions=SELL,
        customer_locale=locale,
        customer={"first_name": "Anna"},
    )
    shop.fulfil(order["id"])
    return shop.get(order["id"])


def path(order: dict[str, Any]) -> str:
    return str(order["order_status_url"]).split("http://shop.test", 1)[1]


def notice(page: str) -> str:
    found = re.search(r'<p class="notice" role="status">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def test_a_customer_asks_to_return_a_unit_and_follows_the_request(
    deck: Orderdeck, api: Api, shop: Shop, shirt: dict[str, int]
) -> None:
    order = shipped(shop, shirt["S"])
    [fl] = fulfillment_line_ids(deck, order["id"])
    page = api.client.get(path(order)).text
    assert "Artikelen retourneren" in page and f'name="quantity_{fl}"' in page
    assert "Maat was te klein" in page  # Shopify's reasons, in the customer's language
    sent = api.client.post(
        path(order) + "/return?lang=nl",
        data={
            f"quantity_{fl}": "1",
            f"reason_{fl}": "size_too_small",
            f"note_{fl}": "Valt klein",
            f"exchange_{fl}": "",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    after = shop.get(order["id"])
    [ret] = after["returns"]
    assert ret["status"] == "requested" and ret["created_by"] == "Customer"
    [line] = ret["return_line_items"]
    assert line["quantity"] == 1 and line["return_reason"] == "size_too_small" and line["customer_note"] == "Valt klein"
    assert ret["exchange_line_items"] == []
    assert after["return_status"] == "return_requested"
    [event] = api.ok(api.get(f"/orders/{order['id']}/events.json", params={"verb": "return_requested"}))["events"]
    assert event["author"] == "Customer"
    followed = api.client.get(sent.headers["location"]).text
    assert "We hebben je retourverzoek ontvangen" in followed
    assert f"Retour {ret['name']}" in followed and 'aria-current="step">\n        Aangevraagd' in followed
    # One unit is left to return; the form still offers it.
    assert '<option value="1">1</option>' in followed and '<option value="2">2</option>' not in followed


def test_a_customer_asks_for_another_size_in_exchange(
    deck: Orderdeck, api: Api, shop: Shop, shirt: dict[str, int]
) -> None:
    order = shipped(shop, shirt["S"], quantity=1)
    [fl] = fulfillment_line_ids(deck, order["id"])
    page = api.client.get(path(order)).text
    # Other sizes in stock are offered; the sold-out one and the customer's own are not.
    assert f'<option value="{shirt["M"]}">Omruilen voor M</option>' in page
    assert f'value="{shirt["L"]}">Omruilen' not in page and f'value="{shirt["S"]}">Omruilen' not in page
    sent = api.client.post(
        path(order) + "/return",
        data={f"quantity_{fl}": "1", f"reason_{fl}": "size_too_small", f"exchange_{fl}": str(shirt["M"])},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    [ret] = shop.get(order["id"])["returns"]
    [exchange] = ret["exchange_line_items"]
    assert exchange["variant_id"] == shirt["M"] and exchange["quantity"] == 1
    followed = api.client.get(sent.headers["location"]).text
    assert "Artikelen die we je in ruil sturen" in followed and "Linen shirt - M" in followed

    # Staff approve it: the exchange becomes a line of the order, held until the shirt is back.
    run(deck, lambda c: commands.approve(c, ret["id"], notify=False))
    followed = api.client.get(path(order)).text
    assert 'aria-current="step">\n        Goedgekeurd' in followed
    assert "Wordt verzonden zodra je retour binnen is" in followed


def test_a_shop_that_does_not_review_requests_opens_them_at_once_with_its_fees(
    deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    shop.settings(return_requests_need_approval=False, return_shipping_fee="4.95", restocking_fee_percentage=10)
    order = shipped(shop, mug, quantity=1, locale="en")
    [fl] = fulfillment_line_ids(deck, order["id"])
    page = api.client.get(path(order)).text
    assert "A return shipping fee of €4.95 is taken off your refund." in page
    assert "A restocking fee of 10% is taken off the refund of each item." in page
    sent = api.client.post(
        path(order) + "/return", data={f"quantity_{fl}": "1", f"reason_{fl}": "defective"}, follow_redirects=False
    )
    assert sent.status_code == 303
    [ret] = shop.get(order["id"])["returns"]
    assert ret["status"] == "open"
    assert ret["return_shipping_fees"][0]["amount_set"]["shop_money"]["amount"] == "4.95"
    assert ret["return_line_items"][0]["restocking_fee"]["percentage"] == 10.0
    assert "Your return is approved" in api.client.get(sent.headers["location"]).text


def refused(api: Api, order: dict[str, Any], form: dict[str, str]) -> str:
    answer = api.client.post(path(order) + "/return", data=form)
    assert answer.status_code == 422, answer.text
    return str(answer.text)


def test_after_the_window_the_unit_is_refused_with_the_reason(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock, mug: int
) -> None:
    shop.settings(return_window_days=14)
    order = shipped(shop, mug)
    [fl] = fulfillment_line_ids(deck, order["id"])
    clock.advance(days=15)
    page = api.client.get(path(order)).text
    assert "De retourtermijn voor dit artikel is verlopen." in page and f'name="quantity_{fl}"' not in page
    answer = refused(api, order, {f"quantity_{fl}": "1", f"reason_{fl}": "unwanted"})
    assert notice(answer) == "De retourtermijn voor dit artikel is verlopen."
    assert shop.get(order["id"])["returns"] == []


def test_the_window_counts_from_delivery(deck: Orderdeck, api: Api, shop: Shop, clock: Clock, mug: int) -> None:
    shop.settings(return_window_days=14, return_window_from="delivery")
    order = shipped(shop, mug)
    [fl] = fulfillment_line_ids(deck, order["id"])
    clock.advance(days=10)
    fulfillment = order["fulfillments"][0]["id"]
    api.ok(
        api.post(f"/orders/{order['id']}/fulfillments/{fulfillment}/events.json", {"event": {"status": "delivered"}})
    )
    clock.advance(days=10)  # 20 days after shipping, 10 after delivery
    assert f'name="quantity_{fl}"' in api.client.get(path(order)).text
    shop.settings(return_window_from="fulfillment")
    assert f'name="quantity_{fl}"' not in api.client.get(path(order)).text


@pytest.mark.parametrize("tagged", ["product", "order"])
def test_final_sale_items_are_refused(api: Api, deck: Orderdeck, shop: Shop, mug: int, tagged: str) -> None:
    shop.settings(final_sale_tags=["Final-Sale"])
    if tagged == "product":
        product_id = api.ok(api.get(f"/variants/{mug}.json"))["variant"]["product_id"]
        api.ok(api.put(f"/products/{product_id}.json", {"product": {"tags": "mugs, final-sale"}}))
    order = shipped(shop, mug)
    if tagged == "order":
        api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"tags": "final-sale"}}))
    [fl] = fulfillment_line_ids(deck, order["id"])
    message = "Dit artikel is definitief verkocht en kan niet worden geretourneerd."
    assert message in api.client.get(path(order)).text
    answer = refused(api, order, {f"quantity_{fl}": "1", f"reason_{fl}": "unwanted"})
    assert notice(answer) == message
    assert shop.get(order["id"])["returns"] == []


def test_exchanges_are_refused_when_the_shop_offers_none(
    deck: Orderdeck, api: Api, shop: Shop, shirt: dict[str, int]
) -> None:
    shop.settings(returns_allow_exchanges=False)
    order = shipped(shop, shirt["S"], quantity=1)
    [fl] = fulfillment_line_ids(deck, order["id"])
    assert f'name="exchange_{fl}"' not in api.client.get(path(order)).text
    answer = refused(
        api, order, {f"quantity_{fl}": "1", f"reason_{fl}": "size_too_small", f"exchange_{fl}": str(shirt["M"])}
    )
    assert (
        field_error(answer, f"exchange_{fl}")
        == "We bieden geen omruilingen aan. Kies in plaats daarvan voor terugbetaling."
    )
    assert shop.get(order["id"])["returns"] == []


def test_a_refused_form_comes_back_with_what_was_typed(deck: Orderdeck, api: Api, shop: Shop, mug: int) -> None:
    order = shipped(shop, mug)
    [fl] = fulfillment_line_ids(deck, order["id"])
    no_reason = refused(api, order, {f"quantity_{fl}": "2", f"reason_{fl}": "", f"note_{fl}": "Te <b>groot</b>"})
    assert field_error(no_reason, f"reason_{fl}") == "Kies een reden."
    assert '<option value="2" selected>' in no_reason and "Te &lt;b&gt;groot&lt;/b&gt;</textarea>" in no_reason
    other = refused(api, order, {f"quantity_{fl}": "1", f"reason_{fl}": "other"})
    assert field_error(other, f"note_{fl}") == "Vertel ons alsjeblieft de reden."
    nothing = refused(api, order, {f"quantity_{fl}": "0", f"reason_{fl}": "unwanted"})
    assert "Kies minstens één artikel om terug te sturen." in nothing
    too_many = refused(api, order, {f"quantity_{fl}": "3", f"reason_{fl}": "unwanted"})
    assert field_error(too_many, f"quantity_{fl}") == "Kies hoeveel je wilt terugsturen."
    junk = refused(api, order, {f"quantity_{fl}": "-1", f"reason_{fl}": "unwanted"})
    assert field_error(junk, f"quantity_{fl}") == "Kies hoeveel je wilt terugsturen."
    assert shop.get(order["id"])["returns"] == []


def test_nothing_is_offered_when_returns_are_off_or_nothing_shipped(
    deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    unshipped = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL, customer_locale="nl")
    assert "Artikelen retourneren" not in api.client.get(path(unshipped)).text
    shop.settings(returns_enabled=False)
    order = shipped(shop, mug)
    [fl] = fulfillment_line_ids(deck, order["id"])
    assert "Artikelen retourneren" not in api.client.get(path(order)).text
    answer = refused(api, order, {f"quantity_{fl}": "1", f"reason_{fl}": "unwanted"})
    assert "Voor deze bestelling kun je hier geen retour aanvragen." in answer


def test_a_declined_request_shows_the_shops_message(deck: Orderdeck, api: Api, shop: Shop, mug: int) -> None:
    order = shipped(shop, mug)
    [fl] = fulfillment_line_ids(deck, order["id"])
    api.client.post(path(order) + "/return", data={f"quantity_{fl}": "2", f"reason_{fl}": "unwanted"})
    [ret] = shop.get(order["id"])["returns"]
    assert "Dit artikel wordt al geretourneerd of is terugbetaald." in api.client.get(path(order)).text
    run(
        deck,
        lambda c: commands.decline(
            c, ret["id"], reason="other", note="Gegraveerde mokken nemen we niet terug.", notify=False
        ),
    )
    page = api.client.get(path(order)).text
    assert "We kunnen deze retour niet accepteren." in page and "Gegraveerde mokken nemen we niet terug." in page
    assert f'name="quantity_{fl}"' in page  # declined units may be asked back again


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"return_window_days": 366}, "return_window_days"),
        ({"return_window_days": -1}, "return_window_days"),
        ({"return_window_from": "order"}, "return_window_from"),
        ({"return_shipping_fee": "-5"}, "return_shipping_fee"),
        ({"return_shipping_fee": "cheap"}, "return_shipping_fee"),
        ({"restocking_fee_percentage": 101}, "restocking_fee_percentage"),
        ({"final_sale_tags": ["a,b"]}, "final_sale_tags"),
        ({"return_instructions": "x" * 2001}, "return_instructions"),
    ],
)
def test_a_bad_return_policy_is_refused_naming_the_field(api: Api, values: dict[str, Any], field: str) -> None:
    before = api.ok(api.get("/shop.json"))["shop"]["settings"]
    answer = api.put("/shop/settings.json", {"settings": values})
    assert answer.status_code in (400, 422) and field in answer.text, answer.text
    assert api.ok(api.get("/shop.json"))["shop"]["settings"] == before


def test_the_return_policy_is_kept_and_shown(api: Api) -> None:
    settings = api.ok(api.get("/shop.json"))["shop"]["settings"]
    assert settings["returns_enabled"] is True and settings["return_window_days"] == 30
    assert settings["return_window_from"] == "delivery" and settings["return_requests_need_approval"] is True
    api.ok(
        api.put(
            "/shop/settings.json",
            {
                "settings": {
                    "final_sale_tags": [" sale ", "sale", "outlet"],
                    "return_shipping_fee": 5,
                    "return_instructions": " Box it. ",
                }
            },
        )
    )
    settings = api.ok(api.get("/shop.json"))["shop"]["settings"]
    assert settings["final_sale_tags"] == ["sale", "outlet"]
    assert settings["return_shipping_fee"] == "5.00" and settings["return_instructions"] == "Box it."


def test_refusals_speak_the_shops_language_when_the_order_names_none(
    deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    shop.settings(primary_locale="de")
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    shop.fulfil(order["id"])
    [fl] = fulfillment_line_ids(deck, order["id"])
    answer = refused(api, order, {f"quantity_{fl}": "1", f"reason_{fl}": ""})
    assert '<html lang="de">' in answer and field_error(answer, f"reason_{fl}") == "Wählen Sie einen Grund."
