"""The whole return journey in Chromium (issue 13): a Finnish customer on a phone asks to
return two shirts, one of them for another size; staff approve it with a label and tracking,
receive one shirt back into stock and one damaged, refund what the page suggests, and ship the
exchange once the parcel is in; the customer follows it on the status page. Screenshots of
each step (returns-journey-*.png)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import SCREENSHOTS, Server, screenshot

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
LABEL_URL = "https://labels.example.fi/return-0001.pdf"
RETURN_TRACKING = "JJFI64123450000000001"


def _get(server: Server, path: str) -> Any:
    """The API's JSON, read as the test reads it (nested keys, no casts)."""
    return server.get(path)


def _post(server: Server, path: str, body: object) -> Any:
    return server.post(path, body)


@pytest.fixture(scope="module")
def shirts(server: Server) -> dict[str, int]:
    """A linen shirt in two sizes, ten of each in stock at one location."""
    location = int(_post(server, "/locations.json", {"location": {"name": "Helsinki"}})["location"]["id"])
    stock = {str(location): 10}
    product = _post(
        server,
        "/products.json",
        {
            "product": {
                "title": "Pellavapaita",
                "options": [{"name": "Koko"}],
                "variants": [
                    {"option1": "M", "sku": "LIN-M", "price": "30.00", "inventory_quantities": stock},
                    {"option1": "L", "sku": "LIN-L", "price": "30.00", "inventory_quantities": stock},
                ],
            }
        },
    )["product"]
    medium, large = product["variants"]
    answer = httpx.put(
        f"{server.api}/shop/settings.json",
        json={
            "settings": {
                "returns_enabled": True,
                "returns_allow_exchanges": True,
                "return_requests_need_approval": True,
                "return_instructions": "Pakkaa tuotteet alkuperäiseen pakkaukseen.",
            }
        },
        headers=server.headers,
    )
    assert answer.status_code == 200, answer.text
    return {
        "location": location,
        "medium": int(medium["id"]),
        "large": int(large["id"]),
        "medium_item": int(medium["inventory_item_id"]),
        "large_item": int(large["inventory_item_id"]),
    }


