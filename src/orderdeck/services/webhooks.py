"""Managing webhook subscriptions: subscribe, change, enable again, redeliver, unsubscribe."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import idna

from .. import destinations
from ..domain.errors import InvalidInput
from ..domain.topics import TOPICS
from ..store.webhooks import Deliveries, Subscription, Subscriptions
from .context import Command

API_VERSION = "2024-10"


def check_topic(topic: Any) -> str:
    if not isinstance(topic, str) or not topic.strip():
        raise InvalidInput("can't be blank; name one of the topics listed in docs/api.md", field="topic")
    if topic not in TOPICS:
        raise InvalidInput(f"'{topic}' is not a topic Orderdeck sends; use one of: {', '.join(TOPICS)}", field="topic")
    return topic


def check_address(address: Any, allowed: destinations.Destinations) -> str:
    if not isinstance(address, str) or not address.strip():
        raise InvalidInput("can't be blank; give the http(s) URL that receives the webhook", field="address")
    parts = urlsplit(address.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "must be an http:// or https:// URL with a host (Pub/Sub and EventBridge addresses are not supported)",
            field="address",
        )
    # Plainly private addresses are refused here; every address is checked again on connecting.
    problem = allowed.refusal(parts.hostname)
    if problem:
        raise InvalidInput(problem, field="address")
    try:
        # The check the HTTP client makes when it connects: refuse here what it would refuse there.
        if ":" not in parts.hostname:  # an IPv6 address is no name to encode
            idna.encode(parts.hostname, uts46=True)
        httpx.URL(address.strip())
    except (idna.IDNAError, httpx.InvalidURL, UnicodeError):
        raise InvalidInput(f"has a host name that cannot be used ({parts.hostname})", field="address") from None
    if parts.username or parts.password:
        raise InvalidInput("must not carry a user name or password; verify deliveries by their HMAC", field="address")
    return address.strip()


def check_fields(fields: Any) -> list[str] | None:
    if fields is None:
        return None
    if not isinstance(fields, list) or not all(isinstance(f, str) and f.strip() for f in fields):
        raise InvalidInput('must be a list of field names such as ["id", "note"]', field="fields")
    return [f.strip() for f in fields] or None


def check_format(value: Any) -> None:
    if value is not None and value != "json":
        raise InvalidInput("only json is sent; leave format out or set it to json", field="format")


def _check_not_taken(subscriptions: Subscriptions, topic: str, address: str, other_than: int | None = None) -> None:
    """One subscription per topic and address, as on Shopify: a second would send everything twice."""
    if any(s.id != other_than for s in subscriptions.list(topic=topic, address=address)):
        raise InvalidInput("for this topic has already been taken", field="address")


def subscribe(cmd: Command, topic: Any, address: Any, fields: Any, format: Any = None) -> Subscription:
    check_format(format)
    topic, address = check_topic(topic), check_address(address, destinations.of(cmd.app.settings))
    subscriptions = Subscriptions(cmd.uow.conn)
    _check_not_taken(subscriptions, topic, address)
    return subscriptions.add(topic, address, check_fields(fields), API_VERSION, cmd.now)


def change(cmd: Command, subscription_id: int, changes: dict[str, Any]) -> Subscription:
    subscriptions = Subscriptions(cmd.uow.conn)
    subscriptions.get(subscription_id, for_update=True)
    values: dict[str, Any] = {}
    if "topic" in changes:
        values["topic"] = check_topic(changes["topic"])
    if "address" in changes:
        values["address"] = check_address(changes["address"], destinations.of(cmd.app.settings))
    if "fields" in changes:
        values["fields"] = check_fields(changes["fields"])
    if "format" in changes:
        check_format(changes["format"])
    current = subscriptions.get(subscription_id)
    _check_not_taken(
        subscriptions, values.get("topic", current.topic), values.get("address", current.address), subscription_id
    )
    return subscriptions.change(subscription_id, cmd.now, **values)


def enable(cmd: Command, subscription_id: int) -> Subscription:
    """Enable a disabled subscription again: what waited for it is sent from now on."""
    subscriptions = Subscriptions(cmd.uow.conn)
    subscriptions.get(subscription_id, for_update=True)
    return subscriptions.change(
        subscription_id, cmd.now, disabled_at=None, disabled_reason=None, consecutive_failures=0
    )


def disable(cmd: Command, subscription_id: int, reason: str | None) -> Subscription:
    subscriptions = Subscriptions(cmd.uow.conn)
    current = subscriptions.get(subscription_id, for_update=True)
    if not current.enabled:
        return current
    return subscriptions.change(
        subscription_id,
        cmd.now,
        disabled_at=cmd.now,
        disabled_reason=reason or f"Disabled by {cmd.author.name}; deliveries wait until it is enabled again.",
    )


def unsubscribe(cmd: Command, subscription_id: int) -> None:
    subscriptions = Subscriptions(cmd.uow.conn)
    subscriptions.get(subscription_id, for_update=True)
    subscriptions.remove(subscription_id)


def redeliver(cmd: Command, subscription_id: int, delivery_ids: Any, state: Any) -> int:
    """Send deliveries again, by id or all in a state (e.g. every failed one)."""
    Subscriptions(cmd.uow.conn).get(subscription_id)
    if delivery_ids is None and state is None:
        raise InvalidInput("name the deliveries to send again: delivery_ids, or a state such as failed", field="base")
    if delivery_ids is not None and (
        not isinstance(delivery_ids, list) or not delivery_ids or not all(isinstance(i, str) for i in delivery_ids)
    ):
        raise InvalidInput("must be a non-empty list of delivery ids", field="delivery_ids")
    if state is not None and state not in ("delivered", "failed", "pending"):
        raise InvalidInput("must be delivered, failed or pending", field="state")
    deliveries = Deliveries(cmd.uow.conn)
    for delivery_id in delivery_ids or []:
        deliveries.get(delivery_id, subscription_id)  # a wrong id is a 404, not a silent no-op
    return deliveries.redeliver(subscription_id, delivery_ids, state, cmd.now)
