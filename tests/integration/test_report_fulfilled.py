"""Time to fulfil, time in transit and the units fulfilled are read from the period's fulfilled
orders; the reports page reads all three at once (store.reports.fulfilled_figures: on
PostgreSQL one statement over one walk of the period's orders). Here the page's answers and
each report's own function are checked against each report's rule, applied order by order in
Python: random orders around the change from summer time, fulfilled or not (a fulfillment
cancelled since leaves the order unfulfilled), with shipments made and delivered or not or
cancelled, fulfilled units of catalogue products and of custom items, test orders among them,
grouped by day, week and month, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, insert

from orderdeck.store import reports
from orderdeck.store.tables import fulfilled_units, orders, shipments
from tests.conftest import bare_tables

ZONES = ("Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC")
START = datetime(2026, 10, 15, tzinfo=UTC)  # Europe's and America's change from summer time inside
SPAN = timedelta(days=30)
ITEMS = ((1, "Stoneware mug"), (2, "Linen apron"), (None, "Gift wrap"), (None, "Engraving"))


@st.composite
def an_order(draw: Any) -> dict[str, Any]:
    seconds = st.integers(0, 20 * 86400)
    status = draw(st.sampled_from((None, "partial", "fulfilled", "restocked")))
    fulfilled = status in ("partial", "fulfilled")
    return {
        "created_at": START + timedelta(seconds=draw(st.integers(0, int(SPAN.total_seconds())))),
        "fulfillment_status": status,
        "test": draw(st.integers(0, 9)) == 0,
        # An order fulfilled now has its first standing fulfillment's time (a few imported
        # before 0027 have none); the others have none.
        "fulfil_after": draw(st.one_of(st.none(), seconds)) if fulfilled else None,
        "shipments": draw(
            st.lists(
                st.tuples(st.sampled_from(("success", "cancelled")), seconds, st.one_of(st.none(), seconds)),
                max_size=3,
            )
        ),
        "units": draw(st.lists(st.tuples(st.sampled_from(ITEMS), st.integers(1, 5)), max_size=3)),
    }


def load(conn: Connection, made: list[dict[str, Any]]) -> None:
    order_rows, shipment_rows, unit_rows = [], [], []
    for number, order in enumerate(made, start=1):
        created = order["created_at"]
        after = order["fulfil_after"]
        order_rows.append(
            {
                "id": number,
                "number": number,
                "name": f"#{number}",
                "created_at": created,
                "updated_at": created,
                "processed_at": created,
                "order_status": "open",
                "financial_status": "paid",
                "fulfillment_status": order["fulfillment_status"],
                "display_fulfillment_status": "unfulfilled",
                "return_status": "no_return",
                "source_name": "web",
                "currency": "EUR",
                "total_price": 10,
                "test": order["test"],
                "token": f"token-{number}",
                "version": 1,
                "first_fulfilled_at": None if after is None else created + timedelta(seconds=after),
            }
        )
        for n, (status, made_after, delivered_after) in enumerate(order["shipments"]):
            made_at = created + timedelta(seconds=made_after)
            shipment_rows.append(
                {
                    "fulfillment_id": number * 10 + n,
                    "order_id": number,
                    "order_name": f"#{number}",
                    "status": status,
                    "stage": "delivered" if delivered_after is not None else "in_transit",
                    "created_at": made_at,
                    "updated_at": made_at,
                    "delivered_at": None if delivered_after is None else made_at + timedelta(seconds=delivered_after),
                }
            )
        for n, ((product_id, title), quantity) in enumerate(order["units"]):
            unit_rows.append(
                {
                    "order_id": number,
                    "line_item_id": number * 10 + n,
                    "product_id": product_id,
                    "variant_id": None,
                    "title": title,
                    "quantity": quantity,
                }
            )
    for table, rows in ((orders, order_rows), (shipments, shipment_rows), (fulfilled_units, unit_rows)):
        if rows:
            conn.execute(insert(table), rows)


def nearest_rank(values: list[float]) -> reports.Durations:
    ordered = sorted(values)
    n = len(ordered)
    p50, p90 = -(-n * 50 // 100), -(-n * 90 // 100)  # ⌈p·n⌉ in whole numbers
    return reports.Durations(n, round(ordered[p50 - 1], 3), round(ordered[p90 - 1], 3))


def by_rank(values: dict[date, list[float]]) -> dict[date | None, reports.Durations]:
    found: dict[date | None, reports.Durations] = {g: nearest_rank(v) for g, v in values.items() if v}
    everything = [s for v in values.values() for s in v]
    if everything:
        found[None] = nearest_rank(everything)
    return found


def expected(made: list[dict[str, Any]], period: reports.Period) -> dict[str, Any]:
    """Each report by its own rule, one order at a time."""
    zone = ZoneInfo(period.timezone)
    lead: dict[date, list[float]] = {}
    transit: dict[date, list[float]] = {}
    units: dict[tuple[date, int | None, str], int] = {}
    for order in made:
        day = order["created_at"].astimezone(zone).date()
        if order["test"] or not period.first <= day <= period.last:
            continue
        if order["fulfillment_status"] not in ("partial", "fulfilled"):
            continue
        group = period.group_of(day)
        if order["fulfil_after"] is not None:
            lead.setdefault(group, []).append(float(order["fulfil_after"]))
        for status, _, delivered_after in order["shipments"]:
            if status == "success" and delivered_after is not None:
                transit.setdefault(group, []).append(float(delivered_after))
        for (product_id, title), quantity in order["units"]:
            # A product's units are counted under its id, a custom item's under its title.
            key = (group, product_id, title if product_id is None else "")
            units[key] = units.get(key, 0) + quantity
    titles = dict(ITEMS)
    return {
        "lead": by_rank(lead),
        "transit": by_rank(transit),
        "units": {(g, p, t or titles[p]): n for (g, p, t), n in units.items()},
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def conn(request: pytest.FixtureRequest) -> Iterator[Connection]:
    with bare_tables(request, orders, shipments, fulfilled_units) as connection:
        yield connection


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    made=st.lists(an_order(), max_size=40),
    timezone=st.sampled_from(ZONES),
    first=st.integers(0, 25),
    days=st.integers(1, 30),
    grouping=st.sampled_from(reports.GROUPINGS),
)
def test_fulfilment_times_and_units_match_their_rules_order_by_order(
    conn: Connection, made: list[dict[str, Any]], timezone: str, first: int, days: int, grouping: str
) -> None:
    start = START.date() + timedelta(days=first)
    period = reports.Period(start, start + timedelta(days=days - 1), grouping, timezone)
    with conn.begin_nested() as example:
        load(conn, made)
        want = expected(made, period)
        page = reports.PeriodReports(conn, period)
        alone = reports.PeriodReports(conn, period, whole_page=False)
        for figures in (page, alone):
            assert figures.lead_time == want["lead"]
            assert figures.transit_time == want["transit"]
            units = {(g, p, t): n for g, p, t, n in figures.units_fulfilled}
            assert len(units) == len(figures.units_fulfilled)  # one row a group and product
            assert units == want["units"]
        assert reports.lead_time(conn, period) == want["lead"]
        assert reports.transit_time(conn, period) == want["transit"]
        example.rollback()
