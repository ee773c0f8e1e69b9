"""Draft orders, Shopify REST 2024-10 `draft_orders.json`: prepare an order, send the customer
an invoice e-mail, complete it into an ordinary order. Every write is one command through
services/draft_orders.py (the admin's path too), run by `run_command`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from ..domain.draft_orders import STATUSES, AppliedDiscount
from ..domain.errors import InvalidInput
from ..domain.order import NoteAttribute
from ..services import draft_orders as commands
from ..services.context import Command
from ..store.access import ApiToken
from ..store.draft_orders import DraftFilter, DraftOrders
from . import convert
from . import draft_orders_models as m
from .auth import require
from .errors import ApiError
from .responses import app_of, json, link_header, only_fields, run_command

router = APIRouter(tags=["draft_orders"])
# A token made for orders reaches drafts too (a draft becomes one of its orders), as for returns;
# read_draft_orders/write_draft_orders give an app drafts alone.
read = require("read_draft_orders", "read_orders")
write = require("write_draft_orders", "write_orders")
LIMIT = Annotated[int, Query(ge=1, le=250)]
BAD_PAGE_INFO = "Invalid value: page_info is the value the Link header gave"


def _filter(
    ids: str | None, status: str | None, since_id: int, updated_at_min: datetime | None, updated_at_max: datetime | None
) -> DraftFilter:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"{status!r} is not one of {', '.join(STATUSES)}", field="status")
    wanted: tuple[int, ...] | None = None
    if ids is not None:
        parts = [p.strip() for p in ids.split(",") if p.strip()]
        if not parts or not all(p.isdecimal() and 0 < int(p) < 2**63 for p in parts) or len(parts) > 250:
            raise InvalidInput("ids must be up to 250 draft order ids separated by commas", field="ids")
        wanted = tuple(int(p) for p in parts)
    if since_id < 0 or since_id >= 2**63:
        raise InvalidInput("since_id must be a draft order id", field="since_id")
    return DraftFilter(
        ids=wanted, status=status, since_id=since_id, updated_at_min=updated_at_min, updated_at_max=updated_at_max
    )


@router.get("/draft_orders.json", summary="List draft orders")
def list_draft_orders(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    ids: str | None = None,
    status: str | None = None,
    since_id: int = 0,
    updated_at_min: datetime | None = None,
    updated_at_max: datetime | None = None,
    limit: LIMIT = 50,
    page_info: str | None = None,
    fields: str | None = None,
) -> Response:
    """Oldest first. The `Link` header's `page_info` continues after the last draft of the page,
    with the same filters."""
    if page_info is not None and not (page_info.isdecimal() and int(page_info) < 2**63):
        raise ApiError(400, {"page_info": [BAD_PAGE_INFO]})
    f = _filter(ids, status, since_id, updated_at_min, updated_at_max)
    if page_info:
        f = DraftFilter(f.ids, f.status, max(f.since_id, int(page_info)), f.updated_at_min, f.updated_at_max)
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        found = DraftOrders(uow.conn).page(f, limit + 1)
        ctx = app.render_context(uow)
    page, more = found[:limit], len(found) > limit
    keep = {
        "ids": ids,
        "status": status,
        "since_id": str(since_id) if since_id else None,
        "updated_at_min": request.query_params.get("updated_at_min"),
        "updated_at_max": request.query_params.get("updated_at_max"),
    }
    headers = link_header(request, limit, str(page[-1].id) if more else None, None, fields, keep=keep)
    return json({"draft_orders": [only_fields(commands.render(d, ctx), fields) for d in page]}, headers=headers)


@router.get("/draft_orders/count.json", summary="Count draft orders")
def count_draft_orders(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    ids: str | None = None,
    status: str | None = None,
    since_id: int = 0,
    updated_at_min: datetime | None = None,
    updated_at_max: datetime | None = None,
) -> Response:
    f = _filter(ids, status, since_id, updated_at_min, updated_at_max)
    with app_of(request).unit_of_work(read_only=True) as uow:
        return json({"count": DraftOrders(uow.conn).count(f)})


@router.get("/draft_orders/{draft_order_id}.json", summary="One draft order")
def get_draft_order(
    request: Request, draft_order_id: int, token: Annotated[ApiToken, Depends(read)], fields: str | None = None
) -> Response:
    draft, ctx = commands.load(app_of(request), draft_order_id)
    return json({"draft_order": only_fields(commands.render(draft, ctx), fields)})


def changes(data: m.DraftOrderIn) -> commands.DraftChanges:
    """The fields the body sent, as the service's changes (left out: unchanged)."""
    sent = data.model_fields_set
    ch = commands.DraftChanges()
    if "line_items" in sent:
        ch.line_items = [
            commands.LineIn(
                quantity=li.quantity,
                variant_id=li.variant_id,
                title=li.title,
                price=None if li.price is None else str(li.price),
                taxable=li.taxable,
                requires_shipping=li.requires_shipping,
                sku=li.sku,
                grams=li.grams,
                properties=[NoteAttribute(p.name, p.value) for p in li.properties],
                applied_discount=_discount(li.applied_discount),
            )
            for li in data.line_items or []
        ]
    if "email" in sent:
        ch.email = data.email
    if "customer" in sent:
        ch.customer_id = data.customer.id if data.customer else None
    if "customer_locale" in sent:
        ch.customer_locale = data.customer_locale
    if "billing_address" in sent:
        ch.billing_address = convert.address(data.billing_address)
    if "shipping_address" in sent:
        ch.shipping_address = convert.address(data.shipping_address)
    if "note" in sent:
        ch.note = data.note
    if "note_attributes" in sent:
        ch.note_attributes = [NoteAttribute(a.name, a.value) for a in data.note_attributes or []]
    if "tags" in sent:
        ch.tags = data.tags
    if "tax_exempt" in sent:
        ch.tax_exempt = bool(data.tax_exempt)
    if "taxes_included" in sent:
        ch.taxes_included = bool(data.taxes_included)
    if "tax_lines" in sent:
        ch.tax_lines = convert.tax_lines(data.tax_lines or [])
    if "applied_discount" in sent:
        ch.applied_discount = _discount(data.applied_discount)
    if "shipping_line" in sent:
        s = data.shipping_line
        ch.shipping_line = commands.ShippingIn(s.title, str(s.price), s.handle) if s else None
    if "currency" in sent:
        ch.currency = data.currency
    return ch


