"""Reports (S9.5): what happened to the orders placed in a period, and the returns made in it
(issue 13), as charts drawn on the server, a table of the same numbers beside each, and each
table as a CSV download.

The period is the last 7/30/90/365 days or chosen dates, grouped by day, week or month in
the shop's time zone. The numbers come from `store.reports` (aggregated in the database);
this module reads the period from the query string, and turns each report into a section:
title, what it counts, chart, table, CSV.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from markupsafe import Markup

from ...domain.cancellation import CANCEL_REASONS
from ...domain.errors import NotFound
from ...domain.returns import RETURN_REASONS
from ...store import reports as store
from ...store.csv_cells import SafeWriter
from ..charts import Series, bar_chart, line_chart
from .access import Admin, require
from .pages import BADGE_LABELS, NO_STORE, money, render
from .returns import REASON_WORDS

router = APIRouter()

PERIODS = [
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("365", "Last 365 days"),
    ("custom", "Chosen dates"),
]
GROUPINGS = [("day", "Day"), ("week", "Week"), ("month", "Month")]
MAX_GROUPS = 400  # a chart of more bars than this is unreadable, and the table too long
PAYMENT_ORDER = (
    "paid",
    "partially_paid",
    "authorized",
    "pending",
    "partially_refunded",
    "refunded",
    "voided",
    "expired",
)
DASH = "\u2013"  # between the first and last day of a range
TOP_PRODUCTS = 5  # the cancelled-products chart stacks these; the rest is "Other products"
RATE_PRODUCTS = 8  # the return-rate chart's bars: the most returned products, one label each


# ---- the period ----------------------------------------------------------------------------


@dataclass
class Choice:
    """The period form as the staff member filled it in, and what was wrong with it."""

    period: str = "30"
    first: str = ""
    last: str = ""
    group: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def query(self) -> str:
        """The query string that shows exactly these dates again (CSV links use it)."""
        return urlencode({"period": "custom", "from": self.first, "to": self.last, "group": self.group})


def _date(raw: str, field_name: str, errors: dict[str, str]) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[field_name] = "Enter a date as YYYY-MM-DD." if raw else "Enter a date."
        return None


def choose(params: Any, today: date, timezone: str) -> tuple[Choice, store.Period | None]:
    """The period the query string asks for, or None with the reasons in `Choice.errors`.
    Without parameters: the last 30 days by day."""
    choice = Choice(
        period=params.get("period") or "30",
        first=(params.get("from") or "").strip(),
        last=(params.get("to") or "").strip(),
        group=(params.get("group") or "").strip(),
    )
    errors = choice.errors
    first: date | None
    last: date | None
    if choice.period == "custom":
        first = _date(choice.first, "from", errors)
        last = _date(choice.last, "to", errors)
        if first and last and first > last:
            errors["to"] = "The end date is before the start date; choose an end on or after the start."
    elif choice.period.isdigit() and choice.period in dict(PERIODS):
        last = today
        first = today - timedelta(days=int(choice.period) - 1)
        choice.first, choice.last = first.isoformat(), last.isoformat()
    else:
        errors["period"] = "Choose one of the periods offered."
        first = last = None
    if first is None or last is None or errors:
        return choice, None
    days = (last - first).days + 1
    if not choice.group:
        choice.group = "day" if days <= 62 else "week" if days <= 366 else "month"
    if choice.group not in store.GROUPINGS:
        errors["group"] = "Group by day, week or month."
        return choice, None
    period = store.Period(first, last, choice.group, timezone)
    groups = len(period.groups())
    if groups > MAX_GROUPS:
        errors["group"] = (
            f"That is {groups} {choice.group}s, too many to show; group by "
            + ("week or month" if choice.group == "day" else "month")
            + " or choose a shorter period."
        )
        return choice, None
    return choice, period


# ---- sections ------------------------------------------------------------------------------


@dataclass
class Section:
    """One report: its chart(s), and its numbers as a table (the CSV is the same table)."""

    key: str  # the CSV's name: /admin/reports/<key>.csv
    title: str
    about: str  # what is counted, in a sentence
    header: list[str]
    rows: list[list[Any]]  # CSV values (dates ISO, money plain, hours with 2 decimals)
    shown: list[list[str]]  # the same, as the page shows them (one "Period" column for the dates)
    numeric: int  # shown columns from this index on are numbers (right-aligned)
    charts: list[tuple[str, Markup]] = field(default_factory=list)  # (caption, SVG)
    money_column: bool = False  # the CSV's amount and currency columns are one column on the page
    # A table over the whole period (one row per product, say) heads its rows with another
    # column than the period, whose dates the CSV's first two columns still carry. `hidden`: the
    # CSV's columns after the dates that have no column of their own on the page (a product's
    # id; the product's name when it heads the row).
    first_column: str = "Period"
    hidden: int = 0
    whole_row: bool = False  # the last row is the whole period's (shown in bold)

    @property
    def columns(self) -> list[str]:
        rest = self.header[2 + self.hidden :]
        return [self.first_column, *(rest[:-1] if self.money_column else rest)]


def _span(period: store.Period, group: date) -> tuple[date, date]:
    """The days of the period a group covers (the first and last week or month may be partial)."""
    if period.grouping == "week":
        end = group + timedelta(days=6)
    elif period.grouping == "month":
        end = (group.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    else:
        end = group
    return max(group, period.first), min(end, period.last)


def _axis_label(period: store.Period, group: date) -> str:
    return group.strftime("%b %Y") if period.grouping == "month" else f"{group.day} {group:%b}"


def _row_label(period: store.Period, group: date) -> str:
    start, end = _span(period, group)
    if period.grouping == "day":
        return f"{start:%a} {start.day} {start:%b %Y}"
    if start.month == end.month:
        return f"{start.day}{DASH}{end.day} {end:%b %Y}"
    return f"{start.day} {start:%b} {DASH} {end.day} {end:%b %Y}"


def _lead_columns(period: store.Period, group: date) -> tuple[list[Any], list[str]]:
    start, end = _span(period, group)
    return [start.isoformat(), end.isoformat()], [_row_label(period, group)]


def _hours(seconds: float | None) -> Decimal | None:
    return None if seconds is None else (Decimal(str(seconds)) / 3600).quantize(Decimal("0.01"))


def _duration_words(seconds: float | None) -> str:
    if seconds is None:
        return ""
    hours = seconds / 3600
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def _words(value: str) -> str:
    return BADGE_LABELS.get(value, value.replace("_", " ").capitalize())


def orders_section(figures: store.PeriodReports, currency: str) -> Section:
    period = figures.period
    found = {(r.group, r.currency): r for r in figures.orders}
    groups = period.groups()
    header = ["Period start", "Period end", "Orders", "Cancelled", "Not yet fulfilled", "Revenue", "Currency"]
    rows: list[list[Any]] = []
    shown: list[list[str]] = []
    for group in groups:
        in_group = [r for (g, c), r in sorted(found.items()) if g == group and c != currency]
        for r in [found.get((group, currency)) or store.OrdersRow(group, currency), *in_group]:
            dates, label = _lead_columns(period, group)
            rows.append([*dates, r.orders, r.cancelled, r.unfulfilled, r.revenue, r.currency])
            shown.append([*label, str(r.orders), str(r.cancelled), str(r.unfulfilled), money(r.revenue, r.currency)])
    mine = [found.get((g, currency)) or store.OrdersRow(g, currency) for g in groups]
    labels = [_axis_label(period, g) for g in groups]
    counts = bar_chart(
        labels,
        [
            Series("Not cancelled", [r.orders - r.cancelled for r in mine]),
            Series("Cancelled", [r.cancelled for r in mine]),
        ],
        title="Orders placed",
        description=f"Orders placed per {period.grouping}, {sum(r.orders for r in mine)} in all, "
        f"of which {sum(r.cancelled for r in mine)} were cancelled.",
    )
    revenue = bar_chart(
        labels,
        [Series(f"Revenue ({currency})", [float(r.revenue) for r in mine], "#009e73")],
        title=f"Revenue in {currency}",
        description=f"Total price of the orders placed per {period.grouping} and not cancelled, "
        f"{money(sum((r.revenue for r in mine), Decimal(0)), currency)} in all.",
        fmt=lambda v: money(v, currency).split(".")[0],  # the axis steps are whole amounts
    )
    return Section(
        "orders",
        "Orders and revenue",
        "Orders placed in each period (test orders left out), how many of them were cancelled or are "
        "still waiting for a first fulfillment, and revenue: the total price of those not cancelled.",
        header,
        rows,
        shown,
        1,
        [("Orders placed", counts), (f"Revenue in {currency}", revenue)],
        money_column=True,
    )


def _wide(
    period: store.Period,
    counted: dict[tuple[date, str], int],
    known: tuple[str, ...],
    label: Callable[[str], str],
    total_name: str,
) -> tuple[list[str], list[list[Any]], list[list[str]], list[Series], list[str]]:
    """A table with a column per category (the known ones in their order, then any others)
    and a total, and a series per category for a stacked chart."""
    present = {category for _, category in counted}
    categories = [c for c in known if c in present] + sorted(present - set(known))
    groups = period.groups()
    header = ["Period start", "Period end", *(label(c) for c in categories), total_name]
    rows, shown = [], []
    for group in groups:
        values = [counted.get((group, c), 0) for c in categories]
        dates, words = _lead_columns(period, group)
        rows.append([*dates, *values, sum(values)])
        shown.append([*words, *(str(v) for v in values), str(sum(values))])
    series = [Series(label(c), [counted.get((g, c), 0) for g in groups]) for c in categories]
    return header, rows, shown, series, [_axis_label(period, g) for g in groups]


def _series_totals(series: list[Series]) -> str:
    """Each series with its total over the whole period, for a chart's description ("Paid 12, …")."""
    return ", ".join(f"{s.name} {int(sum(v or 0 for v in s.values))}" for s in series)


