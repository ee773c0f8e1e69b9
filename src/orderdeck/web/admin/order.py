"""The order page (S3, S8): one order with every status, its items grouped by fulfillment order
and location, fulfilments with tracking, the customer, addresses, tags, note, custom status and
the timeline, with the actions staff take on it.

Every action is a form posting to /admin/orders/{id}/…, runs the same service command the REST
API runs (authored by the staff member, so the timeline names them), and comes back to the page
with what happened or why it was refused. Whether an action is offered is asked of the domain
itself: each one is tried on a copy of the order, and a refusal is shown as the reason instead
of a button. Payments, cancelling, archiving and deleting are in `order_money`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from ...domain import fulfillment as rules
from ...domain import fulfillment_requests as request_rules
from ...domain import lifecycle
from ...domain.errors import InvalidInput, NotFound, OrderError
from ...domain.fulfillment import HOLD_REASONS, LineRequest, TrackingInfo
from ...domain.inventory import Inventory
from ...domain.order import Address, Fulfillment, FulfillmentOrder, Order, order_id_of
from ...domain.statuses import derive_statuses
from ...notify import templates
from ...resources import render
from ...services import custom_statuses, fulfillment_requests, fulfillments, notifications, orders
from ...services.context import Command
from ...services.order_note import customer_sees_note
from ...store.custom_statuses import CustomStatuses
from ...store.fulfillment_services import FulfillmentServices
from ...store.uow import UnitOfWork
from ...tracking import CARRIER_URLS
from ...tracking import link as tracking_link
from . import order_money
from .access import Admin, Form, refusal, require
from .pages import ADDRESS_FIELDS
from .pages import render as render_page

router = APIRouter()
Viewer = Annotated[Admin, Depends(require("view_orders"))]
Manager = Annotated[Admin, Depends(require("manage_orders"))]

HOLD_REASON_WORDS = {
    "awaiting_payment": "Awaiting payment",
    "awaiting_return_items": "Awaiting the returned items",
    "high_risk_of_fraud": "High risk of fraud",
    "incorrect_address": "Incorrect address",
    "inventory_out_of_stock": "Inventory out of stock",
    "unknown_delivery_date": "Unknown delivery date",
    "other": "Other",
}
FO_STATUS_WORDS = {
    "open": "Open",
    "in_progress": "In progress",
    "scheduled": "Scheduled",
    "on_hold": "On hold",
    "closed": "Closed",
    "cancelled": "Cancelled",
    "incomplete": "Incomplete",
}
# custom_message needs a subject and text: it is sent from "Contact customer" instead.
# draft_order_invoice belongs to a draft, sent from the draft's page.
RESENDABLE = tuple(name for name in templates.NAMES if name not in ("custom_message", "draft_order_invoice"))


# ---- words a merchant reads ---------------------------------------------------------------------
def _plain(message: str, order: Order | None, locations: dict[int, str]) -> str:
    """The domain names records by id ("location 3", "line 4398046511105"); staff know them by
    name. Ids this order or shop knows are replaced, anything else is left as it is."""
    words: dict[str, str] = {}
    for loc_id, name in locations.items():
        words[f"location {loc_id}"] = name
        words[f"Location {loc_id}"] = name
    if order is not None:
        for fo in order.fulfillment_orders:
            at = locations.get(fo.assigned_location_id, "its location")
            for said in (f"The fulfillment order {fo.id}", f"Fulfillment order {fo.id}"):
                words[said] = f"The fulfillment order at {at}"
            for said in (f"the fulfillment order {fo.id}", f"fulfillment order {fo.id}"):
                words[said] = f"the fulfillment order at {at}"
            for line in fo.line_items:
                item = order.line_item(line.line_item_id)
                if item is not None:
                    words[f"line {line.id}"] = f"“{item.name}”"
    if not words:
        return message
    pattern = re.compile("|".join(re.escape(k) + r"\b" for k in sorted(words, key=len, reverse=True)))
    return pattern.sub(lambda m: words[m.group(0)], message)


def _location_names(uow: UnitOfWork) -> dict[int, str]:
    return {loc.id: loc.name for loc in uow.catalog.locations()}


# ---- what the domain allows now -----------------------------------------------------------------
@dataclass
class Trial:
    """The order and stock as they are, to try a command on a copy and hear the domain's answer."""

    order: Order
    inventory: Inventory
    active_locations: set[int]
    now: datetime
    admin: Admin
    locations: dict[int, str]
    services: dict[int, str] = field(default_factory=dict)  # fulfillment services by their location

    def refused(self, attempt: Callable[[Order, Inventory], object]) -> str | None:
        """None when the domain would allow it, otherwise its reason in a sentence."""
        order, inventory = copy.deepcopy(self.order), copy.deepcopy(self.inventory)
        try:
            attempt(order, inventory)
        except OrderError as exc:
            return _plain(refusal(exc), self.order, self.locations)
        return None


