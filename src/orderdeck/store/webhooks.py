"""Webhook subscriptions, their deliveries and every attempt, and the shop's signing secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from ..domain.errors import NotFound
from .database import utc
from .tables import shop, webhook_attempts, webhook_deliveries, webhook_subscriptions


@dataclass(frozen=True)
class Subscription:
    id: int
    topic: str
    address: str
    format: str
    fields: list[str] | None
    api_version: str
    created_at: datetime
    updated_at: datetime
    consecutive_failures: int
    disabled_at: datetime | None
    disabled_reason: str | None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    @classmethod
    def of(cls, row: Any) -> Subscription:
        return cls(
            id=row["id"],
            topic=row["topic"],
            address=row["address"],
            format=row["format"],
            fields=orjson.loads(row["fields"]) if row["fields"] else None,
            api_version=row["api_version"],
            created_at=utc(row["created_at"]),  # type: ignore[arg-type]
            updated_at=utc(row["updated_at"]),  # type: ignore[arg-type]
            consecutive_failures=row["consecutive_failures"],
            disabled_at=utc(row["disabled_at"]),
            disabled_reason=row["disabled_reason"],
        )


@dataclass(frozen=True)
class Delivery:
    id: str
    subscription_id: int
    event_id: str
    topic: str
    order_id: int | None
    body: str
    triggered_at: datetime
    created_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None

    @classmethod
    def of(cls, row: Any) -> Delivery:
        values = dict(row)
        for name in ("triggered_at", "created_at", "next_attempt_at", "delivered_at"):
            values[name] = utc(values[name])
        return cls(**values)


@dataclass(frozen=True)
class Attempt:
    id: int
    delivery_id: str
    attempted_at: datetime
    response_status: int | None
    latency_ms: int
    result: str
    error: str | None
    response_excerpt: str | None
    worker: str


class Subscriptions:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, topic: str, address: str, fields: list[str] | None, api_version: str, now: datetime) -> Subscription:
        new_id = self.conn.execute(
            insert(webhook_subscriptions)
            .values(
                topic=topic,
                address=address,
                format="json",
                fields=orjson.dumps(fields).decode() if fields is not None else None,
                api_version=api_version,
                created_at=now,
                updated_at=now,
            )
            .returning(webhook_subscriptions.c.id)
        ).scalar_one()
        return self.get(new_id)

    def get(self, subscription_id: int, *, for_update: bool = False) -> Subscription:
        query = select(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().one_or_none()
        if row is None:
            raise NotFound(f"No webhook with id {subscription_id}")
        return Subscription.of(row)

    def list(
        self,
        *,
        topic: str | None = None,
        address: str | None = None,
        after_id: int | None = None,
        since_id: int | None = None,
        created_at_min: datetime | None = None,
        created_at_max: datetime | None = None,
        updated_at_min: datetime | None = None,
        updated_at_max: datetime | None = None,
        limit: int | None = None,
    ) -> list[Subscription]:
        c = webhook_subscriptions.c
        wanted = [
            (topic, c.topic.__eq__),
            (address, c.address.__eq__),
            (after_id, c.id.__gt__),
            (since_id, c.id.__gt__),
            (created_at_min, c.created_at.__ge__),
            (created_at_max, c.created_at.__le__),
            (updated_at_min, c.updated_at.__ge__),
            (updated_at_max, c.updated_at.__le__),
        ]
        conditions = [test(value) for value, test in wanted if value is not None]
        query = select(webhook_subscriptions).where(and_(True, *conditions)).order_by(c.id)
        if limit is not None:
            query = query.limit(limit)
        return [Subscription.of(r) for r in self.conn.execute(query).mappings()]

    def count(self, *, topic: str | None = None, address: str | None = None) -> int:
        c = webhook_subscriptions.c
        query = select(func.count()).select_from(webhook_subscriptions)
        if topic is not None:
            query = query.where(c.topic == topic)
        if address is not None:
            query = query.where(c.address == address)
        return int(self.conn.execute(query).scalar_one())

    def active_by_topic(self, topics: set[str]) -> dict[str, list[Subscription]]:
        rows = self.conn.execute(
            select(webhook_subscriptions).where(webhook_subscriptions.c.topic.in_(topics))
        ).mappings()
        found: dict[str, list[Subscription]] = {}
        for row in rows:
            subscription = Subscription.of(row)
            found.setdefault(subscription.topic, []).append(subscription)
        return found

    def senders(self, subscription_ids: set[int]) -> tuple[dict[int, Subscription], str | None]:
        """What a claim of deliveries needs to send them, in one statement: their subscriptions
        by id, and the shop's domain (X-Shopify-Shop-Domain; None when none of them is left)."""
        rows = self.conn.execute(
            select(webhook_subscriptions, shop.c.domain.label("shop_domain"))
            .join(shop, shop.c.id == 1)
            .where(webhook_subscriptions.c.id.in_(subscription_ids))
        ).mappings()
        by_id: dict[int, Subscription] = {}
        domain = None
        for row in rows:
            by_id[row["id"]] = Subscription.of(row)
            domain = row["shop_domain"]
        return by_id, domain

    def change(self, subscription_id: int, now: datetime, **values: Any) -> Subscription:
        if "fields" in values:
            values["fields"] = orjson.dumps(values["fields"]).decode() if values["fields"] is not None else None
        self.conn.execute(
            update(webhook_subscriptions)
            .where(webhook_subscriptions.c.id == subscription_id)
            .values(updated_at=now, **values)
        )
        return self.get(subscription_id)

    def remove(self, subscription_id: int) -> None:
        """Delete the subscription with its log: what was waiting for it has nowhere to go."""
        deliveries = select(webhook_deliveries.c.id).where(webhook_deliveries.c.subscription_id == subscription_id)
        self.conn.execute(delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(deliveries)))
        self.conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.subscription_id == subscription_id))
        self.conn.execute(delete(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id))


