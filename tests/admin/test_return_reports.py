"""The Returns reports (issue 13): units returned by reason and by product over time, the return
rate, each with its chart, table and CSV; declined and cancelled returns gave nothing back and
are not counted. Returns are made through the commands every caller uses, at known times (the
test clock), in the shop's time zone (Europe/Amsterdam, UTC+1 in November).

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from orderdeck.domain import returns as rules
from orderdeck.services import returns as commands
from orderdeck.services.context import Orderdeck
from tests.conftest import SELL, Clock, Shop
from tests.integration.returns_steps import fulfillment_line_ids, run

from .conftest import AdminClient

DAYS = "period=custom&from=2026-11-02&to=2026-11-04&group=day"


def report(owner: AdminClient, name: str, query: str = DAYS) -> list[list[str]]:
    answer = owner.page(f"/admin/reports/{name}.csv?{query}")
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.text)))


def at(clock: Clock, moment: str) -> None:
    clock.now = datetime.fromisoformat(moment).replace(tzinfo=UTC)


def give_back(deck: Orderdeck, order_id: int, line: int, quantity: int, reason: str, status: str = "open") -> int:
    """A return of `quantity` units of the order's `line`-th shipped line; its id."""
    fl = fulfillment_line_ids(deck, order_id)[line]
    wanted = rules.ReturnRequest(
        lines=[rules.ReturnLineRequest(fulfillment_line_item_id=fl, quantity=quantity, return_reason=reason)]
    )  # type: ignore[call-arg]
    _, ret = run(deck, lambda c: commands.start(c, order_id, commands.StartReturn(wanted, status=status)))
    return ret.id


@pytest.fixture
def returned(deck: Orderdeck, shop: Shop, clock: Clock) -> dict[str, Any]:
    """Two orders placed and shipped on Mon 2 Nov 2026 (3 mugs and a kettle; 2 mugs), then:

    Tue 3 Nov 11:00  2 mugs of the first back, defective (requested: counted, units are asked back)
    Tue 3 Nov 12:00  the kettle back, size too large (open)
    Tue 3 Nov 13:00  a mug of the second, unwanted: declined (not counted)
    Tue 3 Nov 23:30  a mug of the second, style: cancelled (not counted; Wednesday in the shop)
    Wed 4 Nov 10:00  a mug of the second, colour (open)
    """
    at(clock, "2026-11-02 08:00")
    here = shop.location()
    mug = shop.product("MUG-1", "10.00", {here: 100}, title="Stoneware mug")
    kettle = shop.product("KETTLE-1", "50.00", {here: 100}, title="Copper kettle")
    at(clock, "2026-11-02 09:30")
    first = shop.order([{"variant_id": mug, "quantity": 3}, {"variant_id": kettle, "quantity": 1}], transactions=SELL)
    second = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    shop.fulfil(first["id"])
    shop.fulfil(second["id"])
    at(clock, "2026-11-03 11:00")
    give_back(deck, first["id"], 0, 2, "defective", status="requested")
    at(clock, "2026-11-03 12:00")
    give_back(deck, first["id"], 1, 1, "size_too_large")
    at(clock, "2026-11-03 13:00")
    declined = give_back(deck, second["id"], 0, 1, "unwanted", status="requested")
    run(deck, lambda c: commands.decline(c, declined, reason="other", note=None, notify=False))
    at(clock, "2026-11-03 23:30")
    cancelled = give_back(deck, second["id"], 0, 1, "style")
    run(deck, lambda c: commands.cancel(c, cancelled))
    at(clock, "2026-11-04 10:00")
    give_back(deck, second["id"], 0, 1, "color")
    at(clock, "2026-11-05 09:00")
    products = {li["sku"]: str(li["product_id"]) for li in first["line_items"]}
    return {"mug": products["MUG-1"], "kettle": products["KETTLE-1"]}


def test_returned_units_by_reason_with_the_return_rate(owner: AdminClient, returned: dict[str, Any]) -> None:
    rows = report(owner, "returns-by-reason")
    assert rows == [
        [
            "Period start",
            "Period end",
            "Size was too large",
            "Damaged or defective",
            "Colour",
            "Returned units",
            "Fulfilled units",
            "Return rate (%)",
        ],
        # 6 units shipped of the orders placed on Monday; nothing returned yet
        ["2026-11-02", "2026-11-02", "0", "0", "0", "0", "6", "0.0"],
        # no orders placed on Tuesday or Wednesday: returns but no rate
        ["2026-11-03", "2026-11-03", "1", "2", "0", "3", "0", ""],
        ["2026-11-04", "2026-11-04", "0", "0", "1", "1", "0", ""],
        ["2026-11-02", "2026-11-04", "1", "2", "1", "4", "6", "66.7"],
    ]
    by_week = report(owner, "returns-by-reason", "period=custom&from=2026-11-02&to=2026-11-08&group=week")
    assert by_week[1:] == [
        ["2026-11-02", "2026-11-08", "1", "2", "1", "4", "6", "66.7"],
        ["2026-11-02", "2026-11-08", "1", "2", "1", "4", "6", "66.7"],
    ]


