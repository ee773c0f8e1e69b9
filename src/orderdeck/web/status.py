"""The customer's order status page (S4.3) and order lookup (S5.3).

`/orders/status/<token>`: the token is the order's 128-bit random token (order_status_url),
checked again in constant time after the indexed lookup. The page shows what a customer may
see (progress, shipments with tracking and events, items, totals in their currency,
addresses, their own note) and never staff comments or notes; it works without JavaScript.

`/orders/lookup`: order number plus the e-mail address or phone number on the order. A match
goes to the status page; anything else gets one answer, whether or not the order exists. Both
the client's address and the order number are rate-limited, in the database, so every server
process counts the same attempts.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..domain import returns as return_rules
from ..domain import self_service as self_service_rules
from ..domain.errors import OrderError
from ..domain.order import Order, Return
from ..domain.statuses import balance, ledger, total_outstanding
from ..notify import context as variables
from ..resources import render
from ..services import self_service
from ..services.context import Command, Orderdeck
from ..services.notifications import queue
from ..services.order_note import customer_sees_note
from ..store.attempts import Attempts
from ..store.custom_statuses import CustomStatuses
from ..store.tables import orders
from ..store.uow import UnitOfWork
from ..tracking import link as tracking_link
from .i18n import LANGUAGES, translations

router = APIRouter(include_in_schema=False)

REASON_LABELS = {
    "changed_my_mind": "I changed my mind",
    "wrong_item": "I ordered the wrong item",
    "better_price": "I found a better price",
    "other": "Another reason",
}
ATTEMPT_WINDOW = timedelta(minutes=15)
ATTEMPTS_PER_CLIENT = 10  # lookups a client address may make in the window
ATTEMPTS_PER_ORDER = 5  # failed lookups of one order number in the window
EVENT_LABELS = {
    "label_printed": "Label created",
    "label_purchased": "Label created",
    "confirmed": "Confirmed",
    "carrier_picked_up": "Picked up by the carrier",
    "in_transit": "In transit",
    "delayed": "Delayed",
    "out_for_delivery": "Out for delivery",
    "attempted_delivery": "Delivery attempted",
    "ready_for_pickup": "Ready for pickup",
    "picked_up": "Picked up",
    "delivered": "Delivered",
    "failure": "Delivery failed",
}


@cache
def pages() -> Environment:
    env = Environment(
        loader=PackageLoader("orderdeck.web", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    return env


def _page(name: str, locale: str, status: int = 200, **values: Any) -> HTMLResponse:
    env = pages().overlay()
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    html = env.get_template(name).render(locale=locale, languages=LANGUAGES, **values)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
    return HTMLResponse(html, status_code=status, headers=headers)


def _locale(request: Request, preferred: str | None, shop_locale: str) -> str:
    asked = request.query_params.get("lang")
    if asked in dict(LANGUAGES):
        return str(asked)
    return variables.locale_of({"customer_locale": preferred}, shop_locale)


def _address_lines(a: dict[str, Any] | None) -> list[str]:
    if not a:
        return []
    lines = [a.get("name"), a.get("company"), a.get("address1"), a.get("address2")]
    lines.append(" ".join(p for p in (a.get("zip"), a.get("city")) if p))
    lines += [a.get("province"), a.get("country")]
    return [line for line in lines if line]


def view(app: Orderdeck, uow: UnitOfWork, order: Order, locale: str) -> dict[str, Any]:
    """What the page shows, in the customer's words and currency."""
    gettext = translations(locale).gettext
    ctx = app.render_context(uow)
    shop = uow.shop
    rendered = render.order(order, ctx)
    values = variables.build(rendered, shop={"name": shop.name}, locale=locale)
    currency = values["currency"] or shop.currency

    def money(amount: object) -> str:
        return str(format_currency(float(amount or 0), currency, locale=locale)) if amount is not None else ""

    shipped = [f for f in order.fulfillments if f.status == "success"]
    statuses = {f.shipment_status for f in shipped}
    reached = (
        1 + bool(shipped) + ("out_for_delivery" in statuses or "delivered" in statuses) + ("delivered" in statuses)
    )
    labels = [gettext("Confirmed"), gettext("On its way"), gettext("Out for delivery"), gettext("Delivered")]
    if "ready_for_pickup" in statuses and "delivered" not in statuses:
        labels[2], reached = gettext("Ready for pickup"), 3
    steps = [{"label": label, "done": i < reached, "current": i == reached - 1} for i, label in enumerate(labels)]
    ended = None
    if order.cancelled_at is not None:
        ended = gettext("This order was cancelled.")
    elif ledger(order).refunded > 0 and ledger(order).refunded >= ledger(order).captured > 0:
        ended = gettext("This order was refunded.")
    shipments = []
    for f in shipped:
        urls = list(f.tracking_urls) + [None] * len(f.tracking_numbers)
        events = sorted(f.events, key=lambda e: e.happened_at, reverse=True)
        shipments.append(
            {
                "company": f.tracking_company,
                "tracking": [(n, tracking_link(u)) for n, u in zip(f.tracking_numbers, urls, strict=False)],
                "events": [
                    {
                        "iso": e.happened_at.isoformat(),
                        "when": format_datetime(e.happened_at, "medium", tzinfo=ctx.zone, locale=locale),
                        "label": gettext(EVENT_LABELS.get(e.status, "In transit")),
                        "place": ", ".join(p for p in (e.city, e.country) if p),
                    }
                    for e in events
                ],
            }
        )
    stage = None
    if order.custom_status is not None:
        known = CustomStatuses(uow.conn).by_handle(order.custom_status.handle)
        if known is not None and known.customer_visible:
            due = order.custom_status.due_at
            stage = {
                "name": known.name(locale),
                "note": order.custom_status.public_note,
                "due": format_date(due.astimezone(ctx.zone), "long", locale=locale) if due else None,
            }
    placed: datetime = order.processed_at or order.created_at
    refunds = {r["id"]: r for r in rendered.get("refunds") or []}
    return {
        "shop_name": shop.name,
        "order": {"name": order.name},
        "placed": format_date(placed.astimezone(ctx.zone), "long", locale=locale),
        "steps": steps,
        "stage": stage,
        "ended": ended,
        "shipments": shipments,
        "items": _items(order, rendered, values, money),
        "totals": {
            "subtotal": money(values["subtotal_price"]),
            "shipping": money(values["shipping_price"]),
            "tax": money(values["total_tax"]) if float(values["total_tax"] or 0) else None,
            "total": money(values["total_price"]),
            # What an edit, an exchange or a partial payment left to pay (the customer's currency).
            "to_pay": money(str(owed)) if (owed := total_outstanding(order)) > 0 else None,
        },
        "payment_instructions": shop.settings.payment_instructions.strip() or None,
        "shipping_address": _address_lines(values["shipping_address"]),
        "billing_address": _address_lines(values["billing_address"]),
        # Only the note the customer wrote at checkout, as they wrote it (services/order_note.py).
        "note": order.note if customer_sees_note(uow.conn, order) else None,
        "returns": [_return_progress(uow, order, ret, refunds, locale, money) for ret in order.returns],
    }


