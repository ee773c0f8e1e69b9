"""The Orders page's query string ↔ the order filter the store runs (store/queries.OrderFilter).

One reading for the list, its count, the CSV export and bulk work "on the whole filter", so all
of them select exactly the same orders. `filter_query` gives the one spelling of a filter as a
query string (tabs, saved views, the bulk form's hidden `filter`, the export link), and
`check_known` refuses stages and locations the shop does not have.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from ...domain.errors import InvalidInput
from ...store.queries import OrderFilter

# Query keys the Orders page understands (anything else in the query string is ignored).
KEYS = (
    "status",
    "financial_status",
    "fulfillment_status",
    "return_status",
    "shipment_status",
    "custom_status",
    "tag",
    "tag_not",
    "source_name",
    "location_id",
    "stuck",
    "created_from",
    "created_to",
    "q",
)


def shop_day(value: str, name: str, timezone: str, *, end: bool) -> datetime:
    """A YYYY-MM-DD form value as the start (or the end) of that day in the shop's time zone, in UTC
    (the Orders and Shipments pages' date filters)."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(f"{value[:40]!r} is not a date; use YYYY-MM-DD", field=name) from None
    if not 1900 <= day.year <= 2999:
        raise InvalidInput("must be a day between the years 1900 and 2999", field=name)
    moment = datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone))
    # The end of a day is its last microsecond: the store's upper bound includes its value.
    return (moment + timedelta(days=1, microseconds=-1) if end else moment).astimezone(UTC)


def order_filter(params: QueryParams | dict[str, Any], timezone: str = "UTC") -> OrderFilter:
    """The filter a query string describes; dates are whole days in the shop's time zone."""
    get = params.get
    status = get("status") or "any"
    # "archived" is the merchant's word for what the store calls closed.
    values: dict[str, Any] = {"status": "closed" if status == "archived" else status}
    for key in ("financial_status", "fulfillment_status", "return_status"):
        values[key] = get(key) or "any"
    for key in ("custom_status", "source_name", "q", "stuck", "shipment_status"):
        value = (get(key) or "").strip()
        if value:
            values[key] = value
    for key in ("tag", "tag_not"):
        raw = params.getlist(key) if isinstance(params, QueryParams) else [params.get(key) or ""]
        tags = [t.strip() for value in raw for t in value.split(",") if t.strip()]
        if tags:
            values[key] = tags
    location = (get("location_id") or "").strip()
    if location:
        if not location.isdecimal() or len(location) > 18:
            raise InvalidInput(f"{location!r} is not a location", field="location_id")
        values["location_id"] = int(location)
    for key, bound, end in (("created_from", "created_at_min", False), ("created_to", "created_at_max", True)):
        day = (get(key) or "").strip()
        if day:
            values[bound] = shop_day(day, key, timezone, end=end)
    chosen = OrderFilter(**values)
    chosen.check()
    return chosen


# Keys whose "any" means no condition, so "status=any" and no status are one filter.
_ANY_MEANS_NONE = ("status", "financial_status", "fulfillment_status", "return_status")
# Values with two spellings that select the same orders, written one way.
_SYNONYMS = {("status", "archived"): "closed", ("fulfillment_status", "fulfilled"): "shipped"}


def filter_query(params: QueryParams | dict[str, Any] | str) -> str:
    """The filter part of a query string, in one spelling: only the Orders page's keys, in
    KEYS order, without empty values or "any" (page_info and everything else dropped)."""
    if isinstance(params, str):
        params = QueryParams(params.lstrip("?"))
    pairs: list[tuple[str, str]] = []
    for key in KEYS:
        raw = params.getlist(key) if isinstance(params, QueryParams) else [params.get(key) or ""]
        for value in raw:
            value = str(value).strip()
            if value and not (key in _ANY_MEANS_NONE and value == "any"):
                pairs.append((key, _SYNONYMS.get((key, value), value)))
    return urlencode(pairs)


def check_known(chosen: OrderFilter, stages: set[str], locations: set[int]) -> None:
    """Refuse a custom status or a location the shop does not have: a filter on one would
    quietly show no orders, which reads as "there are none" rather than "that is a typo"."""
    if chosen.custom_status and chosen.custom_status != "none" and chosen.custom_status not in stages:
        raise InvalidInput(f"there is no custom status {chosen.custom_status!r}", field="custom_status")
    if chosen.location_id is not None and chosen.location_id not in locations:
        raise InvalidInput(f"there is no location with id {chosen.location_id}", field="location_id")