def payment_section(figures: store.PeriodReports) -> Section:
    period = figures.period
    counted = figures.payment_status
    header, rows, shown, series, labels = _wide(period, counted, PAYMENT_ORDER, _words, "Orders")
    chart = bar_chart(
        labels,
        series,
        title="Payment status of the orders placed",
        description="Orders placed per "
        + period.grouping
        + ", by their payment status now: "
        + _series_totals(series)
        + ".",
    )
    return Section(
        "payment-status",
        "Payment status",
        "The orders placed in each period by their payment status today.",
        header,
        rows,
        shown,
        1,
        [("Payment status", chart)],
    )


def cancellations_section(figures: store.PeriodReports) -> Section:
    period = figures.period
    counted = figures.cancel_reasons
    header, rows, shown, series, labels = _wide(period, counted, CANCEL_REASONS, _words, "Cancelled orders")
    total = sum(counted.values())
    chart = bar_chart(
        labels,
        series,
        title="Cancellations by reason",
        description=f"Orders placed per {period.grouping} and later cancelled, {total} in all, by reason: "
        + (_series_totals(series) or "none")
        + ".",
    )
    return Section(
        "cancellations",
        "Cancellations by reason",
        "Of the orders placed in each period, how many were cancelled, by the reason given.",
        header,
        rows,
        shown,
        1,
        [("Cancellations by reason", chart)],
    )


