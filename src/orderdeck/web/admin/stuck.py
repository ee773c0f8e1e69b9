"""Stuck orders in the admin (S8.3): the Stuck page, every order flagged stuck with the reason,
since when, the service and the next step (tabs per reason with counts), and the banner on the
order page that explains each flag with links and buttons for the next step.

The flags themselves are domain/stuck.py's; this module only shows them and runs the one
command a banner offers directly (request fulfillment again). Moving items and cancelling are the
order page's own forms, which the banner links to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ...domain import stuck as rules
from ...domain.order import Order, StuckFlag
from ...services import fulfillment_requests
from ...services.context import Command
from ...store import stuck as listing
from .access import Admin, require
from .pages import render

router = APIRouter()
Viewer = Annotated[Admin, Depends(require("view_orders"))]
Manager = Annotated[Admin, Depends(require("manage_orders"))]
PAGE_SIZE = 50


def _flag_view(order: Order, flag: StuckFlag, now: datetime, locations: dict[int, str]) -> dict[str, Any]:
    """One flag as the page and the banner show it, with where its next step is done."""
    fo = order.fulfillment_order(flag.fulfillment_order_id) if flag.fulfillment_order_id else None
    # The work to act on: what a closing service gave back, else the flagged fulfillment order.
    work = rules.handed_back(order, fo) if fo is not None and flag.reason == "closed_incomplete" else fo
    can_request = work is not None and work.request_status in ("unsubmitted", "rejected") and work.status == "open"
    return {
        "flag": flag,
        "label": rules.REASONS[flag.reason],
        "headline": rules.headline(flag, now),
        "next_step": rules.next_step(flag)[:1].upper() + rules.next_step(flag)[1:] + ".",
        "service": flag.service or (locations.get(fo.assigned_location_id) if fo else None),
        "work_id": work.id if work is not None else None,
        "request_again": can_request and flag.reason in ("request_rejected", "closed_incomplete"),
        "move": work is not None and work.is_active and flag.reason in ("request_rejected", "closed_incomplete"),
        "cancel": flag.reason in ("request_rejected", "closed_incomplete", "unfulfilled_too_long"),
    }


def banner(order: Order, now: datetime, locations: dict[int, str]) -> list[dict[str, Any]]:
    """The order page's stuck banner: each standing flag explained (empty: not stuck)."""
    return [_flag_view(order, flag, now, locations) for flag in order.stuck]


def _customer(order: Order) -> str:
    if order.customer and order.customer.name:
        return order.customer.name
    address = order.shipping_address or order.billing_address
    return address.name if address else (order.email or "")


@router.get("/stuck", summary="Stuck orders: why, since when, with which service, and what to do")
def stuck_page(request: Request, admin: Viewer) -> Response:
    params = request.query_params
    reason = params.get("reason") or "any"
    raw_before = params.get("before") or ""
    error = None
    if reason != "any" and reason not in rules.REASONS:
        error, reason = f"There is no stuck reason {reason[:40]!r}; showing every stuck order.", "any"
    before = int(raw_before) if raw_before.isdecimal() and len(raw_before) < 19 else None
    with admin.app.unit_of_work(read_only=True) as uow:
        counted = listing.counts(uow.conn)
        found, older = listing.page(uow.conn, reason, before=before, limit=PAGE_SIZE)
        locations = {loc.id: loc.name for loc in uow.catalog.locations()}
        now = uow.now
        tz = uow.shop.timezone
    rows = []
    for order in found:
        for view in banner(order, now, locations):
            if reason in ("any", view["flag"].reason):
                rows.append({"order": order, "customer": _customer(order), **view})
    tabs = [{"reason": "any", "words": "All stuck", "count": counted.get("any", 0)}]
    tabs += [{"reason": code, "words": words, "count": counted.get(code, 0)} for code, words in rules.REASONS.items()]
    return render(
        admin,
        "stuck.html",
        rows=rows,
        tabs=tabs,
        chosen=reason,
        error=error,
        tz=tz,
        older_url=f"/admin/stuck?reason={reason}&before={older}" if older else None,
        first_url=f"/admin/stuck?reason={reason}" if before is not None else None,
    )


@router.post("/orders/{order_id}/stuck/{fo_id}/request-again", summary="Request fulfillment again from the service")
def request_again(order_id: int, fo_id: int, admin: Manager) -> Response:
    """The banner's button after a rejection or a give-back: the same request, sent again."""
    from .order import _fo_of, _run  # order.py shows the banner from this module

    _fo_of(order_id, fo_id)

    def work(cmd: Command) -> str:
        fulfillment_requests.submit(
            cmd, fo_id, message="Requested again by staff.", requests=None, notify_customer=True
        )
        return "Fulfillment requested again; the service is notified."

    return _run(admin, order_id, work)
