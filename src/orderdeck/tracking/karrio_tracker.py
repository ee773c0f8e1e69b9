"""Polling carriers' tracking APIs through karrio (the LGPL multi-carrier SDK): which carriers
Orderdeck polls, the credentials each wants, one batch of numbers fetched with karrio's real
code, and karrio's normalised statuses read as Shopify shipment statuses (AFTER-THE-SALE §5.5).

karrio answers a batch with the shipments it found and messages for the rest; it hides HTTP
status codes. What it records in its tracer (each HTTP error's body and headers) tells a rate
limit (429, Retry-After) from a number the carrier does not know and from a failure.

A `base_url` (the settings' `carrier_api_url`, ORDERDECK_CARRIER_API_URL) sends every carrier's
API calls to that base URL instead of the carrier's (tests, the benchmark and demos run karrio
against tests/integration/carrier_server.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import attr
from loguru import logger

from ..countries import is_country
from ..domain.errors import InvalidInput
from .checkpoints import BadBody, Checkpoint, moment

logger.disable("karrio")  # karrio logs every request at INFO to stderr; failures are recorded on the tracker
# karrio's schemas warn of every field a carrier sends that they do not model (an access token's expires_in…)
logging.getLogger("jstruct").setLevel(logging.ERROR)

# karrio's TrackingStatus → Shopify's shipment status (AFTER-THE-SALE §5.5). picked_up would be
# carrier_picked_up, which REST 2024-10 clients do not know: they get in_transit. unknown says
# nothing and is not written.
STATUSES: dict[str, str | None] = {
    "pending": "confirmed",
    "picked_up": "in_transit",
    "in_transit": "in_transit",
    "on_hold": "delayed",
    "delivery_delayed": "delayed",
    "out_for_delivery": "out_for_delivery",
    "ready_for_pickup": "ready_for_pickup",
    "delivered": "delivered",
    "delivery_failed": "attempted_delivery",
    "return_to_sender": "failure",
    "cancelled": "failure",
    "unknown": None,
}


@dataclass(frozen=True)
class Carrier:
    name: str  # karrio's carrier_name
    title: str  # as merchants know it
    companies: tuple[str, ...]  # tracking companies (lower case) whose numbers it tracks
    required: tuple[str, ...]  # credentials karrio needs to track
    plain: tuple[str, ...] = ()  # credentials that are no secret: shown back on the settings page
    batch: int = 10  # numbers per call (karrio's server polls 10 at a time; GLS takes at most 10)


# The connectors with a tracking API for carriers merchants in the Netherlands, Germany and
# Finland use. A company is tracked by the first of its carriers with an active account.
CARRIERS = {
    c.name: c
    for c in (
        Carrier(
            "dhl_universal",
            "DHL (Unified Shipment Tracking: Parcel NL/DE, Deutsche Post, eCommerce, Express)",
            ("dhl", "dhl express", "dhl parcel", "dhl paket", "dhl ecommerce", "deutsche post"),
            ("consumer_key", "consumer_secret"),
            plain=("language",),
        ),
        Carrier(
            "dhl_parcel_de",
            "DHL Paket (Germany)",
            ("dhl paket", "deutsche post"),
            ("username", "password", "client_id", "client_secret"),
        ),
        Carrier(
            "dhl_express", "DHL Express", ("dhl express", "dhl"), ("site_id", "password"), plain=("account_number",)
        ),
        Carrier("dpd", "DPD", ("dpd",), ("delis_id", "password"), plain=("depot", "message_language")),
        Carrier("gls", "GLS", ("gls",), ("client_id", "client_secret"), plain=("contact_id",)),
        Carrier("ups", "UPS", ("ups",), ("client_id", "client_secret"), plain=("account_number",)),
        Carrier("fedex", "FedEx", ("fedex",), ("api_key", "secret_key"), plain=("account_number",)),
        Carrier("hermes", "Hermes", ("hermes",), ("username", "password", "client_id", "client_secret")),
        Carrier("tnt", "TNT", ("tnt",), ("username", "password"), plain=("account_number",)),
    )
}
COMMON_PLAIN = ("account_country_code",)


# Seconds each HTTP call to a carrier may take. karrio's connectors call urlopen without a timeout,
# so a carrier that takes the call and goes quiet would hold the sweep, and with it every other
# job of that worker, for ever.
CALL_TIMEOUT = 30.0


@cache
def _providers() -> dict[str, Any]:
    import karrio.core.utils.helpers as helpers
    import karrio.references as references
    import karrio.sdk  # noqa: F401  (loads the installed extensions)

    untimed = helpers.urlopen

    def urlopen(url: Any, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return untimed(url, *args, timeout=CALL_TIMEOUT if timeout is None else timeout, **kwargs)

    helpers.urlopen = urlopen  # karrio's every carrier call goes through helpers' urlopen
    return dict(references.collect_providers_data())


@cache
def installed() -> tuple[str, ...]:
    """The carriers above whose karrio extension is installed and can track."""
    import karrio.references as references

    providers = _providers()
    return tuple(
        name
        for name in CARRIERS
        if name in providers and "get_tracking" in references.detect_proxy_methods(providers[name].Proxy)
    )


def fields_of(carrier: str) -> tuple[str, ...]:
    """Every credential karrio's settings for the carrier take (its own, not Orderdeck's)."""
    skip = {"id", "test_mode", "carrier_id", "metadata", "config", "services"}
    settings = _providers()[carrier].Settings
    return tuple(f.name for f in attr.fields(settings) if f.name not in skip)


def is_plain(carrier: str, name: str) -> bool:
    return name in CARRIERS[carrier].plain or name in COMMON_PLAIN


def check_credentials(carrier: Any, credentials: dict[str, Any]) -> dict[str, str]:
    """The credentials to keep: known fields only, each a string, the required ones present."""
    if carrier not in installed():
        raise InvalidInput(f"must be one of {', '.join(installed())}", field="carrier")
    known = fields_of(carrier)
    kept: dict[str, str] = {}
    for name, value in credentials.items():
        if name not in known:
            raise InvalidInput(f"is not a {carrier} setting (karrio takes {', '.join(known)})", field=name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str):
            raise InvalidInput("must be text", field=name)
        if len(value) > 2000 or "\x00" in value:
            raise InvalidInput("must be at most 2000 characters of text", field=name)
        kept[name] = value.strip()
    country = kept.get("account_country_code")
    if country is not None:
        if not is_country(country.upper()):
            raise InvalidInput("must be a country's two-letter code, such as DE", field="account_country_code")
        kept["account_country_code"] = country.upper()
    for name in CARRIERS[carrier].required:
        if name not in kept:
            raise InvalidInput(f"can't be blank: {CARRIERS[carrier].title} needs it to track", field=name)
    return kept


def carrier_for(company: str | None, active: set[str]) -> str | None:
    """The carrier with an active account that tracks this tracking company's numbers."""
    if not company:
        return None
    wanted = company.strip().lower()
    return next((c.name for c in CARRIERS.values() if c.name in active and wanted in c.companies), None)


