"""Orders: list, count, get, create, update, archive, unarchive, cancel, delete, export, bulk."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from ..domain.cancellation import CancelRequest, RestockChoice
from ..domain.errors import InvalidInput
from ..resources import render
from ..services import cancellation, orders, payments
from ..services.context import Command
from ..services.pagination import page_info_key
from ..store.access import ApiToken
from ..store.codec import BadDocument, decode_order
from ..store.queries import (
    Cursor,
    OrderFilter,
    StoredOrder,
    count_orders,
    export_csv,
    list_orders,
    open_orders_badge,
    parse_sort,
)
from . import convert, schemas
from .auth import require
from .errors import ApiError, validation_errors
from .responses import app_of, json, link_header, only_fields, run_command

log = logging.getLogger(__name__)
router = APIRouter(tags=["orders"])
read = require("read_orders")
write = require("write_orders")

# Keys of the order resource that are read-only after placement: a client saving a whole
# order sends them back unchanged, and they are ignored rather than refused.
READ_ONLY_KEYS = frozenset(
    {
        "id",
        "admin_graphql_api_id",
        "app_id",
        "browser_ip",
        "cancel_reason",
        "cancelled_at",
        "cart_token",
        "checkout_id",
        "custom_status",  # Orderdeck's: set through orders/{id}/custom_status.json
        "checkout_token",
        "client_details",
        "closed_at",
        "company",
        "confirmation_number",
        "confirmed",
        "contact_email",
        "created_at",
        "currency",
        "current_subtotal_price",
        "current_subtotal_price_set",
        "current_total_additional_fees_set",
        "current_total_discounts",
        "current_total_discounts_set",
        "current_total_duties_set",
        "current_total_price",
        "current_total_price_set",
        "current_total_tax",
        "current_total_tax_set",
        "device_id",
        "discount_codes",
        "estimated_taxes",
        "financial_status",
        "fulfillment_status",
        "landing_site",
        "landing_site_ref",
        "location_id",
        "merchant_business_entity_id",
        "merchant_of_record_app_id",
        "name",
        "number",
        "order_number",
        "order_status_url",
        "original_total_additional_fees_set",
        "original_total_duties_set",
        "payment_gateway_names",
        "po_number",
        "presentment_currency",
        "processed_at",
        "reference",
        "referring_site",
        "source_identifier",
        "source_name",
        "source_url",
        "subtotal_price",
        "subtotal_price_set",
        "tax_exempt",
        "tax_lines",
        "taxes_included",
        "test",
        "token",
        "total_discounts",
        "total_discounts_set",
        "total_line_items_price",
        "total_line_items_price_set",
        "total_outstanding",
        "total_price",
        "total_price_set",
        "total_shipping_price_set",
        "total_tax",
        "total_tax_set",
        "total_tip_received",
        "total_weight",
        "updated_at",
        "user_id",
        "customer",
        "discount_applications",
        "fulfillments",
        "line_items",
        "payment_terms",
        "refunds",
        "returns",
        "shipping_lines",
        "display_financial_status",
        "display_fulfillment_status",
        "return_status",
        "shipping_refunded",
        "stuck",
        "metafields",
        "order_id",
    }
)
LIMIT = Annotated[int, Query(ge=1, le=250)]


def _filter(request: Request, **values: Any) -> OrderFilter:
    params = request.query_params
    tags = [t for raw in params.getlist("tag") for t in raw.split(",") if t.strip()]
    tags_not = [t for raw in params.getlist("tag_not") for t in raw.split(",") if t.strip()]
    ids = []
    for raw in params.getlist("ids"):
        for part in raw.split(","):
            if part.strip():
                if not part.strip().isdecimal():
                    raise InvalidInput(f"{part!r} is not an order id", field="ids")
                ids.append(int(part))
    return OrderFilter(tag=tags, tag_not=tags_not, ids=ids, **values)


def _orders_body(stored: list[StoredOrder], ctx: render.RenderContext, fields: str | None) -> bytes:
    """`{"orders": [...]}` from the stored renderings where they fit (made with the same render
    settings), rendering afresh only where they don't."""
    parts = (_rendered(row, ctx, fields) for row in stored)
    return b'{"orders":[' + b",".join(part for part in parts if part is not None) + b"]}"


def _rendered(row: StoredOrder, ctx: render.RenderContext, fields: str | None) -> bytes | None:
    if row.rendered is not None and row.rendered_for == ctx.fingerprint:
        if fields is None:
            return row.rendered.encode()
        return orjson.dumps(only_fields(orjson.loads(row.rendered), fields))
    assert row.document is not None  # read whenever the stored rendering does not serve
    try:
        order = decode_order(row.document)
    except BadDocument as exc:
        # One unreadable order must not break the list: it is left out and logged.
        log.error("order list: an order left out (%s); run `orderdeck repair-orders`", exc.message)
        return None
    return orjson.dumps(only_fields(render.order(order, ctx), fields))


