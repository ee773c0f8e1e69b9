"""Stuck orders (S8.3, AFTER-THE-SALE §4.7): an order that waits on something nobody is doing,
with the reason, since when, and what staff do next. Plain rules, no I/O.

Requests to a fulfillment service are measured from their own times (when the request status
last changed, `FulfillmentOrder.request_status_at`), not from when the order was placed:

- a request submitted and not accepted within `accept_within`;
- a notification to the service that it never acknowledged within `acknowledge_within` (the
  service was probably never reached: the request "never reached the warehouse");
- a cancellation request not answered within `cancellation_within`;
- a request accepted with nothing shipped after `ship_within`;
- a request rejected, a fulfillment order the service gave back incomplete (closed), a
  cancellation the service refused: at once, in the command that records the answer;
- and, as before, an open order not fulfilled `unfulfilled_after` it was placed.

Each occurrence is flagged once (a `StuckFlag` on the order: the `stuck` tag, a timeline entry,
the staff e-mail and the `orderdeck/orders_stuck` topic) and stays until its cause is gone (the
service answered, something shipped, the request was sent again, the items moved, the order was
cancelled or archived); then it is dropped with a timeline line. A cancelled order keeps only
the flags of work a service still holds (its cancellation request unanswered or refused): the
service may ship it anyway. The `stuck` tag comes off with
the last flag only when Orderdeck put it on and nobody changed the tag since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .lifecycle import STUCK_TAG, STUCK_WAITING
from .order import SYSTEM, DomainEvent, FulfillmentOrder, Order, StuckFlag
from .placement import normalise_tags
from .statuses import display_fulfillment_status

# Reason codes (the order search term, the `stuck=` filter, the automation field `stuck.reason`)
# and how the admin names them.
REASONS = {
    "notification_unacknowledged": "Service not reached",
    "request_not_accepted": "Request not accepted",
    "request_rejected": "Request rejected",
    "accepted_not_shipped": "Accepted, nothing shipped",
    "closed_incomplete": "Given back incomplete",
    "cancellation_unanswered": "Cancellation unanswered",
    "cancellation_rejected": "Cancellation refused",
    "unfulfilled_too_long": "Not fulfilled in time",
}
# Raised by the service's answer itself; the others by the sweep, once enough time has passed.
AT_ONCE = ("request_rejected", "closed_incomplete", "cancellation_rejected")
TOPIC = "orderdeck/orders_stuck"
AFTER_EDIT = "order_edited"  # a refused cancellation that an order edit had asked for
ORDER_CANCELLED = "order_cancelled"  # a refused cancellation that cancelling the order had asked for
# The reasons that still count on a cancelled order: a service holds its work and has not given
# it up (domain/cancellation.py asks it to cancel), so it may ship an order that was cancelled.
AFTER_ORDER_CANCELLED = ("cancellation_rejected", "cancellation_unanswered", "notification_unacknowledged")

# What staff do about a rejection, by the service's reason (Shopify's rejection reasons).
AFTER_REJECTION = {
    "inventory_out_of_stock": "move the items to another location, or request again once {service} has stock",
    "incorrect_address": "correct the shipping address, then request fulfillment again",
    "undeliverable_destination": "fulfill from another location that ships there, or cancel the order",
    "ineligible_product": "move the items to another location that can ship them",
}


@dataclass(frozen=True)
class Limits:
    """How long each wait may last before it counts as stuck; None switches that reason off."""

    accept_within: timedelta | None = None
    acknowledge_within: timedelta | None = None
    cancellation_within: timedelta | None = None
    ship_within: timedelta | None = None
    unfulfilled_after: timedelta | None = None


@dataclass(frozen=True)
class Finding:
    reason: str
    since: datetime
    fulfillment_order_id: int | None = None
    service: str | None = None
    service_reason: str | None = None
    detail: str | None = None


def request_since(fo: FulfillmentOrder) -> datetime:
    """When the fulfillment order's request status last changed. Documents stored before that was
    kept fall back to the newest merchant request's sent_at, then to the order's last change."""
    if fo.request_status_at is not None:
        return fo.request_status_at
    kind = "cancellation_request" if fo.request_status.startswith("cancellation") else "fulfillment_request"
    sent = next((r.sent_at for r in reversed(fo.merchant_requests) if r.kind == kind), None)
    return sent or fo.updated_at


def _shipped_any(order: Order, fo: FulfillmentOrder) -> bool:
    return any(
        f.is_active and any(line.fulfillment_order_id == fo.id for line in f.line_items) for f in order.fulfillments
    )


def handed_back(order: Order, fo: FulfillmentOrder) -> FulfillmentOrder | None:
    """The open, unrequested work a service's close gave back (the fulfillment order carved off
    when it closed), while nobody has requested, moved or shipped it since."""
    if fo.status != "incomplete" or fo.request_status != "closed":
        return None
    closed_at = request_since(fo)
    return next(
        (
            other
            for other in order.fulfillment_orders
            if other.id > fo.id
            and other.assigned_location_id == fo.assigned_location_id
            and other.status == "open"
            and other.request_status == "unsubmitted"
            and other.remaining > 0
            and other.created_at >= closed_at
        ),
        None,
    )


def _answer(order: Order, fo: FulfillmentOrder, verb: str) -> dict[str, Any]:
    """What the service said in its answer recorded in this command (reason, message, …)."""
    for event in reversed(order.events):
        if event.verb == verb and event.subject_id == fo.id:
            return event.arguments
    return {}


def findings(
    order: Order,
    *,
    now: datetime,
    limits: Limits | None,
    services: dict[int, str],
    unacknowledged: dict[int, datetime] | None = None,
) -> list[Finding]:
    """Everything the order waits on that counts as stuck now. Without `limits` only the reasons
    that count at once; `unacknowledged` maps a fulfillment order to its oldest notification the
    service has not acknowledged within the shop's limit."""
    if order.is_cancelled:
        return _held_after_cancel(order, now=now, limits=limits, services=services, unacknowledged=unacknowledged)
    if order.is_closed:
        return []
    found: list[Finding] = []
    for fo in order.fulfillment_orders:
        service = services.get(fo.assigned_location_id)
        since = request_since(fo)
        if fo.request_status == "rejected" and fo.is_active and fo.remaining:
            said = _answer(order, fo, "fulfillment_request_rejected")
            found.append(Finding("request_rejected", since, fo.id, service, said.get("reason"), said.get("message")))
        elif fo.request_status == "cancellation_rejected" and fo.is_active and fo.remaining:
            # A cancellation an order edit asked for (auto_requests.py marks it `after_edit`): the
            # service may now ship units that are no longer on the order.
            said = _answer(order, fo, "cancellation_request_rejected")
            edited = AFTER_EDIT if said.get("after_edit") else None
            found.append(Finding("cancellation_rejected", since, fo.id, service, edited, said.get("message")))
        elif handed_back(order, fo) is not None:
            said = _answer(order, fo, "fulfillment_service_failed_to_complete")
            found.append(Finding("closed_incomplete", since, fo.id, service, None, said.get("message")))
        if limits is None or not fo.is_active:
            continue
        waiting = fo.request_status in ("submitted", "cancellation_requested")
        notified = (unacknowledged or {}).get(fo.id)
        if waiting and limits.acknowledge_within is not None and notified is not None:
            found.append(Finding("notification_unacknowledged", notified, fo.id, service))
        elif fo.request_status == "submitted" and _over(limits.accept_within, since, now):
            found.append(Finding("request_not_accepted", since, fo.id, service))
        elif fo.request_status == "cancellation_requested" and _over(limits.cancellation_within, since, now):
            found.append(Finding("cancellation_unanswered", since, fo.id, service))
        elif (
            fo.request_status == "accepted"
            and fo.status == "in_progress"
            and _over(limits.ship_within, since, now)
            and not _shipped_any(order, fo)
        ):
            found.append(Finding("accepted_not_shipped", since, fo.id, service))
    if (
        limits is not None
        and limits.unfulfilled_after is not None
        and not found
        and not order.stuck
        and display_fulfillment_status(order) in STUCK_WAITING
        and order.processed_at <= now - limits.unfulfilled_after
    ):
        # The order-level wait only when no request explains it better.
        found.append(Finding("unfulfilled_too_long", order.processed_at))
    return found


