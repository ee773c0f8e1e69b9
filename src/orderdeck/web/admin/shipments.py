"""The Shipments page (S6.1): every fulfillment across all orders with its carrier, tracking
number, current shipment status, last event and estimated delivery; tabs by where the parcel is
(with counts), filters by carrier, location, service and date; bulk actions on the chosen (or all
matching) shipments: message those customers, export CSV.

It reads only the shipments rows (store/shipments.py): a page is one index range, newest first,
continued by a signed cursor; each tab's count stops at COUNT_AT_MOST. Permissions are the
Orders page's: viewing and exporting need "view orders", messaging customers "manage orders".
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.datastructures import FormData, QueryParams

from ...domain.errors import InvalidInput, OrderError
from ...domain.fulfillment import SHIPMENT_STATUSES
from ...services import shipments as commands
from ...services.pagination import page_info_key
from ...store.queries import BadCursor
from ...store.shipments import (
    DEFAULT_NO_NEWS_DAYS,
    MAX_NO_NEWS_DAYS,
    PAGE,
    ShipmentCursor,
    ShipmentFilter,
    ShipmentsPage,
    export_csv,
)
from ...tracking import CARRIER_URLS
from .access import Admin, refusal, require
from .filters import shop_day
from .pages import NO_STORE, render

router = APIRouter()
Viewer = Annotated[Admin, Depends(require("view_orders"))]
Manager = Annotated[Admin, Depends(require("manage_orders"))]

# Shopify's shipment statuses in the merchant's words (also the Orders page's filter).
SHIPMENT_STATUS_WORDS = {
    "label_purchased": "Label purchased",
    "label_printed": "Label printed",
    "confirmed": "Confirmed",
    "carrier_picked_up": "Picked up by the carrier",
    "in_transit": "In transit",
    "delayed": "Delayed",
    "out_for_delivery": "Out for delivery",
    "ready_for_pickup": "Ready for pickup",
    "attempted_delivery": "Delivery attempted",
    "delivered": "Delivered",
    "picked_up": "Picked up by the customer",
    "failure": "Failed",
}
assert set(SHIPMENT_STATUS_WORDS) == set(SHIPMENT_STATUSES)
TAB_WORDS = {
    None: "All",
    "label": "Label / confirmed",
    "in_transit": "In transit",
    "out_for_delivery": "Out for delivery",
    "ready_for_pickup": "Ready for pickup",
    "attempted": "Attempted delivery",
    "delivered": "Delivered",
    "failed": "Failed",
    "delayed": "Delayed",
    "no_news": "No news",
}
# How each status looks (the admin's badge tones).
STATUS_TONES = {
    "delivered": "done",
    "picked_up": "done",
    "out_for_delivery": "progress",
    "in_transit": "progress",
    "carrier_picked_up": "progress",
    "ready_for_pickup": "attention",
    "attempted_delivery": "attention",
    "delayed": "attention",
    "failure": "attention",
}
# Query keys the page understands (the filter; the cursor and page size come on top).
KEYS = ("tab", "carrier", "location_id", "service", "created_from", "created_to", "no_news_days")
FIELD_LABELS = {
    "tab": "Tab",
    "carrier": "Carrier",
    "location_id": "Location",
    "service": "Service",
    "created_from": "Shipped from",
    "created_to": "Shipped to",
    "created_at_min": "Shipped from",
    "no_news_days": "No news for",
    "page_info": "Page",
    "ids": "Shipments",
    "scope": "Apply to",
}
COUNT_AT_MOST = 10_000
MAX_MESSAGES = 10_000  # orders one click may message


def filter_query(params: QueryParams | dict[str, str]) -> str:
    """The filter part of a query string, in one spelling (KEYS order, no empty values)."""
    pairs = []
    for key in KEYS:
        value = str(params.get(key) or "").strip()
        if value and not (key == "no_news_days" and value == str(DEFAULT_NO_NEWS_DAYS)):
            pairs.append((key, value))
    return urlencode(pairs)


def shipment_filter(params: QueryParams | dict[str, str], timezone: str, *, locations: set[int]) -> ShipmentFilter:
    """The filter a query string describes; dates are whole days in the shop's time zone."""
    get = params.get
    values: dict[str, Any] = {}
    tab = (get("tab") or "").strip()
    values["tab"] = tab or None
    days = (get("no_news_days") or "").strip()
    if days:
        if not days.isdecimal() or not 1 <= int(days[:4]) <= MAX_NO_NEWS_DAYS or len(days) > 3:
            raise InvalidInput(f"enter a whole number of days from 1 to {MAX_NO_NEWS_DAYS}", field="no_news_days")
        values["no_news_days"] = int(days)
    for key in ("carrier", "service"):
        value = (get(key) or "").strip()
        if value:
            values[key] = value
    location = (get("location_id") or "").strip()
    if location:
        if not location.isdecimal() or len(location) > 18 or int(location) not in locations:
            raise InvalidInput("choose one of the shop's locations", field="location_id")
        values["location_id"] = int(location)
    for key, bound, end in (("created_from", "created_at_min", False), ("created_to", "created_at_max", True)):
        day = (get(key) or "").strip()
        if day:
            values[bound] = shop_day(day, key, timezone, end=end)
    try:
        return ShipmentFilter(**values)
    except InvalidInput as exc:
        if exc.field == "created_at_min":
            raise InvalidInput("must not be after the end of the range", field="created_from") from None
        raise