FILTER_PARAMS = (
    "status",
    "financial_status",
    "fulfillment_status",
    "since_id",
    "created_at_min",
    "created_at_max",
    "updated_at_min",
    "updated_at_max",
    "processed_at_min",
    "processed_at_max",
    "tag",
    "tag_not",
    "source_name",
    "location_id",
    "customer_id",
    "email",
    "name",
    "q",
    "ids",
    "order",
    "test",
    "custom_status",
    "return_status",
    "shipment_status",
    "stuck",
)


class FilterParams:
    """The list filters, shared by the list, the count and the CSV export so they always agree."""

    def __init__(
        self,
        request: Request,
        status: str = "open",
        financial_status: str = "any",
        fulfillment_status: str = "any",
        since_id: int | None = None,
        created_at_min: datetime | None = None,
        created_at_max: datetime | None = None,
        updated_at_min: datetime | None = None,
        updated_at_max: datetime | None = None,
        processed_at_min: datetime | None = None,
        processed_at_max: datetime | None = None,
        tag: Annotated[list[str] | None, Query()] = None,
        tag_not: Annotated[list[str] | None, Query()] = None,
        source_name: str | None = None,
        location_id: int | None = None,
        customer_id: int | None = None,
        email: str | None = None,
        name: str | None = None,
        q: str | None = None,
        ids: str | None = None,
        test: bool | None = None,
        custom_status: str | None = None,
        return_status: str = "any",
        shipment_status: Annotated[str | None, Query(max_length=40)] = None,
        stuck: Annotated[str | None, Query(max_length=40)] = None,
    ) -> None:
        self.filter = _filter(
            request,
            status=status,
            financial_status=financial_status,
            fulfillment_status=fulfillment_status,
            since_id=since_id,
            created_at_min=created_at_min,
            created_at_max=created_at_max,
            updated_at_min=updated_at_min,
            updated_at_max=updated_at_max,
            processed_at_min=processed_at_min,
            processed_at_max=processed_at_max,
            source_name=source_name,
            location_id=location_id,
            customer_id=customer_id,
            email=email,
            name=name,
            q=q,
            test=test,
            custom_status=custom_status,
            return_status=return_status,
            shipment_status=shipment_status or None,
            stuck=stuck or None,
        )


Filters = Annotated[FilterParams, Depends()]


@router.get("/orders.json", summary="List orders (cursor-paginated)")
def list_(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    filters: Filters,
    limit: LIMIT = 50,
    page_info: str | None = None,
    fields: str | None = None,
    order: str | None = None,
) -> Response:
    """Filters as in Shopify (`status`, `financial_status`, `fulfillment_status`, dates, `ids`,
    `since_id`) plus Orderdeck's `tag`, `tag_not`, `source_name`, `location_id`, `customer_id`,
    `email`, `name`, `test`, `q` (order name, e-mail, customer name, SKU or tracking number),
    `return_status` (Shopify's values: return_requested, in_progress, inspection_complete,
    returned, return_failed, no_return), `shipment_status` (orders with a fulfillment whose
    current shipment status is that; `none`: no carrier news yet), `stuck` (`any`, or a reason:
    orders flagged stuck, see "Stuck orders" in docs/api.md) and `order` (`created_at desc`, …)."""
    app = app_of(request)
    if page_info:
        extra = [p for p in request.query_params if p in FILTER_PARAMS]
        if extra:
            raise ApiError(
                400,
                {
                    extra[0]: f"{extra[0]} cannot be passed when page_info is present. See "
                    "https://shopify.dev/api/usage/pagination-rest for more information."
                },
            )
    with app.unit_of_work(read_only=True) as uow:
        key = page_info_key(app, uow)
        cursor = Cursor.decode(page_info, key) if page_info else None
        if cursor is not None:
            flt, sort, descending = cursor.order_filter(), cursor.sort, cursor.descending
        else:
            sort, descending = parse_sort(order)
            flt = filters.filter
        ctx = app.render_context(uow)
        page = list_orders(
            uow.conn, flt, sort=sort, descending=descending, limit=limit, after=cursor, fresh_for=ctx.fingerprint
        )
    headers = link_header(
        request,
        limit,
        page.next.encode(key) if page.next else None,
        page.previous.encode(key) if page.previous else None,
        fields,
    )
    return json(_orders_body(page.orders, ctx, fields), headers=headers)


