"""Refund commands: calculate (changes nothing) and create."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..domain import payments
from ..domain import refunds as rules
from ..domain.errors import InvalidInput
from ..domain.money import ZERO, parse_amount
from ..domain.order import Order, Refund, Return
from .changes import Loaded, load_order, save_order
from .context import Command
from .payments import refund_on


@dataclass(frozen=True)
class RefundMoney:
    parent_id: int | None
    amount: object
    kind: str = "refund"
    currency: str | None = None


def calculate(
    cmd: Command, order_id: int, request: rules.RefundRequest, currency: str | None
) -> tuple[Order, rules.RefundCalculation, list[tuple[object, Decimal]]]:
    order = cmd.uow.orders.get(order_id, for_update=False)
    payments.check_currency_of_payment(order, currency)
    calc = rules.calculate(order, request, active_locations=set(cmd.uow.catalog.active_location_ids()))
    return order, calc, payments.refundable_parents(order)  # type: ignore[return-value]


def create(
    cmd: Command,
    order_id: int,
    request: rules.RefundRequest,
    *,
    money: list[RefundMoney],
    currency: str | None,
    notify: bool,
    currency_required: bool = False,
) -> tuple[Order, Refund]:
    """Record a refund. With `currency_required` (the REST API), money refunded on a
    multi-currency order must name its currency (the refund's or the transaction's)."""
    loaded = load_order(cmd, order_id)
    refund = record(
        cmd, loaded, request, money=money, currency=currency, notify=notify, currency_required=currency_required
    )
    save_order(cmd, loaded.order, loaded)
    return loaded.order, refund


def record(
    cmd: Command,
    loaded: Loaded,
    request: rules.RefundRequest,
    *,
    money: list[RefundMoney],
    currency: str | None,
    notify: bool,
    currency_required: bool = False,
    for_return: Return | None = None,
) -> Refund:
    """Run a refund's money through the gateways and record it on the loaded order (the caller
    saves the order)."""
    order = loaded.order
    payments.check_currency_of_payment(order, currency)
    calc = rules.calculate(
        order, request, active_locations=set(cmd.uow.catalog.active_location_ids()), for_return=for_return
    )
    amounts = []
    for index, m in enumerate(money):
        if m.kind not in ("refund", "suggested_refund"):
            raise InvalidInput(f"transactions[{index}].kind must be refund", field="transactions")
        amounts.append(parse_amount(m.amount, order.presentment_currency, field="transactions", allow_zero=True))
        payments.check_currency_of_payment(order, m.currency)
        if currency_required and not currency and amounts[-1] > ZERO:
            payments.require_currency_with_amount(order, m.currency)
    rules.check_money(order, amounts)
    transaction_ids = [
        refund_on(cmd, order, parent_id=m.parent_id, amount=value).id
        for m, value in zip(money, amounts, strict=True)
        if value > ZERO
    ]
    items = {p.line.inventory_item_id for p in calc.lines if p.line.inventory_item_id is not None}
    inventory = cmd.uow.inventory.load(items)
    refund = rules.apply_refund(
        order,
        calc,
        request,
        transaction_ids=transaction_ids,
        inventory=inventory,
        author=cmd.author,
        now=cmd.now,
        notify=notify,
        for_return=for_return,
    )
    cmd.uow.inventory.save(inventory, cmd.now)
    return refund
