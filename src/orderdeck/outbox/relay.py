"""The relay: reads committed outbox messages and hands each to what consumes its kind.

A webhook message becomes one delivery per subscription to its topic (sent later by
outbox/webhooks.py). Claiming the messages, writing what they become and marking them handled
happen in one transaction, so a relay killed at any moment leaves each message either untouched
or fully handed on. On PostgreSQL many relays run side by side: each claims its own rows with
FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, literal, select

from ..automation.engine import start_runs
from ..services.context import Orderdeck
from ..store.database import utc
from ..store.tables import outbox, webhook_deliveries
from ..store.wakeup import announce
from ..store.webhooks import Subscription, Subscriptions
from .service_calls import queue_notifications

# A delivery's id is derived from its event and subscription, so handing the same message on
# twice (it cannot, but a bug or a restore might) would collide instead of sending twice.
DELIVERY_NAMESPACE = uuid.UUID("6b1f9a52-3f0e-4d55-9c57-8f0b2a1d7e41")


def delivery_id(event_id: str, subscription_id: int) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{event_id}:{subscription_id}"))


def shaped_body(payload: str, fields: list[str] | None) -> str:
    """The payload a subscription receives: only the fields it asked for, in the payload's order."""
    if not fields:
        return payload
    resource: dict[str, Any] = orjson.loads(payload)
    wanted = set(fields)
    return orjson.dumps({k: v for k, v in resource.items() if k in wanted}).decode()


def fan_out_webhooks(conn: Connection, messages: list[Any], now: datetime) -> int:
    """Turn webhook messages into deliveries, one per subscription to the topic. A disabled
    subscription still gets its deliveries: they wait until it is enabled again.

    A subscription that takes the whole payload gets it copied from the outbox row inside the
    database (one INSERT … SELECT per delivery, sent together), so the payloads, most of what
    the relay moves, never travel to the worker and back; `messages` need not carry them. Only
    payloads cut down to a subscription's `fields` are read and shaped here."""
    by_topic = Subscriptions(conn).active_by_topic({m.topic for m in messages})
    copied: list[dict[str, Any]] = []
    shaped: list[tuple[Any, Subscription]] = []
    for message in messages:
        for subscription in by_topic.get(message.topic, []):
            if subscription.fields:
                shaped.append((message, subscription))
            else:
                copied.append(
                    {
                        "delivery_id": delivery_id(message.id, subscription.id),
                        "subscription_id": subscription.id,
                        "event_id": message.id,
                        "now": now,
                    }
                )
    if copied:
        conn.execute(_copy_from_outbox(), copied)
    if shaped:
        payloads = dict(
            conn.execute(select(outbox.c.id, outbox.c.payload).where(outbox.c.id.in_({m.id for m, _ in shaped}))).all()
        )
        conn.execute(
            insert(webhook_deliveries),
            [
                {
                    "id": delivery_id(message.id, subscription.id),
                    "subscription_id": subscription.id,
                    "event_id": message.id,
                    "topic": message.topic,
                    "order_id": message.order_id,
                    "body": shaped_body(payloads[message.id], subscription.fields),
                    "triggered_at": utc(message.created_at),
                    "created_at": now,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for message, subscription in shaped
            ],
        )
    return len(copied) + len(shaped)


@cache
def _copy_from_outbox() -> Any:
    """A delivery of the whole payload, made from its outbox row: the columns fan_out_webhooks
    would otherwise fill from the message (topic, order, body, triggered at)."""
    o = outbox.c
    now = bindparam("now", type_=webhook_deliveries.c.created_at.type)
    columns = ("id", "subscription_id", "event_id", "topic", "order_id", "body", "triggered_at")
    return insert(webhook_deliveries).from_select(
        [*columns, "created_at", "state", "attempts", "next_attempt_at"],
        select(
            bindparam("delivery_id", type_=webhook_deliveries.c.id.type),
            bindparam("subscription_id", type_=webhook_deliveries.c.subscription_id.type),
            o.id,
            o.topic,
            o.order_id,
            o.payload,
            o.created_at,
            now,
            literal("pending", webhook_deliveries.c.state.type),
            literal(0, webhook_deliveries.c.attempts.type),
            now,
        ).where(o.id == bindparam("event_id", type_=o.id.type)),
    )


Consumer = Callable[[Connection, list[Any], datetime], int]

# Kinds whose consumer reads no payload from the messages it is handed (it copies them itself).
WITHOUT_PAYLOAD = frozenset({"webhook"})

# What each outbox kind becomes. Kinds without a consumer here stay in the outbox, untouched,
# until one exists (customer notifications and the staff mailer come later).
CONSUMERS: dict[str, Consumer] = {
    "webhook": fan_out_webhooks,
    "automation": start_runs,
    "service_call": queue_notifications,
}


def relay(app: Orderdeck, *, kinds: tuple[str, ...] | None = None, batch: int = 200) -> int:
    """Hand on up to `batch` due messages per kind, a transaction each: one statement takes them
    (marks them handled and returns them), their consumer makes what they ask for, and a
    rollback leaves them due. Returns how many messages were handled."""
    handled = 0
    for kind in kinds or tuple(CONSUMERS):
        with app.unit_of_work() as uow:
            messages = uow.outbox.take(
                kind, uow.now, batch, skip_locked=not app.db.is_sqlite, payload=kind not in WITHOUT_PAYLOAD
            )
            if not messages:
                continue
            if CONSUMERS[kind](uow.conn, messages, uow.now):
                announce(uow.conn)  # other workers wake for the deliveries and runs written here
            uow.commit()
            handled += len(messages)
    return handled