def _fo_actions(trial: Trial, fo: FulfillmentOrder) -> dict[str, Any]:
    """Each action on one fulfillment order: None when allowed, else why not; and where it may move."""
    author, now = trial.admin.author, trial.now

    def on(order: Order) -> FulfillmentOrder:
        return rules.require_fo(order, fo.id)

    why: dict[str, str | None] = {
        "fulfil": trial.refused(
            lambda o, inv: rules.create_fulfillment(
                o,
                requests={fo.id: None},
                tracking=TrackingInfo(),
                inventory=inv,
                author=author,
                now=now,
                services=trial.services,
            )
        ),
        "hold": trial.refused(
            lambda o, _: rules.hold(o, on(o), reason="other", reason_notes=None, requests=None, author=author, now=now)
        ),
        "release": trial.refused(lambda o, _: rules.release_hold(o, on(o), hold_ids=None, author=author, now=now)),
        "reschedule": trial.refused(
            lambda o, _: rules.reschedule(o, on(o), fulfill_at=now + timedelta(days=1), author=author, now=now)
        ),
        "open": trial.refused(lambda o, _: rules.mark_as_open(o, on(o), author=author, now=now)),
    }
    service = trial.services.get(fo.assigned_location_id)
    if service is not None:
        # At a service's location the merchant requests fulfillment instead of fulfilling.
        why["request"] = trial.refused(
            lambda o, _: request_rules.submit(
                o,
                on(o),
                service_name=service,
                message=None,
                requests=None,
                notify_customer=True,
                author=author,
                now=now,
            )
        )
    targets: list[tuple[int, str]] = []
    move_refusals: list[str] = []
    for loc_id in sorted(trial.active_locations - {fo.assigned_location_id}):

        def move_to(o: Order, inv: Inventory, loc_id: int = loc_id) -> object:
            return rules.move(
                o,
                on(o),
                new_location_id=loc_id,
                active_locations=trial.active_locations,
                requests=None,
                inventory=inv,
                author=author,
                now=now,
            )

        reason = trial.refused(move_to)
        if reason is None:
            targets.append((loc_id, trial.locations.get(loc_id, str(loc_id))))
        else:
            move_refusals.append(reason)
    if targets:
        why["move"] = None
    elif move_refusals:
        why["move"] = move_refusals[0]
    else:
        why["move"] = "There is no other active location to move it to."
    return {"why": why, "move_to": targets}


@dataclass
class Group:
    """One fulfillment order as the page shows it: where, in which state, what is on it."""

    fo: FulfillmentOrder
    location: str
    lines: list[dict[str, Any]]
    why: dict[str, str | None]
    move_to: list[tuple[int, str]]
    holds: list[dict[str, Any]] = field(default_factory=list)
    request: str | None = None  # where its fulfillment service stands ("Requested from …")


