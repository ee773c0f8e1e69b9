"""Fulfillment requests: the merchant asks a fulfillment service (3PL, dropshipper) to do a
fulfillment order's work, and the service accepts, rejects, cancels or gives it back.

Every transition is AFTER-THE-SALE §4.2's table (Shopify 2024-10); anything else is refused
with the reason and changes nothing. Work the service no longer holds (a cancellation it
accepted, an order it closed) moves to a fresh open, unsubmitted fulfillment order at the same
location, so no unit is lost: the merchant may request again, move it or refund it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import InvalidInput, RuleViolation
from .fulfillment import LineRequest, _carve, _split_lines, _touch
from .order import SYSTEM, Author, DomainEvent, FulfillmentOrder, MerchantRequest, Order
from .topics import FULFILLMENT_REQUEST_TOPICS, ROUTING_TOPIC

# Shopify 2024-10's FulfillmentOrderRejectionReason, lower-cased as REST writes it.
REJECTION_REASONS = (
    "incorrect_address",
    "inventory_out_of_stock",
    "ineligible_product",
    "undeliverable_destination",
    "other",
)
TOPICS = FULFILLMENT_REQUEST_TOPICS  # one per step, in the order the steps below raise them
PAYLOAD_TOPICS = (*TOPICS, ROUTING_TOPIC)  # the topics whose payload is webhook_payload's (§4.5)
# assigned_fulfillment_orders.json's assignment_status, and the request states each lists.
ASSIGNMENT_STATUSES = {
    "fulfillment_requested": ("submitted",),
    "fulfillment_accepted": ("accepted", "cancellation_rejected"),
    "cancellation_requested": ("cancellation_requested",),
}


def _refuse(fo: FulfillmentOrder, action: str, allowed: tuple[str, ...], statuses: tuple[str, ...]) -> None:
    if fo.status not in statuses or fo.request_status not in allowed:
        raise RuleViolation(
            f"Cannot {action}: the fulfillment order is {fo.status} and its request is {fo.request_status}"
        )


def _said(message: str | None) -> str:
    return f": {message}" if message else "."


def _record(order: Order, fo: FulfillmentOrder, verb: str, topic: str, text: str, author: Author, **args: Any) -> None:
    order.record(
        DomainEvent(
            verb=verb,
            author=author,
            subject_id=fo.id,
            topics=(topic, "orders/updated"),
            message=text,
            arguments=args,
        )
    )


def submit(
    order: Order,
    fo: FulfillmentOrder,
    *,
    service_name: str | None,
    message: str | None,
    requests: list[LineRequest] | None,
    notify_customer: bool,
    author: Author,
    now: datetime,
) -> FulfillmentOrder | None:
    """Send (part of) the fulfillment order to its location's service. `fo` becomes the submitted
    one; the unsubmitted remainder of a partial request is returned (None when all was sent)."""
    if service_name is None:
        raise RuleViolation(
            "The fulfillment order's assigned location does not belong to a fulfillment service",
            field="assigned_location_id",
        )
    if order.is_cancelled:
        raise RuleViolation("Cannot request fulfillment of a cancelled order")
    _refuse(fo, "request fulfillment", ("unsubmitted", "rejected"), ("open",))
    wanted = _split_lines(order, fo, requests, "request")
    if not wanted:
        raise RuleViolation("Nothing on this fulfillment order is left to fulfill")
    rest = {li.id: li.fulfillable_quantity - wanted.get(li.id, 0) for li in fo.line_items}
    rest = {k: v for k, v in rest.items() if v > 0}
    unsubmitted = _carve(order, fo, rest, location_id=fo.assigned_location_id, status="open", now=now) if rest else None
    fo.request_status = "submitted"
    fo.request_status_at = now
    request = MerchantRequest(
        id=order.child_id(),
        kind="fulfillment_request",
        message=message,
        sent_at=now,
        request_options={"notify_customer": notify_customer},
    )
    fo.merchant_requests.append(request)
    _touch(order, fo, now)
    _record(
        order,
        fo,
        "fulfillment_request_submitted",
        TOPICS[0],
        f"Fulfillment was requested from {service_name}{_said(message)}",
        author,
        message=message,
        request_id=request.id,
        original_id=fo.id,
    )
    return unsubmitted


def accept(order: Order, fo: FulfillmentOrder, *, message: str | None, author: Author, now: datetime) -> None:
    _refuse(fo, "accept the fulfillment request", ("submitted",), ("open",))
    fo.status = "in_progress"
    fo.request_status = "accepted"
    fo.request_status_at = now
    _touch(order, fo, now)
    _record(
        order,
        fo,
        "fulfillment_request_accepted",
        TOPICS[1],
        f"{author.name} accepted the fulfillment request{_said(message)}",
        author,
        message=message,
    )


def reject(
    order: Order,
    fo: FulfillmentOrder,
    *,
    message: str | None,
    reason: str | None,
    line_messages: list[tuple[int, str | None]],
    author: Author,
    now: datetime,
) -> None:
    if reason is not None and reason not in REJECTION_REASONS:
        raise InvalidInput(f"must be one of {', '.join(REJECTION_REASONS)}", field="reason")
    own = {li.id for li in fo.line_items}
    for line_id, _ in line_messages:
        if line_id not in own:
            raise InvalidInput(f"line {line_id} is not on fulfillment order {fo.id}", field="line_items")
    _refuse(fo, "reject the fulfillment request", ("submitted",), ("open",))
    fo.request_status = "rejected"
    fo.request_status_at = now
    _touch(order, fo, now)
    why = f" ({reason.replace('_', ' ')})" if reason else ""
    _record(
        order,
        fo,
        "fulfillment_request_rejected",
        TOPICS[2],
        f"{author.name} rejected the fulfillment request{why}{_said(message)}",
        author,
        message=message,
        reason=reason,
        line_items=[{"fulfillment_order_line_item_id": i, "message": m} for i, m in line_messages],
    )


def request_cancellation(
    order: Order, fo: FulfillmentOrder, *, message: str | None, author: Author, now: datetime
) -> None:
    if fo.request_status == "submitted" and fo.is_active:
        # Not yet accepted: the merchant still holds the work and cancels directly (§4.2).
        raise RuleViolation(
            "Cannot request cancellation: the service has not accepted the request yet; "
            "cancel the fulfillment order instead"
        )
    _refuse(fo, "request cancellation", ("accepted",), ("in_progress",))
    _ask_to_cancel(order, fo, message=message, author=author, now=now)


# What the service is told when the whole order is cancelled while it holds the work.
ORDER_CANCELLED = "The order was cancelled"
# The request states in which a service holds a fulfillment order's work (it accepted it, or
# refused to give it up): cancelling the order asks it to cancel (Shopify: "orders that have had
# cancellation requested but the cancellation has yet to be accepted by the fulfillment service
# might still have work completed despite cancellation").
HELD_BY_SERVICE = ("accepted", "cancellation_rejected")


def cancel_with_order(order: Order, fo: FulfillmentOrder, *, author: Author, now: datetime) -> None:
    """The order was cancelled while the service holds this work: a cancellation request goes
    to it (and its notification). The units were already released by the cancellation; the
    fulfillment order stays in progress until the service answers."""
    _refuse(fo, "request cancellation", HELD_BY_SERVICE, ("in_progress",))
    _ask_to_cancel(order, fo, message=ORDER_CANCELLED, author=author, now=now)


def _ask_to_cancel(order: Order, fo: FulfillmentOrder, *, message: str | None, author: Author, now: datetime) -> None:
    fo.request_status = "cancellation_requested"
    fo.request_status_at = now
    request = MerchantRequest(id=order.child_id(), kind="cancellation_request", message=message, sent_at=now)
    fo.merchant_requests.append(request)
    _touch(order, fo, now)
    _record(
        order,
        fo,
        "cancellation_request_submitted",
        TOPICS[3],
        f"Cancellation of the fulfillment was requested{_said(message)}",
        author,
        message=message,
        request_id=request.id,
    )


def _hand_back(order: Order, fo: FulfillmentOrder, now: datetime) -> FulfillmentOrder | None:
    """The work the service no longer holds goes to a fresh open, unsubmitted fulfillment order."""
    rest = {li.id: li.fulfillable_quantity for li in fo.line_items if li.fulfillable_quantity}
    if not rest:
        return None
    return _carve(order, fo, rest, location_id=fo.assigned_location_id, status="open", now=now)


def accept_cancellation(
    order: Order, fo: FulfillmentOrder, *, message: str | None, author: Author, now: datetime
) -> FulfillmentOrder | None:
    _refuse(fo, "accept the cancellation request", ("cancellation_requested",), ("in_progress",))
    replacement = _hand_back(order, fo, now)
    if replacement is not None:
        # A cancellation an order edit asked for is followed by a request for the new quantities
        # (domain/auto_requests.py); one the merchant asked for leaves the next step to them.
        replacement.automatic_request = "at_once" if fo.automatic_request == "at_once" else "never"
    fo.status = "cancelled"
    fo.request_status = "cancellation_accepted"
    fo.request_status_at = now
    _touch(order, fo, now)
    _record(
        order,
        fo,
        "cancellation_request_accepted",
        TOPICS[4],
        f"{author.name} accepted the cancellation request{_said(message)}",
        author,
        message=message,
    )
    return replacement


def reject_cancellation(
    order: Order, fo: FulfillmentOrder, *, message: str | None, author: Author, now: datetime
) -> None:
    _refuse(fo, "reject the cancellation request", ("cancellation_requested",), ("in_progress",))
    # After an edit the service may now ship units no longer on the order: the event says so.
    after_edit = fo.automatic_request == "at_once"
    fo.automatic_request = "by_rule"
    fo.request_status = "cancellation_rejected"
    fo.request_status_at = now
    _touch(order, fo, now)
    _record(
        order,
        fo,
        "cancellation_request_rejected",
        TOPICS[5],
        f"{author.name} rejected the cancellation request{_said(message)}",
        author,
        message=message,
        after_edit=after_edit,
    )


def close(
    order: Order, fo: FulfillmentOrder, *, message: str | None, author: Author, now: datetime
) -> FulfillmentOrder | None:
    """The service gives the order back (fulfillmentOrderClose): incomplete, request closed."""
    _refuse(fo, "close the fulfillment order", ("accepted", "cancellation_rejected"), ("in_progress",))
    replacement = _hand_back(order, fo, now)
    if replacement is not None:
        replacement.automatic_request = "never"  # given back: the merchant decides what next
    fo.status = "incomplete"
    fo.request_status = "closed"
    fo.request_status_at = now
    _touch(order, fo, now)
    _record(
        order,
        fo,
        "fulfillment_service_failed_to_complete",
        TOPICS[6],
        f"{author.name} could not complete the fulfillment and gave it back{_said(message)}",
        author,
        message=message,
    )
    return replacement


def announce_routing(order: Order, fos: list[FulfillmentOrder], names: dict[int, str]) -> None:
    """`fulfillment_orders/order_routing_complete`, once per fulfillment order routed to a
    fulfillment service's location (at placement, and when an edit routes added items)."""
    for fo in fos:
        name = names.get(fo.assigned_location_id)
        if name is None:
            continue
        order.record(
            DomainEvent(
                verb="order_routing_complete",
                author=SYSTEM,
                subject_id=fo.id,
                topics=(ROUTING_TOPIC,),
                message=f"Items were assigned to {name}'s location.",
            )
        )


def gid(fo_id: int) -> str:
    return f"gid://shopify/FulfillmentOrder/{fo_id}"


def webhook_payload(topic: str, order: Order, fo: FulfillmentOrder, arguments: dict[str, Any]) -> dict[str, Any]:
    """The §4.5 shapes: GraphQL ids, the FO's statuses, the message or the merchant's request."""
    if topic == ROUTING_TOPIC:
        return {"fulfillment_order": {"id": gid(fo.id), "status": fo.status}}
    state = {"id": gid(fo.id), "request_status": fo.request_status, "status": fo.status}
    message = arguments.get("message")
    if topic.endswith(("fulfillment_request_submitted", "cancellation_request_submitted")):
        request = {
            "id": f"gid://shopify/FulfillmentOrderMerchantRequest/{arguments.get('request_id')}",
            "message": message,
        }
        if topic.endswith("cancellation_request_submitted"):
            return {"fulfillment_order": state, "fulfillment_order_merchant_request": request}
        return {
            "fulfillment_order_merchant_request": request,
            "original_fulfillment_order": state,
            "submitted_fulfillment_order": state,
        }
    return {"fulfillment_order": state, "message": message}