def _error_message(exc: OrderError) -> str:
    if isinstance(exc, BadCursor):
        return "This page link no longer works; start again from the first page."
    label = FIELD_LABELS.get(exc.field)
    message = exc.message[:1].upper() + exc.message[1:] if not label else exc.message
    return f"{label}: {message}" if label else message


def _page_url(query: str, cursor: ShipmentCursor | None, key: bytes) -> str | None:
    if cursor is None:
        return None
    return "/admin/shipments?" + "&".join([*([query] if query else []), f"page_info={cursor.encode(key)}"])


def _count_words(n: int) -> str:
    return f"{COUNT_AT_MOST:,}+" if n > COUNT_AT_MOST else f"{n:,}"


def _status_view(row: Any, now: datetime) -> dict[str, Any]:
    if row.stage == "cancelled":
        return {"words": "Cancelled", "tone": "neutral"}
    if row.shipment_status is None:
        return {"words": "No carrier news yet", "tone": "neutral"}
    words = SHIPMENT_STATUS_WORDS.get(row.shipment_status, row.shipment_status.replace("_", " ").capitalize())
    return {"words": words, "tone": STATUS_TONES.get(row.shipment_status, "neutral")}


def _shipments_page(admin: Admin, params: QueryParams, *, status: int = 200) -> Response:
    query = filter_query(params)
    error: InvalidInput | None = None
    with admin.app.unit_of_work(read_only=True) as uow:
        locations = uow.catalog.locations()
        names = {loc.id: loc.name for loc in locations}
        timezone, now = uow.shop.timezone, uow.now
        key = page_info_key(admin.app, uow)
        try:
            wanted = shipment_filter(params, timezone, locations=set(names))
            after = ShipmentCursor.decode(params["page_info"], key) if params.get("page_info") else None
            if after is not None and after.filter != wanted:
                raise BadCursor
            page = uow.shipments.list_page(wanted, now, limit=PAGE, after=after)
            counts = uow.shipments.count_tabs(wanted, now, at_most=COUNT_AT_MOST)
        except InvalidInput as exc:
            error, wanted, page, counts = exc, ShipmentFilter(), ShipmentsPage(), {}

    def tab_url(tab: str | None) -> str:
        kept = {k: str(params.get(k) or "") for k in KEYS if k != "tab"}
        q = filter_query({**kept, "tab": tab or ""})
        return "/admin/shipments" + (f"?{q}" if q else "")

    days = wanted.no_news_days
    tabs = [
        {
            "tab": tab,
            "words": f"No news for {days} day{'s' if days != 1 else ''}" if tab == "no_news" else TAB_WORDS[tab],
            "count": _count_words(counts[tab]) if tab in counts else None,
            "url": tab_url(tab),
        }
        for tab in TAB_WORDS
    ]
    total = counts.get(wanted.tab)
    rows = [
        {
            "s": row,
            "status": _status_view(row, now),
            "delayed": row.delayed(now),
            "location": names.get(row.location_id or 0, ""),
        }
        for row in page.rows
    ]
    values = {k: str(params.get(k) or "") for k in KEYS}
    values["no_news_days"] = values["no_news_days"] or str(DEFAULT_NO_NEWS_DAYS)
    return render(
        admin,
        "shipments.html",
        status=422 if error is not None else status,
        rows=rows,
        tabs=tabs,
        chosen=wanted,
        total=total,
        total_words=_count_words(total) if total is not None else None,
        count_at_most=COUNT_AT_MOST,
        query=query,
        values=values,
        error=_error_message(error) if error else None,
        error_field=error.field if error else None,
        locations=[("", "Any")] + [(str(loc.id), loc.name) for loc in locations],
        carriers=list(CARRIER_URLS),
        newer=_page_url(query, page.previous, key),
        older=_page_url(query, page.next, key),
        tz=timezone,
    )