def _groups(order: Order, trial: Trial) -> list[Group]:
    found = []
    # Active work first (what staff act on), then what is closed.
    for fo in sorted(order.fulfillment_orders, key=lambda f: (not f.is_active, f.id)):
        if not fo.line_items:
            continue
        lines = []
        for line in fo.line_items:
            item = order.line_item(line.line_item_id)
            lines.append(
                {
                    "id": line.id,
                    "name": item.name if item else f"Item {line.line_item_id}",
                    "sku": item.sku if item else None,
                    "price": item.price if item else None,
                    "quantity": line.quantity,
                    "remaining": line.fulfillable_quantity,
                }
            )
        actions = _fo_actions(trial, fo)
        found.append(
            Group(
                fo=fo,
                location=trial.locations.get(fo.assigned_location_id, f"Location {fo.assigned_location_id}"),
                lines=lines,
                why=actions["why"],
                move_to=actions["move_to"],
                request=_request_words(fo, trial.services.get(fo.assigned_location_id)),
                holds=[
                    {
                        "reason": HOLD_REASON_WORDS.get(h.reason, h.reason),
                        "notes": h.reason_notes,
                        "by": h.author.name if h.author else None,
                        "at": h.held_at,
                    }
                    for h in fo.fulfillment_holds
                ],
            )
        )
    return found


# Where a fulfillment service stands with a fulfillment order at its location, in a sentence.
REQUEST_WORDS = {
    "unsubmitted": "{service} fulfills this: fulfillment has not been requested yet.",
    "submitted": "Requested from {service}; waiting for it to accept.",
    "accepted": "Requested from {service}, which accepted and fulfills it.",
    "rejected": "{service} rejected the request.",
    "cancellation_requested": "Cancellation requested from {service}; waiting for its answer.",
    "cancellation_accepted": "{service} accepted the cancellation.",
    "cancellation_rejected": "{service} refused to cancel and fulfills it.",
    "closed": "{service} could not complete it and gave it back.",
}


def _request_words(fo: FulfillmentOrder, service: str | None) -> str | None:
    if service is None:
        return None
    return REQUEST_WORDS.get(fo.request_status, "{service}: " + fo.request_status).format(service=service)


def _shipments(order: Order, trial: Trial) -> list[dict[str, Any]]:
    shown = []
    for f in sorted(order.fulfillments, key=lambda f: (not f.is_active, -f.id)):
        lines = []
        for fl in f.line_items:
            item = order.line_item(fl.line_item_id)
            lines.append({"name": item.name if item else f"Item {fl.line_item_id}", "quantity": fl.quantity})
        shown.append(
            {
                "f": f,
                "location": trial.locations.get(f.location_id, f"Location {f.location_id}"),
                "lines": lines,
                "tracking": [
                    (n, tracking_link(f.tracking_urls[i]) if i < len(f.tracking_urls) else None)
                    for i, n in enumerate(f.tracking_numbers)
                ],
                "why_cancel": trial.refused(partial(_cancel_on, fulfillment=f, trial=trial)),
                "why_tracking": None
                if f.is_active
                else f"Fulfillment {f.name} is cancelled; its tracking stays as it was.",
            }
        )
    return shown


def _cancel_on(order: Order, inventory: Inventory, *, fulfillment: Fulfillment, trial: Trial) -> None:
    found = order.fulfillment(fulfillment.id)
    assert found is not None
    rules.cancel_fulfillment(order, found, inventory=inventory, author=trial.admin.author, now=trial.now)


def _billing_rule(order: Order, admin: Admin, now: datetime) -> str:
    """Why the billing address cannot be edited, in the domain's own words."""
    try:
        lifecycle.edit(copy.deepcopy(order), {"billing_address": None}, author=admin.author, now=now)
    except OrderError as exc:
        return exc.message
    return ""


