"""Bulk work on many orders, by ids or by filter: archive, unarchive, tags.

Each order is its own command and transaction, so one refusal does not undo the others; the
answer says what happened to every order. Declared before the single-order routes so that
`/orders/bulk/...` is never read as an order id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ..domain.errors import InvalidInput, OrderError
from ..services import orders
from ..store.access import ApiToken
from ..store.codec import decode_order
from ..store.queries import OrderFilter, list_orders
from . import schemas
from .auth import require
from .errors import ApiError
from .responses import app_of, json, run_command

router = APIRouter(tags=["bulk"])
write = require("write_orders")
MAX_ORDERS = 100_000


def _bulk_ids(conn: Any, body: schemas.BulkIn) -> list[int]:
    if body.ids and body.filter:
        raise InvalidInput("send ids or a filter, not both", field="ids")
    if body.ids:
        return list(dict.fromkeys(body.ids))
    if body.filter is None:
        raise InvalidInput("send the ids of the orders or a filter", field="ids")
    flt = OrderFilter(**body.filter.model_dump())
    flt.check()
    ids, after = [], None
    while True:
        page = list_orders(conn, flt, sort="id", descending=False, limit=250, after=after)
        ids.extend(decode_order(d).id for d in page.documents)
        if page.next is None or len(ids) >= MAX_ORDERS:
            return ids
        after = page.next


def _bulk(request: Request, token: ApiToken, body: schemas.BulkIn, step: Any) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        ids = _bulk_ids(uow.conn, body)
    done, refused = [], []
    for order_id in ids:
        try:
            run_command(request, token, None, lambda cmd, oid=order_id: (step(cmd, oid), {})[1], idempotent=False)
            done.append(order_id)
        except OrderError as exc:
            refused.append({"id": order_id, "error": exc.message})
        except ApiError as exc:  # e.g. 409: the order changed under us; the others go on
            refused.append({"id": order_id, "error": str(exc.errors)})
    return json({"bulk_result": {"succeeded": done, "refused": refused}})


@router.post(
    "/orders/bulk/close.json",
    summary="Archive many orders (by ids or by filter); takes no Idempotency-Key, being safe to repeat",
)
def bulk_close(request: Request, body: schemas.BulkIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return _bulk(request, token, body, orders.close_order)


@router.post("/orders/bulk/open.json", summary="Unarchive many orders (by ids or by filter)")
def bulk_open(request: Request, body: schemas.BulkIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return _bulk(request, token, body, orders.reopen_order)


def _tags(body: schemas.BulkIn) -> list[str]:
    if not body.tags:
        raise InvalidInput("name the tags", field="tags")
    return body.tags if isinstance(body.tags, list) else body.tags.split(",")


@router.post("/orders/bulk/tags/add.json", summary="Add tags to many orders")
def bulk_tag(request: Request, body: schemas.BulkIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    tags = _tags(body)
    return _bulk(request, token, body, lambda cmd, oid: orders.change_tags(cmd, oid, add=tags, remove=[]))


@router.post("/orders/bulk/tags/remove.json", summary="Remove tags from many orders")
def bulk_untag(request: Request, body: schemas.BulkIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    tags = _tags(body)
    return _bulk(request, token, body, lambda cmd, oid: orders.change_tags(cmd, oid, add=[], remove=tags))
