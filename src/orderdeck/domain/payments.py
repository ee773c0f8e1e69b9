"""Payment rules: what may be authorized, captured, voided, refunded or marked as paid.

The gateway itself (a card processor, or "manual" for bank transfers and cash on delivery)
sits outside the domain; the service asks it to act and this module records the outcome as a
`Transaction`. Amounts are in the order's presentment currency, as Shopify's are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .errors import InvalidInput, NotFound, RuleViolation
from .money import ZERO, parse_amount
from .order import Author, DomainEvent, Order, Transaction
from .statuses import capturable_amount, ledger, open_authorizations, total_outstanding

MANUAL_GATEWAYS = frozenset(
    {
        "manual",
        "cash",
        "cash_on_delivery",
        "cash on delivery (cod)",
        "bank_deposit",
        "bank deposit",
        "bank_transfer",
        "money order",
        "money_order",
        "invoice",
        "external",
    }
)
GIFT_CARD_GATEWAYS = frozenset({"gift_card", "gift card"})
TRANSACTION_KINDS = ("authorization", "capture", "sale", "void", "refund")
TRANSACTION_STATUSES = ("pending", "success", "failure", "error")
MAX_TRANSACTIONS = 100


def is_manual_gateway(gateway: str) -> bool:
    return gateway.strip().lower() in MANUAL_GATEWAYS


@dataclass(frozen=True)
class GatewayOutcome:
    """What a gateway answered; the fields of the transaction it becomes."""

    status: str
    authorization: str | None = None
    error_code: str | None = None
    message: str | None = None
    credit_card_number: str | None = None
    credit_card_company: str | None = None
    receipt: dict[str, Any] = field(default_factory=dict)


def check_currency_of_payment(order: Order, currency: str | None) -> None:
    if currency and currency.upper() != order.presentment_currency:
        raise InvalidInput(
            f"amounts are taken in the order's presentment currency {order.presentment_currency}, "
            f"not {currency.upper()}",
            field="currency",
        )


def require_currency_with_amount(order: Order, currency: str | None, *, field: str = "currency") -> None:
    """Shopify's rule for amounts sent over the API: on an order whose customer paid in another
    currency than the shop's, an amount must come with `currency` (the presentment currency),
    so that 10.00 is never taken in the wrong currency."""
    check_currency_of_payment(order, currency)
    if not currency and order.presentment_currency != order.currency:
        raise InvalidInput(
            f"is required with an amount on this order: the customer pays in {order.presentment_currency} "
            f'and the shop keeps {order.currency}; send "currency": "{order.presentment_currency}" '
            f"with the amount in {order.presentment_currency}",
            field=field,
        )


def record_transaction(
    order: Order,
    *,
    kind: str,
    amount: Decimal,
    gateway: str,
    outcome: GatewayOutcome,
    now: datetime,
    author: Author,
    parent_id: int | None = None,
    test: bool = False,
    authorization_period: timedelta | None = None,
    source_name: str | None = None,
) -> Transaction:
    if len(order.transactions) >= MAX_TRANSACTIONS:
        raise RuleViolation("An order can have at most 100 transactions", field="transactions")
    expires = None
    if kind == "authorization" and outcome.status == "success" and authorization_period:
        expires = now + authorization_period
    txn = Transaction(
        id=order.child_id(),
        kind=kind,
        status=outcome.status,
        amount=amount,
        currency=order.presentment_currency,
        gateway=gateway,
        created_at=now,
        processed_at=now,
        parent_id=parent_id,
        authorization=outcome.authorization,
        error_code=outcome.error_code,
        message=outcome.message,
        test=test,
        source_name=source_name or order.source_name,
        manual_payment_gateway=is_manual_gateway(gateway),
        credit_card_number=outcome.credit_card_number,
        credit_card_company=outcome.credit_card_company,
        receipt=dict(outcome.receipt),
        authorization_expires_at=expires,
        author=author,
    )
    order.transactions.append(txn)
    detail = f" ({outcome.message})" if outcome.message and outcome.status != "success" else ""
    card = f" on {txn.credit_card_company or 'card'} {txn.credit_card_number}" if txn.credit_card_number else ""
    order.record(
        DomainEvent(
            verb=f"{kind}_{outcome.status}",
            author=author,
            subject_id=txn.id,
            topics=("order_transactions/create",) if outcome.status != "pending" else (),
            message=(
                f"A {order.presentment_currency} {amount} {kind} through {gateway}{card} "
                f"{_outcome_words(outcome.status)}{detail}."
            ),
            arguments={
                "kind": kind,
                "status": outcome.status,
                "amount": str(amount),
                "gateway": gateway,
                "error_code": outcome.error_code,
                "authorization": outcome.authorization,
            },
        )
    )
    return txn


def _outcome_words(status: str) -> str:
    return {"success": "succeeded", "failure": "failed", "error": "ran into an error", "pending": "is pending"}[status]


def require_not_cancelled(order: Order, action: str) -> None:
    if order.is_cancelled:
        raise RuleViolation(f"Cannot {action} a cancelled order")


def find_authorization(order: Order, parent_id: int | None) -> Transaction:
    """The authorization a capture or void refers to; without parent_id, the only open one."""
    if parent_id is not None:
        parent = order.transaction(parent_id)
        if parent is None:
            raise NotFound(f"Transaction {parent_id} does not belong to order {order.name}", field="parent_id")
        if parent.kind != "authorization":
            raise InvalidInput("parent_id must point at an authorization", field="parent_id")
        if parent.status != "success":
            raise RuleViolation(
                f"Authorization {parent_id} did not succeed (status {parent.status})", field="parent_id"
            )
        return parent
    candidates = open_authorizations(order)
    if not candidates:
        raise RuleViolation("The order has no authorization left to capture or void", field="parent_id")
    if len(candidates) > 1:
        raise InvalidInput("the order has several open authorizations; name one with parent_id", field="parent_id")
    return candidates[0]


def check_capture(
    order: Order, parent_id: int | None, amount: object | None, currency: str | None
) -> tuple[Transaction, Decimal]:
    """Validate a capture; returns the authorization and the amount to take."""
    require_not_cancelled(order, "capture payment on")
    check_currency_of_payment(order, currency)
    authorization = find_authorization(order, parent_id)
    if authorization.expired_at is not None:
        raise RuleViolation(
            f"Authorization {authorization.id} expired on {authorization.expired_at:%Y-%m-%d}; "
            "ask the customer to pay again",
            field="parent_id",
        )
    if is_voided_auth(order, authorization):
        raise RuleViolation(f"Authorization {authorization.id} was voided", field="parent_id")
    remaining = capturable_amount(order, authorization)
    if amount is None:
        value = remaining
    else:
        value = parse_amount(amount, order.presentment_currency, field="amount", allow_zero=False)
    if remaining <= 0:
        raise RuleViolation(f"Authorization {authorization.id} has been captured in full", field="amount")
    if value > remaining:
        raise RuleViolation(
            f"Cannot capture {value} {order.presentment_currency}: only {remaining} "
            f"{order.presentment_currency} is still authorized",
            field="amount",
        )
    return authorization, value


def is_voided_auth(order: Order, authorization: Transaction) -> bool:
    return any(
        t.kind == "void" and t.status == "success" and t.parent_id == authorization.id for t in order.transactions
    )


def check_void(order: Order, parent_id: int | None) -> Transaction:
    authorization = find_authorization(order, parent_id)
    if capturable_amount(order, authorization) <= 0:
        raise RuleViolation(
            f"Authorization {authorization.id} has nothing left to void (captured, voided or expired)",
            field="parent_id",
        )
    return authorization


def refundable_parents(order: Order) -> list[tuple[Transaction, Decimal]]:
    """Captures and sales with money left to refund, oldest first."""
    result = []
    for t in order.transactions:
        if t.kind in ("capture", "sale") and t.status == "success":
            refunded = sum(
                (
                    r.amount
                    for r in order.transactions
                    if r.kind == "refund" and r.status == "success" and r.parent_id == t.id
                ),
                ZERO,
            )
            if t.amount - refunded > 0:
                result.append((t, t.amount - refunded))
    return result


def check_refund_transaction(order: Order, parent_id: int | None, amount: Decimal) -> Transaction:
    parents = refundable_parents(order)
    if parent_id is None:
        if not parents:
            raise RuleViolation("Nothing has been paid on this order, so nothing can be refunded", field="transactions")
        parent, left = parents[0]
    else:
        found = order.transaction(parent_id)
        if found is None:
            raise NotFound(f"Transaction {parent_id} does not belong to order {order.name}", field="parent_id")
        if found.kind not in ("capture", "sale") or found.status != "success":
            raise InvalidInput("a refund's parent_id must be a successful capture or sale", field="parent_id")
        match = [left for t, left in parents if t.id == parent_id]
        left = match[0] if match else ZERO
        parent = found
    if amount > left:
        raise RuleViolation(
            f"Cannot refund {amount} {order.presentment_currency} from transaction {parent.id}: "
            f"only {left} {order.presentment_currency} of it is left to refund",
            field="transactions",
        )
    if amount > ledger(order).refundable:
        raise RuleViolation("Cannot refund more than was paid", field="transactions")
    return parent


def check_mark_as_paid(order: Order, amount: object | None) -> Decimal:
    require_not_cancelled(order, "mark as paid")
    if open_authorizations(order):
        raise RuleViolation("The order has an open authorization: capture it instead of marking the order as paid")
    outstanding = total_outstanding(order)
    if outstanding <= 0:
        raise RuleViolation("The order is already paid in full")
    if amount is not None:
        value = parse_amount(amount, order.presentment_currency, field="amount", allow_zero=False)
        if value != outstanding:
            raise RuleViolation(
                f"Mark as paid takes exactly the outstanding {outstanding} {order.presentment_currency}, not {value}",
                field="amount",
            )
    return outstanding


def expire_authorizations(order: Order, now: datetime) -> list[Transaction]:
    """Record that the deadline of every open authorization past it has gone by."""
    expired = []
    for authorization in open_authorizations(order):
        deadline = authorization.authorization_expires_at
        if deadline is not None and deadline <= now:
            authorization.expired_at = now
            expired.append(authorization)
            order.record(
                DomainEvent(
                    verb="authorization_expired",
                    author=Author("system", "Orderdeck"),
                    subject_id=authorization.id,
                    message=(
                        f"The {authorization.amount} {authorization.currency} authorization expired "
                        "uncaptured; the payment has to be collected again."
                    ),
                )
            )
    return expired


def warn_expiring_authorizations(order: Order, now: datetime, within: timedelta) -> list[Transaction]:
    """Warn staff, once per authorization, that it expires uncaptured within `within`."""
    warned = []
    for authorization in open_authorizations(order):
        deadline = authorization.authorization_expires_at
        if deadline is None or authorization.expiry_warned_at is not None or not now < deadline <= now + within:
            continue
        authorization.expiry_warned_at = now
        warned.append(authorization)
        order.record(
            DomainEvent(
                verb="authorization_expiring",
                author=Author("system", "Orderdeck"),
                subject_id=authorization.id,
                alert_staff=True,
                message=(
                    f"The {authorization.amount} {authorization.currency} authorization expires "
                    f"{deadline:%Y-%m-%d %H:%M} UTC; capture it before then or the payment has to be collected again."
                ),
            )
        )
    return warned


def check_new_transaction_kind(kind: str) -> None:
    if kind not in TRANSACTION_KINDS:
        raise InvalidInput(f"must be one of {', '.join(TRANSACTION_KINDS)}", field="kind")
