"""AfterShip's webhook body read into checkpoints with Shopify shipment statuses. Pure.

The tag mapping is AfterShip's own for its write-back to Shopify ("Syncing AfterShip checkpoint
events to Shopify"; AFTER-THE-SALE §5.2). Its Exception row splits into failure and delayed;
the delayed ones are the sub-statuses AfterShip itself names "Delayed (…)": customs clearance,
external factors, processing issue, extreme weather. Expired has no Shopify equivalent and is
not written; nor is a tag AfterShip may add later (skipping it beats an error AfterShip retries)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .checkpoints import BadBody, Checkpoint, Pushed, moment, number, text, tracking_number

TAGS = {
    "Pending": "confirmed",
    "InfoReceived": "label_printed",
    "InTransit": "in_transit",
    "OutForDelivery": "out_for_delivery",
    "AttemptFail": "attempted_delivery",
    "Delivered": "delivered",
    "AvailableForPickup": "ready_for_pickup",
    "Exception": "failure",
    "Expired": None,
}
DELAYED_SUBTAGS = frozenset({"Exception_004", "Exception_005", "Exception_016", "Exception_017"})


def shipment_status(tag: str | None, subtag: str | None = None) -> str | None:
    """The Shopify shipment status of an AfterShip tag and subtag; None: nothing to record."""
    if tag == "Exception" and subtag in DELAYED_SUBTAGS:
        return "delayed"
    return TAGS.get(tag or "")


def _coordinates(value: Any, at: str) -> tuple[float | None, float | None]:
    # AfterShip sends [latitude, longitude] where the carrier gave a position, else [] or nothing.
    # Anything else is no position, and left out rather than refused.
    if isinstance(value, list) and len(value) == 2:
        try:
            lat, lng = number(value[0], f"{at}[0]"), number(value[1], f"{at}[1]")
        except BadBody:
            return None, None
        if lat is not None and lng is not None and -90 <= lat <= 90 and -180 <= lng <= 180:
            return lat, lng
    return None, None


def _checkpoint(raw: Any, at: str, estimated: datetime | None) -> Checkpoint | None:
    if not isinstance(raw, dict):
        raise BadBody(at, "must be an object")
    tag = text(raw.get("tag"), f"{at}.tag")
    if tag is None:
        raise BadBody(f"{at}.tag", "is required")
    status = shipment_status(tag, text(raw.get("subtag"), f"{at}.subtag"))
    happened_at = moment(raw.get("checkpoint_time"), f"{at}.checkpoint_time", required=True)
    if status is None:
        return None
    assert happened_at is not None
    latitude, longitude = _coordinates(raw.get("coordinates"), f"{at}.coordinates")
    country = (
        text(raw.get("country_name"), f"{at}.country_name")
        or text(raw.get("country_region_name"), f"{at}.country_region_name")
        or text(raw.get("country_iso3"), f"{at}.country_iso3")
        or text(raw.get("country_region"), f"{at}.country_region")
    )
    details = {
        "message": text(raw.get("message"), f"{at}.message", limit=1000),
        "city": text(raw.get("city"), f"{at}.city"),
        "province": text(raw.get("state"), f"{at}.state"),
        "country": country,
        "zip": text(raw.get("zip"), f"{at}.zip"),
        "address1": text(raw.get("location"), f"{at}.location"),
        "latitude": latitude,
        "longitude": longitude,
        "estimated_delivery_at": estimated,
    }
    return Checkpoint(status, happened_at, details)


def _when_without_checkpoints(msg: dict[str, Any], body: dict[str, Any]) -> datetime | None:
    updated = moment(msg.get("updated_at"), "msg.updated_at")
    if updated is not None:
        return updated
    stamp = body.get("ts")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 253_000_000_000:
        return datetime.fromtimestamp(stamp, UTC)
    return None


def read_webhook(body: Any) -> Pushed:
    """`{"event", "msg": {"tracking_number", "slug", "tag", "subtag", "checkpoints": […],
    "expected_delivery", …}, "ts"}`: each checkpoint with a mapped tag becomes one; a shipment
    with no checkpoints yet (Pending, InfoReceived) gives its own tag, as of `msg.updated_at`
    or `ts`."""
    if not isinstance(body, dict):
        raise BadBody("body", "must be a JSON object")
    msg = body.get("msg")
    if not isinstance(msg, dict):
        raise BadBody("msg", "must be an object")
    number_ = tracking_number(msg.get("tracking_number"), "msg.tracking_number")
    carrier = text(msg.get("slug"), "msg.slug")
    estimated = moment(msg.get("expected_delivery"), "msg.expected_delivery")
    raw = msg.get("checkpoints")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise BadBody("msg.checkpoints", "must be a list")
    checkpoints = [
        found
        for i, item in enumerate(raw)
        if (found := _checkpoint(item, f"msg.checkpoints[{i}]", estimated)) is not None
    ]
    if not raw:
        status = shipment_status(text(msg.get("tag"), "msg.tag"), text(msg.get("subtag"), "msg.subtag"))
        when = _when_without_checkpoints(msg, body)
        if status is not None and when is not None:
            checkpoints.append(Checkpoint(status, when, {"estimated_delivery_at": estimated}))
    return Pushed(number_, carrier, checkpoints)
