"""The timeline as Shopify events (`events.json`), and staff comments on an order."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ..domain.errors import InvalidInput
from ..resources.events import argument_values, with_location_names
from ..resources.render import RenderContext, ts
from ..services import orders
from ..services.context import Command
from ..store.access import ApiToken
from ..store.queries import BadCursor
from ..store.timeline import TimelineEntry
from . import schemas
from .auth import require
from .errors import ApiError
from .responses import app_of, json, link_header, only_fields, run_command
from .timeline_models import EventCount, EventEnvelopeOut, EventsOut

router = APIRouter(tags=["timeline"])
read = require("read_orders")
write = require("write_orders")

# Shopify's event subject types. Orderdeck records events of orders only, so a `filter`
# without Order matches nothing; a name outside this list is a mistake and is refused.
SUBJECT_TYPES = ("Article", "Blog", "Collection", "Comment", "Order", "Page", "PriceRule", "Product", "ApiPermission")
FILTERS = ("since_id", "verb", "created_at_min", "created_at_max", "filter")


def event_json(entry: TimelineEntry, ctx: RenderContext, locations: Mapping[int, str] | None = None) -> dict[str, Any]:
    sentence = with_location_names(entry.message, locations or {})
    return {
        "id": entry.id,
        "subject_id": entry.order_id,
        "created_at": ts(entry.created_at, ctx),
        "updated_at": ts(entry.updated_at, ctx),
        "subject_type": "Order",
        "verb": entry.verb,
        "arguments": argument_values(entry.arguments),
        "body": entry.message if entry.is_comment else None,
        "message": html.escape(sentence),
        "author": entry.author.name,
        "author_type": entry.author.kind,
        "description": sentence,
        "path": f"/admin/orders/{entry.order_id}",
        "is_comment": entry.is_comment,
        "subject_record_id": entry.subject_id,
    }


def _location_names(uow: Any) -> dict[int, str]:
    return {loc.id: loc.name for loc in uow.catalog.locations()}


@dataclass
class EventQuery:
    """The filters of an events list, carried whole in its page_info."""

    since_id: int | None = None
    verb: str | None = None
    created_at_min: str | None = None
    created_at_max: str | None = None
    orders_only: bool = True  # False: the `filter` named no Order, so nothing matches

    def bound(self, name: str) -> datetime | None:
        raw = getattr(self, name)
        return datetime.fromisoformat(raw) if raw else None


def _subject_filter(raw: str | None) -> bool:
    """Whether events of orders pass Shopify's `filter` (comma-separated subject types)."""
    if raw is None:
        return True
    named = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [name for name in named if name not in SUBJECT_TYPES]
    if unknown:
        raise InvalidInput(f"{unknown[0]} is not a subject type; use {', '.join(SUBJECT_TYPES)}", field="filter")
    return not named or "Order" in named


def _encode(query: EventQuery, last_id: int, direction: str) -> str:
    raw = orjson.dumps({"q": asdict(query), "last_id": last_id, "direction": direction})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(page_info: str) -> tuple[EventQuery, int, str]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(page_info + "=" * (-len(page_info) % 4)))
        query = EventQuery(**raw["q"])
        query.bound("created_at_min"), query.bound("created_at_max")
        last_id, direction = int(raw["last_id"]), str(raw["direction"])
        if direction not in ("next", "previous"):
            raise ValueError(direction)
        return query, last_id, direction
    except (ValueError, TypeError, KeyError, AttributeError, orjson.JSONDecodeError):
        raise BadCursor from None


def _list(
    request: Request,
    order_id: int | None,
    limit: int,
    page_info: str | None,
    query: EventQuery,
    fields: str | None,
) -> Response:
    if page_info:
        extra = [p for p in request.query_params if p in FILTERS]
        if extra:
            raise ApiError(
                400,
                {
                    extra[0]: f"{extra[0]} cannot be passed when page_info is present. See "
                    "https://shopify.dev/api/usage/pagination-rest for more information."
                },
            )
        query, last_id, direction = _decode(page_info)
    else:
        last_id, direction = 0, "next"
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        if order_id is not None:
            uow.orders.get(order_id, for_update=False)
        entries = (
            uow.timeline.list(
                order_id=order_id,
                since_id=query.since_id,
                after_id=last_id if direction == "next" else None,
                before_id=last_id if direction == "previous" else None,
                limit=limit + 1,
                verb=query.verb,
                created_at_min=query.bound("created_at_min"),
                created_at_max=query.bound("created_at_max"),
            )
            if query.orders_only
            else []
        )
        ctx, names = app.render_context(uow), _location_names(uow)
    more = len(entries) > limit
    if direction == "next":
        entries = entries[:limit]
        has_next, has_previous = more, bool(page_info) and bool(entries)
    else:
        entries = entries[-limit:]
        has_next, has_previous = bool(entries), more
    headers = link_header(
        request,
        limit,
        _encode(query, entries[-1].id, "next") if has_next and entries else None,
        _encode(query, entries[0].id, "previous") if has_previous and entries else None,
        fields,
    )
    return json({"events": [only_fields(event_json(e, ctx, names), fields) for e in entries]}, headers=headers)


