"""Carriers: tracking URLs for known carriers and a guess at the carrier from a number's shape.

When staff enter a tracking number without a URL, customers still get a link that works. A
tracking URL is a web address, http(s), or nothing: anything else (javascript:, data:) is
refused when given and never shown as a link when found stored.
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import quote, urlsplit

from ..domain.errors import InvalidInput
from ..domain.fulfillment import TrackingInfo

# Carrier name → URL template. Names are the ones Shopify shows in its carrier list.
CARRIER_URLS = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={number}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={number}",
    "DHL Parcel": "https://www.dhlparcel.nl/en/consumer/track-and-trace?tc={number}",
    "Deutsche Post": "https://www.deutschepost.de/de/s/sendungsverfolgung.html?piececode={number}",
    "PostNL": "https://jouw.postnl.nl/track-and-trace/{number}",
    "DPD": "https://tracking.dpd.de/status/en_US/parcel/{number}",
    "GLS": "https://gls-group.com/track/{number}",
    "Posti": "https://www.posti.fi/en/tracking#/lahetys/{number}",
    "bpost": "https://track.bpost.cloud/btr/web/#/search?itemCode={number}",
    "Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "Hermes": "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation/#{number}",
}
_ALIASES = {name.lower(): name for name in CARRIER_URLS} | {"dhl": "DHL Express", "fedex": "FedEx"}

# Number shapes that identify a carrier with little doubt.
_PATTERNS = [
    (re.compile(r"^1Z[0-9A-Z]{16}$"), "UPS"),
    (re.compile(r"^3S[A-Z0-9]{9,13}$"), "PostNL"),
    (re.compile(r"^(94|93|92|95)\d{20}$"), "USPS"),
    (re.compile(r"^JJFI\d{14,20}$"), "Posti"),
]


def carrier_name(company: str | None) -> str | None:
    if not company:
        return None
    return _ALIASES.get(company.strip().lower(), company.strip())


def detect_carrier(number: str) -> str | None:
    compact = number.replace(" ", "").upper()
    return next((name for pattern, name in _PATTERNS if pattern.match(compact)), None)


def tracking_url(company: str | None, number: str) -> str | None:
    template = CARRIER_URLS.get(carrier_name(company) or "")
    return template.format(number=quote(number.strip())) if template else None


def is_web_address(url: str | None) -> bool:
    """An http:// or https:// URL with a host, read as a browser reads it (tabs and leading
    control characters ignored, so `java\tscript:` is javascript:)."""
    if not url:
        return False
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def link(url: str | None) -> str | None:
    """The URL to link a tracking number to, or None: a stored URL that is no web address."""
    return url if is_web_address(url) else None


def check_urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    for url in urls:
        if not is_web_address(url):
            shown = url if len(url) <= 100 else url[:100] + "…"
            raise InvalidInput(
                f"must be http:// or https:// addresses of the carrier's tracking page; {shown!r} is not",
                field="tracking_urls",
            )
    return tuple(url.strip() for url in urls)


def complete_tracking(info: TrackingInfo) -> TrackingInfo:
    """Fill in the carrier and URLs that can be worked out from the numbers; refuse URLs that
    are no web address (InvalidInput)."""
    numbers = tuple(n.strip() for n in info.numbers if n and n.strip())
    company = carrier_name(info.company) or (detect_carrier(numbers[0]) if numbers else None)
    urls = list(check_urls(info.urls))
    if len(urls) < len(numbers):
        for number in numbers[len(urls) :]:
            url = tracking_url(company, number)
            if url:
                urls.append(url)
    return replace(info, company=company, numbers=numbers, urls=tuple(urls))
