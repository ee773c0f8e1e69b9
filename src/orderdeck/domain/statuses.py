"""Every status of an order, derived from its facts (DESIGN.md principle 1).

Nothing here is ever set by hand: the store calls `derive_statuses` after every command and
keeps the results in indexed columns so lists can filter on them. The rules follow Shopify's
semantics (product/ORDER-MODEL.md §1 to §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .money import ZERO
from .order import Order, Transaction, sequence_of
from .returns import order_return_status, return_credit, return_fees, return_in_progress


# ---- payments ------------------------------------------------------------------------------
def _succeeded(order: Order, kind: str) -> list[Transaction]:
    return [t for t in order.transactions if t.kind == kind and t.status == "success"]


def captured_from(order: Order, authorization: Transaction) -> Decimal:
    return sum((t.amount for t in _succeeded(order, "capture") if t.parent_id == authorization.id), ZERO)


def is_voided(order: Order, authorization: Transaction) -> bool:
    return any(t.parent_id == authorization.id for t in _succeeded(order, "void"))


def capturable_amount(order: Order, authorization: Transaction) -> Decimal:
    """What can still be captured on one authorization (presentment currency)."""
    if authorization.kind != "authorization" or authorization.status != "success":
        return ZERO
    if authorization.expired_at is not None or is_voided(order, authorization):
        return ZERO
    return max(ZERO, authorization.amount - captured_from(order, authorization))


def open_authorizations(order: Order) -> list[Transaction]:
    return [t for t in order.transactions if capturable_amount(order, t) > 0]


@dataclass(frozen=True)
class PaymentLedger:
    """Money that moved, in the order's presentment currency."""

    authorized_open: Decimal  # still capturable
    captured: Decimal  # captures and sales
    refunded: Decimal

    @property
    def net_paid(self) -> Decimal:
        return self.captured - self.refunded

    @property
    def refundable(self) -> Decimal:
        return max(ZERO, self.captured - self.refunded)


def ledger(order: Order) -> PaymentLedger:
    captured = sum(
        (t.amount for t in order.transactions if t.kind in ("capture", "sale") and t.status == "success"),
        ZERO,
    )
    refunded = sum((t.amount for t in _succeeded(order, "refund")), ZERO)
    authorized = sum((capturable_amount(order, t) for t in order.transactions), ZERO)
    return PaymentLedger(authorized_open=authorized, captured=captured, refunded=refunded)


def amount_due(order: Order) -> Decimal:
    """What the payments on the order should come to (presentment currency): what it is worth
    now (refunded items and shipping off), with the refunds' discrepancies taken into account
    (money refunded beyond the items' value was given, not owed back; money kept short of it
    was kept, not owed either). Units of an approved return not yet refunded are owed back to
    the customer (or go against the exchange items), less the return's fees, which the shop
    keeps (domain/returns.py). A cancelled order keeps its original total."""
    if order.is_cancelled:
        return order.presentment(order.total_price)
    worth = order.current_total_price
    if order.returns:
        worth = worth - return_credit(order) + return_fees(order)
    return order.presentment(worth) - order.refund_discrepancy_presentment


def balance(order: Order) -> Decimal:
    """Who owes whom (presentment currency): positive, the customer owes it (total_outstanding);
    negative, the shop owes it back (a suggested refund). 0 for a cancelled order."""
    if order.is_cancelled:
        return ZERO
    return amount_due(order) - ledger(order).net_paid


def total_outstanding(order: Order) -> Decimal:
    """What the customer still owes (presentment currency); 0 for a cancelled order."""
    if order.is_cancelled:
        return ZERO
    return max(ZERO, amount_due(order) - ledger(order).net_paid)


def financial_status(order: Order) -> str:
    money = ledger(order)
    due = amount_due(order)
    if money.captured > 0:
        if money.refunded >= money.captured:
            return "refunded"
        if money.refunded > 0:
            return "partially_refunded"
        # Paid means nothing is owed: compare with what the order is worth now (a refund of items
        # without money back lowers that), or with its original total once it is cancelled.
        if money.captured >= due:
            return "paid"
        return "partially_paid"
    if money.authorized_open > 0:
        return "authorized"
    authorizations = _succeeded(order, "authorization")
    if authorizations and all(is_voided(order, a) for a in authorizations):
        return "voided"
    if authorizations and any(a.expired_at is not None for a in authorizations):
        return "expired"
    if due <= 0 and not order.transactions:
        return "paid"  # nothing to pay (a free order, or every item refunded): settled
    if order.is_cancelled:
        # Cancelling voids what was still to be paid (ORDER-MODEL.md §1: "uncaptured → Voided"),
        # a pending manual payment (bank transfer, cash on delivery) included.
        return "voided"
    return "pending"


