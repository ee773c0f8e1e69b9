"""Reports (S9.5): numbers about the orders placed in a period, grouped by day, week or month in
the shop's time zone, aggregated in the database.

Every report reads the same cohort, the orders *placed* in the period (test orders left out),
so each starts with a range on the indexed `orders.created_at` and nothing outside it is read:
a report over a month of a million-order shop reads that month's rows and no others. The
period's day/week/month of each order is worked out in SQL from what Python hands in (zoneinfo's
offsets of the shop's zone within the period, DST changes included): on PostgreSQL the moments
the group changes, found with width_bucket; on SQLite, which has no time zones, the offsets as a
CASE. So only one row per group comes back to Python.

Nothing reads order documents (parsing a 5 KB JSON document costs ~0.25 ms an order, too slow
for a month of a big shop): the order row keeps its cancel reason and when its first standing
fulfillment was made (store/orders.summary_columns), and each shipment row when its parcel was
first recorded delivered, all written when the order is saved. So the cost is one index range
over the period's orders plus, for transit times and cancelled products, an index lookup per
fulfilled or cancelled order. Times are when Orderdeck recorded them: a "delivered" posted a day
late counts a day late.
Percentiles are nearest-rank (the value at rank ⌈p·n⌉): PostgreSQL's percentile_disc; on SQLite
Python sorts each group's durations and reads each percentile off at its rank.

The reports page reads through PeriodReports, which reads what several reports share once (the
period's orders for the three that count them; its fulfilled orders for time to fulfil, time in
transit and the units fulfilled, which serve both return rates). Nothing
is kept between reads: every figure is worked out from the rows as they are, in the shop's time
zone as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    Date,
    Float,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    null,
    select,
    text,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import Grouping

from .database import utc
from .tables import Time, fulfilled_units, order_search_terms, orders, products, return_lines, shipments, variants

GROUPINGS = ("day", "week", "month")


@dataclass(frozen=True)
class Period:
    """Dates `first` to `last` (both included) in the shop's time zone, in groups of `grouping`."""

    first: date
    last: date
    grouping: str
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def starts(self) -> datetime:
        return datetime.combine(self.first, time(), self.zone)

    @property
    def ends(self) -> datetime:
        """The moment after the period: midnight at the start of the day after `last`."""
        return datetime.combine(self.last + timedelta(days=1), time(), self.zone)

    def group_of(self, day: date) -> date:
        """The first day of the group (week from Monday, calendar month) that `day` is in."""
        if self.grouping == "week":
            return day - timedelta(days=day.weekday())
        if self.grouping == "month":
            return day.replace(day=1)
        return day

    def groups(self) -> list[date]:
        """Every group of the period in order, the empty ones too (a chart shows the gaps)."""
        found: list[date] = []
        day = self.first
        while day <= self.last:
            group = self.group_of(day)
            if not found or found[-1] != group:
                found.append(group)
            day += timedelta(days=1)
        return found


# ---- results ------------------------------------------------------------------------------


@dataclass
class OrdersRow:
    group: date
    currency: str
    orders: int = 0
    cancelled: int = 0
    revenue: Decimal = Decimal("0.00")  # total price of the orders not cancelled
    unfulfilled: int = 0  # open orders with nothing fulfilled yet


