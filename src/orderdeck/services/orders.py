"""Order commands: place, edit, tag, archive, unarchive, delete, comment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..domain import lifecycle, stuck
from ..domain.errors import InsufficientInventory, InvalidInput, RuleViolation
from ..domain.inventory import Inventory, StockItem
from ..domain.money import check_currency
from ..domain.order import CustomerSnapshot
from ..domain.placement import OrderDraft, build_order, reserve_stock
from ..domain.statuses import financial_status as derive_financial_status
from ..domain.statuses import total_outstanding
from ..store.fulfillment_services import FulfillmentServices
from ..store.inventory import stock_item
from ..store.outbox import OutboxMessage
from ..store.shop import ShopSettings, take_order_number
from ..store.timeline import TimelineEntry
from .changes import load_order, save_order
from .context import Command
from .fulfillments import fulfil_everything
from .payments import NewTransaction, capture_everything, run_payment


@dataclass
class NewCustomer:
    id: int | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass
class PlaceOrder:
    draft: OrderDraft
    customer: NewCustomer | None = None
    transactions: list[NewTransaction] = field(default_factory=list)
    financial_status: str | None = None
    auto_fulfill: bool | None = None  # None: the shop's per-channel setting decides
    fulfillment_location_id: int | None = None
    send_receipt: bool = False
    send_fulfillment_receipt: bool = False


def _fill_lines_from_catalog(cmd: Command, draft: OrderDraft) -> dict[int, StockItem]:
    """Fill the lines from their variants; returns what the stock rules need of the tracked ones."""
    wanted = {line.variant_id for line in draft.lines if line.variant_id is not None}
    found = cmd.uow.catalog.variants_by_id(wanted)
    missing = sorted(wanted - set(found))
    if missing:
        raise InvalidInput(f"variant {missing[0]} does not exist", field="line_items")
    for line in draft.lines:
        if line.variant_id is None:
            continue
        variant = found[line.variant_id]
        line.product_id = variant.product_id
        line.title = line.title or variant.product_title
        line.variant_title = line.variant_title or (variant.title if variant.title != "Default Title" else None)
        line.sku = line.sku or variant.sku
        line.vendor = line.vendor or variant.vendor
        line.grams = line.grams or variant.grams
        if line.price < 0:
            line.price = variant.price
        line.inventory_item_id = variant.id if variant.inventory_tracked else None
        line.requires_shipping = variant.requires_shipping
        line.taxable = variant.taxable
    for line in draft.lines:
        if line.price < 0:
            raise InvalidInput("a custom line item needs a price", field="line_items")
    return {
        v.id: stock_item(v.id, v.sku, v.title, v.product_title, v.inventory_policy)
        for v in found.values()
        if v.inventory_tracked
    }


def _reserve(
    cmd: Command, draft: OrderDraft, locations: list[int], stock_items: dict[int, StockItem]
) -> tuple[Inventory, dict[int, int]]:
    """Route the lines and reserve their stock, holding the stock rows as briefly as possible.

    Routing and reservation work on a plain read of the levels; what they changed is written as
    moves relative to the rows, guarded where the item may not be oversold (store/inventory.py),
    so the rows are locked from that write until commit, not from the read. When the guard finds
    that another command took the units meanwhile, or the plain read leaves the order short, the
    placement is done again the old way, on levels read under lock: the answer (placed where,
    or refused why) is the one a locked placement gives, and stock is never oversold."""
    store = cmd.uow.inventory
    items = (
        {line.inventory_item_id for line in draft.lines if line.inventory_item_id is not None}
        if draft.inventory_behaviour != "bypass"
        else set()
    )
    inventory = store.load(items, lock=False, items=stock_items)
    guard = inventory.may_not_oversell(obey_policy=draft.inventory_behaviour == "decrement_obeying_policy")
    try:
        plan = reserve_stock(draft, locations=locations, inventory=inventory)
    except InsufficientInventory:
        pass
    else:
        # A bare savepoint, never released (the commit releases it): one statement, not two.
        # The moves are one executemany in item/location order, so placements of the same
        # variants lock their rows in the same order (one UPDATE … FROM a list of moves would
        # lock them in whatever order the plan visits them, and could deadlock).
        cmd.uow.conn.exec_driver_sql("SAVEPOINT reserve_stock")
        if store.move(inventory, cmd.now, guard=guard):
            return inventory, plan
        cmd.uow.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT reserve_stock")
    inventory = store.load(items, lock=True, items=stock_items)
    plan = reserve_stock(draft, locations=locations, inventory=inventory)
    if not store.move(inventory, cmd.now, guard=guard):
        raise RuntimeError("stock changed under a row lock")  # cannot happen: the rows are locked
    return inventory, plan


def place_order(cmd: Command, request: PlaceOrder) -> bytes:
    """Create an order (POST /orders.json). Returns the rendered order."""
    uow = cmd.uow
    shop = uow.shop
    draft = request.draft
    draft.currency = check_currency(draft.currency or shop.currency)
    if draft.currency != shop.currency:
        raise InvalidInput(
            f"orders are kept in the shop currency {shop.currency}; send the customer's "
            "currency as presentment_currency",
            field="currency",
        )
    draft.presentment_currency = check_currency(
        draft.presentment_currency or draft.currency, field="presentment_currency"
    )
    if draft.presentment_currency == draft.currency:
        draft.exchange_rate = Decimal(1)
    elif draft.exchange_rate is None:
        raise InvalidInput(
            f"the customer paid in {draft.presentment_currency}, the shop keeps "
            f"{draft.currency}: send exchange_rate ({draft.presentment_currency} per "
            f"1 {draft.currency})",
            field="exchange_rate",
        )
    stock_items = _fill_lines_from_catalog(cmd, draft)
    if request.customer is not None or draft.email:
        c = request.customer or NewCustomer()
        customer = uow.customers.find_or_create(
            customer_id=c.id,
            email=c.email or draft.email,
            phone=c.phone or draft.phone,
            first_name=c.first_name,
            last_name=c.last_name,
            locale=draft.customer_locale,
            now=cmd.now,
        )
        if customer is not None:
            draft.customer = CustomerSnapshot(
                customer.id,
                customer.email,
                customer.phone,
                c.first_name or customer.first_name,
                c.last_name or customer.last_name,
            )
            draft.email = draft.email or customer.email
    if request.fulfillment_location_id is not None:
        draft.location_id = request.fulfillment_location_id
    locations = uow.catalog.active_location_ids()
    if draft.location_id is not None and draft.location_id not in locations:
        raise InvalidInput(f"location {draft.location_id} does not exist or is not active", field="location_id")
    if not locations:
        raise RuleViolation("The shop has no active location; add one before taking orders", field="location_id")
    inventory, plan = _reserve(cmd, draft, locations, stock_items)
    # The number is taken last, after the stock (a placement locks its stock rows before the
    # shop row) and just before the order is built and inserted: its row lock, which every
    # placement waits for, is held from here to commit.
    number = take_order_number(uow.conn)
    order = build_order(
        draft,
        order_id=number,
        number=number,
        name=f"{shop.settings.order_name_prefix}{number}",
        token=secrets.token_hex(16),
        now=cmd.now,
        locations=locations,
        inventory=inventory,
        author=cmd.author,
        plan=plan,
    )
    if request.send_receipt:
        order.events[0].notify = "order_confirmation"
    _record_payments(cmd, order, request)
    if _should_auto_fulfill(cmd, order, request):
        fulfil_everything(cmd, order, inventory, notify=request.send_fulfillment_receipt)
        if cmd.uow.shop.settings.capture_mode == "fulfillment":
            capture_everything(cmd, order)
    # Automatic fulfilment shipped reserved units: moves on rows this command holds already.
    if not uow.inventory.move(inventory, cmd.now):
        raise RuntimeError("stock changed under a row lock")  # cannot happen: the rows are locked
    return save_order(cmd, order, None)


def _record_payments(cmd: Command, order: Any, request: PlaceOrder) -> None:
    for index, new in enumerate(request.transactions):
        if new.kind not in ("authorization", "sale"):
            raise InvalidInput(
                f"transactions[{index}].kind: an order is created with a sale or an "
                "authorization; capture, void and refund come later",
                field="transactions",
            )
        run_payment(cmd, order, new, default_amount=total_outstanding(order))
    wanted = request.financial_status
    if wanted is None or (wanted == "pending" and not request.transactions):
        pass
    elif not request.transactions:
        # financial_status without transactions states what was already settled elsewhere.
        if wanted == "paid":
            run_payment(
                cmd,
                order,
                NewTransaction(kind="sale", gateway="manual", status="success"),
                default_amount=total_outstanding(order),
            )
        elif wanted == "authorized":
            run_payment(
                cmd,
                order,
                NewTransaction(kind="authorization", gateway="manual", status="success"),
                default_amount=total_outstanding(order),
            )
        else:
            raise InvalidInput(f"financial_status {wanted} needs transactions that show it", field="financial_status")
    elif derive_financial_status(order) != wanted:
        raise InvalidInput(
            f"financial_status {wanted} does not match the transactions sent, which make "
            f"the order {derive_financial_status(order)}",
            field="financial_status",
        )
    if cmd.uow.shop.settings.capture_mode == "checkout":
        capture_everything(cmd, order)


def _should_auto_fulfill(cmd: Command, order: Any, request: PlaceOrder) -> bool:
    if request.auto_fulfill is not None:
        return request.auto_fulfill
    return order.source_name in cmd.uow.shop.settings.auto_fulfill_channels


# ---- details, tags, archive ----------------------------------------------------------------
def edit_order(cmd: Command, order_id: int, changes: dict[str, Any]) -> bytes:
    loaded = load_order(cmd, order_id)
    lifecycle.edit(loaded.order, changes, author=cmd.author, now=cmd.now)
    return save_order(cmd, loaded.order, loaded)


def change_tags(cmd: Command, order_id: int, *, add: list[str], remove: list[str]) -> bytes:
    loaded = load_order(cmd, order_id)
    lifecycle.change_tags(loaded.order, add=add, remove=remove, author=cmd.author, now=cmd.now)
    return save_order(cmd, loaded.order, loaded)


def close_order(cmd: Command, order_id: int) -> bytes:
    loaded = load_order(cmd, order_id)
    lifecycle.close(loaded.order, author=cmd.author, now=cmd.now)
    return save_order(cmd, loaded.order, loaded)


def reopen_order(cmd: Command, order_id: int) -> bytes:
    loaded = load_order(cmd, order_id)
    lifecycle.reopen(loaded.order, author=cmd.author, now=cmd.now)
    return save_order(cmd, loaded.order, loaded)


def auto_archive(cmd: Command, order_id: int) -> bool:
    if not cmd.uow.shop.settings.auto_archive:
        return False
    loaded = load_order(cmd, order_id)
    if not lifecycle.auto_archive(loaded.order, now=cmd.now):
        return False
    save_order(cmd, loaded.order, loaded)
    return True


def stuck_limits(settings: ShopSettings) -> stuck.Limits:
    """The shop's waits (0 switches one off) as the stuck rules read them."""

    def hours(n: int) -> timedelta | None:
        return timedelta(hours=n) if n else None

    return stuck.Limits(
        accept_within=hours(settings.request_accept_hours),
        acknowledge_within=hours(settings.request_acknowledge_hours),
        cancellation_within=hours(settings.cancellation_answer_hours),
        ship_within=hours(settings.request_ship_days * 24),
        unfulfilled_after=hours(settings.stuck_after_days * 24),
    )