def _items(order: Order, rendered: dict[str, Any], values: dict[str, Any], money: Any) -> list[dict[str, Any]]:
    """The items as the order has them now: a line's quantity after any order edit (REST's
    `quantity` stays what was ordered), and a line an edit took off entirely left out."""
    items = []
    for raw, li in zip(rendered.get("line_items") or [], values["line_items"], strict=True):
        line = order.line_item(raw["id"])
        quantity = line.quantity if line is not None else li["quantity"]
        if line is not None and line.original_quantity is not None and quantity == 0:
            continue
        items.append(
            {
                "title": li["title"],
                "variant_title": li["variant_title"],
                "quantity": quantity,
                "line_price": money(Decimal(str(li["price"] or 0)) * quantity),
            }
        )
    return items


# Shopify's return reasons, as the customer reads them (domain/returns.py RETURN_REASONS).
RETURN_REASON_LABELS = {
    "size_too_small": "Size was too small",
    "size_too_large": "Size was too large",
    "unwanted": "I changed my mind",
    "not_as_described": "Item not as described",
    "wrong_item": "I received the wrong item",
    "defective": "Damaged or defective",
    "style": "I don't like the style",
    "color": "I don't like the colour",
    "other": "Another reason",
    "unknown": "No reason given",
}
# Why a shipped item is not in the return form, and what a refused request says at its field.
RETURN_REFUSALS = {
    "window_passed": "The return period for this item has ended.",
    "final_sale": "This item was a final sale and can't be returned.",
    "already_returned": "This item is already being returned or was refunded.",
    "quantity": "Choose how many to return.",
    "reason": "Choose a reason.",
    "note_needed": "Please tell us the reason.",
    "note_too_long": "Please keep your note under 300 characters.",
    "no_exchanges": "We don't offer exchanges. Choose a refund instead.",
    "exchange_unavailable": "This option is no longer available. Please choose another.",
    "insufficient_inventory": "An item you chose in exchange is no longer in stock. Please choose another.",
    "nothing_chosen": "Choose at least one item to return.",
}
RETURN_CANNOT = "Returns can't be requested for this order here. Please contact us."
RETURN_FIELD = re.compile(r"(quantity|reason|note|exchange)_(\d{1,19})")
MAX_RETURN_LINES = 250  # shipped lines one form may name


def _money_of(currency: str, locale: str) -> Any:
    def money(amount: object) -> str:
        return str(format_currency(Decimal(str(amount or 0)), currency, locale=locale))

    return money


