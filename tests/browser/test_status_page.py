"""The order status page and order lookup in Chromium, in each of the four languages: what a
customer sees on a phone, found with the keyboard, with a screenshot of each."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Server, screenshot

WORDS = {
    "en": {"order": "Order", "step": "On its way", "find": "Find your order", "miss": "We could not find an order"},
    "nl": {
        "order": "Bestelling",
        "step": "Onderweg",
        "find": "Vind je bestelling",
        "miss": "We konden geen bestelling",
    },
    "de": {
        "order": "Bestellung",
        "step": "Unterwegs",
        "find": "Bestellung finden",
        "miss": "Wir konnten keine Bestellung",
    },
    "fi": {"order": "Tilaus", "step": "Matkalla", "find": "Etsi tilauksesi", "miss": "Näillä tiedoilla ei löytynyt"},
}


@pytest.fixture(scope="module")
def shipped(server: Server) -> dict[str, dict[str, Any]]:
    """One shipped order per language."""
    server.post("/locations.json", {"location": {"name": "Utrecht"}})
    made = {}
    for locale in WORDS:
        order = server.post(
            "/orders.json",
            {
                "order": {
                    "email": f"{locale}@example.com",
                    "customer_locale": locale,
                    "line_items": [{"title": "Espresso cup", "price": "12.50", "quantity": 2}],
                    "shipping_address": {
                        "name": "Anna de Vries",
                        "address1": "Keizersgracht 1",
                        "city": "Amsterdam",
                        "zip": "1015 CJ",
                        "country": "Netherlands",
                        "country_code": "NL",
                    },
                }
            },
        )["order"]
        made[locale] = order
    return made


def _fulfil(server: Server, order: dict[str, Any]) -> None:
    import httpx

    fos = httpx.get(f"{server.api}/orders/{order['id']}/fulfillment_orders.json", headers=server.headers).json()
    server.post(
        "/fulfillments.json",
        {
            "fulfillment": {
                "line_items_by_fulfillment_order": [{"fulfillment_order_id": fos["fulfillment_orders"][0]["id"]}],
                "tracking_info": {"number": "1Z999AA10123456784"},
            }
        },
    )


@pytest.mark.parametrize("locale", list(WORDS))
def test_status_page_on_a_phone(browser: Any, server: Server, shipped: dict[str, dict[str, Any]], locale: str) -> None:
    order = shipped[locale]
    _fulfil(server, order)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale=locale)
    page = context.new_page()
    page.goto(order["order_status_url"])
    assert page.locator("html").get_attribute("lang") == locale
    assert page.get_by_role("heading", level=1).inner_text() == f"{WORDS[locale]['order']} {order['name']}"
    assert page.locator('[aria-current="step"]').inner_text().strip() == WORDS[locale]["step"]
    tracking = page.get_by_role("link", name="1Z999AA10123456784")
    assert "ups.com" in (tracking.get_attribute("href") or "")
    # Nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, f"status-page-{locale}")
    context.close()


@pytest.mark.parametrize("locale", list(WORDS))
def test_lookup_with_the_keyboard(
    browser: Any, server: Server, shipped: dict[str, dict[str, Any]], locale: str
) -> None:
    order = shipped[locale]
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.goto(f"{server.url}/orders/lookup?lang={locale}")
    assert page.get_by_role("heading", level=1).inner_text() == WORDS[locale]["find"]
    # A wrong address: the same answer as for an order that does not exist.
    page.keyboard.press("Tab")
    page.keyboard.type(str(order["order_number"]))
    page.keyboard.press("Tab")
    page.keyboard.type("someone@else.example")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert WORDS[locale]["miss"] in page.get_by_role("alert").inner_text()
    screenshot(page, f"lookup-miss-{locale}")
    # The right one, typed into the labelled fields, opens the order.
    page.get_by_label(
        {
            "en": "E-mail address or phone number",
            "nl": "E-mailadres of telefoonnummer",
            "de": "E-Mail-Adresse oder Telefonnummer",
            "fi": "Sähköpostiosoite tai puhelinnumero",
        }[locale]
    ).fill(f"{locale}@example.com")
    show = {"en": "Show my order", "nl": "Toon mijn bestelling", "de": "Bestellung anzeigen", "fi": "Näytä tilaukseni"}
    page.get_by_role("button", name=show[locale]).click()
    page.wait_for_url("**/orders/status/**")
    assert order["name"] in page.get_by_role("heading", level=1).inner_text()
    screenshot(page, f"lookup-found-{locale}")
    context.close()


CANCEL = {
    "en": ("I ordered the wrong item", "Cancel my order", "Your order is cancelled."),
    "nl": ("Ik heb het verkeerde artikel besteld", "Annuleer mijn bestelling", "Je bestelling is geannuleerd."),
    "de": ("Ich habe den falschen Artikel bestellt", "Bestellung stornieren", "Ihre Bestellung ist storniert."),
    "fi": ("Tilasin väärän tuotteen", "Peru tilaukseni", "Tilauksesi on peruttu."),
}


@pytest.mark.parametrize("locale", list(CANCEL))
def test_the_customer_cancels_from_the_status_page(
    browser: Any, server: Server, shipped: dict[str, dict[str, Any]], locale: str
) -> None:
    import httpx

    httpx.put(
        f"{server.api}/shop/settings.json", json={"settings": {"self_service": True}}, headers=server.headers
    ).raise_for_status()
    order = server.post(
        "/orders.json",
        {
            "order": {
                "email": f"cancel-{locale}@example.com",
                "customer_locale": locale,
                "line_items": [{"title": "Espresso cup", "price": "12.50", "quantity": 1}],
            }
        },
    )["order"]
    reason, button, done = CANCEL[locale]
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(order["order_status_url"])
    page.get_by_label(reason).check()
    screenshot(page, f"self-service-cancel-{locale}")
    page.get_by_role("button", name=button).click()
    page.wait_for_url("**done=cancelled**")
    assert done in page.get_by_role("status").first.inner_text()
    assert page.get_by_role("button", name=button).count() == 0  # no second cancel
    screenshot(page, f"self-service-cancelled-{locale}")
    context.close()