class Deliveries:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, delivery_id: str, subscription_id: int | None = None) -> Delivery:
        query = select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
        if subscription_id is not None:
            query = query.where(webhook_deliveries.c.subscription_id == subscription_id)
        row = self.conn.execute(query).mappings().one_or_none()
        if row is None:
            raise NotFound(f"No webhook delivery with id {delivery_id}")
        return Delivery.of(row)

    def list(
        self,
        subscription_id: int,
        *,
        state: str | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
        c = webhook_deliveries.c
        query = select(webhook_deliveries).where(c.subscription_id == subscription_id)
        if state is not None:
            query = query.where(c.state == state)
        if before is not None:
            at, last_id = before
            query = query.where(or_(c.created_at < at, and_(c.created_at == at, c.id < last_id)))
        query = query.order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        return [Delivery.of(r) for r in self.conn.execute(query).mappings()]

    def attempts(self, delivery_ids: list[str]) -> dict[str, list[Attempt]]:
        found: dict[str, list[Attempt]] = {i: [] for i in delivery_ids}
        if not delivery_ids:
            return found
        rows = self.conn.execute(
            select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id.in_(delivery_ids))
            .order_by(webhook_attempts.c.id)
        ).mappings()
        for row in rows:
            values = dict(row)
            values["attempted_at"] = utc(values["attempted_at"])
            found[row["delivery_id"]].append(Attempt(**values))
        return found

    def redeliver(self, subscription_id: int, delivery_ids: list[str] | None, state: str | None, now: datetime) -> int:
        """Queue deliveries again (delivered or failed ones included): due now, with the same ids
        and body, so a receiver that already has one can drop the copy."""
        c = webhook_deliveries.c
        query = update(webhook_deliveries).where(c.subscription_id == subscription_id)
        if delivery_ids is not None:
            query = query.where(c.id.in_(delivery_ids))
        if state is not None:
            query = query.where(c.state == state)
        # A fresh retry schedule: staff asked for it, so it gets the full nine attempts again.
        result = self.conn.execute(query.values(state="pending", next_attempt_at=now, attempts=0))
        return int(result.rowcount)


def webhook_secret(conn: Connection, configured: str | None) -> str:
    """The secret deliveries are signed with: ORDERDECK_WEBHOOK_SECRET when set; otherwise one
    made on first use and kept in the shop row (the UPDATE only fills an empty column, so two
    processes starting at once agree on one secret)."""
    if configured:
        return configured
    conn.execute(
        update(shop).where(shop.c.id == 1, shop.c.webhook_secret.is_(None)).values(webhook_secret=secrets.token_hex(32))
    )
    return str(conn.execute(select(shop.c.webhook_secret).where(shop.c.id == 1)).scalar_one())
