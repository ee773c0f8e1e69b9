"""Draft orders in the admin: the Drafts list (/admin/drafts) and each draft's page, where staff
send the invoice, complete the draft (paid, or payment pending) or delete it. Drafts are made
on the "Create order" page ("Save as draft", web/admin/new_order.py). Every action is the
command the API runs (services/draft_orders.py), authored by the staff member."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ...domain import draft_orders as rules
from ...domain.errors import NotFound, OrderError
from ...services import draft_orders as commands
from ...store.draft_orders import DraftFilter, DraftOrders
from .access import Admin, refusal, require
from .pages import render

router = APIRouter()
Viewer = Annotated[Admin, Depends(require("view_orders"))]
Manager = Annotated[Admin, Depends(require("manage_orders"))]
PAGE = 50
STATUS_WORDS = {"open": "Open", "invoice_sent": "Invoice sent", "completed": "Completed"}


@router.get("/drafts", summary="Draft orders, newest first")
def drafts_list(admin: Viewer, status: str | None = None, before: int | None = None) -> Response:
    chosen = status if status in rules.STATUSES else None
    with admin.app.unit_of_work(read_only=True) as uow:
        found = DraftOrders(uow.conn).newest(DraftFilter(status=chosen), PAGE + 1, before=before)
        ctx = admin.app.render_context(uow)
        timezone = uow.shop.timezone
    rows = [commands.render(d, ctx) for d in found[:PAGE]]
    more = len(found) > PAGE
    older = f"/admin/drafts?before={found[PAGE - 1].id}" + (f"&status={chosen}" if chosen else "") if more else None
    return render(
        admin,
        "drafts.html",
        rows=rows,
        words=STATUS_WORDS,
        chosen=chosen or "",
        older_url=older,
        tz=timezone,
    )


@router.get("/drafts/{draft_id}", summary="One draft order")
def draft_page(admin: Viewer, draft_id: int) -> Response:
    try:
        draft, ctx = commands.load(admin.app, draft_id)
    except NotFound:
        raise NotFound("There is no such draft order") from None
    with admin.app.unit_of_work(read_only=True) as uow:
        timezone = uow.shop.timezone
    return render(admin, "draft.html", d=commands.render(draft, ctx), words=STATUS_WORDS, tz=timezone)


async def _field(request: Request, name: str) -> str:
    value = (await request.form()).get(name)
    return value.strip()[:5000] if isinstance(value, str) else ""


@router.post("/drafts/{draft_id}/send_invoice", summary="Send the draft's invoice e-mail")
async def send_invoice(request: Request, admin: Manager, draft_id: int) -> Response:
    invoice = commands.Invoice(
        to=await _field(request, "to") or None, custom_message=await _field(request, "custom_message") or None
    )
    back = f"/admin/drafts/{draft_id}"

    def work(cmd: Any) -> None:
        commands.send_invoice(cmd, draft_id, invoice)

    return admin.act(work, back=back, success="Invoice sent")


@router.post("/drafts/{draft_id}/complete", summary="Complete the draft into an order")
async def complete(request: Request, admin: Manager, draft_id: int) -> Response:
    back = f"/admin/drafts/{draft_id}"
    pending = await _field(request, "payment") != "paid"
    if not pending and not admin.may("refund"):
        return admin.done(back, "Your account may not take payments; complete it with payment pending", kind="error")
    try:
        with admin.command() as cmd:
            draft = commands.complete(cmd, draft_id, payment_pending=pending)
    except OrderError as exc:
        return admin.done(back, refusal(exc), kind="error")
    return admin.done(f"/admin/orders/{draft.order_id}", f"Draft {draft.name} completed into this order")


@router.post("/drafts/{draft_id}/delete", summary="Delete the draft")
async def delete(admin: Manager, draft_id: int) -> Response:
    try:
        with admin.command() as cmd:
            commands.delete(cmd, draft_id)
    except OrderError as exc:
        return admin.done(f"/admin/drafts/{draft_id}", refusal(exc), kind="error")
    return admin.done("/admin/drafts", "Draft deleted")
