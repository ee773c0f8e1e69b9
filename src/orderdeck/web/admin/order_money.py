"""An order's money and its end of life, on the order page: the payment summary in the shop's
and the customer's currency, the transactions, and the actions on them (capture, void, refund,
mark as paid), then cancel, archive, unarchive and delete (S3.3, S3.4, S9).

`panels()` is what the order page (order.py) shows of all this: every action the domain allows
right now, and for each one it does not allow, the domain's own reason. The forms post to the
routes below, which run the same service commands as the REST API, authored by the staff
member. Refunding and cancelling have pages of their own too (/refund, /cancel), so they work
without JavaScript and a refused form comes back with what was typed and the reason beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...domain import lifecycle
from ...domain import payments as payment_rules
from ...domain.cancellation import CancelRequest, RestockChoice, check_can_cancel
from ...domain.errors import InvalidInput, OrderError
from ...domain.money import ZERO, parse_amount
from ...domain.order import Order, Transaction
from ...domain.refunds import RefundCalculation, RefundLineRequest, RefundRequest, shipping_refunded
from ...domain.refunds import calculate as calculate_refund
from ...domain.statuses import capturable_amount, derive_statuses, ledger, open_authorizations, total_outstanding
from ...services import cancellation, orders, payments, refunds
from ...services.context import Command
from ...store.uow import UnitOfWork
from .access import Admin, NotPermitted, posted_form, refusal, require
from .pages import CANCEL_REASON_WORDS, render
from .pages import money as money_text

router = APIRouter()
Payer = Annotated[Admin, Depends(require("refund"))]
Manager = Annotated[Admin, Depends(require("manage_orders"))]
Deleter = Annotated[Admin, Depends(require("delete_orders"))]


KIND_WORDS = {
    "authorization": "Authorization",
    "capture": "Capture",
    "sale": "Sale",
    "void": "Void",
    "refund": "Refund",
}


def _page(order_id: int) -> str:
    return f"/admin/orders/{order_id}"


def _capture_suggestion(order: Order, authorization: Transaction) -> Decimal:
    remaining = capturable_amount(order, authorization)
    owed = total_outstanding(order)
    return min(remaining, owed) if owed > 0 else remaining


def _why(check: Callable[[], object]) -> str | None:
    """The domain's reason for refusing, or None when it allows it."""
    try:
        check()
    except OrderError as exc:
        return _reason(exc)
    return None


# Fields a person filled in on these forms; a refusal about anything else (the API's names such
# as parent_id or transactions) is said without the field.
FORM_FIELDS = ("amount", "shipping", "reason", "location_id")


def _reason(exc: OrderError) -> str:
    if exc.field in FORM_FIELDS:
        return refusal(exc)
    return exc.message[:1].upper() + exc.message[1:]


def _both(order: Order, shop: Decimal) -> dict[str, Decimal]:
    return {"shop": shop, "presentment": order.presentment(shop)}


def _both_from_presentment(order: Order, presentment: Decimal) -> dict[str, Decimal]:
    return {"shop": order.shop_amount(presentment), "presentment": presentment}