def _return_progress(
    uow: UnitOfWork, order: Order, ret: Return, refunds: dict[int, Any], locale: str, money: Any
) -> dict[str, Any]:
    """One return as the customer follows it: where it stands, the label and tracking of the
    parcel going back, the shop's instructions, what comes back and what goes out in exchange."""
    gettext = translations(locale).gettext
    policy = self_service.return_policy(uow.shop.settings)
    received = return_rules.all_received(ret)
    refunded = [refunds[r] for r in ret.refund_ids if r in refunds]
    amount = sum(
        (Decimal(str(t.get("amount") or 0)) for r in refunded for t in r.get("transactions") or []), Decimal(0)
    )
    steps = [
        (gettext("Requested"), True),
        (gettext("Approved"), ret.is_approved),
        (gettext("Received"), received or ret.status == "closed"),
        (
            gettext("Refunded") if ret.refund_ids or not ret.exchange_line_items else gettext("Completed"),
            bool(ret.refund_ids) or ret.status == "closed",
        ),
    ]
    reached = max((i for i, (_, done) in enumerate(steps) if done), default=0)
    status = {
        "requested": gettext("We have your request and will answer it soon."),
        "open": gettext("Approved: please send the items back to us.")
        if not received
        else gettext("We have received your items."),
        "closed": gettext("This return is complete."),
        "declined": gettext("We can't accept this return."),
        "canceled": gettext("This return was cancelled."),
    }[ret.status]
    deliveries = []
    for rfo in ret.reverse_fulfillment_orders:
        for rd in rfo.reverse_deliveries:
            tracking = rd.tracking
            deliveries.append(
                {
                    "label": tracking_link(rd.label.file_url) if rd.label else None,
                    "carrier": tracking.carrier_name if tracking else None,
                    "number": tracking.number if tracking else None,
                    "url": tracking_link(tracking.url) if tracking and tracking.url else None,
                }
            )
    waiting = [ex.variant_id for ex in ret.exchange_line_items if ex.line_item_id is None]
    variants = uow.catalog.variants_by_id(set(waiting))
    exchanges = []
    for ex in ret.exchange_line_items:
        quantity = ex.quantity - ex.removed_quantity
        if quantity <= 0:
            continue
        line = order.line_item(ex.line_item_id) if ex.line_item_id else None
        variant = variants.get(ex.variant_id)
        title = line.name if line else _variant_name(variant)
        shipped = line is not None and order.fulfilled_quantity(line.id) >= quantity
        exchanges.append({"title": title, "quantity": quantity, "shipped": shipped})
    return {
        "name": ret.name,
        "status": ret.status,
        "summary": status,
        "steps": [
            {"label": label, "done": i <= reached, "current": i == reached} for i, (label, _) in enumerate(steps)
        ],
        "decline_note": ret.decline.note if ret.decline else None,
        "deliveries": deliveries
        if ret.status == "open" and not received
        else [],  # the parcel is back: no label to offer
        "instructions": policy.instructions if ret.status == "open" and not received else "",
        "refunded": money(amount) if ret.refund_ids else None,
        "items": [
            {
                "title": _line_name(order, rli.line_item_id),
                "quantity": rli.current_quantity,
                "reason": gettext(RETURN_REASON_LABELS.get(rli.return_reason, "Another reason")),
            }
            for rli in ret.return_line_items
            if rli.current_quantity > 0
        ],
        "exchanges": exchanges,
    }


def _variant_name(variant: Any) -> str:
    if variant is None:
        return ""
    return variant.product_title if variant.title == "Default Title" else f"{variant.product_title} - {variant.title}"


def _line_name(order: Order, line_item_id: int) -> str:
    line = order.line_item(line_item_id)
    return line.name if line else ""


