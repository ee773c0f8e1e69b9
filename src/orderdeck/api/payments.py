"""Transactions and refunds of an order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ..domain import refunds as refund_rules
from ..resources import render
from ..services import payments as payment_commands
from ..services import refunds
from ..services.context import Command
from ..store.access import ApiToken
from . import convert, schemas
from .auth import require
from .responses import app_of, json, only_fields, run_command

router = APIRouter(tags=["payments"])
read = require("read_orders")
write = require("write_orders")


def _order(request: Request, order_id: int) -> tuple[Any, render.RenderContext]:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        return uow.orders.get(order_id, for_update=False), app.render_context(uow)


@router.get("/orders/{order_id}/transactions.json", summary="An order's transactions")
def list_transactions(
    request: Request,
    order_id: int,
    token: Annotated[ApiToken, Depends(read)],
    since_id: int | None = None,
    fields: str | None = None,
) -> Response:
    order, ctx = _order(request, order_id)
    items = [
        only_fields(render.transaction(order, t, ctx), fields)
        for t in order.transactions
        if since_id is None or t.id > since_id
    ]
    return json({"transactions": items})


@router.get("/orders/{order_id}/transactions/count.json", summary="Count an order's transactions")
def count_transactions(request: Request, order_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    order, _ = _order(request, order_id)
    return json({"count": len(order.transactions)})


@router.get("/orders/{order_id}/transactions/{transaction_id}.json", summary="One transaction")
def get_transaction(
    request: Request,
    order_id: int,
    transaction_id: int,
    token: Annotated[ApiToken, Depends(read)],
    fields: str | None = None,
) -> Response:
    order, ctx = _order(request, order_id)
    found = order.transaction(transaction_id)
    if found is None:
        return json({"errors": "Not Found"}, 404)
    return json({"transaction": only_fields(render.transaction(order, found, ctx), fields)})


@router.post("/orders/{order_id}/transactions.json", status_code=201, summary="Capture, void, authorize or sell")
def create_transaction(
    request: Request, order_id: int, body: schemas.TransactionEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """`capture` (of the authorization in `parent_id`, or the only open one; `amount` defaults to
    what is left, never more), `void`, `authorization` and `sale` (through the named gateway).
    Amounts are in the order's presentment currency."""
    new = convert.transaction(body.transaction)

    def work(cmd: Command) -> dict[str, Any]:
        txn, _ = payment_commands.create_transaction(cmd, order_id, new, currency_required=True)
        order = cmd.uow.orders.get(order_id, for_update=False)
        return {
            "transaction": render.transaction(order, order.transaction(txn.id) or txn, cmd.app.render_context(cmd.uow))
        }

    return run_command(request, token, body, work, status=201)


@router.get("/orders/{order_id}/refunds.json", summary="An order's refunds")
def list_refunds(
    request: Request, order_id: int, token: Annotated[ApiToken, Depends(read)], fields: str | None = None
) -> Response:
    order, ctx = _order(request, order_id)
    return json({"refunds": [only_fields(render.refund(order, r, ctx), fields) for r in order.refunds]})


@router.get("/orders/{order_id}/refunds/{refund_id}.json", summary="One refund")
def get_refund(
    request: Request,
    order_id: int,
    refund_id: int,
    token: Annotated[ApiToken, Depends(read)],
    fields: str | None = None,
) -> Response:
    order, ctx = _order(request, order_id)
    found = next((r for r in order.refunds if r.id == refund_id), None)
    if found is None:
        return json({"errors": "Not Found"}, 404)
    return json({"refund": only_fields(render.refund(order, found, ctx), fields)})


@router.post("/orders/{order_id}/refunds/calculate.json", summary="What a refund would be (changes nothing)")
def calculate_refund(
    request: Request, order_id: int, body: schemas.RefundEnvelope, token: Annotated[ApiToken, Depends(read)]
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        cmd = Command(app, uow, None)  # type: ignore[arg-type]  # a read: nobody is recorded
        order, calc, parents = refunds.calculate(
            cmd, order_id, convert.refund_request(body.refund), body.refund.currency
        )
    owed = refund_rules.owed_without_items(order, calc)
    return json({"refund": render.refund_calculation(order, calc, parents, owed)})  # type: ignore[arg-type]


@router.post("/orders/{order_id}/refunds.json", status_code=201, summary="Refund money, items and shipping")
def create_refund(
    request: Request, order_id: int, body: schemas.RefundEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Refund line items (`restock_type` no_restock, cancel or return, with `location_id`),
    shipping, and money (`transactions`), never more than was captured. A calculate answer
    can be posted back as it came."""
    data = body.refund
    money = [refunds.RefundMoney(t.parent_id, t.amount, t.kind, t.currency) for t in data.transactions]

    def work(cmd: Command) -> dict[str, Any]:
        order, refund = refunds.create(
            cmd,
            order_id,
            convert.refund_request(data),
            money=money,
            currency=data.currency,
            notify=data.notify,
            currency_required=True,
        )
        return {"refund": render.refund(order, refund, cmd.app.render_context(cmd.uow))}

    return run_command(request, token, body, work, status=201)
