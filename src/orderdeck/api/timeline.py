"""The timeline as Shopify events (`events.json`), and staff comments on an order."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ..resources.render import RenderContext, ts
from ..services import orders
from ..services.context import Command
from ..store.access import ApiToken
from ..store.timeline import TimelineEntry
from . import schemas
from .auth import require
from .responses import app_of, json, link_header, only_fields, run_command

router = APIRouter(tags=["timeline"])
read = require("read_orders")
write = require("write_orders")


def event_json(entry: TimelineEntry, ctx: RenderContext) -> dict[str, Any]:
    return {
        "id": entry.id,
        "subject_id": entry.order_id,
        "created_at": ts(entry.created_at, ctx),
        "updated_at": ts(entry.updated_at, ctx),
        "subject_type": "Order",
        "verb": entry.verb,
        "arguments": [str(v) for v in entry.arguments.values()] if entry.arguments else [],
        "body": entry.message if entry.is_comment else None,
        "message": html.escape(entry.message),
        "author": entry.author.name,
        "author_type": entry.author.kind,
        "description": entry.message,
        "path": f"/admin/orders/{entry.order_id}",
        "is_comment": entry.is_comment,
        "subject_record_id": entry.subject_id,
    }


def _list(
    request: Request,
    order_id: int | None,
    limit: int,
    since_id: int | None,
    page_info: str | None,
    verb: str | None,
    created_at_min: datetime | None,
    created_at_max: datetime | None,
    fields: str | None,
) -> Response:
    app = app_of(request)
    after = int(page_info) if page_info and page_info.isdigit() else None
    with app.unit_of_work(read_only=True) as uow:
        if order_id is not None:
            uow.orders.get(order_id, for_update=False)
        entries = uow.timeline.list(
            order_id=order_id,
            since_id=since_id,
            after_id=after,
            limit=limit + 1,
            verb=verb,
            created_at_min=created_at_min,
            created_at_max=created_at_max,
        )
        ctx = app.render_context(uow)
    more = len(entries) > limit
    entries = entries[:limit]
    headers = link_header(request, limit, str(entries[-1].id) if more and entries else None, None, fields)
    return json({"events": [only_fields(event_json(e, ctx), fields) for e in entries]}, headers=headers)


@router.get("/events.json", summary="Every order's timeline, oldest first (catch up from since_id)")
def list_events(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    since_id: int | None = None,
    page_info: str | None = None,
    verb: str | None = None,
    created_at_min: datetime | None = None,
    created_at_max: datetime | None = None,
    fields: str | None = None,
) -> Response:
    return _list(request, None, limit, since_id, page_info, verb, created_at_min, created_at_max, fields)


@router.get("/orders/{order_id}/events.json", summary="One order's timeline")
def order_events(
    request: Request,
    order_id: int,
    token: Annotated[ApiToken, Depends(read)],
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    since_id: int | None = None,
    page_info: str | None = None,
    verb: str | None = None,
    fields: str | None = None,
) -> Response:
    return _list(request, order_id, limit, since_id, page_info, verb, None, None, fields)


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
    return run_command(request, token, None, lambda cmd: (orders.delete_comment(cmd, order_id, comment_id), {})[1])