def _held_after_cancel(
    order: Order,
    *,
    now: datetime,
    limits: Limits | None,
    services: dict[int, str],
    unacknowledged: dict[int, datetime] | None,
) -> list[Finding]:
    """A cancelled order's work that a service still holds: the cancellation request it refused
    (at once), or left unanswered or unacknowledged (after the shop's waits)."""
    found: list[Finding] = []
    for fo in order.fulfillment_orders:
        if not fo.is_active:
            continue
        service = services.get(fo.assigned_location_id)
        since = request_since(fo)
        if fo.request_status == "cancellation_rejected":
            said = _answer(order, fo, "cancellation_request_rejected")
            found.append(Finding("cancellation_rejected", since, fo.id, service, ORDER_CANCELLED, said.get("message")))
        elif fo.request_status == "cancellation_requested" and limits is not None:
            notified = (unacknowledged or {}).get(fo.id)
            if limits.acknowledge_within is not None and notified is not None:
                found.append(Finding("notification_unacknowledged", notified, fo.id, service))
            elif _over(limits.cancellation_within, since, now):
                found.append(Finding("cancellation_unanswered", since, fo.id, service))
    return found


def _over(limit: timedelta | None, since: datetime, now: datetime) -> bool:
    return limit is not None and since <= now - limit