def service_names(cmd: Command) -> dict[int, str]:
    """Each fulfillment service's name by its location: how stuck requests name who holds them."""
    return {s.location_id: s.name for s in FulfillmentServices(cmd.uow.conn).all()}


def flag_stuck(
    cmd: Command,
    order_id: int,
    *,
    services: dict[int, str] | None = None,
    unacknowledged: dict[int, datetime] | None = None,
) -> bool:
    """Flag what the order is stuck on and drop what no longer holds (domain/stuck.py): the tag,
    the timeline, the staff e-mail and the orderdeck/orders_stuck topic, once per occurrence.
    `unacknowledged`: the order's fulfillment orders whose service notification went
    unacknowledged past the shop's limit (None when not known: such flags are left as they are)."""
    loaded = load_order(cmd, order_id)
    changed = stuck.review(
        loaded.order,
        now=cmd.now,
        limits=stuck_limits(cmd.uow.shop.settings),
        services=service_names(cmd) if services is None else services,
        unacknowledged=unacknowledged,
    )
    if not changed:
        return False
    save_order(cmd, loaded.order, loaded)
    return True


def delete_order(cmd: Command, order_id: int) -> None:
    """Delete for good (S9.3): gone from lists, counts and reports; an audit line remains."""
    loaded = load_order(cmd, order_id)
    order = loaded.order
    lifecycle.check_can_delete(order)
    cmd.uow.timeline.delete_for_order(order.id)
    cmd.uow.order_edits.delete_of_order(order.id)
    cmd.uow.orders.delete(
        order,
        financial_status=loaded.statuses.financial_status,
        count_key=loaded.count_key,
        deleted_by=f"{cmd.author.kind}:{cmd.author.name}",
        now=cmd.now,
    )
    cmd.uow.outbox.put([OutboxMessage("webhook", "orders/delete", f'{{"id":{order.id}}}', order.id)], cmd.now)


# ---- comments ------------------------------------------------------------------------------
def _require_comment(body: object) -> str:
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("a comment needs some text", field="body")
    if len(body) > 5000:
        raise InvalidInput("a comment may be at most 5000 characters", field="body")
    return body.strip()


def add_comment(cmd: Command, order_id: int, body: object) -> TimelineEntry:
    cmd.uow.orders.get(order_id, for_update=False)
    return cmd.uow.timeline.add_comment(order_id, _require_comment(body), cmd.author, cmd.now)


def edit_comment(cmd: Command, order_id: int, comment_id: int, body: object) -> TimelineEntry:
    return cmd.uow.timeline.edit_comment(order_id, comment_id, _require_comment(body), cmd.author, cmd.now)


def delete_comment(cmd: Command, order_id: int, comment_id: int) -> None:
    cmd.uow.timeline.delete_comment(order_id, comment_id, cmd.author)