def test_returned_units_by_product_and_their_return_rate(owner: AdminClient, returned: dict[str, Any]) -> None:
    mug, kettle = returned["mug"], returned["kettle"]
    assert report(owner, "returns-by-product") == [
        ["Period start", "Period end", "Product ID", "Product", "Returned units"],
        ["2026-11-03", "2026-11-03", mug, "Stoneware mug", "2"],
        ["2026-11-03", "2026-11-03", kettle, "Copper kettle", "1"],
        ["2026-11-04", "2026-11-04", mug, "Stoneware mug", "1"],
    ]
    assert report(owner, "return-rate-by-product") == [
        ["Period start", "Period end", "Product ID", "Product", "Fulfilled units", "Returned units", "Return rate (%)"],
        ["2026-11-02", "2026-11-04", mug, "Stoneware mug", "5", "3", "60.0"],
        ["2026-11-02", "2026-11-04", kettle, "Copper kettle", "1", "1", "100.0"],
    ]


def test_the_page_shows_the_same_numbers_as_the_csv(owner: AdminClient, returned: dict[str, Any]) -> None:
    page = owner.page(f"/admin/reports?{DAYS}").text
    for title in ("Returned units by reason", "Return rate", "Returned units by product", "Return rate by product"):
        assert re.search(rf'<svg [^>]*role="img"[^>]*><title id="[^"]+">{title}</title><desc ', page), title
    for key in ("returns-by-reason", "returns-by-product", "return-rate-by-product"):
        assert f'href="/admin/reports/{key}.csv?period=custom&amp;from=2026-11-02&amp;to=2026-11-04' in page
    section = page[page.index('id="returns-by-reason"') : page.index('id="returns-by-product"')]
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", section)
    whole = cells.index("Whole period")
    assert cells[whole : whole + 8] == ["Whole period", "1", "2", "1", "4", "6", "66.7 %"]
    assert "4 in all, by reason: Size was too large 1, Damaged or defective 2, Colour 1." in section
    rates = page[page.index('id="return-rate-by-product"') :]
    assert re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", rates) == [
        "Product",
        "Fulfilled units",
        "Returned units",
        "Return rate (%)",
        "Stoneware mug",
        "5",
        "3",
        "60.0 %",
        "Copper kettle",
        "1",
        "1",
        "100.0 %",
    ]


def test_returns_of_orders_placed_before_the_period_still_show(owner: AdminClient, returned: dict[str, Any]) -> None:
    page = owner.page("/admin/reports?period=custom&from=2026-11-04&to=2026-11-04").text
    assert "No orders in this period" not in page
    assert "Returns by reason" in page
    assert report(owner, "returns-by-reason", "period=custom&from=2026-11-04&to=2026-11-04")[1] == [
        "2026-11-04",
        "2026-11-04",
        "1",
        "1",
        "0",
        "",
    ]


def test_the_reports_work_without_any_return(owner: AdminClient, shop: Shop, clock: Clock) -> None:
    at(clock, "2026-11-02 08:00")
    here = shop.location()
    mug = shop.product("MUG-1", "10.00", {here: 10}, title="Stoneware mug")
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    shop.fulfil(order["id"])
    at(clock, "2026-11-05 09:00")
    page = owner.page(f"/admin/reports?{DAYS}").text
    assert "Returns by reason" in page and "Return rate by product" in page
    assert "0 in all, by reason: none." in page
    assert report(owner, "returns-by-reason") == [
        ["Period start", "Period end", "Returned units", "Fulfilled units", "Return rate (%)"],
        ["2026-11-02", "2026-11-02", "0", "2", "0.0"],
        ["2026-11-03", "2026-11-03", "0", "0", ""],
        ["2026-11-04", "2026-11-04", "0", "0", ""],
        ["2026-11-02", "2026-11-04", "0", "2", "0.0"],
    ]
    assert report(owner, "returns-by-product") == [
        ["Period start", "Period end", "Product ID", "Product", "Returned units"]
    ]
    assert report(owner, "return-rate-by-product")[1][3:] == ["Stoneware mug", "2", "0", "0.0"]
    # A period with neither orders nor returns says so, as before.
    empty = owner.page("/admin/reports?period=custom&from=2026-10-01&to=2026-10-07").text
    assert "No orders in this period" in empty and "<svg" not in empty