# ---- the page -----------------------------------------------------------------------------------
@router.get("/orders/{order_id}", summary="One order with everything staff do on it")
def page(order_id: int, admin: Viewer) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        try:
            order = uow.orders.get(order_id, for_update=False)
        except NotFound:
            raise NotFound(f"There is no order with id {order_id}; it may have been deleted.") from None
        ctx = admin.app.render_context(uow)
        rendered = render.order(order, ctx)
        shop = uow.shop
        locations = _location_names(uow)
        active = set(uow.catalog.active_location_ids())
        items = {li.inventory_item_id for li in order.line_items if li.inventory_item_id is not None}
        inventory = uow.inventory.load(items, lock=False)
        stages = CustomStatuses(uow.conn).all()
        entries = uow.timeline.list(order_id=order.id, since_id=None, after_id=None, limit=100_000)
        money = order_money.panels(admin, uow, order)
        note_shown = customer_sees_note(uow.conn, order)
        returns_panel, about_returns = _returns(admin, uow, order, locations)
        editing = _editing(admin, uow, order)
        services = {s.location_id: s.name for s in FulfillmentServices(uow.conn).all()}
        now = uow.now
    trial = Trial(order, inventory, active, now, admin, locations, services)
    statuses = derive_statuses(order)
    stage = next((s for s in stages if order.custom_status and s.handle == order.custom_status.handle), None)
    return render_page(
        admin,
        "order.html",
        order=order,
        rendered=rendered,
        money=money,
        returns_panel=returns_panel,
        editing=editing,
        tz=shop.timezone,
        badges={
            "cancelled_at": order.cancelled_at,
            "closed_at": order.closed_at,
            "financial_status": statuses.financial_status,
            "fulfillment_status": statuses.display_fulfillment_status,
            "return_status": statuses.return_status,
        },
        stage=stage,
        stages=stages,
        groups=_groups(order, trial),
        shipments=_shipments(order, trial),
        stuck=_stuck(order, now, locations),
        hold_reasons=[(r, HOLD_REASON_WORDS.get(r, r)) for r in HOLD_REASONS],
        carriers=sorted(CARRIER_URLS),
        address_fields=ADDRESS_FIELDS,
        billing_rule=_billing_rule(order, admin, now),
        timeline=[
            {
                "entry": e,
                "message": _plain(e.message, order, locations),
                "own": e.is_comment and _own(admin, e.author),
                "return": about_returns.get(e.subject_id) if e.subject_id and not e.is_comment else None,
            }
            for e in reversed(entries)
        ],
        resendable=[(n, n.replace("_", " ").capitalize()) for n in RESENDABLE],
        can=admin.may("manage_orders"),
        customer_sees_note=note_shown,
        due_value=order.custom_status.due_at.astimezone(ZoneInfo(shop.timezone)).date().isoformat()
        if order.custom_status and order.custom_status.due_at
        else "",
        tomorrow=now.astimezone(ZoneInfo(shop.timezone)).date() + timedelta(days=1),
    )


def _returns(
    admin: Admin, uow: UnitOfWork, order: Order, locations: dict[int, str]
) -> tuple[dict[str, Any] | None, dict[int, tuple[int, str]]]:
    """The Returns panel (None when nothing shipped and nothing was returned) and the return each
    timeline subject belongs to."""
    # Imported here: the returns area uses this module's helpers (_run, _plain) for its forms.
    from .returns import event_returns, panel

    return panel(admin, uow, order, locations), event_returns(order)


def _editing(admin: Admin, uow: UnitOfWork, order: Order) -> dict[str, Any]:
    """The "Edit order" button by the items (or why not), and the lines edits removed."""
    from .order_edits import entry  # order_edits uses this module's helpers (_plain)

    return entry(admin, uow, order)


def _stuck(order: Order, now: datetime, locations: dict[int, str]) -> list[dict[str, Any]]:
    """The banner of what the order is stuck on, with the next step (web/admin/stuck.py)."""
    from .stuck import banner  # stuck.py runs its one command through this module's _run

    return banner(order, now, locations)


def _own(admin: Admin, author: Any) -> bool:
    return bool(author.kind == "staff" and author.ref == str(admin.staff.id))


# ---- running a form's command -------------------------------------------------------------------
def _back(order_id: int) -> str:
    return f"/admin/orders/{order_id}"


def _run(admin: Admin, order_id: int, work: Callable[[Command], str]) -> RedirectResponse:
    """One command for this order's page; back to it saying what `work` says happened, or the
    domain's refusal in the merchant's words (and then nothing was kept)."""
    try:
        with admin.command() as cmd:
            message = work(cmd)
    except NotFound as exc:
        with admin.app.unit_of_work(read_only=True) as uow:
            try:
                uow.orders.get(order_id, for_update=False)
            except NotFound:
                raise NotFound(f"There is no order with id {order_id}; it may have been deleted.") from None
        # The order is there but what the form named is not (a comment deleted meanwhile, …).
        gone = "It is no longer on this order" if exc.message == "Not Found" else refusal(exc)
        return admin.done(_back(order_id), f"{gone}; nothing was changed.", kind="error")
    except OrderError as exc:
        with admin.app.unit_of_work(read_only=True) as uow:
            try:
                order: Order | None = uow.orders.get(order_id, for_update=False)
            except NotFound:
                order = None
            names = _location_names(uow)
        return admin.done(_back(order_id), _plain(refusal(exc), order, names), kind="error")
    return admin.done(_back(order_id), message)