@dataclass
class Durations:
    """How long something took, in seconds, for `count` orders or shipments."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None


@dataclass
class Reports:
    """Every report of one period: rows keyed by the group's first day."""

    period: Period
    orders: list[OrdersRow] = field(default_factory=list)
    cancel_reasons: dict[tuple[date, str], int] = field(default_factory=dict)
    cancelled_products: dict[tuple[date, str, str], int] = field(default_factory=dict)  # (group, SKU, title)
    lead_time: dict[date | None, Durations] = field(default_factory=dict)  # None: the whole period
    transit_time: dict[date | None, Durations] = field(default_factory=dict)
    payment_status: dict[tuple[date, str], int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(row.orders for row in self.orders)


# ---- building blocks ----------------------------------------------------------------------


def _offsets(zone: ZoneInfo, starts: datetime, ends: datetime) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offset (seconds) through [starts, ends): [(from_utc, offset), …], the first
    from the start (None). DST changes are found a day at a time, then to the second."""

    def offset(moment: datetime) -> int:
        delta = moment.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    start_utc, end_utc = utc(starts), utc(ends)
    assert start_utc and end_utc
    found: list[tuple[datetime | None, int]] = [(None, offset(start_utc))]
    moment = start_utc
    while moment < end_utc:
        step = min(moment + timedelta(days=1), end_utc)
        if offset(step) != found[-1][1]:
            low, high = moment, step  # offset(low) is the current one, offset(high) the next
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == found[-1][1] else (low, middle)
            found.append((high.replace(microsecond=0), offset(step)))
        moment = step
    return found


def _group_key(conn: Connection, period: Period) -> ColumnElement[Any]:
    """SQL for the first day (YYYY-MM-DD) of the group each order was placed in, shop time."""
    return _group_key_of(conn, period, orders.c.created_at)


def _group_changes(period: Period) -> tuple[list[datetime], list[date]]:
    """The moments (UTC) through the period at which the group an order falls in changes, and
    the first day of the group from each on: a moment at each group's first local midnight,
    and at each change of the zone's UTC offset (_offsets), where the local day can move back."""
    changes = _offsets(period.zone, period.starts, period.ends)
    start_utc, end_utc = utc(period.starts), utc(period.ends)
    assert start_utc and end_utc
    moments: list[datetime] = []
    groups: list[date] = []
    ends_at = [since for since, _ in changes[1:] if since is not None] + [end_utc]  # each offset until
    for (since, offset), until in zip(changes, ends_at, strict=True):
        shift = timedelta(seconds=offset)
        moment = since or start_utc
        day = (moment + shift).date()  # the local day at the moment this offset comes into force
        while moment < until:
            group = period.group_of(day)
            if not groups or groups[-1] != group:
                moments.append(moment)
                groups.append(group)
            day += timedelta(days=1)
            moment = datetime.combine(day, time(), UTC) - shift  # that local midnight, in UTC
    return moments, groups


def _group_key_of(conn: Connection, period: Period, placed: Any) -> ColumnElement[Any]:
    """SQL for the first day of the group the moment `placed` (a UTC time column) falls in,
    shop time (a date on PostgreSQL, YYYY-MM-DD text on SQLite)."""
    if conn.dialect.name == "postgresql":
        # The group's first day looked up by where the moment falls among the moments the group
        # changes at (width_bucket: a binary search of a sorted array). Working out each order's
        # local day instead (timezone(), date_trunc() and to_char() per row) cost 0.2 s of a
        # 0.3 s walk over 250,000 orders.
        moments, groups = _group_changes(period)
        first_days = type_coerce(Grouping(bindparam(None, groups, type_=ARRAY(Date))), ARRAY(Date))
        return first_days[func.width_bucket(placed, bindparam(None, moments, type_=ARRAY(Time)))]
    # SQLite: shift by the offset in force at that moment, then take the day/week/month.
    changes = _offsets(period.zone, period.starts, period.ends)
    shift: ColumnElement[str] = literal(f"{changes[-1][1]:+d} seconds")
    if len(changes) > 1:
        shift = case(
            *((placed < utc(since), f"{before:+d} seconds") for (_, before), (since, _) in pairwise(changes)),
            else_=f"{changes[-1][1]:+d} seconds",
        )
    if period.grouping == "week":
        return func.date(placed, shift, "-6 days", "weekday 1")  # back to Monday
    if period.grouping == "month":
        return func.date(placed, shift, "start of month")
    return func.date(placed, shift)


def _placed_in(period: Period) -> ColumnElement[bool]:
    return and_(
        orders.c.created_at >= utc(period.starts),
        orders.c.created_at < utc(period.ends),
        orders.c.test == false(),
    )


def _seconds_between(conn: Connection, earlier: Any, later: Any) -> ColumnElement[float]:
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _durations(conn: Connection, per_item: Select[Any, Any]) -> dict[date | None, Durations]:
    """Count, p50 and p90 of `per_item`'s (grp, seconds) rows with seconds, per group and for
    all of them, by nearest rank. (Ranking every item with window functions, per group and
    overall, took two sorts and 0.6-0.7 s over 30 days of a busy shop.)"""
    if conn.dialect.name == "postgresql":
        return _durations_of(conn.execute(_percentiles(per_item)))
    items = per_item.subquery("items")
    timed = items.c.seconds.is_not(None)
    # SQLite has no percentile function: it hands the seconds over as they come and Python sorts
    # each group's and reads each percentile off at its rank (SQLite sorting them took 0.26 s of
    # 0.86 s over 158,000 fulfilled orders; Python's sort of the same floats, a tenth of that).
    return _ranked_in_python(conn.execute(select(items.c.grp, items.c.seconds).where(timed)))


def _ranked_in_python(items: Any) -> dict[date | None, Durations]:
    """Count, p50 and p90 of (grp, seconds) rows, per group and for all of them, by nearest
    rank: each group's seconds sorted in Python and each percentile read off at its rank."""
    per_group: dict[Any, list[float]] = {}
    for grp, seconds in items:
        per_group.setdefault(grp, []).append(float(seconds))
    found: dict[date | None, Durations] = {}
    everything: list[float] = []
    for grp in sorted(per_group):
        in_order = per_group[grp]
        in_order.sort()
        found[_day(grp)] = _percentile_at(in_order)
        everything.extend(in_order)
    if everything:
        everything.sort()
        found[None] = _percentile_at(everything)
    return found


def _percentiles(per_item: Select[Any, Any]) -> Select[Any]:
    """PostgreSQL: (grp, count, p50, p90) of `per_item`'s (grp, seconds) rows with seconds, per
    group and for all of them (grp NULL). percentile_disc is nearest rank: the first value whose
    share of the values at or below it reaches p. One sort per group, and the whole period as
    the grouping set ()."""
    items = per_item.subquery()
    return (
        select(
            items.c.grp,
            func.count().label("n"),
            func.percentile_disc(0.5).within_group(items.c.seconds).label("p50"),
            func.percentile_disc(0.9).within_group(items.c.seconds).label("p90"),
        )
        .where(items.c.seconds.is_not(None))
        .group_by(func.grouping_sets(items.c.grp, tuple_()))
    )


def _durations_of(rows: Any) -> dict[date | None, Durations]:
    """_percentiles' rows as durations per group (None: the whole period)."""
    return {
        None if grp is None else _day(grp): Durations(int(n), _float(p50), _float(p90))
        for grp, n, p50, p90 in rows
        if n
    }


def _percentile_at(in_order: list[float]) -> Durations:
    """Count, p50 and p90 of values sorted from the smallest, by nearest rank: the value at
    rank ⌈p·n⌉ (the smallest value with at least p of the values at or below it)."""
    n = len(in_order)
    return Durations(n, _float(in_order[_rank(n, 50) - 1]), _float(in_order[_rank(n, 90) - 1]))


def _rank(n: int, percent: int) -> int:
    """⌈percent·n/100⌉ in whole numbers (never below 1), so that no rounding of a fraction moves it."""
    return max(1, -(-n * percent // 100))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _float(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


# ---- the reports --------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderCount:
    """The period's orders that share a group, currency, payment status, cancel reason (None:
    not cancelled) and whether they are open with nothing fulfilled: how many, and their total."""

    group: date
    currency: str
    financial_status: str
    cancel_reason: str | None
    unfulfilled: bool
    orders: int
    total: Decimal


def order_counts(conn: Connection, period: Period) -> list[OrderCount]:
    """One walk over the period's orders for the three reports that count them (orders and
    revenue, payment status, cancel reasons): grouped by all they tell apart, a few hundred
    rows at most, each report adding up the ones it needs (the *_from_counts functions). Walking
    the orders is what those reports cost (the same index range and rows each time), so the page
    walks them once."""
    grp = _group_key(conn, period).label("grp")
    is_cancelled = orders.c.cancelled_at.is_not(None)
    reason = case((is_cancelled, func.coalesce(func.nullif(orders.c.cancel_reason, ""), "other"))).label("reason")
    unfulfilled = case(
        (and_(orders.c.order_status == "open", orders.c.fulfillment_status.is_(None)), 1), else_=0
    ).label("unfulfilled")
    query = (
        select(
            grp,
            orders.c.currency,
            orders.c.financial_status,
            reason,
            unfulfilled,
            func.count(),
            func.sum(orders.c.total_price),
        )
        .where(_placed_in(period))
        .group_by(grp, orders.c.currency, orders.c.financial_status, reason, unfulfilled)
    )
    return [
        OrderCount(_day(g), currency, status, None if r is None else str(r), bool(u), int(n), Decimal(str(total or 0)))
        for g, currency, status, r, u, n, total in conn.execute(query)
    ]


def orders_from_counts(counts: list[OrderCount]) -> list[OrdersRow]:
    """orders_over_time's answer, added up from order_counts."""
    found: dict[tuple[date, str], OrdersRow] = {}
    for c in counts:
        row = found.get((c.group, c.currency))
        if row is None:
            row = found[(c.group, c.currency)] = OrdersRow(c.group, c.currency)
        row.orders += c.orders
        if c.cancel_reason is not None:
            row.cancelled += c.orders
        else:
            row.revenue += c.total  # the total price of the orders not cancelled
        if c.unfulfilled:
            row.unfulfilled += c.orders
    for row in found.values():
        row.revenue = row.revenue.quantize(Decimal("0.01"))
    return sorted(found.values(), key=lambda r: (r.group, r.currency))


def payment_status_from_counts(counts: list[OrderCount]) -> dict[tuple[date, str], int]:
    """payment_status's answer, added up from order_counts."""
    found: dict[tuple[date, str], int] = {}
    for c in counts:
        found[(c.group, c.financial_status)] = found.get((c.group, c.financial_status), 0) + c.orders
    return found


def cancel_reasons_from_counts(counts: list[OrderCount]) -> dict[tuple[date, str], int]:
    """cancel_reasons' answer, added up from order_counts."""
    found: dict[tuple[date, str], int] = {}
    for c in counts:
        if c.cancel_reason is not None:
            found[(c.group, c.cancel_reason)] = found.get((c.group, c.cancel_reason), 0) + c.orders
    return found


# Each report alone (a CSV download) reads only what it needs: cancel reasons, say, only sort the
# cancelled orders, where order_counts sorts every order of the period by five columns.


def orders_over_time(conn: Connection, period: Period) -> list[OrdersRow]:
    """Orders placed, cancelled, not yet fulfilled, and revenue, per group and currency."""
    grp = _group_key(conn, period).label("grp")
    cancelled = orders.c.cancelled_at.is_not(None)
    query = (
        select(
            grp,
            orders.c.currency,
            func.count(),
            func.sum(case((cancelled, 1), else_=0)),
            func.sum(case((cancelled, 0), else_=orders.c.total_price)),
            func.sum(case((and_(orders.c.order_status == "open", orders.c.fulfillment_status.is_(None)), 1), else_=0)),
        )
        .where(_placed_in(period))
        .group_by(grp, orders.c.currency)
    )
    rows = [
        OrdersRow(
            _day(g), currency, int(n), int(c or 0), Decimal(str(revenue or 0)).quantize(Decimal("0.01")), int(u or 0)
        )
        for g, currency, n, c, revenue, u in conn.execute(query)
    ]
    return sorted(rows, key=lambda r: (r.group, r.currency))


def payment_status(conn: Connection, period: Period) -> dict[tuple[date, str], int]:
    grp = _group_key(conn, period).label("grp")
    query = (
        select(grp, orders.c.financial_status, func.count())
        .where(_placed_in(period))
        .group_by(grp, orders.c.financial_status)
    )
    return {(_day(g), status): int(n) for g, status, n in conn.execute(query)}


def cancel_reasons(conn: Connection, period: Period) -> dict[tuple[date, str], int]:
    """Cancelled orders per group and reason (the order row's; "other" when none was given)."""
    grp = _group_key(conn, period).label("grp")
    reason = func.coalesce(func.nullif(orders.c.cancel_reason, ""), "other").label("reason")
    query = (
        select(grp, reason, func.count())
        .where(_placed_in(period), orders.c.cancelled_at.is_not(None))
        .group_by(grp, reason)
    )
    return {(_day(g), str(r)): int(n) for g, r, n in conn.execute(query)}


def cancelled_products(conn: Connection, period: Period) -> dict[tuple[date, str, str], int]:
    """Per group and product: how many cancelled orders had it, by the orders' SKU search
    terms (lower-cased there; the catalogue gives the SKU as written and the product title)."""
    # The period's cancelled orders first (the created_at index, then each narrow row), then
    # each one's SKU terms by the terms' order_id key: left to itself the planner may walk every
    # SKU term of the shop to meet them.
    cancelled = (
        select(orders.c.id, _group_key(conn, period).label("grp"))
        .where(_placed_in(period), orders.c.cancelled_at.is_not(None))
        .cte("cancelled")
        .prefix_with("MATERIALIZED")
    )
    t = order_search_terms.c
    query = (
        select(cancelled.c.grp, t.term, func.count())
        .select_from(cancelled.join(order_search_terms, and_(t.order_id == cancelled.c.id, t.kind == "sku")))
        .group_by(cancelled.c.grp, t.term)
    )
    counted = [(_day(g), str(term), int(n)) for g, term, n in conn.execute(query)]
    names = _catalogue_names(conn, {term for _, term, _ in counted})
    found: dict[tuple[date, str, str], int] = {}
    for group, term, n in counted:
        sku, title = names.get(term, (term, ""))
        found[(group, sku, title)] = found.get((group, sku, title), 0) + n
    return found


def _catalogue_names(conn: Connection, terms: set[str]) -> dict[str, tuple[str, str]]:
    """lower-cased SKU → (SKU, product title), for the SKUs asked about (a few dozen at most)."""
    if not terms:
        return {}
    query = (
        select(variants.c.sku, products.c.title)
        .select_from(variants.join(products, products.c.id == variants.c.product_id))
        .where(func.lower(variants.c.sku).in_(sorted(terms)))
        .order_by(variants.c.id)
    )
    names: dict[str, tuple[str, str]] = {}
    for sku, title in conn.execute(query):
        names.setdefault(sku.lower(), (sku, title))
    return names


def _fulfilled(conn: Connection, period: Period) -> Any:
    """The period's orders with something fulfilled now (the others have no fulfillment that
    still counts), worked out first from the created_at index: a materialised CTE, so that the
    planner cannot choose to walk every order in id order to meet the timeline lookups."""
    return (
        select(orders.c.id, orders.c.created_at, orders.c.first_fulfilled_at, _group_key(conn, period).label("grp"))
        # coalesce(): the fulfillment status is checked on each row of the period, never looked
        # up by its own index, which would walk every fulfilled order of the shop (SQLite chose
        # it: 0.6 s of a 1.2 s lead-time report over 30 days of 200,000 orders).
        .where(_placed_in(period), func.coalesce(orders.c.fulfillment_status, "").in_(("partial", "fulfilled")))
        .cte("fulfilled")
        .prefix_with("MATERIALIZED")
    )


def lead_time(conn: Connection, period: Period) -> dict[date | None, Durations]:
    """Placed -> first fulfillment (one not cancelled since), per order: two columns of the
    order row, no other table read."""
    return _durations(conn, _lead_items(conn, _fulfilled(conn, period)))


def _lead_items(conn: Connection, fulfilled: Any) -> Select[Any]:
    return select(
        fulfilled.c.grp, _seconds_between(conn, fulfilled.c.created_at, fulfilled.c.first_fulfilled_at).label("seconds")
    )


def transit_time(conn: Connection, period: Period) -> dict[date | None, Durations]:
    """Fulfillment made -> shipment delivered, per delivered shipment, grouped by when its order
    was placed. Both times are when Orderdeck recorded them: the shipment row's (made, and first
    recorded delivered) of each fulfillment that was not cancelled."""
    return _durations(conn, _transit_items(conn, _fulfilled(conn, period)))


def _transit_items(conn: Connection, fulfilled: Any) -> Select[Any]:
    s = shipments.c
    return (
        select(fulfilled.c.grp, _seconds_between(conn, s.created_at, s.delivered_at).label("seconds"))
        .select_from(fulfilled.join(shipments, s.order_id == fulfilled.c.id))
        .where(s.status == "success")
    )


@dataclass(frozen=True)
class FulfilledFigures:
    """What the page reads from the period's fulfilled orders: time to fulfil, time in transit
    and the units fulfilled (units_fulfilled's rows)."""

    lead_time: dict[date | None, Durations]
    transit_time: dict[date | None, Durations]
    units: list[tuple[date, int | None, str, int]]


def fulfilled_figures(conn: Connection, period: Period) -> FulfilledFigures:
    """lead_time, transit_time and units_fulfilled of the period, as each gives them, in one
    statement: the period's orders are walked once for the three (a materialised CTE read three
    times), where each report alone walks them again (each walk of 250,000 orders costs about
    as much as the join after it). On SQLite, which has no percentiles, each duration comes
    back for Python to rank, as in _durations."""
    fulfilled = _fulfilled(conn, period)
    no_id, no_title, none = cast(null(), BigInteger), cast(null(), String), cast(null(), Float)
    units = _units_by_group(fulfilled).subquery()
    parts = [select(literal("units"), units.c.grp, units.c.product_id, units.c.title, units.c.units, none, none)]
    postgres = conn.dialect.name == "postgresql"
    for kind, per_item in (("lead", _lead_items(conn, fulfilled)), ("transit", _transit_items(conn, fulfilled))):
        if postgres:
            ranked = _percentiles(per_item).subquery()
            parts.append(select(literal(kind), ranked.c.grp, no_id, no_title, ranked.c.n, ranked.c.p50, ranked.c.p90))
        else:
            items = per_item.subquery()
            timed = items.c.seconds.is_not(None)
            parts.append(select(literal(kind), items.c.grp, no_id, no_title, none, items.c.seconds, none).where(timed))
    rows: dict[str, list[Any]] = {"lead": [], "transit": [], "units": []}
    for kind, grp, product_id, title, n, p50, p90 in conn.execute(union_all(*parts)):
        if kind == "units":
            rows[kind].append((_day(grp), product_id, title, int(n or 0)))
        elif postgres:
            rows[kind].append((grp, n, p50, p90))
        else:
            rows[kind].append((grp, p50))  # the seconds of one order or shipment
    if postgres:
        lead_time, transit_time = _durations_of(rows["lead"]), _durations_of(rows["transit"])
    else:
        lead_time, transit_time = _ranked_in_python(rows["lead"]), _ranked_in_python(rows["transit"])
    return FulfilledFigures(lead_time, transit_time, rows["units"])


def build(conn: Connection, period: Period) -> Reports:
    """Every report of the period; the others only when the period has orders."""
    figures = PeriodReports(conn, period)
    found = Reports(period, orders=figures.orders)
    if found.empty:
        return found
    found.payment_status = figures.payment_status
    found.cancel_reasons = figures.cancel_reasons
    found.cancelled_products = figures.cancelled_products
    found.lead_time = figures.lead_time
    found.transit_time = figures.transit_time
    return found


# ---- returns (issue 13) -------------------------------------------------------------------
#
# Returned units are counted by when the return was made (requested, or created by staff), from
# `return_lines` by its created_at index; only live returns count (requested, open, closed: a
# declined or cancelled return gave nothing back) and test orders' returns are left out. A line's
# units are those on the return now: units taken off a return never count.

LIVE_RETURNS = ("requested", "open", "closed")

ProductKey = tuple[int | None, str]  # (product id, title); custom items have no product id


@dataclass
class ReturnRate:
    """Units returned against units fulfilled: `rate` is returned / fulfilled (None when
    nothing was fulfilled, as a rate of nothing means nothing)."""

    returned: int = 0
    fulfilled: int = 0

    @property
    def rate(self) -> float | None:
        return round(self.returned / self.fulfilled, 4) if self.fulfilled else None


def _returned_in(period: Period) -> ColumnElement[bool]:
    return and_(
        return_lines.c.created_at >= utc(period.starts),
        return_lines.c.created_at < utc(period.ends),
        return_lines.c.status.in_(LIVE_RETURNS),
        orders.c.test == false(),
    )


def _returned_lines() -> Any:
    return return_lines.join(orders, orders.c.id == return_lines.c.order_id)


def _product_titles(conn: Connection, product_ids: set[int]) -> dict[int, str]:
    """The catalogue's title of each product asked about (a chart's worth at most); a product
    since deleted keeps the title its order lines had."""
    if not product_ids:
        return {}
    query = select(products.c.id, products.c.title).where(products.c.id.in_(sorted(product_ids)))
    return {int(i): str(t) for i, t in conn.execute(query)}


def _product_key(product_id: Any, title: Any, titles: dict[int, str]) -> ProductKey:
    if product_id is None:
        return (None, str(title or ""))
    return (int(product_id), titles.get(int(product_id), str(title or "")))


def returns_by_reason(conn: Connection, period: Period) -> dict[tuple[date, str], int]:
    """Units returned per group and return reason (domain.returns.RETURN_REASONS), grouped by
    the day/week/month the return was made in, shop time."""
    grp = _group_key_of(conn, period, return_lines.c.created_at).label("grp")
    query = (
        select(grp, return_lines.c.reason, func.sum(return_lines.c.quantity))
        .select_from(_returned_lines())
        .where(_returned_in(period))
        .group_by(grp, return_lines.c.reason)
    )
    return {(_day(g), str(reason)): int(n) for g, reason, n in conn.execute(query) if n}


def returns_by_product(conn: Connection, period: Period) -> dict[tuple[date, int | None, str], int]:
    """Units returned per group and product: (group, product id, title) → units, grouped by
    when the return was made. The title is the catalogue's (the order line's for a product no
    longer in it, or for a custom item, which has no product id and is told apart by title)."""
    grp = _group_key_of(conn, period, return_lines.c.created_at).label("grp")
    custom = case((return_lines.c.product_id.is_(None), return_lines.c.title))
    query = (
        select(grp, return_lines.c.product_id, func.max(return_lines.c.title), func.sum(return_lines.c.quantity))
        .select_from(_returned_lines())
        .where(_returned_in(period))
        .group_by(grp, return_lines.c.product_id, custom)
    )
    counted = [(_day(g), p, t, int(n)) for g, p, t, n in conn.execute(query) if n]
    titles = _product_titles(conn, {int(p) for _, p, _, _ in counted if p is not None})
    found: dict[tuple[date, int | None, str], int] = {}
    for group, product_id, title, n in counted:
        key = (group, *_product_key(product_id, title, titles))
        found[key] = found.get(key, 0) + n
    return found


def _units_by_group(fulfilled: Any) -> Select[Any]:
    """(grp, product id, title, units) of the units fulfilled now of the `fulfilled` orders, per
    order-placed group: each order's fulfilled_units rows by its key."""
    custom = case((fulfilled_units.c.product_id.is_(None), fulfilled_units.c.title))
    return (
        select(
            fulfilled.c.grp,
            fulfilled_units.c.product_id,
            func.max(fulfilled_units.c.title).label("title"),
            func.sum(fulfilled_units.c.quantity).label("units"),
        )
        .select_from(fulfilled.join(fulfilled_units, fulfilled_units.c.order_id == fulfilled.c.id))
        .group_by(fulfilled.c.grp, fulfilled_units.c.product_id, custom)
    )


def units_fulfilled(conn: Connection, period: Period) -> list[tuple[date, int | None, str, int]]:
    """(group, product id, title, units) fulfilled now of the orders placed in the period: what
    both return rates set the returns against."""
    return [(_day(g), p, t, int(n or 0)) for g, p, t, n in conn.execute(_units_by_group(_fulfilled(conn, period)))]


def return_rate(
    conn: Connection,
    period: Period,
    returned: dict[tuple[date, str], int] | None = None,
    fulfilled: list[tuple[date, int | None, str, int]] | None = None,
) -> dict[date | None, ReturnRate]:
    """Per group, and for the whole period (key None): units returned in it (by when the
    return was made) against units fulfilled of the orders placed in it (fulfilled now:
    cancelled fulfillments do not count). Every group of the period has a row, empty ones too.
    The two sides are different cohorts (a return made in May often comes from an April sale),
    the usual way a shop reads its return rate over time. `returned` and `fulfilled`, when
    given, are returns_by_reason's and units_fulfilled's answers for the period, already read."""
    found: dict[date | None, ReturnRate] = {g: ReturnRate() for g in period.groups()}
    found[None] = ReturnRate()
    for (group, _), n in (returns_by_reason(conn, period) if returned is None else returned).items():
        found.setdefault(group, ReturnRate()).returned += n
        found[None].returned += n
    for group, _, _, units in units_fulfilled(conn, period) if fulfilled is None else fulfilled:
        found.setdefault(group, ReturnRate()).fulfilled += units
        found[None].fulfilled += units
    return found


def return_rate_by_product(
    conn: Connection,
    period: Period,
    returned: dict[tuple[date, int | None, str], int] | None = None,
    fulfilled: list[tuple[date, int | None, str, int]] | None = None,
) -> dict[ProductKey, ReturnRate]:
    """Per product (product id, title as in `returns_by_product`) over the whole period: units
    returned in the period against units fulfilled of the orders placed in it. Products that
    were fulfilled and not returned are there with `returned` 0; a product returned in the
    period but sold before it has `fulfilled` 0 and no rate. `returned` and `fulfilled`, when
    given, are returns_by_product's and units_fulfilled's answers for the period, already read."""
    per_product: dict[tuple[Any, str], int] = {}
    for (_, product_id, title), n in (returns_by_product(conn, period) if returned is None else returned).items():
        per_product[(product_id, title)] = per_product.get((product_id, title), 0) + n
    counted = [(p, t, n) for _, p, t, n in (units_fulfilled(conn, period) if fulfilled is None else fulfilled)]
    titles = _product_titles(conn, {int(p) for p, _, _ in counted if p is not None})
    found: dict[ProductKey, ReturnRate] = {}
    for product_id, title, n in counted:
        found.setdefault(_product_key(product_id, title, titles), ReturnRate()).fulfilled += n
    for key, n in per_product.items():
        found.setdefault(key, ReturnRate()).returned += n
    return found


class PeriodReports:
    """Every report of one period, each read when first asked for, for a page that shows them
    all: what several reports are worked out from is read once. The orders placed in the period
    are walked once for orders and revenue, payment status and cancel reasons (order_counts),
    its fulfilled orders once for time to fulfil, time in transit and the units fulfilled for
    both return rates (fulfilled_figures), and the returns once for the reports and their rates.
    Each answer is the same as the report's own function gives (tests/integration/
    test_report_counts.py and test_report_fulfilled.py check both against each report's rule)."""

    def __init__(self, conn: Connection, period: Period, *, whole_page: bool = True) -> None:
        """`whole_page=False` for one report alone (a CSV download): the counting reports then
        run their own narrower queries, cheaper than order_counts when only one is wanted."""
        self.conn = conn
        self.period = period
        self.whole_page = whole_page
        if conn.dialect.name == "postgresql":
            # PostgreSQL cannot tell how many groups a day-of-the-shop expression gives and
            # assumes one an order, so with the default 4 MB it sorts the period's orders on disk
            # for every GROUP BY and percentile (external merge, 10 MB over 250,000 orders)
            # instead of hashing: 64 MB for this read only (SET LOCAL ends with its transaction)
            # took order_counts over 250,000 orders from 0.84 to 0.41-0.55 s.
            conn.execute(text("SET LOCAL work_mem = '64MB'"))
            # A report over a month of a million-order shop costs more than jit_above_cost, and
            # compiling its expressions took 115-300 ms of a 1.6-2.8 s statement, more than it
            # saved on 150,000 rows: no JIT for this read.
            conn.execute(text("SET LOCAL jit = off"))

    @cached_property
    def order_counts(self) -> list[OrderCount]:
        return order_counts(self.conn, self.period)

    @cached_property
    def orders(self) -> list[OrdersRow]:
        if not self.whole_page:
            return orders_over_time(self.conn, self.period)
        return orders_from_counts(self.order_counts)

    @cached_property
    def payment_status(self) -> dict[tuple[date, str], int]:
        if not self.whole_page:
            return payment_status(self.conn, self.period)
        return payment_status_from_counts(self.order_counts)

    @cached_property
    def cancel_reasons(self) -> dict[tuple[date, str], int]:
        if not self.whole_page:
            return cancel_reasons(self.conn, self.period)
        return cancel_reasons_from_counts(self.order_counts)

    @cached_property
    def cancelled_products(self) -> dict[tuple[date, str, str], int]:
        return cancelled_products(self.conn, self.period)

    @cached_property
    def fulfilled(self) -> FulfilledFigures:
        return fulfilled_figures(self.conn, self.period)

    @cached_property
    def lead_time(self) -> dict[date | None, Durations]:
        return self.fulfilled.lead_time if self.whole_page else lead_time(self.conn, self.period)

    @cached_property
    def transit_time(self) -> dict[date | None, Durations]:
        return self.fulfilled.transit_time if self.whole_page else transit_time(self.conn, self.period)

    @cached_property
    def returns_by_reason(self) -> dict[tuple[date, str], int]:
        return returns_by_reason(self.conn, self.period)

    @cached_property
    def returns_by_product(self) -> dict[tuple[date, int | None, str], int]:
        return returns_by_product(self.conn, self.period)

    @cached_property
    def units_fulfilled(self) -> list[tuple[date, int | None, str, int]]:
        return self.fulfilled.units if self.whole_page else units_fulfilled(self.conn, self.period)

    @cached_property
    def return_rate(self) -> dict[date | None, ReturnRate]:
        return return_rate(self.conn, self.period, self.returns_by_reason, self.units_fulfilled)

    @cached_property
    def return_rate_by_product(self) -> dict[ProductKey, ReturnRate]:
        return return_rate_by_product(self.conn, self.period, self.returns_by_product, self.units_fulfilled)