def _shipped_in_two_parcels(server: Server, shirts: dict[str, int]) -> Any:
    """A paid order of two medium shirts, shipped one per parcel: the return form has a row
    per parcel, so each shirt gets its own reason, note and choice of refund or exchange."""
    order = _post(
        server,
        "/orders.json",
        {
            "order": {
                "email": "aino@example.fi",
                "customer_locale": "fi",
                "line_items": [{"variant_id": shirts["medium"], "quantity": 2}],
                "transactions": [{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}],
                "shipping_address": {
                    "name": "Aino Virtanen",
                    "address1": "Mannerheimintie 1",
                    "city": "Helsinki",
                    "zip": "00100",
                    "country": "Finland",
                    "country_code": "FI",
                },
            }
        },
    )["order"]
    assert order["financial_status"] == "paid"
    for number in ("JJFI10000000000000001", "JJFI10000000000000002"):
        fo = _get(server, f"/orders/{order['id']}/fulfillment_orders.json")["fulfillment_orders"][0]
        one = [{"id": fo["line_items"][0]["id"], "quantity": 1}]
        _post(
            server,
            "/fulfillments.json",
            {
                "fulfillment": {
                    "line_items_by_fulfillment_order": [
                        {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": one}
                    ],
                    "tracking_info": {"number": number, "company": "Posti"},
                }
            },
        )
    order = _get(server, f"/orders/{order['id']}.json")["order"]
    assert order["fulfillment_status"] == "fulfilled"
    return order


def _level(server: Server, item: int, location: int) -> Any:
    levels = _get(server, f"/inventory_levels.json?inventory_item_ids={item}")["inventory_levels"]
    return next(lv for lv in levels if lv["location_id"] == location)


def _exchange_holds(server: Server, order_id: int, variant: int) -> tuple[str, list[str]]:
    """The status of the fulfillment order shipping the exchange variant, and its holds' reasons."""
    fos = _get(server, f"/orders/{order_id}/fulfillment_orders.json")["fulfillment_orders"]
    (fo,) = [fo for fo in fos if any(li["variant_id"] == variant for li in fo["line_items"])]
    return fo["status"], [h["reason"] for h in fo["fulfillment_holds"]]


def _flash(page: Any) -> str:
    return str(page.locator(".flash").first.inner_text()).strip()


def _panel_shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("section.returns-panel").screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_a_return_with_an_exchange_from_request_to_shipped_exchange(
    browser: Any, server: Server, shirts: dict[str, int]
) -> None:
    order = _shipped_in_two_parcels(server, shirts)
    location, medium_item, large_item = shirts["location"], shirts["medium_item"], shirts["large_item"]
    assert _level(server, medium_item, location)["on_hand"] == 8

    # 1. The customer, on a phone, in the order's language (the browser's own is English).
    phone = browser.new_context(viewport=PHONE)
    customer = phone.new_page()
    customer.goto(order["order_status_url"])
    assert customer.locator("html").get_attribute("lang") == "fi"
    form = customer.locator("form", has=customer.get_by_role("button", name="Pyydä palautusta"))
    assert customer.get_by_role("heading", name="Palauta tuotteita").is_visible()
    parcels = form.get_by_role("group", name="Pellavapaita - M")
    assert parcels.count() == 2
    first, second = parcels.nth(0), parcels.nth(1)
    first.get_by_label("Montako palautat").select_option("1")
    first.get_by_label("Syy", exact=True).select_option(label="Koko oli liian pieni")
    first.get_by_label("Lisätieto (vapaaehtoinen; pakollinen, jos syy on muu)").fill("Tarvitsen isomman koon.")
    first.get_by_label("Hyvitys vai vaihto").select_option(label="Vaihda tuotteeseen L")
    second.get_by_label("Montako palautat").select_option("1")
    second.get_by_label("Syy", exact=True).select_option(label="Muutin mieleni")
    assert second.get_by_label("Hyvitys vai vaihto").input_value() == ""  # "Hyvitä minulle": money back
    screenshot(customer, "returns-journey-1-customer-form-fi")
    form.get_by_role("button", name="Pyydä palautusta").click()
    customer.wait_for_url("**done=return_requested**")
    assert "Olemme saaneet palautuspyyntösi" in customer.get_by_role("status").first.inner_text()
    returns = customer.locator("#returns")
    assert "Palautuksesi" in returns.get_by_role("heading", level=2).inner_text()
    assert returns.locator('[aria-current="step"]').inner_text().strip() == "Pyydetty"
    assert "Olemme saaneet pyyntösi ja vastaamme siihen pian." in returns.inner_text()
    assert "1 \u00d7 Pellavapaita - L" in returns.inner_text()
    assert "Lähetetään, kun palautuksesi on saapunut" in returns.inner_text()
    assert customer.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(customer, "returns-journey-1-customer-requested-fi")

    made = _get(server, f"/orders/{order['id']}.json")["order"]
    assert made["return_status"] == "return_requested"
    (ret,) = made["returns"]
    assert ret["status"] == "requested" and ret["total_quantity"] == 2
    name = ret["name"]

    # 2. Staff on a desktop: approve, label and tracking, receive, refund.
    desk = browser.new_context(viewport=DESKTOP)
    staff = desk.new_page()
    server.sign_in(staff)
    staff.goto(f"{server.url}/admin/orders/{order['id']}")
    panel = staff.locator("section.returns-panel")
    card = panel.get_by_role("article", name=name)
    assert "Requested" in card.locator(".fo-head").inner_text()
    assert "Tarvitsen isomman koon." in card.inner_text()  # the customer's note
    _panel_shot(staff, "returns-journey-2-admin-panel-before")

    card.get_by_role("button", name="Approve return").click()
    staff.wait_for_load_state()
    assert f"Return {name} was approved." in _flash(staff)
    card = staff.locator("section.returns-panel").get_by_role("article", name=name)
    assert "Open" in card.locator(".fo-head").inner_text()
    # The exchange shirt waits for the returned ones.
    assert "On hold: Awaiting the returned items" in card.locator(".exchange-fo").inner_text()
    assert _exchange_holds(server, order["id"], shirts["large"]) == ("on_hold", ["awaiting_return_items"])

    card.get_by_text("Add label and tracking…").click()
    card.get_by_label("Return label (address of the file)").fill(LABEL_URL)
    card.get_by_label("Carrier").fill("Posti")
    card.get_by_label("Tracking number").fill(RETURN_TRACKING)
    card.get_by_role("button", name="Save label and tracking").click()
    staff.wait_for_load_state()
    assert f"Return {name}: the label and tracking saved." in _flash(staff)
    card = staff.locator("section.returns-panel").get_by_role("article", name=name)
    assert card.get_by_role("link", name="Return label").get_attribute("href") == LABEL_URL
    assert RETURN_TRACKING in card.locator(".delivery").inner_text()
    _panel_shot(staff, "returns-journey-2-admin-panel-approved")
    # The customer sees the approval with the label, the tracking and the shop's instructions.
    customer.reload()
    returns = customer.locator("#returns")
    assert returns.locator('[aria-current="step"]').inner_text().strip() == "Hyväksytty"
    assert returns.get_by_role("link", name="Lataa palautustarra").get_attribute("href") == LABEL_URL
    assert RETURN_TRACKING in returns.inner_text()
    assert "Pakkaa tuotteet alkuperäiseen pakkaukseen." in returns.inner_text()

    # The parcel comes back: one shirt goes back on the shelf, the other is damaged.
    card.get_by_text("Receive items…").click()
    lines = card.locator("fieldset.receive-line")
    assert lines.count() == 2
    lines.nth(0).get_by_label("Restocked", exact=True).fill("1")
    assert lines.nth(0).get_by_label("Restock at").locator("option:checked").inner_text() == "Helsinki"
    lines.nth(1).get_by_label("Not restocked", exact=True).fill("1")
    card.get_by_role("button", name="Receive items").click()
    staff.wait_for_load_state()
    assert f"Return {name}: received 1 restocked, 1 not restocked." in _flash(staff)
    card = staff.locator("section.returns-panel").get_by_role("article", name=name)
    received = card.locator("ul.received").inner_text()
    assert "1 restocked at Helsinki" in received and "1 not restocked" in received
    # Everything is in: the exchange shirt is released to be shipped.
    assert "On hold" not in card.locator(".exchange-fo").inner_text()
    assert _exchange_holds(server, order["id"], shirts["large"]) == ("open", [])

    card.get_by_text("Refund…").click()
    amount = card.get_by_label("Money back to the customer (EUR)")
    # Two shirts back (€60.00) less the one sent in exchange (€30.00).
    assert amount.input_value() == "30.00"
    card.get_by_role("button", name="Refund", exact=True).click()
    staff.wait_for_load_state()
    assert f"Return {name} refunded: €30.00 back to the customer." in _flash(staff)
    # Every item received and refunded: the return closes by itself.
    card = staff.locator("section.returns-panel").get_by_role("article", name=name)
    assert "Closed" in card.locator(".fo-head").inner_text()
    assert card.get_by_role("button", name="Close return").count() == 0
    assert card.get_by_role("button", name="Reopen return").is_visible()
    assert "(every item received and refunded)" in staff.locator("ol.timeline").inner_text()
    _panel_shot(staff, "returns-journey-2-admin-panel-after")

    # 3. The exchange shirt ships from the order's fulfillment orders.
    exchange = staff.locator("article.fo-group", has_text="Pellavapaita - L")
    exchange.get_by_text("Fulfill items").click()
    exchange.get_by_label("Tracking number", exact=True).fill("JJFI20000000000000003")
    exchange.get_by_role("button", name="Fulfill", exact=True).click()
    staff.wait_for_load_state()
    assert _flash(staff).startswith("Fulfilled 1 item")
    screenshot(staff, "returns-journey-3-admin-exchange-shipped")
    desk.close()

    customer.goto(order["order_status_url"])
    returns = customer.locator("#returns")
    assert "Tämä palautus on käsitelty." in returns.inner_text()
    assert returns.locator('[aria-current="step"]').inner_text().strip() == "Hyvitetty"
    assert "Hyvitetty: 30,00" in returns.inner_text()
    # The parcel is back: the label is no longer offered.
    assert returns.get_by_role("link", name="Lataa palautustarra").count() == 0
    exchanged = returns.locator("li", has_text="Pellavapaita - L").inner_text()
    assert "Lähetetty" in exchanged
    assert customer.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(customer, "returns-journey-3-customer-exchange-shipped-fi")
    phone.close()

    # The books: the restocked shirt is back on hand, the damaged one is not, the exchange
    # shirt has left the shelf, and the order says its return is done.
    medium = _level(server, medium_item, location)
    large = _level(server, large_item, location)
    assert (medium["on_hand"], medium["available"], medium["committed"]) == (9, 9, 0)
    assert (large["on_hand"], large["available"], large["committed"]) == (9, 9, 0)
    final = _get(server, f"/orders/{order['id']}.json")["order"]
    assert final["return_status"] == "returned"
    assert final["returns"][0]["status"] == "closed"
