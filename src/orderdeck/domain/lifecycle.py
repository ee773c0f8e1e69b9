"""Archiving, reopening, deleting, editing details, tags (S3.5, S7.4, S9.2, S9.3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec

from .contact import check_email, check_phone, is_one_line
from .errors import InvalidInput, RuleViolation
from .order import Address, Author, CustomStatusMark, DomainEvent, NoteAttribute, Order
from .payments import GIFT_CARD_GATEWAYS, is_manual_gateway
from .placement import normalise_tags
from .returns import return_in_progress
from .statuses import display_fulfillment_status, qualifies_for_auto_archive

EDITABLE_FIELDS = (
    "email",
    "phone",
    "shipping_address",
    "note",
    "note_attributes",
    "tags",
    "buyer_accepts_marketing",
    "customer_locale",
)


def close(order: Order, *, author: Author, now: datetime, automatic: bool = False) -> None:
    if order.is_closed:
        raise RuleViolation(f"Order {order.name} is already archived")
    order.closed_at = now
    order.updated_at = now
    order.record(
        DomainEvent(
            verb="closed",
            author=author,
            topics=("orders/updated",),
            message=f"Order {order.name} was archived" + (" automatically (fulfilled and paid)." if automatic else "."),
        )
    )


def reopen(order: Order, *, author: Author, now: datetime) -> None:
    if not order.is_closed:
        raise RuleViolation(f"Order {order.name} is not archived")
    order.closed_at = None
    order.unarchived_seq = order.next_child_seq  # auto-archive leaves it open until it is due again
    order.updated_at = now
    order.record(
        DomainEvent(
            verb="re_opened", author=author, topics=("orders/updated",), message=f"Order {order.name} was unarchived."
        )
    )


def auto_archive(order: Order, *, now: datetime) -> bool:
    """Archive the order if the shop's auto-archive rule says so; True when it did."""
    if not qualifies_for_auto_archive(order):
        return False
    close(order, author=Author("system", "Orderdeck"), now=now, automatic=True)
    return True


def deletion_refusal(order: Order) -> str | None:
    """Why this order may not be deleted (S9.3), or None when it may."""
    if not (order.is_closed or order.is_cancelled):
        return "Only archived or cancelled orders can be deleted; archive or cancel it first"
    if order.source_name == "pos":
        return "Orders from the point of sale cannot be deleted"
    in_progress = return_in_progress(order)
    if in_progress is not None:
        return f"Return {in_progress.name} is in progress; close, decline or cancel it before deleting the order"
    for t in order.transactions:
        if t.status != "success" or t.kind not in ("sale", "capture", "authorization"):
            continue
        if t.gateway.strip().lower() in GIFT_CARD_GATEWAYS:
            return "Orders paid with a gift card cannot be deleted"
        if not is_manual_gateway(t.gateway):
            return f"Orders paid through an online gateway ({t.gateway}) cannot be deleted"
    if any(f.has_unvoided_label for f in order.fulfillments):
        return "A fulfillment has a shipping label that is not voided; void it (cancel the fulfillment) first"
    return None


def check_can_delete(order: Order) -> None:
    refusal = deletion_refusal(order)
    if refusal:
        raise RuleViolation(refusal)


def edit(order: Order, changes: dict[str, Any], *, author: Author, now: datetime) -> list[str]:
    """Change the details a merchant may change after placement. Returns the fields changed."""
    for name in changes:
        if name == "billing_address":
            raise InvalidInput(
                "The billing address cannot be changed after the order is placed; it is the "
                "address the payment was made with",
                field="billing_address",
            )
        if name not in EDITABLE_FIELDS:
            raise InvalidInput("cannot be changed after the order is placed", field=name)
        if name == "email":
            check_email(changes[name])
        elif name == "phone":
            check_phone(changes[name])
        elif name == "shipping_address" and changes[name] is not None:
            _check_address(changes[name])
        if name == "buyer_accepts_marketing" and not isinstance(changes[name], bool):
            # The one editable field without a null: stored, a null made the order unreadable.
            raise InvalidInput("must be true or false; null is not allowed", field=name)
    changed: list[str] = []
    for name, value in changes.items():
        if name == "tags":
            value = normalise_tags(value)
        elif name == "note_attributes":
            value = [v if isinstance(v, NoteAttribute) else NoteAttribute(**v) for v in value or []]
        elif name == "shipping_address" and isinstance(value, dict):
            value = merge_address(order.shipping_address, value)
        if getattr(order, name) != value:
            if name == "tags" and _has_stuck_tag(order.tags) != _has_stuck_tag(value):
                # Someone put the stuck tag on or took it off: theirs now (domain/stuck.py leaves it).
                order.stuck_tag_added = False
            setattr(order, name, value)
            changed.append(name)
    if changed:
        order.updated_at = now
        order.record(
            DomainEvent(
                verb="update",
                author=author,
                topics=("orders/updated",),
                message="Changed " + ", ".join(n.replace("_", " ") for n in changed) + ".",
                arguments={"fields": changed},
            )
        )
    return changed