# ---- what the order page shows -------------------------------------------------------------
def panels(admin: Admin, uow: UnitOfWork, order: Order) -> dict[str, Any]:
    """The payment summary and every money and lifecycle action for the order page, each either
    allowed (with what its form needs) or with the domain's reason why not."""
    active = set(uow.catalog.active_location_ids())
    money = ledger(order)
    statuses = derive_statuses(order)
    had_authorization = any(t.kind == "authorization" and t.status == "success" for t in order.transactions)
    cancel_refusal = _why(lambda: check_can_cancel(order, CancelRequest(), active_locations=active))
    return {
        "order_id": order.id,
        "name": order.name,
        "currency": order.currency,
        "presentment_currency": order.presentment_currency,
        "dual": order.currency != order.presentment_currency,
        "exchange_rate": order.exchange_rate,
        "timezone": uow.shop.timezone,
        "financial_status": statuses.financial_status,
        "summary": _summary(order),
        "transactions": _transactions(order),
        "may": {
            "refund": admin.may("refund"),
            "manage": admin.may("manage_orders"),
            "delete": admin.may("delete_orders"),
        },
        "capture": {
            # Only orders paid by authorization have anything to capture or void.
            "relevant": had_authorization,
            "authorizations": [
                {
                    "id": a.id,
                    "gateway": a.gateway,
                    "remaining": _both_from_presentment(order, capturable_amount(order, a)),
                    # Prefilled with what the order still needs (an edit or a refund may have
                    # lowered it below what was authorized), never more than can be captured.
                    "suggested": _both_from_presentment(order, _capture_suggestion(order, a)),
                    "expires_at": a.authorization_expires_at,
                    "refusal": _why(partial(payment_rules.check_capture, order, a.id, None, None)),
                    "void_refusal": _why(partial(payment_rules.check_void, order, a.id)),
                }
                for a in open_authorizations(order)
            ],
            "refusal": None
            if open_authorizations(order)
            else _why(lambda: payment_rules.check_capture(order, None, None, None)),
        },
        "mark_paid": {
            "relevant": not order.is_cancelled and statuses.financial_status not in ("paid", "refunded"),
            "refusal": _why(lambda: payment_rules.check_mark_as_paid(order, None)),
            "outstanding": _both_from_presentment(order, total_outstanding(order)),
        },
        "refund": {
            "refusal": _refund_refusal(order),
            "refundable": _both_from_presentment(order, money.refundable),
        },
        "cancel": _cancel_panel(order, cancel_refusal),
        "archive": {"allowed": not order.is_closed},
        "unarchive": {"allowed": order.is_closed},
        "delete": {"refusal": lifecycle.deletion_refusal(order)},
    }


def _refund_refusal(order: Order) -> str | None:
    money = ledger(order)
    if money.captured > 0 and money.refundable <= 0:
        return "Everything paid on this order has been refunded"  # the domain's "nothing paid" misleads here
    return _why(lambda: payment_rules.check_refund_transaction(order, None, ZERO))


def _summary(order: Order) -> list[dict[str, Any]]:
    """The order's money from its lines to what is still owed, in both currencies."""
    money = ledger(order)
    shipping_gross = sum((s.price for s in order.shipping_lines), ZERO)
    rows: list[dict[str, Any]] = [
        {"label": "Subtotal", **_both(order, order.total_line_items_price)},
    ]
    if order.total_discounts:
        rows.append({"label": "Discounts", **_both(order, -order.total_discounts)})
    if order.shipping_lines:
        rows.append({"label": "Shipping", **_both(order, shipping_gross)})
    rows.append({"label": "Tax (included)" if order.taxes_included else "Tax", **_both(order, order.total_tax)})
    rows.append({"label": "Total", "strong": True, **_both(order, order.total_price)})
    if order.current_total_price != order.total_price:
        words = "Total after cancelling" if order.is_cancelled else "Total after refunds"
        rows.append({"label": words, **_both(order, order.current_total_price)})
    if money.authorized_open:
        rows.append({"label": "Authorized, not captured", **_both_from_presentment(order, money.authorized_open)})
    rows.append({"label": "Paid", **_both_from_presentment(order, money.captured)})
    if money.refunded:
        rows.append({"label": "Refunded", **_both_from_presentment(order, -money.refunded)})
        rows.append({"label": "Net paid", **_both_from_presentment(order, money.net_paid)})
    rows.append({"label": "Outstanding", "strong": True, **_both_from_presentment(order, total_outstanding(order))})
    return rows


def _transactions(order: Order) -> list[dict[str, Any]]:
    return [
        {
            "id": t.id,
            "kind": KIND_WORDS.get(t.kind, t.kind),
            "status": t.status,
            "gateway": t.gateway,
            "card": " ".join(p for p in (t.credit_card_company, t.credit_card_number) if p),
            "amount": _both_from_presentment(order, t.amount),
            "at": t.processed_at,
            "expires_at": t.authorization_expires_at
            if t.kind == "authorization" and t.status == "success" and t.expired_at is None
            else None,
            "expired_at": t.expired_at,
            "open": capturable_amount(order, t) > 0,
            "message": t.message if t.status != "success" or t.kind == "sale" else None,
            "error_code": t.error_code,
            "author": t.author.name if t.author else None,
            "test": t.test,
        }
        for t in order.transactions
    ]