def still_stuck(order: Order, flag: StuckFlag, unacknowledged: dict[int, datetime] | None = None) -> bool:
    """Whether the flag's cause still stands. A request whose status changed after the flag was
    raised is another occurrence: this one is over (answered, withdrawn, requested again)."""
    if order.is_cancelled and flag.reason not in AFTER_ORDER_CANCELLED:
        return False
    if order.is_closed and not order.is_cancelled:
        return False
    if flag.fulfillment_order_id is None:
        return display_fulfillment_status(order) in STUCK_WAITING
    fo = order.fulfillment_order(flag.fulfillment_order_id)
    if fo is None:
        return False
    if flag.reason == "closed_incomplete":
        return handed_back(order, fo) is not None
    if not fo.is_active:
        return False
    if fo.request_status_at is not None and fo.request_status_at > flag.flagged_at:
        return False  # answered, withdrawn or requested again since: that occurrence is over
    if flag.reason == "notification_unacknowledged":
        waiting = fo.request_status in ("submitted", "cancellation_requested")
        return waiting and (unacknowledged is None or fo.id in unacknowledged)
    wanted = {
        "request_not_accepted": "submitted",
        "cancellation_unanswered": "cancellation_requested",
        "accepted_not_shipped": "accepted",
        "request_rejected": "rejected",
        "cancellation_rejected": "cancellation_rejected",
    }.get(flag.reason)
    if fo.request_status != wanted:
        return False
    if flag.reason == "accepted_not_shipped":
        return not _shipped_any(order, fo)
    # A cancelled order's units are released: the service holding the work is the cause.
    return fo.remaining > 0 or order.is_cancelled


def review(
    order: Order,
    *,
    now: datetime,
    limits: Limits | None,
    services: dict[int, str],
    unacknowledged: dict[int, datetime] | None = None,
) -> bool:
    """Drop the flags whose cause is gone and raise the new ones. True when anything changed."""
    changed = clear_gone(order, now=now, unacknowledged=unacknowledged)
    for finding in findings(order, now=now, limits=limits, services=services, unacknowledged=unacknowledged):
        if any(
            f.reason == finding.reason and f.fulfillment_order_id == finding.fulfillment_order_id for f in order.stuck
        ):
            continue  # flagged once per occurrence, not on every sweep
        _raise(order, finding, now, limits)
        changed = True
    return changed


