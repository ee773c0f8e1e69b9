"""Returns, reverse fulfillment orders and reverse deliveries: an Orderdeck extension in Shopify's
REST style (Shopify has returns in GraphQL only; AFTER-THE-SALE.md §1.9 maps each route to its
mutation). Every write is one command through services/returns.py, the same path the admin,
the status page and automation rules take, run by `run_command` so an Idempotency-Key replays
the first answer and nothing is done twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from ..domain import returns as rules
from ..domain.errors import InvalidInput, NotFound, RuleViolation
from ..domain.order import Order, Return, ReturnTracking, order_id_of
from ..resources import render
from ..services import refunds as refund_commands
from ..services import returns as commands
from ..services.context import Command
from ..store.access import ApiToken
from . import returns_models as m
from .auth import require
from .errors import ApiError
from .responses import app_of, json, link_header, only_fields, run_command

router = APIRouter(tags=["returns"])
# A token made for orders reaches returns too (returns are part of the order JSON it reads, and
# it may refund the order anyway); read_returns/write_returns give an app returns alone.
read = require("read_returns", "read_orders")
write = require("write_returns", "write_orders")
LIMIT = Annotated[int, Query(ge=1, le=250)]
BAD_PAGE_INFO = "Invalid value: page_info is the value the Link header gave"


# ---- reading -------------------------------------------------------------------------------------
def _read(request: Request, order_id: int) -> tuple[Order, render.RenderContext]:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        try:
            order = uow.orders.get(order_id, for_update=False)
        except NotFound:
            raise NotFound("Not Found") from None
        return order, app.render_context(uow)


def _return_of(order: Order, return_id: int) -> Return:
    found = order.return_(return_id)
    if found is None:
        raise NotFound("Not Found")
    return found


@router.get("/orders/{order_id}/returns.json", summary="An order's returns (Orderdeck extension)")
def list_returns(
    request: Request,
    order_id: int,
    token: Annotated[ApiToken, Depends(read)],
    status: str | None = None,
    limit: LIMIT = 50,
    page_info: str | None = None,
    fields: str | None = None,
) -> Response:
    """Oldest first. `status`: requested, open, declined, closed or canceled. The `Link` header's
    `page_info` continues after the last return of the page."""
    if status is not None and status not in rules.RETURN_STATUSES:
        raise InvalidInput(f"{status!r} is not one of {', '.join(rules.RETURN_STATUSES)}", field="status")
    if page_info is not None and not page_info.isdecimal():
        raise ApiError(400, {"page_info": [BAD_PAGE_INFO]})
    after = int(page_info) if page_info else 0
    order, ctx = _read(request, order_id)
    found = sorted(
        (r for r in order.returns if r.id > after and (status is None or r.status == status)), key=lambda r: r.id
    )
    page = found[:limit]
    more = len(found) > limit
    headers = link_header(request, limit, str(page[-1].id) if more else None, None, fields, keep={"status": status})
    return json({"returns": [only_fields(render.return_(order, r, ctx), fields) for r in page]}, headers=headers)


@router.get("/returns/{return_id}.json", summary="One return (Orderdeck extension)")
def get_return(
    request: Request, return_id: int, token: Annotated[ApiToken, Depends(read)], fields: str | None = None
) -> Response:
    order, ctx = _read(request, order_id_of(return_id))
    return json({"return": only_fields(render.return_(order, _return_of(order, return_id), ctx), fields)})


@router.get(
    "/orders/{order_id}/returnable_fulfillments.json", summary="What can still be returned (Orderdeck extension)"
)
def returnable_fulfillments(request: Request, order_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    """Per fulfillment, the units that are fulfilled and neither refunded nor in another return."""
    order, _ = _read(request, order_id)
    return json({"returnable_fulfillments": render.returnable_fulfillments(order)})


@router.get(
    "/returns/{return_id}/reverse_fulfillment_orders.json",
    summary="A return's reverse fulfillment orders (Orderdeck extension)",
)
def list_reverse_fulfillment_orders(
    request: Request, return_id: int, token: Annotated[ApiToken, Depends(read)]
) -> Response:
    order, ctx = _read(request, order_id_of(return_id))
    ret = _return_of(order, return_id)
    return json(
        {
            "reverse_fulfillment_orders": [
                render.reverse_fulfillment_order(order, ret, rfo, ctx) for rfo in ret.reverse_fulfillment_orders
            ]
        }
    )


# ---- from bodies to the services' requests -------------------------------------------------------
def _shipping_fee(order: Order, fee: m.ReturnShippingFeeIn | None) -> Any:
    if fee is None:
        return None
    currency = fee.currency or fee.currency_code
    if currency is not None and currency.upper() != order.presentment_currency:
        raise InvalidInput(
            f"the return shipping fee is in the order's currency, {order.presentment_currency}",
            field="return_shipping_fee",
        )
    return commands.parse_fee(order, str(fee.amount))


def _return_request(
    cmd: Command, order: Order, data: m.ReturnRequestIn, exchanges: list[m.ExchangeLineIn]
) -> rules.ReturnRequest:
    wanted: list[tuple[int, int, Decimal | None, str | None, str | None]] = []
    for ex in exchanges:
        discount = ex.applied_discount
        if discount is None:
            wanted.append((ex.variant_id, ex.quantity, None, None, None))
        elif discount.value.percentage is not None:
            wanted.append((ex.variant_id, ex.quantity, discount.value.percentage, "percentage", discount.description))
        else:
            wanted.append((ex.variant_id, ex.quantity, discount.value.amount, "fixed_amount", discount.description))
    return rules.ReturnRequest(
        lines=[
            rules.ReturnLineRequest(
                fulfillment_line_item_id=line.fulfillment_line_item_id,
                quantity=line.quantity,
                return_reason=line.return_reason,
                return_reason_note=line.return_reason_note,
                customer_note=line.customer_note,
                restocking_fee_percentage=line.restocking_fee.percentage if line.restocking_fee else None,
            )
            for line in data.return_line_items
        ],
        exchanges=commands.exchange_variants(cmd, wanted) if wanted else [],
        shipping_fee=_shipping_fee(order, data.return_shipping_fee),
        requested_at=data.requested_at,
    )


def _money(transactions: list[m.ReturnRefundTransactionIn] | None) -> list[refund_commands.RefundMoney] | None:
    if transactions is None:
        return None  # the suggested refund
    return [refund_commands.RefundMoney(t.parent_id, str(t.amount), t.kind) for t in transactions]


def _tracking(t: m.TrackingIn | None) -> ReturnTracking | None:
    if t is None:
        return None
    return ReturnTracking(number=t.number, url=t.url, carrier_name=t.company)


def _answer(cmd: Command, order: Order, ret: Return) -> dict[str, Any]:
    return {"return": render.return_(order, ret, cmd.app.render_context(cmd.uow))}


def _order_for(cmd: Command, order_id: int) -> Order:
    try:
        return cmd.uow.orders.get(order_id, for_update=False)
    except NotFound:
        raise NotFound("Not Found") from None


# ---- money preview and creating ------------------------------------------------------------------
@router.post(
    "/orders/{order_id}/returns/calculate.json",
    summary="What a return would come to, changing nothing (Orderdeck extension)",
)
def calculate(
    request: Request, order_id: int, body: m.ReturnEnvelope, token: Annotated[ApiToken, Depends(read)]
) -> Response:
    """The returned units' worth, restocking and return shipping fees, exchange items, and the
    outcome: `refund` (the shop would owe), `invoice` (the customer would owe) or `none`, net of
    what the order already owes either way."""
    data = body.return_
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        cmd = Command(app, uow, None)  # type: ignore[arg-type]  # a read: nobody is recorded
        order = _order_for(cmd, order_id)
        order, calc, outstanding = commands.calculate(
            cmd, order_id, _return_request(cmd, order, data, data.exchange_line_items)
        )
    return json({"return": render.return_calculation(order, calc, outstanding)})


def _start(request: Request, token: ApiToken, order_id: int, body: Any, status: str) -> Response:
    data = body.return_
    exchanges = getattr(data, "exchange_line_items", [])

    def work(cmd: Command) -> dict[str, Any]:
        order = _order_for(cmd, order_id)
        start = commands.StartReturn(
            _return_request(cmd, order, data, exchanges), status=status, notify=data.notify_customer
        )
        order, ret = commands.start(cmd, order_id, start)
        return _answer(cmd, order, ret)

    return run_command(request, token, body, work, status=201)


@router.post("/orders/{order_id}/returns.json", status_code=201, summary="Create an open return (Orderdeck extension)")
def create_return(
    request: Request, order_id: int, body: m.ReturnEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Staff start a return already approved (Shopify's returnCreate): reverse fulfillment orders
    are made at once, exchange items become line items on a fulfillment order held until the
    units are back (and while the customer owes the difference). An archived order is unarchived."""
    return _start(request, token, order_id, body, "open")


