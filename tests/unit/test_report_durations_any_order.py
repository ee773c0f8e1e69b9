"""The reports' durations on SQLite come from the database in no particular order (Python sorts
each group's): for any values in any order, each group's and the whole period's count, median
and 90th percentile are the nearest-rank ones (the value at rank ⌈p·n⌉ of the sorted values)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Connection, Float, MetaData, String, Table, create_engine, insert, select

from orderdeck.store.reports import Durations, _durations

GROUPS = ("2026-11-02", "2026-11-03", "2026-11-09")


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def nearest_rank(values: list[float]) -> Durations:
    ordered = sorted(values)
    n = len(ordered)
    p50, p90 = -(-n * 50 // 100), -(-n * 90 // 100)  # ⌈p·n⌉ in whole numbers
    return Durations(n, round(ordered[p50 - 1], 3), round(ordered[p90 - 1], 3))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(GROUPS),
            st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False), st.integers(0, 100).map(float)),
        ),
        max_size=80,
    )
)
def test_each_group_and_the_whole_period_by_nearest_rank(
    conn: Connection, items: list[tuple[str, float | None]]
) -> None:
    table = Table("items", MetaData(), Column("grp", String), Column("seconds", Float))
    table.create(conn)
    try:
        if items:
            conn.execute(insert(table), [{"grp": g, "seconds": s} for g, s in items])
        found = _durations(conn, select(table.c.grp, table.c.seconds))
    finally:
        table.drop(conn)
    timed = [(g, s) for g, s in items if s is not None]
    want: dict[date | None, Durations] = {}
    for group in sorted({g for g, _ in timed}):
        want[date.fromisoformat(group)] = nearest_rank([s for g, s in timed if g == group])
    if timed:
        want[None] = nearest_rank([s for _, s in timed])
    assert found == want
