"""The order page in Chromium, as staff use it with a mouse or the keyboard: fulfil with
tracking, un-fulfil, comment, and put the order in a stage telling the customer; each step
leaves a screenshot (admin-order-*.png), and one shows the page at tablet width (768 px)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Server, screenshot


@pytest.fixture(scope="module")
def stock(server: Server) -> dict[str, int]:
    """A location with mugs in stock, and a stage orders can be put in."""
    location = server.post("/locations.json", {"location": {"name": "Amsterdam"}})["location"]["id"]
    product = server.post(
        "/products.json",
        {
            "product": {
                "title": "Delft mug",
                "variants": [{"sku": "MUG-1", "price": "12.50", "inventory_quantities": {str(location): 50}}],
            }
        },
    )
    server.post(
        "/custom_statuses.json",
        {"custom_status": {"handle": "engraving", "names": {"en": "Engraving"}, "color": "#7c3aed", "notify": False}},
    )
    return {"location": int(location), "variant": int(product["product"]["variants"][0]["id"])}


def _order(server: Server, stock: dict[str, int]) -> dict[str, Any]:
    return server.post(
        "/orders.json",
        {
            "order": {
                "email": "anna@example.nl",
                "customer": {"first_name": "Anna", "last_name": "de Vries"},
                "line_items": [{"variant_id": stock["variant"], "quantity": 3}],
                "shipping_address": {
                    "first_name": "Anna",
                    "last_name": "de Vries",
                    "address1": "Keizersgracht 1",
                    "city": "Amsterdam",
                    "zip": "1015 CJ",
                    "country": "Netherlands",
                    "country_code": "NL",
                },
                "tags": "vip",
            }
        },
    )["order"]


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())  # "Cancel #1001.1?" and other confirmations
    server.sign_in(tab)
    yield tab
    context.close()


def _flash(page: Any) -> str:
    return str(page.locator(".flash").first.inner_text()).strip()


def test_fulfil_with_tracking_then_unfulfil(page: Any, server: Server, stock: dict[str, int]) -> None:
    order = _order(server, stock)
    page.goto(f"{server.url}/admin/orders/{order['id']}")
    page.get_by_text("Fulfill items").click()
    page.get_by_label("Tracking number", exact=True).fill("1Z999AA10123456784")
    page.get_by_role("button", name="Fulfill", exact=True).click()
    page.wait_for_load_state()
    assert _flash(page).startswith("Fulfilled 3 items as")
    shipment = page.locator("article.shipment").first
    assert "1Z999AA10123456784" in shipment.inner_text()
    assert (
        shipment.get_by_role("link", name="1Z999AA10123456784")
        .get_attribute("href", timeout=2000)
        .startswith("https://www.ups.com/")
    )
    timeline = page.locator("ol.timeline").inner_text()
    assert "3 items fulfilled from Amsterdam with UPS 1Z999AA10123456784." in timeline
    assert "by Olivia Owner" in timeline
    got = server.get(f"/orders/{order['id']}.json")["order"]
    assert got["fulfillment_status"] == "fulfilled"  # type: ignore[index]
    screenshot(page, "admin-order-fulfilled")

    page.get_by_role("button", name="Cancel fulfillment").click()
    page.wait_for_load_state()
    assert "was cancelled; its items are unfulfilled again" in _flash(page)
    got = server.get(f"/orders/{order['id']}.json")["order"]
    assert got["fulfillment_status"] is None  # type: ignore[index]
    assert got["fulfillments"][0]["status"] == "cancelled"  # type: ignore[index]
    assert "Fulfill items" in page.locator("#items-title ~ article").first.inner_text()
    screenshot(page, "admin-order-unfulfilled")


def test_comment_with_the_keyboard(page: Any, server: Server, stock: dict[str, int]) -> None:
    order = _order(server, stock)
    page.goto(f"{server.url}/admin/orders/{order['id']}")
    box = page.get_by_label("Comment", exact=True)
    box.fill("Customer asked for gift wrap")
    box.press("Tab")  # the next stop is the form's button
    focused = page.evaluate("document.activeElement.textContent")
    assert "Add comment" in focused
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert _flash(page) == "Comment added."
    first = page.locator("ol.timeline li").first
    assert "Customer asked for gift wrap" in first.inner_text() and "by Olivia Owner" in first.inner_text()
    events = server.get(f"/orders/{order['id']}/events.json")["events"]
    assert any(e["is_comment"] and e["body"] == "Customer asked for gift wrap" for e in events)  # type: ignore[index, union-attr]
    screenshot(page, "admin-order-comment")


def test_set_custom_status_and_notify(page: Any, server: Server, stock: dict[str, int]) -> None:
    order = _order(server, stock)
    page.goto(f"{server.url}/admin/orders/{order['id']}")
    page.get_by_text("Set status", exact=True).click()
    page.get_by_label("Stage", exact=True).select_option("engraving")
    page.get_by_label("Due date").fill("2030-01-15")
    page.get_by_label("Note for the customer").fill("Your name is being engraved.")
    page.get_by_label("Private note").fill("Fine tip")
    page.get_by_role("button", name="Save and notify customer").click()
    page.wait_for_load_state()
    assert _flash(page) == "Status set to Engraving. The customer is told."
    assert page.locator(".page-head .badge-custom").inner_text() == "Engraving"
    mark = server.get(f"/orders/{order['id']}.json")["order"]["custom_status"]  # type: ignore[index]
    assert mark["handle"] == "engraving" and mark["due_at"].startswith("2030-01-15")  # type: ignore[index]
    assert mark["public_note"] == "Your name is being engraved."  # type: ignore[index]
    assert "Status set to Engraving." in page.locator("ol.timeline li").first.inner_text()
    screenshot(page, "admin-order-custom-status")


def test_the_order_page_on_a_tablet(browser: Any, server: Server, stock: dict[str, int]) -> None:
    order = _order(server, stock)
    context = browser.new_context(viewport={"width": 768, "height": 1024})
    tab = context.new_page()
    try:
        server.sign_in(tab)
        tab.goto(f"{server.url}/admin/orders/{order['id']}")
        # One column, nothing wider than the screen.
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 768, width
        assert tab.get_by_role("heading", name=order["name"]).is_visible()
        assert tab.get_by_role("heading", name="Items and fulfillment").is_visible()
        screenshot(tab, "admin-order-tablet-768")
    finally:
        context.close()
