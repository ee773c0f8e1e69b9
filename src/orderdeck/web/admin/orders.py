"""The Orders page (S2, S7): every order in one list, found by saved views (tabs), filters over
every status dimension, tags, channel, location and dates, and a search box; a page at a time
from the store's keyset pagination; the bulk form around the list; the CSV export.

The list reads only the store's list query (indexed conditions, keyset pages) and each order's
stored rendering, so page 1,000 of a million orders costs what page 1 costs; the stages and
locations the filters offer are read once per page, never per row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import QueryParams

from ...domain.errors import InvalidInput
from ...domain.stuck import REASONS as STUCK_REASONS
from ...resources import render as resources
from ...services.pagination import page_info_key
from ...store.codec import BadDocument, decode_order
from ...store.custom_statuses import CustomStatus, CustomStatuses
from ...store.queries import (
    RETURN,
    BadCursor,
    Cursor,
    OrderFilter,
    StoredOrder,
    count_orders,
    export_csv,
    list_orders,
)
from ...store.saved_views import NAME_LENGTH, SavedViews
from .access import Admin, require
from .filters import KEYS, check_known, filter_query, order_filter
from .pages import NO_STORE, render
from .shipments import SHIPMENT_STATUS_WORDS

log = logging.getLogger(__name__)
router = APIRouter()

# The built-in tabs, each a filter query string (the same spelling `filter_query` gives).
BUILT_IN_VIEWS = (
    ("All", ""),
    ("Unfulfilled", "status=open&fulfillment_status=unfulfilled"),
    ("Unpaid", "status=open&financial_status=outstanding"),
    ("Open", "status=open"),
    ("Archived", "status=closed"),
)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 250

# What each filter offers, in the merchant's words ("" is "Any": no condition).
ORDER_STATUSES = [("", "Any"), ("open", "Open"), ("closed", "Archived"), ("cancelled", "Cancelled")]
PAYMENT_STATUSES = [
    ("", "Any"),
    ("outstanding", "Unpaid (pending, authorized or partially paid)"),
    ("unpaid", "Authorized or partially paid"),
    ("pending", "Pending"),
    ("authorized", "Authorized"),
    ("partially_paid", "Partially paid"),
    ("paid", "Paid"),
    ("partially_refunded", "Partially refunded"),
    ("refunded", "Refunded"),
    ("voided", "Voided"),
    ("expired", "Expired"),
]
FULFILLMENT_STATUSES = [
    ("", "Any"),
    ("unfulfilled", "Not fully fulfilled"),
    ("unshipped", "Unfulfilled (nothing shipped)"),
    ("partial", "Partially fulfilled"),
    ("shipped", "Fulfilled (everything shipped)"),
    ("on_hold", "On hold"),
    ("scheduled", "Scheduled"),
    ("in_progress", "In progress"),
    ("request_declined", "Request declined"),
    ("restocked", "Restocked"),
]
# The Return filter offers exactly the values the order query takes (Shopify's return statuses).
RETURN_WORDS = {
    "return_requested": "Return requested",
    "in_progress": "Return in progress",
    "inspection_complete": "Inspection complete",
    "returned": "Returned",
    "return_failed": "Return failed",
    "no_return": "No return",
}
RETURN_STATUSES = [("", "Any")] + [
    (value, RETURN_WORDS.get(value, value.replace("_", " ").capitalize())) for value in RETURN if value != "any"
]
# Orders with a shipment whose carrier status is this (the Shipments page's words).
SHIPMENT_STATUS_CHOICES = [("", "Any"), ("none", "No carrier news yet"), *SHIPMENT_STATUS_WORDS.items()]
# Orders flagged stuck (domain/stuck.py), for any reason or one; the Stuck page lists them too.
STUCK_CHOICES = [("", "Any"), ("any", "Stuck (any reason)"), *STUCK_REASONS.items()]
CHANNELS = ("web", "pos", "api", "manual")  # suggestions; any channel name can be typed
# The bulk form's actions (web/admin/bulk.py runs them).
BULK_ACTIONS = [
    ("capture", "Capture payments"),
    ("fulfil", "Fulfill…"),
    ("archive", "Archive"),
    ("unarchive", "Unarchive"),
    ("add_tags", "Add tags"),
    ("remove_tags", "Remove tags"),
    ("set_custom_status", "Set custom status"),
    ("cancel", "Cancel orders"),
    ("export_csv", "Export CSV"),
    ("message", "Message customers"),
]

# The filters' names on the page, for messages about a value that is not valid.
FIELD_LABELS = {
    "status": "Order status",
    "financial_status": "Payment",
    "fulfillment_status": "Fulfillment",
    "return_status": "Return",
    "shipment_status": "Shipment",
    "stuck": "Stuck",
    "custom_status": "Custom status",
    "location_id": "Location",
    "created_from": "Created from",
    "created_to": "Created to",
    "page_info": "Page",
    "limit": "Orders per page",
}


@dataclass
class Listing:
    """What the page shows of the chosen orders (or, with a bad filter, why it shows none)."""

    rows: list[dict[str, Any]]
    total: int | None
    newer: str | None
    older: str | None
    error: InvalidInput | None


def _order_of(stored: StoredOrder, ctx: resources.RenderContext) -> dict[str, Any]:
    """The order as the API renders it: the stored rendering when it was made with these
    settings (no decoding, no rendering), otherwise rendered afresh from its document."""
    if stored.rendered is not None and stored.rendered_for == ctx.fingerprint:
        return orjson.loads(stored.rendered)  # type: ignore[no-any-return]
    assert stored.document is not None
    return resources.order(decode_order(stored.document), ctx)


def _customer(o: dict[str, Any]) -> str:
    customer = o.get("customer") or {}
    name = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p)
    address = o.get("billing_address") or o.get("shipping_address") or {}
    return name or address.get("name") or ""


def _page_size(params: QueryParams) -> int:
    raw = params.get("limit") or str(PAGE_SIZE)
    if not raw.isdecimal() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise InvalidInput(f"show between 1 and {MAX_PAGE_SIZE} orders per page", field="limit")
    return int(raw)


def _page_url(query: str, limit: int, cursor: Cursor | None, key: bytes) -> str | None:
    if cursor is None:
        return None
    parts = [query] if query else []
    if limit != PAGE_SIZE:
        parts.append(f"limit={limit}")
    parts.append(f"page_info={cursor.encode(key)}")
    return "/admin/orders?" + "&".join(parts)


# Counting stops here: past it the page says "more than 10,000" (a tag or a search on a big shop
# would otherwise be counted row by row on every page; the status tabs come from kept counts).
COUNT_AT_MOST = 10_000


def _listing(admin: Admin, params: QueryParams, stages: dict[str, CustomStatus], locations: set[int]) -> Listing:
    query = filter_query(params)
    with admin.app.unit_of_work(read_only=True) as uow:
        ctx = admin.app.render_context(uow)
        try:
            chosen = order_filter(params, uow.shop.timezone)
            check_known(chosen, set(stages), locations)
            limit = _page_size(params)
            key = page_info_key(admin.app, uow)
            after = Cursor.decode(params["page_info"], key) if params.get("page_info") else None
            # Newest first by id: the path the store serves from its indexes (and a tag's own).
            page = list_orders(
                uow.conn, chosen, sort="id", descending=True, limit=limit, after=after, fresh_for=ctx.fingerprint
            )
            total = count_orders(uow.conn, chosen, at_most=COUNT_AT_MOST)
        except InvalidInput as exc:
            return Listing([], None, None, None, exc)
    rows = []
    for stored in page.orders:
        try:
            o = _order_of(stored, ctx)
        except BadDocument as exc:
            # One unreadable order must not break the page: it is left out and logged.
            log.error("Orders page: an order left out (%s); run `orderdeck repair-orders`", exc.message)
            continue
        stage = stages.get((o.get("custom_status") or {}).get("handle", ""))
        o["customer_label"] = _customer(o)
        o["stage"] = {"name": stage.name("en"), "color": stage.color} if stage else None
        rows.append(o)
    return Listing(
        rows, total, _page_url(query, limit, page.previous, key), _page_url(query, limit, page.next, key), None
    )


def _error_message(exc: InvalidInput) -> str:
    if isinstance(exc, BadCursor):
        return "This page link no longer works; start again from the first page."
    label = FIELD_LABELS.get(exc.field)
    return f"{label}: {exc.message}" if label else exc.message[:1].upper() + exc.message[1:]


def _orders_page(
    admin: Admin, params: QueryParams, *, view_name: str = "", view_error: str | None = None, status: int = 200
) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        stages = {stage.handle: stage for stage in CustomStatuses(uow.conn).all()}
        locations = uow.catalog.locations()
        views = SavedViews(uow.conn).all()
    listing = _listing(admin, params, stages, {location.id for location in locations})
    query = filter_query(params)
    tabs: list[dict[str, Any]] = [{"name": name, "query": q, "id": None} for name, q in BUILT_IN_VIEWS]
    tabs += [{"name": v.name, "query": filter_query(v.query), "id": v.id} for v in views]
    current = next((tab for tab in tabs if tab["query"] == query), None)
    return render(
        admin,
        "orders.html",
        status=422 if listing.error is not None else status,
        listing=listing,
        count_at_most=COUNT_AT_MOST,
        error=_error_message(listing.error) if listing.error else None,
        error_field=listing.error.field if listing.error else None,
        values={key: ", ".join(QueryParams(query).getlist(key)) for key in KEYS},
        query=query,
        tabs=tabs,
        current=current,
        stages=list(stages.values()),
        locations=locations,
        view_name=view_name,
        view_error=view_error,
        name_length=NAME_LENGTH,
        choices={
            "status": ORDER_STATUSES,
            "financial_status": PAYMENT_STATUSES,
            "fulfillment_status": FULFILLMENT_STATUSES,
            "return_status": RETURN_STATUSES,
            "shipment_status": SHIPMENT_STATUS_CHOICES,
            "stuck": STUCK_CHOICES,
            "custom_status": [("", "Any"), ("none", "In no stage")]
            + [(s.handle, s.name("en")) for s in stages.values()],
            "location_id": [("", "Any")] + [(str(loc.id), loc.name) for loc in locations],
        },
        channels=CHANNELS,
        bulk_actions=BULK_ACTIONS,
    )


@router.get("/orders", summary="The Orders page")
def orders_page(request: Request, admin: Annotated[Admin, Depends(require("view_orders"))]) -> Response:
    return _orders_page(admin, request.query_params)


@router.post("/orders/views", summary="Save the current filter as a view (a tab)")
def save_view(
    admin: Annotated[Admin, Depends(require("manage_orders"))],
    name: Annotated[str, Form(max_length=500)] = "",
    query: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    canonical = filter_query(query)
    params = QueryParams(canonical)
    try:
        with admin.app.unit_of_work() as uow:
            order_filter(params, uow.shop.timezone)  # a view that cannot be shown is not saved
            view = SavedViews(uow.conn).add(
                name, canonical, uow.now, reserved=tuple(name for name, _ in BUILT_IN_VIEWS)
            )
            uow.commit()
    except InvalidInput as exc:
        message = exc.message[:1].upper() + exc.message[1:]
        return _orders_page(admin, params, view_name=name, view_error=message, status=422)
    return admin.done(f"/admin/orders?{view.query}", f"Saved the view “{view.name}”.")


@router.post("/orders/views/{view_id}/delete", summary="Delete a saved view")
def delete_view(view_id: int, admin: Annotated[Admin, Depends(require("manage_orders"))]) -> Response:
    with admin.app.unit_of_work() as uow:
        view = SavedViews(uow.conn).remove(view_id)
        uow.commit()
    return admin.done("/admin/orders", f"Deleted the view “{view.name}”. No order was changed.")


def _ids(params: QueryParams) -> list[int]:
    raw = [part.strip() for value in params.getlist("ids") for part in value.split(",") if part.strip()]
    if not all(part.isdecimal() and len(part) < 19 for part in raw):
        raise InvalidInput("order ids are whole numbers", field="ids")
    return [int(part) for part in raw]


@router.get("/orders/export.csv", summary="The filtered (or the chosen) orders as CSV")
def export(request: Request, admin: Annotated[Admin, Depends(require("view_orders"))]) -> Response:
    """The same filter as the page (its query string), or `ids=` (repeated or comma-separated)
    for chosen orders; streamed a batch at a time, however many orders there are."""
    params = request.query_params
    with admin.app.unit_of_work(read_only=True) as uow:
        timezone = uow.shop.timezone
        day = uow.now.astimezone(ZoneInfo(timezone)).date().isoformat()
    try:
        ids = _ids(params)
    except InvalidInput as exc:
        return admin.done(f"/admin/orders?{filter_query(params)}", _error_message(exc), kind="error")
    if ids:
        chosen = OrderFilter(status="any", ids=ids)
    else:
        try:
            chosen = order_filter(params, timezone)
        except InvalidInput:
            return _orders_page(admin, params)  # the page says what is wrong with the filter
    return StreamingResponse(
        export_csv(admin.app.read_engine().connect, chosen),
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="orders-{day}.csv"'},
    )
