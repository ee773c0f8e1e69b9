"""Shipments (an Orderdeck extension, S6.1): every fulfillment with its carrier, tracking and
current shipment status, across all orders, filtered and paged like orders.json.

Read from the shipments rows kept beside each order (store/shipments.py), so a page never
decodes an order. Either read scope serves: the list shows fulfillments (read_fulfillments) of
orders with their customer (read_orders). The customer's name and e-mail are shown only to a
token that may read orders: a fulfillment service's token reads shipments, not every customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ..resources.render import RenderContext, ts
from ..services.pagination import page_info_key
from ..store.access import ApiToken
from ..store.shipments import DEFAULT_NO_NEWS_DAYS, ShipmentCursor, ShipmentFilter, ShipmentRow
from .auth import require
from .errors import ApiError
from .responses import app_of, json, link_header

router = APIRouter(tags=["shipments"])
read = require("read_fulfillments", "read_orders")

FILTER_PARAMS = (
    "shipment_status",
    "carrier",
    "location_id",
    "service",
    "created_at_min",
    "created_at_max",
    "no_news_days",
    "delayed",
    "status",
)


def render_shipment(row: ShipmentRow, now: datetime, ctx: RenderContext, *, customer: bool = True) -> dict[str, Any]:
    """`customer`: the token may read orders, so the customer's name and e-mail are shown."""
    return {
        "fulfillment_id": row.fulfillment_id,
        "order_id": row.order_id,
        "order_name": row.order_name,
        "customer_name": row.customer_name if customer else None,
        "email": row.email if customer else None,
        "location_id": row.location_id,
        "service": row.service,
        "tracking_company": row.carrier,
        "tracking_number": row.tracking_number,
        "tracking_url": row.tracking_url,
        "status": row.status,
        "shipment_status": row.shipment_status,
        "delayed": row.delayed(now),
        "last_event_at": ts(row.last_event_at, ctx),
        "last_event_message": row.last_event_message,
        "estimated_delivery_at": ts(row.estimated_delivery_at, ctx),
        "created_at": ts(row.created_at, ctx),
        "updated_at": ts(row.updated_at, ctx),
    }


class ShipmentParams:
    """The filters, shared by the list and the count so they always agree."""

    def __init__(
        self,
        shipment_status: Annotated[str | None, Query(max_length=40)] = None,
        carrier: Annotated[str | None, Query(max_length=255)] = None,
        location_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        service: Annotated[str | None, Query(max_length=255)] = None,
        created_at_min: datetime | None = None,
        created_at_max: datetime | None = None,
        no_news_days: Annotated[int | None, Query(ge=1, le=365)] = None,
        delayed: bool | None = None,
        status: Annotated[str, Query(max_length=16)] = "active",
    ) -> None:
        self.filter = ShipmentFilter(
            tab="no_news" if no_news_days is not None else None,
            no_news_days=no_news_days or DEFAULT_NO_NEWS_DAYS,
            shipment_status=shipment_status or None,
            delayed=delayed,
            carrier=(carrier or "").strip() or None,
            location_id=location_id,
            service=(service or "").strip() or None,
            created_at_min=created_at_min,
            created_at_max=created_at_max,
            status=status,
        )


Filters = Annotated[ShipmentParams, Depends()]


@router.get("/shipments.json", summary="List shipments (cursor-paginated; Orderdeck extension)")
def list_shipments(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    page_info: Annotated[str | None, Query(max_length=4000)] = None,
) -> Response:
    """Newest first. Filters: `shipment_status` (Shopify's values, or `none` for no carrier
    news yet), `delayed` (estimated delivery passed, or a delayed event, and not delivered),
    `no_news_days` (no carrier news for at least that many days, not delivered), `carrier`,
    `location_id`, `service`, `created_at_min`/`max`, `status` (the fulfillment's: `active`, the
    default, `cancelled` or `any`). Pages follow the `Link` header's `page_info`."""
    app = app_of(request)
    if page_info:
        extra = [p for p in request.query_params if p in FILTER_PARAMS]
        if extra:
            raise ApiError(400, {extra[0]: f"{extra[0]} cannot be passed when page_info is present."})
    with app.unit_of_work(read_only=True) as uow:
        key = page_info_key(app, uow)
        after = ShipmentCursor.decode(page_info, key) if page_info else None
        wanted = after.filter if after is not None else filters.filter
        page = uow.shipments.list_page(wanted, uow.now, limit=limit, after=after)
        ctx = app.render_context(uow)
        now = uow.now
    headers = link_header(
        request,
        limit,
        page.next.encode(key) if page.next else None,
        page.previous.encode(key) if page.previous else None,
    )
    customer = token.allows("read_orders")
    return json({"shipments": [render_shipment(r, now, ctx, customer=customer) for r in page.rows]}, headers=headers)


@router.get("/shipments/count.json", summary="Count shipments (takes the list's filters; Orderdeck extension)")
def count_shipments(request: Request, token: Annotated[ApiToken, Depends(read)], filters: Filters) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        return json({"count": uow.shipments.count(filters.filter, uow.now)})
