"""The Shipments page in Chromium (issue 15, S6.1): reached from the admin's navigation, every
shipment with its carrier, tracking link and status; a tab with its count, a carrier filter and
the bulk bar's select-all and message form, on a laptop (1280 px) and a tablet (768 px), with a
screenshot of each step. The page needs no JavaScript: the tab and filter are links and forms."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Server, screenshot


def _shipped(server: Server, email: str, first: str, tracking: str, company: str) -> dict[str, Any]:
    body = {
        "email": email,
        "customer": {"first_name": first, "last_name": "Visser"},
        "line_items": [{"title": "Espresso cup", "price": "12.50", "quantity": 1}],
    }
    order = server.post("/orders.json", {"order": body})["order"]
    fos = httpx.get(f"{server.api}/orders/{order['id']}/fulfillment_orders.json", headers=server.headers).json()  # type: ignore[index]
    made = server.post(
        "/fulfillments.json",
        {
            "fulfillment": {
                "line_items_by_fulfillment_order": [{"fulfillment_order_id": fos["fulfillment_orders"][0]["id"]}],
                "tracking_info": {"number": tracking, "company": company},
            }
        },
    )["fulfillment"]
    return {"order": order, "fulfillment": made}


@pytest.fixture(scope="module")
def parcels(server: Server) -> dict[str, dict[str, Any]]:
    """Anna's UPS parcel out for delivery, Bram's PostNL parcel delivered, Cora's DPD parcel
    with no carrier news yet."""
    server.post("/locations.json", {"location": {"name": "Utrecht"}})
    anna = _shipped(server, "anna@example.nl", "Anna", "1Z999AA10123456784", "UPS")
    bram = _shipped(server, "bram@example.com", "Bram", "3SABCD1234567", "PostNL")
    cora = _shipped(server, "cora@example.org", "Cora", "01234567890123", "DPD")
    for found, status, message in (
        (anna, "out_for_delivery", "With the driver"),
        (bram, "delivered", "Delivered at the front door"),
    ):
        path = f"/orders/{found['order']['id']}/fulfillments/{found['fulfillment']['id']}/events.json"
        server.post(path, {"event": {"status": status, "message": message}})
    return {"anna": anna, "bram": bram, "cora": cora}


def _orders(page: Any) -> list[str]:
    return [cell.split("\n")[0].strip() for cell in page.locator("table.shipments td.order").all_inner_texts()]


@pytest.mark.parametrize("width", [1280, 768])
def test_the_shipments_page(browser: Any, server: Server, parcels: dict[str, Any], width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    server.sign_in(page)
    names = {key: p["order"]["name"] for key, p in parcels.items()}

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Shipments").click()
    page.wait_for_url("**/admin/shipments")
    assert page.get_by_role("heading", level=1).inner_text() == "Shipments"
    assert _orders(page)[:3] == [names["cora"], names["bram"], names["anna"]]
    anna = page.get_by_role("row").filter(has_text=names["anna"])
    assert anna.get_by_text("Out for delivery").is_visible()
    link = anna.get_by_role("link", name="1Z999AA10123456784")
    assert link.get_attribute("href").startswith("https://www.ups.com/")
    assert page.get_by_role("row").filter(has_text=names["cora"]).get_by_text("No carrier news yet").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling of the page
    screenshot(page, f"admin-shipments-list-{width}")

    # A tab with its count: what is delivered.
    tabs = page.get_by_role("navigation", name="Where the parcels are")
    delivered = tabs.get_by_role("link", name="Delivered")
    assert "(1)" in delivered.inner_text()
    delivered.click()
    page.wait_for_url("**tab=delivered**")
    assert _orders(page) == [names["bram"]]
    screenshot(page, f"admin-shipments-delivered-{width}")

    # A filter: the carrier, typed as staff type it.
    page.goto(server.url + "/admin/shipments")
    page.get_by_label("Carrier").fill("ups")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**carrier=ups**")
    assert _orders(page) == [names["anna"]]
    screenshot(page, f"admin-shipments-carrier-{width}")

    # The bulk bar: select all on the page, then the message form for those customers.
    page.goto(server.url + "/admin/shipments?tab=label")
    page.get_by_label("Select all shipments on this page").check()
    page.get_by_label("Bulk action").select_option("message")
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Message customers"
    assert page.get_by_text("1 order", exact=False).first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"admin-shipments-message-{width}")
    context.close()