def _return_form(
    uow: UnitOfWork, order: Order, locale: str, zone: Any, typed: dict[str, str] | None
) -> dict[str, Any] | None:
    """The "Return items" form when the order has items the customer may still send back
    (and, so they know why, the shipped items they may not)."""
    options = self_service.return_options(uow, order)
    if options is None or not options.units:
        return None
    gettext = translations(locale).gettext
    typed = typed or {}
    lines, refused = [], []
    for unit in options.units:
        name = f"{unit.title} - {unit.variant_title}" if unit.variant_title else unit.title
        if unit.returnable <= 0:
            refused.append({"title": name, "why": gettext(RETURN_REFUSALS[unit.refusal or "already_returned"])})
            continue
        at = unit.fulfillment_line_item_id
        lines.append(
            {
                "id": at,
                "title": name,
                "returnable": unit.returnable,
                "until": format_date(unit.until.astimezone(zone), "long", locale=locale),
                "quantity": typed.get(f"quantity_{at}", "0"),
                "reason": typed.get(f"reason_{at}", ""),
                "note": typed.get(f"note_{at}", ""),
                "exchange": typed.get(f"exchange_{at}", ""),
                "variants": [
                    {"id": v.id, "title": v.title if v.title != "Default Title" else v.product_title}
                    for v in options.exchanges.get(unit.product_id or 0, [])
                ],
            }
        )
    if not lines:
        return {"lines": [], "refused": refused} if refused else None
    policy = options.policy
    money = _money_of(order.presentment_currency or uow.shop.currency, locale)
    fees = []
    if policy.shipping_fee:
        fees.append(
            gettext("A return shipping fee of %(amount)s is taken off your refund.")
            % {"amount": money(order.presentment(policy.shipping_fee))}
        )
    if policy.restocking_fee_percentage:
        fees.append(
            gettext("A restocking fee of %(percentage)s%% is taken off the refund of each item.")
            % {"percentage": format_decimal(policy.restocking_fee_percentage, locale=locale)}
        )
    return {
        "lines": lines,
        "refused": refused,
        "reasons": [(r, gettext(RETURN_REASON_LABELS[r])) for r in self_service_rules.CUSTOMER_RETURN_REASONS],
        "exchanges": policy.allow_exchanges,
        "needs_approval": policy.need_approval,
        "fees": fees,
    }


def _app(request: Request) -> Orderdeck:
    return request.app.state.orderdeck  # type: ignore[no-any-return]


def _not_found(app: Orderdeck, request: Request) -> HTMLResponse:
    with app.unit_of_work(read_only=True) as uow:
        shop = uow.shop
    locale = _locale(request, None, shop.primary_locale)
    gettext = translations(locale).gettext
    return _page(
        "lookup.html",
        locale,
        status=404,
        shop_name=shop.name,
        message=gettext("This page does not exist. Check the link in your e-mail, or find your order with its number."),
        number="",
        contact="",
    )


def _order_of(app: Orderdeck, token: str) -> Order | None:
    if len(token) != 32:
        return None
    with app.unit_of_work(read_only=True) as uow:
        row = uow.conn.execute(select(orders.c.id, orders.c.token).where(orders.c.token == token)).first()
        order = uow.orders.get(row.id, for_update=False) if row is not None else None
    if order is None or not hmac.compare_digest(order.token.encode(), token.encode()):
        return None
    return order


def _self_service(uow: UnitOfWork, order: Order) -> dict[str, Any] | None:
    """The forms the customer may use now, or None."""
    settings = uow.shop.settings
    if self_service.refusal(settings, order, uow.now) is not None:
        return None
    address = order.shipping_address
    return {
        "reasons": list(settings.self_service_reasons),
        "until": order.processed_at + timedelta(minutes=settings.self_service_window_minutes),
        "address": {f: getattr(address, f) or "" for f in self_service.ADDRESS_FIELDS} if address else None,
    }


def _status(
    app: Orderdeck,
    request: Request,
    order: Order,
    message: str | None = None,
    status: int = 200,
    typed: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    edit_typed: dict[str, str] | None = None,
    edit_problems: dict[str, str] | None = None,
) -> Response:
    """The status page, made in one read transaction. `typed` and `problems`: a refused return
    request's input, shown again with each problem at its field; `edit_typed` and
    `edit_problems` the same for the "Change items" form."""
    with app.unit_of_work(read_only=True) as uow:
        locale = _locale(request, order.customer_locale, uow.shop.primary_locale)
        shown = view(app, uow, order, locale)
        actions = _self_service(uow, order)
        zone = app.render_context(uow).zone
        return_form = _return_form(uow, order, locale, zone, typed)
        edit_form = _edit_form(uow, order, locale, zone, edit_typed)
    gettext = translations(locale).gettext
    done = {
        "cancelled": gettext("Your order is cancelled. We have sent you a confirmation."),
        "address": gettext("Your shipping address is corrected."),
        "return_requested": gettext("We have your return request and will e-mail you when we have answered it."),
        "return_open": gettext("Your return is approved. We have e-mailed you how to send the items back."),
        "edited": gettext("Your order is changed. We have sent you a confirmation."),
    }.get(request.query_params.get("done", ""))
    if actions is not None:
        actions["until_text"] = format_datetime(actions["until"], "short", tzinfo=zone, locale=locale)
    reason_labels = {key: gettext(label) for key, label in REASON_LABELS.items()}
    return _page(
        "status.html",
        locale,
        status=status,
        **shown,
        actions=actions,
        message=message or done,
        request_path=f"/orders/status/{order.token}",
        reason_labels=reason_labels,
        return_form=return_form,
        problems=problems or {},
        edit_form=edit_form,
        edit_problems=edit_problems or {},
    )


@router.get("/orders/status/{token}", response_class=HTMLResponse)
def status_page(request: Request, token: str) -> Response:
    app = _app(request)
    order = _order_of(app, token)
    if order is None:
        return _not_found(app, request)
    return _status(app, request, order)


