"""Fulfillment requests (Shopify REST 2024-10): the merchant sends a fulfillment order to the
fulfillment service of its location and may ask to cancel it; the service (the token that owns
it) lists what it was assigned, accepts or rejects requests and cancellations, and closes what
it cannot complete. Orderdeck does not call the service's callback_url: services poll
`assigned_fulfillment_orders.json`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response
from pydantic import Field

from ..domain.errors import InvalidInput
from ..domain.fulfillment_requests import ASSIGNMENT_STATUSES
from ..domain.order import Order
from ..resources import render
from ..services import fulfillment_requests as commands
from ..services.context import Command
from ..store.access import ApiToken
from ..store.fulfillment_services import FulfillmentServices
from . import convert
from .auth import require
from .responses import app_of, json, run_command
from .schemas import Id, LineRequestIn, Short, Strict, Text

router = APIRouter(tags=["fulfillment_requests"])
merchant = require("write_merchant_managed_fulfillment_orders", "write_fulfillments", "write_orders")
service_read = require("read_assigned_fulfillment_orders", "read_fulfillments")
service_write = require("write_assigned_fulfillment_orders", "write_fulfillments")


class FulfillmentRequestIn(Strict):
    message: Text | None = None
    notify_customer: bool = False
    fulfillment_order_line_items: list[LineRequestIn] = Field(default_factory=list, max_length=500)


class FulfillmentRequestEnvelope(Strict):
    fulfillment_request: FulfillmentRequestIn


class RequestMessageIn(Strict):
    message: Text | None = None


class AcceptRequestEnvelope(Strict):
    fulfillment_request: RequestMessageIn


class RejectedLineIn(Strict):
    fulfillment_order_line_item_id: Id
    message: Text | None = None


class RejectRequestIn(Strict):
    message: Text | None = None
    reason: Short | None = None
    line_items: list[RejectedLineIn] = Field(default_factory=list, max_length=500)


class RejectRequestEnvelope(Strict):
    fulfillment_request: RejectRequestIn


class CancellationRequestEnvelope(Strict):
    cancellation_request: RequestMessageIn


class CloseFulfillmentOrderEnvelope(Strict):
    fulfillment_order: RequestMessageIn


def _fo(cmd: Command, order: Order, fo: Any) -> dict[str, Any] | None:
    if fo is None:
        return None
    names = {loc.id: loc.name for loc in cmd.uow.catalog.locations()}
    services = {s.location_id for s in FulfillmentServices(cmd.uow.conn).all()}
    return render.fulfillment_order(order, fo, cmd.app.render_context(cmd.uow), names, services)


@router.post("/fulfillment_orders/{fo_id}/fulfillment_request.json", summary="Request fulfillment from a service")
def request_fulfillment(
    request: Request, fo_id: int, body: FulfillmentRequestEnvelope, token: Annotated[ApiToken, Depends(merchant)]
) -> Response:
    """Only for an open fulfillment order at a fulfillment service's location whose request is
    unsubmitted (or was rejected). Naming some lines sends only those quantities: the rest stays
    behind in a new, unsubmitted fulfillment order."""
    r = body.fulfillment_request

    def work(cmd: Command) -> dict[str, Any]:
        order, fo, rest = commands.submit(
            cmd,
            fo_id,
            message=r.message,
            requests=convert.line_requests(r.fulfillment_order_line_items),
            notify_customer=r.notify_customer,
        )
        submitted = _fo(cmd, order, fo)
        return {
            "original_fulfillment_order": submitted,
            "submitted_fulfillment_order": submitted,
            "unsubmitted_fulfillment_order": _fo(cmd, order, rest),
        }

    return run_command(request, token, body, work)


@router.post("/fulfillment_orders/{fo_id}/cancellation_request.json", summary="Ask the service to cancel")
def request_cancellation(
    request: Request,
    fo_id: int,
    token: Annotated[ApiToken, Depends(merchant)],
    body: Annotated[CancellationRequestEnvelope | None, Body()] = None,
) -> Response:
    """Only once the service accepted the request (before that, cancel the fulfillment order)."""
    message = body.cancellation_request.message if body else None

    def work(cmd: Command) -> dict[str, Any]:
        order, fo = commands.request_cancellation(cmd, fo_id, message=message)
        return {"fulfillment_order": _fo(cmd, order, fo)}

    return run_command(request, token, body, work)


def _answer(request: Request, token: ApiToken, body: Any, fo_id: int, action: str, **extra: Any) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        order, fo, replacement = commands.answer(cmd, fo_id, token.id, action, **extra)
        answer = {"fulfillment_order": _fo(cmd, order, fo)}
        if action in ("accept_cancellation", "close"):
            answer["replacement_fulfillment_order"] = _fo(cmd, order, replacement)
        return answer

    return run_command(request, token, body, work)


@router.post("/fulfillment_orders/{fo_id}/fulfillment_request/accept.json", summary="Service: accept a request")
def accept_request(
    request: Request,
    fo_id: int,
    token: Annotated[ApiToken, Depends(service_write)],
    body: Annotated[AcceptRequestEnvelope | None, Body()] = None,
) -> Response:
    message = body.fulfillment_request.message if body else None
    return _answer(request, token, body, fo_id, "accept", message=message)


@router.post("/fulfillment_orders/{fo_id}/fulfillment_request/reject.json", summary="Service: reject a request")
def reject_request(
    request: Request,
    fo_id: int,
    token: Annotated[ApiToken, Depends(service_write)],
    body: Annotated[RejectRequestEnvelope | None, Body()] = None,
) -> Response:
    """`reason` is one of incorrect_address, inventory_out_of_stock, ineligible_product,
    undeliverable_destination, other; `line_items` may say why per line."""
    r = body.fulfillment_request if body else RejectRequestIn()
    lines = [(li.fulfillment_order_line_item_id, li.message) for li in r.line_items]
    return _answer(request, token, body, fo_id, "reject", message=r.message, reason=r.reason, line_messages=lines)


@router.post("/fulfillment_orders/{fo_id}/cancellation_request/accept.json", summary="Service: accept a cancellation")
def accept_cancellation(
    request: Request,
    fo_id: int,
    token: Annotated[ApiToken, Depends(service_write)],
    body: Annotated[CancellationRequestEnvelope | None, Body()] = None,
) -> Response:
    """The fulfillment order is cancelled; its unshipped work returns to the merchant in a new,
    unsubmitted `replacement_fulfillment_order`."""
    message = body.cancellation_request.message if body else None
    return _answer(request, token, body, fo_id, "accept_cancellation", message=message)


@router.post("/fulfillment_orders/{fo_id}/cancellation_request/reject.json", summary="Service: reject a cancellation")
def reject_cancellation(
    request: Request,
    fo_id: int,
    token: Annotated[ApiToken, Depends(service_write)],
    body: Annotated[CancellationRequestEnvelope | None, Body()] = None,
) -> Response:
    message = body.cancellation_request.message if body else None
    return _answer(request, token, body, fo_id, "reject_cancellation", message=message)


@router.post("/fulfillment_orders/{fo_id}/close.json", summary="Service: give an accepted order back")
def close(
    request: Request,
    fo_id: int,
    token: Annotated[ApiToken, Depends(service_write)],
    body: Annotated[CloseFulfillmentOrderEnvelope | None, Body()] = None,
) -> Response:
    """Incomplete, request closed; the unshipped work returns to the merchant in a new,
    unsubmitted `replacement_fulfillment_order`."""
    message = body.fulfillment_order.message if body else None
    return _answer(request, token, body, fo_id, "close", message=message)


@router.get("/assigned_fulfillment_orders.json", summary="Service: the fulfillment orders assigned to it")
def assigned_fulfillment_orders(
    request: Request,
    token: Annotated[ApiToken, Depends(service_read)],
    assignment_status: str | None = None,
    location_ids: Annotated[list[int] | None, Query(alias="location_ids[]")] = None,
) -> Response:
    """The active fulfillment orders at the locations of the caller's own services."""
    if assignment_status is not None and assignment_status not in ASSIGNMENT_STATUSES:
        raise InvalidInput(f"must be one of {', '.join(ASSIGNMENT_STATUSES)}", field="assignment_status")
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        cmd = Command(app, uow, None)  # type: ignore[arg-type]
        found = commands.assigned(
            cmd, token.id, assignment_status=assignment_status, location_ids=list(location_ids or [])
        )
        return json({"fulfillment_orders": [_fo(cmd, order, fo) for order, fo in found]})
