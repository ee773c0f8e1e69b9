"""Refunds: money back, items taken off the order, stock put back (ORDER-MODEL.md §4).

`calculate` answers what a refund would be without changing anything (Shopify's
refunds/calculate); `apply_refund` records one. Money never exceeds what was captured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .errors import InvalidInput, RuleViolation
from .inventory import Inventory
from .money import ZERO, round_money
from .order import Author, DomainEvent, LineItem, Order, OrderAdjustment, Refund, RefundLineItem, Return
from .returns import fees_of
from .statuses import balance, ledger

RESTOCK_TYPES = ("no_restock", "cancel", "return")
DISCREPANCY_REASONS = ("restock", "damage", "customer", "other")


@dataclass(frozen=True)
class RefundLineRequest:
    line_item_id: int
    quantity: int
    restock_type: str = "no_restock"
    location_id: int | None = None


@dataclass(frozen=True)
class RefundRequest:
    lines: list[RefundLineRequest] = field(default_factory=list)
    shipping_full_refund: bool = False
    shipping_amount: Decimal | None = None
    note: str | None = None
    discrepancy_reason: str | None = None


@dataclass(frozen=True)
class PricedRefundLine:
    request: RefundLineRequest
    line: LineItem
    subtotal: Decimal  # shop currency, after the line's discounts
    total_tax: Decimal


@dataclass(frozen=True)
class RefundCalculation:
    lines: list[PricedRefundLine]
    shipping_amount: Decimal
    shipping_tax: Decimal
    shipping_maximum: Decimal
    # Prices include tax (the order's `taxes_included`): the tax lines say what part of the
    # subtotals is tax, and the refund is the subtotals.
    taxes_included: bool = False

    @property
    def total(self) -> Decimal:
        """Shop currency."""
        if self.taxes_included:
            return sum((p.subtotal for p in self.lines), ZERO) + self.shipping_amount
        return sum((p.subtotal + p.total_tax for p in self.lines), ZERO) + self.shipping_amount + self.shipping_tax


def shipping_refunded(order: Order) -> Decimal:
    return sum((a.amount for r in order.refunds for a in r.order_adjustments if a.kind == "shipping_refund"), ZERO)


def returned_quantity(order: Order, line_item_id: int) -> int:
    return order.refunded_quantity(line_item_id, "return")


def _price_line(order: Order, line: LineItem, quantity: int) -> tuple[Decimal, Decimal]:
    return order.units_worth(line, quantity)


def held_by_returns(order: Order, line_item_id: int) -> int:
    """Units of a line in a live return and not yet refunded through it: they are refunded
    through their return (so the return's money and the order's balance agree)."""
    return sum(
        rli.current_quantity - rli.refunded_quantity
        for r in order.returns
        if r.is_live
        for rli in r.return_line_items
        if rli.line_item_id == line_item_id
    )


def calculate(
    order: Order, request: RefundRequest, *, active_locations: set[int], for_return: Return | None = None
) -> RefundCalculation:
    priced: list[PricedRefundLine] = []
    asked: dict[int, int] = {}
    for req in request.lines:
        line = order.line_item(req.line_item_id)
        if line is None:
            raise InvalidInput(f"line item {req.line_item_id} is not on order {order.name}", field="refund_line_items")
        if req.quantity <= 0:
            raise InvalidInput("quantity must be greater than 0", field="refund_line_items")
        if req.restock_type not in RESTOCK_TYPES:
            raise InvalidInput(f"restock_type must be one of {', '.join(RESTOCK_TYPES)}", field="refund_line_items")
        if req.restock_type in ("cancel", "return"):
            if req.location_id is None:
                raise InvalidInput(
                    f"location_id is required to restock ({req.restock_type})", field="refund_line_items"
                )
            if req.location_id not in active_locations:
                raise InvalidInput(
                    f"location {req.location_id} does not exist or is not active", field="refund_line_items"
                )
        asked[line.id] = asked.get(line.id, 0) + req.quantity
        refundable = (
            line.quantity
            - line.removed_quantity
            - order.refunded_quantity(line.id)
            + order.refunded_quantity(line.id, "cancel")
        )
        if asked[line.id] > refundable:
            raise RuleViolation(
                f"Cannot refund {asked[line.id]} of {line.name}: only {refundable} can still be refunded",
                field="refund_line_items",
            )
        held = held_by_returns(order, line.id) if for_return is None else 0
        if held and asked[line.id] > refundable - held:
            raise RuleViolation(
                f"{held} of {line.name} are in a return; refund them through the return "
                f"(only {max(0, refundable - held)} can be refunded here)",
                field="refund_line_items",
            )
        if req.restock_type == "cancel" and req.quantity > order.fulfillable_quantity(line.id):
            raise RuleViolation(
                f"Cannot cancel {req.quantity} of {line.name}: only "
                f"{order.fulfillable_quantity(line.id)} are unfulfilled",
                field="refund_line_items",
            )
        if req.restock_type == "return":
            can_return = order.fulfilled_quantity(line.id) - returned_quantity(order, line.id)
            if req.quantity > can_return:
                raise RuleViolation(
                    f"Cannot return {req.quantity} of {line.name}: only {can_return} "
                    "were fulfilled and not returned yet",
                    field="refund_line_items",
                )
        subtotal, tax = _price_line(order, line, req.quantity)
        priced.append(PricedRefundLine(req, line, subtotal, tax))

    shipping_paid = order.total_shipping_price
    maximum = max(ZERO, shipping_paid - shipping_refunded(order))
    amount = ZERO
    if request.shipping_amount is not None:
        amount = request.shipping_amount
    elif request.shipping_full_refund:
        amount = maximum
    if amount > maximum:
        raise RuleViolation(f"Cannot refund {amount} of shipping: only {maximum} is left to refund", field="shipping")
    shipping_tax_total = sum((t.price for s in order.shipping_lines for t in s.tax_lines), ZERO)
    shipping_tax = round_money(shipping_tax_total * amount / shipping_paid, order.currency) if shipping_paid else ZERO
    return RefundCalculation(priced, amount, shipping_tax, maximum, taxes_included=order.taxes_included)


def owed_without_items(order: Order, calculation: RefundCalculation) -> Decimal | None:
    """What to suggest for a refund that names no items and no shipping: what the shop already
    owes the customer (an order edit took items off; presentment currency). None when the refund
    names something: then its items and shipping are the suggestion."""
    if calculation.lines or calculation.shipping_amount:
        return None
    return max(ZERO, -balance(order))


def apply_refund(
    order: Order,
    calculation: RefundCalculation,
    request: RefundRequest,
    *,
    transaction_ids: list[int],
    inventory: Inventory,
    author: Author,
    now: datetime,
    notify: bool,
    for_return: Return | None = None,
) -> Refund:
    """Record a refund whose transactions the service has already run through the gateway.

    A refund through a return (`for_return`) is measured against what the shop owes on the
    order (the returned units' worth less the fees, after any exchange items), not against the
    units' worth alone: money the units' worth paid for an exchange is no discrepancy."""
    if request.discrepancy_reason and request.discrepancy_reason not in DISCREPANCY_REASONS:
        raise InvalidInput(f"must be one of {', '.join(DISCREPANCY_REASONS)}", field="discrepancy_reason")
    if not calculation.lines and not calculation.shipping_amount and not transaction_ids:
        raise InvalidInput("a refund needs line items, shipping or a transaction", field="refund")
    refund_lines: list[RefundLineItem] = []
    money = sum((t.amount for t in order.transactions if t.id in transaction_ids and t.status == "success"), ZERO)
    if for_return is None:
        discrepancy = refund_discrepancy(order, worth=calculation.total, money=money)
        if discrepancy > 0 and not order.is_cancelled:
            # Money the shop already owed back (an order edit took items off, or items were
            # refunded without their money) settles that balance: it goes beyond nothing.
            owed_before = max(ZERO, money - balance(order))  # `order` holds this refund's money
            discrepancy = max(ZERO, discrepancy - owed_before)
    else:
        discrepancy = return_refund_discrepancy(order, calculation, money=money, for_return=for_return)
    for priced in calculation.lines:
        req = priced.request
        line = priced.line
        if req.restock_type == "cancel":
            taken = take_off_fulfillment_orders(
                order, line, req.quantity, inventory, restock_at=req.location_id, restock=True
            )
            line.removed_quantity += taken
        elif req.restock_type == "return" and line.inventory_item_id is not None:
            assert req.location_id is not None
            inventory.receive_return(line.inventory_item_id, req.location_id, req.quantity)
        refund_lines.append(
            RefundLineItem(
                id=order.child_id(),
                line_item_id=line.id,
                quantity=req.quantity,
                restock_type=req.restock_type,
                location_id=req.location_id,
                subtotal=priced.subtotal,
                total_tax=priced.total_tax,
            )
        )
    adjustments = []
    if calculation.shipping_amount:
        adjustments.append(
            OrderAdjustment(
                id=order.child_id(),
                kind="shipping_refund",
                amount=calculation.shipping_amount,
                tax_amount=calculation.shipping_tax,
                reason="Shipping refund",
            )
        )
    if discrepancy:
        adjustments.append(discrepancy_adjustment(order, discrepancy, request.discrepancy_reason))
    refund = Refund(
        id=order.child_id(),
        created_at=now,
        refund_line_items=refund_lines,
        transaction_ids=list(transaction_ids),
        order_adjustments=adjustments,
        note=request.note,
        discrepancy_reason=request.discrepancy_reason,
        author=author,
        return_id=for_return.id if for_return is not None else None,
    )
    order.refunds.append(refund)
    # Refunded units that were not restocked and never shipped come off their fulfillment
    # orders too (Shopify: fulfillable = quantity - max(refunded, fulfilled)); their reserved
    # stock is written off (no_restock: not back to available).
    written_off = sum(
        take_off_unshippable(order, line, inventory) for line in {p.line.id: p.line for p in calculation.lines}.values()
    )
    order.updated_at = now
    units = sum(r.quantity for r in refund_lines)
    order.record(
        DomainEvent(
            verb="refund_created",
            author=author,
            subject_id=refund.id,
            topics=("refunds/create", "orders/updated"),
            message=(
                f"Refunded {money} {order.presentment_currency}"
                + (f" for {units} item{'s' if units != 1 else ''}" if units else "")
                + (f": {request.note}" if request.note else ".")
                + (
                    f" {written_off} unfulfilled item{'s' if written_off != 1 else ''} will not be shipped"
                    " (not restocked)."
                    if written_off
                    else ""
                )
            ),
            arguments={"amount": str(money), "units": units, "unfulfilled_written_off": written_off},
            notify="refund" if notify else None,
        )
    )
    restocked = [r for r in refund_lines if r.restock_type in ("cancel", "return")]
    if restocked:
        order.record(
            DomainEvent(
                verb="restock_line_items",
                author=author,
                subject_id=refund.id,
                message=f"Restocked {sum(r.quantity for r in restocked)} item(s).",
                arguments={
                    "lines": [
                        {"line_item_id": r.line_item_id, "quantity": r.quantity, "location_id": r.location_id}
                        for r in restocked
                    ]
                },
            )
        )
    return refund


def refund_discrepancy(order: Order, *, worth: Decimal, money: Decimal) -> Decimal:
    """Money a refund gave beyond (positive) or short of (negative) what its items and shipping
    were worth (presentment currency). `worth` is the refund calculation's total (shop money),
    `money` what the refund's transactions paid back; `order` holds the refund's transactions
    (and none made after it). The worth counts up to what could still be refunded
    (refunds/calculate's suggestion)."""
    suggested = min(order.presentment(worth), ledger(order).refundable + money)
    return money - suggested


def fees_settled_by(order: Order, ret: Return, calculation: RefundCalculation) -> Decimal:
    """The return's fees (shop money) when this refund settles its last units not yet refunded:
    they come off that refund, whichever of an order's returns is refunded first."""
    asked: dict[int, int] = {}
    for p in calculation.lines:
        asked[p.line.id] = asked.get(p.line.id, 0) + p.request.quantity
    left: dict[int, int] = {}
    for rli in ret.return_line_items:
        left[rli.line_item_id] = left.get(rli.line_item_id, 0) + rli.current_quantity - rli.refunded_quantity
    if all(asked.get(line_id, 0) >= units for line_id, units in left.items()):
        return fees_of(order, ret)
    return ZERO


def return_refund_due(
    order: Order, calculation: RefundCalculation, *, paid_back: Decimal = ZERO, for_return: Return | None = None
) -> Decimal:
    """What a refund through a return owes the customer (presentment currency): what the shop
    owes on the order once the refund's shipping is off it, but no more than the refund's own
    units and shipping are worth (the rest is owed with the return's other units, or another
    return's), nor than can still be refunded. Refunding a return's units does not change what
    is due (their worth leaves the order and the return's credit alike). `paid_back`: money of
    this refund `order` already holds as transactions. With `for_return`, the return's fees come
    off the refund that settles its last units (`fees_settled_by`)."""
    shipping = order.presentment(order.with_tax(calculation.shipping_amount, calculation.shipping_tax))
    owed = paid_back - balance(order) + shipping
    refundable = ledger(order).refundable + paid_back
    kept = fees_settled_by(order, for_return, calculation) if for_return is not None else ZERO
    return max(ZERO, min(owed, order.presentment(calculation.total - kept), refundable))


def return_refund_discrepancy(
    order: Order, calculation: RefundCalculation, *, money: Decimal, for_return: Return | None = None
) -> Decimal:
    """Money a refund through a return gave beyond (positive) or short of (negative) what it
    owed (`return_refund_due`, presentment currency). `order` holds the refund's transactions
    and not yet its lines or shipping."""
    return money - return_refund_due(order, calculation, paid_back=money, for_return=for_return)


def discrepancy_adjustment(order: Order, discrepancy: Decimal, reason: str | None) -> OrderAdjustment:
    """The refund_discrepancy order adjustment recording `discrepancy` (presentment currency),
    so that nobody owes anybody the difference."""
    return OrderAdjustment(
        id=order.child_id(),
        kind="refund_discrepancy",
        amount=order.shop_amount(discrepancy),
        tax_amount=ZERO,
        reason=reason or "Refund discrepancy",
        presentment_amount=discrepancy,
    )


def take_off_unshippable(order: Order, line: LineItem, inventory: Inventory, *, to_ship: int | None = None) -> int:
    """Take the units of `line` that its fulfillment orders hold beyond what is still to ship
    (`Order.units_to_ship`, or `to_ship` when the caller knows fewer are) off them, writing their
    reserved stock off. Returns the units."""
    excess = order.fulfillable_quantity(line.id) - (order.units_to_ship(line) if to_ship is None else to_ship)
    if excess <= 0:
        return 0
    return take_off_fulfillment_orders(order, line, excess, inventory, restock_at=None, restock=False)


def take_off_fulfillment_orders(
    order: Order, line: LineItem, quantity: int, inventory: Inventory, *, restock_at: int | None, restock: bool
) -> int:
    """Remove unfulfilled units from the fulfillment orders holding them, releasing their stock:
    back to available (at `restock_at`, or where it was reserved) or written off. Returns the
    units removed."""
    left = quantity
    for fo in order.fulfillment_orders:
        if not fo.is_active or left == 0:
            continue
        fo_line = fo.line_for(line.id)
        if fo_line is None or fo_line.fulfillable_quantity == 0:
            continue
        take = min(left, fo_line.fulfillable_quantity)
        fo_line.fulfillable_quantity -= take
        fo_line.quantity -= take
        left -= take
        if line.inventory_item_id is not None:
            if not restock or restock_at is None or restock_at == fo.assigned_location_id:
                inventory.release(line.inventory_item_id, fo.assigned_location_id, take, restock=restock)
            else:
                inventory.restock_elsewhere(line.inventory_item_id, fo.assigned_location_id, restock_at, take)
        fo.line_items = [li for li in fo.line_items if li.quantity > 0]
        if not fo.line_items or fo.remaining == 0:
            fo.status = "closed"
            fo.fulfillment_holds = []
    return quantity - left


def check_money(order: Order, amounts: list[Decimal]) -> None:
    total = sum(amounts, ZERO)
    if total > ledger(order).refundable:
        raise RuleViolation(
            f"Cannot refund {total} {order.presentment_currency}: only "
            f"{ledger(order).refundable} {order.presentment_currency} was paid and not yet refunded",
            field="transactions",
        )
