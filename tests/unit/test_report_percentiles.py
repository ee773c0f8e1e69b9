"""The reports' durations (time to fulfil, time in transit): count, median and 90th percentile
by nearest rank (the value at rank ⌈p·n⌉), per group and for the whole period, for groups of
none, one, two and ten values; items without a duration are not counted. SQLite hands the
durations over in no particular order (Python sorts each group's), so a property test checks
any values in any order against nearest rank."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Connection, Float, MetaData, String, Table, create_engine, insert, select

from orderdeck.store.reports import Durations, _durations

MON, TUE, WED = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def durations(conn: Connection, items: list[tuple[str, float | None]]) -> dict[date | None, Durations]:
    """_durations of these (group's first day, seconds) items."""
    table = Table("items", MetaData(), Column("grp", String), Column("seconds", Float))
    table.create(conn)
    if items:
        conn.execute(insert(table), [{"grp": grp, "seconds": seconds} for grp, seconds in items])
    per_item: Any = select(table.c.grp, table.c.seconds)
    try:
        return _durations(conn, per_item)
    finally:
        table.drop(conn)


def test_no_durations_no_figures(conn: Connection) -> None:
    assert durations(conn, []) == {}
    assert durations(conn, [("2026-11-02", None), ("2026-11-03", None)]) == {}


def test_one_value_is_its_own_median_and_90th_percentile(conn: Connection) -> None:
    assert durations(conn, [("2026-11-02", 3600.0)]) == {
        MON: Durations(1, 3600.0, 3600.0),
        None: Durations(1, 3600.0, 3600.0),
    }


def test_of_two_values_the_median_is_the_smaller_and_the_90th_percentile_the_larger(conn: Connection) -> None:
    found = durations(conn, [("2026-11-02", 7200.0), ("2026-11-02", 3600.0), ("2026-11-03", None)])
    assert found == {MON: Durations(2, 3600.0, 7200.0), None: Durations(2, 3600.0, 7200.0)}


def test_ten_values_give_the_5th_and_the_9th(conn: Connection) -> None:
    hours = [("2026-11-02", h * 3600.0) for h in (10, 3, 7, 1, 9, 2, 8, 5, 4, 6)]
    assert durations(conn, hours)[MON] == Durations(10, 5 * 3600.0, 9 * 3600.0)


def test_each_group_and_the_whole_period_are_ranked_on_their_own(conn: Connection) -> None:
    items = [("2026-11-02", 1.0), ("2026-11-02", 2.0), ("2026-11-03", 30.0), ("2026-11-04", 10.0), ("2026-11-04", 20.0)]
    assert durations(conn, items) == {
        MON: Durations(2, 1.0, 2.0),
        TUE: Durations(1, 30.0, 30.0),
        WED: Durations(2, 10.0, 20.0),
        None: Durations(5, 10.0, 30.0),  # 1 2 10 20 30: rank 3 and rank 5
    }


def test_durations_are_given_to_the_thousandth_of_a_second(conn: Connection) -> None:
    assert durations(conn, [("2026-11-02", 35999.99998658)])[MON] == Durations(1, 36000.0, 36000.0)


def nearest_rank(values: list[float]) -> Durations:
    ordered = sorted(values)
    n = len(ordered)
    p50, p90 = -(-n * 50 // 100), -(-n * 90 // 100)  # ⌈p·n⌉ in whole numbers
    return Durations(n, round(ordered[p50 - 1], 3), round(ordered[p90 - 1], 3))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("2026-11-02", "2026-11-03", "2026-11-09")),
            st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False), st.integers(0, 100).map(float)),
        ),
        max_size=80,
    )
)
def test_each_group_and_the_whole_period_by_nearest_rank_in_any_order(
    conn: Connection, items: list[tuple[str, float | None]]
) -> None:
    found = durations(conn, items)
    timed = [(g, s) for g, s in items if s is not None]
    want: dict[date | None, Durations] = {}
    for group in sorted({g for g, _ in timed}):
        want[date.fromisoformat(group)] = nearest_rank([s for g, s in timed if g == group])
    if timed:
        want[None] = nearest_rank([s for _, s in timed])
    assert found == want