def _cancel_panel(order: Order, refusal_text: str | None) -> dict[str, Any]:
    money = ledger(order)
    return {
        "refusal": refusal_text,
        "reasons": list(CANCEL_REASON_WORDS.items()),
        "refundable": _both_from_presentment(order, money.refundable),
        "authorized_open": _both_from_presentment(order, money.authorized_open),
        "lines": [
            {
                "id": line.id,
                "name": line.name,
                "sku": line.sku,
                "unfulfilled": order.fulfillable_quantity(line.id),
                "tracked": line.inventory_item_id is not None,
            }
            for line in order.line_items
            if order.fulfillable_quantity(line.id) > 0
        ],
    }


# ---- reading forms -------------------------------------------------------------------------
def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _ticked(form: FormData, name: str) -> bool:
    return _text(form, name) not in ("", "0", "off", "false")


# ---- payments ------------------------------------------------------------------------------
def _payment(admin: Admin, order_id: int, work: Callable[[Command], Transaction], success: str) -> Response:
    """Run a capture or void. A provider that says no still leaves its failed transaction on the
    order (that is a fact worth keeping), so the attempt is committed and reported as an error."""
    try:
        with admin.command() as cmd:
            txn = work(cmd)
    except OrderError as exc:
        return admin.done(_page(order_id), _reason(exc), kind="error")
    if txn.status != "success":
        why = txn.message or txn.error_code or txn.status
        return admin.done(
            _page(order_id), f"The {txn.gateway} payment provider did not accept it: {why}.", kind="error"
        )
    return admin.done(_page(order_id), success.format(amount=money_text(txn.amount, txn.currency)))


@router.post("/orders/{order_id}/capture", summary="Capture an authorized payment")
async def capture(request: Request, order_id: int, admin: Payer) -> Response:
    form = await posted_form(request)

    def work(cmd: Command) -> Transaction:
        new = payments.NewTransaction(
            kind="capture",
            amount=_text(form, "amount") or None,
            parent_id=_authorization(form),
        )
        return payments.create_transaction(cmd, order_id, new)[0]

    return await run_in_threadpool(_payment, admin, order_id, work, "Captured {amount}.")


@router.post("/orders/{order_id}/void", summary="Void an authorization")
async def void(request: Request, order_id: int, admin: Payer) -> Response:
    form = await posted_form(request)

    def work(cmd: Command) -> Transaction:
        new = payments.NewTransaction(kind="void", parent_id=_authorization(form))
        return payments.create_transaction(cmd, order_id, new)[0]

    return await run_in_threadpool(
        _payment, admin, order_id, work, "The authorization of {amount} was voided; the customer is not charged."
    )


@router.post("/orders/{order_id}/mark-paid", summary="Mark a pending order as paid")
def mark_paid(order_id: int, admin: Payer) -> Response:
    return admin.act(
        lambda cmd: payments.mark_as_paid(cmd, order_id),
        back=_page(order_id),
        success="Marked as paid: the outstanding amount was recorded as received.",
    )


# ---- refund --------------------------------------------------------------------------------
@dataclass
class RefundInput:
    """What the refund form holds, kept as typed so a refused form comes back unchanged."""

    quantities: dict[int, str] = field(default_factory=dict)
    restock: dict[int, bool] = field(default_factory=dict)
    shipping: str = ""
    amount: str = ""
    location_id: str = ""
    note: str = ""
    notify: bool = True
    fresh: bool = True  # the first showing: every restock box ticked

    @classmethod
    def of(cls, order: Order, form: FormData) -> RefundInput:
        return cls(
            quantities={li.id: _text(form, f"qty_{li.id}") for li in order.line_items},
            restock={li.id: _ticked(form, f"restock_{li.id}") for li in order.line_items},
            shipping=_text(form, "shipping"),
            amount=_text(form, "amount"),
            location_id=_text(form, "location_id"),
            note=_text(form, "note"),
            notify=_ticked(form, "notify"),
            fresh=False,
        )


