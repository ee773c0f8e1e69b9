"""The Orders page's query string ↔ the order filter the store runs (store/queries.OrderFilter).

One reading for the list, its count, the CSV export and bulk work "on the whole filter", so all
of them select exactly the same orders.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from ...domain.errors import InvalidInput
from ...store.queries import OrderFilter

# Query keys the Orders page understands (anything else in the query string is ignored).
KEYS = (
    "status",
    "financial_status",
    "fulfillment_status",
    "custom_status",
    "tag",
    "tag_not",
    "source_name",
    "location_id",
    "created_from",
    "created_to",
    "q",
)


def _day(value: str, name: str, timezone: str, *, end: bool) -> datetime:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date; use YYYY-MM-DD", field=name) from None
    moment = datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone))
    return (moment + timedelta(days=1) if end else moment).astimezone(UTC)


def order_filter(params: QueryParams | dict[str, Any], timezone: str = "UTC") -> OrderFilter:
    """The filter a query string describes; dates are whole days in the shop's time zone."""
    get = params.get
    values: dict[str, Any] = {"status": get("status") or "any"}
    for key in ("financial_status", "fulfillment_status"):
        values[key] = get(key) or "any"
    for key in ("custom_status", "source_name", "q"):
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
        if not location.isdigit():
            raise InvalidInput(f"{location!r} is not a location", field="location_id")
        values["location_id"] = int(location)
    if get("created_from"):
        values["created_at_min"] = _day(get("created_from"), "created_from", timezone, end=False)
    if get("created_to"):
        values["created_at_max"] = _day(get("created_to"), "created_to", timezone, end=True)
    chosen = OrderFilter(**values)
    chosen.check()
    return chosen
