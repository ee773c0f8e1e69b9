"""Editing an order after the sale, the staff side (issue 14, AFTER-THE-SALE §3).

"Edit order" on the order page begins an edit (or resumes the one still open) and opens its page
at /admin/orders/{id}/edits/{edit_id}: the order as the edit would leave it (the domain's
CalculatedOrder), with a form for each change (a line's quantity, a discount, an item from the
catalogue or a custom one, shipping), the new totals, and what is then left to collect or to
refund. Each change is staged by the same service command the API runs; nothing happens to the
order until Commit. A change the domain refuses comes back on the page with its reason and the
edit as it was.

The commit moves no money. Afterwards the same page says what the edit did and offers the one
next step for the money: capture from an open authorization, mark as paid or send a payment
request when something is to collect, the refund form with the suggestion filled in when money
is owed back. Those forms post to the payment routes of the order page (order_money), so their
permissions ("take and refund payments") and wording stay in one place.

Permissions: editing needs "manage orders", as every change to an order's goods does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.datastructures import FormData

from ...domain import order_edits as rules
from ...domain.errors import InvalidInput, NotFound, OrderError
from ...domain.money import ZERO, parse_amount
from ...domain.order import Order
from ...domain.statuses import balance, capturable_amount, ledger, open_authorizations
from ...resources.render import amount as amount_text
from ...services import order_edits as commands
from ...services.context import Command
from ...store.uow import UnitOfWork
from .access import CSRF_FIELD, Admin, Form, refusal, require
from .new_order import _catalogue, variant_label
from .order import _location_names, _plain
from .order_money import RefundInput, _refund_page
from .pages import money as money_text
from .pages import render

router = APIRouter()
Manager = Annotated[Admin, Depends(require("manage_orders"))]
Payer = Annotated[Admin, Depends(require("refund"))]

VALUE_TYPES = (("fixed_amount", "Amount off each unit"), ("percentage", "Percentage"))


def _page_url(order_id: int, edit_id: int) -> str:
    return f"/admin/orders/{order_id}/edits/{edit_id}"


# ---- on the order page ------------------------------------------------------------------------
def entry(admin: Admin, uow: UnitOfWork, order: Order) -> dict[str, Any]:
    """What the order page shows of editing: why the order can't be edited (or None), the edit
    still open, and the lines edits removed (kept on the order with quantity 0 for their history)."""
    open_edit = commands.open_edit_of(Command(admin.app, uow, admin.author), order.id)
    return {
        "refusal": rules.refusal(order),
        "open_edit": open_edit.id if open_edit else None,
        "removed": [
            {"name": line.name, "ordered": line.ordered_quantity}
            for line in order.line_items
            if line.quantity == 0 and line.original_quantity
        ],
    }


# ---- the page -----------------------------------------------------------------------------------
@dataclass
class Problem:
    """A refused change: which form it came from, what was typed there, and the reason."""

    form: str
    message: str
    typed: dict[str, str]
    field: str = ""  # the box it is about, when it is one


def _typed(form: FormData) -> dict[str, str]:
    return {k: v.strip() for k, v in form.multi_items() if isinstance(v, str) and k != CSRF_FIELD}


def _edit_of(uow: UnitOfWork, order_id: int, edit_id: int) -> rules.OrderEdit:
    try:
        edit = uow.order_edits.get(edit_id, for_update=False)
    except NotFound:
        edit = None
    if edit is None or edit.order_id != order_id:
        raise NotFound(f"There is no edit {edit_id} of this order; begin one from the order page.")
    return edit


def _order_of(uow: UnitOfWork, order_id: int) -> Order:
    try:
        return uow.orders.get(order_id, for_update=False)
    except NotFound:
        raise NotFound(f"There is no order with id {order_id}; it may have been deleted.") from None


# Fields the refusals name that are not boxes on these forms (ids the page sends, the edit or
# the order as a whole): said without the field; a variant is the "Product" box.
NOT_A_BOX = frozenset(
    {
        "base",
        "order_id",
        "order_edit",
        "line_item_id",
        "line_items",
        "location_id",
        "shipping_line_id",
        "discount_application_id",
    }
)


# The box a refusal's field is, where the names differ (stock refusals are about the quantity).
BOXES = {"variant_id": "product", "line_items": "quantity"}


def _said(exc: OrderError, order: Order | None, uow: UnitOfWork) -> str:
    if exc.field in NOT_A_BOX:
        words = exc.message[:1].upper() + exc.message[1:]
    elif exc.field == "variant_id":
        words = f"Product: {exc.message}"
    else:
        words = refusal(exc)
    return _plain(words, order, _location_names(uow))


def _show(
    admin: Admin, order_id: int, edit_id: int, *, find: str = "", problem: Problem | None = None, status: int = 200
) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        order = _order_of(uow, order_id)
        edit = _edit_of(uow, order_id, edit_id)
        cmd = Command(admin.app, uow, admin.author)
        now = uow.now
        values: dict[str, Any] = {"order": order, "edit": edit, "problem": problem, "tz": uow.shop.timezone}
        if edit.status == "committed":
            return render(admin, "order_edit_done.html", status=status, **values, **_next_step(admin, order, edit))
        if edit.status != "open" or edit.is_expired(now):
            return render(
                admin, "order_edit_done.html", status=status, **values, closed=True, why=_why_closed(edit, now)
            )
        values["refusal"] = rules.refusal(order)
        values["stale"] = order.version != edit.base_version
        values["find"] = find
        catalogue = _catalogue(uow, find, set())
        values["variants"] = [(str(i), variant_label(v, order.currency)) for i, v in catalogue.items()]
        values["value_types"] = VALUE_TYPES
        try:
            calc = commands.preview(cmd, edit, order)
        except OrderError as exc:
            # A staged change can't be made any more (the stock went meanwhile): say so, and let
            # staff take the added items out again or discard the edit.
            values["broken"] = _said(exc, order, uow)
            values["staged"] = [_staged_words(order, c) for c in edit.changes]
            values["added"] = [{"id": item.id, "name": item.title} for item in edit.added_items()]
            return render(admin, "order_edit.html", status=status, **values)
    return render(admin, "order_edit.html", status=status, **values, **_calculated(order, edit, calc))


def _why_closed(edit: rules.OrderEdit, now: Any) -> str:
    if edit.status == "abandoned":
        return "This edit was discarded; nothing of it was applied to the order."
    if edit.is_expired(now):
        return (
            "This edit expired before it was committed (it was left open longer than the shop allows); "
            "nothing of it was applied."
        )
    return f"This edit was {edit.status}."


def _staged_words(order: Order, change: rules.StagedChange) -> str:
    if isinstance(change, rules.AddVariant | rules.AddCustomItem):
        return f"Add {change.quantity} × {change.title}"
    if isinstance(change, rules.SetQuantity):
        line = order.line_item(change.line_item_id)
        return f"{line.name if line else 'An added item'} to {change.quantity}"
    if isinstance(change, rules.LineDiscount):
        return "A discount on a line"
    if isinstance(change, rules.AddShippingLine):
        return f"Add shipping {change.title}"
    if isinstance(change, rules.UpdateShippingLine):
        return f"Change shipping to {change.title}"
    return "Remove a shipping line"


def _calculated(order: Order, edit: rules.OrderEdit, calc: rules.CalculatedOrder) -> dict[str, Any]:
    """The edit's page: each line as it would be, the items and shipping it adds, the totals and
    the money left to collect or to refund (the customer's currency, as they pay)."""
    original, edited = calc.original, calc.edited
    pc = edited.presentment_currency
    held = rules.exchange_line_ids(original)
    added_ids = calc.outcome.added_line_ids if calc.outcome else {}

    def shown(value: Decimal) -> Decimal:
        return edited.presentment(value)

    def discount_of(line_id: int) -> dict[str, Any] | None:
        staged = _staged_discount(edit, line_id)
        if staged is None:
            return None
        value = shown(staged.value) if staged.value_type == "fixed_amount" else staged.value
        words = f"{value.normalize():f} %" if staged.value_type == "percentage" else f"{money_text(value, pc)} off each"
        return {
            "id": staged.id,
            "words": words,
            "value": f"{value.normalize():f}" if staged.value_type == "percentage" else amount_text(value, pc),
            "value_type": staged.value_type,
            "description": staged.description or "",
        }

    lines = []
    for before in original.line_items:
        after = edited.line_item(before.id)
        assert after is not None
        now_quantity = original.current_quantity(before)
        if now_quantity == 0:
            continue  # removed or refunded before this edit: shown on the order page
        new_quantity = edited.current_quantity(after)
        change = edit.quantity_change(before.id)
        to_ship = rules.editable_quantity(original, before)
        lines.append(
            {
                "id": before.id,
                "name": before.name,
                "sku": before.sku,
                "price": shown(before.price),
                "was": now_quantity,
                "quantity": new_quantity,
                "least": now_quantity - to_ship,
                "total": shown(after.price * after.quantity - after.total_discount),
                "restockable": before.inventory_item_id is not None and to_ship > 0,
                "restock": change.restock if change else True,
                "held": before.id in held,
                "discount": discount_of(before.id),
            }
        )
    added = []
    for item in edit.added_items():
        after = edited.line_item(added_ids.get(item.id, -1))
        added.append(
            {
                "id": item.id,
                "name": f"{item.title} - {item.variant_title}"
                if isinstance(item, rules.AddVariant) and item.variant_title
                else item.title,
                "sku": item.sku if isinstance(item, rules.AddVariant) else None,
                "custom": isinstance(item, rules.AddCustomItem),
                "price": shown(item.price),
                "quantity": item.quantity,
                "total": shown(after.price * after.quantity - after.total_discount) if after else ZERO,
                "discount": discount_of(item.id),
            }
        )
    return {
        "calc": calc,
        "lines": lines,
        "added": added,
        "shipping": _shipping(original, edited, edit),
        "totals": _totals(original, edited),
        "pc": pc,
    }


def _shipping(original: Order, edited: Order, edit: rules.OrderEdit) -> list[dict[str, Any]]:
    rows = []
    for s in original.shipping_lines:
        updated = next(
            (c for c in edit.changes if isinstance(c, rules.UpdateShippingLine) and c.shipping_line_id == s.id), None
        )
        removed = updated is None and not any(e.id == s.id for e in edited.shipping_lines)
        rows.append(
            {
                "id": s.id,
                "title": updated.title if updated else s.title,
                "price": original.presentment(updated.price if updated else s.price),
                "was": f"{s.title} {money_text(original.presentment(s.price), original.presentment_currency)}"
                if updated
                else None,
                "removed": removed,
                "added": False,
            }
        )
    for c in edit.changes:
        if isinstance(c, rules.AddShippingLine):
            rows.append(
                {
                    "id": c.id,
                    "title": c.title,
                    "price": original.presentment(c.price),
                    "was": None,
                    "removed": False,
                    "added": True,
                }
            )
    return rows


def _totals(original: Order, edited: Order) -> dict[str, Any]:
    owed = balance(edited)
    paid = ledger(edited)
    return {
        "subtotal": edited.presentment(edited.subtotal_price),
        "shipping": edited.presentment(edited.total_shipping_price),
        "tax": edited.presentment(edited.total_tax),
        "tax_label": "Tax (included)" if edited.taxes_included else "Tax",
        "total": edited.presentment(edited.total_price),
        "was": original.presentment(original.total_price),
        "paid": paid.net_paid,
        "authorized": paid.authorized_open,
        "to_collect": max(ZERO, owed),
        "to_refund": max(ZERO, -owed),
    }


# ---- after the commit: the one next step for the money --------------------------------------------
def _next_step(admin: Admin, order: Order, edit: rules.OrderEdit) -> dict[str, Any]:
    """What the committed edit did, and what is left to do about money on the order as it is now."""
    outcome = edit.outcome or rules.EditOutcome()
    pc = order.presentment_currency
    owed = balance(order)  # 0 on a cancelled order
    step: dict[str, Any] = {"kind": "none", "amount": abs(owed), "pc": pc}
    if owed > 0:
        covering = [a for a in open_authorizations(order) if capturable_amount(order, a) >= owed]
        if covering:
            step.update(kind="capture", authorization=covering[0], amount_text=amount_text(owed, pc))
        elif open_authorizations(order):
            first = open_authorizations(order)[0]
            step.update(
                kind="capture_part",
                authorization=first,
                part=capturable_amount(order, first),
                amount_text=amount_text(capturable_amount(order, first), pc),
            )
        else:
            step.update(kind="collect")
    elif owed < 0:
        refundable = ledger(order).refundable
        step.update(kind="refund" if refundable > 0 else "owed_back", suggested=min(-owed, refundable))
    return {
        "closed": False,
        "outcome": outcome,
        "described": rules.describe(order, outcome),
        "step": step,
        "may": {"refund": admin.may("refund"), "manage": admin.may("manage_orders")},
    }


# ---- beginning, and the page itself -------------------------------------------------------------
@router.post("/orders/{order_id}/edits", summary="Edit the order: begin an edit, or resume the open one")
def begin(order_id: int, admin: Manager) -> Response:
    try:
        with admin.command() as cmd:
            edit = commands.open_edit_of(cmd, order_id, abandon_stale=True)
            if edit is None:
                edit, _ = commands.begin(cmd, order_id)
    except NotFound:
        raise NotFound(f"There is no order with id {order_id}; it may have been deleted.") from None
    except OrderError as exc:
        with admin.app.unit_of_work(read_only=True) as uow:
            message = _said(exc, _order_of(uow, order_id), uow)
        return admin.done(f"/admin/orders/{order_id}", message, kind="error")
    return admin.done(_page_url(order_id, edit.id))


@router.get("/orders/{order_id}/edits/{edit_id}", summary="An order edit: the changes, the new totals, commit")
def page(order_id: int, edit_id: int, admin: Manager, find: str = "") -> Response:
    return _show(admin, order_id, edit_id, find=find.strip()[:100])


# ---- staging changes --------------------------------------------------------------------------
def _stage(
    admin: Admin, order_id: int, edit_id: int, form: FormData, name: str, work: Callable[[Command], str]
) -> Response:
    """Stage one change; back to the page saying what changed, or the page again with the reason
    beside the form it came from (the edit as it was)."""
    with admin.app.unit_of_work(read_only=True) as uow:
        _edit_of(uow, order_id, edit_id)  # an edit of another order is not found here
    try:
        with admin.command() as cmd:
            said = work(cmd)
    except OrderError as exc:
        if exc.code == "not_found" and exc.field == "base":
            raise
        with admin.app.unit_of_work(read_only=True) as uow:
            message = _said(exc, _order_of(uow, order_id), uow)
        problem = Problem(
            form=name,
            message=f"{message.rstrip('.')}. Nothing was changed.",
            typed=_typed(form),
            field=BOXES.get(exc.field, exc.field),
        )
        return _show(admin, order_id, edit_id, problem=problem, status=422)
    return admin.done(_page_url(order_id, edit_id), said)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _ticked(form: FormData, name: str) -> bool:
    return _text(form, name) not in ("", "0", "off", "false")


def _whole(form: FormData, name: str, *, label: str) -> int:
    raw = _text(form, name)
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > 9:
        raise InvalidInput(f"enter a whole number of items{label}", field=name)
    return int(raw)


def _amount(cmd: Command, form: FormData, name: str, edit_id: int) -> Decimal:
    """An amount typed in the customer's currency (what the services take for these fields)."""
    order = cmd.uow.orders.get(commands.get(cmd, edit_id).order_id, for_update=False)
    raw = _text(form, name).replace(",", ".")
    try:
        Decimal(raw)
    except InvalidOperation:
        said = f"{raw[:20]!r} is not an amount; enter one such as 4.95" if raw else "enter an amount such as 4.95"
        raise InvalidInput(said, field=name) from None
    return parse_amount(raw, order.presentment_currency, field=name)


def _staged_discount(edit: rules.OrderEdit, line_id: int) -> rules.LineDiscount | None:
    return next((c for c in edit.changes if isinstance(c, rules.LineDiscount) and c.line_item_id == line_id), None)


def _percentage(form: FormData) -> Decimal:
    raw = _text(form, "value").replace(",", ".").removesuffix("%").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise InvalidInput("enter a percentage such as 10", field="value") from None
    if not value.is_finite() or (0 < value < Decimal("0.01")) or value.as_tuple().exponent < -4:  # type: ignore[operator]
        raise InvalidInput("enter a percentage from 0.01 to 100, such as 10", field="value")
    return value  # the domain checks it is above 0 and at most 100


def _name_of(cmd: Command, edit_id: int, line_id: int) -> str:
    edit = commands.get(cmd, edit_id)
    staged = edit.added(line_id)
    if staged is not None:
        return staged.title
    line = cmd.uow.orders.get(edit.order_id, for_update=False).line_item(line_id)
    return line.name if line else "the item"


@router.post("/orders/{order_id}/edits/{edit_id}/lines/{line_id}/quantity", summary="Change a line's quantity")
def set_quantity(order_id: int, edit_id: int, line_id: int, admin: Manager, form: Form) -> Response:
    def work(cmd: Command) -> str:
        quantity = _whole(form, "quantity", label="")
        name = _name_of(cmd, edit_id, line_id)
        commands.set_quantity(cmd, edit_id, line_item_id=line_id, quantity=quantity, restock=_ticked(form, "restock"))
        return f"{name}: removed." if quantity == 0 else f"{name}: quantity {quantity}."

    return _stage(admin, order_id, edit_id, form, f"line-{line_id}", work)


@router.post("/orders/{order_id}/edits/{edit_id}/variants", summary="Add a product from the catalogue")
def add_variant(order_id: int, edit_id: int, admin: Manager, form: Form) -> Response:
    def work(cmd: Command) -> str:
        raw = _text(form, "variant_id")
        if not raw.isdecimal() or len(raw) > 18:
            raise InvalidInput("choose a product to add", field="product")
        quantity = _whole(form, "quantity", label=" to add")
        edit, _ = commands.add_variant(cmd, edit_id, variant_id=int(raw), quantity=quantity)
        added = edit.added_items()[-1]
        assert isinstance(added, rules.AddVariant)
        return f"Added {quantity} × {added.title}{f' - {added.variant_title}' if added.variant_title else ''}."

    return _stage(admin, order_id, edit_id, form, "variant", work)


@router.post("/orders/{order_id}/edits/{edit_id}/custom-items", summary="Add a custom item")
def add_custom_item(order_id: int, edit_id: int, admin: Manager, form: Form) -> Response:
    def work(cmd: Command) -> str:
        title = _text(form, "title")
        price = _amount(cmd, form, "price", edit_id)
        quantity = _whole(form, "quantity", label=" to add")
        commands.add_custom_item(
            cmd,
            edit_id,
            title=title,
            price=price,
            quantity=quantity,
            taxable=_ticked(form, "taxable"),
            requires_shipping=_ticked(form, "requires_shipping"),
        )
        return f"Added {quantity} × {title.strip()}."

    return _stage(admin, order_id, edit_id, form, "custom", work)


@router.post("/orders/{order_id}/edits/{edit_id}/lines/{line_id}/discount", summary="Add or change a line's discount")
def set_discount(order_id: int, edit_id: int, line_id: int, admin: Manager, form: Form) -> Response:
    def work(cmd: Command) -> str:
        value_type = _text(form, "value_type")
        if value_type not in dict(VALUE_TYPES):
            raise InvalidInput("choose an amount off each unit or a percentage", field="value_type")
        value = _amount(cmd, form, "value", edit_id) if value_type == "fixed_amount" else _percentage(form)
        description = _text(form, "description") or None
        staged = _staged_discount(commands.get(cmd, edit_id), line_id)
        name = _name_of(cmd, edit_id, line_id)
        if staged is None:
            commands.add_discount(
                cmd, edit_id, line_item_id=line_id, value=value, value_type=value_type, description=description
            )
        else:
            commands.update_discount(
                cmd, edit_id, staged.id, value=value, value_type=value_type, description=description
            )
        return f"Discount on {name} saved."

    return _stage(admin, order_id, edit_id, form, f"discount-{line_id}", work)


@router.post("/orders/{order_id}/edits/{edit_id}/discounts/{discount_id}/remove", summary="Remove a discount")
def remove_discount(order_id: int, edit_id: int, discount_id: int, admin: Manager, form: Form) -> Response:
    def work(cmd: Command) -> str:
        commands.remove_discount(cmd, edit_id, discount_id)
        return "Discount removed."

    return _stage(admin, order_id, edit_id, form, f"discount-remove-{discount_id}", work)


@router.post("/orders/{order_id}/edits/{edit_id}/shipping-lines", summary="Add a shipping line")
def add_shipping(order_id: int, edit_id: int, admin: Manager, form: Form) -> Response:
    def work(cmd: Command) -> str:
        title = _text(form, "title")
        price = _amount(cmd, form, "price", edit_id)
        commands.add_shipping_line(cmd, edit_id, title=title, price=price)
        return f"Shipping {title} added."

    return _stage(admin, order_id, edit_id, form, "shipping", work)


@router.post("/orders/{order_id}/edits/{edit_id}/shipping-lines/{shipping_id}", summary="Change a shipping line")
def change_shipping(order_id: int, edit_id: int, shipping_id: int, admin: Manager, form: Form) -> Response:
    def work(cmd: Command) -> str:
        title = _text(form, "title")
        price = _amount(cmd, form, "price", edit_id)
        commands.update_shipping_line(cmd, edit_id, shipping_id, title=title, price=price)
        return f"Shipping {title} saved."

    return _stage(admin, order_id, edit_id, form, f"shipping-{shipping_id}", work)


@router.post("/orders/{order_id}/edits/{edit_id}/shipping-lines/{shipping_id}/remove", summary="Remove a shipping line")
def remove_shipping(order_id: int, edit_id: int, shipping_id: int, admin: Manager, form: Form) -> Response:
    def work(cmd: Command) -> str:
        commands.remove_shipping_line(cmd, edit_id, shipping_id)
        return "Shipping line removed."

    return _stage(admin, order_id, edit_id, form, f"shipping-{shipping_id}", work)


# ---- commit or discard --------------------------------------------------------------------------
@router.post("/orders/{order_id}/edits/{edit_id}/commit", summary="Apply the edit to the order")
def commit(order_id: int, edit_id: int, admin: Manager, form: Form) -> Response:
    notify = _ticked(form, "notify_customer")
    note = _text(form, "staff_note") or None

    def work(cmd: Command) -> str:
        order, _, _ = commands.commit(cmd, edit_id, notify_customer=notify, staff_note=note)
        owed = balance(order)
        money = ""
        if owed > 0:
            money = f" {money_text(owed, order.presentment_currency)} is left to collect."
        elif owed < 0:
            money = f" {money_text(-owed, order.presentment_currency)} can be refunded."
        told = " The customer is told." if notify else ""
        return f"Order {order.name} was edited.{money}{told}"

    return _stage(admin, order_id, edit_id, form, "commit", work)


@router.post("/orders/{order_id}/edits/{edit_id}/discard", summary="Discard the edit")
def discard(order_id: int, edit_id: int, admin: Manager, form: Form) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        _edit_of(uow, order_id, edit_id)
    try:
        with admin.command() as cmd:
            commands.abandon(cmd, edit_id)
    except OrderError as exc:
        if exc.code == "not_found":
            raise
        return admin.done(_page_url(order_id, edit_id), refusal(exc), kind="error")
    return admin.done(f"/admin/orders/{order_id}", "The edit was discarded; the order is as it was.")


# ---- the next step when money is owed back ----------------------------------------------------
@router.get("/orders/{order_id}/edits/{edit_id}/refund", summary="Refund what the edit took off (the form)")
def refund_form(order_id: int, edit_id: int, admin: Payer) -> Response:
    """The order's refund form with the amount the order is now overpaid filled in (never more
    than was paid and not refunded): a refund of money only, the items having left the order by
    the edit. Nothing is refunded until staff press Refund there."""
    with admin.app.unit_of_work(read_only=True) as uow:
        order = _order_of(uow, order_id)
        edit = _edit_of(uow, order_id, edit_id)
    owed = -balance(order) if not order.is_cancelled else ZERO
    suggested = min(max(owed, ZERO), ledger(order).refundable)
    values = RefundInput(
        amount=amount_text(suggested, order.presentment_currency) if suggested > 0 else "",
        note=f"Order edit: {rules.describe(order, edit.outcome)}" if edit.outcome else "",
    )
    return _refund_page(admin, order_id, values)