def _act(request: Request, token: str, work: Any, done: str) -> Response:
    app = _app(request)
    order = _order_of(app, token)
    if order is None:
        return _not_found(app, request)
    try:
        with app.unit_of_work() as uow:
            work(Command(app, uow, self_service.CUSTOMER), order.id)
            uow.commit()
    except OrderError as exc:
        locale = _locale(request, order.customer_locale, "en")
        gettext = translations(locale).gettext
        message = (
            gettext("Please fill in the street and the city.")
            if exc.field in ("address1", "city")
            else gettext("This order can no longer be changed here. Please contact us.")
        )
        return _status(app, request, _order_of(app, token) or order, message=message, status=422)
    lang = request.query_params.get("lang")
    suffix = f"&lang={lang}" if lang in dict(LANGUAGES) else ""
    return RedirectResponse(f"/orders/status/{token}?done={done}{suffix}", status_code=303)


@router.post("/orders/status/{token}/cancel", response_class=HTMLResponse)
def cancel_from_status_page(request: Request, token: str, reason: str = Form("")) -> Response:
    return _act(request, token, lambda cmd, oid: self_service.cancel(cmd, oid, reason), "cancelled")


@router.post("/orders/status/{token}/address", response_class=HTMLResponse)
def correct_address_from_status_page(
    request: Request,
    token: str,
    first_name: str = Form(""),
    last_name: str = Form(""),
    address1: str = Form(""),
    address2: str = Form(""),
    zip: str = Form(""),
    city: str = Form(""),
    phone: str = Form(""),
) -> Response:
    fields = {
        "first_name": first_name,
        "last_name": last_name,
        "address1": address1,
        "address2": address2,
        "zip": zip,
        "city": city,
        "phone": phone,
    }
    return _act(request, token, lambda cmd, oid: self_service.correct_address(cmd, oid, fields), "address")


def _customer_return_lines(form: dict[str, str]) -> tuple[list[self_service_rules.CustomerReturnLine], dict[str, str]]:
    """The return form's fields as lines, and what could not even be read (by field)."""
    found: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = RETURN_FIELD.fullmatch(key)
        if match is not None:
            found.setdefault(int(match.group(2)), {})[match.group(1)] = value.strip()
    lines, problems = [], {}
    for at, fields in list(found.items())[:MAX_RETURN_LINES]:
        quantity = fields.get("quantity", "0") or "0"
        exchange = fields.get("exchange", "")
        if not quantity.isascii() or not quantity.isdigit() or len(quantity) > 6:
            problems[f"quantity_{at}"] = "quantity"
            continue
        if exchange and (not exchange.isascii() or not exchange.isdigit() or len(exchange) > 19):
            problems[f"exchange_{at}"] = "exchange_unavailable"
            continue
        lines.append(
            self_service_rules.CustomerReturnLine(
                fulfillment_line_item_id=at,
                quantity=int(quantity),
                reason=fields.get("reason", ""),
                note=fields.get("note", ""),
                exchange_variant_id=int(exchange) if exchange else None,
            )
        )
    return lines, problems


@router.post("/orders/status/{token}/return", response_class=HTMLResponse)
async def request_return_from_status_page(request: Request, token: str) -> Response:
    form = await request.form()
    typed = {k: v for k, v in form.items() if isinstance(v, str) and RETURN_FIELD.fullmatch(k)}
    return await run_in_threadpool(_request_return, request, token, typed)


def _request_return(request: Request, token: str, typed: dict[str, str]) -> Response:
    """Ask to return items: on a refusal the page comes back (422) with what was typed and the
    reason at the field it concerns; nothing is changed."""
    app = _app(request)
    order = _order_of(app, token)
    if order is None:
        return _not_found(app, request)
    lines, unreadable = _customer_return_lines(typed)
    problems: dict[str, str] = dict(unreadable)
    ret = None
    if not problems:
        try:
            with app.unit_of_work() as uow:
                ret = self_service.request_return(Command(app, uow, self_service.CUSTOMER), order.id, lines)
                uow.commit()
        except OrderError as exc:
            # A unit the policy refuses is no longer in the form: its reason goes at the top.
            named = RETURN_FIELD.fullmatch(exc.field) and exc.code not in self_service_rules.UNIT_REFUSALS
            field = exc.field if named else "base"
            problems[field] = exc.code if exc.code in RETURN_REFUSALS else ""
    if ret is None:
        with app.unit_of_work(read_only=True) as uow:
            locale = _locale(request, order.customer_locale, uow.shop.primary_locale)
        gettext = translations(locale).gettext
        shown = {
            field: gettext(RETURN_REFUSALS[code]) if code else gettext(RETURN_CANNOT)
            for field, code in problems.items()
        }
        return _status(
            app,
            request,
            _order_of(app, token) or order,
            message=shown.get("base") or gettext("Please check the return form below."),
            status=422,
            typed=typed,
            problems=shown,
        )
    lang = request.query_params.get("lang")
    suffix = f"&lang={lang}" if lang in dict(LANGUAGES) else ""
    done = "return_requested" if ret.status == "requested" else "return_open"
    return RedirectResponse(f"/orders/status/{token}?done={done}{suffix}#returns", status_code=303)


