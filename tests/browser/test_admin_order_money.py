"""Cancelling and refunding an order in the admin, in Chromium: the cancel dialog with a restock
choice and a staff note on a laptop, and a refund (items back in stock, the suggested amount
worked out as the quantity is typed) on a tablet. Screenshots of each step."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Server, screenshot


@pytest.fixture(scope="module")
def mug(server: Server) -> dict[str, int]:
    location = server.post("/locations.json", {"location": {"name": "Amsterdam"}})["location"]["id"]
    variant = {"sku": "MUG-1", "price": "12.50", "inventory_quantities": {str(location): 20}}
    product = server.post("/products.json", {"product": {"title": "Delft mug", "variants": [variant]}})["product"]
    return {"location": int(location), "variant": int(product["variants"][0]["id"])}  # type: ignore[index, call-overload]


def _paid_order(server: Server, mug: dict[str, int], quantity: int) -> dict[str, Any]:
    body = {
        "order": {
            "email": "anna@example.nl",
            "line_items": [{"variant_id": mug["variant"], "quantity": quantity}],
            "transactions": [{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}],
        }
    }
    return server.post("/orders.json", body)["order"]  # type: ignore[return-value]


def _available(server: Server, mug: dict[str, int]) -> int:
    levels = server.get(f"/inventory_levels.json?inventory_item_ids={mug['variant']}")["inventory_levels"]
    return next(int(lv["available"]) for lv in levels if lv["location_id"] == mug["location"])  # type: ignore[union-attr]


def test_cancel_with_restock_through_the_dialog(browser: Any, server: Server, mug: dict[str, int]) -> None:
    before = _available(server, mug)
    order = _paid_order(server, mug, 3)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    server.sign_in(page)
    page.goto(f"{server.url}/admin/orders/{order['id']}")

    page.get_by_role("button", name="Cancel order…").click()
    dialog = page.get_by_role("dialog", name=f"Cancel order {order['name']}")
    assert dialog.is_visible()
    dialog.get_by_label("Reason for cancelling").select_option(label="Items unavailable")
    dialog.get_by_label("Delft mug").fill("2")  # one came back broken: it stays out of stock
    assert dialog.get_by_label("Refund to the original payment").is_checked()
    dialog.get_by_label("Staff note").fill("Supplier ran out; one mug was broken")
    screenshot(page, "admin-order-cancel-dialog")
    dialog.get_by_role("button", name="Cancel this order").click()

    page.wait_for_url(f"**/admin/orders/{order['id']}")
    flash = page.get_by_role("status")
    assert "was cancelled; €37.50 refunded; 2 items back in stock" in flash.inner_text()
    assert "Supplier ran out; one mug was broken" in page.locator("main").inner_text()
    screenshot(page, "admin-order-cancel-done")

    after = server.get(f"/orders/{order['id']}.json")["order"]
    assert after["cancel_reason"] == "inventory" and after["financial_status"] == "refunded"  # type: ignore[index]
    assert _available(server, mug) == before - 1
    page.close()


def test_cancel_with_the_keyboard_closes_without_cancelling(browser: Any, server: Server, mug: dict[str, int]) -> None:
    order = _paid_order(server, mug, 1)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    server.sign_in(page)
    page.goto(f"{server.url}/admin/orders/{order['id']}")
    page.get_by_role("button", name="Cancel order…").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Cancel order {order['name']}")
    assert dialog.is_visible()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert server.get(f"/orders/{order['id']}.json")["order"]["cancelled_at"] is None  # type: ignore[index]
    page.close()


def test_refund_an_item_back_into_stock_on_a_tablet(browser: Any, server: Server, mug: dict[str, int]) -> None:
    order = _paid_order(server, mug, 2)
    before = _available(server, mug)
    page = browser.new_page(viewport={"width": 768, "height": 1024})
    server.sign_in(page)
    page.goto(f"{server.url}/admin/orders/{order['id']}")
    page.get_by_role("link", name="Refund…").click()
    page.wait_for_url(f"**/admin/orders/{order['id']}/refund")

    page.get_by_label("Quantity of Delft mug to refund").fill("1")
    assert page.get_by_label("Restock Delft mug").is_checked()
    # The suggestion follows the quantity (worked out by the server, nothing changed yet).
    page.get_by_text("Suggested refund").wait_for()
    assert "€12.50" in page.locator("[data-refund-summary]").inner_text()
    page.get_by_label("Reason for the refund").fill("Arrived chipped")
    screenshot(page, "admin-order-refund-form")
    page.get_by_role("button", name="Refund", exact=True).click()

    page.wait_for_url(f"**/admin/orders/{order['id']}")
    assert "Refunded €12.50 for 1 item." in page.get_by_role("status").inner_text()
    screenshot(page, "admin-order-refund-done")
    after = server.get(f"/orders/{order['id']}.json")["order"]
    assert after["financial_status"] == "partially_refunded"  # type: ignore[index]
    assert _available(server, mug) == before + 1
    page.close()


def test_refund_without_javascript_uses_the_button(browser: Any, server: Server, mug: dict[str, int]) -> None:
    order = _paid_order(server, mug, 1)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    server.sign_in(page)
    page.goto(f"{server.url}/admin/orders/{order['id']}/refund")
    page.get_by_label("Quantity of Delft mug to refund").fill("1")
    page.get_by_role("button", name="Update suggested amount").click()
    assert "€12.50" in page.locator("[data-refund-summary]").inner_text()
    page.get_by_role("button", name="Refund", exact=True).click()
    page.wait_for_url(f"**/admin/orders/{order['id']}")
    assert (
        httpx.get(f"{server.api}/orders/{order['id']}.json", headers=server.headers).json()["order"]["financial_status"]
        == "refunded"
    )
    context.close()


def test_capture_part_of_a_payment_in_the_customers_currency(browser: Any, server: Server, mug: dict[str, int]) -> None:
    body = {
        "order": {
            "email": "sam@example.com",
            "line_items": [{"variant_id": mug["variant"], "quantity": 2}],
            "presentment_currency": "USD",
            "exchange_rate": "1.10",
            "transactions": [{"kind": "authorization", "gateway": "bogus", "credit_card": {"number": "1"}}],
        }
    }
    order = server.post("/orders.json", body)["order"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    server.sign_in(page)
    page.goto(f"{server.url}/admin/orders/{order['id']}")  # type: ignore[index]
    summary = page.locator("table.money-summary").inner_text()
    assert "€25.00" in summary and "$27.50" in summary  # the shop's and the customer's currency
    amount = page.get_by_label("Amount to capture (USD)")
    assert amount.input_value() == "27.50"
    amount.fill("20.00")
    screenshot(page, "admin-order-payment-capture")
    page.get_by_role("button", name="Capture payment").click()
    page.wait_for_url(f"**/admin/orders/{order['id']}")  # type: ignore[index]
    assert "Captured $20.00." in page.get_by_role("status").inner_text()
    assert page.get_by_label("Amount to capture (USD)").input_value() == "7.50"
    screenshot(page, "admin-order-payment-captured")
    after = server.get(f"/orders/{order['id']}.json")["order"]  # type: ignore[index]
    assert after["financial_status"] == "partially_paid"  # type: ignore[index]
    page.close()
