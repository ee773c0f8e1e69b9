"""Fulfillment commands: fulfillment-order actions, fulfillments, tracking and shipment events."""

from __future__ import annotations

from datetime import datetime

from ..domain import fulfillment as rules
from ..domain.errors import InvalidInput, NotFound
from ..domain.fulfillment import LineRequest, TrackingInfo
from ..domain.inventory import Inventory
from ..domain.order import Address, Fulfillment, FulfillmentOrder, Order, order_id_of
from ..domain.statuses import fulfillment_status
from ..store.fulfillment_services import FulfillmentServices
from ..tracking import complete_tracking
from .changes import Loaded, load_order, save_order
from .context import Command
from .payments import capture_everything


def _items_of(order: Order) -> set[int]:
    return {li.inventory_item_id for li in order.line_items if li.inventory_item_id is not None}


def load_by_fulfillment_order(cmd: Command, fo_id: int) -> tuple[Loaded, FulfillmentOrder]:
    try:
        loaded = load_order(cmd, order_id_of(fo_id))
    except NotFound:
        raise NotFound("Not Found") from None
    return loaded, rules.require_fo(loaded.order, fo_id)


def load_by_fulfillment(cmd: Command, fulfillment_id: int, order_id: int | None = None) -> tuple[Loaded, Fulfillment]:
    owner = order_id_of(fulfillment_id)
    if order_id is not None and order_id != owner:
        raise NotFound("Not Found")
    try:
        loaded = load_order(cmd, owner)
    except NotFound:
        raise NotFound("Not Found") from None
    found = loaded.order.fulfillment(fulfillment_id)
    if found is None:
        raise NotFound("Not Found")
    return loaded, found


def _after_fulfilling(cmd: Command, order: Order) -> None:
    """Capture when the whole order is fulfilled, if the shop captures at fulfillment."""
    if cmd.uow.shop.settings.capture_mode == "fulfillment" and fulfillment_status(order) == "fulfilled":
        capture_everything(cmd, order)


def fulfil_everything(cmd: Command, order: Order, inventory: Inventory, *, notify: bool) -> list[Fulfillment]:
    """Fulfil all that is open, one fulfillment per location (POS sales, S8.2)."""
    made = []
    by_location: dict[int, dict[int, list[LineRequest] | None]] = {}
    for fo in order.fulfillment_orders:
        if fo.status in ("open", "in_progress") and fo.remaining:
            by_location.setdefault(fo.assigned_location_id, {})[fo.id] = None
    for requests in by_location.values():
        made.append(
            rules.create_fulfillment(
                order,
                requests=requests,
                tracking=TrackingInfo(),
                inventory=inventory,
                author=cmd.author,
                now=cmd.now,
                notify_customer=notify,
            )
        )
    return made


# ---- fulfillment-order actions ---------------------------------------------------------------
def hold(
    cmd: Command, fo_id: int, *, reason: str, reason_notes: str | None, requests: list[LineRequest] | None
) -> tuple[Order, FulfillmentOrder, FulfillmentOrder | None]:
    loaded, fo = load_by_fulfillment_order(cmd, fo_id)
    remaining = rules.hold(
        loaded.order, fo, reason=reason, reason_notes=reason_notes, requests=requests, author=cmd.author, now=cmd.now
    )
    save_order(cmd, loaded.order, loaded)
    return loaded.order, fo, remaining


def release_hold(cmd: Command, fo_id: int, *, hold_ids: list[int] | None) -> tuple[Order, FulfillmentOrder]:
    loaded, fo = load_by_fulfillment_order(cmd, fo_id)
    rules.release_hold(loaded.order, fo, hold_ids=hold_ids, author=cmd.author, now=cmd.now)
    save_order(cmd, loaded.order, loaded)
    return loaded.order, fo


def reschedule(cmd: Command, fo_id: int, *, fulfill_at: datetime) -> tuple[Order, FulfillmentOrder]:
    loaded, fo = load_by_fulfillment_order(cmd, fo_id)
    rules.reschedule(loaded.order, fo, fulfill_at=fulfill_at, author=cmd.author, now=cmd.now)
    save_order(cmd, loaded.order, loaded)
    return loaded.order, fo


def mark_as_open(cmd: Command, fo_id: int) -> tuple[Order, FulfillmentOrder]:
    loaded, fo = load_by_fulfillment_order(cmd, fo_id)
    rules.mark_as_open(loaded.order, fo, author=cmd.author, now=cmd.now)
    save_order(cmd, loaded.order, loaded)
    return loaded.order, fo


def open_due(cmd: Command, order_id: int) -> int:
    loaded = load_order(cmd, order_id)
    opened = rules.open_due_fulfillment_orders(loaded.order, cmd.now)
    if opened:
        save_order(cmd, loaded.order, loaded)
    return len(opened)