def _restock_location(order: Order, line_id: int, kind: str, active: set[int]) -> int | None:
    """Where a line's units go back to by default: the location that holds the unfulfilled ones,
    or the one the fulfilled ones shipped from."""
    if kind == "cancel":
        found = [
            fo.assigned_location_id
            for fo in order.fulfillment_orders
            if fo.is_active and (fol := fo.line_for(line_id)) is not None and fol.fulfillable_quantity > 0
        ]
    else:
        found = [
            f.location_id
            for f in order.fulfillments
            if f.is_active and any(fl.line_item_id == line_id for fl in f.line_items)
        ]
    usable = [loc for loc in found if loc in active]
    return usable[0] if usable else (min(active) if active else None)


def _refund_request(order: Order, values: RefundInput, active: set[int]) -> RefundRequest:
    chosen = _form_id_text(values.location_id, "location_id")
    lines: list[RefundLineRequest] = []
    for line in order.line_items:
        quantity = _quantity_text(
            values.quantities.get(line.id, ""), f"qty_{line.id}", most=order.current_quantity(line), label=line.name
        )
        if not quantity:
            continue
        if not values.restock.get(line.id):
            lines.append(RefundLineRequest(line.id, quantity, "no_restock"))
            continue
        # Unfulfilled units come off the order and back into stock ("cancel"); shipped ones
        # come back as returned ("return").
        unshipped = min(quantity, order.fulfillable_quantity(line.id))
        for kind, count in (("cancel", unshipped), ("return", quantity - unshipped)):
            if count:
                where = chosen or _restock_location(order, line.id, kind, active)
                lines.append(RefundLineRequest(line.id, count, kind, where))
    shipping = parse_amount(values.shipping, order.currency, field="shipping") if values.shipping else None
    return RefundRequest(lines=lines, shipping_amount=shipping or None, note=values.note or None)


def _authorization(form: FormData) -> int | None:
    return _form_id_text(_text(form, "authorization_id"), "authorization_id")


def _form_id_text(raw: str, name: str) -> int | None:
    if not raw:
        return None
    if not raw.isdecimal() or len(raw) > 18:
        raise InvalidInput(f"{raw[:40]!r} is not a valid choice", field=name)
    return int(raw)


def _quantity_text(raw: str, name: str, *, most: int, label: str) -> int:
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a whole number of items for {label}", field=name) from None
    if value < 0 or value > most:
        raise InvalidInput(f"enter between 0 and {most} for {label}", field=name)
    return value


def _suggested(order: Order, calc: RefundCalculation) -> Decimal:
    """Money back for what is refunded, never more than was paid and not refunded yet."""
    return min(order.presentment(calc.total), ledger(order).refundable)


def _money_back(order: Order, amount: Decimal) -> list[refunds.RefundMoney]:
    """Split an amount over the payments it can come from, oldest first (as cancelling does)."""
    parts = []
    left = amount
    for parent, available in payment_rules.refundable_parents(order):
        if left <= 0:
            break
        take = min(left, available)
        parts.append(refunds.RefundMoney(parent.id, take))
        left -= take
    if left > 0:
        parts.append(refunds.RefundMoney(None, left))  # more than was paid: the domain says why
    return parts