def _fo_of(order_id: int, fo_id: int) -> int:
    if order_id_of(fo_id) != order_id:
        raise NotFound(f"Fulfillment order {fo_id} is not part of this order.")
    return fo_id


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _flag(form: FormData, name: str) -> bool:
    return form.get(name) in ("1", "on", "true", "yes")


def _day(form: FormData, name: str, timezone: str, label: str) -> datetime | None:
    """A date field as the start of that day in the shop's time zone."""
    value = _text(form, name)
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date", field=label) from None
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(timezone))


def _tracking(form: FormData) -> TrackingInfo:
    numbers = tuple(n.strip() for n in re.split(r"[,\n]", form.get("tracking_numbers") or "") if n.strip())  # type: ignore[arg-type]
    url = _text(form, "tracking_url")
    return TrackingInfo(company=_text(form, "tracking_company"), numbers=numbers, urls=(url,) if url else ())


def _units(n: int) -> str:
    return f"{n} item{'s' if n != 1 else ''}"


# ---- fulfillment orders -------------------------------------------------------------------------
@router.post("/orders/{order_id}/fulfillment-orders/{fo_id}/fulfil", summary="Fulfill items (with tracking)")
def fulfil(order_id: int, fo_id: int, admin: Manager, form: Form) -> Response:
    _fo_of(order_id, fo_id)
    requests: list[LineRequest] = []
    for key, value in form.multi_items():
        if key.startswith("qty_") and isinstance(value, str) and value.strip():
            try:
                line_id, quantity = int(key[4:]), int(value)
            except ValueError:
                return admin.done(_back(order_id), f"{value!r} is not a number of items.", kind="error")
            if quantity < 0:
                return admin.done(_back(order_id), "A quantity cannot be below 0.", kind="error")
            if quantity:
                requests.append(LineRequest(line_id, quantity))
    if not requests:
        return admin.done(_back(order_id), "Choose at least one item to fulfill; nothing was changed.", kind="error")
    tracking = _tracking(form)
    notify = _flag(form, "notify_customer")

    def work(cmd: Command) -> str:
        _, made = fulfillments.create_fulfillment(
            cmd,
            requests={fo_id: requests},
            tracking=tracking,
            notify_customer=notify,
            message=None,
            origin_address=None,
        )
        units = sum(line.quantity for line in made.line_items)
        told = " The customer is told." if notify else ""
        return f"Fulfilled {_units(units)} as {made.name}.{told}"

    return _run(admin, order_id, work)


@router.post(
    "/orders/{order_id}/fulfillment-orders/{fo_id}/request", summary="Request fulfillment from the location's service"
)
def request_fulfillment(order_id: int, fo_id: int, admin: Manager, form: Form) -> Response:
    _fo_of(order_id, fo_id)
    message = _text(form, "message")
    notify = _flag(form, "notify_customer")

    def work(cmd: Command) -> str:
        fulfillment_requests.submit(cmd, fo_id, message=message, requests=None, notify_customer=notify)
        return "Fulfillment was requested; the service is told."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/fulfillment-orders/{fo_id}/hold", summary="Put fulfillment on hold")
def hold(order_id: int, fo_id: int, admin: Manager, form: Form) -> Response:
    _fo_of(order_id, fo_id)
    reason = _text(form, "reason") or "other"
    notes = _text(form, "reason_notes")

    def work(cmd: Command) -> str:
        fulfillments.hold(cmd, fo_id, reason=reason, reason_notes=notes, requests=None)
        return f"Fulfillment is on hold ({HOLD_REASON_WORDS.get(reason, reason).lower()})."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/fulfillment-orders/{fo_id}/release-hold", summary="Release the hold")
