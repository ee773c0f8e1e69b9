"""Cancelling an order (S9.1, ORDER-MODEL.md §1 "Cancelling").

Cancelling stops what is left of the order: its unfulfilled units come off the fulfillment
orders (restocked or written off), open authorizations are voided and, if the merchant chooses,
what was paid is refunded. The service runs the voids and refunds through the gateway first;
`cancel` then records the cancellation itself.

Work a fulfillment service accepted is the service's: the order's cancellation asks it to cancel
(a cancellation request, notified to the service) and the fulfillment order stays in progress
until it answers. Work only submitted is withdrawn at once, as any unfulfilled work is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from . import fulfillment_requests
from .errors import InvalidInput, RuleViolation
from .inventory import Inventory
from .order import Author, Cancellation, DomainEvent, FulfillmentOrder, Order, Refund, RefundLineItem
from .refunds import _price_line
from .returns import return_in_progress

CANCEL_REASONS = ("customer", "fraud", "inventory", "declined", "staff", "other")


@dataclass(frozen=True)
class RestockChoice:
    """Where one line's unfulfilled units go back to (None: the location that reserved them)."""

    line_item_id: int
    quantity: int | None = None
    location_id: int | None = None


@dataclass(frozen=True)
class CancelRequest:
    reason: str = "other"
    refund: bool = True
    restock: bool = True
    restock_choices: list[RestockChoice] = field(default_factory=list)
    notify_customer: bool = False
    staff_note: str | None = None


def check_can_cancel(order: Order, request: CancelRequest, *, active_locations: set[int]) -> None:
    """Refuse a cancellation the rules do not allow, before anything is touched."""
    if request.reason not in CANCEL_REASONS:
        raise InvalidInput(f"must be one of {', '.join(CANCEL_REASONS)}", field="reason")
    if order.is_cancelled:
        raise RuleViolation(f"Order {order.name} is already cancelled")
    in_progress = return_in_progress(order)
    if in_progress is not None:
        raise RuleViolation(
            f"Cannot cancel an order while return {in_progress.name} is in progress; close, decline or cancel it first"
        )
    if any(f.is_active for f in order.fulfillments):
        raise RuleViolation("Cannot cancel an order with fulfilled items; cancel the fulfillment first")
    if any(t.kind == "authorization" and t.status == "pending" for t in order.transactions):
        raise RuleViolation(
            "Cannot cancel an order while a payment authorization is pending; wait for the payment provider's answer"
        )
    if any(
        t.kind in ("capture", "sale", "refund", "void") and t.status == "pending"
        for t in order.transactions
        if not t.manual_payment_gateway
    ):
        raise RuleViolation("Cannot cancel an order while a payment is being processed")
    for choice in request.restock_choices:
        line = order.line_item(choice.line_item_id)
        if line is None:
            raise InvalidInput(
                f"line item {choice.line_item_id} is not on order {order.name}", field="refund_line_items"
            )
        if choice.quantity is not None and (
            choice.quantity < 0 or choice.quantity > order.fulfillable_quantity(line.id)
        ):
            raise InvalidInput(
                f"can restock between 0 and {order.fulfillable_quantity(line.id)} of {line.name}",
                field="refund_line_items",
            )
        if choice.location_id is not None and choice.location_id not in active_locations:
            raise RuleViolation(
                f"Location {choice.location_id} does not exist or is not active, so nothing can be restocked there",
                field="refund_line_items",
            )


def cancel(
    order: Order,
    request: CancelRequest,
    *,
    refund_transaction_ids: list[int],
    inventory: Inventory,
    author: Author,
    now: datetime,
) -> None:
    choices = {c.line_item_id: c for c in request.restock_choices}
    refund_lines: list[RefundLineItem] = []
    restocked_units = 0
    for line in order.line_items:
        choice = choices.get(line.id)
        to_restock = (
            choice.quantity
            if choice and choice.quantity is not None
            else (order.fulfillable_quantity(line.id) if request.restock or choice else 0)
        )
        target = choice.location_id if choice else None
        removed = 0
        for fo in order.fulfillment_orders:
            fo_line = fo.line_for(line.id)
            if not fo.is_active or fo_line is None or fo_line.fulfillable_quantity == 0:
                continue
            qty = fo_line.fulfillable_quantity
            restock_here = min(qty, to_restock)
            to_restock -= restock_here
            if line.inventory_item_id is not None:
                if restock_here:
                    if target is None or target == fo.assigned_location_id:
                        inventory.release(line.inventory_item_id, fo.assigned_location_id, restock_here, restock=True)
                    else:
                        inventory.restock_elsewhere(
                            line.inventory_item_id, fo.assigned_location_id, target, restock_here
                        )
                if qty - restock_here:
                    inventory.release(
                        line.inventory_item_id, fo.assigned_location_id, qty - restock_here, restock=False
                    )
            restocked_units += restock_here
            fo_line.fulfillable_quantity = 0
            removed += qty
            if restock_here:
                subtotal, tax = _price_line(order, line, restock_here)
                refund_lines.append(
                    RefundLineItem(
                        id=order.child_id(),
                        line_item_id=line.id,
                        quantity=restock_here,
                        restock_type="cancel",
                        location_id=target or fo.assigned_location_id,
                        subtotal=subtotal,
                        total_tax=tax,
                    )
                )
        line.removed_quantity += removed
    held: list[FulfillmentOrder] = []
    for fo in order.fulfillment_orders:
        if fo.is_active and fo.status == "in_progress" and fo.request_status in fulfillment_requests.HELD_BY_SERVICE:
            held.append(fo)  # a service holds the work: it is asked to cancel (below), not overruled
        elif fo.is_active and fo.request_status != "cancellation_requested":
            # Work only submitted to a service is the merchant's to withdraw: cancelled at once,
            # and the pending request's notification stops (domain/service_notifications.py).
            fo.status = "cancelled"
            fo.fulfillment_holds = []
            fo.updated_at = now
    if refund_lines or refund_transaction_ids:
        order.refunds.append(
            Refund(
                id=order.child_id(),
                created_at=now,
                refund_line_items=refund_lines,
                transaction_ids=list(refund_transaction_ids),
                note=request.staff_note,
                author=author,
            )
        )
    order.cancelled_at = now
    order.cancellation = Cancellation(
        reason=request.reason, staff_note=request.staff_note, notify_customer=request.notify_customer, author=author
    )
    order.updated_at = now
    order.record(
        DomainEvent(
            verb="cancelled",
            author=author,
            topics=("orders/cancelled", "orders/updated"),
            message=f"Order {order.name} was cancelled (reason: {request.reason})."
            + (f" Note: {request.staff_note}" if request.staff_note else ""),
            arguments={"reason": request.reason, "refund": request.refund, "restock": request.restock},
            notify="order_cancelled" if request.notify_customer else None,
        )
    )
    for fo in held:
        # After the order's own event, so the timeline reads: cancelled, then the service asked.
        fulfillment_requests.cancel_with_order(order, fo, author=author, now=now)
    if restocked_units:
        order.record(
            DomainEvent(
                verb="restock_line_items",
                author=author,
                message=f"Restocked {restocked_units} item(s) of the cancelled order.",
                arguments={"units": restocked_units},
            )
        )
