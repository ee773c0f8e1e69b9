"""Bulk archive in Chromium: tick two orders on the Orders page, choose Archive, confirm, watch
the progress bar, then read the summary; with a screenshot of each step.

The browser tests' server runs without a worker (`--no-worker`), so the test plays the worker:
a Worker on the server's database, in a thread of its own (Playwright's loop holds this one).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from orderdeck.bootstrap import build
from orderdeck.outbox.worker import Worker
from orderdeck.settings import Settings

from .conftest import Server, screenshot


def _order(server: Server, title: str) -> dict[str, Any]:
    body = {"order": {"email": "anna@example.nl", "line_items": [{"title": title, "price": "12.50", "quantity": 1}]}}
    return server.post("/orders.json", body)["order"]  # type: ignore[return-value]


def _work(server: Server) -> None:
    """What the server's worker would do: carry out the queued bulk run."""

    def drain() -> None:
        deck = build(Settings(database_url=server.database_url))
        try:
            asyncio.run(Worker(deck, run_jobs=False).drain())
        finally:
            deck.db.dispose()

    thread = threading.Thread(target=drain)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_bulk_archive_from_the_orders_page(browser: Any, server: Server) -> None:
    server.post("/locations.json", {"location": {"name": "Utrecht"}})
    first, second, untouched = (_order(server, name) for name in ("Espresso cup", "Teapot", "Saucer"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    server.sign_in(page)
    page.goto(server.url + "/admin/orders")

    page.get_by_label(f"Select {first['name']}", exact=True).check()
    page.get_by_label(f"Select {second['name']}", exact=True).check()
    page.get_by_label("Bulk action").select_option(label="Archive")
    screenshot(page, "admin-bulk-1-selected")
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url("**/admin/orders/bulk")
    assert page.get_by_role("heading", name="Archive: 2 orders").is_visible()
    assert page.get_by_role("link", name=first["name"]).is_visible()
    screenshot(page, "admin-bulk-2-confirm")
    page.get_by_role("button", name="Archive 2 orders").click()

    page.wait_for_url("**/admin/bulk/*")
    assert page.get_by_role("heading", name="Waiting to start").is_visible()
    assert page.get_by_role("status").inner_text() == "0 of 2 orders"
    screenshot(page, "admin-bulk-3-progress")

    _work(server)
    # The page polls its progress and shows the summary once the run is finished.
    page.get_by_role("heading", name="Done").wait_for(timeout=15_000)
    assert "2 of 2 archived" in page.locator(".bulk-outcome").inner_text()
    assert page.get_by_text("Olivia Owner", exact=False).first.is_visible()
    screenshot(page, "admin-bulk-4-summary")

    for o in (first, second):
        assert server.get(f"/orders/{o['id']}.json")["order"]["closed_at"] is not None  # type: ignore[index]
    assert server.get(f"/orders/{untouched['id']}.json")["order"]["closed_at"] is None  # type: ignore[index]
    events = server.get(f"/orders/{first['id']}/events.json?verb=closed")["events"]
    assert [e["author"] for e in events] == ["Olivia Owner"]  # type: ignore[index]

    # Archiving them again: each is refused, with the reason, on a tablet.
    page.set_viewport_size({"width": 768, "height": 1000})
    page.goto(server.url + "/admin/orders?status=closed")
    page.get_by_label("Select all orders on this page").check()
    page.get_by_label("Bulk action").select_option(label="Archive")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Archive 2 orders").click()
    page.wait_for_url("**/admin/bulk/*")
    _work(server)
    page.get_by_role("heading", name="Refused orders").wait_for(timeout=15_000)
    refused = page.get_by_role("table", name="Orders that were refused, with the reason")
    assert f"Order {first['name']} is already archived" in refused.inner_text()
    screenshot(page, "admin-bulk-5-refused-tablet")
    page.close()