def rest_financial_status(status: str) -> str:
    """REST 2024-10 has no "expired": an expired authorization reads as voided there."""
    return "voided" if status == "expired" else status


# ---- fulfillment ---------------------------------------------------------------------------
def fulfillment_status(order: Order) -> str | None:
    """REST `fulfillment_status`: null, partial, fulfilled or restocked."""
    fulfilled = sum(order.fulfilled_quantity(li.id) for li in order.line_items)
    remaining = sum(order.fulfillable_quantity(li.id) for li in order.line_items)
    if fulfilled == 0:
        # "restocked": a cancelled order whose every removed unit went back into stock
        # (removals that were restocked are recorded as refund lines of type "cancel").
        removed = sum(li.removed_quantity for li in order.line_items)
        restocked = all(order.refunded_quantity(li.id, "cancel") >= li.removed_quantity for li in order.line_items)
        if order.is_cancelled and removed > 0 and remaining == 0 and restocked:
            return "restocked"
        return None
    return "fulfilled" if remaining == 0 else "partial"


def display_fulfillment_status(order: Order) -> str:
    """GraphQL's displayFulfillmentStatus, lower-cased: what staff see on the badge."""
    fulfilled = sum(order.fulfilled_quantity(li.id) for li in order.line_items)
    waiting = [fo for fo in order.fulfillment_orders if fo.is_active and fo.remaining > 0]
    if not waiting:
        return "fulfilled" if fulfilled > 0 else "unfulfilled"
    statuses = {fo.status for fo in waiting}
    if statuses == {"on_hold"}:
        return "on_hold"
    if statuses == {"scheduled"}:
        return "scheduled"
    if any(fo.request_status == "rejected" for fo in waiting):
        return "request_declined"
    if "in_progress" in statuses and fulfilled == 0:
        return "in_progress"
    return "partially_fulfilled" if fulfilled > 0 else "unfulfilled"


def line_fulfillment_status(order: Order, line_item_id: int) -> str | None:
    fulfilled = order.fulfilled_quantity(line_item_id)
    if fulfilled == 0:
        return None
    return "fulfilled" if order.fulfillable_quantity(line_item_id) == 0 else "partial"


def return_status(order: Order) -> str:
    """Order.returnStatus, derived from the order's returns (domain/returns.py)."""
    return order_return_status(order) if order.returns else "no_return"


@dataclass(frozen=True)
class DerivedStatuses:
    financial_status: str
    fulfillment_status: str | None
    display_fulfillment_status: str
    return_status: str

    @property
    def needs_fulfillment(self) -> bool:
        return self.display_fulfillment_status != "fulfilled"


def derive_statuses(order: Order) -> DerivedStatuses:
    return DerivedStatuses(
        financial_status=financial_status(order),
        fulfillment_status=fulfillment_status(order),
        display_fulfillment_status=display_fulfillment_status(order),
        return_status=return_status(order),
    )


def qualifies_for_auto_archive(order: Order) -> bool:
    """The auto-archive rule (S7.4): fulfilled and paid, partially refunded or refunded, or
    every item refunded; never while a return is requested or open (it waits, and archives once
    the return is closed). A partial refund does not stop it."""
    if order.is_closed or unarchived_since_due(order):
        return False
    if return_in_progress(order) is not None:
        return False
    status = financial_status(order)
    everything_refunded = all(order.current_quantity(li) == 0 for li in order.line_items)
    if everything_refunded and status in ("refunded", "voided", "pending", "partially_refunded"):
        return True
    fully_fulfilled = fulfillment_status(order) == "fulfilled"
    settled = status in ("paid", "partially_refunded", "refunded")
    return fully_fulfilled and settled


def unarchived_since_due(order: Order) -> bool:
    """Staff unarchived the order and nothing that could make it due for auto-archiving again
    (a fulfillment, a refund, a payment) happened since: the unarchive sticks."""
    if order.unarchived_seq is None:
        return False
    records = [
        *(r.id for r in order.returns),
        *(f.id for f in order.fulfillments),
        *(r.id for r in order.refunds),
        *(t.id for t in order.transactions),
    ]
    return not any(sequence_of(record) >= order.unarchived_seq for record in records)