ADDRESS_FIELDS = frozenset(f.name for f in msgspec.structs.fields(Address))


def _check_address(value: Address | dict[str, Any]) -> None:
    """Each part of an address is one line of at most 255 characters (as the API's own check)."""
    parts = msgspec.structs.asdict(value) if isinstance(value, Address) else value
    for key, text in parts.items():
        if isinstance(text, str) and (len(text) > 255 or not is_one_line(text)):
            raise InvalidInput(
                f"{key.replace('_', ' ')} must be one line of at most 255 characters", field="shipping_address"
            )


def merge_address(current: Address | None, sent: dict[str, Any]) -> Address:
    """A partial address changes only the keys sent (Shopify's PUT takes a partial
    shipping_address); a key sent as null clears that one field."""
    unknown = sorted(set(sent) - ADDRESS_FIELDS)
    if unknown:
        raise InvalidInput(f"{unknown[0]} is not a field of an address", field="shipping_address")
    return msgspec.structs.replace(current or Address(), **sent)


def change_tags(order: Order, *, add: list[str], remove: list[str], author: Author, now: datetime) -> bool:
    current = {t.lower(): t for t in order.tags}
    for tag in normalise_tags(add):
        current.setdefault(tag.lower(), tag)
    for tag in normalise_tags(remove):
        current.pop(tag.lower(), None)
    new = normalise_tags(list(current.values()))
    if new == order.tags:
        return False
    return bool(edit(order, {"tags": new}, author=author, now=now))


STUCK_TAG = "stuck"
STUCK_WAITING = ("unfulfilled", "partially_fulfilled", "in_progress", "request_declined")


def _has_stuck_tag(tags: list[str]) -> bool:
    return any(t.lower() == STUCK_TAG for t in tags)


def is_stuck(order: Order, *, now: datetime, after: timedelta) -> bool:
    """S8.3: an open order still waiting to be fulfilled `after` it was placed. Held and
    scheduled orders wait on purpose and are not stuck."""
    if order.cancelled_at is not None or order.is_closed:
        return False
    if display_fulfillment_status(order) not in STUCK_WAITING:
        return False
    return order.processed_at <= now - after


def set_custom_status(
    order: Order,
    *,
    handle: str | None,
    label: str,
    due_at: datetime | None,
    public_note: str | None,
    private_note: str | None,
    notify: bool,
    author: Author,
    now: datetime,
) -> bool:
    """Put the order in a merchant-defined stage (or none), with its notes and due date.
    Returns False when nothing changes. `notify` asks for the customer's custom_status message."""
    before = order.custom_status
    after = (
        None
        if handle is None
        else CustomStatusMark(
            handle=handle,
            set_at=before.set_at if before and before.handle == handle else now,
            due_at=due_at,
            public_note=public_note,
            private_note=private_note,
        )
    )
    if before == after:
        return False
    order.custom_status = after
    order.updated_at = now
    was = f" (was {before.handle})" if before else ""
    message = f"Status set to {label}{was}." if after else f"Status {before.handle if before else ''} cleared."
    order.record(
        DomainEvent(
            verb="custom_status_changed",
            author=author,
            topics=("orderdeck/custom_status_changed", "orders/updated"),
            message=message,
            notify="custom_status" if notify and after else None,
            arguments={"from": before.handle if before else None, "to": handle},
        )
    )
    return True
