"""Rendering admin pages: the Jinja2 environment, the values every page has, and the formats
(money, dates, status badges) used the same way everywhere."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_currency
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from ...domain.cancellation import CANCEL_REASONS
from ...store.queries import open_orders_badge
from .access import CSRF_FIELD, Admin

# One colour per status value, everywhere a status appears (lists, order page, reports).
# tone: "attention" (the merchant has work to do), "progress", "done", "ended", "neutral".
BADGE_TONES = {
    # order status
    "open": "neutral",
    "closed": "ended",
    "archived": "ended",
    "cancelled": "ended",
    # payment (financial_status)
    "pending": "attention",
    "authorized": "attention",
    "partially_paid": "attention",
    "paid": "done",
    "partially_refunded": "progress",
    "refunded": "ended",
    "voided": "ended",
    "expired": "attention",
    # fulfillment
    "unfulfilled": "attention",
    "partial": "progress",
    "partially_fulfilled": "progress",
    "fulfilled": "done",
    "restocked": "ended",
    "on_hold": "attention",
    "scheduled": "progress",
    "in_progress": "progress",
    # returns
    "return_requested": "attention",
    "return_failed": "attention",
    "returned": "done",
    "inspection_complete": "attention",  # received: a refund or close is still due
    "no_return": "neutral",
    # webhook deliveries, automation runs, and whether a subscription or rule is on
    "delivered": "done",
    "failed": "attention",
    "done": "done",
    "skipped": "neutral",
    "enabled": "done",
    "disabled": "ended",
}
BADGE_LABELS = {
    "partially_paid": "Partially paid",
    "partially_refunded": "Partially refunded",
    "closed": "Archived",
    "return_requested": "Return requested",
    "return_failed": "Return failed",
}

# An address's fields and their labels, the same on the new-order form and an order's address
# forms (each field named `<prefix>_<name>` or plain `<name>`).
# Why an order was cancelled, in the words the cancel dialog and the bulk cancel both offer.
CANCEL_REASON_WORDS = {
    "customer": "The customer changed or cancelled the order",
    "inventory": "Items unavailable",
    "fraud": "Fraudulent order",
    "declined": "Payment declined",
    "staff": "Staff error",
    "other": "Other",
}
assert set(CANCEL_REASON_WORDS) == set(CANCEL_REASONS)

ADDRESS_FIELDS = (
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("company", "Company"),
    ("address1", "Address"),
    ("address2", "Apartment, suite, etc."),
    ("zip", "Postal code"),
    ("city", "City"),
    ("province", "Province or state"),
    ("country", "Country"),
    ("country_code", "Country code"),
    ("phone", "Phone"),
)


def badge(value: str | None, dimension: str = "") -> Markup:
    if not value:
        return Markup("")
    tone = BADGE_TONES.get(value, "neutral")
    label = BADGE_LABELS.get(value, value.replace("_", " ").capitalize())
    title = f"{dimension}: {label}" if dimension else label
    return Markup('<span class="badge badge-{}" title="{}">{}</span>').format(tone, title, label)


def custom_badge(name: str | None, color: str | None) -> Markup:
    if not name:
        return Markup("")
    return Markup('<span class="badge badge-custom" style="--stage:{}" title="Stage: {}">{}</span>').format(
        color or "#52525b", name, name
    )


def money(amount: object, currency: str | None) -> str:
    if amount is None or amount == "":
        return ""
    return str(format_currency(Decimal(str(amount)), currency or "EUR", locale="en"))


def when(value: datetime | str | None, timezone: str = "UTC", *, short: bool = False) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    pattern = "d MMM yyyy" if short else "d MMM yyyy, HH:mm"
    return str(format_datetime(moment, pattern, tzinfo=ZoneInfo(timezone), locale="en"))


def csrf_input(admin: Admin) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(admin.csrf_token))


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("orderdeck.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(badge=badge, custom_badge=custom_badge)
    env.filters.update(money=money, when=when)
    return env


def render(admin: Admin, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """An admin page: the template with the staff member, the open-orders count (S2.2), the shop,
    the CSRF field and the one-time message."""
    with admin.app.unit_of_work(read_only=True) as uow:
        open_count = open_orders_badge(uow.conn)
        shop = uow.shop
    html = (
        environment()
        .get_template(f"admin/{template}")
        .render(
            admin=admin,
            staff=admin.staff,
            shop=shop,
            open_orders=open_count,
            csrf=csrf_input(admin),
            csrf_token=admin.csrf_token,
            flash=admin.flash,
            path=admin.request.url.path,
            **values,
        )
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def render_public(template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """A page shown without a session (sign-in, refusals)."""
    html = environment().get_template(f"admin/{template}").render(admin=None, **values)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}
