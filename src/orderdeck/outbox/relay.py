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
from typing import Any

import orjson
from sqlalchemy import Connection, insert

from ..automation.engine import start_runs
from ..services.context import Orderdeck
from ..store.database import utc
from ..store.tables import webhook_deliveries
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
    subscription still gets its deliveries: they wait until it is enabled again."""
    by_topic = Subscriptions(conn).active_by_topic({m.topic for m in messages})
    rows = []
    for message in messages:
        subscription: Subscription
        for subscription in by_topic.get(message.topic, []):
            rows.append(
                {
                    "id": delivery_id(message.id, subscription.id),
                    "subscription_id": subscription.id,
                    "event_id": message.id,
                    "topic": message.topic,
                    "order_id": message.order_id,
                    "body": shaped_body(message.payload, subscription.fields),
                    "triggered_at": utc(message.created_at),
                    "created_at": now,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )
    if rows:
        conn.execute(insert(webhook_deliveries), rows)
    return len(rows)


Consumer = Callable[[Connection, list[Any], datetime], int]

# What each outbox kind becomes. Kinds without a consumer here stay in the outbox, untouched,
# until one exists (customer notifications and the staff mailer come later).
CONSUMERS: dict[str, Consumer] = {
    "webhook": fan_out_webhooks,
    "automation": start_runs,
    "service_call": queue_notifications,
}


def relay(app: Orderdeck, *, kinds: tuple[str, ...] | None = None, batch: int = 200) -> int:
    """Hand on up to `batch` due messages per kind. Returns how many messages were handled."""
    handled = 0
    for kind in kinds or tuple(CONSUMERS):
        consume = CONSUMERS[kind]
        with app.unit_of_work() as uow:
            now = uow.now
            messages = uow.outbox.due(kind, now, batch, skip_locked=not app.db.is_sqlite)
            if not messages:
                continue
            if consume(uow.conn, messages, now):
                announce(uow.conn)  # other workers wake for the deliveries and runs written here
            uow.outbox.handled([m.id for m in messages], now)
            uow.commit()
            handled += len(messages)
    return handled
