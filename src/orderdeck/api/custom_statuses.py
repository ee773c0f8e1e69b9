"""Custom statuses (`custom_statuses.json`, Orderdeck's resource in Shopify's conventions):
the merchant's stages, and putting one order or many in a stage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import Field

from ..domain.errors import InvalidInput
from ..resources import render
from ..resources.render import RenderContext, ts
from ..services import custom_statuses
from ..services.bulk import run_in_batches
from ..services.context import Command
from ..store.access import ApiToken
from ..store.custom_statuses import CustomStatus, CustomStatuses
from . import schemas
from .auth import author_of, require
from .bulk import chosen_orders
from .responses import app_of, json, run_command
from .schemas import Short, Strict

router = APIRouter(tags=["custom statuses"])
read = require("read_orders")
write = require("write_orders")


class StatusIn(Strict):
    handle: Short | None = None
    names: dict[Short, Short] | None = None
    color: Short | None = None
    position: int | None = None
    customer_visible: bool | None = None
    notify: bool | None = None


class StatusEnvelope(Strict):
    custom_status: StatusIn


class SetIn(Strict):
    handle: Short | None  # None takes the order out of any stage
    notify: bool | None = None  # None: the stage's own setting ("save and notify" or not)
    due_at: datetime | None = None
    public_note: Annotated[str, Field(max_length=2000)] | None = None
    private_note: Annotated[str, Field(max_length=2000)] | None = None


class SetEnvelope(Strict):
    custom_status: SetIn


class BulkSetIn(schemas.BulkIn):
    custom_status: SetIn


def status_json(s: CustomStatus, ctx: RenderContext) -> dict[str, Any]:
    return {
        "id": s.id,
        "handle": s.handle,
        "names": s.names,
        "color": s.color,
        "position": s.position,
        "customer_visible": s.customer_visible,
        "notify": s.notify,
        "created_at": ts(s.created_at, ctx),
        "updated_at": ts(s.updated_at, ctx),
    }


def _answer(cmd: Command, status: CustomStatus) -> dict[str, Any]:
    return {"custom_status": status_json(status, cmd.app.render_context(cmd.uow))}


@router.get("/custom_statuses.json", summary="The merchant's stages, in their order")
def list_statuses(request: Request, token: Annotated[ApiToken, Depends(read)]) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        ctx = app.render_context(uow)
        return json({"custom_statuses": [status_json(s, ctx) for s in CustomStatuses(uow.conn).all()]})


@router.post("/custom_statuses.json", status_code=201, summary="Create a stage")
def create_status(request: Request, body: StatusEnvelope, token: Annotated[ApiToken, Depends(write)]) -> Response:
    values = body.custom_status.model_dump(exclude_none=True)
    return run_command(request, token, body, lambda cmd: _answer(cmd, custom_statuses.create(cmd, values)), status=201)


@router.get("/custom_statuses/{status_id}.json", summary="One stage")
def get_status(request: Request, status_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        return json({"custom_status": status_json(CustomStatuses(uow.conn).get(status_id), app.render_context(uow))})


@router.put("/custom_statuses/{status_id}.json", summary="Rename, recolour, reorder; who sees it; notify by default")
def update_status(
    request: Request, status_id: int, body: StatusEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    values = body.custom_status.model_dump(exclude_none=True)
    return run_command(request, token, body, lambda cmd: _answer(cmd, custom_statuses.change(cmd, status_id, values)))


@router.delete("/custom_statuses/{status_id}.json", summary="Delete a stage; its orders move to move_to")
def delete_status(
    request: Request, status_id: int, token: Annotated[ApiToken, Depends(write)], move_to: str | None = None
) -> Response:
    return run_command(request, token, None, lambda cmd: {"moved": custom_statuses.delete(cmd, status_id, move_to)})


def _set(cmd: Command, order_id: int, body: SetIn) -> bytes | None:
    return custom_statuses.set_on_order(
        cmd,
        order_id,
        body.handle,
        notify=body.notify,
        due_at=body.due_at,
        public_note=body.public_note,
        private_note=body.private_note,
    )


# Before the single-order route, so that /orders/bulk/… is never read as an order id.
@router.post("/orders/bulk/custom_status.json", summary="Put many orders in a stage (by ids or by filter)")
def bulk_set_status(request: Request, body: BulkSetIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        ids = chosen_orders(uow.conn, body)
        handle = body.custom_status.handle
        if handle is not None and CustomStatuses(uow.conn).by_handle(handle) is None:
            raise InvalidInput(f"no custom status {handle!r}; create it first", field="handle")
    result = run_in_batches(app, author_of(token), ids, lambda cmd, oid: _set(cmd, oid, body.custom_status))
    return json({"bulk_result": {"succeeded": result.succeeded, "refused": result.refused}})


@router.post("/orders/{order_id}/custom_status.json", summary="Put an order in a stage (save and notify, or not)")
def set_status(
    request: Request, order_id: int, body: SetEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    def work(cmd: Command) -> bytes:
        rendered = _set(cmd, order_id, body.custom_status)
        if rendered is None:  # already so: answer with the order as it is
            rendered = orjson.dumps(render.order(cmd.uow.orders.get(order_id), cmd.app.render_context(cmd.uow)))
        return b'{"order":' + rendered + b"}"

    return run_command(request, token, body, work)
