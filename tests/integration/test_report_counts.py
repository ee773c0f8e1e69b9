"""The reports that count orders (orders and revenue, payment status, cancel reasons) are added
up from one walk over the period's orders (store.reports.order_counts); here they are checked
against the rule each report states, applied order by order in Python: random orders around
summer-time changes in zones with whole-hour, half-hour and 45-minute offsets (and Lord Howe,
whose clocks move by half an hour), cancelled with and without a reason, open, archived, with
something fulfilled or not, test orders among them, grouped by day, week and month. On both
databases; the page's PeriodReports must give the same answers as each report's function."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, create_engine, insert, text

from orderdeck.store import reports
from orderdeck.store.tables import orders
from tests.conftest import bare_tables

ZONES = ("Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham", "UTC")
# Around Europe's and America's change from summer time (Oct 25 / Nov 1) and a week either side;
# Lord Howe and Chatham move to summer time at the start of October.
START = datetime(2026, 9, 26, tzinfo=UTC)
SPAN = timedelta(days=45)
STATUSES = ("pending", "authorized", "paid", "partially_refunded", "refunded", "voided")


@st.composite
def an_order(draw: Any) -> dict[str, Any]:
    cancelled = draw(st.booleans())
    archived = not cancelled and draw(st.booleans())
    return {
        "created_at": START + timedelta(seconds=draw(st.integers(0, int(SPAN.total_seconds())))),
        "currency": draw(st.sampled_from(("EUR", "USD"))),
        "financial_status": draw(st.sampled_from(STATUSES)),
        "cancelled": cancelled,
        "cancel_reason": draw(st.sampled_from((None, "", "customer", "inventory", "fraud"))) if cancelled else None,
        "order_status": "cancelled" if cancelled else "closed" if archived else "open",
        "fulfillment_status": draw(st.sampled_from((None, "partial", "fulfilled", "restocked"))),
        "total_price": Decimal(draw(st.integers(0, 100_000))) / 100,
        "test": draw(st.integers(0, 9)) == 0,
    }


def rows(made: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for number, order in enumerate(made, start=1):
        created = order["created_at"]
        found.append(
            {
                "id": number,
                "number": number,
                "name": f"#{number}",
                "created_at": created,
                "updated_at": created,
                "processed_at": created,
                "cancelled_at": created + timedelta(hours=1) if order["cancelled"] else None,
                "order_status": order["order_status"],
                "financial_status": order["financial_status"],
                "fulfillment_status": order["fulfillment_status"],
                "display_fulfillment_status": "unfulfilled",
                "return_status": "no_return",
                "source_name": "web",
                "currency": order["currency"],
                "total_price": order["total_price"],
                "test": order["test"],
                "token": f"token-{number}",
                "version": 1,
                "cancel_reason": order["cancel_reason"],
            }
        )
    return found


def expected(made: list[dict[str, Any]], period: reports.Period) -> dict[str, Any]:
    """Each report by its own rule, one order at a time."""
    zone = ZoneInfo(period.timezone)
    by_time: dict[tuple[date, str], reports.OrdersRow] = {}
    payment: dict[tuple[date, str], int] = {}
    reasons: dict[tuple[date, str], int] = {}
    for order in made:
        day = order["created_at"].astimezone(zone).date()
        if order["test"] or not period.first <= day <= period.last:
            continue
        group = period.group_of(day)
        row = by_time.setdefault((group, order["currency"]), reports.OrdersRow(group, order["currency"]))
        row.orders += 1
        if order["cancelled"]:
            row.cancelled += 1
            reason = order["cancel_reason"] or "other"
            reasons[(group, reason)] = reasons.get((group, reason), 0) + 1
        else:
            row.revenue += order["total_price"]
        if order["order_status"] == "open" and order["fulfillment_status"] is None:
            row.unfulfilled += 1
        payment[(group, order["financial_status"])] = payment.get((group, order["financial_status"]), 0) + 1
    for row in by_time.values():
        row.revenue = row.revenue.quantize(Decimal("0.01"))
    return {
        "orders": sorted(by_time.values(), key=lambda r: (r.group, r.currency)),
        "payment": payment,
        "reasons": reasons,
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def conn(request: pytest.FixtureRequest) -> Iterator[Connection]:
    with bare_tables(request, orders) as connection:
        yield connection


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    made=st.lists(an_order(), max_size=60),
    timezone=st.sampled_from(ZONES),
    first=st.integers(0, 40),
    days=st.integers(1, 40),
    grouping=st.sampled_from(reports.GROUPINGS),
)
def test_the_counting_reports_match_their_rules_order_by_order(
    conn: Connection, made: list[dict[str, Any]], timezone: str, first: int, days: int, grouping: str
) -> None:
    start = START.date() + timedelta(days=first)
    period = reports.Period(start, start + timedelta(days=days - 1), grouping, timezone)
    with conn.begin_nested() as example:
        if made:
            conn.execute(insert(orders), rows(made))
        want = expected(made, period)
        assert reports.orders_over_time(conn, period) == want["orders"]
        assert reports.payment_status(conn, period) == want["payment"]
        assert reports.cancel_reasons(conn, period) == want["reasons"]
        for whole_page in (True, False):
            page = reports.PeriodReports(conn, period, whole_page=whole_page)
            assert (page.orders, page.payment_status, page.cancel_reasons) == (
                want["orders"],
                want["payment"],
                want["reasons"],
            )
        example.rollback()


@pytest.mark.postgres
def test_the_reports_read_gets_room_to_hash_and_no_jit_on_postgresql_for_its_transaction_only(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url)
    period = reports.Period(START.date(), START.date(), "day", "Europe/Amsterdam")
    with engine.connect() as connection:
        with connection.begin():
            default = connection.execute(text("SHOW work_mem")).scalar_one()
            jit = connection.execute(text("SHOW jit")).scalar_one()
            reports.PeriodReports(connection, period)
            assert connection.execute(text("SHOW work_mem")).scalar_one() == "64MB"
            assert connection.execute(text("SHOW jit")).scalar_one() == "off"
        with connection.begin():
            assert connection.execute(text("SHOW work_mem")).scalar_one() == default != "64MB"
            assert connection.execute(text("SHOW jit")).scalar_one() == jit
    engine.dispose()