def _discount(d: m.AppliedDiscountIn | None) -> Any:
    if d is None:
        return None
    return AppliedDiscount(value=d.value, value_type=d.value_type, title=d.title, description=d.description)


def _answer(cmd: Command, draft: Any) -> dict[str, Any]:
    return {"draft_order": commands.render(draft, cmd.app.render_context(cmd.uow))}


@router.post("/draft_orders.json", status_code=201, summary="Create a draft order")
def create_draft_order(
    request: Request, body: m.DraftOrderEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Line items name a `variant_id` (title, price, SKU from the catalogue; `price` overrides)
    or are custom (`title` and `price`). No stock is reserved until the draft is completed."""

    def work(cmd: Command) -> dict[str, Any]:
        return _answer(cmd, commands.create(cmd, changes(body.draft_order), source_name=token.name[:255] or "api"))

    return run_command(request, token, body, work, status=201)


@router.put("/draft_orders/{draft_order_id}.json", summary="Change a draft order")
def update_draft_order(
    request: Request, draft_order_id: int, body: m.DraftOrderUpdateEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Fields left out stay as they are; `line_items`, when sent, replace the draft's lines. The
    whole draft may be sent back as `GET` gave it (Shopify's clients save so): keys a draft can't
    take (its name, status, totals, a line's `id`) are ignored."""

    def work(cmd: Command) -> dict[str, Any]:
        return _answer(cmd, commands.update(cmd, draft_order_id, changes(body.draft_order)))

    return run_command(request, token, body, work)


@router.delete("/draft_orders/{draft_order_id}.json", summary="Delete a draft order")
def delete_draft_order(request: Request, draft_order_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    """A completed draft is refused (422), as Shopify does: it is the record of its order."""

    def work(cmd: Command) -> dict[str, Any]:
        commands.delete(cmd, draft_order_id)
        return {}

    return run_command(request, token, None, work)


@router.put("/draft_orders/{draft_order_id}/complete.json", summary="Complete a draft order into an order")
def complete_draft_order(
    request: Request,
    draft_order_id: int,
    token: Annotated[ApiToken, Depends(write)],
    payment_pending: bool = False,
) -> Response:
    """Places the order (source_name `shopify_draft_order`, stock reserved under each product's
    oversell policy) and marks it paid with a manual sale; with `payment_pending=true` it is
    placed with payment pending and no transaction."""

    def work(cmd: Command) -> dict[str, Any]:
        return _answer(cmd, commands.complete(cmd, draft_order_id, payment_pending=payment_pending))

    return run_command(request, token, None, work)


@router.post("/draft_orders/{draft_order_id}/send_invoice.json", summary="Send the draft's invoice e-mail")
def send_invoice(
    request: Request,
    draft_order_id: int,
    token: Annotated[ApiToken, Depends(write)],
    body: Annotated[m.DraftOrderInvoiceEnvelope | None, Body()] = None,
) -> Response:
    """`to` defaults to the draft's e-mail; the e-mail (template `draft_order_invoice`, in the
    customer's language) links to the draft's `invoice_url`. The draft becomes `invoice_sent`."""
    data = body.draft_order_invoice if body else m.DraftOrderInvoiceIn()

    def work(cmd: Command) -> dict[str, Any]:
        invoice = commands.Invoice(to=data.to, subject=data.subject, custom_message=data.custom_message)
        _, echoed = commands.send_invoice(cmd, draft_order_id, invoice)
        return {"draft_order_invoice": echoed}

    return run_command(request, token, body, work)