def move(
    cmd: Command, fo_id: int, *, new_location_id: int, requests: list[LineRequest] | None
) -> tuple[Order, FulfillmentOrder, FulfillmentOrder, FulfillmentOrder | None]:
    loaded, fo = load_by_fulfillment_order(cmd, fo_id)
    order = loaded.order
    inventory = cmd.uow.inventory.load(_items_of(order))
    original = fo
    moved, remaining = rules.move(
        order,
        fo,
        new_location_id=new_location_id,
        active_locations=set(cmd.uow.catalog.active_location_ids()),
        requests=requests,
        inventory=inventory,
        author=cmd.author,
        now=cmd.now,
    )
    cmd.uow.inventory.save(inventory, cmd.now)
    save_order(cmd, order, loaded)
    return order, original, moved, remaining


def cancel_fulfillment_order(cmd: Command, fo_id: int) -> tuple[Order, FulfillmentOrder, FulfillmentOrder]:
    loaded, fo = load_by_fulfillment_order(cmd, fo_id)
    replacement = rules.cancel_fulfillment_order(loaded.order, fo, author=cmd.author, now=cmd.now)
    save_order(cmd, loaded.order, loaded)
    return loaded.order, fo, replacement


# ---- fulfillments ------------------------------------------------------------------------------
def create_fulfillment(
    cmd: Command,
    *,
    requests: dict[int, list[LineRequest] | None],
    tracking: TrackingInfo,
    notify_customer: bool,
    message: str | None,
    origin_address: Address | None,
    token_id: int | None = None,
) -> tuple[Order, Fulfillment]:
    """`token_id`: the API token asking; the service it owns may fulfil what it accepted at its
    location, and nobody else may fulfil there (domain.fulfillment.require_fulfiller)."""
    if not requests:
        raise InvalidInput("name at least one fulfillment order", field="line_items_by_fulfillment_order")
    owners = {order_id_of(fo_id) for fo_id in requests}
    if len(owners) != 1:
        raise InvalidInput(
            "all fulfillment orders of one fulfillment must belong to one order",
            field="line_items_by_fulfillment_order",
        )
    loaded = load_order(cmd, owners.pop())
    order = loaded.order
    inventory = cmd.uow.inventory.load(_items_of(order))
    services = FulfillmentServices(cmd.uow.conn).all()
    wanted_at = {fo.assigned_location_id for fo in order.fulfillment_orders if fo.id in requests}
    made = rules.create_fulfillment(
        order,
        services={s.location_id: s.name for s in services},
        by_service=any(s.location_id in wanted_at and token_id and s.owner_token_id == token_id for s in services),
        requests=requests,
        tracking=complete_tracking(tracking),
        inventory=inventory,
        author=cmd.author,
        now=cmd.now,
        origin_address=origin_address,
        notify_customer=notify_customer,
        message=message,
    )
    _after_fulfilling(cmd, order)
    cmd.uow.inventory.save(inventory, cmd.now)
    save_order(cmd, order, loaded)
    return order, made


def cancel_fulfillment(cmd: Command, fulfillment_id: int, *, order_id: int | None = None) -> tuple[Order, Fulfillment]:
    loaded, found = load_by_fulfillment(cmd, fulfillment_id, order_id)
    inventory = cmd.uow.inventory.load(_items_of(loaded.order))
    rules.cancel_fulfillment(loaded.order, found, inventory=inventory, author=cmd.author, now=cmd.now)
    cmd.uow.inventory.save(inventory, cmd.now)
    save_order(cmd, loaded.order, loaded)
    return loaded.order, found


def update_tracking(
    cmd: Command, fulfillment_id: int, *, tracking: TrackingInfo, notify_customer: bool
) -> tuple[Order, Fulfillment]:
    loaded, found = load_by_fulfillment(cmd, fulfillment_id)
    rules.update_tracking(
        loaded.order,
        found,
        tracking=complete_tracking(tracking),
        notify_customer=notify_customer,
        author=cmd.author,
        now=cmd.now,
    )
    save_order(cmd, loaded.order, loaded)
    return loaded.order, found


def add_event(
    cmd: Command,
    order_id: int,
    fulfillment_id: int,
    *,
    status: str,
    happened_at: datetime | None,
    details: dict[str, object],
) -> tuple[Order, Fulfillment, object]:
    loaded, found = load_by_fulfillment(cmd, fulfillment_id, order_id)
    event = rules.add_fulfillment_event(
        loaded.order,
        found,
        status=status,
        happened_at=happened_at,
        author=cmd.author,
        now=cmd.now,
        details=details,
        tell_customer_about=cmd.uow.shop.settings.shipment_updates,
    )
    save_order(cmd, loaded.order, loaded)
    return loaded.order, found, event


def delete_event(cmd: Command, order_id: int, fulfillment_id: int, event_id: int) -> None:
    loaded, found = load_by_fulfillment(cmd, fulfillment_id, order_id)
    rules.delete_fulfillment_event(loaded.order, found, event_id, author=cmd.author, now=cmd.now)
    save_order(cmd, loaded.order, loaded)