@router.get("/orders/count.json", summary="Count orders (takes the list's filters)")
def count(request: Request, token: Annotated[ApiToken, Depends(read)], filters: Filters) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        return json({"count": count_orders(uow.conn, filters.filter)})


@router.get("/orders/open_count.json", summary="The open-orders badge: open orders still to fulfil (S2.2)")
def open_count(request: Request, token: Annotated[ApiToken, Depends(read)]) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        return json({"count": open_orders_badge(uow.conn)})


@router.get(
    "/orders/export.csv",
    summary="Export the filtered orders as CSV (streamed; takes the list's filters)",
    response_class=StreamingResponse,
)
def export(request: Request, token: Annotated[ApiToken, Depends(read)], filters: Filters) -> StreamingResponse:
    flt = filters.filter
    flt.check()
    return StreamingResponse(
        export_csv(app_of(request).read_engine().connect, flt),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="orders.csv"'},
    )


@router.get("/orders/{order_id}.json", summary="Get one order")
def get(
    request: Request, order_id: int, token: Annotated[ApiToken, Depends(read)], fields: str | None = None
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        stored = StoredOrder(*uow.orders.stored_rendering(order_id))
        ctx = app.render_context(uow)
    one = _rendered(stored, ctx, fields)
    if one is None:
        raise ApiError(500, "This order's stored document does not load; `orderdeck repair-orders` reports it")
    return json(b'{"order":' + one + b"}")


@router.get("/customers/{customer_id}/orders.json", summary="A customer's orders")
def customer_orders(
    request: Request,
    customer_id: int,
    token: Annotated[ApiToken, Depends(read)],
    status: str = "open",
    limit: LIMIT = 50,
    fields: str | None = None,
) -> Response:
    flt = OrderFilter(status=status, customer_id=customer_id)
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        ctx = app.render_context(uow)
        page = list_orders(uow.conn, flt, sort="id", descending=True, limit=limit, fresh_for=ctx.fingerprint)
    return json(_orders_body(page.orders, ctx, fields))


def _order_body(payload: bytes) -> bytes:
    return b'{"order":' + payload + b"}"


@router.post("/orders.json", status_code=201, summary="Place an order")
def create(request: Request, body: schemas.OrderEnvelope, token: Annotated[ApiToken, Depends(write)]) -> Response:
    """Line items by `variant_id` or as custom items; shipping lines; discount codes; tax lines on
    the order or its lines; customer; addresses; transactions (`sale` or `authorization`, run
    through the named gateway); `financial_status` for payments settled elsewhere. Each line is
    routed to a location that stocks it and stock is reserved (`inventory_behaviour`)."""
    place = convert.place_order(body.order)
    return run_command(request, token, body, lambda cmd: _order_body(orders.place_order(cmd, place)), status=201)


@router.put("/orders/{order_id}.json", summary="Edit an order's details")
def update(
    request: Request, order_id: int, body: schemas.OrderUpdateEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """E-mail, phone, shipping address, note, note attributes, tags, buyer_accepts_marketing and
    customer_locale can change after placement; the billing address cannot (S3.5)."""
    data = body.order
    unknown = sorted(set(data.model_extra or {}) - READ_ONLY_KEYS)
    if unknown:
        raise InvalidInput(f"{unknown[0]} is not a field of an order", field=unknown[0])
    changes: dict[str, Any] = {}
    for name in data.model_fields_set - set(data.model_extra or {}):
        if name == "billing_address":
            continue
        if name == "shipping_address":
            # A partial address changes only the keys sent; null removes the address.
            sent = data.shipping_address
            changes[name] = None if sent is None else convert.address_changes(sent)
        elif name == "note_attributes":
            changes[name] = [{"name": a.name, "value": a.value} for a in data.note_attributes or []]
        else:
            changes[name] = getattr(data, name)

    def work(cmd: Command) -> bytes:
        if "billing_address" in data.model_fields_set:
            current = cmd.uow.orders.get(order_id, for_update=False)
            sent = data.billing_address
            kept = render.address(current.billing_address)
            if sent != kept and not (sent and kept and all(kept.get(k) == v for k, v in sent.items())):
                raise InvalidInput(
                    "The billing address cannot be changed after the order is placed; it is "
                    "the address the payment was made with",
                    field="billing_address",
                )
        return _order_body(orders.edit_order(cmd, order_id, changes))

    return run_command(request, token, body, work)


@router.delete("/orders/{order_id}.json", summary="Delete an archived or cancelled order for good")
def delete(request: Request, order_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(request, token, None, lambda cmd: (orders.delete_order(cmd, order_id), {})[1])


@router.post("/orders/{order_id}/close.json", summary="Archive an order")
def close(request: Request, order_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(request, token, None, lambda cmd: _order_body(orders.close_order(cmd, order_id)))


@router.post("/orders/{order_id}/open.json", summary="Unarchive an order")
def reopen(request: Request, order_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(request, token, None, lambda cmd: _order_body(orders.reopen_order(cmd, order_id)))


@router.post("/orders/{order_id}/cancel.json", summary="Cancel an order")
def cancel(
    request: Request,
    order_id: int,
    token: Annotated[ApiToken, Depends(write)],
    body: Annotated[schemas.CancelIn | None, Body()] = None,
) -> Response:
    """Parameters in the query string or the body (Shopify's clients use both): `reason`,
    `email` (notify the customer), `refund` (true, false, or a refund object whose
    `refund_line_items` say where each line is restocked), `restock`, `amount` + `currency`,
    `staff_note`. Refused while items are fulfilled or an authorization is pending."""
    values = _cancel_params(request, body)
    return run_command(request, token, values, lambda cmd: _cancel(cmd, order_id, values))


def _cancel_params(request: Request, body: schemas.CancelIn | None) -> schemas.CancelIn:
    merged: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key.startswith("refund[") or key in ("refund",):
            merged.setdefault("refund", value)
        else:
            merged[key] = value
    if body is not None:
        merged.update(body.model_dump(exclude_unset=True))
    try:
        return schemas.CancelIn.model_validate(merged)
    except ValidationError as exc:
        raise ApiError(422, validation_errors(exc.errors())) from None


def _cancel(cmd: Command, order_id: int, values: schemas.CancelIn) -> dict[str, Any]:
    refund = values.refund
    choices: list[RestockChoice] = []
    refund_money = True
    amount = values.amount
    currency = values.currency
    if isinstance(refund, schemas.RefundIn):
        currency = currency or refund.currency or next((t.currency for t in refund.transactions if t.currency), None)
        choices = [
            RestockChoice(li.line_item_id, li.quantity, li.location_id)
            for li in refund.refund_line_items
            if li.restock_type in ("cancel", "return")
        ]
        if refund.transactions:
            amount = sum((t.amount for t in refund.transactions), start=amount or 0)
        refund_money = bool(refund.transactions) or amount is not None
    elif refund is False:
        refund_money = False
    request = CancelRequest(
        reason=values.reason or "other",
        refund=refund_money,
        # Shopify's default: nothing is restocked unless asked (the admin's dialog and bulk
        # cancel send restock themselves).
        restock=bool(values.restock),
        restock_choices=choices,
        notify_customer=bool(values.email or values.notify_customer),
        staff_note=values.staff_note,
    )
    payload = cancellation.cancel_order(
        cmd, order_id, request, amount=amount, currency=currency, currency_required=True
    )
    # Shopify adds "notice": "Order has been canceled"; Shopify's Python client only unwraps a body
    # with exactly one key and would keep a stale order, so Orderdeck answers with the order alone.
    return {"order": orjson.Fragment(payload)}


@router.post("/orders/{order_id}/mark_as_paid.json", summary="Mark a pending order as paid")
def mark_as_paid(
    request: Request,
    order_id: int,
    token: Annotated[ApiToken, Depends(write)],
    body: Annotated[schemas.MarkAsPaidIn | None, Body()] = None,
) -> Response:
    """For manual payment methods (bank transfer, cash on delivery): records a sale of exactly
    the outstanding amount (ORDER-MODEL.md §2, Mark as paid)."""
    amount = body.amount if body else None
    return run_command(
        request, token, body, lambda cmd: _order_body(payments.mark_as_paid(cmd, order_id, amount=amount))
    )


# ---- tags ---------------------------------------------------------------------------------------
@router.post("/orders/{order_id}/tags/add.json", summary="Add tags to an order")
def add_tags(
    request: Request, order_id: int, body: schemas.TagsIn, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    tags = body.tags if isinstance(body.tags, list) else body.tags.split(",")
    return run_command(
        request, token, body, lambda cmd: _order_body(orders.change_tags(cmd, order_id, add=tags, remove=[]))
    )


@router.post("/orders/{order_id}/tags/remove.json", summary="Remove tags from an order")
def remove_tags(
    request: Request, order_id: int, body: schemas.TagsIn, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    tags = body.tags if isinstance(body.tags, list) else body.tags.split(",")
    return run_command(
        request, token, body, lambda cmd: _order_body(orders.change_tags(cmd, order_id, add=[], remove=tags))
    )
