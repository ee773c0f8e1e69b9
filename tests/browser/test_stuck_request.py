"""A rejected fulfillment request explained on the order page, in Chromium (issue 15, S8.3): the
Stuck page lists the order with the reason and the next step; the order page's banner gives the
service's reason and message and the next steps (request again, move, cancel); requesting again
clears it. Screenshots of each step."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Server, screenshot


@pytest.fixture(scope="module")
def rejected(server: Server) -> dict[str, Any]:
    """Bram's order sent to Mars Fulfillment, which rejected it: out of stock."""
    service = server.post(
        "/fulfillment_services.json",
        {"fulfillment_service": {"name": "Mars Fulfillment", "callback_url": "http://127.0.0.1:9/mars"}},
    )["fulfillment_service"]
    at = service["location_id"]  # type: ignore[index]
    utrecht = server.post("/locations.json", {"location": {"name": "Utrecht"}})["location"]["id"]  # type: ignore[index]
    variant = {"sku": "CUP-1", "price": "12.50", "inventory_quantities": {str(at): 4, str(utrecht): 4}}
    product = server.post("/products.json", {"product": {"title": "Espresso cup", "variants": [variant]}})
    variant_id = product["product"]["variants"][0]["id"]  # type: ignore[index]
    body = {
        "email": "bram@example.com",
        "customer": {"first_name": "Bram", "last_name": "Visser"},
        "line_items": [{"variant_id": variant_id, "quantity": 2}],
    }
    order = server.post("/orders.json", {"order": body})["order"]
    fos = httpx.get(f"{server.api}/orders/{order['id']}/fulfillment_orders.json", headers=server.headers).json()  # type: ignore[index]
    fo = next(f for f in fos["fulfillment_orders"] if f["assigned_location_id"] == at)
    server.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request.json", {"fulfillment_request": {}})
    answer = {"message": "No espresso cups left on the shelf.", "reason": "inventory_out_of_stock"}
    server.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request/reject.json", {"fulfillment_request": answer})
    return {"order": order, "fo": fo}


def test_a_rejected_request_is_explained_with_the_next_step(
    browser: Any, server: Server, rejected: dict[str, Any]
) -> None:
    order = rejected["order"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    server.sign_in(page)

    page.get_by_role("link", name="Stuck", exact=True).click()
    page.wait_for_url("**/admin/stuck")
    assert page.get_by_role("heading", name="Stuck orders").is_visible()
    row = page.locator("table.stuck-list tbody tr").filter(has_text=order["name"])
    assert "Request rejected" in row.inner_text() and "Mars Fulfillment" in row.inner_text()
    assert "Move the items to another location" in row.inner_text()
    screenshot(page, "stuck-page")

    row.get_by_role("link", name=order["name"]).click()
    page.wait_for_url(f"**/admin/orders/{order['id']}#stuck")
    banner = page.get_by_role("alert").filter(has_text="This order is stuck")
    words = banner.inner_text()
    assert "Mars Fulfillment rejected the fulfillment request (inventory out of stock)" in words
    assert "No espresso cups left on the shelf" in words
    assert "Next step: Move the items to another location, or request again once Mars Fulfillment has stock." in words
    assert banner.get_by_role("link", name="Move to another location").is_visible()
    assert banner.get_by_role("link", name="Cancel the order").is_visible()
    screenshot(page, "stuck-order-banner")

    banner.get_by_role("button", name="Request fulfillment again from Mars Fulfillment").click()
    page.wait_for_url(f"**/admin/orders/{order['id']}")
    assert page.get_by_text("Fulfillment requested again; the service is notified.").is_visible()
    assert page.get_by_role("alert").filter(has_text="This order is stuck").count() == 0
    screenshot(page, "stuck-order-requested-again")
    context.close()
