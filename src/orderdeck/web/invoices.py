"""A draft order's invoice page (/invoices/<token>): what the invoice e-mail links to, the
draft's `invoice_url`. It shows what the customer is asked to pay and how to reach the shop;
Orderdeck takes no payment itself (no checkout), staff complete the draft once paid. A
completed draft's page says so and links to the order's status page."""

from __future__ import annotations

from typing import Any

from babel.numbers import format_currency
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ..domain import draft_orders as rules
from ..domain.errors import NotFound
from ..store.draft_orders import DraftOrders
from .status import _app, _locale, _not_found, _page

router = APIRouter(include_in_schema=False)


@router.get("/invoices/{token}", response_class=HTMLResponse)
def invoice_page(request: Request, token: str) -> Response:
    app = _app(request)
    if not (len(token) == 32 and all(c in "0123456789abcdef" for c in token)):
        return _not_found(app, request)
    with app.unit_of_work(read_only=True) as uow:
        draft_id = DraftOrders(uow.conn).id_of_token(token)
        if draft_id is None:
            return _not_found(app, request)
        try:
            draft = DraftOrders(uow.conn).get(draft_id, for_update=False)
        except NotFound:
            return _not_found(app, request)
        status_url = None
        if draft.order_id is not None:
            try:
                order = uow.orders.get(draft.order_id, for_update=False)
                status_url = f"{app.settings.public_url.rstrip('/')}/orders/status/{order.token}"
            except NotFound:
                status_url = None  # the order was deleted since
        shop = uow.shop
    locale = _locale(request, draft.customer_locale, shop.primary_locale)

    def money(value: Any) -> str:
        return str(format_currency(float(value), draft.currency, locale=locale))

    t = rules.totals(draft)
    lines = [
        {
            "title": li.title,
            "variant_title": li.variant_title,
            "quantity": li.quantity,
            "line_price": money(li.price * li.quantity - rules.line_discount(li, draft.currency)),
        }
        for li in draft.line_items
    ]
    return _page(
        "invoice.html",
        locale,
        shop_name=shop.name,
        shop_email=shop.email,
        payment_instructions=shop.settings.payment_instructions.strip() or None,
        draft_name=draft.name,
        completed=draft.status == "completed",
        status_url=status_url,
        lines=lines,
        discounts=money(t.total_discounts) if t.total_discounts else None,
        shipping=money(t.shipping_price) if draft.shipping_line else None,
        tax=money(t.total_tax) if t.total_tax else None,
        total=money(t.total_price),
        note=draft.note,
    )
