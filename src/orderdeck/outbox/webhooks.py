"""Sending webhook deliveries the way Shopify does: signed, timed out, retried with backoff.

A worker claims due deliveries (moving each one's due time forward by a lease, so one held by a
worker that died becomes due again by itself), sends them outside any transaction, then records
every attempt and what follows from it in one transaction. At least once: a worker killed
between sending and recording sends again later, with the same X-Shopify-Webhook-Id.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any

import aiohttp
import httpx
from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from .. import __version__, destinations
from ..destinations import Destinations, RefusedDestination
from ..store.outbox import picked_by
from ..store.tables import webhook_attempts, webhook_deliveries, webhook_subscriptions
from ..store.webhooks import Delivery, Subscription

log = logging.getLogger("orderdeck.webhooks")

# Eight retries over about four hours, as Shopify does since 2024-09: nine attempts in all.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
)
# This many deliveries ending failed in a row disable a subscription (Shopify drops one after
# eight consecutive failures; Orderdeck disables it instead and keeps what waits for it).
DISABLE_AFTER = 8
CONNECT_TIMEOUT = 1.0
TOTAL_TIMEOUT = 5.0
LONGEST_RETRY_AFTER = timedelta(hours=6)
EXCERPT = 500


def sign(body: bytes, secret: str) -> str:
    """X-Shopify-Hmac-Sha256: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers_for(
    delivery: Delivery, subscription: Subscription, secret: str, shop_domain: str, signature: str | None = None
) -> dict[str, str]:
    """`signature`: sign(body, secret) when the caller already has it."""
    return {
        "Content-Type": "application/json",
        "User-Agent": f"Orderdeck/{__version__}",
        "X-Shopify-Topic": delivery.topic,
        "X-Shopify-Hmac-Sha256": signature or sign(delivery.body.encode(), secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": subscription.api_version,
        "X-Shopify-Webhook-Id": delivery.id,
        "X-Shopify-Event-Id": delivery.event_id,
        "X-Shopify-Triggered-At": delivery.triggered_at.isoformat(),
    }


@dataclass(frozen=True)
class Outcome:
    """One attempt: `result` is delivered, retry (worth trying again) or failed (it is not)."""

    result: str
    latency_ms: int
    status: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: timedelta | None = None


def _retry_after(value: str | None, now: datetime) -> timedelta | None:
    if not value:
        return None
    if value.strip().isdecimal():
        # Capped before it becomes a timedelta: a receiver's 99999999999999999999 would overflow it.
        wait = timedelta(seconds=min(int(value.strip()), int(LONGEST_RETRY_AFTER.total_seconds())))
    else:
        try:
            wait = parsedate_to_datetime(value) - now
        except (TypeError, ValueError):
            return None
    return max(timedelta(seconds=1), min(wait, LONGEST_RETRY_AFTER))


def judge(status: int) -> str:
    """2xx delivered; 408, 429 and 5xx are worth retrying; any other answer is final (retrying
    a 4xx only repeats the refusal, and made traffic storms elsewhere)."""
    if 200 <= status < 300:
        return "delivered"
    if status in (408, 429) or status >= 500:
        return "retry"
    return "failed"


async def send(
    session: aiohttp.ClientSession, address: str, delivery: Delivery, headers: dict[str, str], now: datetime
) -> Outcome:
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    async def exchange() -> Outcome:
        async with session.post(address, data=delivery.body.encode(), headers=headers, allow_redirects=False) as reply:
            excerpt = b""
            while len(excerpt) < EXCERPT:
                chunk = await reply.content.read(EXCERPT - len(excerpt))
                if not chunk:
                    break
                excerpt += chunk
            result = judge(reply.status)
            error = None
            if 300 <= reply.status < 400:
                error = "Redirects are not followed; point the webhook at the final address"
            elif result != "delivered":
                error = f"The receiver answered {reply.status}"
            return Outcome(
                result,
                elapsed(),
                status=reply.status,
                error=error,
                excerpt=excerpt.decode("utf-8", "replace"),
                retry_after=_retry_after(reply.headers.get("Retry-After"), now) if reply.status == 429 else None,
            )

    try:
        # One deadline for the whole exchange; a timeout context costs no task of its own.
        async with asyncio.timeout(TOTAL_TIMEOUT):
            return await exchange()
    except TimeoutError:  # connecting (CONNECT_TIMEOUT) or the whole exchange (TOTAL_TIMEOUT)
        return Outcome("retry", elapsed(), error=f"No answer within {TOTAL_TIMEOUT:g} s")
    except RefusedDestination as exc:  # nothing was sent: the address must change, retrying cannot help
        return Outcome("failed", elapsed(), error=str(exc))
    except aiohttp.ClientOSError as exc:
        refused = _refusal(exc)
        if refused is not None:  # as above, handed on by aiohttp as a connection error of its own
            return Outcome("failed", elapsed(), error=str(refused))
        return Outcome("retry", elapsed(), error=f"Could not connect: {exc.__class__.__name__} {exc}".strip())
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError, UnicodeError) as exc:
        # Retrying cannot help an address that cannot be used; staff fix the subscription.
        return Outcome("failed", elapsed(), error=f"The address cannot be used: {exc}")
    except aiohttp.ClientError as exc:
        return Outcome("retry", elapsed(), error=f"Could not connect: {exc.__class__.__name__} {exc}".strip())
    except Exception as exc:  # anything else is this attempt's failure, never the worker's
        log.exception("webhook delivery %s failed unexpectedly", delivery.id)
        return Outcome("retry", elapsed(), error=f"Sending failed: {exc.__class__.__name__}: {exc}")


