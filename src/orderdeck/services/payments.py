"""Payment commands: transactions, capture, void, mark as paid, and the expiry sweep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from ..domain import payments
from ..domain.errors import InvalidInput, RuleViolation
from ..domain.money import parse_amount
from ..domain.order import Order, Transaction
from ..domain.statuses import total_outstanding
from .changes import load_order, save_order
from .context import Command


@dataclass(frozen=True)
class NewTransaction:
    kind: str
    amount: object | None = None
    currency: str | None = None
    gateway: str | None = None
    status: str | None = None  # as reported by an outside checkout; None lets the gateway decide
    parent_id: int | None = None
    authorization: str | None = None
    card_number: str | None = None
    test: bool = False
    source: str | None = None


def authorization_period(cmd: Command) -> timedelta:
    return timedelta(days=cmd.uow.shop.settings.authorization_period_days)


def run_payment(cmd: Command, order: Order, new: NewTransaction, *, default_amount: Decimal) -> Transaction:
    """Authorize or sell: through the gateway when Orderdeck processes it, else as reported."""
    payments.check_currency_of_payment(order, new.currency)
    value = (
        default_amount
        if new.amount is None
        else parse_amount(new.amount, order.presentment_currency, field="amount", allow_zero=False)
    )
    gateway_name = (new.gateway or "manual").strip()
    if new.status is not None and new.status not in payments.TRANSACTION_STATUSES:
        raise InvalidInput(f"must be one of {', '.join(payments.TRANSACTION_STATUSES)}", field="status")
    gateway = cmd.app.gateways.processes(gateway_name)
    if gateway is not None and (gateway.online or new.status is None):
        # Orderdeck processes this payment itself: the gateway's answer is the fact.
        act = gateway.authorize if new.kind == "authorization" else gateway.sale
        outcome = act(value, order.presentment_currency, new.card_number)
    else:
        # Reported by the checkout that took the payment (or cash taken at a POS).
        outcome = payments.GatewayOutcome(new.status or "success", authorization=new.authorization)
    return payments.record_transaction(
        order,
        kind=new.kind,
        amount=value,
        gateway=gateway_name,
        outcome=outcome,
        now=cmd.now,
        author=cmd.author,
        test=new.test or order.test,
        authorization_period=authorization_period(cmd),
    )


def capture_on(
    cmd: Command, order: Order, *, parent_id: int | None, amount: object | None, currency: str | None
) -> Transaction:
    authorization, value = payments.check_capture(order, parent_id, amount, currency)
    gateway = cmd.app.gateways.for_follow_up(authorization.gateway)
    outcome = gateway.capture(authorization.authorization, value, order.presentment_currency)
    return payments.record_transaction(
        order,
        kind="capture",
        amount=value,
        gateway=authorization.gateway,
        outcome=outcome,
        now=cmd.now,
        author=cmd.author,
        parent_id=authorization.id,
        test=authorization.test,
    )


def capture_everything(cmd: Command, order: Order) -> list[Transaction]:
    """Capture every open authorization in full (capture at checkout or at fulfillment)."""
    from ..domain.statuses import open_authorizations

    return [capture_on(cmd, order, parent_id=a.id, amount=None, currency=None) for a in open_authorizations(order)]


def void_on(cmd: Command, order: Order, *, parent_id: int | None) -> Transaction:
    authorization = payments.check_void(order, parent_id)
    gateway = cmd.app.gateways.for_follow_up(authorization.gateway)
    outcome = gateway.void(authorization.authorization)
    return payments.record_transaction(
        order,
        kind="void",
        amount=authorization.amount,
        gateway=authorization.gateway,
        outcome=outcome,
        now=cmd.now,
        author=cmd.author,
        parent_id=authorization.id,
        test=authorization.test,
    )


def refund_on(cmd: Command, order: Order, *, parent_id: int | None, amount: Decimal) -> Transaction:
    parent = payments.check_refund_transaction(order, parent_id, amount)
    gateway = cmd.app.gateways.for_follow_up(parent.gateway)
    outcome = gateway.refund(parent.authorization, amount, order.presentment_currency)
    txn = payments.record_transaction(
        order,
        kind="refund",
        amount=amount,
        gateway=parent.gateway,
        outcome=outcome,
        now=cmd.now,
        author=cmd.author,
        parent_id=parent.id,
        test=parent.test,
    )
    if txn.status != "success":
        raise RuleViolation(
            f"The {parent.gateway} gateway refused the refund: {txn.message or txn.error_code or txn.status}",
            field="transactions",
        )
    return txn


def create_transaction(
    cmd: Command, order_id: int, new: NewTransaction, *, currency_required: bool = False
) -> tuple[Transaction, bytes]:
    """POST /orders/{id}/transactions.json: capture, void, authorization, sale (refund goes
    through refunds, which also say what was refunded). With `currency_required` (the REST API),
    an amount on a multi-currency order must name its currency."""
    loaded = load_order(cmd, order_id)
    order = loaded.order
    payments.check_new_transaction_kind(new.kind)
    if currency_required and new.amount is not None and new.kind != "void":
        payments.require_currency_with_amount(order, new.currency)
    if new.kind == "capture":
        txn = capture_on(cmd, order, parent_id=new.parent_id, amount=new.amount, currency=new.currency)
    elif new.kind == "void":
        txn = void_on(cmd, order, parent_id=new.parent_id)
    elif new.kind == "refund":
        value = (
            parse_amount(new.amount, order.presentment_currency, field="amount", allow_zero=False)
            if new.amount is not None
            else None
        )
        if value is None:
            raise InvalidInput("a refund transaction needs an amount", field="amount")
        txn = refund_on(cmd, order, parent_id=new.parent_id, amount=value)
    else:
        payments.require_not_cancelled(order, "take payment on")
        txn = run_payment(cmd, order, new, default_amount=total_outstanding(order))
        if cmd.uow.shop.settings.capture_mode == "checkout" and txn.kind == "authorization" and txn.status == "success":
            capture_on(cmd, order, parent_id=txn.id, amount=None, currency=None)
    order.updated_at = cmd.now
    return txn, save_order(cmd, order, loaded)


def mark_as_paid(cmd: Command, order_id: int, *, amount: object | None = None) -> bytes:
    loaded = load_order(cmd, order_id)
    order = loaded.order
    value = payments.check_mark_as_paid(order, amount)
    payments.record_transaction(
        order,
        kind="sale",
        amount=value,
        gateway="manual",
        outcome=payments.GatewayOutcome("success", message="Marked as paid"),
        now=cmd.now,
        author=cmd.author,
        test=order.test,
    )
    order.updated_at = cmd.now
    return save_order(cmd, order, loaded)


def expire_authorizations(cmd: Command, order_id: int) -> bool:
    loaded = load_order(cmd, order_id)
    if not payments.expire_authorizations(loaded.order, cmd.now):
        return False
    loaded.order.updated_at = cmd.now
    save_order(cmd, loaded.order, loaded)
    return True


EXPIRY_WARNING = timedelta(days=2)


def warn_expiring_authorizations(cmd: Command, order_id: int) -> bool:
    """Tell staff two days ahead that an authorization will expire uncaptured (once each)."""
    loaded = load_order(cmd, order_id)
    if not payments.warn_expiring_authorizations(loaded.order, cmd.now, EXPIRY_WARNING):
        return False
    save_order(cmd, loaded.order, loaded)
    return True
