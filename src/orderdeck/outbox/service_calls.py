"""Telling fulfillment services that a request waits for them: `POST {callback_url}/fulfillment_order_notification`
with Shopify's body (`{"kind":"FULFILLMENT_REQUEST"}` or `CANCELLATION_REQUEST`), signed like a
webhook (AFTER-THE-SALE §4.4).

The relay turns each `service_call` outbox message into a `service_notifications` row
(its id derived from the message's, so it cannot be made twice). Workers claim due rows with a
lease, send them outside any transaction through the same guarded client as webhooks (public
addresses, and what ORDERDECK_ALLOW_PRIVATE_ADDRESSES allows), and record each attempt. Until
the service answers 2xx the notification goes again with back-off; it stops, unsent, once the
request has moved on (the service answered it through the API, the merchant withdrew it) or the
service was deleted. One service being down delays only its own notifications: each send has
its own timeout and a failure is only a wait before the next attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from prometheus_client import Counter
from sqlalchemy import Connection, select

from .. import __version__
from ..destinations import RefusedDestination
from ..domain import service_notifications as rules
from ..services.context import Orderdeck
from ..store.database import utc
from ..store.orders import load_many
from ..store.service_notifications import Notification, ServiceNotifications, notification_id
from ..store.tables import fulfillment_services
from ..store.webhooks import webhook_secret
from . import metrics
from .webhooks import RETRY_DELAYS, sign

log = logging.getLogger("orderdeck.service_calls")

PATH = "fulfillment_order_notification"
# Shopify's own client gave a service 20 s (AFTER-THE-SALE §4.4); connecting gets 5 of them.
TIMEOUT = 20.0
CONNECT_TIMEOUT = 5.0
LEASE = timedelta(seconds=90)  # longer than a round of sends (WAVES × TIMEOUT) plus recording it
BATCH = 50
# A round sends `in_flight` notifications at a time, each taking up to TIMEOUT; it claims no more
# than WAVES of those, so the last is sent before its lease runs out (else another worker would
# claim it again meanwhile and the service would be notified twice).
WAVES = 3
EXCERPT = 300

ATTEMPTS = Counter(
    "orderdeck_service_notification_attempts_total",
    "Notifications posted to fulfillment services, by result (acknowledged, retry)",
    ["result"],
    registry=metrics.REGISTRY,
)


# ---- the relay: outbox messages become notifications ------------------------------------------------


def queue_notifications(conn: Connection, messages: list[Any], now: datetime) -> int:
    """One notification per message, to the service whose location the fulfillment order is
    assigned to. A service deleted since the request has nobody to notify: nothing is queued."""
    wanted = [(m, orjson.loads(m.payload)) for m in messages]
    locations = {p["location_id"] for _, p in wanted}
    fs = fulfillment_services.c
    service_at = {
        row.location_id: row.id
        for row in conn.execute(select(fs.id, fs.location_id).where(fs.location_id.in_(locations)))
    }
    rows = []
    for message, payload in wanted:
        service_id = service_at.get(payload["location_id"])
        if service_id is None or message.topic not in rules.BODIES:
            continue
        rows.append(
            {
                "id": notification_id(message.id),
                "service_id": service_id,
                "order_id": message.order_id,
                "fulfillment_order_id": payload["fulfillment_order_id"],
                "kind": message.topic,
                "request_id": payload.get("request_id"),
                "body": rules.BODIES[message.topic],
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                # When the merchant sent the request: what "unacknowledged for N hours" counts from.
                "created_at": utc(message.created_at),
            }
        )
    return ServiceNotifications(conn).add(rows)


# ---- the workers: claim, send, record -----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    notification: Notification
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str | None
    latency_ms: int

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def endpoint(callback_url: str) -> str:
    return f"{callback_url.rstrip('/')}/{PATH}"


def headers_for(notification: Notification, secret: str, shop_domain: str) -> dict[str, str]:
    """As a webhook's (the service checks the HMAC with the shop's webhook secret); the id is the
    same on every attempt, so a service that saw one already can tell."""
    return {
        "Content-Type": "application/json",
        "User-Agent": f"Orderdeck/{__version__}",
        "X-Shopify-Hmac-Sha256": sign(notification.body.encode(), secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-Webhook-Id": notification.id,
    }


def claim(app: Orderdeck, worker: str, limit: int = BATCH) -> tuple[int, list[Call]]:
    """Due notifications to send, held for LEASE, and how many were due. Those whose request
    moved on or whose service is gone stop here, unsent."""
    with app.unit_of_work() as uow:
        now = uow.now
        repo = ServiceNotifications(uow.conn)
        found = repo.claim(now, LEASE, limit, worker, skip_locked=not app.db.is_sqlite)
        if not found:
            return 0, []
        fs = fulfillment_services.c
        urls = {
            row.id: row.callback_url
            for row in uow.conn.execute(select(fs.id, fs.callback_url).where(fs.id.in_({n.service_id for n in found})))
        }
        documents = load_many(uow.conn, {n.order_id for n in found})
        secret = webhook_secret(uow.conn, app.settings.webhook_secret)
        domain = uow.shop.domain
        calls = []
        for n in found:
            if n.service_id not in urls:
                repo.stop(n.id, "service_deleted", now)
                continue
            state = rules.state_of_request(documents.get(n.order_id), n.fulfillment_order_id, n.kind, n.request_id)
            if state != "waiting":
                repo.stop(n.id, state, now)
                continue
            calls.append(Call(n, endpoint(urls[n.service_id]), headers_for(n, secret, domain)))
        uow.commit()
    return len(found), calls


async def post(client: httpx.AsyncClient, call: Call) -> Answer:
    """One attempt; every failure is an answer to record, never an exception."""
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    async def exchange() -> Answer:
        async with client.stream(
            "POST",
            call.url,
            content=call.notification.body.encode(),
            headers=call.headers,
            timeout=httpx.Timeout(TIMEOUT, connect=CONNECT_TIMEOUT),
        ) as reply:
            status = reply.status_code
            if 200 <= status < 300:
                return Answer(status, None, elapsed())
            excerpt = b""
            async for chunk in reply.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT:
                    break
            said = excerpt[:EXCERPT].decode("utf-8", "replace").strip()
            if 300 <= status < 400:
                error = f"The service answered {status} (redirects are not followed: correct the callback URL)"
            else:
                error = f"The service answered {status}" + (f": {said}" if said else "")
            return Answer(status, error, elapsed())

    try:
        return await asyncio.wait_for(exchange(), TIMEOUT)
    except (TimeoutError, httpx.TimeoutException):
        return Answer(None, f"No answer within {TIMEOUT:g} s", elapsed())
    except RefusedDestination as exc:
        return Answer(None, f"Not sent: {exc}", elapsed())
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as exc:
        return Answer(None, f"The callback URL cannot be used: {exc}", elapsed())
    except httpx.TransportError as exc:
        return Answer(None, f"Could not connect: {exc.__class__.__name__} {exc}".strip(), elapsed())
    except Exception as exc:  # anything else is this attempt's failure, never the worker's
        log.exception("service notification %s failed unexpectedly", call.notification.id)
        return Answer(None, f"Sending failed: {exc.__class__.__name__}: {exc}", elapsed())


def record(
    app: Orderdeck,
    results: list[tuple[Call, Answer]],
    delays: tuple[timedelta, ...] = RETRY_DELAYS,
    rng: random.Random | None = None,
) -> None:
    """Every attempt of a round in one transaction: a 2xx acknowledges, anything else waits
    (±20 % jitter, so a service coming back up is not hit by every retry in the same second)."""
    rng = rng or random.Random()
    with app.unit_of_work() as uow:
        now = uow.now
        repo = ServiceNotifications(uow.conn)
        for call, answer in results:
            n = call.notification
            retry_at = None
            if not answer.acknowledged:
                retry_at = now + rules.retry_after(n.attempts + 1, delays) * rng.uniform(0.8, 1.2)
            repo.record(n.id, status=answer.status, error=answer.error, now=now, retry_at=retry_at)
            ATTEMPTS.labels("acknowledged" if answer.acknowledged else "retry").inc()
        uow.commit()


async def send_due(
    app: Orderdeck,
    client: httpx.AsyncClient,
    worker: str,
    *,
    in_flight: int = 8,
    delays: tuple[timedelta, ...] = RETRY_DELAYS,
    rng: random.Random | None = None,
) -> int:
    """Claim, send side by side (at most `in_flight` at once) and record one round. Returns how
    many notifications were claimed (sent or stopped)."""
    due, calls = await asyncio.to_thread(claim, app, worker, min(BATCH, in_flight * WAVES))
    if not calls:
        return due
    gate = asyncio.Semaphore(in_flight)

    async def gated(call: Call) -> tuple[Call, Answer]:
        async with gate:
            return call, await post(client, call)

    results = list(await asyncio.gather(*(gated(c) for c in calls)))
    await asyncio.to_thread(record, app, results, delays, rng)
    return due