def clear_gone(order: Order, *, now: datetime, unacknowledged: dict[int, datetime] | None = None) -> bool:
    """Drop the flags whose cause is gone (every command runs this: an answer, a shipment, a new
    request or a cancellation clears what it resolves)."""
    if not order.stuck:
        return False
    gone = [f for f in order.stuck if not still_stuck(order, f, unacknowledged)]
    if not gone:
        return False
    order.stuck = [f for f in order.stuck if f not in gone]
    for flag in gone:
        order.record(
            DomainEvent(
                verb="stuck_cleared",
                author=SYSTEM,
                subject_id=flag.fulfillment_order_id,
                topics=("orders/updated",),
                message=f"No longer stuck ({REASONS[flag.reason].lower()}): {resolution(order, flag)}",
                arguments={"reason": flag.reason, "fulfillment_order_id": flag.fulfillment_order_id},
            )
        )
    if not order.stuck and order.stuck_tag_added:
        order.stuck_tag_added = False
        order.tags = [t for t in order.tags if t.lower() != STUCK_TAG]
    order.updated_at = now
    return True


def _raise(order: Order, finding: Finding, now: datetime, limits: Limits | None) -> None:
    flag = StuckFlag(
        reason=finding.reason,
        since=finding.since,
        flagged_at=now,
        fulfillment_order_id=finding.fulfillment_order_id,
        service=finding.service,
        service_reason=finding.service_reason,
        detail=finding.detail,
    )
    order.stuck.append(flag)
    tagged = any(t.lower() == STUCK_TAG for t in order.tags)
    if not tagged:
        order.tags = normalise_tags([*order.tags, STUCK_TAG])
        order.stuck_tag_added = True
    order.updated_at = now
    step = next_step(flag)
    if flag.reason == "unfulfilled_too_long":
        after = limits.unfulfilled_after if limits and limits.unfulfilled_after else now - flag.since
        days = after.days if after.days and not after.seconds else after.total_seconds() / 86400
        message = (
            f"Order {order.name} is still not fulfilled {days:g} day(s) after it was placed; tagged "
            f"'{STUCK_TAG}'. Check that the fulfilment request reached its location or service."
        )
        subject = None
        extra: dict[str, object] = {"after_days": days}
    else:
        message = f"{headline(flag, now)} Next step: {step}."
        subject = f"{order.name} is stuck: {REASONS[flag.reason].lower()}"
        extra = {"subject": subject}
    order.record(
        DomainEvent(
            verb="stuck",
            author=SYSTEM,
            subject_id=flag.fulfillment_order_id,
            topics=(TOPIC, "orders/updated"),
            alert_staff=True,
            message=message,
            arguments={
                "reason": flag.reason,
                "fulfillment_order_id": flag.fulfillment_order_id,
                "service": flag.service,
                "since": flag.since.isoformat(),
                "next_step": step,
                **extra,
            },
        )
    )


# ---- the words: what staff read on the order, the Stuck page and the e-mail ---------------


