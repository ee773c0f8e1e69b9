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
import unicodedata
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from ..domain.errors import OrderError
from ..domain.order import Order
from ..domain.statuses import ledger
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
    return {
        "shop_name": shop.name,
        "order": {"name": order.name},
        "placed": format_date(placed.astimezone(ctx.zone), "long", locale=locale),
        "steps": steps,
        "stage": stage,
        "ended": ended,
        "shipments": shipments,
        "items": [
            {
                "title": li["title"],
                "variant_title": li["variant_title"],
                "quantity": li["quantity"],
                "line_price": money(li["line_price"]),
            }
            for li in values["line_items"]
        ],
        "totals": {
            "subtotal": money(values["subtotal_price"]),
            "shipping": money(values["shipping_price"]),
            "tax": money(values["total_tax"]) if float(values["total_tax"] or 0) else None,
            "total": money(values["total_price"]),
        },
        "shipping_address": _address_lines(values["shipping_address"]),
        "billing_address": _address_lines(values["billing_address"]),
        # Only the note the customer wrote at checkout, as they wrote it (services/order_note.py).
        "note": order.note if customer_sees_note(uow.conn, order) else None,
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


def _status(app: Orderdeck, request: Request, order: Order, message: str | None = None, status: int = 200) -> Response:
    """The status page, made in one read transaction."""
    with app.unit_of_work(read_only=True) as uow:
        locale = _locale(request, order.customer_locale, uow.shop.primary_locale)
        shown = view(app, uow, order, locale)
        actions = _self_service(uow, order)
        zone = app.render_context(uow).zone
    gettext = translations(locale).gettext
    done = {
        "cancelled": gettext("Your order is cancelled. We have sent you a confirmation."),
        "address": gettext("Your shipping address is corrected."),
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