@router.get("/shipments", summary="Every shipment, by where it is")
def shipments_page(request: Request, admin: Viewer) -> Response:
    return _shipments_page(admin, request.query_params)


def _ids(values: list[Any]) -> tuple[int, ...]:
    chosen = []
    for value in values:
        raw = value.strip() if isinstance(value, str) else ""
        for part in raw.split(","):
            if not part.strip():
                continue
            if not part.strip().isdecimal() or len(part.strip()) > 18:
                raise InvalidInput(f"{part[:20]!r} is not a shipment", field="ids")
            chosen.append(int(part))
    return tuple(dict.fromkeys(chosen))


def _chosen(admin: Admin, form: FormData | QueryParams) -> tuple[str, str, ShipmentFilter]:
    """The selection a form sends: (scope, the page's filter query, the filter selecting it)."""
    scope = str(form.get("scope") or "selected")
    query = str(form.get("filter") or "")
    with admin.app.unit_of_work(read_only=True) as uow:
        locations = {loc.id for loc in uow.catalog.locations()}
        timezone = uow.shop.timezone
    wanted = shipment_filter(QueryParams(query), timezone, locations=locations)
    if scope == "filter":
        return scope, query, wanted
    if scope != "selected":
        raise InvalidInput("choose the selected shipments or all that match", field="scope")
    ids = _ids(form.getlist("ids"))
    if not ids:
        raise InvalidInput("select at least one shipment first (tick its box), or apply to all that match", field="ids")
    # Chosen ones: only their ids (the tab they were chosen on may have moved since).
    return scope, query, ShipmentFilter(ids=ids, status="any")


def _back(query: str) -> str:
    return "/admin/shipments" + (f"?{query}" if query else "")


@router.get("/shipments/export.csv", summary="The filtered (or the chosen) shipments as CSV")
def export(request: Request, admin: Viewer) -> Response:
    """The page's filter (its query string), or `ids=` for chosen shipments; streamed a batch
    at a time however many match, every cell safe from spreadsheet formulas."""
    params = request.query_params
    query = filter_query(params)
    try:
        ids = _ids(params.getlist("ids"))
        if ids:
            wanted = ShipmentFilter(ids=ids, status="any")
        else:
            with admin.app.unit_of_work(read_only=True) as uow:
                locations = {loc.id for loc in uow.catalog.locations()}
                wanted = shipment_filter(params, uow.shop.timezone, locations=locations)
    except InvalidInput as exc:
        if exc.field == "ids":
            return admin.done(_back(query), _error_message(exc), kind="error")
        return _shipments_page(admin, params)  # the page says what is wrong with the filter
    with admin.app.unit_of_work(read_only=True) as uow:
        now = uow.now
        day = now.astimezone(ZoneInfo(uow.shop.timezone)).date().isoformat()
    return StreamingResponse(
        export_csv(admin.app.read_engine().connect, wanted, now),
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="shipments-{day}.csv"'},
    )


