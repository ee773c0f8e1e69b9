"""Putting right orders an older version left wrong, by today's rules (run on upgrade).

Before the order-model fixes of issue 12, units refunded without restock that had not shipped
stayed on their fulfillment orders (the order stayed partially fulfilled for ever, was never
auto-archived and kept their stock committed), and a refund whose money differed from what its
items were worth recorded no `refund_discrepancy` (a goodwill refund left the customer owing it).
`repair_old_order` applies the same rules the commands apply now (`refunds.take_off_unshippable`,
`refunds.refund_discrepancy`), so the rule is written once; an order already right is left as it
is, so running it again changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import msgspec

from .inventory import Inventory, InventoryLevel
from .money import ZERO
from .order import SYSTEM, DomainEvent, LineItem, Order, Refund, sequence_of
from .refunds import discrepancy_adjustment, refund_discrepancy, take_off_unshippable


@dataclass(frozen=True)
class StockMove:
    """A change to one stock level (units; negative takes away)."""

    inventory_item_id: int
    location_id: int
    committed: int
    on_hand: int
    available: int = 0


@dataclass(frozen=True)
class OrderRepair:
    order: Order  # corrected, with a `repaired` event recorded for its timeline
    stock_moves: list[StockMove]
    units_taken_off: int  # unfulfilled units refunded without restock, taken off fulfillment orders
    discrepancies_recorded: int  # refund_discrepancy adjustments added to past refunds
    message: str


def refund_worth(order: Order, refund: Refund) -> Decimal:
    """What a recorded refund's items and shipping were worth (shop money): its calculation's total."""
    lines = sum((order.with_tax(rli.subtotal, rli.total_tax) for rli in refund.refund_line_items), ZERO)
    shipping = sum(
        (order.with_tax(a.amount, a.tax_amount) for a in refund.order_adjustments if a.kind == "shipping_refund"),
        ZERO,
    )
    return lines + shipping


def _as_of(order: Order, refund: Refund) -> Order:
    """The order's payments as they stood when `refund` was recorded: its own refund transactions
    (made just before it) included, later ones left out."""
    seq = sequence_of(refund.id)
    return msgspec.structs.replace(
        order,
        transactions=[t for t in order.transactions if sequence_of(t.id) < seq],
        events=[],
    )


def _recorded_discrepancy(refund: Refund) -> Decimal | None:
    found = [a for a in refund.order_adjustments if a.kind == "refund_discrepancy"]
    if not found:
        return None
    return sum((a.presentment_amount if a.presentment_amount is not None else a.amount for a in found), ZERO)


def _missing_discrepancies(order: Order) -> dict[int, Decimal]:
    """The refund_discrepancy (presentment currency) today's refund command would have recorded
    on each past refund lacking one, by refund id; and, on orders whose prices include tax, the
    right one for each past refund that recorded another (before issue 13 a unit's tax was
    counted twice in its worth there, so a refund of exactly a unit's price was recorded as
    short by its tax). Refunds through a return are measured by their return's rules and left.
    A cancelled order's refunds are left (cancelling records none, and a cancelled order owes
    nothing whatever its refunds)."""
    if order.is_cancelled:
        return {}
    missing: dict[int, Decimal] = {}
    for refund in order.refunds:
        recorded = _recorded_discrepancy(refund)
        if refund.return_id is not None or (recorded is not None and not order.taxes_included):
            continue
        then = _as_of(order, refund)
        money = sum(
            (t.amount for t in then.transactions if t.id in refund.transaction_ids and t.status == "success"),
            ZERO,
        )
        discrepancy = refund_discrepancy(then, worth=refund_worth(order, refund), money=money)
        if discrepancy != (recorded or ZERO):
            missing[refund.id] = discrepancy
    return missing


def _units_to_ship(order: Order, line: LineItem) -> int:
    """What today's commands would have left to ship of `line`. Each refund took off the units
    it refunded beyond those shipped by then (`Order.units_to_ship` at that moment), and those
    never shipped afterwards; so the units refunded before they shipped are the most the kept
    refunds ever exceeded the shipped units, and only the rest of the line is still to ship."""
    before_shipping = 0
    for refund in order.refunds:
        if not any(rli.line_item_id == line.id for rli in refund.refund_line_items):
            continue
        seq = sequence_of(refund.id)
        then = msgspec.structs.replace(
            order,
            refunds=[r for r in order.refunds if sequence_of(r.id) <= seq],
            fulfillments=[f for f in order.fulfillments if sequence_of(f.id) < seq],
            events=[],
        )
        kept = then.refunded_quantity(line.id) - then.refunded_quantity(line.id, "cancel")
        before_shipping = max(before_shipping, kept - then.fulfilled_quantity(line.id))
    unshipped = line.quantity - line.removed_quantity - order.fulfilled_quantity(line.id) - before_shipping
    return max(0, min(order.units_to_ship(line), unshipped))


def _take_off_unshippable_units(order: Order) -> tuple[int, list[StockMove]]:
    """Take off the fulfillment orders the units they hold beyond what is still to ship; the
    stock moves say what that does to the levels (reserved stock written off)."""
    scratch = Inventory(items={}, levels={})
    for fo in order.fulfillment_orders:
        if not fo.is_active:
            continue
        for fol in fo.line_items:
            line = order.line_item(fol.line_item_id)
            if line is not None and line.inventory_item_id is not None:
                key = (line.inventory_item_id, fo.assigned_location_id)
                scratch.levels.setdefault(key, InventoryLevel(key[0], key[1], 0, 0, 0))
    units = sum(
        take_off_unshippable(order, line, scratch, to_ship=_units_to_ship(order, line)) for line in order.line_items
    )
    moves = [
        StockMove(lvl.inventory_item_id, lvl.location_id, lvl.committed, lvl.on_hand, lvl.available)
        for key in sorted(scratch.changed)
        for lvl in [scratch.levels[key]]
        if lvl.committed or lvl.on_hand or lvl.available
    ]
    return units, moves


def repair_old_order(order: Order, *, now: datetime) -> OrderRepair | None:
    """The order put right by today's rules, with the stock moves that go with it; None when it
    is right already. Works on a copy: `order` itself is left as it was."""
    missing = _missing_discrepancies(order)
    if not missing and all(order.fulfillable_quantity(li.id) <= _units_to_ship(order, li) for li in order.line_items):
        return None  # right already (most orders): not even copied
    fixed = copy.deepcopy(order)
    units, moves = _take_off_unshippable_units(fixed)
    for refund in fixed.refunds:
        if refund.id in missing:
            # Replaces a discrepancy recorded by the old worth (prices with tax in them).
            refund.order_adjustments = [a for a in refund.order_adjustments if a.kind != "refund_discrepancy"]
            if missing[refund.id]:
                adjustment = discrepancy_adjustment(fixed, missing[refund.id], refund.discrepancy_reason)
                refund.order_adjustments.append(adjustment)
    discrepancies = len(missing)
    if not units and not discrepancies:
        return None
    parts = []
    if units:
        parts.append(
            f"{units} refunded unfulfilled unit{'s' if units != 1 else ''} taken off the fulfillment orders "
            "(not restocked, so their reserved stock was written off)"
        )
    if discrepancies:
        parts.append(
            f"{discrepancies} refund discrepanc{'ies' if discrepancies != 1 else 'y'} recorded "
            "(money refunded beyond or short of the refunded items, which nobody owes)"
        )
    message = "Put right on upgrade: " + "; ".join(parts) + "."
    fixed.updated_at = now
    fixed.record(
        DomainEvent(
            verb="repaired",
            author=SYSTEM,
            message=message,
            arguments={"units_taken_off": units, "refund_discrepancies": discrepancies},
        )
    )
    return OrderRepair(fixed, moves, units, discrepancies, message)