# ---- changing the items (issue 14) -------------------------------------------------------------
# Why a change of items is refused, as the customer reads it (at the field, or at the top).
EDIT_REFUSALS = {
    "too_late": "The time to change your order has passed. Please contact us.",
    "fulfilled": "Your items are already on their way and can no longer be changed.",
    "cancelled": "This order was cancelled.",
    "line_fixed": "This item is already on its way and can no longer be changed.",
    "quantity": "Choose how many you want.",
    "no_more_units": "You can't add more of this item here. Please contact us.",
    "variant_unavailable": "This option is no longer available. Please choose another.",
    "insufficient_inventory": "There is not enough in stock for this choice. Please choose fewer or another option.",
    "raises_total": "This change would make your order cost more, which can't be done here. Please contact us.",
    "nothing_changed": "Change a quantity or choose another option first.",
    "changed_meanwhile": "Your order or a price changed since you reviewed your change. Please review it again.",
}
EDIT_CANNOT = "This order can no longer be changed here. Please contact us."
EDIT_FIELD = re.compile(r"(quantity|variant)_(\d{1,19})")
MAX_EDIT_LINES = 250  # lines one "Change items" form may name
REVIEWED = ("reviewed_total", "reviewed_version")  # what the review showed, sent back with the confirmation


def _edit_form(
    uow: UnitOfWork, order: Order, locale: str, zone: Any, typed: dict[str, str] | None
) -> dict[str, Any] | None:
    """The "Change items" form when the shop lets the customer change the items not yet on
    their way: each line's quantity, and another size or colour at the same price."""
    options = self_service.edit_options(uow, order)
    if options is None:
        return None
    typed = typed or {}
    lines = []
    for line in options.lines:
        at = line.line_item_id
        most = line.editable + (self_service_rules.MAX_EXTRA_UNITS if options.policy.may_raise_total else 0)
        lines.append(
            {
                "id": at,
                "title": line.name,
                "current": line.variant_title or line.title,
                "fixed": line.fixed,
                "counts": list(range(0, most + 1)),
                "quantity": typed.get(f"quantity_{at}", str(line.editable)),
                "variant": typed.get(f"variant_{at}", ""),
                "variants": [
                    {"id": v.id, "title": v.title if v.title != "Default Title" else v.product_title}
                    for v in options.switches.get(at, [])
                ],
            }
        )
    window = timedelta(minutes=uow.shop.settings.self_service_window_minutes)
    return {
        "lines": lines,
        "may_raise": options.policy.may_raise_total,
        "until": format_datetime(order.processed_at + window, "short", tzinfo=zone, locale=locale),
    }


def _edit_choices(form: dict[str, str]) -> tuple[list[self_service_rules.EditChoice], dict[str, str]]:
    """The form's fields as choices, and what could not even be read (by field)."""
    found: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = EDIT_FIELD.fullmatch(key)
        if match is not None:
            found.setdefault(int(match.group(2)), {})[match.group(1)] = value.strip()
    choices, problems = [], {}
    for at, fields in list(found.items())[:MAX_EDIT_LINES]:
        quantity, variant = fields.get("quantity", ""), fields.get("variant", "")
        if not quantity.isascii() or not quantity.isdigit() or len(quantity) > 6:
            problems[f"quantity_{at}"] = "quantity"
            continue
        if variant and (not variant.isascii() or not variant.isdigit() or len(variant) > 19):
            problems[f"variant_{at}"] = "variant_unavailable"
            continue
        choices.append(self_service_rules.EditChoice(at, int(quantity), int(variant) if variant else None))
    return choices, problems


async def _edit_form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and (EDIT_FIELD.fullmatch(k) or k in REVIEWED)}


def _edit_refused(
    app: Orderdeck, request: Request, token: str, order: Order, typed: dict[str, str], problems: dict[str, str]
) -> Response:
    """The status page again (422) with what was chosen and each problem at its field; a problem
    of a line the form no longer offers (it shipped meanwhile) goes at the top."""
    order = _order_of(app, token) or order
    with app.unit_of_work(read_only=True) as uow:
        locale = _locale(request, order.customer_locale, uow.shop.primary_locale)
        options = self_service.edit_options(uow, order)
    offered = {str(line.line_item_id) for line in options.lines} if options else set()
    gettext = translations(locale).gettext
    shown = {}
    for field, code in problems.items():
        words = gettext(EDIT_REFUSALS[code]) if code in EDIT_REFUSALS else gettext(EDIT_CANNOT)
        match = EDIT_FIELD.fullmatch(field)
        shown[field if match is not None and match.group(2) in offered else "base"] = words
    return _status(
        app,
        request,
        order,
        message=shown.get("base") or gettext("Please check your change below."),
        status=422,
        edit_typed=typed,
        edit_problems=shown,
    )