def _refusal(exc: BaseException) -> RefusedDestination | None:
    """The refusal (by the resolver, or of an address written as a number) inside what aiohttp raised."""
    for cause in (exc, getattr(exc, "os_error", None), exc.__cause__):
        if isinstance(cause, RefusedDestination):
            return cause
    return None


def session(allowed: Destinations, per_host: int) -> aiohttp.ClientSession:
    """Public receivers, and those on the operator's network ORDERDECK_ALLOW_PRIVATE_ADDRESSES
    names. aiohttp rather than httpx for the sends: on the benchmark it spent about a tenth of
    httpx/httpcore's CPU per delivery (docs/benchmarks.md), and deliveries are most of what a
    worker does."""
    return destinations.guarded_session(allowed, connect_timeout=CONNECT_TIMEOUT, per_host=per_host, connections=100)


def client(allowed: Destinations) -> httpx.AsyncClient:
    """The httpx client for notifications to fulfillment services (outbox/service_calls.py)."""
    return destinations.client(
        allowed,
        httpx.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT),
        httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


def claim(conn: Connection, now: datetime, lease: timedelta, limit: int, *, skip_locked: bool) -> list[Delivery]:
    """Due deliveries of enabled subscriptions, oldest due first, held for `lease` by moving their
    due time: one statement (the pick and the hold), so one round trip on PostgreSQL."""
    d, s = webhook_deliveries.c, webhook_subscriptions.c
    picked = (
        select(d.id)
        .join(webhook_subscriptions, s.id == d.subscription_id)
        .where(d.state == "pending", d.next_attempt_at <= now, s.disabled_at.is_(None))
        .order_by(d.next_attempt_at)
        .limit(limit)
    )
    if skip_locked:
        picked = picked.with_for_update(skip_locked=True, of=webhook_deliveries)
    held = (
        update(webhook_deliveries)
        .where(picked_by(conn, d.id, picked))
        .values(next_attempt_at=now + lease)
        .returning(*webhook_deliveries.c)
    )
    return [Delivery.of(r) for r in conn.execute(held).mappings()]


def next_try(attempts: int, delays: tuple[timedelta, ...], rng: random.Random) -> timedelta | None:
    """The wait before the next attempt after `attempts` attempts (±20 % jitter, so receivers
    coming back up are not hit by every retry at the same second), or None: give up."""
    if attempts > len(delays):
        return None
    return delays[attempts - 1] * rng.uniform(0.8, 1.2)


def _judged(
    outcome: Outcome, attempts: int, delays: tuple[timedelta, ...], rng: random.Random, now: datetime
) -> dict[str, Any]:
    """What an attempt makes of its delivery: every column, so a batch shares one statement."""
    values: dict[str, Any] = {
        "result": outcome.result,
        "attempts": attempts,
        "last_status": outcome.status,
        "last_error": outcome.error,
        "state": "pending",
        "delivered_at": None,
        "next_attempt_at": now,
    }
    if outcome.result == "delivered":
        values.update(state="delivered", delivered_at=now)
    elif outcome.result == "retry":
        wait = outcome.retry_after or next_try(attempts, delays, rng)
        if wait is None:
            values.update(result="failed", last_error=f"Gave up after {attempts} attempts; the last: {outcome.error}")
        else:
            values["next_attempt_at"] = now + wait
    if values["result"] == "failed":
        values["state"] = "failed"
    return values


