"""An order edit in Chromium (issue 14): a customer who paid by card authorization phones to swap
the linen tote for a postcard set and have the order posted. Staff edit the order: they find and
add the postcard set, drop the tote and add PostNL shipping, see €12.40 to collect before
committing, commit with a note and the "Order edited" e-mail, then capture the €12.40 from the
card authorization the page offers next. Screenshots of each step (order-edit-journey-*.png)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import SCREENSHOTS, Server, screenshot

DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def products(server: Server) -> dict[str, int]:
    """The shop's three products, priced so the edit leaves exactly €12.40 to collect:
    an espresso cup (6.50) stays, the tote (24.00) goes, the postcards (2.95) and shipping
    (2.95) come in; nothing was captured yet, so the new total is what is to collect."""
    location = int(server.post("/locations.json", {"location": {"name": "Utrecht"}})["location"]["id"])  # type: ignore[index]
    made = {"location": location}
    for key, title, sku, price in (
        ("cup", "Espresso cup", "CUP-1", "6.50"),
        ("tote", "Linen tote", "TOTE-1", "24.00"),
        ("postcards", "Postcard set", "POST-1", "2.95"),
    ):
        variant = {"sku": sku, "price": price, "inventory_quantities": {str(location): 5}}
        product: Any = server.post("/products.json", {"product": {"title": title, "variants": [variant]}})
        made[key] = int(product["product"]["variants"][0]["id"])
    return made


def _level(server: Server, variant: int, location: int) -> Any:
    levels: Any = server.get(f"/inventory_levels.json?inventory_item_ids={variant}")
    return next(lv for lv in levels["inventory_levels"] if lv["location_id"] == location)


def _flash(page: Any) -> str:
    return str(page.locator(".flash").first.inner_text()).strip()


def _card_shot(page: Any, selector: str, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(selector).first.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_staff_swap_an_item_add_shipping_commit_and_capture_what_is_to_collect(
    browser: Any, server: Server, products: dict[str, int]
) -> None:
    answer: Any = server.post(
        "/orders.json",
        {
            "order": {
                "email": "sanne@example.nl",
                "line_items": [
                    {"variant_id": products["cup"], "quantity": 1},
                    {"variant_id": products["tote"], "quantity": 1},
                ],
                "transactions": [{"kind": "authorization", "gateway": "bogus", "credit_card": {"number": "1"}}],
            }
        },
    )
    order = answer["order"]
    assert order["total_price"] == "30.50" and order["financial_status"] == "authorized"
    location = products["location"]

    desk = browser.new_context(viewport=DESKTOP)
    staff = desk.new_page()
    server.sign_in(staff)
    staff.goto(f"{server.url}/admin/orders/{order['id']}")
    staff.get_by_role("button", name="Edit order").click()
    staff.wait_for_url(f"**/admin/orders/{order['id']}/edits/*")
    assert staff.get_by_role("heading", level=1).inner_text() == f"Edit order {order['name']}"

    # 1. Find the postcard set in the catalogue and add it.
    staff.get_by_label("Find products").fill("postcard")
    staff.get_by_role("button", name="Find", exact=True).click()
    staff.wait_for_load_state()
    adding = staff.locator("form.add-variant")
    adding.get_by_label("Product").select_option(label="Postcard set · SKU POST-1 · €2.95")
    adding.get_by_label("Quantity").fill("1")
    adding.get_by_role("button", name="Add product").click()
    staff.wait_for_load_state()
    assert _flash(staff) == "Added 1 × Postcard set."

    # 2. Drop the tote (its unit goes back on the shelf when the edit is committed).
    staff.get_by_role("button", name="Remove Linen tote").click()
    staff.wait_for_load_state()
    assert _flash(staff) == "Linen tote: removed."
    tote_row = staff.locator("table.edit-lines tr", has_text="Linen tote").first
    assert "Removed, back in stock" in tote_row.inner_text()

    # 3. Add shipping by hand; a mistyped price is refused with the reason at the form.
    shipping = staff.get_by_role("group", name="Add shipping")
    shipping.get_by_label("Shipping method").fill("PostNL")
    shipping.get_by_label("Shipping price (EUR)").fill("2.95x")
    shipping.get_by_role("button", name="Add shipping").click()
    staff.wait_for_load_state()
    refusal = "Price: '2.95x' is not an amount; enter one such as 4.95. Nothing was changed."
    assert staff.get_by_role("alert").inner_text().strip() == refusal
    shipping = staff.get_by_role("group", name="Add shipping")
    assert refusal in shipping.inner_text()
    assert shipping.get_by_label("Shipping method").input_value() == "PostNL"  # as typed
    assert shipping.get_by_label("Shipping price (EUR)").get_attribute("aria-invalid") == "true"
    _card_shot(staff, "section[aria-labelledby=shipping-title]", "order-edit-journey-1-refused-shipping")
    shipping.get_by_label("Shipping price (EUR)").fill("2.95")
    shipping.get_by_role("button", name="Add shipping").click()
    staff.wait_for_load_state()
    assert _flash(staff) == "Shipping PostNL added."

    # Before committing: the new total and what is to collect.
    summary = staff.locator("section.edit-summary")
    text = summary.inner_text()
    assert "€12.40" in summary.get_by_role("row", name="New total").inner_text()
    assert "€30.50" in summary.get_by_role("row", name="Total before").inner_text()
    assert summary.locator("#edit-balance strong").inner_text() == "€12.40 to collect"
    assert "An open authorization of €30.50 covers it" in text
    assert server.get(f"/orders/{order['id']}.json")["order"]["total_price"] == "30.50"  # type: ignore[index]
    screenshot(staff, "order-edit-journey-1-before-commit")
    _card_shot(staff, "section.edit-summary", "order-edit-journey-1-summary")

    # 4. Commit with a note, the customer told.
    summary.get_by_label("Reason for the edit").fill("Customer phoned: postcards instead of the tote, posted")
    notify = summary.get_by_label("Send the customer the “Order edited” e-mail")
    assert notify.is_checked()
    summary.get_by_role("button", name="Commit changes").click()
    staff.wait_for_load_state()
    assert _flash(staff) == f"Order {order['name']} was edited. €12.40 is left to collect. The customer is told."
    done = staff.locator("section#done-title, section.card", has_text="Committed").first
    assert "Added 1 × Postcard set; removed 1 × Linen tote; shipping PostNL 2.95 EUR." in done.inner_text()
    next_step = staff.locator("#next-step")
    assert "€12.40 to collect" in next_step.inner_text()
    assert "the open authorization (bogus) covers it" in next_step.inner_text()
    assert next_step.get_by_label("Amount to capture (EUR)").input_value() == "12.40"
    screenshot(staff, "order-edit-journey-2-committed")

    edited: Any = server.get(f"/orders/{order['id']}.json")
    edited = edited["order"]
    assert edited["total_price"] == "12.40" and edited["total_outstanding"] == "12.40"
    tote = next(li for li in edited["line_items"] if li["variant_id"] == products["tote"])
    assert tote["current_quantity"] == 0 and tote["fulfillable_quantity"] == 0
    assert _level(server, products["tote"], location)["available"] == 5  # back in stock
    assert _level(server, products["postcards"], location)["available"] == 4  # reserved for the order

    # 5. Capture what the edit left to collect.
    next_step.get_by_role("button", name="Capture €12.40").click()
    staff.wait_for_url(f"**/admin/orders/{order['id']}")
    assert _flash(staff) == "Captured €12.40."
    paid: Any = server.get(f"/orders/{order['id']}.json")
    paid = paid["order"]
    assert paid["financial_status"] == "paid" and paid["total_outstanding"] == "0.00"
    # The order page: the tote is struck as removed by the edit, not among the items to ship;
    # the timeline says what the edit did and who did it.
    items = staff.locator("section", has=staff.get_by_role("heading", name="Items and fulfillment"))
    assert "1 × Linen tote — removed by an edit; not to ship." in items.inner_text()
    assert items.locator("article.fo-group", has_text="Linen tote").count() == 0
    timeline = staff.locator("ol.timeline").inner_text()
    assert "Added 1 × Postcard set; removed 1 × Linen tote; shipping PostNL 2.95 EUR." in timeline
    screenshot(staff, "order-edit-journey-3-captured")
    desk.close()
