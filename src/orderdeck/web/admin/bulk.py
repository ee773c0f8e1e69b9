"""Bulk actions from the Orders page: choose, confirm, then watch them run (S7.4, S4.4).

The Orders page posts its selection (ticked orders, or "all that match" its filter) and an
action to `/admin/orders/bulk`; that page asks what the action needs and says how many orders
it will touch. Confirming records a background run (services/bulk_runs.py) with the orders
fixed at that moment and goes to its page, which shows a progress bar while a worker carries it
out and then the summary: how many succeeded, and each refused order with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData, QueryParams

from ...api.bulk import MAX_ORDERS
from ...domain.errors import InvalidInput, OrderError
from ...services import bulk_runs, notifications
from ...store.bulk_runs import order_names
from ...store.custom_statuses import CustomStatuses
from ...store.queries import order_ids
from ...tracking import CARRIER_URLS
from .access import Admin, NotPermitted, refusal, require
from .filters import order_filter
from .pages import CANCEL_REASON_WORDS, NO_STORE, render

router = APIRouter()

ACTIONS = bulk_runs.ACTIONS
LISTED = 50  # orders named on the confirmation page (and given tracking-number fields)
NOTHING_SELECTED = "Select at least one order first (tick its box), or apply the action to all orders that match."
# What the confirmation page starts with, per action (the safe choices).
DEFAULTS: dict[str, dict[str, Any]] = {
    "cancel": {"reason": "other", "refund": True, "restock": True, "notify": False},
    "fulfil": {"notify": True},
}


def _orders_page(filter_query: str) -> str:
    return "/admin/orders" + (f"?{filter_query}" if filter_query else "")


def _ids(form: FormData) -> list[int]:
    chosen = []
    for value in form.getlist("ids"):
        if not isinstance(value, str) or not value.strip().isdecimal() or len(value.strip()) > 18:
            raise InvalidInput(f"{value!r} is not an order", field="ids")
        chosen.append(int(value))
    return list(dict.fromkeys(chosen))


def _chosen(admin: Admin, form: FormData) -> tuple[str, str, list[int]]:
    """The selection a form sends: (scope, the Orders page's filter, the order ids)."""
    scope = str(form.get("scope") or "selected")
    filter_query = str(form.get("filter") or "")
    if scope == "filter":
        with admin.app.unit_of_work(read_only=True) as uow:
            chosen = order_filter(QueryParams(filter_query), uow.shop.timezone)
            return scope, filter_query, order_ids(uow.conn, chosen, limit=MAX_ORDERS)
    if scope != "selected":
        raise InvalidInput("choose the selected orders or all orders that match", field="scope")
    return scope, filter_query, _ids(form)


def _allowed(admin: Admin, action: str) -> None:
    """The permissions the same action needs on one order's page (bulk_runs.NEEDS)."""
    missing = bulk_runs.missing_permission(action, admin.may) if action in ACTIONS else None
    if missing is not None:
        raise NotPermitted(missing)


def _defaults(admin: Admin, action: str) -> dict[str, Any]:
    values = dict(DEFAULTS.get(action, {}))
    if action == "cancel" and not admin.may("refund"):
        values["refund"] = False  # they may cancel, but a paid order's refund would be refused
    return values


def _confirm(
    admin: Admin,
    action: str,
    scope: str,
    filter_query: str,
    ids: list[int],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    preview: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        listed = order_names(uow.conn, ids[:LISTED])
        stages = CustomStatuses(uow.conn).all() if action == "set_custom_status" else []
    return render(
        admin,
        "bulk_confirm.html",
        status=status,
        action=action,
        action_words=ACTIONS[action],
        scope=scope,
        filter_query=filter_query,
        ids=ids,
        listed=[(oid, listed.get(oid) or f"Order {oid}") for oid in ids[:LISTED]],
        per_order_tracking=scope == "selected" and len(ids) <= LISTED,
        back=_orders_page(filter_query),
        stages=[(s.handle, s.name("en")) for s in stages],
        reasons=list(CANCEL_REASON_WORDS.items()),
        carriers=list(CARRIER_URLS),
        values=values or {},
        errors=errors or {},
        preview=preview,
        max_orders=MAX_ORDERS,
    )


@router.post("/orders/bulk", summary="Confirm a bulk action chosen on the Orders page")
async def choose(request: Request, admin: Annotated[Admin, Depends(require("manage_orders"))]) -> Response:
    form = await request.form()
    action = str(form.get("action") or "")
    back = _orders_page(str(form.get("filter") or ""))
    if action not in ACTIONS and action != "export_csv":
        return admin.done(back, "Choose a bulk action first.", kind="error")
    _allowed(admin, action)
    if action == "export_csv":
        scope = str(form.get("scope") or "selected")
        if scope == "filter":
            return RedirectResponse("/admin/orders/export.csv?" + str(form.get("filter") or ""), status_code=303)
        try:
            picked = _ids(form)
        except InvalidInput as exc:
            return admin.done(back, refusal(exc), kind="error")
        if not picked:
            return admin.done(back, NOTHING_SELECTED, kind="error")
        return RedirectResponse("/admin/orders/export.csv?" + urlencode([("ids", i) for i in picked]), status_code=303)
    try:
        scope, filter_query, ids = _chosen(admin, form)
    except InvalidInput as exc:
        return admin.done(back, refusal(exc), kind="error")
    if not ids:
        message = NOTHING_SELECTED if scope == "selected" else "No orders match this filter, so there is nothing to do."
        return admin.done(back, message, kind="error")
    return _confirm(admin, action, scope, filter_query, ids, values=_defaults(admin, action))


def _raw_params(form: FormData) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name in (
        "tags",
        "tracking_company",
        "handle",
        "due_date",
        "public_note",
        "private_note",
        "reason",
        "staff_note",
        "subject",
        "body",
    ):
        value = form.get(name)
        if isinstance(value, str):
            raw[name] = value
    for name in ("notify", "refund", "restock"):
        raw[name] = form.get(name) not in (None, "", "0")
    raw["numbers"] = {
        key.removeprefix("tracking_number_"): value
        for key, value in form.multi_items()
        if key.startswith("tracking_number_")
        and key.removeprefix("tracking_number_").isdecimal()
        and len(key) < 35
        and isinstance(value, str)
    }
    return raw


@router.post("/orders/bulk/start", summary="Start a confirmed bulk action in the background")
async def start(request: Request, admin: Annotated[Admin, Depends(require("manage_orders"))]) -> Response:
    form = await request.form()
    action = str(form.get("action") or "")
    back = _orders_page(str(form.get("filter") or ""))
    if action not in ACTIONS:
        return admin.done(back, "Choose a bulk action first.", kind="error")
    _allowed(admin, action)
    try:
        scope, filter_query, ids = _chosen(admin, form)
    except InvalidInput as exc:
        return admin.done(back, refusal(exc), kind="error")
    if not ids:
        return admin.done(back, NOTHING_SELECTED, kind="error")
    raw = _raw_params(form)
    kept = {**raw, **{f"tracking_number_{k}": v for k, v in raw["numbers"].items()}}
    try:
        with admin.app.unit_of_work(read_only=True) as uow:
            params = bulk_runs.checked_params(uow, action, raw, ids)
        if action == "message" and form.get("preview"):
            message = {"subject": params["subject"], "body": params["body"]}
            shown = notifications.preview_message(admin.app, message, ids[0])
            return _confirm(admin, action, scope, filter_query, ids, values=kept, preview=shown)
    except OrderError as exc:
        errors = {exc.field: refusal(exc) if exc.field == "base" else exc.message[:1].upper() + exc.message[1:]}
        return _confirm(admin, action, scope, filter_query, ids, values=kept, errors=errors, status=422)
    run_id = bulk_runs.start(
        admin.app,
        staff_id=admin.staff.id,
        staff_name=admin.staff.name,
        action=action,
        params=params,
        order_ids=ids,
    )
    return RedirectResponse(f"/admin/bulk/{run_id}", status_code=303)


@router.get("/bulk/{run_id}", summary="A bulk action's progress, then its summary")
def run_page(run_id: int, admin: Annotated[Admin, Depends(require("view_orders"))]) -> Response:
    run = bulk_runs.get(admin.app, run_id)
    return render(
        admin,
        "bulk_run.html",
        run=run,
        action_words=ACTIONS.get(run.action, run.action),
        done_words=bulk_runs.DONE_WORDS.get(run.action, "done"),
        params=run.params,
    )


@router.get("/bulk/{run_id}/progress.json", summary="How far a bulk action has gone (polled by the progress bar)")
def run_progress(run_id: int, admin: Annotated[Admin, Depends(require("view_orders"))]) -> Response:
    return JSONResponse(bulk_runs.progress(admin.app, run_id), headers=NO_STORE)
