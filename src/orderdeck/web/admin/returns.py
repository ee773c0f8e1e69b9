"""Returns in the admin (issue 13): the Returns panel on the order page and the Returns list.

The panel (`panel()`, shown by order.py) lists an order's returns with what can be done to each
in its state, and links to the forms that need more than a click: starting a return (with a
server-side preview of services/returns.calculate), declining, adding a label and tracking,
receiving units and refunding. Those forms are pages of their own as well as parts of the panel,
so a refused form comes back with what was typed and the reason beside the field it concerns.
Approving, cancelling, closing and reopening are one click each and come back to the order page.

Permissions reuse the order ones: everything about the goods (start, approve, decline, label,
receive, close, reopen, cancel) needs "manage orders"; refunding a return needs "take and refund
payments"; the Returns list needs "view orders".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...domain import returns as rules
from ...domain.errors import InvalidInput, NotFound, OrderError
from ...domain.money import MAX_AMOUNT, ZERO, parse_amount
from ...domain.order import Order, Return, ReturnTracking, order_id_of
from ...domain.statuses import balance, ledger
from ...services import returns as commands
from ...services.context import Command
from ...store.returns import ReturnsFilter, ReturnsPage
from ...store.uow import UnitOfWork
from .access import CSRF_FIELD, Admin, posted_form, require
from .new_order import _catalogue, variant_label
from .order import FO_STATUS_WORDS, HOLD_REASON_WORDS, _location_names, _plain, _run
from .order_money import _money_back
from .pages import money as money_text
from .pages import render

router = APIRouter()
Viewer = Annotated[Admin, Depends(require("view_orders"))]
Manager = Annotated[Admin, Depends(require("manage_orders"))]
Payer = Annotated[Admin, Depends(require("refund"))]

REASON_WORDS = {
    "size_too_small": "Size was too small",
    "size_too_large": "Size was too large",
    "unwanted": "Customer changed their mind",
    "not_as_described": "Item not as described",
    "wrong_item": "Received the wrong item",
    "defective": "Damaged or defective",
    "style": "Style",
    "color": "Colour",
    "other": "Other",
    "unknown": "Unknown",
}
assert set(REASON_WORDS) == set(rules.RETURN_REASONS)
DECLINE_WORDS = {
    "return_period_ended": "The return period has ended",
    "final_sale": "The item was a final sale",
    "other": "Other",
}
assert set(DECLINE_WORDS) == set(rules.DECLINE_REASONS)
DISPOSITION_WORDS = {
    "restocked": "Restocked",
    "not_restocked": "Not restocked",
    "processing_required": "Needs processing",
    "missing": "Missing",
}
assert set(DISPOSITION_WORDS) == set(rules.DISPOSITION_TYPES)
STATUS_WORDS = {
    "requested": "Requested",
    "open": "Open",
    "declined": "Declined",
    "closed": "Closed",
    "canceled": "Cancelled",
}
DUE_WORDS = {
    "to_approve": "To approve",
    "awaiting_parcel": "Awaiting the parcel",
    "to_inspect": "To inspect",
    "to_refund": "To refund",
    "nothing": "Nothing due",
}
EXCHANGE_ROWS = 3
LIST_LIMIT = 50


# ---- reading forms -----------------------------------------------------------------------------
def _values(form: FormData) -> dict[str, str]:
    """What was typed, as typed, so a refused form comes back unchanged."""
    return {k: v.strip() for k, v in form.multi_items() if isinstance(v, str) and k != CSRF_FIELD}


def _ticked(values: dict[str, str], name: str) -> bool:
    return values.get(name, "") not in ("", "0", "off", "false")


def _count(values: dict[str, str], name: str, *, most: int, label: str) -> int:
    raw = values.get(name, "")
    if not raw:
        return 0
    if not raw.isdecimal() or len(raw) > 9:
        raise InvalidInput(f"{raw[:20]!r} is not a whole number of items for {label}", field=name)
    value = int(raw)
    if value > most:
        raise InvalidInput(f"enter between 0 and {most} for {label}", field=name)
    return value


def _number(values: dict[str, str], name: str, *, what: str, most: Decimal | None = None) -> Decimal | None:
    raw = values.get(name, "")
    if not raw:
        return None
    try:
        value = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        raise InvalidInput(f"{raw[:20]!r} is not a number", field=name) from None
    if not value.is_finite() or value < 0 or (most is not None and value > most) or value >= MAX_AMOUNT:
        top = f" and {most}" if most is not None else ""
        raise InvalidInput(f"{what} is between 0{top}", field=name)
    return value


def _id(values: dict[str, str], name: str) -> int | None:
    raw = values.get(name, "")
    if not raw:
        return None
    if not raw.isdecimal() or len(raw) > 18:
        raise InvalidInput("choose one of the options in the list", field=name)
    return int(raw)


def _said(exc: OrderError, order: Order | None, locations: dict[int, str]) -> str:
    message = exc.message[:1].upper() + exc.message[1:]
    return _plain(message, order, locations)


# Where a refusal about one of the API's names goes on the admin's forms.
FORM_FIELD = {
    "return_line_items": "lines",
    "exchange_line_items": "exchanges",
    "return_shipping_fee": "shipping_fee",
    "dispositions": "lines",
    "label": "label_url",
    "tracking": "tracking_url",
    "reverse_delivery": "label_url",
    "line_items": "base",
    "transactions": "amount",
    "refund": "base",
    "decline_reason": "reason",
}


def _field(exc: OrderError, fields: set[str]) -> str:
    name = FORM_FIELD.get(exc.field, exc.field)
    return name if name in fields else "base"


# ---- where things are --------------------------------------------------------------------------
def _order(uow: UnitOfWork, order_id: int) -> Order:
    try:
        return uow.orders.get(order_id, for_update=False)
    except NotFound:
        raise NotFound(f"There is no order with id {order_id}; it may have been deleted.") from None


def _return(order: Order, return_id: int) -> Return:
    ret = order.return_(return_id) if order_id_of(return_id) == order.id else None
    if ret is None:
        raise NotFound(f"Return {return_id} is not part of order {order.name}.")
    return ret


def _page(order_id: int, return_id: int | None = None) -> str:
    return f"/admin/orders/{order_id}" + (f"#return-{return_id}" if return_id else "#returns")


def _units(n: int) -> str:
    return f"{n} item{'s' if n != 1 else ''}"


# ---- what the panel shows ----------------------------------------------------------------------
def returnable_rows(order: Order, locations: dict[int, str]) -> list[dict[str, Any]]:
    """Each shipped unit group that can still come back: per fulfillment line item."""
    left = rules.returnable_quantities(order)
    rows = []
    for fulfilment, fl in rules.fulfillment_line_items(order):
        if fl.id == 0:
            continue
        item = order.line_item(fl.line_item_id)
        rows.append(
            {
                "id": fl.id,
                "name": item.name if item else f"Item {fl.line_item_id}",
                "sku": item.sku if item else None,
                "fulfillment": fulfilment.name,
                "location": locations.get(fulfilment.location_id, f"Location {fulfilment.location_id}"),
                "shipped": fl.quantity,
                "returnable": left.get(fl.id, 0),
            }
        )
    return rows


def _line_name(order: Order, line_item_id: int | None) -> str:
    item = order.line_item(line_item_id) if line_item_id is not None else None
    return item.name if item else f"Item {line_item_id}"


def _return_view(order: Order, ret: Return, locations: dict[int, str], variants: dict[int, Any]) -> dict[str, Any]:
    lines = [
        {
            "id": rli.id,
            "name": _line_name(order, rli.line_item_id),
            "quantity": rli.current_quantity,
            "removed": rli.removed_quantity,
            "refunded": rli.refunded_quantity,
            "reason": REASON_WORDS.get(rli.return_reason, rli.return_reason),
            "reason_note": rli.return_reason_note,
            "customer_note": rli.customer_note,
            "fee": f"{rli.restocking_fee.percentage.normalize():f}" if rli.restocking_fee else None,
            "worth": rules.line_worth(order, rli.line_item_id, rli.current_quantity),
        }
        for rli in ret.return_line_items
        if rli.current_quantity or rli.removed_quantity
    ]
    exchanges = []
    for ex in ret.exchange_line_items:
        if ex.quantity - ex.removed_quantity <= 0:
            continue
        if ex.line_item_id is not None:
            name = _line_name(order, ex.line_item_id)
        else:
            v = variants.get(ex.variant_id)
            name = variant_label(v, order.currency) if v else f"Variant {ex.variant_id}"
        discount = None
        if ex.discount_value is not None:
            discount = (
                f"{ex.discount_value.normalize():f} % off"
                if ex.discount_value_type == "percentage"
                else f"{money_text(ex.discount_value, order.presentment_currency)} off each"
            )
        exchanges.append(
            {
                "name": name,
                "quantity": ex.quantity - ex.removed_quantity,
                "discount": discount,
                "shipped": order.fulfilled_quantity(ex.line_item_id) if ex.line_item_id else 0,
            }
        )
    fos = []
    for fo in rules.exchange_fulfillment_orders(order, ret) if ret.is_approved else []:
        fos.append(
            {
                "id": fo.id,
                "status": FO_STATUS_WORDS.get(fo.status, fo.status),
                "on_hold": fo.status == "on_hold",
                "location": locations.get(fo.assigned_location_id, f"Location {fo.assigned_location_id}"),
                "lines": [(_line_name(order, li.line_item_id), li.quantity) for li in fo.line_items],
                "holds": [
                    {
                        "reason": HOLD_REASON_WORDS.get(h.reason, h.reason.replace("_", " ").capitalize()),
                        "notes": h.reason_notes,
                    }
                    for h in fo.fulfillment_holds
                ],
            }
        )
    rfos: list[dict[str, Any]] = []
    for rfo in ret.reverse_fulfillment_orders:
        rfo_lines: list[dict[str, Any]] = []
        for li in rfo.line_items:
            rfo_lines.append(
                {
                    "id": li.id,
                    "name": _line_name(order, li.line_item_id),
                    "total": li.total_quantity,
                    "received": li.disposed_quantity,
                    "left": li.total_quantity - li.disposed_quantity,
                    "tracked": (item := order.line_item(li.line_item_id)) is not None
                    and item.inventory_item_id is not None,
                    "dispositions": [
                        {
                            "type": DISPOSITION_WORDS.get(d.type, d.type),
                            "quantity": d.quantity,
                            "location": locations.get(d.location_id, "") if d.location_id else "",
                            "restocked": d.type == "restocked",
                            "by": d.author.name if d.author else None,
                            "at": d.created_at,
                        }
                        for d in li.dispositions
                    ],
                }
            )
        rfos.append(
            {
                "id": rfo.id,
                "location_id": rfo.location_id,
                "location": locations.get(rfo.location_id, f"Location {rfo.location_id}"),
                "status": rfo.status,
                "lines": rfo_lines,
                "left": sum(li["left"] for li in rfo_lines),
                "deliveries": [
                    {
                        "id": d.id,
                        "label": d.label.file_url if d.label else None,
                        "number": d.tracking.number if d.tracking else None,
                        "carrier": d.tracking.carrier_name if d.tracking else None,
                        "url": d.tracking.url if d.tracking else None,
                    }
                    for d in rfo.reverse_deliveries
                ],
            }
        )
    live_rfos = [r for r in rfos if r["status"] == "open"]
    unrefunded = sum(rli.current_quantity - rli.refunded_quantity for rli in ret.return_line_items)
    worked = bool(ret.refund_ids) or any(
        li.dispositions for rfo in ret.reverse_fulfillment_orders for li in rfo.line_items
    )
    fees = rules.fees_of(order, ret)
    return {
        "r": ret,
        "id": ret.id,
        "name": ret.name,
        "status": ret.status,
        "status_words": STATUS_WORDS.get(ret.status, ret.status),
        "due": rules.what_is_due(ret),
        "due_words": DUE_WORDS.get(rules.what_is_due(ret), ""),
        "lines": lines,
        "exchanges": exchanges,
        "exchange_fos": fos,
        "rfos": rfos,
        "fees": fees,
        "shipping_fee": sum((f.presentment_amount for f in ret.return_shipping_fees), ZERO),
        "refunds": [
            {
                "id": r.id,
                "amount": sum(
                    (t.amount for t in order.transactions if t.id in r.transaction_ids and t.status == "success"),
                    ZERO,
                ),
            }
            for r in order.refunds
            if r.id in ret.refund_ids
        ],
        "decline": {
            "reason": DECLINE_WORDS.get(ret.decline.reason, ret.decline.reason),
            "note": ret.decline.note,
        }
        if ret.decline
        else None,
        "by": ret.author.name if ret.author else None,
        "by_customer": bool(ret.author and ret.author.kind == "customer"),
        "can": {
            "approve": ret.status == "requested",
            "decline": ret.status == "requested",
            "label": ret.status == "open" and bool(live_rfos),
            "receive": ret.status == "open" and any(r["left"] for r in live_rfos),
            "refund": ret.status in ("open", "closed") and unrefunded > 0,
            "close": ret.status == "open",
            "reopen": ret.status == "closed",
            "cancel": ret.status in ("requested", "open") and not worked,
        },
        "unrefunded": unrefunded,
    }


def panel(admin: Admin, uow: UnitOfWork, order: Order, locations: dict[int, str]) -> dict[str, Any] | None:
    """The Returns panel of the order page; None for an order with nothing shipped and no return."""
    rows = returnable_rows(order, locations)
    if not rows and not order.returns:
        return None
    wanted = {ex.variant_id for r in order.returns for ex in r.exchange_line_items if ex.line_item_id is None}
    variants = uow.catalog.variants_by_id(wanted) if wanted else {}
    owed = balance(order)
    views = [_return_view(order, r, locations, variants) for r in reversed(order.returns)]
    refundable_return = next((v for v in views if v["can"]["refund"]), None)
    return {
        "returnable": rows,
        "can_start": not order.is_cancelled and any(r["returnable"] for r in rows),
        "why_not_start": "The order is cancelled; nothing on it can be returned."
        if order.is_cancelled
        else "Every shipped item is already in a return or refunded.",
        "returns": views,
        "balance": {
            "amount": abs(owed),
            "customer_owes": owed > 0 and any(r.is_approved for r in order.returns),
            "shop_owes": owed < 0 and any(r.is_approved for r in order.returns),
            "suggested": commands.suggested_refund(
                order, order.return_(refundable_return["id"]) if refundable_return else None
            ),
            "refund_return": refundable_return["id"] if refundable_return else None,
        },
        "may": {"manage": admin.may("manage_orders"), "refund": admin.may("refund")},
        "reasons": list(REASON_WORDS.items()),
        "decline_reasons": list(DECLINE_WORDS.items()),
        "dispositions": list(DISPOSITION_WORDS.items()),
        "locations": [(loc.id, loc.name) for loc in uow.catalog.locations() if loc.active],
        "presentment_currency": order.presentment_currency,
    }


def event_returns(order: Order) -> dict[int, tuple[int, str]]:
    """The return each timeline subject belongs to (a return, its reverse fulfillment orders and
    deliveries, its refunds, its exchange items' fulfillment orders), so return events on the
    timeline link to the return they are about."""
    found: dict[int, tuple[int, str]] = {}
    for ret in order.returns:
        about = (ret.id, ret.name)
        found[ret.id] = about
        for refund_id in ret.refund_ids:
            found[refund_id] = about
        for rfo in ret.reverse_fulfillment_orders:
            found[rfo.id] = about
            for delivery in rfo.reverse_deliveries:
                found[delivery.id] = about
        if ret.is_approved:
            for fo in rules.exchange_fulfillment_orders(order, ret):
                found[fo.id] = about
    return found


# ---- starting a return -------------------------------------------------------------------------
@dataclass
class Start:
    """A return as the form asks for it, or the fields it could not read."""

    request: rules.ReturnRequest | None
    errors: dict[str, str]


def _start_request(cmd: Command, order: Order, values: dict[str, str]) -> rules.ReturnRequest:
    lines = []
    for _, fl in rules.fulfillment_line_items(order):
        if fl.id == 0:
            continue
        name = _line_name(order, fl.line_item_id)
        quantity = _count(values, f"qty_{fl.id}", most=fl.quantity, label=name)
        if not quantity:
            continue
        reason = values.get(f"reason_{fl.id}") or "unknown"
        if reason not in REASON_WORDS:
            raise InvalidInput("choose one of the reasons in the list", field=f"reason_{fl.id}")
        note = values.get(f"note_{fl.id}", "")
        if len(note) > rules.MAX_NOTE["return_reason_note"]:
            raise InvalidInput(
                f"a note can be at most {rules.MAX_NOTE['return_reason_note']} characters", field=f"note_{fl.id}"
            )
        fee = _number(values, f"fee_{fl.id}", what="A restocking fee", most=Decimal(100))
        if fee is not None and fee != fee.quantize(Decimal("0.01")):
            raise InvalidInput("a restocking fee has at most two decimals", field=f"fee_{fl.id}")
        lines.append(
            rules.ReturnLineRequest(
                fulfillment_line_item_id=fl.id,
                quantity=quantity,
                return_reason=reason,
                return_reason_note=note,
                restocking_fee_percentage=fee or None,
            )
        )
    if not lines:
        raise InvalidInput("enter how many of at least one item come back", field="lines")
    shipping_fee = (
        parse_amount(values["shipping_fee"], order.presentment_currency, field="shipping_fee", allow_zero=True)
        if values.get("shipping_fee")
        else None
    )
    wanted: list[tuple[int, int, Decimal | None, str | None, str | None]] = []
    for n in range(EXCHANGE_ROWS):
        variant = _id(values, f"ex-{n}-variant")
        if variant is None:
            continue
        quantity = 1
        if values.get(f"ex-{n}-quantity"):
            quantity = _count(values, f"ex-{n}-quantity", most=999, label="the exchange item")
            if quantity < 1:
                raise InvalidInput("an exchange item needs a quantity of at least 1", field=f"ex-{n}-quantity")
        kind = values.get(f"ex-{n}-discount_type") or "percentage"
        if kind not in ("percentage", "fixed_amount"):
            raise InvalidInput("a discount is a percentage or an amount", field=f"ex-{n}-discount")
        raw_discount = values.get(f"ex-{n}-discount", "")
        if kind == "percentage":
            discount = _number(values, f"ex-{n}-discount", what="A discount", most=Decimal(100))
        else:
            discount = (
                parse_amount(raw_discount, order.presentment_currency, field=f"ex-{n}-discount")
                if raw_discount
                else None
            )
        wanted.append((variant, quantity, discount or None, kind if discount else None, None))
    try:
        exchanges = commands.exchange_variants(cmd, wanted) if wanted else []
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="exchanges") from None
    return rules.ReturnRequest(lines=lines, exchanges=exchanges, shipping_fee=shipping_fee)


START_FIELDS = {"base", "lines", "exchanges", "shipping_fee", "find"}


def _start_page(
    admin: Admin,
    order_id: int,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    preview: bool = False,
    status: int = 200,
) -> Response:
    errors = dict(errors or {})
    with admin.app.unit_of_work(read_only=True) as uow:
        order = _order(uow, order_id)
        locations = _location_names(uow)
        calc = None
        owed_now = balance(order)
        if preview and not errors:
            cmd = Command(admin.app, uow, admin.author)
            try:
                request = _start_request(cmd, order, values)
                _, found, _ = commands.calculate(cmd, order_id, request)
                calc = found
            except OrderError as exc:
                errors[_field(exc, START_FIELDS | set(values))] = _said(exc, order, locations)
        chosen = {int(v) for k, v in values.items() if k.endswith("-variant") and v.isdecimal() and len(v) < 19}
        catalogue = _catalogue(uow, values.get("find", ""), chosen)
        rows = returnable_rows(order, locations)
    preview_view = None
    if calc is not None:
        pc = order.presentment_currency
        worth, fees, exchange = (
            order.presentment(calc.returned_worth),
            order.presentment(calc.fees),
            order.presentment(calc.exchange_total),
        )
        # What this return adds to what is owed already (statuses.balance): + the customer, - the shop.
        after = owed_now + order.presentment(calc.balance)
        preview_view = {
            "lines": [
                {
                    "name": p.line.name,
                    "quantity": p.request.quantity,
                    "worth": order.presentment(p.worth),
                    "fee": order.presentment(p.restocking_fee),
                }
                for p in calc.lines
            ],
            "exchanges": [
                {
                    "name": p.request.variant.title
                    + (f" — {p.request.variant.variant_title}" if p.request.variant.variant_title else ""),
                    "quantity": p.request.quantity,
                    "total": order.presentment(p.total),
                }
                for p in calc.exchanges
            ],
            "worth": worth,
            "fees": fees,
            "shipping_fee": calc.shipping_fee_presentment,
            "exchange_total": exchange,
            "after": abs(after),
            "who": "customer" if after > 0 else ("shop" if after < 0 else None),
            "currency": pc,
        }
    return render(
        admin,
        "returns_new.html",
        status=status,
        order=order,
        rows=rows,
        values=values,
        errors=errors,
        preview=preview_view,
        reasons=list(REASON_WORDS.items()),
        variants=[(str(v.id), variant_label(v, order.currency)) for v in catalogue.values()],
        exchange_rows=range(EXCHANGE_ROWS),
    )


@router.get("/orders/{order_id}/returns/new", summary="Start a return (the form)")
def start_form(order_id: int, admin: Manager) -> Response:
    return _start_page(admin, order_id, {})


@router.post("/orders/{order_id}/returns/new", summary="Start a return, or preview what it comes to")
async def start(request: Request, order_id: int, admin: Manager) -> Response:
    values = _values(await posted_form(request))
    return await run_in_threadpool(_start, admin, order_id, values)


def _start(admin: Admin, order_id: int, values: dict[str, str]) -> Response:
    step = values.get("step", "")
    if step in ("preview", "find"):
        return _start_page(admin, order_id, values, preview=step == "preview")
    notify = _ticked(values, "notify")
    made: list[Return] = []
    try:
        with admin.command() as cmd:
            order = cmd.uow.orders.get(order_id, for_update=False)
            request = _start_request(cmd, order, values)
            _, ret = commands.start(cmd, order_id, commands.StartReturn(request, status="open", notify=notify))
            made.append(ret)
    except OrderError as exc:
        if exc.code == "not_found" and exc.field == "base":
            raise
        with admin.app.unit_of_work(read_only=True) as uow:
            order, names = _order(uow, order_id), _location_names(uow)
        field = _field(exc, START_FIELDS | set(values) | {f"qty_{r['id']}" for r in returnable_rows(order, names)})
        return _start_page(admin, order_id, values, errors={field: _said(exc, order, names)}, status=422)
    ret = made[0]
    told = " The customer was sent the return instructions." if notify else ""
    return admin.done(_page(order_id, ret.id), f"Return {ret.name} of {_units(ret.total_quantity)} was started.{told}")


# ---- one-click actions -------------------------------------------------------------------------
def _checked(order_id: int, return_id: int) -> int:
    if order_id_of(return_id) != order_id:
        raise NotFound(f"Return {return_id} is not part of this order.")
    return return_id


@router.post("/orders/{order_id}/returns/{return_id}/approve", summary="Approve a requested return")
async def approve(request: Request, order_id: int, return_id: int, admin: Manager) -> Response:
    _checked(order_id, return_id)
    notify = _ticked(_values(await posted_form(request)), "notify")

    def work(cmd: Command) -> str:
        _, ret = commands.approve(cmd, return_id, notify=notify)
        return f"Return {ret.name} was approved." + (
            " The customer was sent the return instructions." if notify else ""
        )

    return await run_in_threadpool(_run, admin, order_id, work)


def _simple(verb: Callable[[Command, int], tuple[Order, Return]], said: str) -> Callable[..., Response]:
    def action(order_id: int, return_id: int, admin: Manager) -> Response:
        _checked(order_id, return_id)

        def work(cmd: Command) -> str:
            _, ret = verb(cmd, return_id)
            return said.format(name=ret.name)

        return _run(admin, order_id, work)

    return action


router.post("/orders/{order_id}/returns/{return_id}/cancel", summary="Cancel a return")(
    _simple(commands.cancel, "Return {name} was cancelled; its items count as fulfilled again.")
)
router.post("/orders/{order_id}/returns/{return_id}/close", summary="Close a return")(
    _simple(commands.close, "Return {name} was closed.")
)
router.post("/orders/{order_id}/returns/{return_id}/reopen", summary="Reopen a closed return")(
    _simple(commands.reopen, "Return {name} was reopened.")
)


# ---- forms with a page of their own: decline, label, receive, refund ---------------------------
def _form_page(
    admin: Admin,
    order_id: int,
    return_id: int,
    action: str,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        order = _order(uow, order_id)
        ret = _return(order, return_id)
        locations = _location_names(uow)
        p = panel(admin, uow, order, locations)
    assert p is not None
    view = next(v for v in p["returns"] if v["id"] == ret.id)
    return render(
        admin,
        "returns_action.html",
        status=status,
        order=order,
        p=p,
        rv=view,
        action=action,
        values=values,
        errors=errors or {},
    )


def _refused(
    admin: Admin, order_id: int, return_id: int, action: str, values: dict[str, str], exc: OrderError, fields: set[str]
) -> Response:
    if exc.code == "not_found" and exc.field == "base":
        raise exc
    with admin.app.unit_of_work(read_only=True) as uow:
        order, names = _order(uow, order_id), _location_names(uow)
    errors = {_field(exc, fields | set(values)): _said(exc, order, names)}
    return _form_page(admin, order_id, return_id, action, values, errors=errors, status=422)


@router.get("/orders/{order_id}/returns/{return_id}/decline", summary="Decline a requested return (the form)")
def decline_form(order_id: int, return_id: int, admin: Manager) -> Response:
    return _form_page(admin, order_id, _checked(order_id, return_id), "decline", {})


@router.get("/orders/{order_id}/returns/{return_id}/label", summary="Add a return label and tracking (the form)")
def label_form(order_id: int, return_id: int, admin: Manager) -> Response:
    return _form_page(admin, order_id, _checked(order_id, return_id), "label", {})


@router.get("/orders/{order_id}/returns/{return_id}/receive", summary="Receive returned items (the form)")
def receive_form(order_id: int, return_id: int, admin: Manager) -> Response:
    return _form_page(admin, order_id, _checked(order_id, return_id), "receive", {})


@router.get("/orders/{order_id}/returns/{return_id}/refund", summary="Refund a return (the form)")
def refund_form(order_id: int, return_id: int, admin: Payer) -> Response:
    return _form_page(admin, order_id, _checked(order_id, return_id), "refund", {})


@router.post("/orders/{order_id}/returns/{return_id}/decline", summary="Decline a requested return")
async def decline(request: Request, order_id: int, return_id: int, admin: Manager) -> Response:
    _checked(order_id, return_id)
    values = _values(await posted_form(request))
    return await run_in_threadpool(_decline, admin, order_id, return_id, values)


def _decline(admin: Admin, order_id: int, return_id: int, values: dict[str, str]) -> Response:
    said: list[str] = []
    try:
        reason = values.get("reason", "")
        if reason not in DECLINE_WORDS:
            raise InvalidInput("choose why the return is declined", field="reason")
        note = values.get("note") or None
        if note and len(note) > rules.MAX_NOTE["decline_note"]:
            raise InvalidInput(f"the message can be at most {rules.MAX_NOTE['decline_note']} characters", field="note")
        notify = _ticked(values, "notify")
        with admin.command() as cmd:
            _, ret = commands.decline(cmd, return_id, reason=reason, note=note, notify=notify)
            said.append(f"Return {ret.name} was declined." + (" The customer is told why." if notify else ""))
    except OrderError as exc:
        return _refused(admin, order_id, return_id, "decline", values, exc, {"base", "reason", "note"})
    return admin.done(_page(order_id, return_id), said[0])


@router.post("/orders/{order_id}/returns/{return_id}/label", summary="Add a return label and tracking")
async def label(request: Request, order_id: int, return_id: int, admin: Manager) -> Response:
    _checked(order_id, return_id)
    values = _values(await posted_form(request))
    return await run_in_threadpool(_label, admin, order_id, return_id, values)


LABEL_FIELDS = {"base", "rfo_id", "label_url", "tracking_number", "tracking_carrier", "tracking_url"}


def _label(admin: Admin, order_id: int, return_id: int, values: dict[str, str]) -> Response:
    said: list[str] = []
    try:
        url = values.get("label_url") or None
        number, carrier, tracking_url = (
            values.get("tracking_number") or None,
            values.get("tracking_carrier") or None,
            values.get("tracking_url") or None,
        )
        for name, value in (("label_url", url), ("tracking_url", tracking_url)):
            if value and (not value.startswith(("https://", "http://")) or len(value) > 2000):
                raise InvalidInput("enter an address starting with https://", field=name)
        for name, value in (("tracking_number", number), ("tracking_carrier", carrier)):
            if value and len(value) > 255:
                raise InvalidInput("this can be at most 255 characters", field=name)
        if not url and not number and not tracking_url:
            raise InvalidInput("enter the label's address, a tracking number or both", field="label_url")
        tracking = (
            ReturnTracking(number=number, url=tracking_url, carrier_name=carrier) if (number or tracking_url) else None
        )
        notify = _ticked(values, "notify")
        with admin.command() as cmd:
            order = cmd.uow.orders.get(order_id, for_update=False)
            ret = _return(order, return_id)
            open_rfos = [r for r in ret.reverse_fulfillment_orders if r.status == "open"]
            chosen = _id(values, "rfo_id")
            rfo = (
                next((r for r in open_rfos if r.id == chosen), None)
                if chosen
                else (open_rfos[0] if open_rfos else None)
            )
            if rfo is None:
                raise InvalidInput("choose where the parcel goes back to", field="rfo_id")
            if rfo.reverse_deliveries:
                # One parcel per reverse fulfillment order here: a new label replaces the old one.
                commands.update_delivery(
                    cmd, rfo.reverse_deliveries[-1].id, label_url=url, tracking=tracking, notify=notify
                )
            else:
                commands.attach_delivery(cmd, rfo.id, lines=[], label_url=url, tracking=tracking, notify=notify)
            said.append(
                f"Return {ret.name}: "
                + " and ".join(p for p in ("the label" if url else "", "tracking" if tracking else "") if p)
                + " saved."
                + (" The customer was sent the label." if notify else "")
            )
    except OrderError as exc:
        return _refused(admin, order_id, return_id, "label", values, exc, LABEL_FIELDS)
    return admin.done(_page(order_id, return_id), said[0])


@router.post("/orders/{order_id}/returns/{return_id}/receive", summary="Receive returned items")
async def receive(request: Request, order_id: int, return_id: int, admin: Manager) -> Response:
    _checked(order_id, return_id)
    values = _values(await posted_form(request))
    return await run_in_threadpool(_receive, admin, order_id, return_id, values)


def _receive(admin: Admin, order_id: int, return_id: int, values: dict[str, str]) -> Response:
    said: list[str] = []
    try:
        with admin.command() as cmd:
            order = cmd.uow.orders.get(order_id, for_update=False)
            ret = _return(order, return_id)
            wanted: list[rules.DispositionRequest] = []
            for rfo in ret.reverse_fulfillment_orders:
                if rfo.status != "open":
                    continue
                for li in rfo.line_items:
                    left = li.total_quantity - li.disposed_quantity
                    name = _line_name(order, li.line_item_id)
                    asked = 0
                    for kind in rules.DISPOSITION_TYPES:
                        n = _count(values, f"{kind}_{li.id}", most=left, label=name)
                        asked += n
                        if asked > left:
                            raise InvalidInput(
                                f"only {left} of {name} are still to be received", field=f"{kind}_{li.id}"
                            )
                        if n:
                            where = _id(values, f"location_{li.id}") if kind == "restocked" else None
                            wanted.append(
                                rules.DispositionRequest(
                                    li.id, n, kind, (where or rfo.location_id) if kind == "restocked" else None
                                )
                            )
            if not wanted:
                raise InvalidInput("enter how many items came back and what happens to them", field="lines")
            commands.dispose(cmd, wanted)
            counts: dict[str, int] = {}
            for w in wanted:
                counts[w.disposition_type] = counts.get(w.disposition_type, 0) + w.quantity
            said.append(
                f"Return {ret.name}: received "
                + ", ".join(f"{n} {DISPOSITION_WORDS[k].lower()}" for k, n in counts.items())
                + "."
            )
    except OrderError as exc:
        fields = {"base", "lines"} | {k for k in values if "_" in k}
        return _refused(admin, order_id, return_id, "receive", values, exc, fields)
    return admin.done(_page(order_id, return_id), said[0])


@router.post("/orders/{order_id}/returns/{return_id}/refund", summary="Refund a return")
async def refund(request: Request, order_id: int, return_id: int, admin: Payer) -> Response:
    _checked(order_id, return_id)
    values = _values(await posted_form(request))
    return await run_in_threadpool(_refund, admin, order_id, return_id, values)


def _refund(admin: Admin, order_id: int, return_id: int, values: dict[str, str]) -> Response:
    said: list[str] = []
    try:
        note = values.get("note") or None
        if note and len(note) > 5000:
            raise InvalidInput("the reason can be at most 5000 characters", field="note")
        notify = _ticked(values, "notify")
        with admin.command() as cmd:
            order = cmd.uow.orders.get(order_id)  # locked: the amount is split over what was paid now
            ret = _return(order, return_id)
            raw = values.get("amount", "")
            amount = (
                parse_amount(raw, order.presentment_currency, field="amount", allow_zero=True)
                if raw
                else commands.suggested_refund(order, ret)
            )
            if amount > ledger(order).refundable:
                raise InvalidInput(
                    f"at most {money_text(ledger(order).refundable, order.presentment_currency)} "
                    "was paid and not refunded yet",
                    field="amount",
                )
            money = _money_back(order, amount) if amount > 0 else []
            commands.refund(cmd, return_id, commands.ReturnRefund(lines=[], money=money, note=note, notify=notify))
            said.append(
                f"Return {ret.name} refunded: {money_text(amount, order.presentment_currency)} back to the customer."
                if amount > 0
                else f"Return {ret.name}: its items are settled with no money back."
            )
    except OrderError as exc:
        return _refused(admin, order_id, return_id, "refund", values, exc, {"base", "amount", "note"})
    return admin.done(_page(order_id, return_id), said[0])


# ---- the Returns list --------------------------------------------------------------------------
DUE_TABS = ("to_approve", "awaiting_parcel", "to_inspect", "to_refund")


@router.get("/returns", summary="Every return, by what is due next")
def returns_list(
    admin: Viewer,
    due: Annotated[str, Query(max_length=40)] = "",
    status: Annotated[str, Query(max_length=40)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    before: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    error = None
    try:
        if before and (not before.isdecimal() or len(before) > 18):
            raise InvalidInput("this page address is not valid; start again from the first page", field="before")
        wanted = ReturnsFilter(
            status=status or None,
            due=due or None,
            search=q or None,
            before_id=int(before) if before else None,
        )
    except InvalidInput as exc:
        error, wanted = exc.message[:1].upper() + exc.message[1:] + ".", ReturnsFilter()
    with admin.app.unit_of_work(read_only=True) as uow:
        found = uow.returns.list(wanted) if error is None else ReturnsPage()
        counts = uow.returns.count_by_due(ReturnsFilter(status=wanted.status, search=wanted.search))
        timezone = uow.shop.timezone

    def link(**changes: str | None) -> str:
        params = {"due": wanted.due, "status": wanted.status, "q": wanted.search}
        params.update(changes)
        kept = {k: v for k, v in params.items() if v}
        return "/admin/returns" + (f"?{urlencode(kept)}" if kept else "")

    return render(
        admin,
        "returns.html",
        status=422 if error else 200,
        rows=[
            {"r": r, "status_words": STATUS_WORDS.get(r.status, r.status), "due_words": DUE_WORDS.get(r.due, r.due)}
            for r in found.rows
        ],
        tabs=[
            {"due": None, "words": "All", "count": sum(counts.values()), "url": link(due=None)},
            *({"due": d, "words": DUE_WORDS[d], "count": counts.get(d, 0), "url": link(due=d)} for d in DUE_TABS),
        ],
        chosen=wanted,
        statuses=[("", "Any status"), *STATUS_WORDS.items()],
        error=error,
        first_url=link() if wanted.before_id else None,
        older_url=link(before=str(found.next_before_id)) if found.next_before_id else None,
        tz=timezone,
    )