def _refusal_field(exc: OrderError) -> str:
    return exc.field if EDIT_FIELD.fullmatch(exc.field) else "base"


@router.post("/orders/status/{token}/edit/review", response_class=HTMLResponse)
async def review_edit_from_status_page(request: Request, token: str) -> Response:
    typed = await _edit_form_fields(request)
    return await run_in_threadpool(_review_edit, request, token, typed)


def _review_edit(request: Request, token: str, typed: dict[str, str]) -> Response:
    """The "review your change" page: the order as the customer's choices would leave it, worked out in a
    transaction that is rolled back (nothing is kept until they confirm)."""
    app = _app(request)
    order = _order_of(app, token)
    if order is None:
        return _not_found(app, request)
    choices, problems = _edit_choices(typed)
    if problems:
        return _edit_refused(app, request, token, order, typed, problems)
    try:
        with app.unit_of_work() as uow:
            cmd = Command(app, uow, self_service.CUSTOMER)
            calculated = self_service.preview_edit(cmd, order.id, choices)
            locale = _locale(request, order.customer_locale, uow.shop.primary_locale)
            review = _review(uow, calculated, choices, locale)
            shop_name = uow.shop.name
            uow.rollback()
    except OrderError as exc:
        return _edit_refused(app, request, token, order, typed, {_refusal_field(exc): exc.code})
    fields = {k: v for k, v in typed.items() if EDIT_FIELD.fullmatch(k)}
    return _page(
        "status_edit_review.html",
        locale,
        shop_name=shop_name,
        order={"name": order.name},
        review=review,
        fields=fields,
        request_path=f"/orders/status/{order.token}",
    )


def _review(
    uow: UnitOfWork, calculated: Any, choices: list[self_service_rules.EditChoice], locale: str
) -> dict[str, Any]:
    """The change in the customer's words: each line's old and new quantity or variant, the
    totals before and after, and what is left to pay or comes back."""
    original, edited = calculated.original, calculated.edited
    money = _money_of(original.presentment_currency or uow.shop.currency, locale)
    variants = uow.catalog.variants_by_id({c.variant_id for c in choices if c.variant_id is not None})
    lines = {line.line_item_id: line for line in self_service_rules.editable_lines(original)}
    changes = []
    for choice in choices:
        line = lines.get(choice.line_item_id)
        if line is None:
            continue
        if choice.variant_id is not None and choice.variant_id != line.variant_id:
            if line.fixed:
                changes.append({"kind": "quantity", "title": line.name, "old": line.quantity, "new": line.fixed})
            changes.append(
                {
                    "kind": "switch",
                    "title": line.name,
                    "to": _variant_name(variants.get(choice.variant_id)),
                    "old": line.editable,
                    "new": choice.quantity,
                }
            )
        elif line.fixed + choice.quantity != line.quantity:
            new = line.fixed + choice.quantity
            changes.append(
                {"kind": "removed" if new == 0 else "quantity", "title": line.name, "old": line.quantity, "new": new}
            )
    after = balance(edited)
    return {
        "changes": changes,
        "total_before": money(original.presentment(original.total_price)),
        "total_after": money(edited.presentment(edited.total_price)),
        "reviewed_total": f"{edited.presentment(edited.total_price):.2f}",
        "reviewed_version": original.version,
        "due": money(after) if after > 0 else None,
        "refund": money(-after) if after < 0 else None,
    }


@router.post("/orders/status/{token}/edit", response_class=HTMLResponse)
async def edit_from_status_page(request: Request, token: str) -> Response:
    typed = await _edit_form_fields(request)
    return await run_in_threadpool(_confirm_edit, request, token, typed)


def _confirm_edit(request: Request, token: str, typed: dict[str, str]) -> Response:
    """Make the reviewed change: committed as the customer with the "order edited" e-mail; on a
    refusal the page comes back (422) with the reason, nothing changed."""
    app = _app(request)
    order = _order_of(app, token)
    if order is None:
        return _not_found(app, request)
    reviewed_total = typed.pop("reviewed_total", "")
    version = typed.pop("reviewed_version", "")
    reviewed_version = int(version) if version.isascii() and version.isdigit() and len(version) < 19 else None
    choices, problems = _edit_choices(typed)
    if problems:
        return _edit_refused(app, request, token, order, typed, problems)
    try:
        with app.unit_of_work() as uow:
            self_service.edit_items(
                Command(app, uow, self_service.CUSTOMER),
                order.id,
                choices,
                reviewed_total=reviewed_total,
                reviewed_version=reviewed_version,
            )
            uow.commit()
    except OrderError as exc:
        return _edit_refused(app, request, token, order, typed, {_refusal_field(exc): exc.code})
    lang = request.query_params.get("lang")
    suffix = f"&lang={lang}" if lang in dict(LANGUAGES) else ""
    return RedirectResponse(f"/orders/status/{token}?done=edited{suffix}", status_code=303)