def release_hold(order_id: int, fo_id: int, admin: Manager) -> Response:
    _fo_of(order_id, fo_id)

    def work(cmd: Command) -> str:
        _, fo = fulfillments.release_hold(cmd, fo_id, hold_ids=None)
        return f"The hold was released; the fulfillment order is {FO_STATUS_WORDS.get(fo.status, fo.status).lower()}."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/fulfillment-orders/{fo_id}/move", summary="Fulfill from another location")
def move(order_id: int, fo_id: int, admin: Manager, form: Form) -> Response:
    _fo_of(order_id, fo_id)
    target = _text(form, "new_location_id")
    if target is None or not target.isdecimal() or len(target) > 18:
        return admin.done(_back(order_id), "Choose the location to move it to; nothing was changed.", kind="error")

    def work(cmd: Command) -> str:
        fulfillments.move(cmd, fo_id, new_location_id=int(target), requests=None)
        return f"Moved to {_location_names(cmd.uow).get(int(target), 'the new location')}."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/fulfillment-orders/{fo_id}/reschedule", summary="Fulfill on a later date")
def reschedule(order_id: int, fo_id: int, admin: Manager, form: Form) -> Response:
    _fo_of(order_id, fo_id)

    def work(cmd: Command) -> str:
        timezone = cmd.uow.shop.timezone
        when = _day(form, "fulfill_at", timezone, "date")
        if when is None:
            raise InvalidInput("choose the date to fulfill on", field="date")
        if when.date() <= cmd.now.astimezone(ZoneInfo(timezone)).date():
            raise InvalidInput("choose a date after today", field="date")
        fulfillments.reschedule(cmd, fo_id, fulfill_at=when)
        return f"Scheduled to fulfill on {when:%-d %b %Y}."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/fulfillment-orders/{fo_id}/open", summary="Fulfill a scheduled order now")
def open_now(order_id: int, fo_id: int, admin: Manager) -> Response:
    _fo_of(order_id, fo_id)

    def work(cmd: Command) -> str:
        fulfillments.mark_as_open(cmd, fo_id)
        return "The scheduled fulfillment order is open to fulfill now."

    return _run(admin, order_id, work)


# ---- fulfillments -------------------------------------------------------------------------------
def _fulfillment_of(order_id: int, fulfillment_id: int) -> int:
    if order_id_of(fulfillment_id) != order_id:
        raise NotFound(f"Fulfillment {fulfillment_id} is not part of this order.")
    return fulfillment_id


@router.post("/orders/{order_id}/fulfillments/{fulfillment_id}/cancel", summary="Un-fulfill: cancel a fulfillment")
def cancel_fulfillment(order_id: int, fulfillment_id: int, admin: Manager) -> Response:
    _fulfillment_of(order_id, fulfillment_id)

    def work(cmd: Command) -> str:
        _, found = fulfillments.cancel_fulfillment(cmd, fulfillment_id, order_id=order_id)
        return f"Fulfillment {found.name} was cancelled; its items are unfulfilled again and back in stock."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/fulfillments/{fulfillment_id}/tracking", summary="Change tracking")
def update_tracking(order_id: int, fulfillment_id: int, admin: Manager, form: Form) -> Response:
    _fulfillment_of(order_id, fulfillment_id)
    tracking = _tracking(form)
    notify = _flag(form, "notify_customer")

    def work(cmd: Command) -> str:
        _, found = fulfillments.update_tracking(cmd, fulfillment_id, tracking=tracking, notify_customer=notify)
        return f"Tracking of {found.name} saved." + (" The customer is told." if notify else "")

    return _run(admin, order_id, work)


# ---- customer, addresses, tags, note ------------------------------------------------------------
@router.post("/orders/{order_id}/contact", summary="Change the customer's e-mail address and phone")
def edit_contact(order_id: int, admin: Manager, form: Form) -> Response:
    changes = {"email": _text(form, "email"), "phone": _text(form, "phone")}
    return _run(admin, order_id, lambda cmd: (orders.edit_order(cmd, order_id, changes), "Contact details saved.")[1])


@router.post("/orders/{order_id}/message", summary="Write to the customer")
def message_customer(order_id: int, admin: Manager, form: Form) -> Response:
    subject, body = form.get("subject"), form.get("body")

    def work(cmd: Command) -> str:
        notifications.contact_customer(cmd, order_id, subject, body)
        return "Your message is on its way to the customer."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/shipping-address", summary="Change the shipping address")
