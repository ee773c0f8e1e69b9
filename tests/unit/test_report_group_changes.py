"""On PostgreSQL the reports find each order's group (day, week or month in the shop's time zone)
by where its moment falls among the moments the group changes (store.reports._group_changes,
looked up with width_bucket). Here those moments are checked against the rule itself, the group
of the order's local day, for any moment of the period: around summer-time changes in zones
with whole-hour, half-hour and 45-minute offsets, Lord Howe's half-hour change, and St John's
in 2010, whose clocks went back at one minute past midnight, so its local day went back too."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from orderdeck.store import reports

ZONES = (
    "Europe/Amsterdam",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "UTC",
)
FIRST_DAYS = (date(2026, 9, 20), date(2026, 10, 20), date(2010, 10, 25), date(2010, 3, 1))


def group_by_rule(period: reports.Period, moment: datetime) -> date:
    return period.group_of(moment.astimezone(period.zone).date())


@settings(max_examples=300, deadline=None)
@given(
    timezone=st.sampled_from(ZONES),
    first=st.sampled_from(FIRST_DAYS),
    shift=st.integers(0, 30),
    days=st.integers(1, 70),
    grouping=st.sampled_from(reports.GROUPINGS),
    where=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=30),
)
def test_the_group_at_any_moment_is_the_group_of_its_local_day(
    timezone: str, first: date, shift: int, days: int, grouping: str, where: list[float]
) -> None:
    start = first + timedelta(days=shift)
    period = reports.Period(start, start + timedelta(days=days - 1), grouping, timezone)
    moments, groups = reports._group_changes(period)
    assert moments == sorted(set(moments)) and len(groups) == len(moments)
    starts, ends = period.starts.astimezone(UTC), period.ends.astimezone(UTC)
    assert moments[0] == starts
    # Every moment a group changes at, either side of it, and moments anywhere in the period.
    probes = [m + d for m in moments for d in (timedelta(0), timedelta(microseconds=-1))]
    probes += [starts + (ends - starts) * w for w in where]
    for moment in probes:
        if starts <= moment < ends:
            assert groups[bisect_right(moments, moment) - 1] == group_by_rule(period, moment), moment


def test_a_day_that_goes_back_gets_the_earlier_group_again() -> None:
    # St John's left summer time on 7 November 2010 at 00:01 local, back to 23:01 on the 6th.
    period = reports.Period(date(2010, 11, 6), date(2010, 11, 7), "day", "America/St_Johns")
    moments, groups = reports._group_changes(period)
    assert groups == [date(2010, 11, 6), date(2010, 11, 7), date(2010, 11, 6), date(2010, 11, 7)]
    assert [m.astimezone(period.zone).strftime("%d %H:%M") for m in moments] == [
        "06 00:00",
        "07 00:00",
        "06 23:01",
        "07 00:00",
    ]