@router.get("/orders/lookup", response_class=HTMLResponse)
def lookup_form(request: Request) -> Response:
    app = _app(request)
    with app.unit_of_work(read_only=True) as uow:
        shop = uow.shop
    locale = _locale(request, None, shop.primary_locale)
    return _page("lookup.html", locale, shop_name=shop.name, message=None, number="", contact="")


def _digits(value: str) -> str:
    """The digits in `value`, as ASCII: 1299 in Arabic-Indic or full-width digits is 1299 too."""
    return "".join(str(unicodedata.decimal(c)) for c in value if c.isdecimal())


PHONE_DIGITS = 9  # a phone number matches on its last nine digits (docs/customer-pages.md)
MAX_ORDER_NUMBER = 2**31 - 1  # orders.number is an INTEGER: a larger number is no order


def order_number(text: str, prefix: str) -> str:
    """The order number a customer typed, as one key however it was written: without the shop's
    order-name prefix or a `#`, spaces or leading zeros (`#1299`, `ODK-1299`, `00001299` are all
    `1299`), so each way of writing it counts against the same attempts."""
    value = text.strip()
    for known in (prefix.strip(), "#"):
        if known and value.lower().startswith(known.lower()):
            value = value[len(known) :].strip()
    return _digits(value).lstrip("0")[:18]


def _phone_matches(stored: str | None, entered: str) -> bool:
    """The last nine digits of both (all of a stored number that has fewer, but at least six)."""
    have = _digits(stored or "")
    need = min(PHONE_DIGITS, len(have))
    if need < 6 or len(entered) < need:
        return False
    return hmac.compare_digest(have[-need:].encode(), entered[-need:].encode())


def _matches(order: Order, contact: str) -> bool:
    contact = contact.strip()
    if "@" in contact:
        return bool(order.email) and hmac.compare_digest(order.email.strip().lower().encode(), contact.lower().encode())
    digits = _digits(contact)
    phones = [order.phone, order.shipping_address.phone if order.shipping_address else None]
    return any(_phone_matches(p, digits) for p in phones)


@router.post("/orders/lookup", response_class=HTMLResponse)
def lookup(request: Request, number: str = Form(""), contact: str = Form(""), send: str = Form("")) -> Response:
    app = _app(request)
    client = request.client.host if request.client else "unknown"
    with app.unit_of_work() as uow:
        shop = uow.shop
        wanted = order_number(number, shop.settings.order_name_prefix)
        locale = _locale(request, None, shop.primary_locale)
        gettext = translations(locale).gettext
        since = uow.now - ATTEMPT_WINDOW
        attempts = Attempts(uow.conn)
        attempts.forget_before(since)
        by_client = attempts.count(f"client:{client}", since)
        by_order = attempts.count(f"order:{wanted}", since)
        if by_client >= ATTEMPTS_PER_CLIENT or by_order >= ATTEMPTS_PER_ORDER:
            uow.commit()
            return _page(
                "lookup.html",
                locale,
                status=429,
                shop_name=shop.name,
                message=gettext("Too many attempts. Please wait a few minutes and try again."),
                number=number,
                contact=contact,
            )
        attempts.record(f"client:{client}", uow.now)
        found = None
        if wanted and int(wanted) <= MAX_ORDER_NUMBER:
            row = uow.conn.execute(select(orders.c.id).where(orders.c.number == int(wanted))).first()
            if row is not None:
                candidate = uow.orders.get(row.id, for_update=False)
                if _matches(candidate, contact):
                    found = candidate
        if found is None:
            attempts.record(f"order:{wanted}", uow.now)
        elif send == "email":
            queue(Command(app, uow, self_service.CUSTOMER), found.id, "order_lookup")
        uow.commit()
    if send == "email":
        # The same answer whether or not anything matched: the link goes only to the order's address.
        return _page(
            "lookup.html",
            locale,
            shop_name=shop.name,
            message=gettext("If these details match an order, we have sent the link to its e-mail address."),
            number="",
            contact="",
        )
    if found is not None:
        return RedirectResponse(f"/orders/status/{found.token}?lang={locale}", status_code=303)
    return _page(
        "lookup.html",
        locale,
        status=200,
        shop_name=shop.name,
        message=gettext(
            "We could not find an order with these details. Check the order number and the e-mail address or "
            "phone number, and try again."
        ),
        number=number,
        contact=contact,
    )
