"""Fulfillment services (Shopify REST 2024-10 `FulfillmentService`): a 3PL warehouse or dropship
supplier that fulfills orders from a location of its own. The rules here are plain checks on
the fields; storing the service and its location is store/ and services/ work."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from .errors import InvalidInput

# http is only for a service running on the same machine (tests, the demo's reference service):
# anything that travels over a network gets the requests and the shop's data over TLS.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_NAME = 255
MAX_URL = 2000


@dataclass
class FulfillmentService:
    id: int
    name: str
    handle: str
    email: str | None
    callback_url: str
    inventory_management: bool
    tracking_support: bool
    fulfillment_orders_opt_in: bool
    permits_sku_sharing: bool
    requires_shipping_method: bool
    format: str
    include_pending_stock: bool
    location_id: int
    owner_token_id: int | None  # the API token that created it: its `scope=current_client`
    created_at: datetime
    updated_at: datetime
    # When Orderdeck requests fulfillment from it by itself (domain/auto_requests.WHEN); None
    # follows the shop's auto_request_fulfillment.
    auto_request: str | None = None


def checked_name(name: str | None) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise InvalidInput("can't be blank", field="name")
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"is too long (at most {MAX_NAME} characters)", field="name")
    return cleaned


def handle_of(name: str) -> str:
    """Shopify's handle: the name in lower case, accents dropped, words joined by hyphens
    ("Mars Fulfillment" → "mars-fulfillment")."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:200] or "fulfillment-service"


def unique_handle(name: str, taken: set[str]) -> str:
    """The name's handle, or the first of handle-2, handle-3, … that no other service has: two
    names can make one handle ("Mars Fulfillment" and "Mars fulfillment!")."""
    base = handle_of(name)
    handle, n = base, 1
    while handle in taken:
        n += 1
        handle = f"{base}-{n}"
    return handle


def checked_callback_url(url: str | None) -> str:
    """An absolute https URL (Orderdeck will post fulfillment requests to paths below it), or
    http to this machine only."""
    value = (url or "").strip()
    if not value:
        raise InvalidInput("can't be blank", field="callback_url")
    if len(value) > MAX_URL:
        raise InvalidInput(f"is too long (at most {MAX_URL} characters)", field="callback_url")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput("is not a URL (it has spaces or control characters)", field="callback_url")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (a port beyond 65535 or not a number raises here)
    except ValueError:
        raise InvalidInput("is not a URL", field="callback_url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput("is not a URL: give an absolute https:// address", field="callback_url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("must not carry a user name or password", field="callback_url")
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        raise InvalidInput(
            "must use https (http only to localhost or 127.0.0.1, for a service on this machine)", field="callback_url"
        )
    return value


def checked_opt_in(value: bool) -> bool:
    if value is not True:
        raise InvalidInput(
            "must be true: in API 2024-10 every fulfillment service works with fulfillment orders",
            field="fulfillment_orders_opt_in",
        )
    return value