def _top_products_series(
    counted: Mapping[tuple[Any, ...], int],
    ranked: list[Any],
    groups: list[Any],
    name: Callable[[Any], str],
) -> list[Series]:
    """A stacked series per product of the top `TOP_PRODUCTS` in `ranked`, and one for the
    other products together; `counted` is keyed (group, *product)."""
    top = ranked[:TOP_PRODUCTS]
    series = [Series(name(p), [counted.get((g, *p), 0) for g in groups]) for p in top]
    if len(ranked) > len(top):
        rest = set(ranked[len(top) :])
        series.append(
            Series(
                "Other products",
                [sum(n for (g, *p), n in counted.items() if g == group and tuple(p) in rest) for group in groups],
                "#6b7280",
            )
        )
    return series


def cancelled_products_section(figures: store.PeriodReports) -> Section:
    period = figures.period
    counted = figures.cancelled_products
    totals: dict[tuple[str, str], int] = {}
    for (_, sku, title), n in counted.items():
        totals[(sku, title)] = totals.get((sku, title), 0) + n
    ranked = sorted(totals, key=lambda p: (-totals[p], p))
    top = ranked[:TOP_PRODUCTS]
    groups = period.groups()

    def name(product: tuple[str, str]) -> str:
        sku, title = product
        return f"{title} ({sku})" if title else sku

    series = _top_products_series(counted, ranked, groups, name)
    header = ["Period start", "Period end", "SKU", "Product", "Cancelled orders"]
    rows, shown = [], []
    for (group, sku, title), n in sorted(counted.items(), key=lambda item: (item[0][0], -item[1], item[0][1:])):
        dates, words = _lead_columns(period, group)
        rows.append([*dates, sku, title, n])
        shown.append([*words, sku, title, str(n)])
    chart = bar_chart(
        [_axis_label(period, g) for g in groups],
        series,
        title="Cancelled orders by product",
        description=f"Cancelled orders per {period.grouping} that had each product; the most cancelled: "
        + (", ".join(f"{name(p)} in {totals[p]} orders" for p in top) or "none")
        + ".",
    )
    return Section(
        "cancelled-products",
        "Cancellations by product",
        "For the orders placed in each period and later cancelled: how many had each product (by its SKU; "
        "lines without a SKU are not counted).",
        header,
        rows,
        shown,
        3,
        [("Cancelled orders by product", chart)],
    )


