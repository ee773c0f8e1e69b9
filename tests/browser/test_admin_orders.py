"""The Orders page in Chromium: signing in through the form, the list with its status badges, a
tab, a status filter, a search by e-mail and the bulk bar's select-all, on a laptop (1280 px)
and on a tablet (768 px), with a screenshot of each step."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Server, screenshot

PAID = [{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}]
AUTHORIZED = [{"kind": "authorization", "gateway": "bogus", "credit_card": {"number": "1"}}]


def _order(server: Server, email: str, first: str, last: str, **fields: Any) -> dict[str, Any]:
    body = {
        "email": email,
        "customer": {"first_name": first, "last_name": last},
        "line_items": [{"title": "Espresso cup", "price": "12.50", "quantity": 2}],
        **fields,
    }
    return server.post("/orders.json", {"order": body})["order"]  # type: ignore[return-value]


def _fulfil(server: Server, order: dict[str, Any], tracking: str) -> None:
    fos = httpx.get(f"{server.api}/orders/{order['id']}/fulfillment_orders.json", headers=server.headers).json()
    server.post(
        "/fulfillments.json",
        {
            "fulfillment": {
                "line_items_by_fulfillment_order": [{"fulfillment_order_id": fos["fulfillment_orders"][0]["id"]}],
                "tracking_info": {"number": tracking},
            }
        },
    )


@pytest.fixture(scope="module")
def orders(server: Server) -> dict[str, dict[str, Any]]:
    """#1001 Anna paid and shipped, #1002 Bram authorized (unpaid), #1003 Cora paid and archived,
    #1004 Dirk paid, waiting to ship, tagged wholesale."""
    server.post("/locations.json", {"location": {"name": "Utrecht"}})
    anna = _order(server, "anna@example.nl", "Anna", "Jansen", transactions=PAID)
    _fulfil(server, anna, "1Z999AA10123456784")
    bram = _order(server, "bram@example.com", "Bram", "de Boer", transactions=AUTHORIZED)
    cora = _order(server, "cora@example.org", "Cora", "Smit", transactions=PAID)
    server.post(f"/orders/{cora['id']}/close.json", {})
    dirk = _order(server, "dirk@example.org", "Dirk", "Vos", transactions=PAID, tags="wholesale")
    return {"anna": anna, "bram": bram, "cora": cora, "dirk": dirk}


def _names(page: Any) -> list[str]:
    return [name.strip() for name in page.locator("table.orders td.name a").all_inner_texts()]


@pytest.mark.parametrize("width", [1280, 768])
def test_filter_and_search_the_orders(browser: Any, server: Server, orders: dict[str, Any], width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    server.sign_in(page)

    # The list: every order, newest first, each with its badges; the open-orders count (open and
    # not yet shipped: Bram and Dirk) next to "Orders".
    assert page.get_by_role("heading", level=1).inner_text() == "Orders"
    assert _names(page) == ["#1004", "#1003", "#1002", "#1001"]
    nav = page.get_by_role("navigation", name="Admin")
    assert nav.get_by_role("link", name="Orders").locator(".count").inner_text() == "2"
    anna = page.get_by_role("row").filter(has_text="#1001")
    assert anna.get_by_title("Payment: Paid").is_visible()
    assert anna.get_by_title("Fulfillment: Fulfilled").is_visible()
    assert page.get_by_role("row").filter(has_text="#1003").get_by_title("Order: Archived").is_visible()
    assert page.get_by_role("row").filter(has_text="#1002").get_by_title("Payment: Authorized").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling of the page
    screenshot(page, f"admin-orders-list-{width}")

    # A tab: the archived orders.
    page.get_by_role("navigation", name="Views").get_by_role("link", name="Archived").click()
    page.wait_for_url("**/admin/orders?status=closed")
    assert _names(page) == ["#1003"]
    assert page.get_by_role("link", name="Archived", exact=True).get_attribute("aria-current") == "page"
    screenshot(page, f"admin-orders-tab-archived-{width}")

    # A status filter on the Open tab: open orders that are paid.
    page.get_by_role("navigation", name="Views").get_by_role("link", name="Open").click()
    page.get_by_label("Payment", exact=True).select_option("paid")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**financial_status=paid**")
    assert _names(page) == ["#1004", "#1001"]
    assert page.locator("#orders-count").inner_text() == "2 orders"
    screenshot(page, f"admin-orders-filter-paid-{width}")

    # A search by e-mail, typed and sent with Enter.
    page.get_by_role("link", name="Clear filters").click()
    search = page.get_by_label("Search orders")
    search.fill("bram@example.com")
    search.press("Enter")
    page.wait_for_url("**q=bram%40example.com**")
    assert _names(page) == ["#1002"]
    assert page.get_by_role("row").filter(has_text="#1002").get_by_text("Bram de Boer").is_visible()
    screenshot(page, f"admin-orders-search-{width}")

    # The bulk bar: select every order on the page with the keyboard, then choose an action.
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_label("Select all orders on this page").focus()
    page.keyboard.press("Space")
    assert page.get_by_label("Select #1003").is_checked() and page.get_by_label("Select #1001").is_checked()
    assert page.get_by_label("Selected orders").is_checked()
    assert page.get_by_label("All 4 orders that match").is_visible()
    page.get_by_label("Bulk action").select_option("archive")
    assert page.get_by_role("button", name="Continue").is_enabled()
    screenshot(page, f"admin-orders-bulk-bar-{width}")
    context.close()


def test_a_bad_filter_is_explained_in_the_page(browser: Any, server: Server, orders: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    server.sign_in(page)
    answer = page.goto(f"{server.url}/admin/orders?created_from=2026-02-31")
    assert answer is not None and answer.status == 422
    assert "is not a date" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Created from").get_attribute("aria-invalid") == "true"
    screenshot(page, "admin-orders-bad-filter")
    context.close()
