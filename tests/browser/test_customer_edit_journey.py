"""A customer changes their own order in Chromium (issue 14): on a phone, in Dutch, they switch a
shirt to another size on the status page, review the change (the new total, nothing to pay) and
confirm it; the order, the stock and the timeline follow. Screenshots of each step
(customer-edit-journey-*.png)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Server, screenshot

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def shirts(server: Server) -> dict[str, int]:
    """A linen shirt in M and L at the same price, five of each, and the shop letting customers
    change their orders."""
    location = int(server.post("/locations.json", {"location": {"name": "Utrecht"}})["location"]["id"])  # type: ignore[index]
    stock = {str(location): 5}
    product: Any = server.post(
        "/products.json",
        {
            "product": {
                "title": "Linnen overhemd",
                "options": [{"name": "Maat"}],
                "variants": [
                    {"option1": "M", "sku": "LIN-M", "price": "35.00", "inventory_quantities": stock},
                    {"option1": "L", "sku": "LIN-L", "price": "35.00", "inventory_quantities": stock},
                ],
            }
        },
    )["product"]
    answer = httpx.put(
        f"{server.api}/shop/settings.json", json={"settings": {"self_service": True}}, headers=server.headers
    )
    assert answer.status_code == 200, answer.text
    medium, large = product["variants"]
    return {"location": location, "medium": int(medium["id"]), "large": int(large["id"])}


def _level(server: Server, variant: int, location: int) -> Any:
    levels: Any = server.get(f"/inventory_levels.json?inventory_item_ids={variant}")["inventory_levels"]
    return next(lv for lv in levels if lv["location_id"] == location)


def test_a_dutch_customer_switches_a_size_on_a_phone(browser: Any, server: Server, shirts: dict[str, int]) -> None:
    order: Any = server.post(
        "/orders.json",
        {
            "order": {
                "email": "sanne@example.nl",
                "customer_locale": "nl",
                "line_items": [{"variant_id": shirts["medium"], "quantity": 2}],
                "transactions": [{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}],
                "shipping_address": {
                    "name": "Sanne de Boer",
                    "address1": "Oudegracht 12",
                    "city": "Utrecht",
                    "zip": "3511 AB",
                    "country": "Netherlands",
                    "country_code": "NL",
                },
            }
        },
    )["order"]
    assert order["financial_status"] == "paid"

    # 1. The status page, in the order's language (the browser's own is English).
    phone = browser.new_context(viewport=PHONE)
    page = phone.new_page()
    page.goto(order["order_status_url"])
    assert page.locator("html").get_attribute("lang") == "nl"
    section = page.locator("section#edit")
    assert section.get_by_role("heading", name="Artikelen wijzigen").is_visible()
    line = section.get_by_role("group", name="Linnen overhemd - M")
    assert line.get_by_label("Aantal").input_value() == "2"
    sizes = line.get_by_label("Maat of kleur")
    assert sizes.locator("option").all_inner_texts() == ["M (zoals besteld)", "L"]
    sizes.select_option(label="L")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    section.scroll_into_view_if_needed()
    screenshot(page, "customer-edit-journey-1-form-nl")

    # 2. The review: what changes and the new total; nothing is changed yet.
    section.get_by_role("button", name="Controleer je wijziging").click()
    page.wait_for_url("**/edit/review**")
    assert page.get_by_role("heading", name="Controleer je wijziging", level=1).is_visible()
    review = page.locator("section").first
    assert "2 \u00d7 Linnen overhemd - M wordt Linnen overhemd - L" in review.locator("ul.changes").inner_text()
    assert "Nieuw totaal" in review.inner_text() and "70,00" in review.locator("tr.total").inner_text()
    assert "te betalen" not in review.inner_text() and "terug" not in review.inner_text().replace("Terug naar", "")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "customer-edit-journey-2-review-nl")
    unchanged: Any = server.get(f"/orders/{order['id']}.json")["order"]
    assert [li["variant_id"] for li in unchanged["line_items"]] == [shirts["medium"]]
    assert _level(server, shirts["large"], shirts["location"])["available"] == 5

    # 3. Confirmed: back on the status page, with the new size.
    page.get_by_role("button", name="Wijziging bevestigen").click()
    page.wait_for_url("**done=edited**")
    assert "Je bestelling is gewijzigd" in page.get_by_role("status").first.inner_text()
    items = page.locator("section", has=page.get_by_role("heading", name="Artikelen", exact=True))
    assert "L" in items.locator("tbody").inner_text() and "\nM\n" not in items.locator("tbody").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "customer-edit-journey-3-changed-nl")
    phone.close()

    after: Any = server.get(f"/orders/{order['id']}.json")["order"]
    by_variant = {li["variant_id"]: li for li in after["line_items"]}
    assert by_variant[shirts["medium"]]["current_quantity"] == 0
    assert by_variant[shirts["large"]]["current_quantity"] == 2
    assert after["total_price"] == "70.00" and after["financial_status"] == "paid"
    assert _level(server, shirts["medium"], shirts["location"])["available"] == 5
    assert _level(server, shirts["large"], shirts["location"])["available"] == 3
    events: Any = server.get(f"/orders/{order['id']}/events.json?verb=order_edited")["events"]
    assert [e["author"] for e in events] == ["Customer"]
