"""Order edits: an Orderdeck extension in Shopify's REST style (Shopify edits orders through
GraphQL only; AFTER-THE-SALE.md §3.7 maps each route to its orderEdit* mutation).

An edit is begun on an order, changes are staged on it one request at a time (each answered with
the preview: the order as the edit would leave it), and the commit applies them all to the order
in one command. Every write goes through services/order_edits.py, the path the admin and the
status page take too, run by `run_command` so an Idempotency-Key replays the first answer and a
retried commit commits once.

Refusals are 422 naming the field, as everywhere in the API, with one exception: staging on or
committing an edit whose order changed since the edit began (fulfilled, refunded, edited by
someone else) is 409 Conflict, because the client's view of the order is stale, not its input.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from ..domain import order_edits as rules
from ..domain.errors import InvalidInput, NotFound, OrderError
from ..domain.order import Order
from ..resources.order_edits import calculated_order
from ..services import order_edits as commands
from ..services.context import Command
from ..store.access import ApiToken
from . import order_edits_models as m
from .auth import require
from .errors import ApiError
from .responses import app_of, json, only_fields, run_command

router = APIRouter(tags=["order_edits"])
# A token made for orders reaches their edits too (an edit changes the order, which write_orders
# may change anyway); read_order_edits/write_order_edits give an app edits alone, as Shopify's
# write_order_edits does.
read = require("read_order_edits", "read_orders")
write = require("write_order_edits", "write_orders")
LIMIT = Annotated[int, Query(ge=1, le=250)]


# ---- answering -----------------------------------------------------------------------------------
def _order(cmd: Command, order_id: int, *, lock: bool = False) -> Order:
    try:
        return cmd.uow.orders.get(order_id, for_update=lock)
    except NotFound:
        raise NotFound("Not Found") from None


def _render(cmd: Command, edit: rules.OrderEdit, calc: rules.CalculatedOrder | None = None) -> dict[str, Any]:
    """The edit with its preview. An edit no longer open (committed, abandoned) shows the order as
    it is now beside the changes it staged: its preview was the order it became. An open edit
    whose preview can no longer be made (the stock went, units were fulfilled meanwhile) shows the
    order as it is and says why in `calculation_errors`, so a client can see what to change."""
    problems: dict[str, list[str]] | None = None
    if calc is None:
        order = _order(cmd, edit.order_id)
        if edit.status == "open":
            try:
                calc = commands.preview(cmd, edit, order)
            except OrderError as exc:
                problems = {exc.field: [exc.message]}
        if calc is None:
            calc = rules.CalculatedOrder(order, copy.deepcopy(order), None)
    answer = calculated_order(calc, edit, cmd.app.render_context(cmd.uow), cmd.now)
    if edit.status != "open" or problems is not None:
        # The order as it is: what the edit staged is in staged_changes, not shown as done.
        answer["shipping_lines"] = [s for s in answer["shipping_lines"] if s["staged_status"] == "NONE"]
    answer["calculation_errors"] = problems
    return answer


def _answer(cmd: Command, edit: rules.OrderEdit, calc: rules.CalculatedOrder) -> dict[str, Any]:
    return {"order_edit": _render(cmd, edit, calc)}


def _current(cmd: Command, edit_id: int, *, lock_order: bool = False) -> None:
    """Refuse, before anything is staged or committed, an edit whose order changed since it began
    (409: the client's picture of the order is stale). The other refusals stay the services' 422s,
    checked here in their order (not open, expired, order cancelled or archived) so that they win.
    The commit locks the order here (edit, then order: the services' order), so nothing can change
    it between this check and the commit's own."""
    edit = commands.get(cmd, edit_id, for_update=True)
    rules.require_open(edit, cmd.now)
    order = _order(cmd, edit.order_id, lock=lock_order)
    rules.require_editable(order)
    if order.version != edit.base_version:
        try:
            rules.require_unchanged(order, edit)
        except OrderError as exc:
            raise ApiError(409, {exc.field: [exc.message]}) from None


def _stage(request: Request, token: ApiToken, edit_id: int, body: Any, change: Any) -> Response:
    """One staged change: `change(cmd)` calls the service, which answers (edit, preview)."""

    def work(cmd: Command) -> dict[str, Any]:
        _current(cmd, edit_id)
        return _answer(cmd, *change(cmd))

    return run_command(request, token, body, work)


# ---- reading -------------------------------------------------------------------------------------
@router.get("/order_edits/{edit_id}.json", summary="One order edit with its preview (Orderdeck extension)")
def get_order_edit(
    request: Request, edit_id: int, token: Annotated[ApiToken, Depends(read)], fields: str | None = None
) -> Response:
    """`status` is open, committed, abandoned or expired (open past the shop's `order_edit_hours`)."""
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        cmd = Command(app, uow, None)  # type: ignore[arg-type]  # a read: nobody is recorded
        edit = commands.get(cmd, edit_id)
        return json({"order_edit": only_fields(_render(cmd, edit), fields)})


@router.get("/orders/{order_id}/order_edits.json", summary="An order's edits, newest first (Orderdeck extension)")
def list_order_edits(
    request: Request,
    order_id: int,
    token: Annotated[ApiToken, Depends(read)],
    status: str | None = None,
    limit: LIMIT = 50,
    fields: str | None = None,
) -> Response:
    """`status`: open, committed or abandoned (an expired edit is open past its time)."""
    if status is not None and status not in rules.STATUSES:
        raise InvalidInput(f"{status!r} is not one of {', '.join(rules.STATUSES)}", field="status")
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        cmd = Command(app, uow, None)  # type: ignore[arg-type]
        _order(cmd, order_id)
        found = uow.order_edits.of_order(order_id, status=status, limit=limit)
        return json({"order_edits": [only_fields(_render(cmd, edit), fields) for edit in found]})


# ---- beginning, staging ----------------------------------------------------------------------
@router.post(
    "/orders/{order_id}/order_edits.json", status_code=201, summary="Begin an order edit (Orderdeck extension)"
)
def begin(
    request: Request,
    order_id: int,
    token: Annotated[ApiToken, Depends(write)],
    body: Annotated[m.BeginIn | None, Body()] = None,
) -> Response:
    """Nothing changes on the order until the edit is committed. The edit expires after the shop's
    `order_edit_hours` (24 unless changed). Cancelled and archived orders can't be edited."""

    def work(cmd: Command) -> dict[str, Any]:
        _order(cmd, order_id)
        return _answer(cmd, *commands.begin(cmd, order_id))

    return run_command(request, token, body, work, status=201)


@router.post("/order_edits/{edit_id}/add_variant.json", summary="Stage a catalogue variant (Orderdeck extension)")
def add_variant(
    request: Request, edit_id: int, body: m.AddVariantIn, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """At the catalogue's price. A variant already on the order is refused unless
    `allow_duplicates` (change that line's quantity instead); `location_id` is where it ships
    from (routed like a new order's line without it). Stock is checked now and reserved at commit."""
    return _stage(
        request,
        token,
        edit_id,
        body,
        lambda cmd: commands.add_variant(
            cmd,
            edit_id,
            variant_id=body.variant_id,
            quantity=body.quantity,
            location_id=body.location_id,
            allow_duplicates=body.allow_duplicates,
        ),
    )


@router.post("/order_edits/{edit_id}/add_custom_item.json", summary="Stage a custom item (Orderdeck extension)")
def add_custom_item(
    request: Request, edit_id: int, body: m.AddCustomItemIn, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """`price` is per unit, in the order's presentment currency."""
    return _stage(
        request,
        token,
        edit_id,
        body,
        lambda cmd: commands.add_custom_item(
            cmd,
            edit_id,
            title=body.title,
            price=body.price,
            quantity=body.quantity,
            taxable=body.taxable,
            requires_shipping=body.requires_shipping,
        ),
    )


@router.post("/order_edits/{edit_id}/set_quantity.json", summary="Stage a line's new quantity (Orderdeck extension)")
def set_quantity(
    request: Request, edit_id: int, body: m.SetQuantityIn, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """`line_item_id` is a line of the order or an item the edit added (its staged id). 0 removes
    the line (it stays on the order with current_quantity 0). Units already fulfilled or refunded
    can't be taken off; `restock` puts the units taken off back in stock."""
    return _stage(
        request,
        token,
        edit_id,
        body,
        lambda cmd: commands.set_quantity(
            cmd, edit_id, line_item_id=body.line_item_id, quantity=body.quantity, restock=body.restock
        ),
    )


@router.post(
    "/order_edits/{edit_id}/line_item_discounts.json", summary="Stage a discount on one line (Orderdeck extension)"
)
def add_line_item_discount(
    request: Request, edit_id: int, body: m.LineDiscountIn, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """`fixed_value` is an amount off each unit (presentment currency); `percent_value` a
    percentage of the line. One discount per line: a second replaces the first."""
    value, value_type = body.value
    return _stage(
        request,
        token,
        edit_id,
        body,
        lambda cmd: commands.add_discount(
            cmd,
            edit_id,
            line_item_id=body.line_item_id,
            value=value,
            value_type=value_type,
            description=body.description,
        ),
    )


@router.put(
    "/order_edits/{edit_id}/discounts/{application_id}.json",
    summary="Change a staged discount (Orderdeck extension)",
)
def update_discount(
    request: Request,
    edit_id: int,
    application_id: int,
    body: m.DiscountIn,
    token: Annotated[ApiToken, Depends(write)],
) -> Response:
    value, value_type = body.value
    return _stage(
        request,
        token,
        edit_id,
        body,
        lambda cmd: commands.update_discount(
            cmd, edit_id, application_id, value=value, value_type=value_type, description=body.description
        ),
    )


@router.delete(
    "/order_edits/{edit_id}/discounts/{application_id}.json",
    summary="Remove a staged discount (Orderdeck extension)",
)
def remove_discount(
    request: Request, edit_id: int, application_id: int, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    return _stage(request, token, edit_id, None, lambda cmd: commands.remove_discount(cmd, edit_id, application_id))


@router.post("/order_edits/{edit_id}/shipping_lines.json", summary="Stage a shipping line (Orderdeck extension)")
def add_shipping_line(
    request: Request, edit_id: int, body: m.ShippingLineIn, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Shipping is never recalculated by an edit (as in Shopify): add, change or remove a line by
    hand. `price` in the order's presentment currency."""
    return _stage(
        request,
        token,
        edit_id,
        body,
        lambda cmd: commands.add_shipping_line(cmd, edit_id, title=body.title, price=body.price),
    )


@router.put(
    "/order_edits/{edit_id}/shipping_lines/{shipping_line_id}.json",
    summary="Stage a change to a shipping line (Orderdeck extension)",
)
def update_shipping_line(
    request: Request,
    edit_id: int,
    shipping_line_id: int,
    body: m.ShippingLineUpdateIn,
    token: Annotated[ApiToken, Depends(write)],
) -> Response:
    """A line of the order or one the edit added; what is left out stays as it is."""
    return _stage(
        request,
        token,
        edit_id,
        body,
        lambda cmd: commands.update_shipping_line(cmd, edit_id, shipping_line_id, title=body.title, price=body.price),
    )


@router.delete(
    "/order_edits/{edit_id}/shipping_lines/{shipping_line_id}.json",
    summary="Stage the removal of a shipping line (Orderdeck extension)",
)
def remove_shipping_line(
    request: Request, edit_id: int, shipping_line_id: int, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    return _stage(
        request, token, edit_id, None, lambda cmd: commands.remove_shipping_line(cmd, edit_id, shipping_line_id)
    )


# ---- committing, abandoning ----------------------------------------------------------------------
@router.post("/order_edits/{edit_id}/commit.json", summary="Commit an order edit (Orderdeck extension)")
def commit(
    request: Request,
    edit_id: int,
    token: Annotated[ApiToken, Depends(write)],
    body: Annotated[m.CommitIn | None, Body()] = None,
) -> Response:
    """Applies every staged change to the order in one transaction and answers the order. Raises
    orders/edited then orders/updated; with `notify_customer`, the customer gets the "Order
    edited" e-mail. No money moves: what is left to pay is the order's `total_outstanding`, what
    could be refunded the edit's `suggested_refund_set`. 409 if the order changed since the edit
    began: begin a new edit."""
    data = body or m.CommitIn()

    def work(cmd: Command) -> bytes:
        _current(cmd, edit_id, lock_order=True)
        _, _, rendered = commands.commit(cmd, edit_id, notify_customer=data.notify_customer, staff_note=data.staff_note)
        return b'{"order":' + rendered + b"}"

    return run_command(request, token, body, work)


@router.delete("/order_edits/{edit_id}.json", summary="Abandon an order edit (Orderdeck extension)")
def abandon(request: Request, edit_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    """Nothing staged reaches the order. A committed edit can't be abandoned (422)."""

    def work(cmd: Command) -> dict[str, Any]:
        commands.abandon(cmd, edit_id)
        return {}

    return run_command(request, token, None, work)