def _durations_section(
    key: str,
    title: str,
    about: str,
    counted_name: str,
    period: store.Period,
    found: dict[date | None, store.Durations],
) -> Section:
    groups = period.groups()
    header = ["Period start", "Period end", counted_name, "Median (hours)", "90th percentile (hours)"]
    rows, shown = [], []
    for group in groups:
        d = found.get(group) or store.Durations()
        dates, words = _lead_columns(period, group)
        rows.append([*dates, d.count, _hours(d.p50), _hours(d.p90)])
        shown.append([*words, str(d.count), _duration_words(d.p50), _duration_words(d.p90)])
    whole = found.get(None) or store.Durations()
    rows.append([period.first.isoformat(), period.last.isoformat(), whole.count, _hours(whole.p50), _hours(whole.p90)])
    shown.append(["Whole period", str(whole.count), _duration_words(whole.p50), _duration_words(whole.p90)])
    in_days = (whole.p90 or 0) > 72 * 3600
    scale = 86400 if in_days else 3600
    unit = "days" if in_days else "hours"

    def per(kind: str) -> list[float | None]:
        values = [getattr(found.get(g) or store.Durations(), kind) for g in groups]
        return [None if v is None else v / scale for v in values]

    chart = line_chart(
        [_axis_label(period, g) for g in groups],
        [Series("Median", per("p50")), Series("90th percentile", per("p90"), "#e69f00")],
        title=title,
        description=f"Median and 90th percentile in {unit} per {period.grouping}; over the whole period "
        f"the median is {_duration_words(whole.p50) or 'not known'} and the 90th percentile "
        f"{_duration_words(whole.p90) or 'not known'}, from {whole.count} {counted_name.lower()}.",
        fmt=lambda v: f"{v:g} {'d' if in_days else 'h'}",
    )
    return Section(key, title, about, header, rows, shown, 1, [(title, chart)], whole_row=True)


def lead_time_section(figures: store.PeriodReports) -> Section:
    period = figures.period
    return _durations_section(
        "fulfillment-time",
        "Time to fulfill",
        "From an order being placed to its first fulfillment (fulfillments cancelled since do not "
        "count), for the orders placed in each period that have something fulfilled.",
        "Fulfilled orders",
        period,
        figures.lead_time,
    )


def transit_section(figures: store.PeriodReports) -> Section:
    period = figures.period
    return _durations_section(
        "transit-time",
        "Time in transit",
        "From a fulfillment being made to its shipment being reported delivered, per delivered "
        "shipment, by when its order was placed. Times are when Orderdeck recorded each event.",
        "Delivered shipments",
        period,
        figures.transit_time,
    )


# ---- returns (issue 13) ----------------------------------------------------------------------
#
# Returned units count by when the return was made, only returns that gave something back
# (requested, open, closed: not declined or cancelled), as store.reports counts them. The
# return rate sets them against the units fulfilled of the orders placed in the same period.


def _percent(rate: float | None) -> Decimal | None:
    return None if rate is None else (Decimal(str(rate)) * 100).quantize(Decimal("0.1"))


def _percent_words(rate: float | None) -> str:
    # Nothing fulfilled: there is no rate, which is not a rate of 0 %.
    return "" if rate is None else f"{_percent(rate)} %"


def _reason_words(reason: str) -> str:
    return REASON_WORDS.get(reason, _words(reason))


def _product_name(product: store.ProductKey) -> str:
    return product[1] or (f"Product {product[0]}" if product[0] is not None else "Custom item")


def _short(name: str, most: int = 12) -> str:
    """A chart's axis label: the table and the bar's tooltip have the whole name."""
    return name if len(name) <= most else name[: most - 1] + "…"


def _returned_units(section: Section) -> int:
    """The whole period's returned units (its last row) of the returns-by-reason section."""
    return int(section.rows[-1][-3])


