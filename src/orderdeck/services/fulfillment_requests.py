"""Fulfillment-request commands: the merchant's requests to a fulfillment service and the
service's answers (domain/fulfillment_requests.py has the rules). The service's side may only be
used by the token that owns the service whose location the fulfillment order is assigned to."""

from __future__ import annotations

from sqlalchemy import select

from ..domain import fulfillment_requests as rules
from ..domain import stuck
from ..domain.errors import NotFound, RuleViolation
from ..domain.fulfillment import LineRequest
from ..domain.fulfillment_services import FulfillmentService
from ..domain.order import Author, FulfillmentOrder, Order
from ..store.codec import decode_order
from ..store.fulfillment_services import FulfillmentServices
from ..store.tables import order_documents, order_search_terms, orders
from .changes import save_order
from .context import Command
from .fulfillments import load_by_fulfillment_order


def service_at(cmd: Command, location_id: int) -> FulfillmentService | None:
    return next((s for s in FulfillmentServices(cmd.uow.conn).all() if s.location_id == location_id), None)


def _owned(cmd: Command, fo: FulfillmentOrder, token_id: int | None) -> FulfillmentService:
    """The service answering must be the caller's: another app's requests are not found."""
    service = service_at(cmd, fo.assigned_location_id)
    if service is None or token_id is None or service.owner_token_id != token_id:
        raise NotFound("Not Found")
    return service


def submit(
    cmd: Command, fo_id: int, *, message: str | None, requests: list[LineRequest] | None, notify_customer: bool
) -> tuple[Order, FulfillmentOrder, FulfillmentOrder | None]:
    loaded, fo = load_by_fulfillment_order(cmd, fo_id)
    service = service_at(cmd, fo.assigned_location_id)
    unsubmitted = rules.submit(
        loaded.order,
        fo,
        service_name=service.name if service else None,
        message=message,
        requests=requests,
        notify_customer=notify_customer,
        author=cmd.author,
        now=cmd.now,
    )
    save_order(cmd, loaded.order, loaded)
    return loaded.order, fo, unsubmitted


def request_cancellation(cmd: Command, fo_id: int, *, message: str | None) -> tuple[Order, FulfillmentOrder]:
    loaded, fo = load_by_fulfillment_order(cmd, fo_id)
    rules.request_cancellation(loaded.order, fo, message=message, author=cmd.author, now=cmd.now)
    save_order(cmd, loaded.order, loaded)
    return loaded.order, fo


def answer(
    cmd: Command, fo_id: int, token_id: int | None, action: str, *, message: str | None, **extra: object
) -> tuple[Order, FulfillmentOrder, FulfillmentOrder | None]:
    """The service's answer: accept, reject, accept_cancellation, reject_cancellation or close."""
    loaded, fo = load_by_fulfillment_order(cmd, fo_id)
    service = _owned(cmd, fo, token_id)
    order = loaded.order
    # The service speaks on the timeline under its own name.
    cmd = Command(cmd.app, cmd.uow, Author(cmd.author.kind, service.name, cmd.author.ref))
    replacement = None
    if action == "accept":
        rules.accept(order, fo, message=message, author=cmd.author, now=cmd.now)
    elif action == "reject":
        rules.reject(order, fo, message=message, author=cmd.author, now=cmd.now, **extra)  # type: ignore[arg-type]
    elif action == "accept_cancellation":
        replacement = rules.accept_cancellation(order, fo, message=message, author=cmd.author, now=cmd.now)
    elif action == "reject_cancellation":
        rules.reject_cancellation(order, fo, message=message, author=cmd.author, now=cmd.now)
    elif action == "close":
        replacement = rules.close(order, fo, message=message, author=cmd.author, now=cmd.now)
    else:  # pragma: no cover - the routes name the actions
        raise RuleViolation(f"unknown action {action}")
    # A rejection, a refused cancellation or work given back is stuck at once, in this command.
    stuck.review(order, now=cmd.now, limits=None, services={fo.assigned_location_id: service.name})
    save_order(cmd, order, loaded)
    return order, fo, replacement


def assigned(
    cmd: Command, token_id: int | None, *, assignment_status: str | None, location_ids: list[int]
) -> list[tuple[Order, FulfillmentOrder]]:
    """The fulfillment orders at the caller's services' locations (assigned_fulfillment_orders)."""
    own = FulfillmentServices(cmd.uow.conn).all(owner_token_id=token_id) if token_id else []
    mine = {s.location_id for s in own}
    wanted = mine & set(location_ids) if location_ids else mine
    states = rules.ASSIGNMENT_STATUSES.get(assignment_status) if assignment_status else None
    found: list[tuple[Order, FulfillmentOrder]] = []
    if not wanted:
        return found
    query = (
        select(orders.c.id, order_documents.c.document, orders.c.overlay)
        .select_from(orders.join(order_documents, order_documents.c.order_id == orders.c.id))
        .join(order_search_terms, order_search_terms.c.order_id == orders.c.id)
        .where(order_search_terms.c.kind == "location", order_search_terms.c.term.in_([str(i) for i in wanted]))
        .order_by(orders.c.id)
    )
    seen: set[int] = set()
    for row in cmd.uow.conn.execute(query):
        if row.id in seen:
            continue
        seen.add(row.id)
        order = decode_order(row.document, row.overlay)
        for fo in order.fulfillment_orders:
            if fo.assigned_location_id not in wanted or not fo.is_active:
                continue
            if states is None or fo.request_status in states:
                found.append((order, fo))
    return found