def _refund_page(
    admin: Admin, order_id: int, values: RefundInput, *, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        order = uow.orders.get(order_id, for_update=False)
        locations = [loc for loc in uow.catalog.locations() if loc.active]
        active = {loc.id for loc in locations}
        errors = dict(errors or {})
        calc = None
        if not values.fresh and not errors:
            try:
                request = _refund_request(order, values, active)
                if request.lines or request.shipping_amount:
                    calc = refunds.calculate(Command(admin.app, uow, admin.author), order_id, request, None)[1]
            except OrderError as exc:
                errors[_field_of(exc)] = _reason(exc)
        refused = _refund_refusal(order)
        money = ledger(order)
        shipping_left = max(ZERO, order.total_shipping_price - shipping_refunded(order))
        lines = [
            {
                "id": line.id,
                "name": line.name,
                "sku": line.sku,
                "price": _both(
                    order,
                    # a line an order edit removed has no units left to share its money over
                    (line.price * line.quantity - line.total_discount) / line.quantity if line.quantity else line.price,
                ),
                "refundable": order.current_quantity(line),
                "unfulfilled": order.fulfillable_quantity(line.id),
                "tracked": line.inventory_item_id is not None,
                "quantity": values.quantities.get(line.id, ""),
                "restock": values.fresh or values.restock.get(line.id, False),
                "removed": line.quantity == 0,  # taken off by an order edit, not refunded
            }
            for line in order.line_items
        ]
        timezone = uow.shop.timezone
    return render(
        admin,
        "order_refund.html",
        status=status,
        order=order,
        refused=refused,
        lines=lines,
        values=values,
        errors=errors,
        locations=locations,
        shipping_left=_both(order, shipping_left),
        refundable=_both_from_presentment(order, money.refundable),
        calc=None
        if calc is None
        else {
            "worth_of_items": _both(order, sum((p.subtotal for p in calc.lines), ZERO)),
            "tax": _both(order, sum((p.total_tax for p in calc.lines), ZERO) + calc.shipping_tax),
            "shipping": _both(order, calc.shipping_amount),
            "total": _both(order, calc.total),
            "suggested": _both_from_presentment(order, _suggested(order, calc)),
        },
        dual=order.currency != order.presentment_currency,
        timezone=timezone,
    )


def _field_of(exc: OrderError) -> str:
    # Where the message goes on the form: next to the field it is about, else at the top.
    return {"transactions": "amount", "refund": "base", "refund_line_items": "lines"}.get(exc.field, exc.field)


@router.get("/orders/{order_id}/refund", summary="Refund items, shipping and money")
def refund_form(order_id: int, admin: Payer) -> Response:
    return _refund_page(admin, order_id, RefundInput())


@router.post("/orders/{order_id}/refund", summary="Refund (or work out the suggested amount)")
async def refund(request: Request, order_id: int, admin: Payer) -> Response:
    form = await posted_form(request)
    return await run_in_threadpool(_refund, admin, order_id, form)


def _refund(admin: Admin, order_id: int, form: FormData) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        values = RefundInput.of(uow.orders.get(order_id, for_update=False), form)
    if _text(form, "step") == "calculate":
        return _refund_page(admin, order_id, values)
    said: list[str] = []
    try:
        with admin.command() as cmd:
            order = cmd.uow.orders.get(order_id)  # locked first: the amount is split on what it holds now
            active = set(cmd.uow.catalog.active_location_ids())
            request = _refund_request(order, values, active)
            amount = (
                parse_amount(values.amount, order.presentment_currency, field="amount")
                if values.amount
                else _suggested(order, calculate_refund(order, request, active_locations=active))
            )
            changed, made = refunds.create(
                cmd,
                order_id,
                request,
                money=_money_back(order, amount) if amount > 0 else [],
                currency=None,
                notify=values.notify,
            )
            units = sum(r.quantity for r in made.refund_line_items)
            said.append(
                f"Refunded {money_text(amount, changed.presentment_currency)}"
                + (f" for {units} item{'s' if units != 1 else ''}" if units else "")
                + "."
            )
    except OrderError as exc:
        if exc.code == "not_found" and exc.field == "base":
            raise
        return _refund_page(admin, order_id, values, errors={_field_of(exc): _reason(exc)}, status=422)
    return admin.done(_page(order_id), said[0])


# ---- cancel --------------------------------------------------------------------------------
@dataclass
class CancelInput:
    reason: str = "customer"
    refund: bool = True
    amount: str = ""
    restock: dict[int, str] = field(default_factory=dict)  # absent: every unfulfilled unit
    notify: bool = True
    staff_note: str = ""

    @classmethod
    def of(cls, form: FormData) -> CancelInput:
        return cls(
            reason=_text(form, "reason") or "other",
            refund=_ticked(form, "refund"),
            amount=_text(form, "amount"),
            restock={
                int(key.removeprefix("restock_")): str(value).strip()
                for key, value in form.multi_items()
                if key.startswith("restock_") and key.removeprefix("restock_").isdecimal() and len(key) < 27
            },
            notify=_ticked(form, "notify"),
            staff_note=_text(form, "staff_note"),
        )


def _cancel_page(
    admin: Admin, order_id: int, values: CancelInput, *, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        order = uow.orders.get(order_id, for_update=False)
        money = panels(admin, uow, order)
    return render(
        admin, "order_cancel.html", status=status, order=order, money=money, values=values, errors=errors or {}
    )


@router.get("/orders/{order_id}/cancel", summary="Cancel an order (the form)")
def cancel_form(order_id: int, admin: Manager) -> Response:
    return _cancel_page(admin, order_id, CancelInput())


@router.post("/orders/{order_id}/cancel", summary="Cancel an order")
async def cancel(request: Request, order_id: int, admin: Manager) -> Response:
    form = await posted_form(request)
    return await run_in_threadpool(_cancel, admin, order_id, CancelInput.of(form))


def _cancel(admin: Admin, order_id: int, values: CancelInput) -> Response:
    said: list[str] = []
    try:
        with admin.command() as cmd:
            order = cmd.uow.orders.get(order_id)
            paid = ledger(order).refundable
            if values.refund and paid > 0 and not admin.may("refund"):
                raise NotPermitted("refund")
            choices = []
            for line in order.line_items:
                unfulfilled = order.fulfillable_quantity(line.id)
                if unfulfilled == 0:
                    continue
                raw = values.restock.get(line.id)
                quantity = (
                    unfulfilled
                    if raw is None
                    else _quantity_text(raw, f"restock_{line.id}", most=unfulfilled, label=line.name)
                )
                choices.append(RestockChoice(line.id, quantity))
            amount = (
                parse_amount(values.amount, order.presentment_currency, field="amount")
                if values.refund and values.amount
                else None
            )
            request = CancelRequest(
                reason=values.reason,
                refund=values.refund,
                restock=any(c.quantity for c in choices),
                restock_choices=choices,
                notify_customer=values.notify,
                staff_note=values.staff_note or None,
            )
            cancellation.cancel_order(cmd, order_id, request, amount=amount)
            after = cmd.uow.orders.get(order_id, for_update=False)
            refunded = ledger(after).refunded - ledger(order).refunded
            restocked = sum(c.quantity or 0 for c in choices)
            said.append(
                f"Order {order.name} was cancelled"
                + (f"; {money_text(refunded, order.presentment_currency)} refunded" if refunded else "")
                + (f"; {restocked} item{'s' if restocked != 1 else ''} back in stock" if restocked else "")
                + ("; the customer was notified" if values.notify else "")
                + "."
            )
    except OrderError as exc:
        if exc.code == "not_found" and exc.field == "base":
            raise
        field_name = "lines" if exc.field == "refund_line_items" else exc.field
        return _cancel_page(admin, order_id, values, errors={field_name: _reason(exc)}, status=422)
    return admin.done(_page(order_id), said[0])


# ---- archive, unarchive, delete ------------------------------------------------------------
@router.post("/orders/{order_id}/archive", summary="Archive an order")
def archive(order_id: int, admin: Manager) -> Response:
    return admin.act(
        lambda cmd: orders.close_order(cmd, order_id),
        back=_page(order_id),
        success="Archived: the order stays in reports but leaves the open orders.",
    )


@router.post("/orders/{order_id}/unarchive", summary="Unarchive an order")
def unarchive(order_id: int, admin: Manager) -> Response:
    return admin.act(
        lambda cmd: orders.reopen_order(cmd, order_id),
        back=_page(order_id),
        success="Unarchived: the order is open again.",
    )


@router.post("/orders/{order_id}/delete", summary="Delete an order for good")
def delete(order_id: int, admin: Deleter) -> Response:
    names: list[str] = []
    try:
        with admin.command() as cmd:
            names.append(cmd.uow.orders.get(order_id).name)
            orders.delete_order(cmd, order_id)
    except OrderError as exc:
        if exc.code == "not_found":
            raise
        return admin.done(_page(order_id), _reason(exc), kind="error")
    return admin.done("/admin/orders", f"Order {names[0]} was deleted for good; it is gone from lists and reports.")
