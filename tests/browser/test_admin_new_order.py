"""Creating an order by hand in Chromium: a phone sale filled in by label and keyboard, a
mistake explained at its field, the totals recalculated, the order created and checked through
the REST API; on a laptop and on a tablet, with a screenshot of each step."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import Server, screenshot


@pytest.fixture(scope="module")
def catalogue(server: Server) -> dict[str, Any]:
    location = server.post("/locations.json", {"location": {"name": "Utrecht"}})["location"]
    product = server.post(
        "/products.json",
        {
            "product": {
                "title": "Espresso mug",
                "variants": [
                    {"sku": "MUG-1", "price": "12.50", "inventory_quantities": {str(location["id"]): 20}},
                ],
            }
        },
    )["product"]
    return {"location": location, "variant": product["variants"][0]}


@pytest.mark.parametrize("width", [1280, 768])
def test_create_an_order_for_a_phone_sale(browser: Any, server: Server, catalogue: dict[str, Any], width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    server.sign_in(page)
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Create order").click()
    page.wait_for_url("**/admin/orders/new")
    assert page.get_by_role("heading", name="Create order").is_visible()

    # Find the product by its SKU: typing in the search box and pressing Enter narrows the lists.
    page.get_by_label("Find products").fill("mug-1")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    page.get_by_label("Product 1", exact=True).select_option(value=str(catalogue["variant"]["id"]))
    quantity = page.get_by_label("Quantity of product 1")
    quantity.fill("")
    quantity.press_sequentially("2")
    page.get_by_label("Title of custom item 1").fill("Engraving")
    page.get_by_label("Price of custom item 1").fill("5,00")

    customer = page.get_by_role("region", name="Customer")
    customer.get_by_label("E-mail").fill("anna@example")  # a mistake, explained below
    customer.get_by_label("First name").fill("Anna")
    customer.get_by_label("Last name").fill("de Vries")
    customer.get_by_label("Phone").fill("+31612345678")
    shipping = page.get_by_role("region", name="Shipping address")
    shipping.get_by_label("First name").fill("Anna")
    shipping.get_by_label("Last name").fill("de Vries")
    shipping.get_by_label("Address", exact=True).fill("Keizersgracht 1")
    shipping.get_by_label("Postal code").fill("1015 CJ")
    shipping.get_by_label("City").fill("Amsterdam")
    shipping.get_by_label("Country", exact=True).fill("Netherlands")
    shipping.get_by_label("Country code").fill("NL")

    # Another billing address: unticking the box shows its fields (with the keyboard: Space).
    billing = page.get_by_role("region", name="Billing address")
    assert not billing.get_by_label("City").is_visible()
    billing.get_by_label("Same as the shipping address").focus()
    page.keyboard.press("Space")
    billing.get_by_label("City").fill("Utrecht")
    billing.get_by_label("Address", exact=True).fill("Oudegracht 10")

    page.get_by_label("Shipping method").fill("Courier")
    page.get_by_label("Shipping price").fill("6.95")
    page.get_by_label("Discount", exact=True).fill("5")
    page.get_by_label("Code or reason").fill("PHONE5")
    page.get_by_label("Tags", exact=True).fill("phone")
    page.get_by_label("Payment pending").check()
    page.get_by_label("Payment method").select_option(label="Cash on delivery")
    page.get_by_label("Send the order confirmation to the customer").uncheck()

    page.get_by_role("button", name="Recalculate").click()
    page.wait_for_load_state()
    email = page.get_by_role("region", name="Customer").get_by_label("E-mail")
    assert email.get_attribute("aria-invalid") == "true"
    assert page.get_by_text("is not an e-mail address").is_visible()
    assert page.get_by_role("region", name="Shipping address").get_by_label("City").input_value() == "Amsterdam"
    screenshot(page, f"admin-new-order-error-{width}")

    email.fill("anna@example.nl")
    page.get_by_role("button", name="Recalculate").click()
    page.wait_for_load_state()
    summary = page.get_by_role("region", name="Summary")
    assert "€31.95" in summary.inner_text()  # 2 x 12.50 + 5.00 - 5.00 + 6.95
    screenshot(page, f"admin-new-order-summary-{width}")

    page.get_by_role("button", name="Create order").click()
    page.wait_for_url(re.compile(r".*/admin/orders/\d+$"))
    order_id = int(page.url.rsplit("/", 1)[1])
    screenshot(page, f"admin-new-order-created-{width}")
    order: Any = server.get(f"/orders/{order_id}.json")["order"]
    assert order["source_name"] == "manual"
    assert order["total_price"] == "31.95"
    assert order["financial_status"] == "pending"
    assert order["payment_gateway_names"] == ["cash_on_delivery"]
    assert order["billing_address"]["city"] == "Utrecht" and order["shipping_address"]["city"] == "Amsterdam"
    assert order["customer"]["email"] == "anna@example.nl"
    page.close()