@router.post(
    "/orders/{order_id}/return_requests.json",
    status_code=201,
    summary="Request a return, to approve or decline (Orderdeck extension)",
)
def request_return(
    request: Request, order_id: int, body: m.ReturnRequestEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    return _start(request, token, order_id, body, "requested")


# ---- the return's state --------------------------------------------------------------------------
@router.post("/returns/{return_id}/approve.json", summary="Approve a requested return (Orderdeck extension)")
def approve(
    request: Request,
    return_id: int,
    token: Annotated[ApiToken, Depends(write)],
    body: Annotated[m.ApproveEnvelope | None, Body()] = None,
) -> Response:
    notify = body.return_.notify_customer if body else False

    def work(cmd: Command) -> dict[str, Any]:
        return _answer(cmd, *commands.approve(cmd, return_id, notify=notify))

    return run_command(request, token, body, work)


@router.post("/returns/{return_id}/decline.json", summary="Decline a requested return (Orderdeck extension)")
def decline(
    request: Request, return_id: int, body: m.DeclineEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    data = body.return_

    def work(cmd: Command) -> dict[str, Any]:
        order, ret = commands.decline(
            cmd, return_id, reason=data.decline_reason, note=data.decline_note, notify=data.notify_customer
        )
        return _answer(cmd, order, ret)

    return run_command(request, token, body, work)


@router.post("/returns/{return_id}/cancel.json", summary="Cancel a return before any work (Orderdeck extension)")
def cancel(request: Request, return_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    """Only before anything was received or refunded: the units count as fulfilled again and
    unshipped exchange items come off the order."""
    return run_command(request, token, None, lambda cmd: _answer(cmd, *commands.cancel(cmd, return_id)))


@router.post("/returns/{return_id}/close.json", summary="Close an open return by hand (Orderdeck extension)")
def close(request: Request, return_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(request, token, None, lambda cmd: _answer(cmd, *commands.close(cmd, return_id)))


@router.post("/returns/{return_id}/reopen.json", summary="Reopen a closed return (Orderdeck extension)")
def reopen(request: Request, return_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(request, token, None, lambda cmd: _answer(cmd, *commands.reopen(cmd, return_id)))


@router.post(
    "/returns/{return_id}/remove_line_items.json",
    summary="Take units off a return before they are received or refunded (Orderdeck extension)",
)
def remove_line_items(
    request: Request, return_id: int, body: m.RemoveLinesEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    data = body.return_

    def work(cmd: Command) -> dict[str, Any]:
        order, ret = commands.remove_lines(
            cmd,
            return_id,
            return_lines=[(li.id, li.quantity) for li in data.return_line_items],
            exchange_lines=[(li.id, li.quantity) for li in data.exchange_line_items],
        )
        return _answer(cmd, order, ret)

    return run_command(request, token, body, work)


# ---- money ---------------------------------------------------------------------------------------
@router.post(
    "/returns/{return_id}/refunds.json", status_code=201, summary="Refund a return's units (Orderdeck extension)"
)
def refund_return(
    request: Request, return_id: int, body: m.ReturnRefundEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """An ordinary refund tied to the return (its `return` key). Without `return_line_items`,
    every unit not yet refunded; without `transactions`, the suggested refund: the units' worth
    less the fees, set against exchange items, never more than was captured."""
    data = body.refund
    shipping = data.shipping

    def work(cmd: Command) -> dict[str, Any]:
        order, made = commands.refund(
            cmd,
            return_id,
            commands.ReturnRefund(
                lines=[(li.id, li.quantity) for li in data.return_line_items],
                shipping_full_refund=bool(shipping and shipping.full_refund),
                shipping_amount=shipping.amount if shipping else None,
                money=_money(data.transactions),
                note=data.note,
                notify=data.notify,
                currency=data.currency,
            ),
        )
        return {"refund": render.refund(order, made, cmd.app.render_context(cmd.uow))}

    return run_command(request, token, body, work, status=201)


def _dispositions(order: Order, ret: Return, lines: list[m.ProcessLineIn]) -> list[rules.DispositionRequest]:
    """Each return line's dispositions, on the reverse fulfillment order line that carries it."""
    wanted = []
    for line in lines:
        rli = ret.line(line.id)
        if rli is None:
            raise InvalidInput(f"return line item {line.id} is not on return {ret.name}", field="return_line_items")
        if not line.dispositions:
            continue
        if sum(d.quantity for d in line.dispositions) != line.quantity:
            raise InvalidInput(
                f"the dispositions of return line item {line.id} must add up to its quantity, {line.quantity}",
                field="return_line_items",
            )
        rfo_line = next(
            (
                li
                for rfo in ret.reverse_fulfillment_orders
                if rfo.status != "canceled"
                for li in rfo.line_items
                if li.return_line_item_id == rli.id
            ),
            None,
        )
        if rfo_line is None:
            raise RuleViolation(
                f"Return {ret.name} is {ret.status}; items can only be received on an open return",
                field="return_line_items",
            )
        wanted += [rules.DispositionRequest(rfo_line.id, d.quantity, d.type, d.location_id) for d in line.dispositions]
    return wanted


@router.post(
    "/returns/{return_id}/process.json",
    summary="Receive units and refund them in one step (Orderdeck extension)",
)
def process(
    request: Request, return_id: int, body: m.ProcessEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Dispose of the named units (their `dispositions` add up to each line's `quantity`), then,
    with `refund`, refund those units: one command, so either both happen or neither. Without
    `refund.transactions`, the suggested refund. Answers the return and the refund (null without
    `refund`)."""
    data = body.return_
    shipping = data.refund_shipping

    def work(cmd: Command) -> dict[str, Any]:
        order = _order_for(cmd, order_id_of(return_id))
        ret = _return_of(order, return_id)
        wanted = _dispositions(order, ret, data.return_line_items)
        if not wanted and data.refund is None:
            raise InvalidInput("give dispositions, a refund or both", field="return_line_items")
        if wanted:
            order, _ = commands.dispose(cmd, wanted)
        made = None
        if data.refund is not None:
            order, made = commands.refund(
                cmd,
                return_id,
                commands.ReturnRefund(
                    lines=[(li.id, li.quantity) for li in data.return_line_items],
                    shipping_full_refund=bool(shipping and shipping.full_refund),
                    shipping_amount=shipping.amount if shipping else None,
                    money=_money(data.refund.transactions),
                    note=data.note,
                    notify=data.notify_customer,
                    currency=data.currency,
                ),
            )
        ctx = cmd.app.render_context(cmd.uow)
        return {
            "return": render.return_(order, _return_of(order, return_id), ctx),
            "refund": render.refund(order, made, ctx) if made is not None else None,
        }

    return run_command(request, token, body, work)


# ---- the parcel coming back ----------------------------------------------------------------------
@router.post(
    "/reverse_fulfillment_orders/{rfo_id}/reverse_deliveries.json",
    status_code=201,
    summary="Attach a return label and/or tracking (Orderdeck extension)",
)
def create_reverse_delivery(
    request: Request, rfo_id: int, body: m.ReverseDeliveryEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Without `line_items`, every unit of the reverse fulfillment order. The label is an
    http(s) address of the label file."""
    data = body.reverse_delivery

    def work(cmd: Command) -> dict[str, Any]:
        order, ret, delivery = commands.attach_delivery(
            cmd,
            rfo_id,
            lines=[(li.reverse_fulfillment_order_line_item_id, li.quantity) for li in data.line_items],
            label_url=data.label.file_url if data.label else None,
            tracking=_tracking(data.tracking),
            notify=data.notify_customer,
        )
        _, rfo = rules.require_reverse_fulfillment_order(order, rfo_id)
        ctx = cmd.app.render_context(cmd.uow)
        return {"reverse_delivery": render.reverse_delivery(order, ret, rfo, delivery, ctx)}  # type: ignore[arg-type]

    return run_command(request, token, body, work, status=201)


@router.put("/reverse_deliveries/{delivery_id}.json", summary="Change a return label or tracking (Orderdeck extension)")
def update_reverse_delivery(
    request: Request,
    delivery_id: int,
    body: m.ReverseDeliveryUpdateEnvelope,
    token: Annotated[ApiToken, Depends(write)],
) -> Response:
    data = body.reverse_delivery

    def work(cmd: Command) -> dict[str, Any]:
        order, ret, _ = commands.update_delivery(
            cmd,
            delivery_id,
            label_url=data.label.file_url if data.label else None,
            tracking=_tracking(data.tracking),
            notify=data.notify_customer,
        )
        _, rfo, delivery = rules.require_reverse_delivery(order, delivery_id)
        ctx = cmd.app.render_context(cmd.uow)
        return {"reverse_delivery": render.reverse_delivery(order, ret, rfo, delivery, ctx)}

    return run_command(request, token, body, work)


@router.post(
    "/reverse_fulfillment_orders/dispose.json",
    summary="Receive returned units: restocked, not restocked, … (Orderdeck extension)",
)
def dispose(request: Request, body: m.DisposeIn, token: Annotated[ApiToken, Depends(write)]) -> Response:
    """Every disposition of one call belongs to one order. `restocked` needs a `location_id`:
    the units go back on hand and available there."""

    def work(cmd: Command) -> dict[str, Any]:
        order, touched = commands.dispose(
            cmd,
            [
                rules.DispositionRequest(
                    d.reverse_fulfillment_order_line_item_id, d.quantity, d.disposition_type, d.location_id
                )
                for d in body.dispositions
            ],
        )
        ctx = cmd.app.render_context(cmd.uow)
        answer = []
        for rfo in touched:
            ret, found = rules.require_reverse_fulfillment_order(order, rfo.id)  # type: ignore[attr-defined]
            answer.append(render.reverse_fulfillment_order(order, ret, found, ctx))
        return {"reverse_fulfillment_orders": answer}

    return run_command(request, token, body, work)