def _pointed_at(settings_class: type, base: str) -> type:
    """karrio's settings for the carrier with every API address moved to `base` (kept path)."""

    def moved(original: property) -> property:
        def value(self: Any) -> str:
            parts = urlsplit(original.fget(self) or "")  # type: ignore[misc]
            return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")

        return property(value)

    overrides = {
        name: moved(member)
        for klass in reversed(settings_class.__mro__)  # the most derived definition wins
        for name, member in vars(klass).items()
        if isinstance(member, property) and (name.endswith("server_url") or name == "token_url")
    }
    return type(f"Local{settings_class.__name__}", (settings_class,), overrides)


@cache
def _settings_class(carrier: str, base: str | None) -> type:
    settings = _providers()[carrier].Settings
    return _pointed_at(settings, base) if base else settings


@cache
def _cache(carrier: str, account_id: int, credentials: str, test_mode: bool) -> Any:
    """karrio's cache for one account as it is now: its OAuth tokens (GLS, UPS, DPD…) are asked
    for once and reused until they expire, not once per batch."""
    import karrio.lib as lib

    return lib.Cache()


def gateway(
    carrier: str,
    credentials: dict[str, Any],
    *,
    test_mode: bool,
    tracer: Any,
    account_id: int,
    base_url: str | None = None,
) -> Any:
    import karrio.sdk as karrio

    settings = _settings_class(carrier, base_url or None)(
        **credentials, test_mode=test_mode, id=str(account_id), carrier_id=carrier
    )
    held = _cache(carrier, account_id, repr(sorted(credentials.items())), test_mode)
    return karrio.gateway[carrier].create(settings, tracer=tracer, cache=held)


# What tells a rate limit and a number the carrier does not know, in karrio's messages and the
# error bodies its tracer kept.
_LIMITED = re.compile(r"\b429\b|too many requests|rate.?limit|quota", re.IGNORECASE)
_UNKNOWN = re.compile(
    r"\b404\b|not found|no shipment|unknown (tracking|parcel|shipment)|invalid tracking|no data found|no result",
    re.IGNORECASE,
)


@dataclass
class Outcome:
    """What one batch gave for each number."""

    found: dict[str, Any] = field(default_factory=dict)  # number → karrio TrackingDetails
    unknown: dict[str, str] = field(default_factory=dict)  # number → the carrier's words
    failed: dict[str, str] = field(default_factory=dict)  # number → what went wrong
    retry_after: float | None = None  # set: the carrier limits our rate; wait this many seconds


def _key(number: str) -> str:
    return re.sub(r"\s+", "", number).upper()


