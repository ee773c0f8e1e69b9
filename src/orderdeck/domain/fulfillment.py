"""Fulfillment orders and fulfillments: holds, schedules, moves, shipping and un-shipping.

A fulfillment order (FO) is the work one location has to do for an order. Its line quantities
are the facts the fulfillment status is derived from: `fulfillable_quantity` falls as
fulfillments are created and rises again when one is cancelled (S8.1).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidInput, NotFound, RuleViolation
from .inventory import Inventory
from .order import (
    Address,
    Author,
    DomainEvent,
    Fulfillment,
    FulfillmentEvent,
    FulfillmentLine,
    FulfillmentOrder,
    FulfillmentOrderLine,
    Hold,
    Order,
)

HOLD_REASONS = (
    "awaiting_payment",
    "awaiting_return_items",
    "high_risk_of_fraud",
    "incorrect_address",
    "inventory_out_of_stock",
    "unknown_delivery_date",
    "other",
)
SHIPMENT_STATUSES = (
    "label_printed",
    "label_purchased",
    "attempted_delivery",
    "ready_for_pickup",
    "picked_up",
    "confirmed",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "failure",
    "delayed",
    "carrier_picked_up",
)
# Events that tell the customer something; the notification names are the templates' names.
SHIPMENT_NOTIFICATIONS = {
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "ready_for_pickup": "ready_for_pickup",
    "attempted_delivery": "attempted_delivery",
    "failure": "delivery_failed",
}


@dataclass(frozen=True)
class LineRequest:
    """Some quantity of one fulfillment-order line (the API's {id, quantity})."""

    fulfillment_order_line_id: int
    quantity: int


@dataclass(frozen=True)
class TrackingInfo:
    company: str | None = None
    numbers: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()


# What the merchant may do while a fulfillment service holds a request (AFTER-THE-SALE §4.2).
REQUEST_ACTIONS = {
    "submitted": ["cancel_fulfillment_order"],
    "accepted": ["request_cancellation"],
    "rejected": ["request_fulfillment"],
    "cancellation_requested": ["cancel_fulfillment_order"],
    "cancellation_rejected": [],
}
# A service has the work: holds and moves wait until it answers or gives the order back.
WITH_SERVICE = ("submitted", "accepted", "cancellation_requested", "cancellation_rejected")


def supported_actions(fo: FulfillmentOrder, *, at_service: bool = False) -> list[str]:
    """Shopify's supported_actions. At a fulfillment service's location the service fulfils:
    the merchant requests fulfillment instead of creating one (2024-10 fixtures)."""
    if fo.is_active and fo.request_status in REQUEST_ACTIONS:
        return list(REQUEST_ACTIONS[fo.request_status])
    if at_service and fo.status == "open":
        return ["request_fulfillment", "cancel_fulfillment_order", "move", "hold"]
    if fo.status in ("open", "in_progress"):
        actions = ["create_fulfillment", "move", "hold"]
        if fo.status == "open":
            actions.insert(1, "cancel_fulfillment_order")
        return actions
    if fo.status == "on_hold":
        return ["release_hold"]
    if fo.status == "scheduled":
        return ["mark_as_open", "hold", "move"]
    return []


# Who ships from a fulfillment service's location: the merchant's next step in each request state.
MERCHANT_NEXT_STEP = {
    "unsubmitted": "request fulfillment from {service}, or move it to one of your own locations to fulfill it yourself",
    "rejected": "{service} rejected the request: request fulfillment again, or move it to one of your own locations",
    "submitted": "fulfillment was requested from {service}: wait for its answer, or cancel the fulfillment order "
    "(it withdraws the request) and move it to one of your own locations",
    "accepted": "{service} accepted the request and fulfills it: send a cancellation request to take it back",
    "cancellation_requested": "{service} has not answered the cancellation request yet: wait for its answer",
    "cancellation_rejected": "{service} refused to cancel and fulfills it",
}
# What a service may fulfil: what it accepted (and still holds while a cancellation is asked).
SERVICE_FULFILS = ("accepted", "cancellation_requested", "cancellation_rejected")


def require_fulfiller(fo: FulfillmentOrder, service: str | None, *, by_service: bool) -> None:
    """At a fulfillment service's location only that service ships, through the API, once it has
    accepted the request (Shopify lists no create_fulfillment there). `service` is the name of
    the location's service (None: one of the merchant's own locations); `by_service` says the
    caller is that service."""
    if service is None:
        return
    if by_service:
        if fo.request_status not in SERVICE_FULFILS:
            raise RuleViolation(
                f"Fulfillment order {fo.id}'s request is {fo.request_status}: accept the fulfillment request first",
                field="line_items_by_fulfillment_order",
            )
        return
    step = MERCHANT_NEXT_STEP.get(fo.request_status, "request fulfillment from {service}")
    raise RuleViolation(
        f"Fulfillment order {fo.id} is assigned to {service}'s location, so {service} fulfills it: "
        + step.format(service=service),
        field="line_items_by_fulfillment_order",
    )


def require_fo(order: Order, fo_id: int) -> FulfillmentOrder:
    fo = order.fulfillment_order(fo_id)
    if fo is None:
        raise NotFound(f"Fulfillment order {fo_id} not found")
    return fo


def _touch(order: Order, fo: FulfillmentOrder, now: datetime) -> None:
    fo.updated_at = now
    order.updated_at = now


def _split_lines(order: Order, fo: FulfillmentOrder, requests: list[LineRequest] | None, action: str) -> dict[int, int]:
    """Resolve {fulfillment-order line id: quantity}; None means everything still to ship."""
    if not requests:
        return {line.id: line.fulfillable_quantity for line in fo.line_items if line.fulfillable_quantity}
    wanted: dict[int, int] = {}
    for req in requests:
        line = next((li for li in fo.line_items if li.id == req.fulfillment_order_line_id), None)
        if line is None:
            raise InvalidInput(
                f"line {req.fulfillment_order_line_id} is not on fulfillment order {fo.id}",
                field="fulfillment_order_line_items",
            )
        if req.quantity <= 0:
            raise InvalidInput("quantity must be greater than 0", field="fulfillment_order_line_items")
        wanted[line.id] = wanted.get(line.id, 0) + req.quantity
        if wanted[line.id] > line.fulfillable_quantity:
            raise RuleViolation(
                f"Cannot {action} {wanted[line.id]} of line {line.id}: "
                f"only {line.fulfillable_quantity} left to fulfill",
                field="fulfillment_order_line_items",
            )
    return wanted


def _carve(
    order: Order, fo: FulfillmentOrder, quantities: dict[int, int], *, location_id: int, status: str, now: datetime
) -> FulfillmentOrder:
    """Take quantities off `fo` into a new fulfillment order (splits for holds and moves)."""
    lines = []
    for line in fo.line_items:
        qty = quantities.get(line.id, 0)
        if qty:
            line.fulfillable_quantity -= qty
            line.quantity -= qty
            lines.append(
                FulfillmentOrderLine(
                    id=order.child_id(),
                    line_item_id=line.line_item_id,
                    quantity=qty,
                    fulfillable_quantity=qty,
                    inventory_item_id=line.inventory_item_id,
                    variant_id=line.variant_id,
                )
            )
    fo.line_items = [li for li in fo.line_items if li.quantity > 0]
    new = FulfillmentOrder(
        id=order.child_id(),
        assigned_location_id=location_id,
        status=status,
        created_at=now,
        updated_at=now,
        line_items=lines,
        fulfill_at=fo.fulfill_at,
        fulfill_by=fo.fulfill_by,
        automatic_request=fo.automatic_request,
    )
    order.fulfillment_orders.append(new)
    return new


def _settle(fo: FulfillmentOrder) -> None:
    """An FO with nothing left to do is closed."""
    if fo.is_active and fo.remaining == 0:
        fo.status = "closed"
        fo.fulfillment_holds = []


# ---- holds ---------------------------------------------------------------------------------
def hold(
    order: Order,
    fo: FulfillmentOrder,
    *,
    reason: str,
    reason_notes: str | None,
    requests: list[LineRequest] | None,
    author: Author,
    now: datetime,
) -> FulfillmentOrder | None:
    """Put (part of) a fulfillment order on hold. Returns the remaining FO of a partial hold."""
    if reason not in HOLD_REASONS:
        raise InvalidInput(f"must be one of {', '.join(HOLD_REASONS)}", field="reason")
    if order.is_cancelled:
        raise RuleViolation("Cannot hold items of a cancelled order")
    if fo.status not in ("open", "in_progress", "scheduled", "on_hold"):
        raise RuleViolation(f"Cannot hold a fulfillment order that is {fo.status}")
    if fo.request_status in WITH_SERVICE:
        raise RuleViolation(f"Cannot hold a fulfillment order whose fulfillment request is {fo.request_status}")
    remaining = None
    if requests:
        wanted = _split_lines(order, fo, requests, "hold")
        rest = {li.id: li.fulfillable_quantity - wanted.get(li.id, 0) for li in fo.line_items}
        rest = {k: v for k, v in rest.items() if v > 0}
        if rest:
            if fo.status == "on_hold":
                raise RuleViolation("This fulfillment order is on hold already; hold it as a whole")
            remaining = _carve(order, fo, rest, location_id=fo.assigned_location_id, status=fo.status, now=now)
    if fo.status != "on_hold":
        fo.status_before_hold = fo.status
        fo.status = "on_hold"
    fo.fulfillment_holds.append(
        Hold(id=order.child_id(), reason=reason, reason_notes=reason_notes, held_at=now, author=author)
    )
    _touch(order, fo, now)
    order.record(
        DomainEvent(
            verb="fulfillment_order_placed_on_hold",
            author=author,
            subject_id=fo.id,
            topics=("fulfillment_orders/placed_on_hold", "orders/updated"),
            message=f"Fulfillment was put on hold ({reason.replace('_', ' ')})"
            + (f": {reason_notes}" if reason_notes else "."),
            arguments={"reason": reason, "reason_notes": reason_notes},
        )
    )
    return remaining


def release_hold(
    order: Order, fo: FulfillmentOrder, *, hold_ids: list[int] | None, author: Author, now: datetime
) -> None:
    if fo.status != "on_hold":
        raise RuleViolation("The fulfillment order is not on hold")
    if hold_ids:
        unknown = set(hold_ids) - {h.id for h in fo.fulfillment_holds}
        if unknown:
            raise InvalidInput(f"hold {sorted(unknown)[0]} is not on this fulfillment order", field="hold_ids")
        fo.fulfillment_holds = [h for h in fo.fulfillment_holds if h.id not in hold_ids]
    else:
        fo.fulfillment_holds = []
    if not fo.fulfillment_holds:
        back = fo.status_before_hold or "open"
        if back == "scheduled" and fo.fulfill_at is not None and fo.fulfill_at <= now:
            back = "open"
        fo.status = back
        fo.status_before_hold = None
    _touch(order, fo, now)
    order.record(
        DomainEvent(
            verb="fulfillment_order_hold_released",
            author=author,
            subject_id=fo.id,
            topics=("fulfillment_orders/hold_released", "orders/updated"),
            message="The hold on fulfillment was released."
            if fo.status != "on_hold"
            else "One hold was released; others remain.",
        )
    )


# ---- schedules -----------------------------------------------------------------------------
def reschedule(order: Order, fo: FulfillmentOrder, *, fulfill_at: datetime, author: Author, now: datetime) -> None:
    if fo.status not in ("open", "scheduled"):
        raise RuleViolation(f"Cannot schedule a fulfillment order that is {fo.status}")
    if fo.line_items and any(li.fulfillable_quantity < li.quantity for li in fo.line_items):
        raise RuleViolation("Cannot schedule a fulfillment order that has started shipping")
    if fulfill_at <= now:
        raise InvalidInput("new_fulfill_at must be in the future", field="new_fulfill_at")
    fo.fulfill_at = fulfill_at
    fo.status = "scheduled"
    _touch(order, fo, now)
    order.record(
        DomainEvent(
            verb="fulfillment_order_rescheduled",
            author=author,
            subject_id=fo.id,
            topics=("fulfillment_orders/rescheduled", "orders/updated"),
            message=f"Fulfillment was scheduled for {fulfill_at:%Y-%m-%d %H:%M %Z}.".replace(" .", "."),
            arguments={"fulfill_at": fulfill_at.isoformat()},
        )
    )


def mark_as_open(
    order: Order, fo: FulfillmentOrder, *, author: Author, now: datetime, because_due: bool = False
) -> None:
    if fo.status != "scheduled":
        raise RuleViolation("Only a scheduled fulfillment order can be opened early")
    fo.status = "open"
    if not because_due:
        fo.fulfill_at = now
    _touch(order, fo, now)
    topics = (
        ("fulfillment_orders/scheduled_fulfillment_order_ready", "orders/updated")
        if because_due
        else ("orders/updated",)
    )
    order.record(
        DomainEvent(
            verb="fulfillment_order_opened",
            author=author,
            subject_id=fo.id,
            topics=topics,
            message="Scheduled fulfillment is due and ready to ship."
            if because_due
            else "Scheduled fulfillment was opened early.",
        )
    )


def open_due_fulfillment_orders(order: Order, now: datetime) -> list[FulfillmentOrder]:
    due = [
        fo
        for fo in order.fulfillment_orders
        if fo.status == "scheduled" and fo.fulfill_at is not None and fo.fulfill_at <= now
    ]
    for fo in due:
        mark_as_open(order, fo, author=Author("system", "Orderdeck"), now=now, because_due=True)
    return due


# ---- moves ---------------------------------------------------------------------------------
def move(
    order: Order,
    fo: FulfillmentOrder,
    *,
    new_location_id: int,
    active_locations: set[int],
    requests: list[LineRequest] | None,
    inventory: Inventory,
    author: Author,
    now: datetime,
) -> tuple[FulfillmentOrder, FulfillmentOrder | None]:
    """Move what is left to ship to another location (ORDER-MODEL.md §3, Move).

    Returns (moved FO, remaining FO or None). Fulfilled units stay where they shipped from.
    """
    if fo.status not in ("open", "scheduled", "in_progress"):
        raise RuleViolation(f"Cannot move a fulfillment order that is {fo.status}")
    if fo.request_status in ("submitted", "accepted", "cancellation_requested", "cancellation_rejected"):
        raise RuleViolation("Cannot move a fulfillment order whose request a fulfillment service holds")
    if new_location_id == fo.assigned_location_id:
        raise RuleViolation("The fulfillment order is already assigned to that location", field="new_location_id")
    if new_location_id not in active_locations:
        raise InvalidInput(f"location {new_location_id} does not exist or is not active", field="new_location_id")
    wanted = _split_lines(order, fo, requests, "move")
    if not wanted:
        raise RuleViolation("Nothing on this fulfillment order is left to move")
    for line in fo.line_items:
        if (
            wanted.get(line.id)
            and line.inventory_item_id is not None
            and not inventory.stocks(line.inventory_item_id, new_location_id)
        ):
            item = order.line_item(line.line_item_id)
            raise RuleViolation(
                f"Location {new_location_id} has never stocked {item.name if item else line.line_item_id}",
                field="new_location_id",
            )
    old_location = fo.assigned_location_id
    for line in fo.line_items:
        qty = wanted.get(line.id, 0)
        if qty and line.inventory_item_id is not None:
            inventory.move_reservation(line.inventory_item_id, old_location, new_location_id, qty)
    # Shopify answers with the original closed and a new, moved fulfillment order (and the
    # remaining one, when only part moved); a scheduled one stays scheduled when all of it moves.
    whole = all(wanted.get(li.id, 0) == li.quantity for li in fo.line_items)
    status = "scheduled" if whole and fo.status == "scheduled" else "open"
    moved = _carve(order, fo, wanted, location_id=new_location_id, status=status, now=now)
    remaining = fo if fo.remaining else None
    _settle(fo)
    _touch(order, fo, now)
    order.record(
        DomainEvent(
            verb="fulfillment_order_moved",
            author=author,
            subject_id=moved.id,
            topics=("fulfillment_orders/moved", "orders/updated"),
            message=f"Fulfillment moved from location {old_location} to location {new_location_id}.",
            arguments={"from": old_location, "to": new_location_id},
        )
    )
    return moved, remaining


def cancel_fulfillment_order(order: Order, fo: FulfillmentOrder, *, author: Author, now: datetime) -> FulfillmentOrder:
    """Shopify's FO cancel: close this one and hand its remaining work to a fresh replacement."""
    if fo.status not in ("open", "in_progress"):
        raise RuleViolation(f"Cannot cancel a fulfillment order that is {fo.status}")
    if fo.request_status in ("accepted", "cancellation_rejected"):
        raise RuleViolation("The fulfillment service accepted this request: send a cancellation request instead")
    rest = {li.id: li.fulfillable_quantity for li in fo.line_items if li.fulfillable_quantity}
    if not rest:
        raise RuleViolation("Nothing is left on this fulfillment order")
    replacement = _carve(order, fo, rest, location_id=fo.assigned_location_id, status="open", now=now)
    if fo.request_status == "submitted":
        # The merchant withdrew the request: automatic requests must not send it straight back.
        replacement.automatic_request = "never"
    # Shopify answers with the original closed (its work handed over) and the replacement open.
    fo.status = "closed"
    _touch(order, fo, now)
    order.record(
        DomainEvent(
            verb="fulfillment_order_cancelled",
            author=author,
            subject_id=fo.id,
            topics=("fulfillment_orders/cancelled",),
            message="A fulfillment order was cancelled and replaced by a new one.",
        )
    )
    return replacement


# ---- fulfillments --------------------------------------------------------------------------
def create_fulfillment(
    order: Order,
    *,
    requests: dict[int, list[LineRequest] | None],
    tracking: TrackingInfo,
    inventory: Inventory,
    author: Author,
    now: datetime,
    origin_address: Address | None = None,
    notify_customer: bool = False,
    message: str | None = None,
    services: dict[int, str] | None = None,
    by_service: bool = False,
) -> Fulfillment:
    """Ship units from one or more fulfillment orders of one location. `services` names the
    fulfillment services by their locations (require_fulfiller); `by_service`: the caller is the
    service of the fulfillment orders' location."""
    if order.is_cancelled:
        raise RuleViolation("Cannot fulfill a cancelled order")
    if not requests:
        raise InvalidInput("name at least one fulfillment order to fulfill", field="line_items_by_fulfillment_order")
    fos = [require_fo(order, fo_id) for fo_id in requests]
    locations = {fo.assigned_location_id for fo in fos}
    if len(locations) > 1:
        raise InvalidInput(
            "all fulfillment orders of one fulfillment must share a location", field="line_items_by_fulfillment_order"
        )
    lines: list[FulfillmentLine] = []
    for fo in fos:
        if fo.status == "on_hold":
            raise RuleViolation(f"Fulfillment order {fo.id} is on hold; release the hold first")
        if fo.status == "scheduled":
            raise RuleViolation(
                f"Fulfillment order {fo.id} is scheduled for {fo.fulfill_at:%Y-%m-%d}; open it first to ship early"
            )
        if fo.status not in ("open", "in_progress"):
            raise RuleViolation(f"The fulfillment order {fo.id} is not in an open state ({fo.status})")
        require_fulfiller(fo, (services or {}).get(fo.assigned_location_id), by_service=by_service)
        wanted = _split_lines(order, fo, requests[fo.id], "fulfill")
        if not wanted:
            raise RuleViolation(f"Fulfillment order {fo.id} has nothing left to fulfill")
        for line in fo.line_items:
            qty = wanted.get(line.id, 0)
            if not qty:
                continue
            line.fulfillable_quantity -= qty
            if line.inventory_item_id is not None:
                inventory.ship(line.inventory_item_id, fo.assigned_location_id, qty)
            lines.append(
                FulfillmentLine(
                    line_item_id=line.line_item_id,
                    fulfillment_order_id=fo.id,
                    fulfillment_order_line_id=line.id,
                    quantity=qty,
                    id=order.child_id(),
                )
            )
        fo.status = "in_progress"
        _settle(fo)
        _touch(order, fo, now)
    sequence = len(order.fulfillments) + 1
    fulfillment = Fulfillment(
        id=order.child_id(),
        name=f"{order.name}.{sequence}",
        location_id=locations.pop(),
        status="success",
        created_at=now,
        updated_at=now,
        line_items=lines,
        tracking_company=tracking.company,
        tracking_numbers=list(tracking.numbers),
        tracking_urls=list(tracking.urls),
        origin_address=origin_address,
    )
    order.fulfillments.append(fulfillment)
    units = sum(line.quantity for line in lines)
    tracking_words = f" with {tracking.company or 'tracking'} {', '.join(tracking.numbers)}" if tracking.numbers else ""
    # Items sent in exchange for a return are told as such (exchange_shipped), not as an order shipping.
    exchanged = {ex.line_item_id for r in order.returns for ex in r.exchange_line_items if ex.line_item_id}
    told = "exchange_shipped" if any(line.line_item_id in exchanged for line in lines) else "shipping_confirmation"
    order.record(
        DomainEvent(
            verb="fulfillment_success",
            author=author,
            subject_id=fulfillment.id,
            topics=("fulfillments/create",),
            message=f"{units} item{'s' if units != 1 else ''} fulfilled from location "
            f"{fulfillment.location_id}{tracking_words}." + (f" {message}" if message else ""),
            arguments={"fulfillment": fulfillment.name, "units": units, "tracking_numbers": list(tracking.numbers)},
            notify=told if notify_customer else None,
        )
    )
    return fulfillment


def cancel_fulfillment(
    order: Order, fulfillment: Fulfillment, *, inventory: Inventory, author: Author, now: datetime
) -> None:
    """Un-fulfill (S8.1): the shipped units become fulfillable again and stock follows."""
    if not fulfillment.is_active:
        raise RuleViolation(f"Fulfillment {fulfillment.name} is already cancelled")
    if order.is_cancelled:
        raise RuleViolation("Cannot un-fulfill items of a cancelled order")
    returned = {rli.line_item_id: 0 for r in order.refunds for rli in r.refund_line_items}
    for r in order.refunds:
        for rli in r.refund_line_items:
            if rli.restock_type == "return":
                returned[rli.line_item_id] += rli.quantity
    for line in fulfillment.line_items:
        shipped_elsewhere = order.fulfilled_quantity(line.line_item_id) - line.quantity
        if returned.get(line.line_item_id, 0) > shipped_elsewhere:
            raise RuleViolation(
                f"Units of fulfillment {fulfillment.name} were returned and refunded; they cannot be un-fulfilled"
            )
    in_return = {rli.fulfillment_line_item_id for r in order.returns if r.is_live for rli in r.return_line_items}
    if any(line.id in in_return for line in fulfillment.line_items if line.id):
        raise RuleViolation(f"Items of fulfillment {fulfillment.name} are in a return; they cannot be un-fulfilled")
    fulfillment.status = "cancelled"
    fulfillment.label_voided = True
    fulfillment.updated_at = now
    reopened: dict[int, dict[int, int]] = {}
    for line in fulfillment.line_items:
        item = order.line_item(line.line_item_id)
        # Only units still to ship become fulfillable again: units refunded without restock
        # counted against the shipped ones (quantity - max(refunded, fulfilled)), and stay off
        # the order (and out of stock) once the shipment is undone.
        back = line.quantity
        if item is not None:
            waiting = order.fulfillable_quantity(item.id) + sum(q.get(item.id, 0) for q in reopened.values())
            back = max(0, min(line.quantity, order.units_to_ship(item) - waiting))
        if back == 0:
            continue
        fo = order.fulfillment_order(line.fulfillment_order_id)
        fo_line = next((li for li in fo.line_items if li.id == line.fulfillment_order_line_id), None) if fo else None
        if fo is not None and fo.is_active and fo_line is not None:
            fo_line.fulfillable_quantity += back
            fo.updated_at = now
        else:
            reopened.setdefault(fulfillment.location_id, {})
            key = line.line_item_id
            reopened[fulfillment.location_id][key] = reopened[fulfillment.location_id].get(key, 0) + back
        if item is not None and item.inventory_item_id is not None:
            inventory.unship(item.inventory_item_id, fulfillment.location_id, back)
    for location_id, quantities in reopened.items():
        # A closed fulfillment order stays closed; the cancelled units get a new one
        # at the location they shipped from, as Shopify does.
        lines = []
        for line_item_id, qty in quantities.items():
            item = order.line_item(line_item_id)
            lines.append(
                FulfillmentOrderLine(
                    id=order.child_id(),
                    line_item_id=line_item_id,
                    quantity=qty,
                    fulfillable_quantity=qty,
                    inventory_item_id=item.inventory_item_id if item else None,
                    variant_id=item.variant_id if item else None,
                )
            )
        order.fulfillment_orders.append(
            FulfillmentOrder(
                id=order.child_id(),
                assigned_location_id=location_id,
                status="open",
                created_at=now,
                updated_at=now,
                fulfill_at=now,
                line_items=lines,
            )
        )
    for fo in order.fulfillment_orders:
        if fo.status == "in_progress" and all(li.fulfillable_quantity == li.quantity for li in fo.line_items):
            fo.status = "open"
    order.updated_at = now
    order.record(
        DomainEvent(
            verb="fulfillment_cancelled",
            author=author,
            subject_id=fulfillment.id,
            topics=("fulfillments/update", "orders/updated"),
            message=f"Fulfillment {fulfillment.name} was cancelled; its items are unfulfilled again.",
        )
    )


def update_tracking(
    order: Order,
    fulfillment: Fulfillment,
    *,
    tracking: TrackingInfo,
    notify_customer: bool,
    author: Author,
    now: datetime,
) -> None:
    if not fulfillment.is_active:
        raise RuleViolation(f"Fulfillment {fulfillment.name} is cancelled")
    fulfillment.tracking_company = tracking.company
    fulfillment.tracking_numbers = list(tracking.numbers)
    fulfillment.tracking_urls = list(tracking.urls)
    fulfillment.updated_at = now
    order.updated_at = now
    order.record(
        DomainEvent(
            verb="tracking_updated",
            author=author,
            subject_id=fulfillment.id,
            topics=("fulfillments/update",),
            message=f"Tracking of {fulfillment.name} changed to {tracking.company or 'carrier'} "
            f"{', '.join(tracking.numbers) or '(none)'}.",
            notify="shipping_update" if notify_customer else None,
        )
    )


def add_fulfillment_event(
    order: Order,
    fulfillment: Fulfillment,
    *,
    status: str,
    happened_at: datetime | None,
    author: Author,
    now: datetime,
    details: dict[str, Any],
    tell_customer_about: Collection[str] = tuple(SHIPMENT_NOTIFICATIONS),
) -> FulfillmentEvent:
    """Record a shipment event; the customer is e-mailed about the parcel's newest status when
    the shop tells customers about that status (its `shipment_updates` setting)."""
    if status not in SHIPMENT_STATUSES:
        raise InvalidInput(f"must be one of {', '.join(SHIPMENT_STATUSES)}", field="status")
    if not fulfillment.is_active:
        raise RuleViolation(f"Fulfillment {fulfillment.name} is cancelled")
    event = FulfillmentEvent(
        id=order.child_id(), status=status, happened_at=happened_at or now, created_at=now, **details
    )
    fulfillment.events.append(event)
    latest = _follow_latest_event(fulfillment)
    fulfillment.updated_at = now
    order.updated_at = now
    order.record(
        DomainEvent(
            verb="shipment_status_changed",
            author=author,
            subject_id=fulfillment.id,
            topics=("fulfillment_events/create", "fulfillments/update"),
            message=f"Shipment {fulfillment.name} is {status.replace('_', ' ')}"
            + (f": {event.message}" if event.message else "."),
            # The event's id: the fulfillment_events/create webhook describes this event, also when
            # one command records several (a carrier's whole journey at once).
            arguments={"status": status, "event_id": event.id},
            notify=SHIPMENT_NOTIFICATIONS.get(status) if latest is event and status in tell_customer_about else None,
        )
    )
    return event


def _follow_latest_event(fulfillment: Fulfillment) -> FulfillmentEvent | None:
    """The shipment status is the latest event's by when it happened, not by when it arrived."""
    latest = max(fulfillment.events, key=lambda e: (e.happened_at, e.id)) if fulfillment.events else None
    fulfillment.shipment_status = latest.status if latest else None
    return latest


def delete_fulfillment_event(
    order: Order, fulfillment: Fulfillment, event_id: int, *, author: Author, now: datetime
) -> None:
    event = next((e for e in fulfillment.events if e.id == event_id), None)
    if event is None:
        raise NotFound(f"Fulfillment event {event_id} not found")
    fulfillment.events.remove(event)
    _follow_latest_event(fulfillment)
    fulfillment.updated_at = now
    order.updated_at = now
    order.record(
        DomainEvent(
            verb="fulfillment_event_deleted",
            author=author,
            subject_id=fulfillment.id,
            topics=("fulfillments/update",),
            message=f"A {event.status.replace('_', ' ')} event of {fulfillment.name} was removed.",
        )
    )