def _query(
    since_id: int | None,
    verb: str | None,
    created_at_min: datetime | None,
    created_at_max: datetime | None,
    subject_types: str | None,
) -> EventQuery:
    return EventQuery(
        since_id=since_id,
        verb=verb,
        created_at_min=created_at_min.isoformat() if created_at_min else None,
        created_at_max=created_at_max.isoformat() if created_at_max else None,
        orders_only=_subject_filter(subject_types),
    )


SubjectTypes = Annotated[
    str | None, Query(alias="filter", description="Comma-separated subject types, e.g. Order,Product")
]


@router.get(
    "/events.json",
    summary="Every order's timeline, oldest first (catch up from since_id)",
    responses={200: {"model": EventsOut}},
)
def list_events(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    since_id: int | None = None,
    page_info: str | None = None,
    verb: str | None = None,
    created_at_min: datetime | None = None,
    created_at_max: datetime | None = None,
    subject_types: SubjectTypes = None,
    fields: str | None = None,
) -> Response:
    """Shopify's filters: `since_id`, `verb`, `created_at_min`/`created_at_max`, `filter`
    (subject types; Orderdeck's events are all of orders), `fields`; pages by `page_info`
    through the `Link` header, with the filters kept in the cursor."""
    query = _query(since_id, verb, created_at_min, created_at_max, subject_types)
    return _list(request, None, limit, page_info, query, fields)


@router.get("/events/count.json", summary="Count events", responses={200: {"model": EventCount}})
def count_events(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    verb: str | None = None,
    created_at_min: datetime | None = None,
    created_at_max: datetime | None = None,
    subject_types: SubjectTypes = None,
) -> Response:
    if not _subject_filter(subject_types):
        return json({"count": 0})
    with app_of(request).unit_of_work(read_only=True) as uow:
        found = uow.timeline.count(verb=verb, created_at_min=created_at_min, created_at_max=created_at_max)
    return json({"count": found})


@router.get("/events/{event_id}.json", summary="One event", responses={200: {"model": EventEnvelopeOut}})
def get_event(
    request: Request, event_id: int, token: Annotated[ApiToken, Depends(read)], fields: str | None = None
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        entry = uow.timeline.find(event_id)
        return json({"event": only_fields(event_json(entry, app.render_context(uow), _location_names(uow)), fields)})


@router.get("/orders/{order_id}/events.json", summary="One order's timeline", responses={200: {"model": EventsOut}})
def order_events(
    request: Request,
    order_id: int,
    token: Annotated[ApiToken, Depends(read)],
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    since_id: int | None = None,
    page_info: str | None = None,
    verb: str | None = None,
    created_at_min: datetime | None = None,
    created_at_max: datetime | None = None,
    subject_types: SubjectTypes = None,
    fields: str | None = None,
) -> Response:
    """The same filters as `/events.json`, for one order."""
    query = _query(since_id, verb, created_at_min, created_at_max, subject_types)
    return _list(request, order_id, limit, page_info, query, fields)


@router.post(
    "/orders/{order_id}/comments.json", status_code=201, summary="Add a staff comment (never shown to customers)"
)
def add_comment(
    request: Request, order_id: int, body: schemas.CommentEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        entry = orders.add_comment(cmd, order_id, body.comment.body)
        return {"event": event_json(entry, cmd.app.render_context(cmd.uow))}

    return run_command(request, token, body, work, status=201)


@router.put("/orders/{order_id}/comments/{comment_id}.json", summary="Edit your own comment")
def edit_comment(
    request: Request,
    order_id: int,
    comment_id: int,
    body: schemas.CommentEnvelope,
    token: Annotated[ApiToken, Depends(write)],
) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        entry = orders.edit_comment(cmd, order_id, comment_id, body.comment.body)
        return {"event": event_json(entry, cmd.app.render_context(cmd.uow))}

    return run_command(request, token, body, work)


@router.delete("/orders/{order_id}/comments/{comment_id}.json", summary="Delete your own comment")
def delete_comment(
    request: Request, order_id: int, comment_id: int, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        orders.delete_comment(cmd, order_id, comment_id)
        return {}

    return run_command(request, token, None, work)