def _retry_after(headers: dict[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                try:
                    from email.utils import parsedate_to_datetime

                    return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
                except (TypeError, ValueError):
                    return 0.0
    return 0.0


def fetch(
    carrier: str,
    credentials: dict[str, Any],
    numbers: list[str],
    *,
    test_mode: bool,
    account_id: int,
    base_url: str | None = None,
) -> Outcome:
    """One call of karrio's Tracking.fetch for these numbers, each number's outcome; `base_url`
    set, at that address instead of the carrier's."""
    import karrio.core.models as models
    import karrio.lib as lib
    import karrio.sdk as karrio

    tracer = lib.Tracer()
    outcome = Outcome()
    try:
        gate = gateway(
            carrier, credentials, test_mode=test_mode, tracer=tracer, account_id=account_id, base_url=base_url
        )
        details, messages = karrio.Tracking.fetch(models.TrackingRequest(tracking_numbers=numbers)).from_(gate).parse()
    except Exception as exc:  # karrio's own guards catch most; a settings error lands here
        for number in numbers:
            outcome.failed[number] = f"karrio: {exc}"[:500]
        return outcome
    wanted = {_key(n): n for n in numbers}
    for found in details or []:
        for candidate in (found.tracking_number, (found.meta or {}).get("requested")):
            if candidate and _key(str(candidate)) in wanted:
                outcome.found.setdefault(wanted[_key(str(candidate))], found)
                break
        else:
            if len(numbers) == 1 and not outcome.found:
                outcome.found[numbers[0]] = found
    errors = [r.data for r in tracer.records if r.key == "error" and isinstance(r.data, dict)]
    bodies = [str(e.get("error", ""))[:500] for e in errors]
    limited = [e for e, body in zip(errors, bodies, strict=True) if _LIMITED.search(body)] + [
        e for e in errors if _retry_after(e.get("response_headers") or {}) > 0
    ]
    limited_words = [m for m in messages or [] if _LIMITED.search(f"{m.code} {m.message}")]
    if limited or limited_words:
        outcome.retry_after = max([_retry_after(e.get("response_headers") or {}) for e in limited] + [0.0])
        return outcome
    words = [(f"{m.code}: {m.message}".strip(": "), f"{m.code} {m.message} {m.details}") for m in messages or []]
    # A message naming a number is about that number; one naming none is about every number left.
    untied = [text for text, whole in words if not any(_key(n) in _key(whole) for n in numbers)]
    for number in (n for n in numbers if n not in outcome.found):
        said = [text for text, whole in words if _key(number) in _key(whole)] or untied
        if said and all(_UNKNOWN.search(text) for text in said):
            outcome.unknown[number] = "; ".join(said)[:500]
        elif said:
            outcome.failed[number] = "; ".join(said)[:500]
        elif bodies:
            outcome.failed[number] = "; ".join(bodies)[:500]
        else:
            outcome.unknown[number] = "the carrier returned nothing for this number"
    return outcome


def _when(event: Any) -> datetime | None:
    """An event's moment: its ISO timestamp, else its date and time (taken as UTC)."""
    for value in (event.timestamp, f"{event.date}T{event.time}" if event.date and event.time else None, event.date):
        if value:
            try:
                return moment(str(value), "timestamp")
            except BadBody:
                continue
    return None


def checkpoints(details: Any, *, now: datetime, known_status: str | None) -> tuple[list[Checkpoint], str | None]:
    """The shipment's events as checkpoints with Shopify statuses, and its current status.

    An event with karrio's own status is one checkpoint. Carriers (GLS, DHL's unified API) often
    give a status only for the shipment: its newest event carries it. Other events say nothing
    new about the status and are left out. A status with no events at all is one checkpoint now,
    once (when it differs from the status already known)."""
    current = STATUSES.get(str(details.status or "unknown"))
    timed = [(when, event) for event in details.events or [] if (when := _when(event)) is not None]
    timed.sort(key=lambda pair: pair[0])
    found: list[Checkpoint] = []
    for index, (when, event) in enumerate(timed):
        status = STATUSES.get(str(event.status)) if event.status else None
        if status is None and index == len(timed) - 1:
            status = current
        if status is None:
            continue
        found.append(Checkpoint(status, when, _details(event, details)))
    if not timed and current is not None and current != known_status:
        found.append(Checkpoint(current, now, _details(None, details)))
    return found, current


def _details(event: Any, details: Any) -> dict[str, Any]:
    estimated: datetime | None = None
    if details.estimated_delivery:
        try:
            estimated = moment(str(details.estimated_delivery), "estimated_delivery")
        except BadBody:
            estimated = None
    values: dict[str, Any] = {"estimated_delivery_at": estimated}
    if event is not None:
        values["message"] = (event.description or "").strip()[:1000] or None
        values["city"] = (event.location or "").strip()[:255] or None
        values["latitude"] = event.latitude if isinstance(event.latitude, int | float) else None
        values["longitude"] = event.longitude if isinstance(event.longitude, int | float) else None
    return {k: v for k, v in values.items() if v is not None}


Fetch = Callable[..., Outcome]