def returns_by_reason_section(figures: store.PeriodReports) -> Section:
    period = figures.period
    counted = figures.returns_by_reason
    rates = figures.return_rate
    header, rows, shown, series, labels = _wide(period, counted, RETURN_REASONS, _reason_words, "Returned units")
    header += ["Fulfilled units", "Return rate (%)"]
    groups = period.groups()
    for group, row, words in zip(groups, rows, shown, strict=True):
        rate = rates.get(group) or store.ReturnRate()
        row += [rate.fulfilled, _percent(rate.rate)]
        words += [str(rate.fulfilled), _percent_words(rate.rate)]
    whole = rates.get(None) or store.ReturnRate()
    by_reason = [sum(s.values[i] or 0 for i in range(len(groups))) for s in series]
    rows.append(
        [
            period.first.isoformat(),
            period.last.isoformat(),
            *by_reason,
            whole.returned,
            whole.fulfilled,
            _percent(whole.rate),
        ]
    )
    shown.append(
        [
            "Whole period",
            *(str(int(n)) for n in by_reason),
            str(whole.returned),
            str(whole.fulfilled),
            _percent_words(whole.rate),
        ]
    )
    units = bar_chart(
        labels,
        series,
        title="Returned units by reason",
        description=f"Units on returns made per {period.grouping}, {whole.returned} in all, by reason: "
        + (_series_totals(series) or "none")
        + ".",
    )
    rate_line = line_chart(
        labels,
        [
            Series(
                "Return rate", [None if (r := rates.get(g)) is None or r.rate is None else r.rate * 100 for g in groups]
            )
        ],
        title="Return rate",
        description=f"Units returned per {period.grouping} as a percentage of the units fulfilled of the orders "
        f"placed in it; over the whole period {_percent_words(whole.rate) or 'no rate (nothing fulfilled)'}, "
        f"{whole.returned} of {whole.fulfilled} units.",
        fmt=lambda v: f"{v:g} %",
    )
    return Section(
        "returns-by-reason",
        "Returns by reason",
        "Units on the returns made in each period, by the reason given (declined and cancelled returns "
        "gave nothing back and are not counted), and the return rate: those units against the units "
        "fulfilled of the orders placed in the same period.",
        header,
        rows,
        shown,
        1,
        [("Returned units by reason", units), ("Return rate", rate_line)],
        whole_row=True,
    )


def returns_by_product_section(figures: store.PeriodReports) -> Section:
    period = figures.period
    counted = figures.returns_by_product
    totals: dict[store.ProductKey, int] = {}
    for (_, product_id, title), n in counted.items():
        totals[(product_id, title)] = totals.get((product_id, title), 0) + n
    ranked = sorted(totals, key=lambda p: (-totals[p], _product_name(p), p[0] or 0))
    top = ranked[:TOP_PRODUCTS]
    groups = period.groups()
    series = _top_products_series(counted, ranked, groups, _product_name)
    header = ["Period start", "Period end", "Product ID", "Product", "Returned units"]
    rows, shown = [], []
    ordered = sorted(counted.items(), key=lambda item: (item[0][0], -item[1], str(item[0][2]), item[0][1] or 0))
    for (group, product_id, title), n in ordered:
        dates, words = _lead_columns(period, group)
        rows.append([*dates, product_id, title, n])
        shown.append([*words, _product_name((product_id, title)), str(n)])
    chart = bar_chart(
        [_axis_label(period, g) for g in groups],
        series,
        title="Returned units by product",
        description=f"Units on returns made per {period.grouping}, by product; the most returned: "
        + (", ".join(f"{_product_name(p)} {totals[p]}" for p in top) or "none")
        + ".",
    )
    return Section(
        "returns-by-product",
        "Returns by product",
        "Units on the returns made in each period, by product (declined and cancelled returns not counted).",
        header,
        rows,
        shown,
        2,
        [("Returned units by product", chart)],
        hidden=1,
    )


