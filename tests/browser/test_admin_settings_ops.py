"""The admin's settings for notifications, webhooks and automation in Chromium: editing a template
with its live preview, creating a webhook and seeing a real delivery (and redelivering it), and
enabling an automation rule after its dry run; a screenshot of each step."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from orderdeck.bootstrap import build
from orderdeck.outbox.worker import Worker
from orderdeck.settings import Settings

from ..conftest import LOCAL
from ..integration.test_webhooks import Receiver
from .conftest import Server, screenshot

LAPTOP = {"width": 1280, "height": 900}


def work(server: Server) -> None:
    """Run a worker against the server's database until nothing is due. In its own thread:
    Playwright's sync API keeps an event loop on the main thread while the browser is open."""
    failure: list[BaseException] = []

    def run() -> None:
        deck = build(Settings(database_url=server.database_url, public_url=server.url, allow_private_addresses=LOCAL))
        try:
            asyncio.run(Worker(deck, run_jobs=False).drain())
        except BaseException as exc:  # handed to the test below
            failure.append(exc)
        finally:
            deck.db.dispose()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the worker did not finish"
    if failure:
        raise failure[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def test_edit_a_notification_template_with_its_live_preview(browser: Any, server: Server) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport=LAPTOP)
    server.sign_in(page)
    page.goto(server.url + "/admin/settings/notifications")
    screenshot(page, "admin-templates-list")
    page.get_by_role("link", name="Edit Order confirmation in Dutch").click()
    page.wait_for_url("**/notifications/order_confirmation/nl")
    expect(page.locator("#preview-subject")).to_have_text("Je bestelling #1001 is bevestigd")

    # The preview follows the typing: subject, and the HTML inside its sandboxed frame.
    page.get_by_label("Subject", exact=True).fill("Bedankt, {{ customer.first_name }}! ({{ name }})")
    expect(page.locator("#preview-subject")).to_have_text("Bedankt, Anna! (#1001)")
    page.get_by_label("HTML e-mail body").fill('<h1 style="color:#b91c1c">Hoi {{ customer.first_name }}</h1>')
    expect(page.frame_locator("#preview-html").get_by_role("heading")).to_have_text("Hoi Anna")
    # The frame's CSS stays inside it: the admin's own heading keeps its colour.
    assert page.locator("h1").first.evaluate("e => getComputedStyle(e).color") != "rgb(185, 28, 28)"

    # A mistake is named with its place while typing, and the last good preview stays.
    page.get_by_label("SMS", exact=True).fill("{% if name %}Bestelling {{ name }}")
    expect(page.locator("#preview-problem")).to_contain_text("line 1, column")
    screenshot(page, "admin-templates-preview-problem")
    page.get_by_label("SMS", exact=True).fill("Bestelling {{ name }} is bevestigd")
    expect(page.locator("#preview-sms")).to_have_text("Bestelling #1001 is bevestigd")
    expect(page.locator("#preview-problem")).to_be_hidden()
    screenshot(page, "admin-templates-preview")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Saved the Dutch Order confirmation")
    saved = server.get("/notification_templates/order_confirmation/nl.json")["notification_template"]
    assert saved["customized"] == ["html", "sms", "subject"]  # type: ignore[index]
    assert saved["subject"] == "Bedankt, {{ customer.first_name }}! ({{ name }})"  # type: ignore[index]
    page.goto(server.url + "/admin/settings/notifications")
    screenshot(page, "admin-templates-saved")
    page.close()


def test_create_a_webhook_see_its_delivery_and_redeliver(browser: Any, server: Server, receiver: Receiver) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport=LAPTOP)
    server.sign_in(page)
    page.goto(server.url + "/admin/settings/webhooks")
    page.get_by_role("link", name="Add webhook").click()
    page.get_by_label("Topic").select_option("orders/create")
    page.get_by_label("Address").fill(receiver.url)
    page.get_by_label("Fields").fill("id, name, total_price")
    screenshot(page, "admin-webhooks-new")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Subscribed {receiver.url} to orders/create")
    expect(page.get_by_text("No deliveries yet")).to_be_visible()

    server.post("/locations.json", {"location": {"name": "Utrecht"}})
    order = server.post(
        "/orders.json",
        {"order": {"email": "anna@example.nl", "line_items": [{"title": "Mug", "price": "12.50", "quantity": 2}]}},
    )["order"]
    work(server)
    assert [g.json for g in receiver.got] == [
        {"id": order["id"], "name": order["name"], "total_price": order["total_price"]}  # type: ignore[index]
    ]

    page.reload()
    row = page.locator("table.deliveries tbody tr").first
    expect(row).to_contain_text("Delivered")
    expect(row).to_contain_text("HTTP 200")
    expect(row).to_contain_text(str(order["name"]))  # type: ignore[index]
    screenshot(page, "admin-webhooks-log")

    row.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Attempts")).to_be_visible()
    expect(page.locator("ol.timeline li")).to_have_count(1)
    page.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_role("status").first).to_contain_text("Sending the delivery again")
    expect(page.locator(".page-head .badge")).to_have_text("Pending")
    work(server)
    page.reload()
    expect(page.locator("ol.timeline li")).to_have_count(2)
    expect(page.locator(".page-head .badge")).to_have_text("Delivered")
    assert len(receiver.got) == 2
    assert receiver.got[0].headers["X-Shopify-Webhook-Id"] == receiver.got[1].headers["X-Shopify-Webhook-Id"]
    screenshot(page, "admin-webhooks-redelivered")
    page.close()


def test_enable_an_automation_rule_after_its_dry_run(browser: Any, server: Server) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 768, "height": 1024})  # a tablet
    server.sign_in(page)
    page.goto(server.url + "/admin/settings/automation")
    page.get_by_role("link", name="New rule").click()
    page.get_by_role("link", name="Hold big orders from new customers").click()
    expect(page.get_by_label("Rule", exact=True)).to_have_value(re.compile(r"\nenabled: false\n"))
    page.get_by_role("button", name="Dry run").click()
    expect(page.get_by_role("heading", name="Dry run")).to_be_visible()
    expect(page.locator("#dry-run")).to_contain_text("Hold fulfillment (reason: high_risk_of_fraud")
    screenshot(page, "admin-automation-dry-run")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("status").first).to_contain_text("it is off")

    page.get_by_role("link", name="Automation").click()
    page.get_by_role("button", name="Enable Hold big orders from new customers").click()
    expect(page.get_by_role("status").first).to_contain_text("is on: it runs from now on")
    expect(page.get_by_role("button", name="Disable Hold big orders from new customers")).to_be_visible()
    [rule] = server.get("/automation_rules.json")["automation_rules"]  # type: ignore[misc]
    assert rule["name"] == "Hold big orders from new customers" and rule["enabled"] is True
    assert page.evaluate("document.documentElement.scrollWidth") <= 768  # nothing wider than the tablet
    screenshot(page, "admin-automation-enabled")
    page.close()
