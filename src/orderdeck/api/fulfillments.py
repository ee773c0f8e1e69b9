"""Fulfillment orders and their actions; fulfillments, tracking and shipment events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response

from ..domain.errors import NotFound
from ..domain.order import Order, order_id_of
from ..resources import render
from ..services import fulfillments as commands
from ..services.context import Command
from ..store.access import ApiToken
from ..store.fulfillment_services import FulfillmentServices
from . import convert, schemas
from .auth import require
from .catalog_models import FulfillmentsOut, answers
from .responses import app_of, json, only_fields, run_command

router = APIRouter(tags=["fulfillment"])
read = require("read_merchant_managed_fulfillment_orders", "read_fulfillments", "read_orders")
write = require("write_merchant_managed_fulfillment_orders", "write_fulfillments", "write_orders")


def _names(cmd_or_uow: Any) -> dict[int, str]:
    return {loc.id: loc.name for loc in cmd_or_uow.catalog.locations()}


def _service_locations(uow: Any) -> set[int]:
    """Where fulfillment services fulfil (their FOs' supported_actions differ)."""
    return {s.location_id for s in FulfillmentServices(uow.conn).all()}


def _fo_json(cmd: Command, order: Order, fo: Any) -> dict[str, Any] | None:
    if fo is None:
        return None
    return render.fulfillment_order(
        order, fo, cmd.app.render_context(cmd.uow), _names(cmd.uow), _service_locations(cmd.uow)
    )


def _read_order(request: Request, order_id: int) -> tuple[Order, render.RenderContext, dict[int, str], set[int]]:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        try:
            order = uow.orders.get(order_id, for_update=False)
        except NotFound:
            raise NotFound("Not Found") from None
        return order, app.render_context(uow), _names(uow), _service_locations(uow)


# ---- fulfillment orders ------------------------------------------------------------------------
@router.get("/orders/{order_id}/fulfillment_orders.json", summary="An order's fulfillment orders")
def list_fulfillment_orders(request: Request, order_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    order, ctx, names, services = _read_order(request, order_id)
    return json(
        {
            "fulfillment_orders": [
                render.fulfillment_order(order, fo, ctx, names, services) for fo in order.fulfillment_orders
            ]
        }
    )


@router.get("/fulfillment_orders/{fo_id}.json", summary="One fulfillment order")
def get_fulfillment_order(request: Request, fo_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    order, ctx, names, services = _read_order(request, order_id_of(fo_id))
    fo = order.fulfillment_order(fo_id)
    if fo is None:
        raise NotFound("Not Found")
    return json({"fulfillment_order": render.fulfillment_order(order, fo, ctx, names, services)})


@router.get(
    "/fulfillment_orders/{fo_id}/fulfillments.json",
    summary="Fulfillments that shipped units of one fulfillment order",
    responses=answers(FulfillmentsOut),
)
def list_fulfillment_order_fulfillments(
    request: Request, fo_id: int, token: Annotated[ApiToken, Depends(read)]
) -> Response:
    """Oldest first, cancelled ones included (with status `cancelled`). A fulfillment that
    shipped units of several fulfillment orders is listed under each of them."""
    order, ctx, _, _ = _read_order(request, order_id_of(fo_id))
    if order.fulfillment_order(fo_id) is None:
        raise NotFound("Not Found")
    shipped = [f for f in order.fulfillments if any(line.fulfillment_order_id == fo_id for line in f.line_items)]
    return json({"fulfillments": [render.fulfillment(order, f, ctx) for f in shipped]})


@router.get("/fulfillment_orders/{fo_id}/locations_for_move.json", summary="Where a fulfillment order can move")
def locations_for_move(request: Request, fo_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        order = uow.orders.get(order_id_of(fo_id), for_update=False)
        fo = order.fulfillment_order(fo_id)
        if fo is None:
            raise NotFound("Not Found")
        items = {li.inventory_item_id for li in fo.line_items if li.inventory_item_id is not None}
        inventory = uow.inventory.load(items, lock=False)
        result = []
        for loc in uow.catalog.locations(active_only=True):
            if loc.id == fo.assigned_location_id:
                result.append(
                    {"location": {"id": loc.id, "name": loc.name}, "message": "Current location.", "movable": False}
                )
                continue
            missing = [i for i in items if not inventory.stocks(i, loc.id)]
            result.append(
                {
                    "location": {"id": loc.id, "name": loc.name},
                    "message": "Some items are not stocked at this location." if missing else "",
                    "movable": not missing and fo.status in ("open", "scheduled", "in_progress"),
                }
            )
    return json({"locations_for_move": result})


@router.post("/fulfillment_orders/{fo_id}/hold.json", summary="Put fulfillment on hold")
def hold(
    request: Request, fo_id: int, body: schemas.HoldEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    h = body.fulfillment_hold

    def work(cmd: Command) -> dict[str, Any]:
        order, fo, remaining = commands.hold(
            cmd,
            fo_id,
            reason=h.reason,
            reason_notes=h.reason_notes,
            requests=convert.line_requests(h.fulfillment_order_line_items),
        )
        return {
            "fulfillment_order": _fo_json(cmd, order, fo),
            "remaining_fulfillment_order": _fo_json(cmd, order, remaining),
        }

    return run_command(request, token, body, work)


@router.post("/fulfillment_orders/{fo_id}/release_hold.json", summary="Release holds")
def release_hold(
    request: Request,
    fo_id: int,
    token: Annotated[ApiToken, Depends(write)],
    body: Annotated[schemas.ReleaseHoldIn | None, Body()] = None,
) -> Response:
    ids = body.hold_ids if body else None

    def work(cmd: Command) -> dict[str, Any]:
        order, fo = commands.release_hold(cmd, fo_id, hold_ids=ids or None)
        return {"fulfillment_order": _fo_json(cmd, order, fo)}

    return run_command(request, token, body, work)


@router.post("/fulfillment_orders/{fo_id}/reschedule.json", summary="Schedule for a later date")
def reschedule(
    request: Request, fo_id: int, body: schemas.RescheduleEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    when = body.fulfillment_order.new_fulfill_at
    if when.tzinfo is None:
        from datetime import UTC

        when = when.replace(tzinfo=UTC)

    def work(cmd: Command) -> dict[str, Any]:
        order, fo = commands.reschedule(cmd, fo_id, fulfill_at=when)
        return {"fulfillment_order": _fo_json(cmd, order, fo)}

    return run_command(request, token, body, work)


@router.post("/fulfillment_orders/{fo_id}/open.json", summary="Open a scheduled fulfillment order early")
def mark_as_open(request: Request, fo_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        order, fo = commands.mark_as_open(cmd, fo_id)
        return {"fulfillment_order": _fo_json(cmd, order, fo)}

    return run_command(request, token, None, work)


@router.post("/fulfillment_orders/{fo_id}/move.json", summary="Move to another location")
def move(
    request: Request, fo_id: int, body: schemas.MoveEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    m = body.fulfillment_order

    def work(cmd: Command) -> dict[str, Any]:
        order, original, moved, remaining = commands.move(
            cmd,
            fo_id,
            new_location_id=m.new_location_id,
            requests=convert.line_requests(m.fulfillment_order_line_items),
        )
        return {
            "original_fulfillment_order": _fo_json(cmd, order, original),
            "moved_fulfillment_order": _fo_json(cmd, order, moved),
            "remaining_fulfillment_order": _fo_json(cmd, order, remaining),
        }

    return run_command(request, token, body, work)


@router.post("/fulfillment_orders/{fo_id}/cancel.json", summary="Cancel and replace a fulfillment order")
def cancel_fulfillment_order(request: Request, fo_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        order, fo, replacement = commands.cancel_fulfillment_order(cmd, fo_id)
        return {
            "fulfillment_order": _fo_json(cmd, order, fo),
            "replacement_fulfillment_order": _fo_json(cmd, order, replacement),
        }

    return run_command(request, token, None, work)


# ---- fulfillments ----------------------------------------------------------------------------
def _fulfillment_json(cmd: Command, order: Order, found: Any) -> dict[str, Any]:
    return {"fulfillment": render.fulfillment(order, found, cmd.app.render_context(cmd.uow))}


@router.post("/fulfillments.json", status_code=201, summary="Fulfil items (with tracking)")
def create_fulfillment(
    request: Request, body: schemas.FulfillmentEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Ship some or all units of one or more fulfillment orders of one location. Leaving out the
    line items ships everything that is left. Known carriers get their tracking URL."""
    f = body.fulfillment
    requests = {
        g.fulfillment_order_id: convert.line_requests(g.fulfillment_order_line_items)
        for g in f.line_items_by_fulfillment_order
    }

    def work(cmd: Command) -> dict[str, Any]:
        order, made = commands.create_fulfillment(
            cmd,
            requests=requests,
            tracking=convert.tracking(f.tracking_info),
            notify_customer=f.notify_customer,
            message=f.message,
            origin_address=convert.address(f.origin_address),
            token_id=token.id,
        )
        return _fulfillment_json(cmd, order, made)

    return run_command(request, token, body, work, status=201)


@router.post("/fulfillments/{fulfillment_id}/update_tracking.json", summary="Change tracking")
def update_tracking(
    request: Request,
    fulfillment_id: int,
    body: schemas.UpdateTrackingEnvelope,
    token: Annotated[ApiToken, Depends(write)],
) -> Response:
    u = body.fulfillment

    def work(cmd: Command) -> dict[str, Any]:
        order, found = commands.update_tracking(
            cmd, fulfillment_id, tracking=convert.tracking(u.tracking_info), notify_customer=u.notify_customer
        )
        return _fulfillment_json(cmd, order, found)

    return run_command(request, token, body, work)


def _cancel(request: Request, token: ApiToken, fulfillment_id: int, order_id: int | None) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        order, found = commands.cancel_fulfillment(cmd, fulfillment_id, order_id=order_id)
        return _fulfillment_json(cmd, order, found)

    return run_command(request, token, None, work)


@router.post("/fulfillments/{fulfillment_id}/cancel.json", summary="Un-fulfil: cancel a fulfillment")
def cancel_fulfillment(request: Request, fulfillment_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    """The units become fulfillable again, stock goes back to committed at the location, and
    the order's fulfillment status follows (S8.1)."""
    return _cancel(request, token, fulfillment_id, None)


@router.post(
    "/orders/{order_id}/fulfillments/{fulfillment_id}/cancel.json", summary="Un-fulfil (the path older clients use)"
)
def cancel_fulfillment_legacy(
    request: Request, order_id: int, fulfillment_id: int, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    return _cancel(request, token, fulfillment_id, order_id)


@router.get("/orders/{order_id}/fulfillments.json", summary="An order's fulfillments")
def list_fulfillments(
    request: Request,
    order_id: int,
    token: Annotated[ApiToken, Depends(read)],
    since_id: int | None = None,
    fields: str | None = None,
) -> Response:
    order, ctx, _, _ = _read_order(request, order_id)
    return json(
        {
            "fulfillments": [
                only_fields(render.fulfillment(order, f, ctx), fields)
                for f in order.fulfillments
                if since_id is None or f.id > since_id
            ]
        }
    )


@router.get("/orders/{order_id}/fulfillments/count.json", summary="Count an order's fulfillments")
def count_fulfillments(request: Request, order_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    order, _, _, _ = _read_order(request, order_id)
    return json({"count": len(order.fulfillments)})


def _fulfillment(order: Order, fulfillment_id: int) -> Any:
    found = order.fulfillment(fulfillment_id)
    if found is None:
        raise NotFound("Not Found")
    return found


@router.get("/orders/{order_id}/fulfillments/{fulfillment_id}.json", summary="One fulfillment")
def get_fulfillment(
    request: Request,
    order_id: int,
    fulfillment_id: int,
    token: Annotated[ApiToken, Depends(read)],
    fields: str | None = None,
) -> Response:
    order, ctx, _, _ = _read_order(request, order_id)
    return json(
        {"fulfillment": only_fields(render.fulfillment(order, _fulfillment(order, fulfillment_id), ctx), fields)}
    )


@router.get("/orders/{order_id}/fulfillments/{fulfillment_id}/events.json", summary="Shipment events")
def list_events(
    request: Request, order_id: int, fulfillment_id: int, token: Annotated[ApiToken, Depends(read)]
) -> Response:
    order, ctx, _, _ = _read_order(request, order_id)
    found = _fulfillment(order, fulfillment_id)
    return json({"fulfillment_events": [render.fulfillment_event(order, found, e, ctx) for e in found.events]})


@router.get("/orders/{order_id}/fulfillments/{fulfillment_id}/events/{event_id}.json", summary="One shipment event")
def get_event(
    request: Request, order_id: int, fulfillment_id: int, event_id: int, token: Annotated[ApiToken, Depends(read)]
) -> Response:
    order, ctx, _, _ = _read_order(request, order_id)
    found = _fulfillment(order, fulfillment_id)
    event = next((e for e in found.events if e.id == event_id), None)
    if event is None:
        raise NotFound("Not Found")
    return json({"fulfillment_event": render.fulfillment_event(order, found, event, ctx)})


@router.post(
    "/orders/{order_id}/fulfillments/{fulfillment_id}/events.json",
    status_code=201,
    summary="Record a shipment event (in transit, delivered, …)",
)
def create_event(
    request: Request,
    order_id: int,
    fulfillment_id: int,
    body: schemas.FulfillmentEventEnvelope,
    token: Annotated[ApiToken, Depends(write)],
) -> Response:
    e = body.event
    details = e.model_dump(exclude={"status", "happened_at"}, exclude_none=True)

    def work(cmd: Command) -> dict[str, Any]:
        order, found, event = commands.add_event(
            cmd, order_id, fulfillment_id, status=e.status, happened_at=e.happened_at, details=details
        )
        return {"fulfillment_event": render.fulfillment_event(order, found, event, cmd.app.render_context(cmd.uow))}

    return run_command(request, token, body, work, status=201)


@router.delete(
    "/orders/{order_id}/fulfillments/{fulfillment_id}/events/{event_id}.json", summary="Remove a shipment event"
)
def delete_event(
    request: Request, order_id: int, fulfillment_id: int, event_id: int, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    return run_command(
        request, token, None, lambda cmd: (commands.delete_event(cmd, order_id, fulfillment_id, event_id), {})[1]
    )