def edit_shipping_address(order_id: int, admin: Manager, form: Form) -> Response:
    values = {name: _text(form, name) for name, _ in ADDRESS_FIELDS}
    if values["country_code"]:
        values["country_code"] = values["country_code"].upper()
    address = Address(**values) if any(values.values()) else None  # type: ignore[arg-type]

    def work(cmd: Command) -> str:
        orders.edit_order(cmd, order_id, {"shipping_address": address})
        return "Shipping address saved."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/tags", summary="Change the order's tags")
def edit_tags(order_id: int, admin: Manager, form: Form) -> Response:
    wanted = [t.strip() for t in (form.get("tags") or "").split(",") if t.strip()]  # type: ignore[union-attr]

    def work(cmd: Command) -> str:
        current = cmd.uow.orders.get(order_id, for_update=False).tags
        keep = {t.lower() for t in wanted}
        remove = [t for t in current if t.lower() not in keep]
        orders.change_tags(cmd, order_id, add=wanted, remove=remove)
        return "Tags saved."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/note", summary="Change the order's note")
def edit_note(order_id: int, admin: Manager, form: Form) -> Response:
    note = _text(form, "note")
    return _run(admin, order_id, lambda cmd: (orders.edit_order(cmd, order_id, {"note": note}), "Note saved.")[1])


# ---- custom status ------------------------------------------------------------------------------
@router.post("/orders/{order_id}/custom-status", summary="Put the order in one of the shop's stages")
def set_custom_status(order_id: int, admin: Manager, form: Form) -> Response:
    handle = _text(form, "handle")
    notify = _flag(form, "notify")
    public_note, private_note = _text(form, "public_note"), _text(form, "private_note")

    def work(cmd: Command) -> str:
        due = _day(form, "due_at", cmd.uow.shop.timezone, "due date")
        stage = CustomStatuses(cmd.uow.conn).by_handle(handle) if handle else None
        changed = custom_statuses.set_on_order(
            cmd, order_id, handle, notify=notify, due_at=due, public_note=public_note, private_note=private_note
        )
        if changed is None:
            return "Nothing changed."
        if stage is None:
            return "The order is in no stage now."
        told = ""
        if notify:
            told = (
                " The customer is told."
                if stage.customer_visible
                else " Customers don't see this stage, so nobody was told."
            )
        return f"Status set to {stage.name('en')}.{told}"

    return _run(admin, order_id, work)


# ---- timeline -----------------------------------------------------------------------------------
@router.post("/orders/{order_id}/comments", summary="Add an internal comment")
def add_comment(order_id: int, admin: Manager, form: Form) -> Response:
    body = form.get("body")
    return _run(admin, order_id, lambda cmd: (orders.add_comment(cmd, order_id, body), "Comment added.")[1])


@router.post("/orders/{order_id}/comments/{comment_id}/edit", summary="Edit your own comment")
def edit_comment(order_id: int, comment_id: int, admin: Manager, form: Form) -> Response:
    body = form.get("body")
    return _run(
        admin, order_id, lambda cmd: (orders.edit_comment(cmd, order_id, comment_id, body), "Comment saved.")[1]
    )


@router.post("/orders/{order_id}/comments/{comment_id}/delete", summary="Delete your own comment")
def delete_comment(order_id: int, comment_id: int, admin: Manager) -> Response:
    def work(cmd: Command) -> str:
        orders.delete_comment(cmd, order_id, comment_id)
        return "Comment deleted."

    return _run(admin, order_id, work)


@router.post("/orders/{order_id}/resend", summary="Send a notification again")
def resend(order_id: int, admin: Manager, form: Form) -> Response:
    name = _text(form, "template") or ""

    def work(cmd: Command) -> str:
        if name not in RESENDABLE:
            raise InvalidInput("choose one of the notifications in the list", field="notification")
        notifications.queue(cmd, order_id, name)
        words = name.replace("_", " ").capitalize()
        return f"“{words}” is on its way to the customer; the timeline shows when it is sent."

    return _run(admin, order_id, work)