def _confirm(
    admin: Admin,
    scope: str,
    query: str,
    wanted: ShipmentFilter,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        targets = uow.shipments.order_ids(wanted, uow.now, limit=MAX_MESSAGES + 1)
    return render(
        admin,
        "shipments_message.html",
        status=status,
        scope=scope,
        query=query,
        ids=wanted.ids,
        orders=min(len(targets), MAX_MESSAGES),
        too_many=len(targets) > MAX_MESSAGES,
        max_messages=MAX_MESSAGES,
        values=values or {"template": "custom_message"},
        errors=errors or {},
        click=(values or {}).get("click") or secrets.token_urlsafe(24),
        back=_back(query),
    )


@router.post("/shipments/bulk", summary="A bulk action chosen on the Shipments page")
async def bulk(request: Request, admin: Viewer) -> Response:
    form = await request.form()
    action = str(form.get("action") or "")
    back = _back(str(form.get("filter") or ""))
    try:
        scope, query, wanted = _chosen(admin, form)
    except InvalidInput as exc:
        return admin.done(back, _error_message(exc) if exc.field in FIELD_LABELS else refusal(exc), kind="error")
    if action == "export_csv":
        target = urlencode([("ids", i) for i in wanted.ids]) if scope == "selected" else query
        return RedirectResponse("/admin/shipments/export.csv" + (f"?{target}" if target else ""), status_code=303)
    if action == "message":
        if not admin.may("manage_orders"):
            return admin.done(back, "Messaging customers needs the “manage orders” permission.", kind="error")
        return _confirm(admin, scope, query, wanted)
    return admin.done(back, "Choose a bulk action first.", kind="error")


@router.post("/shipments/message", summary="Message the customers of the chosen shipments")
async def message(request: Request, admin: Manager) -> Response:
    form = await request.form()
    values = {
        k: v for k, v in form.multi_items() if isinstance(v, str) and k in ("template", "subject", "body", "click")
    }
    try:
        scope, query, wanted = _chosen(admin, form)
    except InvalidInput as exc:
        return admin.done(_back(str(form.get("filter") or "")), _error_message(exc), kind="error")
    back = _back(query)
    try:
        with admin.app.unit_of_work(read_only=True) as uow:
            shop_name = uow.shop.name
            targets = uow.shipments.order_ids(wanted, uow.now, limit=MAX_MESSAGES + 1)
        if len(targets) > MAX_MESSAGES:
            raise InvalidInput(
                f"one message goes to at most {MAX_MESSAGES:,} orders at a time; narrow the filter", field="base"
            )
        if not targets:
            raise InvalidInput("none of these shipments is left (their orders may have been deleted)", field="base")
        template = values.get("template", "")
        text = commands.check(template, values.get("subject"), values.get("body"), shop_name)
        queued = commands.message_customers(
            admin.app,
            targets=targets,
            template=template,
            message=text,
            click=values.get("click", ""),
            author=admin.author,
        )
    except commands.AlreadyQueued:
        return admin.done(back, "These messages were queued already; nothing was sent twice.")
    except OrderError as exc:
        field = exc.field if exc.field in ("template", "subject", "body") else "base"
        return _confirm(
            admin,
            scope,
            query,
            wanted,
            values=values,
            errors={field: refusal(exc) if field == "base" else _error_message(exc)},
            status=422,
        )
    return admin.done(
        back,
        f"{queued:,} e-mail{'s' if queued != 1 else ''} to customers queued; the outbox sends them within moments.",
    )
