"""Reports (S9.5): orders placed through the REST API at known times (the test clock), then the
exact numbers of every report's CSV, the page's charts and tables, the period and grouping in
the shop's time zone (Europe/Amsterdam), and bad periods answered with a message, not a 500.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from orderdeck.services.context import Orderdeck
from tests.conftest import AUTHORIZE, SELL, Api, Clock, Shop

from .conftest import PASSWORD, AdminClient, make_staff

# ---- helpers --------------------------------------------------------------------------------


def report(owner: AdminClient, name: str, query: str = "") -> list[list[str]]:
    answer = owner.page(f"/admin/reports/{name}.csv{'?' + query if query else ''}")
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.text)))


def delivered(api: Api, order_id: int, fulfillment_id: int) -> None:
    api.ok(
        api.post(f"/orders/{order_id}/fulfillments/{fulfillment_id}/events.json", {"event": {"status": "delivered"}})
    )


def at(clock: Clock, moment: str) -> None:
    """Move the test clock forward to a UTC moment ("2026-11-02 15:30")."""
    target = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    assert target >= clock.now, "the clock only moves forward"
    clock.now = target


@pytest.fixture
def week(shop: Shop, api: Api, clock: Clock) -> dict[str, Any]:
    """Four days of a small shop, Mon 2 to Thu 5 Nov 2026 (UTC+1 in Amsterdam):

    #1001 Mon 10:30  mug, paid          fulfilled 6 h later, delivered 30 h after that
    #1002 Mon 12:30  2 kettles, authorized, cancelled (inventory)
    #1003 Tue 00:30  mug + kettle (23:30 UTC on Monday: Tuesday in the shop), cancelled (customer)
    #1004 Tue 11:30  3 mugs, paid       fulfilled 2 h later, delivered 48 h after that
    #1005 Wed 10:30  mug, no payment yet
    test order Wed   left out of every report
    """
    clock.now = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # the catalogue first
    here = shop.location()
    mug = shop.product("MUG-1", "10.00", {here: 100}, title="Stoneware mug")
    kettle = shop.product("KETTLE-1", "50.00", {here: 100}, title="Copper kettle")

    def line(variant: int, quantity: int = 1) -> dict[str, Any]:
        return {"variant_id": variant, "quantity": quantity}

    at(clock, "2026-11-02 09:30")
    first = shop.order([line(mug)], transactions=SELL)
    at(clock, "2026-11-02 11:30")
    second = shop.order([line(kettle, 2)], transactions=AUTHORIZE)
    at(clock, "2026-11-02 15:30")
    first_shipment = shop.fulfil(first["id"])
    at(clock, "2026-11-02 17:30")
    api.ok(api.post(f"/orders/{second['id']}/cancel.json", {"reason": "inventory"}))
    at(clock, "2026-11-02 23:30")
    third = shop.order([line(mug), line(kettle)])
    at(clock, "2026-11-03 08:00")
    api.ok(api.post(f"/orders/{third['id']}/cancel.json", {"reason": "customer"}))
    at(clock, "2026-11-03 10:30")
    fourth = shop.order([line(mug, 3)], transactions=SELL)
    at(clock, "2026-11-03 12:30")
    fourth_shipment = shop.fulfil(fourth["id"])
    at(clock, "2026-11-03 21:30")
    delivered(api, first["id"], first_shipment["id"])
    at(clock, "2026-11-04 09:30")
    shop.order([line(mug)])
    shop.order([line(mug)], test=True)
    at(clock, "2026-11-05 12:30")
    delivered(api, fourth["id"], fourth_shipment["id"])
    return {"orders": [first, second, third, fourth]}


# ---- the numbers ----------------------------------------------------------------------------


def test_orders_and_revenue_per_day_in_the_shops_time_zone(owner: AdminClient, week: dict[str, Any]) -> None:
    rows = report(owner, "orders", "period=7&group=day")
    assert rows[0] == ["Period start", "Period end", "Orders", "Cancelled", "Not yet fulfilled", "Revenue", "Currency"]
    assert rows[1:] == [
        ["2026-10-30", "2026-10-30", "0", "0", "0", "0.00", "EUR"],
        ["2026-10-31", "2026-10-31", "0", "0", "0", "0.00", "EUR"],
        ["2026-11-01", "2026-11-01", "0", "0", "0", "0.00", "EUR"],
        # #1001 (kept, fulfilled) and #1002 (cancelled): revenue is the order not cancelled
        ["2026-11-02", "2026-11-02", "2", "1", "0", "10.00", "EUR"],
        # #1003 was placed at 23:30 UTC on Monday, Tuesday in Amsterdam; #1004 fulfilled
        ["2026-11-03", "2026-11-03", "2", "1", "0", "30.00", "EUR"],
        # #1005 waits for a fulfillment; the test order is not counted
        ["2026-11-04", "2026-11-04", "1", "0", "1", "10.00", "EUR"],
        ["2026-11-05", "2026-11-05", "0", "0", "0", "0.00", "EUR"],
    ]


def test_grouping_by_week_and_month_keeps_to_the_period(owner: AdminClient, week: dict[str, Any]) -> None:
    by_week = report(owner, "orders", "period=7&group=week")
    assert [r[:6] for r in by_week[1:]] == [
        ["2026-10-30", "2026-11-01", "0", "0", "0", "0.00"],  # the week of 26 Oct, from the period's first day
        ["2026-11-02", "2026-11-05", "5", "2", "1", "50.00"],
    ]
    by_month = report(owner, "orders", "period=custom&from=2026-10-15&to=2026-11-30&group=month")
    assert [r[:6] for r in by_month[1:]] == [
        ["2026-10-15", "2026-10-31", "0", "0", "0", "0.00"],
        ["2026-11-01", "2026-11-30", "5", "2", "1", "50.00"],
    ]
    one_day = report(owner, "orders", "period=custom&from=2026-11-03&to=2026-11-03&group=day")
    assert [r[:4] for r in one_day[1:]] == [["2026-11-03", "2026-11-03", "2", "1"]]


def test_cancellations_by_reason_and_by_product(owner: AdminClient, week: dict[str, Any]) -> None:
    reasons = report(owner, "cancellations", "period=7&group=day")
    assert reasons[0] == ["Period start", "Period end", "Customer", "Inventory", "Cancelled orders"]
    assert reasons[4:6] == [
        ["2026-11-02", "2026-11-02", "0", "1", "1"],
        ["2026-11-03", "2026-11-03", "1", "0", "1"],
    ]
    assert all(row[-1] == "0" for row in reasons[1:4] + reasons[6:])

    products = report(owner, "cancelled-products", "period=7&group=day")
    assert products == [
        ["Period start", "Period end", "SKU", "Product", "Cancelled orders"],
        ["2026-11-02", "2026-11-02", "KETTLE-1", "Copper kettle", "1"],
        ["2026-11-03", "2026-11-03", "KETTLE-1", "Copper kettle", "1"],
        ["2026-11-03", "2026-11-03", "MUG-1", "Stoneware mug", "1"],
    ]
    by_week = report(owner, "cancelled-products", "period=7&group=week")
    assert by_week[1:] == [
        ["2026-11-02", "2026-11-05", "KETTLE-1", "Copper kettle", "2"],
        ["2026-11-02", "2026-11-05", "MUG-1", "Stoneware mug", "1"],
    ]


def test_time_to_fulfil_and_time_in_transit(owner: AdminClient, week: dict[str, Any]) -> None:
    lead = report(owner, "fulfillment-time", "period=7&group=day")
    assert lead[0] == ["Period start", "Period end", "Fulfilled orders", "Median (hours)", "90th percentile (hours)"]
    assert lead[4:6] == [
        ["2026-11-02", "2026-11-02", "1", "6.00", "6.00"],
        ["2026-11-03", "2026-11-03", "1", "2.00", "2.00"],
    ]
    assert lead[6] == ["2026-11-04", "2026-11-04", "0", "", ""]
    assert lead[-1] == ["2026-10-30", "2026-11-05", "2", "2.00", "6.00"]  # the whole period

    transit = report(owner, "transit-time", "period=7&group=day")
    assert transit[4:6] == [
        ["2026-11-02", "2026-11-02", "1", "30.00", "30.00"],
        ["2026-11-03", "2026-11-03", "1", "48.00", "48.00"],
    ]
    assert transit[-1] == ["2026-10-30", "2026-11-05", "2", "30.00", "48.00"]


def test_payment_status_mix(owner: AdminClient, week: dict[str, Any]) -> None:
    mix = report(owner, "payment-status", "period=7&group=week")
    header = mix[0]
    totals = dict(zip(header[2:], mix[2][2:], strict=True))
    assert totals.pop("Orders") == "5"
    # The third order was cancelled unpaid: cancelling voids what was still to be paid.
    assert {k: v for k, v in totals.items() if v != "0"} == {"Paid": "2", "Voided": "2", "Pending": "1"}


def test_percentiles_are_nearest_rank(owner: AdminClient, shop: Shop, api: Api, clock: Clock) -> None:
    """Ten orders fulfilled 1, 2, … 10 hours after being placed: the median is the 5th (5 h),
    the 90th percentile the 9th (9 h)."""
    here = shop.location()
    variant = shop.product("CUP-1", "5.00", {here: 100})
    placed = []
    at(clock, "2026-11-02 09:31")
    for _ in range(10):
        placed.append(shop.order([{"variant_id": variant, "quantity": 1}]))
    for hours, order in enumerate(placed, start=1):
        at(clock, f"2026-11-02 {9 + hours:02d}:31")
        shop.fulfil(order["id"])
    rows = report(owner, "fulfillment-time", "period=custom&from=2026-11-02&to=2026-11-02")
    assert rows[1][2:] == ["10", "5.00", "9.00"]


def test_fulfillments_cancelled_since_do_not_count(owner: AdminClient, shop: Shop, api: Api, clock: Clock) -> None:
    here = shop.location()
    variant = shop.product("CUP-1", "5.00", {here: 100})
    at(clock, "2026-11-02 10:00")
    order = shop.order([{"variant_id": variant, "quantity": 1}])
    at(clock, "2026-11-02 11:00")
    mistake = shop.fulfil(order["id"])
    api.ok(api.post(f"/orders/{order['id']}/fulfillments/{mistake['id']}/cancel.json", {}))
    at(clock, "2026-11-02 13:00")
    shop.fulfil(order["id"])
    rows = report(owner, "fulfillment-time", "period=custom&from=2026-11-02&to=2026-11-02")
    assert rows[1][2:] == ["1", "3.00", "3.00"]


def test_days_follow_the_shops_clock_across_the_change_from_summer_time(
    owner: AdminClient, shop: Shop, clock: Clock
) -> None:
    """Amsterdam leaves summer time at 01:00 UTC on 25 Oct 2026: 22:30 UTC is the next day
    before the change (UTC+2) and 23:30 UTC after it (UTC+1)."""
    clock.now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    here = shop.location()
    variant = shop.product("CUP-1", "5.00", {here: 100})
    for moment in ("2026-10-24 21:30", "2026-10-24 22:30", "2026-10-25 22:30", "2026-10-25 23:30"):
        at(clock, moment)
        shop.order([{"variant_id": variant, "quantity": 1}])
    rows = report(owner, "orders", "period=custom&from=2026-10-24&to=2026-10-26&group=day")
    assert [(r[0], r[2]) for r in rows[1:]] == [("2026-10-24", "1"), ("2026-10-25", "2"), ("2026-10-26", "1")]


# ---- the page -------------------------------------------------------------------------------


def test_the_page_shows_every_report_as_a_chart_with_a_table(owner: AdminClient, week: dict[str, Any]) -> None:
    page = owner.page("/admin/reports?period=7&group=day").text
    assert "30 Oct 2026 \u2013 5 Nov 2026, by day" in page
    for title in (
        "Orders placed",
        "Revenue in EUR",
        "Payment status of the orders placed",
        "Cancellations by reason",
        "Cancelled orders by product",
        "Time to fulfill",
        "Time in transit",
    ):
        assert re.search(rf'<svg [^>]*role="img"[^>]*><title id="[^"]+">{title}</title><desc ', page), title
    assert page.count("<table") == 9  # the three returns reports (test_return_reports.py) among them
    assert page.count("Download CSV") == 9
    assert "/admin/reports/orders.csv?period=custom&amp;from=2026-10-30&amp;to=2026-11-05&amp;group=day" in page
    assert "€50.00 in all" in page  # the revenue chart's description
    assert '<td class="num">€30.00</td>' in page


def test_the_last_30_days_by_day_unless_asked(owner: AdminClient, week: dict[str, Any]) -> None:
    page = owner.page("/admin/reports").text
    assert "7 Oct 2026 \u2013 5 Nov 2026, by day" in page
    assert '<option value="30" selected>' in page
    long = owner.page("/admin/reports?period=365").text
    assert "6 Nov 2025 \u2013 5 Nov 2026, by week" in long


def test_an_empty_period_says_so(owner: AdminClient, week: dict[str, Any]) -> None:
    page = owner.page("/admin/reports?period=custom&from=2026-01-01&to=2026-01-31").text
    assert "No orders in this period" in page
    assert "<svg" not in page
    rows = report(owner, "orders", "period=custom&from=2026-01-01&to=2026-01-03")
    assert [r[2] for r in rows[1:]] == ["0", "0", "0"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("period=custom&from=2026-11-05&to=2026-11-01", "The end date is before the start date"),
        ("period=custom&from=yesterday&to=2026-11-01", "Enter a date as YYYY-MM-DD."),
        ("period=custom&to=2026-11-01", "Enter a date."),
        ("period=7&group=hour", "Group by day, week or month."),
        ("period=12", "Choose one of the periods offered."),
        ("period=custom&from=2020-01-01&to=2026-11-01&group=day", "too many to show; group by week or month"),
    ],
)
def test_a_bad_period_gets_a_message_not_an_error(owner: AdminClient, query: str, message: str) -> None:
    page = owner.page(f"/admin/reports?{query}", expect=422).text
    assert message in page
    assert 'aria-invalid="true"' in page
    assert "<svg" not in page
    answer = owner.client.get(f"/admin/reports/orders.csv?{query}")
    assert answer.status_code == 422
    assert message in answer.text


def test_an_unknown_report_is_not_found(owner: AdminClient) -> None:
    owner.page("/admin/reports/everything.csv", expect=404)


def test_reports_need_permission_to_view_orders(deck: Orderdeck, owner: AdminClient) -> None:
    make_staff(deck, "nobody@shop.test", permissions=())
    client = owner.client
    client.cookies.clear()
    form = client.get("/admin/login").text
    token = re.search(r'name="login_csrf" value="([^"]+)"', form)
    assert token
    signed_in = client.post(
        "/admin/login",
        data={"email": "nobody@shop.test", "password": PASSWORD, "login_csrf": token.group(1), "next": "/admin"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    answer = client.get("/admin/reports")
    assert answer.status_code == 403
    assert "may not view orders" in answer.text
    assert client.get("/admin/reports/orders.csv").status_code == 403
