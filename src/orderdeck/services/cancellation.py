"""Cancelling an order: void, refund, restock, record — in one transaction (S9.1)."""

from __future__ import annotations

from decimal import Decimal

from ..domain import cancellation as rules
from ..domain import payments
from ..domain.errors import RuleViolation
from ..domain.money import ZERO, parse_amount
from ..domain.statuses import ledger, open_authorizations
from .changes import load_order, save_order
from .context import Command
from .payments import refund_on, void_on


def cancel_order(
    cmd: Command,
    order_id: int,
    request: rules.CancelRequest,
    *,
    amount: object | None = None,
    currency: str | None = None,
    currency_required: bool = False,
) -> bytes:
    """Cancel the order. With `currency_required` (the REST API), an `amount` on a
    multi-currency order must name its currency."""
    loaded = load_order(cmd, order_id)
    order = loaded.order
    if currency_required and amount is not None:
        payments.require_currency_with_amount(order, currency)
    active = set(cmd.uow.catalog.active_location_ids())
    rules.check_can_cancel(order, request, active_locations=active)
    refundable = ledger(order).refundable
    to_refund = ZERO
    if amount is not None:
        payments.check_currency_of_payment(order, currency)
        to_refund = parse_amount(amount, order.presentment_currency, field="amount")
        if to_refund > refundable:
            raise RuleViolation(
                f"Cannot refund {to_refund} {order.presentment_currency}: only "
                f"{refundable} {order.presentment_currency} was paid",
                field="amount",
            )
    elif request.refund:
        to_refund = refundable
    if request.restock and refundable > 0 and not active and any(li.inventory_item_id for li in order.line_items):
        raise RuleViolation("Cannot restock a paid order: none of its locations is active")
    for authorization in open_authorizations(order):
        void_on(cmd, order, parent_id=authorization.id)
    refund_ids = []
    left: Decimal = to_refund
    for parent, available in payments.refundable_parents(order):
        if left <= 0:
            break
        take = min(left, available)
        refund_ids.append(refund_on(cmd, order, parent_id=parent.id, amount=take).id)
        left -= take
    items = {li.inventory_item_id for li in order.line_items if li.inventory_item_id is not None}
    inventory = cmd.uow.inventory.load(items)
    rules.cancel(order, request, refund_transaction_ids=refund_ids, inventory=inventory, author=cmd.author, now=cmd.now)
    cmd.uow.inventory.save(inventory, cmd.now)
    return save_order(cmd, order, loaded)