def return_rate_by_product_section(figures: store.PeriodReports) -> Section:
    period = figures.period
    found = figures.return_rate_by_product
    ranked = sorted(found, key=lambda p: (-found[p].returned, -found[p].fulfilled, _product_name(p), p[0] or 0))
    header = [
        "Period start",
        "Period end",
        "Product ID",
        "Product",
        "Fulfilled units",
        "Returned units",
        "Return rate (%)",
    ]
    rows, shown = [], []
    for product in ranked:
        r = found[product]
        rows.append(
            [
                period.first.isoformat(),
                period.last.isoformat(),
                product[0],
                product[1],
                r.fulfilled,
                r.returned,
                _percent(r.rate),
            ]
        )
        shown.append([_product_name(product), str(r.fulfilled), str(r.returned), _percent_words(r.rate)])
    charted = [p for p in ranked if found[p].returned and found[p].rate is not None][:RATE_PRODUCTS]
    chart = bar_chart(
        [_short(_product_name(p)) for p in charted],
        [Series("Return rate", [float(_percent(found[p].rate) or 0) for p in charted], "#d55e00")],
        title="Return rate by product",
        description="Of the most returned products, units returned in the period as a percentage of their "
        "units fulfilled of the orders placed in it: "
        + (", ".join(f"{_product_name(p)} {_percent_words(found[p].rate)}" for p in charted) or "none")
        + ".",
        fmt=lambda v: f"{v:g} %",
    )
    return Section(
        "return-rate-by-product",
        "Return rate by product",
        "For the whole period, per product: units fulfilled of the orders placed in it, units on the "
        "returns made in it, and the one against the other. A product returned in the period but sold "
        "before it has no rate.",
        header,
        rows,
        shown,
        1,
        [("Return rate by product", chart)],
        first_column="Product",
        hidden=2,
    )


SECTIONS: dict[str, Callable[[store.PeriodReports, str], Section]] = {
    "orders": orders_section,
    "payment-status": lambda figures, _currency: payment_section(figures),
    "cancellations": lambda figures, _currency: cancellations_section(figures),
    "cancelled-products": lambda figures, _currency: cancelled_products_section(figures),
    "fulfillment-time": lambda figures, _currency: lead_time_section(figures),
    "transit-time": lambda figures, _currency: transit_section(figures),
    "returns-by-reason": lambda figures, _currency: returns_by_reason_section(figures),
    "returns-by-product": lambda figures, _currency: returns_by_product_section(figures),
    "return-rate-by-product": lambda figures, _currency: return_rate_by_product_section(figures),
}


# ---- routes --------------------------------------------------------------------------------


def _today(admin: Admin, timezone: str) -> date:
    return admin.app.clock().astimezone(ZoneInfo(timezone)).date()


@router.get("/reports", summary="Reports: orders, revenue, cancellations, fulfillment and transit times, returns")
def reports_page(request: Request, admin: Annotated[Admin, Depends(require("view_orders"))]) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        shop = uow.shop
        choice, period = choose(request.query_params, _today(admin, shop.timezone), shop.timezone)
        sections: list[Section] = []
        empty = False
        if period is not None:
            # One PeriodReports for the page: what several reports are worked out from (the
            # period's orders, its fulfilled units, its returns) is read once for all of them.
            figures = store.PeriodReports(uow.conn, period)
            first = orders_section(figures, shop.currency)
            returned = returns_by_reason_section(figures)
            # Returns made in a period may come from orders placed before it: either is news.
            empty = not any(row[2] for row in first.rows) and not _returned_units(returned)
            if not empty:
                made = {"orders": first, "returns-by-reason": returned}
                sections = [
                    made[key] if key in made else build(figures, shop.currency) for key, build in SECTIONS.items()
                ]
    return render(
        admin,
        "reports.html",
        status=200 if period is not None else 422,
        choice=choice,
        period=period,
        sections=sections,
        empty=empty,
        periods=PERIODS,
        groupings=GROUPINGS,
        timezone=shop.timezone,
        period_words=_period_words(period) if period else "",
    )


@router.get("/reports/{report}.csv", summary="One report's table as CSV")
def report_csv(report: str, request: Request, admin: Annotated[Admin, Depends(require("view_orders"))]) -> Response:
    build = SECTIONS.get(report)
    if build is None:
        raise NotFound(f"There is no report called {report}; the Reports page links to each one.")
    with admin.app.unit_of_work(read_only=True) as uow:
        shop = uow.shop
        choice, period = choose(request.query_params, _today(admin, shop.timezone), shop.timezone)
        if period is None:
            message = " ".join(f"{name.capitalize()}: {text}" for name, text in choice.errors.items())
            return PlainTextResponse(f"No report: {message}\n", status_code=422, headers=NO_STORE)
        section = build(store.PeriodReports(uow.conn, period, whole_page=False), shop.currency)
    buffer = io.StringIO()
    writer = SafeWriter(buffer)  # a SKU or title starting with = + - @ stays text
    writer.writerow(section.header)
    writer.writerows(section.rows)
    name = f"{report}-{period.first}-to-{period.last}-by-{period.grouping}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def _period_words(period: store.Period) -> str:
    def day(d: date) -> str:
        return f"{d.day} {d:%b %Y}"

    return f"{day(period.first)} {DASH} {day(period.last)}, by {period.grouping}"
