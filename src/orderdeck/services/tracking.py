"""Carrier tracking intake: the sources that push shipment events, and each pushed checkpoint
recorded on the fulfillments carrying its tracking number, through the same rule as a
shipment event posted through the API (domain/fulfillment.py add_fulfillment_event): the
timeline, `fulfillment_events/create`, `shipment_status` and the customer's notification."""

from __future__ import annotations

import secrets
from datetime import UTC
from typing import Any

from ..domain import fulfillment as rules
from ..domain.errors import InvalidInput
from ..domain.order import Fulfillment, Order
from ..resources.render import RenderContext, ts
from ..store.database import utc
from ..store.tracking_sources import TrackingSource, TrackingSources
from ..tracking.checkpoints import Checkpoint, Pushed
from .changes import load_order, save_order
from .context import Command

KINDS = ("aftership", "generic")
INTAKE_PATHS = {"aftership": "/tracking/aftership/{id}", "generic": "/tracking/events/{id}"}


def render(source: TrackingSource, ctx: RenderContext, *, with_secret: bool = False) -> dict[str, Any]:
    """A source as the API shows it; the secret only in the answer that created it."""
    answer: dict[str, Any] = {
        "id": source.id,
        "kind": source.kind,
        "name": source.name,
        "intake_url": ctx.public_url.rstrip("/") + INTAKE_PATHS[source.kind].format(id=source.id),
        "created_at": ts(utc(source.created_at), ctx),
        "last_received_at": ts(utc(source.last_received_at), ctx),
    }
    if with_secret:
        answer["secret"] = source.secret
    return answer


def create(cmd: Command, *, kind: Any, name: Any, secret: Any) -> TrackingSource:
    """AfterShip makes its webhook secret itself (Tracking → Settings → Webhooks): the merchant
    copies it here. For our generic shape Orderdeck makes one unless one is given."""
    if kind not in KINDS:
        raise InvalidInput(f"must be one of {', '.join(KINDS)}", field="kind")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("can't be blank", field="name")
    if len(name.strip()) > 255:
        raise InvalidInput("is too long (maximum is 255 characters)", field="name")
    if secret is None and kind == "generic":
        secret = secrets.token_urlsafe(32)
    if not isinstance(secret, str) or not secret.strip():
        raise InvalidInput("can't be blank: copy AfterShip's webhook secret", field="secret")
    if not 16 <= len(secret.strip()) <= 255:
        raise InvalidInput("must be 16 to 255 characters", field="secret")
    repo = TrackingSources(cmd.uow.conn)
    source_id = repo.add(kind=kind, name=name.strip(), secret=secret.strip(), now=cmd.now)
    return repo.get(source_id)


def delete(cmd: Command, source_id: int) -> None:
    TrackingSources(cmd.uow.conn).delete(source_id)


def _already_recorded(fulfillment: Fulfillment, checkpoint: Checkpoint) -> bool:
    """The same status at the same moment on this fulfillment is the same checkpoint: aggregators
    resend every checkpoint with each update, and retry."""
    when = checkpoint.happened_at.astimezone(UTC)
    return any(e.status == checkpoint.status and utc(e.happened_at) == when for e in fulfillment.events)


def record(cmd: Command, source: TrackingSource, pushed: Pushed) -> dict[str, int]:
    """Each new checkpoint becomes a shipment event on every active fulfillment carrying the
    tracking number. The newest goes first, so it is the one that may notify the customer; the
    older ones, added after it, never do (an "out for delivery" e-mail after "delivered") and
    never move the status back (the status follows the latest by when it happened)."""
    repo = TrackingSources(cmd.uow.conn)
    repo.received(source.id, cmd.now)
    wanted = pushed.tracking_number.lower()
    matched = recorded = 0
    for order_id in repo.orders_with_tracking_number(pushed.tracking_number):
        loaded = load_order(cmd, order_id)
        order = loaded.order
        changed = False
        for fulfillment in order.fulfillments:
            if not fulfillment.is_active or wanted not in {n.lower() for n in fulfillment.tracking_numbers}:
                continue
            matched += 1
            added = record_on(cmd, order, fulfillment, pushed.checkpoints)
            recorded += added
            changed = changed or added > 0
        if changed:
            save_order(cmd, order, loaded)
    return {"matched": matched, "recorded": recorded}


def record_on(cmd: Command, order: Order, fulfillment: Fulfillment, checkpoints: list[Checkpoint]) -> int:
    """Add the checkpoints the fulfillment does not have yet as shipment events (the caller saves
    the order); how many were added. Shared by the push intake and the carrier trackers
    (services/trackers.py), so a checkpoint is one event however it arrives."""
    new: list[Checkpoint] = []
    for checkpoint in checkpoints:
        if not _already_recorded(fulfillment, checkpoint) and not any(
            c.status == checkpoint.status and c.happened_at == checkpoint.happened_at for c in new
        ):
            new.append(checkpoint)
    new.sort(key=lambda c: c.happened_at)
    for checkpoint in new[-1:] + new[:-1]:
        rules.add_fulfillment_event(
            order,
            fulfillment,
            status=checkpoint.status,
            happened_at=checkpoint.happened_at,
            author=cmd.author,
            now=cmd.now,
            details={k: v for k, v in checkpoint.details.items() if v is not None},
            tell_customer_about=cmd.uow.shop.settings.shipment_updates,
        )
    return len(new)