def _waited(since: datetime, now: datetime) -> str:
    hours = max(0, int((now - since).total_seconds() // 3600))
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def _said(flag: StuckFlag) -> str:
    why = f" ({flag.service_reason.replace('_', ' ')})" if flag.service_reason else ""
    return f"{why}: “{flag.detail.rstrip('.')}”" if flag.detail else why


def headline(flag: StuckFlag, now: datetime) -> str:
    """What is wrong, in one sentence with the service's own words."""
    service = flag.service or "The fulfillment service"
    waited = _waited(flag.since, now)
    return {
        "notification_unacknowledged": f"{service} has not acknowledged the request sent {waited} ago; "
        "it has probably not received it.",
        "request_not_accepted": f"{service} has not accepted the fulfillment request sent {waited} ago.",
        "request_rejected": f"{service} rejected the fulfillment request{_said(flag)}.",
        "accepted_not_shipped": f"{service} accepted the request {waited} ago and has shipped nothing.",
        "closed_incomplete": f"{service} could not complete the fulfillment and gave it back{_said(flag)}.",
        "cancellation_unanswered": f"{service} has not answered the cancellation request sent {waited} ago.",
        "cancellation_rejected": f"{service} refused to cancel the fulfillment"
        + (" after the order was edited" if flag.service_reason == AFTER_EDIT else "")
        + (" of an order that was cancelled" if flag.service_reason == ORDER_CANCELLED else "")
        + (f": “{flag.detail.rstrip('.')}”." if flag.detail else "."),
        "unfulfilled_too_long": f"The order is still not fulfilled {waited} after it was placed.",
    }[flag.reason]


def next_step(flag: StuckFlag) -> str:
    """What staff do about it, in the merchant's words."""
    service = flag.service or "the fulfillment service"
    if flag.reason == "request_rejected":
        step = AFTER_REJECTION.get(flag.service_reason or "", "move the items to another location or request again")
        return step.format(service=service)
    return {
        "notification_unacknowledged": f"check {service}'s callback URL on the Fulfillment services page, "
        "or ask the service to look at its assigned orders",
        "request_not_accepted": f"ask {service} whether it received the request, or cancel it and fulfill "
        "from another location",
        "accepted_not_shipped": f"ask {service} for the tracking number, or request cancellation and fulfill "
        "from another location",
        "closed_incomplete": "request fulfillment again, move the items to another location, or refund them",
        "cancellation_unanswered": f"contact {service}: until it answers, it may still ship the items",
        "cancellation_rejected": f"contact {service}: it may ship the cancelled order; Orderdeck refuses its "
        "fulfillment, so if the parcel leaves anyway, arrange its return with the customer"
        if flag.service_reason == ORDER_CANCELLED
        else f"contact {service}: it may ship items taken off the order; if it does, arrange a return"
        if flag.service_reason == AFTER_EDIT
        else f"contact {service}; if items the customer no longer wants ship, refund them or arrange a return",
        "unfulfilled_too_long": "check that the fulfillment request reached its location or service",
    }[flag.reason]


def resolution(order: Order, flag: StuckFlag) -> str:
    """Why a flag went: what changed."""
    if order.is_cancelled:
        fo = order.fulfillment_order(flag.fulfillment_order_id) if flag.fulfillment_order_id else None
        if flag.reason in AFTER_ORDER_CANCELLED and fo is not None and fo.request_status == "cancellation_accepted":
            return "the service accepted the cancellation."
        return "the order was cancelled."
    if order.is_closed:
        return "the order was archived."
    fo = order.fulfillment_order(flag.fulfillment_order_id) if flag.fulfillment_order_id else None
    if fo is None:
        return "the order no longer waits to be fulfilled."
    if flag.reason == "closed_incomplete":
        return "the work it gave back was requested again, moved or removed."
    if flag.reason == "notification_unacknowledged" and fo.request_status in ("submitted", "cancellation_requested"):
        return "the service acknowledged the request."
    if not fo.is_active or fo.remaining == 0:
        return "the items were shipped, moved or removed."
    return {
        "accepted": "the service accepted the request."
        if flag.reason != "accepted_not_shipped"
        else "the service shipped items.",
        "submitted": "fulfillment was requested again.",
        "rejected": "the service rejected the request.",
        "cancellation_requested": "cancellation was requested.",
        "cancellation_rejected": "the service refused the cancellation.",
        "unsubmitted": "the request was withdrawn.",
    }.get(fo.request_status, "the request moved on.")
