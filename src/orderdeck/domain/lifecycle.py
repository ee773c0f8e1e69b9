"""Archiving, reopening, deleting, editing details, tags (S3.5, S7.4, S9.2, S9.3)."""

from __future__ import annotations

from dataclasses import dataclass
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


# ---- archiving and unarchiving, one order or many ---------------------------------------------------
# The rule is written once, over what an order's status columns say (`Standing`), so that bulk
# work (services/bulk_set.py) can apply it to thousands of rows without loading a document, and
# `close`/`reopen` apply the same rule to one order. tests/integration/test_bulk_set.py checks
# on generated orders that both say the same.


@dataclass(frozen=True)
class Standing:
    """What an order's indexed columns and search terms say about it: enough to decide whether
    archive, unarchive or a tag change applies and whether it needs the whole command."""

    name: str
    closed: bool
    cancelled: bool
    financial_status: str
    fulfillment_status: str | None
    has_returns: bool  # returns carry exchanges a save may release
    stuck: bool  # a save may clear stuck flags (domain/stuck.py)
    at_service: bool  # a fulfillment service holds work a save may follow up (services/auto_requests.py)


def standing(order: Order, *, financial_status: str, fulfillment_status: str | None, at_service: bool) -> Standing:
    return Standing(
        name=order.name,
        closed=order.is_closed,
        cancelled=order.is_cancelled,
        financial_status=financial_status,
        fulfillment_status=fulfillment_status,
        has_returns=bool(order.returns),
        stuck=bool(order.stuck),
        at_service=at_service,
    )


def archive_refusal(name: str, *, closed: bool) -> str | None:
    """Why an order may not be archived, or None when it may."""
    return f"Order {name} is already archived" if closed else None


def unarchive_refusal(name: str, *, closed: bool) -> str | None:
    """Why an order may not be unarchived, or None when it may."""
    return None if closed else f"Order {name} is not archived"


def close_refusal(s: Standing) -> str | None:
    return archive_refusal(s.name, closed=s.closed)


def reopen_refusal(s: Standing) -> str | None:
    return unarchive_refusal(s.name, closed=s.closed)


def closed_message(name: str, *, automatic: bool = False) -> str:
    return f"Order {name} was archived" + (" automatically (fulfilled and paid)." if automatic else ".")


def reopened_message(name: str) -> str:
    return f"Order {name} was unarchived."


# Financial statuses under which the auto-archive rule (statuses.qualifies_for_auto_archive) can
# hold: fulfilled and settled, or every item refunded.
_SETTLED = ("paid", "partially_refunded", "refunded")
_ALL_REFUNDED = ("refunded", "voided", "pending", "partially_refunded")


def may_auto_archive(s: Standing) -> bool:
    """Whether saving the order could archive it by the shop's auto-archive rule: true for every
    order the rule archives (and for some it does not; those just take the whole command)."""
    if s.closed:
        return False
    settled_and_fulfilled = s.financial_status in _SETTLED and s.fulfillment_status == "fulfilled"
    return settled_and_fulfilled or s.financial_status in _ALL_REFUNDED


def needs_whole_command(s: Standing, *, auto_archive: bool) -> bool:
    """Whether saving this order can do more than the change itself (release exchanges, clear
    stuck flags, follow up a fulfillment service, archive it automatically): such an order is
    changed by its whole command, one at a time, so nothing a save does is skipped."""
    return s.has_returns or s.stuck or s.at_service or (auto_archive and may_auto_archive(s))


def close(order: Order, *, author: Author, now: datetime, automatic: bool = False) -> None:
    refusal = archive_refusal(order.name, closed=order.is_closed)
    if refusal is not None:
        raise RuleViolation(refusal)
    order.closed_at = now
    order.updated_at = now
    order.record(
        DomainEvent(
            verb="closed",
            author=author,
            topics=("orders/updated",),
            message=closed_message(order.name, automatic=automatic),
        )
    )


def reopen(order: Order, *, author: Author, now: datetime) -> None:
    refusal = unarchive_refusal(order.name, closed=order.is_closed)
    if refusal is not None:
        raise RuleViolation(refusal)
    order.closed_at = None
    order.unarchived_seq = order.next_child_seq  # auto-archive leaves it open until it is due again
    order.updated_at = now
    order.record(
        DomainEvent(verb="re_opened", author=author, topics=("orders/updated",), message=reopened_message(order.name))
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


def retagged(tags: list[str], *, add: list[str], remove: list[str]) -> list[str]:
    """The tags after adding and removing (whatever their case), in the order they were; raises
    InvalidInput past an order's 250 tags. One order's tag change and bulk tagging both use it."""
    current = {t.lower(): t for t in tags}
    for tag in normalise_tags(add):
        current.setdefault(tag.lower(), tag)
    for tag in normalise_tags(remove):
        current.pop(tag.lower(), None)
    return normalise_tags(list(current.values()))


TAGS_CHANGED = "Changed tags."  # the timeline's words for a tag change (as `edit` words it)


def change_tags(order: Order, *, add: list[str], remove: list[str], author: Author, now: datetime) -> bool:
    new = retagged(order.tags, add=add, remove=remove)
    if new == order.tags:
        return False
    return bool(edit(order, {"tags": new}, author=author, now=now))


STUCK_TAG = "stuck"
STUCK_WAITING = ("unfulfilled", "partially_fulfilled", "in_progress", "request_declined")


def _has_stuck_tag(tags: list[str]) -> bool:
    return any(t.lower() == STUCK_TAG for t in tags)


def moves_stuck_tag(before: list[str], after: list[str]) -> bool:
    """A tag change that puts the `stuck` tag on or takes it off also changes who owns the tag
    (`edit`): bulk tagging leaves such an order to its whole command."""
    return _has_stuck_tag(before) != _has_stuck_tag(after)


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
