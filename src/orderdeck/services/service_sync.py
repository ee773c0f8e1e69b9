"""Asking fulfillment services what they know (AFTER-THE-SALE §4.4), as scheduled jobs:

- `fetch_stock` (services with `inventory_management`): the service reports what it physically
  holds for the shop per SKU (units on its shelf not shipped yet, those of work it accepted
  included); that becomes the `on_hand` stock of those items at the service's location, and
  `available = on_hand - committed` (committed: units of unfulfilled orders at that location,
  requested from the service or not), so no unit is counted twice. Available below zero shows an
  oversold location honestly. SKUs nobody stocks there are ignored.
- `fetch_tracking_numbers` (services with `tracking_support`): the tracking numbers of the
  fulfillments made at the service's location that have none yet; each becomes the fulfillment's
  tracking through the update-tracking command, so the tracking URL, the `fulfillments/update`
  webhook and the customer's shipping update follow as when staff add a number.

A service that is down, slow, answers an error or nonsense is recorded on its row
(`sync_error`, `sync_error_at`) and skipped until the next run; it never stops the job, nor the
other services. The HTTP calls go through the same guarded client as webhooks (public
addresses, and what ORDERDECK_ALLOW_PRIVATE_ADDRESSES allows), outside any transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import orjson
from sqlalchemy import select, update

from .. import destinations
from ..destinations import RefusedDestination
from ..domain.errors import OrderError
from ..domain.fulfillment import TrackingInfo
from ..domain.fulfillment_services import FulfillmentService
from ..domain.order import Author, Fulfillment, Order
from ..store.fulfillment_services import FulfillmentServices
from ..store.orders import load_many
from ..store.tables import fulfillment_services, inventory_levels, shipments, variants
from . import catalog, fulfillments
from .context import Command, Orderdeck

log = logging.getLogger("orderdeck.service_sync")

# Shopify's own client gave a service 20 s (AFTER-THE-SALE §4.4).
TIMEOUT = 20.0
CONNECT_TIMEOUT = 5.0
LONGEST_ANSWER = 8_000_000  # bytes: a stock list of ~200,000 SKUs; more is refused, not read
NAMES_PER_CALL = 50  # fulfillment names asked in one fetch_tracking_numbers call (URL length)
# Fulfillments older than this without a tracking number are no longer asked about: a service
# that had none for a month will not have one (staff can still add it by hand).
TRACKING_LOOK_BACK = timedelta(days=30)
# A scheduled run stops asking after this long, well inside the scheduler's 15-minute job lease:
# many slow services (each call may take 20 s) would otherwise outlast it, and another worker
# would ask the same services meanwhile. What is left is asked at the next run.
JOB_BUDGET = timedelta(minutes=10)

ShouldStop = Callable[[], bool]


class BadAnswer(Exception):
    """What the service answered cannot be used; the text says what and why."""


@dataclass(frozen=True)
class StockResult:
    changed: int  # levels whose on-hand stock changed
    unchanged: int
    unknown: list[str]  # SKUs not stocked at the service's location


# ---- HTTP --------------------------------------------------------------------------------------------


def endpoint(service: FulfillmentService, action: str) -> str:
    return f"{service.callback_url.rstrip('/')}/{action}.json"


def _get(app: Orderdeck, url: str, params: list[tuple[str, str]]) -> Any:
    """GET the URL and return its JSON, or raise BadAnswer saying why not."""
    return asyncio.run(_fetch(destinations.of(app.settings), url, params))


async def _fetch(allowed: destinations.Destinations, url: str, params: list[tuple[str, str]]) -> Any:
    timeout = httpx.Timeout(TIMEOUT, connect=CONNECT_TIMEOUT)
    body = b""
    try:
        async with (
            destinations.client(allowed, timeout) as client,
            asyncio.timeout(TIMEOUT),
            client.stream("GET", url, params=tuple(params), headers={"Accept": "application/json"}) as reply,
        ):
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > LONGEST_ANSWER:
                    raise BadAnswer(f"the answer is longer than {LONGEST_ANSWER:,} bytes")
            status = reply.status_code
    except (TimeoutError, httpx.TimeoutException):
        raise BadAnswer(f"no answer within {TIMEOUT:g} s") from None
    except RefusedDestination as exc:
        raise BadAnswer(f"not called: {exc}") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as exc:
        raise BadAnswer(f"the callback URL cannot be used: {exc}") from None
    except httpx.TransportError as exc:
        raise BadAnswer(f"could not connect: {exc.__class__.__name__} {exc}".strip()) from None
    if not 200 <= status < 300:
        said = body[:200].decode("utf-8", "replace").strip()
        raise BadAnswer(f"the service answered {status}" + (f": {said}" if said else ""))
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadAnswer("the answer is not JSON") from None


# ---- what a service's row records ---------------------------------------------------------------------


def _services(app: Orderdeck, wanted: Callable[[FulfillmentService], bool]) -> tuple[list[FulfillmentService], str]:
    with app.unit_of_work(read_only=True) as uow:
        return [s for s in FulfillmentServices(uow.conn).all() if wanted(s)], uow.shop.domain


def _note(app: Orderdeck, service_id: int, action: str, error: str | None) -> None:
    """A poll's outcome on the service's row: when it last succeeded, or the error and when.
    Success clears only an error of the same call (the other call's stays until it succeeds)."""
    fs = fulfillment_services.c
    with app.unit_of_work() as uow:
        if error is None:
            synced = "stock_synced_at" if action == "fetch_stock" else "tracking_synced_at"
            uow.conn.execute(update(fulfillment_services).where(fs.id == service_id).values({synced: uow.now}))
            uow.conn.execute(
                update(fulfillment_services)
                .where(fs.id == service_id, fs.sync_error.like(f"{action}:%"))
                .values(sync_error=None, sync_error_at=None)
            )
        else:
            uow.conn.execute(
                update(fulfillment_services)
                .where(fs.id == service_id)
                .values(sync_error=f"{action}: {error}", sync_error_at=uow.now)
            )
        uow.commit()


def _each_service(
    app: Orderdeck,
    action: str,
    wanted: Callable[[FulfillmentService], bool],
    sync: Callable[[Orderdeck, FulfillmentService, str], Any],
    should_stop: ShouldStop,
) -> int:
    """Run `sync` for every wanted service, each on its own: a failure is recorded on that
    service and the next goes on. Returns how many services answered usefully."""
    services, domain = _services(app, wanted)
    synced = 0
    for service in services:
        if should_stop():
            break
        try:
            sync(app, service, domain)
        except BadAnswer as exc:
            _note(app, service.id, action, str(exc))
            continue
        except Exception as exc:  # never the job's end: the next service is not this one's fault
            log.exception("%s for fulfillment service %s failed", action, service.id)
            _note(app, service.id, action, f"{exc.__class__.__name__}: {exc}")
            continue
        _note(app, service.id, action, None)
        synced += 1
    return synced


# ---- fetch_stock ----------------------------------------------------------------------------------------


def stock_levels(answer: Any) -> dict[str, int]:
    """`{"SKU": 12, …}` or `{"stock_levels": {…}}` (both are what Shopify's client accepted).
    A quantity that is not a whole number of at least 0 spoils the answer: nothing is set."""
    if isinstance(answer, dict) and isinstance(answer.get("stock_levels"), dict):
        answer = answer["stock_levels"]
    if not isinstance(answer, dict):
        raise BadAnswer('the answer is not a map of SKUs to quantities ({"SKU-1": 10})')
    found: dict[str, int] = {}
    for sku, quantity in answer.items():
        if isinstance(quantity, str) and quantity.strip().isdecimal():
            quantity = int(quantity.strip())
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise BadAnswer(f"the quantity of SKU {sku!r} is {quantity!r}, not a whole number of 0 or more")
        found[str(sku)] = quantity
    return found


def apply_stock(cmd: Command, location_id: int, levels: dict[str, int]) -> StockResult:
    """Set the on-hand stock of the location's items with these SKUs (one command for the batch)."""
    v, il = variants.c, inventory_levels.c
    rows = cmd.uow.conn.execute(
        select(v.id, v.sku, il.on_hand)
        .join(inventory_levels, il.inventory_item_id == v.id)
        .where(il.location_id == location_id, v.sku.in_(list(levels)))
        .order_by(v.id)
    ).all()
    stocked = {row.sku for row in rows}
    changed = unchanged = 0
    for row in rows:
        if row.on_hand == levels[row.sku]:
            unchanged += 1
            continue
        catalog.set_on_hand(cmd, row.id, location_id, levels[row.sku])
        changed += 1
    return StockResult(changed, unchanged, sorted(set(levels) - stocked))


def fetch_stock(app: Orderdeck, service: FulfillmentService, shop_domain: str) -> StockResult:
    """One service's stock, asked for all SKUs at once and set at its location."""
    params = [
        ("shop", shop_domain),
        ("timestamp", str(int(app.clock().timestamp()))),
        ("location_id", str(service.location_id)),
    ]
    levels = stock_levels(_get(app, endpoint(service, "fetch_stock"), params))
    with app.unit_of_work() as uow:
        result = apply_stock(Command(app, uow, Author("system", service.name)), service.location_id, levels)
        uow.commit()
    return result


def sync_stock(app: Orderdeck, should_stop: ShouldStop = lambda: False) -> int:
    """The `fetch-stock` job: every service that manages inventory. Returns services synced."""
    return _each_service(app, "fetch_stock", lambda s: s.inventory_management, fetch_stock, should_stop)


# ---- fetch_tracking_numbers ------------------------------------------------------------------------


def untracked(order: Order, location_id: int, since: datetime) -> list[Fulfillment]:
    """The order's active fulfillments made at the location since `since` without a tracking number."""
    return [
        f
        for f in order.fulfillments
        if f.is_active and f.location_id == location_id and not f.tracking_numbers and f.created_at >= since
    ]


def _waiting_for_tracking(app: Orderdeck, location_id: int) -> dict[str, tuple[int, int, bool]]:
    """Fulfillment name → (order id, fulfillment id, tell the customer) for the fulfillments at
    the location that still have no tracking number (made within TRACKING_LOOK_BACK).

    The shipments rows (one per fulfillment, indexed by location) name the orders to read, so
    only orders with an untracked parcel there are decoded, however many the location ships."""
    s = shipments.c
    with app.unit_of_work(read_only=True) as uow:
        since = uow.now - TRACKING_LOOK_BACK
        order_ids = (
            uow.conn.execute(
                select(s.order_id)
                .where(
                    s.location_id == location_id,
                    s.stage != "cancelled",
                    s.tracking_number.is_(None),
                    s.created_at >= since,
                )
                .distinct()
                .order_by(s.order_id)
            )
            .scalars()
            .all()
        )
        found: dict[str, tuple[int, int, bool]] = {}
        for order in load_many(uow.conn, order_ids).values():
            for f in untracked(order, location_id, since):
                found[f.name] = (order.id, f.id, _notify(order, f))
    return found


def _notify(order: Order, fulfillment: Fulfillment) -> bool:
    """Whether the merchant asked the service to tell the customer (the request's notify_customer)."""
    fo_ids = {line.fulfillment_order_id for line in fulfillment.line_items}
    for fo in order.fulfillment_orders:
        if fo.id in fo_ids:
            for request in reversed(fo.merchant_requests):
                if request.kind == "fulfillment_request":
                    return bool(request.request_options.get("notify_customer", False))
    return False


def tracking_numbers(answer: Any) -> dict[str, list[str]]:
    """`{"tracking_numbers": {"#1001.1": "qwerty"}, "success": true}` or the map alone (both are
    what Shopify's client accepted); a value may be one number or a list of them."""
    if isinstance(answer, dict) and answer.get("success") is False:
        said = answer.get("message")
        raise BadAnswer("the service answered success: false" + (f": {said}" if said else ""))
    if isinstance(answer, dict) and "tracking_numbers" in answer:
        answer = answer["tracking_numbers"]
    if not isinstance(answer, dict):
        raise BadAnswer('the answer is not a map of fulfillment names to tracking numbers ({"#1001.1": "qwerty"})')
    found: dict[str, list[str]] = {}
    for name, value in answer.items():
        numbers = value if isinstance(value, list) else [value]
        cleaned = [str(n).strip() for n in numbers if isinstance(n, str | int) and str(n).strip()]
        if cleaned:
            found[str(name)] = cleaned
    return found


def fetch_tracking(
    app: Orderdeck, service: FulfillmentService, shop_domain: str, *, should_stop: ShouldStop = lambda: False
) -> int:
    """Ask for the numbers of the service's untracked fulfillments, NAMES_PER_CALL at a time, and
    add each answer; between two calls, stop when asked (what is left is asked next time).
    Returns how many fulfillments got a number."""
    waiting = _waiting_for_tracking(app, service.location_id)
    names = sorted(waiting)
    added = 0
    author = Author("system", service.name)
    for start in range(0, len(names), NAMES_PER_CALL):
        if should_stop():
            break
        asked = names[start : start + NAMES_PER_CALL]
        params = [("order_names[]", name) for name in asked] + [("shop", shop_domain)]
        answered = tracking_numbers(_get(app, endpoint(service, "fetch_tracking_numbers"), params))
        for name in asked:  # only what was asked: a name the service made up changes nothing
            if name not in answered:
                continue
            order_id, fulfillment_id, notify = waiting[name]
            with app.unit_of_work() as uow:
                try:
                    current = uow.orders.get(order_id).fulfillment(fulfillment_id)
                    if current is None or not current.is_active or current.tracking_numbers:
                        continue  # cancelled, or given a number (by staff, by the service) since asked
                    fulfillments.update_tracking(
                        Command(app, uow, author),
                        fulfillment_id,
                        tracking=TrackingInfo(numbers=tuple(answered[name])),
                        notify_customer=notify,
                    )
                except OrderError as exc:  # cancelled meanwhile, an unusable number: the others go on
                    log.info("tracking for %s not added: %s", name, exc)
                    continue
                uow.commit()
            added += 1
    return added


def sync_tracking(app: Orderdeck, should_stop: ShouldStop = lambda: False) -> int:
    """The `fetch-tracking-numbers` job: every service with tracking support, within JOB_BUDGET.
    Returns services synced."""
    deadline = app.clock() + JOB_BUDGET

    def stop() -> bool:
        return should_stop() or app.clock() >= deadline

    return _each_service(
        app, "fetch_tracking_numbers", lambda s: s.tracking_support, partial(fetch_tracking, should_stop=stop), stop
    )
