"""Settings in Chromium: the index and every section of this area, changing a shop setting,
creating a custom status and an API token (which then works against the REST API), found by
their labels, with a screenshot of each step."""

from __future__ import annotations

import re
from typing import Any

import httpx

from .conftest import Server, screenshot


def _page(browser: Any, server: Server, width: int = 1280) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    server.sign_in(page)
    return page


def _section(page: Any, title: str) -> Any:
    """A section's card on the settings index (its name starts with the title)."""
    return page.get_by_role("main").get_by_role("link", name=re.compile(f"^{re.escape(title)}"))


def test_walking_the_settings_sections(browser: Any, server: Server) -> None:
    page = _page(browser, server)
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Settings").click()
    page.wait_for_url("**/admin/settings")
    for title in (
        "Shop",
        "Locations",
        "Custom statuses",
        "Notification templates",
        "Webhooks",
        "Automation",
        "API tokens",
        "Staff",
        "Your account",
    ):
        assert _section(page, title).is_visible(), title
    screenshot(page, "admin-settings-index")

    for link, heading, shot in (
        ("Shop", "Shop settings", "shop"),
        ("Locations", "Locations", "locations"),
        ("Custom statuses", "Custom statuses", "statuses"),
        ("API tokens", "API tokens", "tokens"),
        ("Staff", "Staff", "staff"),
        ("Your account", "Your account", "account"),
    ):
        page.goto(server.url + "/admin/settings")
        _section(page, link).click()
        assert page.get_by_role("heading", level=1).inner_text().startswith(heading)
        screenshot(page, f"admin-settings-{shot}")
    page.close()


def test_changing_a_shop_setting(browser: Any, server: Server) -> None:
    page = _page(browser, server)
    page.goto(server.url + "/admin/settings/shop")
    page.get_by_label("Capture authorized payments").select_option("fulfillment")
    page.get_by_label("Authorization period (days)").fill("14")
    # The browser checks the number boxes itself; the mail server is checked by the service.
    page.get_by_label("New mail server").fill("http://mail.example.com")
    page.get_by_role("button", name="Save settings").click()
    error = page.locator("#e-smtp_url")
    assert error.inner_text().startswith("Must look like smtp://")
    assert page.get_by_label("New mail server").get_attribute("aria-invalid") == "true"
    assert "Nothing was changed" in page.get_by_role("alert").first.inner_text()
    screenshot(page, "admin-settings-shop-refused")
    assert server.get("/shop.json")["shop"]["settings"]["capture_mode"] == "manual"  # type: ignore[index]

    assert page.get_by_label("Capture authorized payments").input_value() == "fulfillment"  # kept as chosen
    page.get_by_label("New mail server").fill("")
    page.get_by_label("Customers may cancel their order").check()
    page.get_by_role("button", name="Save settings").click()
    assert page.get_by_role("status").inner_text() == "Shop settings saved."
    screenshot(page, "admin-settings-shop-saved")
    settings = server.get("/shop.json")["shop"]["settings"]  # type: ignore[index]
    assert settings["capture_mode"] == "fulfillment" and settings["authorization_period_days"] == 14
    assert settings["self_service"] is True
    page.close()


def test_creating_a_custom_status_on_a_tablet(browser: Any, server: Server) -> None:
    page = _page(browser, server, width=768)
    page.goto(server.url + "/admin/settings/statuses")
    page.get_by_role("link", name="Add custom status").click()
    page.get_by_label("Handle").fill("in_production")
    page.get_by_label("English").fill("In production")
    page.get_by_label("Dutch").fill("In productie")
    page.get_by_label("Colour").fill("#7c3aed")
    page.get_by_label("Notify the customer by default").check()
    screenshot(page, "admin-settings-status-form")
    page.get_by_role("button", name="Add custom status").click()
    assert page.get_by_role("status").inner_text() == "Custom status In production added."
    row = page.get_by_role("row").filter(has_text="in_production")
    assert "nl: In productie" in row.inner_text()
    screenshot(page, "admin-settings-status-created")
    [stage] = server.get("/custom_statuses.json")["custom_statuses"]  # type: ignore[misc]
    assert stage["color"] == "#7c3aed" and stage["notify"] is True and stage["names"]["nl"] == "In productie"
    page.close()


def test_creating_an_api_token(browser: Any, server: Server) -> None:
    page = _page(browser, server)
    page.goto(server.url + "/admin/settings/tokens")
    page.get_by_role("link", name="Create API token").click()
    page.get_by_label("Name").fill("Packing station")
    page.get_by_label("read_orders").check()
    page.get_by_label("write_fulfillments").check()
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("API token").input_value()
    assert secret.startswith("odk_")
    assert "only time it is shown" in page.get_by_role("alert").inner_text()
    screenshot(page, "admin-settings-token-created")
    answer = httpx.get(server.api + "/orders.json", headers={"X-Shopify-Access-Token": secret}, timeout=10)
    assert answer.status_code == 200

    page.get_by_role("link", name="I have copied it").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke Packing station").click()
    assert "revoked" in page.get_by_role("status").inner_text()
    screenshot(page, "admin-settings-token-revoked")
    answer = httpx.get(server.api + "/orders.json", headers={"X-Shopify-Access-Token": secret}, timeout=10)
    assert answer.status_code == 401
    page.close()
