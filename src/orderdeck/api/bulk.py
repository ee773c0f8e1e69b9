"""Bulk work on many orders, by ids or by filter: archive, unarchive, tags.

Archive, unarchive and tags are done set-based, a few statements a batch of thousands
(services/bulk_set.py), with the same refusals, timeline events, webhooks and counts as one order
at a time; a refusal does not undo the others, and the answer says what happened to every
order. Declared before the single-order routes so that `/orders/bulk/...` is never read as an
order id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ..domain.errors import InvalidInput
from ..services import bulk_set, notifications, orders
from ..store.access import ApiToken
from ..store.queries import OrderFilter, order_ids
from . import schemas
from .auth import author_of, require
from .responses import app_of, json

router = APIRouter(tags=["bulk"])
write = require("write_orders")
MAX_ORDERS = 100_000


def chosen_orders(conn: Any, body: schemas.BulkIn | schemas.BulkMessageIn) -> list[int]:
    """The orders a bulk request names: its ids, or what its filter selects (at most MAX_ORDERS)."""
    if body.ids and body.filter:
        raise InvalidInput("send ids or a filter, not both", field="ids")
    if body.ids:
        return list(dict.fromkeys(body.ids))
    if body.filter is None:
        raise InvalidInput("send the ids of the orders or a filter", field="ids")
    return order_ids(conn, OrderFilter(**body.filter.model_dump()), limit=MAX_ORDERS)


def _bulk(
    request: Request, token: ApiToken, body: schemas.BulkIn, action: str, step: Any, tags: list[str] | None = None
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        ids = chosen_orders(uow.conn, body)
    result = bulk_set.run(app, author_of(token), ids, action, tags=tags, step=step)
    return json({"bulk_result": {"succeeded": result.succeeded, "refused": result.refused}})


@router.post(
    "/orders/bulk/close.json",
    summary="Archive many orders (by ids or by filter); takes no Idempotency-Key, being safe to repeat",
)
def bulk_close(request: Request, body: schemas.BulkIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return _bulk(request, token, body, "archive", orders.close_order)


@router.post("/orders/bulk/open.json", summary="Unarchive many orders (by ids or by filter)")
def bulk_open(request: Request, body: schemas.BulkIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return _bulk(request, token, body, "unarchive", orders.reopen_order)


def _tags(body: schemas.BulkIn) -> list[str]:
    if not body.tags:
        raise InvalidInput("name the tags", field="tags")
    return body.tags if isinstance(body.tags, list) else body.tags.split(",")


@router.post("/orders/bulk/tags/add.json", summary="Add tags to many orders")
def bulk_tag(request: Request, body: schemas.BulkIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    tags = _tags(body)
    step = lambda cmd, oid: orders.change_tags(cmd, oid, add=tags, remove=[])  # noqa: E731
    return _bulk(request, token, body, "add_tags", step, tags)


@router.post("/orders/bulk/tags/remove.json", summary="Remove tags from many orders")
def bulk_untag(request: Request, body: schemas.BulkIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    tags = _tags(body)
    step = lambda cmd, oid: orders.change_tags(cmd, oid, add=[], remove=tags)  # noqa: E731
    return _bulk(request, token, body, "remove_tags", step, tags)


@router.post(
    "/orders/bulk/messages.json",
    status_code=202,
    summary="Write to the customers of many orders (by ids or by filter); subject and body are Liquid",
)
def bulk_message(request: Request, body: schemas.BulkMessageIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        shop = uow.shop
        notifications.check_message(body.message.subject, body.message.body, "en", shop.name)
        ids = chosen_orders(uow.conn, body)
    message = {"subject": body.message.subject, "body": body.message.body}
    return json({"queued": notifications.queue_many(app, ids, message)}, status=202)


@router.post(
    "/orders/bulk/messages/preview.json", summary="A message to many customers, as one order's customer gets it"
)
def preview_bulk_message(
    request: Request, body: schemas.MessagePreviewIn, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    message = {"subject": body.message.subject, "body": body.message.body}
    return json({"preview": notifications.preview_message(app_of(request), message, body.order_id)})
