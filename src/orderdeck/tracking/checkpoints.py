"""What an aggregator or carrier pushes, read into one shape: a tracking number and its
checkpoints, each with a Shopify shipment status. Pure: no I/O. Our own generic body is read
here; AfterShip's in tracking/aftership.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from ..domain.fulfillment import SHIPMENT_STATUSES


class BadBody(Exception):
    """A pushed body we cannot read; `field` names where (e.g. `events[2].happened_at`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Checkpoint:
    status: str  # one of domain.fulfillment.SHIPMENT_STATUSES
    happened_at: datetime
    details: dict[str, Any] = field(default_factory=dict)  # message, city, … as FulfillmentEvent takes them


@dataclass(frozen=True)
class Pushed:
    tracking_number: str
    carrier: str | None
    checkpoints: list[Checkpoint]


def text(value: Any, name: str, *, limit: int = 255) -> str | None:
    """An optional string field; over-long carrier text is cut rather than refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadBody(name, "must be a string")
    if "\x00" in value:  # PostgreSQL stores no NUL in text or JSON
        raise BadBody(name, "must not contain a NUL character")
    value = value.strip()
    return value[:limit] or None


def number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadBody(name, "must be a number")
    try:
        result = float(value)
    except ValueError:
        raise BadBody(name, "must be a number") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise BadBody(name, "must be a number")
    return result


def moment(value: Any, name: str, *, required: bool = False) -> datetime | None:
    """ISO 8601 date-time (a date alone is its midnight); without an offset it is taken as UTC,
    as carriers that send local times without one give us nothing better."""
    if value is None or value == "":
        if required:
            raise BadBody(name, "is required")
        return None
    if not isinstance(value, str):
        raise BadBody(name, "must be an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value.strip()), time())
        except ValueError:
            raise BadBody(name, "must be an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1970 <= parsed.year <= 9998:  # checked before moving it to UTC, which overflows at the ends
        raise BadBody(name, "is out of range")
    return parsed.astimezone(UTC)


def tracking_number(value: Any, name: str) -> str:
    found = text(value, name)
    if found is None:
        raise BadBody(name, "is required")
    return found


def read_generic(body: Any) -> Pushed:
    """Orderdeck's own shape: `{"tracking_number", "carrier", "events": [{"status", "happened_at",
    "message", "city", "province", "country", "zip", "latitude", "longitude",
    "estimated_delivery_at"}]}` with Shopify's shipment status names."""
    if not isinstance(body, dict):
        raise BadBody("body", "must be a JSON object")
    number_ = tracking_number(body.get("tracking_number"), "tracking_number")
    carrier = text(body.get("carrier"), "carrier")
    events = body.get("events")
    if not isinstance(events, list):
        raise BadBody("events", "must be a list")
    checkpoints = []
    for i, event in enumerate(events):
        at = f"events[{i}]"
        if not isinstance(event, dict):
            raise BadBody(at, "must be an object")
        status = event.get("status")
        if status not in SHIPMENT_STATUSES:
            raise BadBody(f"{at}.status", f"must be one of {', '.join(SHIPMENT_STATUSES)}")
        happened_at = moment(event.get("happened_at"), f"{at}.happened_at", required=True)
        assert happened_at is not None
        details = {
            "message": text(event.get("message"), f"{at}.message", limit=1000),
            "city": text(event.get("city"), f"{at}.city"),
            "province": text(event.get("province"), f"{at}.province"),
            "country": text(event.get("country"), f"{at}.country"),
            "zip": text(event.get("zip"), f"{at}.zip"),
            "latitude": latitude(event.get("latitude"), f"{at}.latitude"),
            "longitude": longitude(event.get("longitude"), f"{at}.longitude"),
            "estimated_delivery_at": moment(event.get("estimated_delivery_at"), f"{at}.estimated_delivery_at"),
        }
        checkpoints.append(Checkpoint(status, happened_at, details))
    return Pushed(number_, carrier, checkpoints)


def latitude(value: Any, name: str) -> float | None:
    found = number(value, name)
    if found is not None and not -90 <= found <= 90:
        raise BadBody(name, "must be between -90 and 90")
    return found


def longitude(value: Any, name: str) -> float | None:
    found = number(value, name)
    if found is not None and not -180 <= found <= 180:
        raise BadBody(name, "must be between -180 and 180")
    return found
