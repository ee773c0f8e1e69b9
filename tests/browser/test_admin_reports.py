"""Reports in Chromium: an empty shop says so; with a demo shop's history the page shows every
report as a chart named for assistive technology, the period and grouping are switched with
the form (chosen dates too, and a wrong pair is explained), a CSV downloads, on a laptop
(1280 px) and on a tablet (768 px), with a screenshot of each step."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from orderdeck.bootstrap import build
from orderdeck.demo import load_demo
from orderdeck.settings import Settings

from .conftest import Server, screenshot

CHARTS = ("Orders placed", "Revenue in EUR", "Cancellations by reason", "Time to fulfill", "Time in transit")


@pytest.fixture(scope="module")
def history(server: Server) -> Server:
    """120 days of a demo shop, written into the server's database (as `orderdeck demo` does)."""
    deck = build(Settings(database_url=server.database_url))
    try:
        load_demo(deck, count=400, console=Console(file=open("/dev/null", "w")), workers=1)  # noqa: SIM115
    finally:
        deck.db.dispose()
    return server


def _open(browser: Any, server: Server, width: int) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    server.sign_in(page)
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url("**/admin/reports")
    return page


def test_an_empty_shop_has_no_orders_in_the_period(browser: Any, server: Server) -> None:
    page = _open(browser, server, 1280)
    assert page.get_by_role("heading", name="Reports").is_visible()
    assert page.get_by_text("No orders in this period").is_visible()
    assert page.get_by_label("Period", exact=True).input_value() == "30"
    screenshot(page, "admin-reports-empty")
    page.close()


@pytest.mark.parametrize("width", [1280, 768])
def test_switch_period_and_grouping(browser: Any, history: Server, width: int, tmp_path: Path) -> None:
    page = _open(browser, history, width)
    for name in CHARTS:
        assert page.get_by_role("img", name=name, exact=True).is_visible(), name
    assert "by day" in page.locator(".period-words").inner_text()
    screenshot(page, f"admin-reports-30-days-{width}")

    page.get_by_label("Period", exact=True).select_option("90")
    page.get_by_label("Group by").select_option("week")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"period=90.*group=week"))
    assert "by week" in page.locator(".period-words").inner_text()
    assert page.get_by_role("img", name="Orders placed", exact=True).is_visible()
    screenshot(page, f"admin-reports-90-days-by-week-{width}")

    # Typing a date moves the period to "Chosen dates" (reports.js); by month.
    page.get_by_label("From", exact=True).fill("2020-01-01")
    assert page.get_by_label("Period", exact=True).input_value() == "custom"
    page.get_by_label("Group by").select_option("month")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"period=custom.*from=2020-01-01.*group=month"))
    assert "1 Jan 2020" in page.locator(".period-words").inner_text()
    orders = page.get_by_role("region", name="Orders and revenue")
    orders.get_by_text("Table of the numbers").click()  # long tables start folded
    table = orders.get_by_role("table", name=re.compile("^Orders and revenue"))
    assert table.get_by_role("row").count() > 60  # one row a month since 2020, and the header
    screenshot(page, f"admin-reports-by-month-{width}")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV of Orders and revenue").click()
    saved = tmp_path / "orders.csv"
    download.value.save_as(saved)
    assert saved.read_text().startswith("Period start,Period end,Orders,Cancelled,Not yet fulfilled,Revenue,Currency")

    page.get_by_label("To", exact=True).fill("2019-12-31")
    page.get_by_role("button", name="Show").click()
    error = page.get_by_text("The end date is before the start date")
    assert error.is_visible()
    assert page.get_by_label("To", exact=True).get_attribute("aria-invalid") == "true"
    assert page.get_by_role("img").count() == 0
    screenshot(page, f"admin-reports-bad-dates-{width}")
    page.close()