def record(
    conn: Connection,
    results: list[tuple[Delivery, Outcome]],
    now: datetime,
    worker: str,
    delays: tuple[timedelta, ...],
    rng: random.Random,
) -> list[str]:
    """Write a batch of attempts and what follows from each, in a few statements whatever the
    batch size (one round trip each on PostgreSQL). Returns each attempt's result."""
    judged = [_judged(o, d.attempts + 1, delays, rng, now) for d, o in results]
    conn.execute(
        insert(webhook_attempts),
        [
            {
                "delivery_id": d.id,
                "attempted_at": now,
                "response_status": o.status,
                "latency_ms": o.latency_ms,
                "result": j["result"],
                "error": o.error,
                "response_excerpt": o.excerpt,
                "worker": worker,
            }
            for (d, o), j in zip(results, judged, strict=True)
        ],
    )
    # Only a delivery still pending changes: staff may have redelivered it, or the subscription
    # may have gone, meanwhile.
    conn.execute(_update_delivery(), [{"delivery_id": d.id, **j} for (d, _), j in zip(results, judged, strict=True)])
    _count_failures(conn, [(d.subscription_id, j) for (d, _), j in zip(results, judged, strict=True)], now)
    return [j["result"] for j in judged]


@cache
def _update_delivery() -> Any:
    d = webhook_deliveries.c
    columns = ("attempts", "last_status", "last_error", "state", "delivered_at", "next_attempt_at")
    return (
        update(webhook_deliveries)
        .where(d.id == bindparam("delivery_id"), d.state == "pending")
        .values({c: bindparam(c) for c in columns})
    )


def _count_failures(conn: Connection, judged: list[tuple[int, dict[str, Any]]], now: datetime) -> None:
    """Keep each subscription's run of failed deliveries: a delivery sets it back to 0, a
    delivery that ended failed adds one; at DISABLE_AFTER the subscription is disabled.

    One statement for the batch, whatever it holds: per subscription, the batch either ends its
    run (a delivery: the run is the failures after the last one) or adds to it (no delivery).
    A subscription whose run stays at 0 is not written at all, so workers recording deliveries
    to the same receiver at once do not queue for its row."""
    changes: dict[int, dict[str, Any]] = {}
    for sid, j in judged:
        if j["result"] == "delivered":
            changes[sid] = {"sid": sid, "restart": True, "failures": 0, "last_error": None}
        elif j["result"] == "failed":
            change = changes.setdefault(sid, {"sid": sid, "restart": False, "failures": 0, "last_error": None})
            change["failures"] += 1
            change["last_error"] = j["last_error"]
    if changes:
        # In the order of their ids, as every worker's record takes them: two workers updating
        # the same subscriptions then queue for them instead of deadlocking.
        conn.execute(_run_of_failures(), [{**changes[sid], "now": now} for sid in sorted(changes)])


@cache
def _run_of_failures() -> Any:
    s = webhook_subscriptions.c
    restart, failures = bindparam("restart", type_=Boolean), bindparam("failures", type_=Integer)
    now = bindparam("now", type_=webhook_subscriptions.c.disabled_at.type)
    run = case((restart, failures), else_=s.consecutive_failures + failures)
    disable = and_(run >= DISABLE_AFTER, s.disabled_at.is_(None))
    reason = (
        literal(f"Disabled after {DISABLE_AFTER} deliveries in a row failed; the last: ")
        + func.coalesce(bindparam("last_error", type_=Text), literal("None"))
        + literal(". Deliveries wait until the webhook is enabled again.")
    )
    return (
        update(webhook_subscriptions)
        .where(s.id == bindparam("sid"), or_(s.consecutive_failures != run, disable))
        .values(
            consecutive_failures=run,
            disabled_at=case((disable, now), else_=s.disabled_at),
            disabled_reason=case((disable, reason), else_=s.disabled_reason),
        )
    )
