"""Return commands (domain/returns.py): each loads the order, applies one rule, saves.

Every command here runs inside the caller's unit of work, like every other command, so the API,
the admin, the status page and automation rules share one path and one transaction each.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..domain import payments as payment_rules
from ..domain import refunds as refund_rules
from ..domain import returns as rules
from ..domain.errors import InvalidInput, NotFound, RuleViolation
from ..domain.inventory import Inventory
from ..domain.money import ZERO, parse_amount
from ..domain.order import Order, Refund, Return, ReturnTracking, order_id_of
from ..domain.refunds import RefundLineRequest, RefundRequest
from ..domain.statuses import balance, ledger
from . import refunds as refund_commands
from .changes import Loaded, load_order, save_order
from .context import Command


# ---- lookups ---------------------------------------------------------------------------------
def _load(cmd: Command, record_id: int) -> Loaded:
    try:
        return load_order(cmd, order_id_of(record_id))
    except NotFound:
        raise NotFound(f"Not found: {record_id}") from None


def _return_of(loaded: Loaded, return_id: int) -> Return:
    ret = loaded.order.return_(return_id)
    if ret is None:
        raise NotFound(f"Return {return_id} was not found")
    return ret


def exchange_variants(
    cmd: Command, wanted: list[tuple[int, int, Decimal | None, str | None, str | None]]
) -> list[rules.ExchangeLineRequest]:
    """Exchange lines (variant_id, quantity, discount value, type, description) with what the
    catalogue says of each variant."""
    found = cmd.uow.catalog.variants_by_id({w[0] for w in wanted})
    result = []
    for variant_id, quantity, value, value_type, description in wanted:
        variant = found.get(variant_id)
        if variant is None:
            raise InvalidInput(f"variant {variant_id} does not exist", field="exchange_line_items")
        result.append(
            rules.ExchangeLineRequest(
                variant=rules.ExchangeVariant(
                    variant_id=variant.id,
                    product_id=variant.product_id,
                    title=variant.product_title,
                    variant_title=variant.title if variant.title != "Default Title" else None,
                    price=variant.price,
                    sku=variant.sku,
                    vendor=variant.vendor,
                    grams=variant.grams,
                    taxable=variant.taxable,
                    requires_shipping=variant.requires_shipping,
                    inventory_item_id=variant.id if variant.inventory_tracked else None,
                ),
                quantity=quantity,
                discount_value=value,
                discount_value_type=value_type,
                discount_description=description,
            )
        )
    return result


def _exchange_requests_of(cmd: Command, ret: Return) -> list[rules.ExchangeLineRequest]:
    pending = [ex for ex in ret.exchange_line_items if ex.line_item_id is None and ex.removed_quantity < ex.quantity]
    return exchange_variants(
        cmd,
        [
            (
                ex.variant_id,
                ex.quantity - ex.removed_quantity,
                ex.discount_value,
                ex.discount_value_type,
                ex.discount_description,
            )
            for ex in pending
        ],
    )


def _inventory_for(cmd: Command, order: Order, exchanges: list[rules.ExchangeLineRequest]) -> Inventory:
    """The stock levels exchange items would commit (none when the order bypasses stock)."""
    if order.inventory_behaviour == "bypass":
        return cmd.uow.inventory.load(set())
    return cmd.uow.inventory.load(
        {e.variant.inventory_item_id for e in exchanges if e.variant.inventory_item_id is not None}
    )


def _exchange_inventory_items(order: Order, ret: Return) -> list[int]:
    items = []
    for ex in ret.exchange_line_items:
        li = order.line_item(ex.line_item_id) if ex.line_item_id else None
        if li is not None and li.inventory_item_id is not None:
            items.append(li.inventory_item_id)
    return items


# ---- commands ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StartReturn:
    request: rules.ReturnRequest
    status: str  # open (staff) | requested (customer or API request)
    notify: bool = False
    allow_exchanges: bool = True


def calculate(
    cmd: Command, order_id: int, request: rules.ReturnRequest
) -> tuple[Order, rules.ReturnCalculation, Decimal]:
    order = cmd.uow.orders.get(order_id, for_update=False)
    calc = rules.calculate(order, request)
    return order, calc, balance(order)


def start(cmd: Command, order_id: int, command: StartReturn) -> tuple[Order, Return]:
    loaded = load_order(cmd, order_id)
    order = loaded.order
    inventory = _inventory_for(cmd, order, command.request.exchanges)
    ret = rules.start_return(
        order,
        command.request,
        status=command.status,
        author=cmd.author,
        now=cmd.now,
        inventory=inventory,
        locations=cmd.uow.catalog.active_location_ids(),
        notify=command.notify,
        allow_exchanges=command.allow_exchanges,
    )
    if ret.status == "open":
        rules.hold_unpaid_exchanges(order, ret, owed=balance(order), author=cmd.author, now=cmd.now)
    cmd.uow.inventory.save(inventory, cmd.now)
    save_order(cmd, order, loaded)
    return order, ret


def approve(cmd: Command, return_id: int, *, notify: bool) -> tuple[Order, Return]:
    loaded = _load(cmd, return_id)
    order = loaded.order
    ret = _return_of(loaded, return_id)
    exchanges = _exchange_requests_of(cmd, ret) if ret.status == "requested" else []
    inventory = _inventory_for(cmd, order, exchanges)
    rules.approve(
        order,
        ret,
        exchanges,
        author=cmd.author,
        now=cmd.now,
        inventory=inventory,
        locations=cmd.uow.catalog.active_location_ids(),
        notify=notify,
    )
    rules.hold_unpaid_exchanges(order, ret, owed=balance(order), author=cmd.author, now=cmd.now)
    cmd.uow.inventory.save(inventory, cmd.now)
    save_order(cmd, order, loaded)
    return order, ret


def decline(cmd: Command, return_id: int, *, reason: str, note: str | None, notify: bool) -> tuple[Order, Return]:
    loaded = _load(cmd, return_id)
    ret = _return_of(loaded, return_id)
    rules.decline(loaded.order, ret, reason=reason, note=note, author=cmd.author, now=cmd.now, notify=notify)
    save_order(cmd, loaded.order, loaded)
    return loaded.order, ret


def cancel(cmd: Command, return_id: int) -> tuple[Order, Return]:
    loaded = _load(cmd, return_id)
    order = loaded.order
    ret = _return_of(loaded, return_id)
    inventory = cmd.uow.inventory.load(set(_exchange_inventory_items(order, ret)))
    rules.cancel(order, ret, author=cmd.author, now=cmd.now, inventory=inventory)
    cmd.uow.inventory.save(inventory, cmd.now)
    save_order(cmd, order, loaded)
    return order, ret


def close(cmd: Command, return_id: int) -> tuple[Order, Return]:
    loaded = _load(cmd, return_id)
    ret = _return_of(loaded, return_id)
    rules.close(loaded.order, ret, author=cmd.author, now=cmd.now)
    save_order(cmd, loaded.order, loaded)
    return loaded.order, ret


def reopen(cmd: Command, return_id: int) -> tuple[Order, Return]:
    loaded = _load(cmd, return_id)
    ret = _return_of(loaded, return_id)
    rules.reopen(loaded.order, ret, author=cmd.author, now=cmd.now)
    save_order(cmd, loaded.order, loaded)
    return loaded.order, ret


def remove_lines(
    cmd: Command, return_id: int, *, return_lines: list[tuple[int, int]], exchange_lines: list[tuple[int, int]]
) -> tuple[Order, Return]:
    loaded = _load(cmd, return_id)
    order = loaded.order
    ret = _return_of(loaded, return_id)
    inventory = cmd.uow.inventory.load(set(_exchange_inventory_items(order, ret)))
    rules.remove_lines(
        order,
        ret,
        return_lines=return_lines,
        exchange_lines=exchange_lines,
        author=cmd.author,
        now=cmd.now,
        inventory=inventory,
    )
    cmd.uow.inventory.save(inventory, cmd.now)
    save_order(cmd, order, loaded)
    return order, ret


def attach_delivery(
    cmd: Command,
    rfo_id: int,
    *,
    lines: list[tuple[int, int]],
    label_url: str | None,
    tracking: ReturnTracking | None,
    notify: bool,
) -> tuple[Order, Return, object]:
    loaded = _load(cmd, rfo_id)
    ret, rfo = rules.require_reverse_fulfillment_order(loaded.order, rfo_id)
    delivery = rules.attach_delivery(
        loaded.order,
        ret,
        rfo,
        lines=lines,
        label_url=label_url,
        tracking=tracking,
        author=cmd.author,
        now=cmd.now,
        notify=notify,
    )
    save_order(cmd, loaded.order, loaded)
    return loaded.order, ret, delivery


def update_delivery(
    cmd: Command, delivery_id: int, *, label_url: str | None, tracking: ReturnTracking | None, notify: bool
) -> tuple[Order, Return, object]:
    loaded = _load(cmd, delivery_id)
    ret, _rfo, delivery = rules.require_reverse_delivery(loaded.order, delivery_id)
    rules.update_delivery(
        loaded.order,
        ret,
        delivery,
        label_url=label_url,
        tracking=tracking,
        author=cmd.author,
        now=cmd.now,
        notify=notify,
    )
    save_order(cmd, loaded.order, loaded)
    return loaded.order, ret, delivery


def dispose(cmd: Command, requests: list[rules.DispositionRequest]) -> tuple[Order, list[object]]:
    """Receive returned units. All dispositions of one call belong to one order."""
    if not requests:
        raise InvalidInput("name at least one disposition", field="dispositions")
    orders = {order_id_of(r.reverse_fulfillment_order_line_item_id) for r in requests}
    if len(orders) > 1:
        raise InvalidInput("dispositions of one call must belong to one order", field="dispositions")
    loaded = _load(cmd, requests[0].reverse_fulfillment_order_line_item_id)
    order = loaded.order
    items = set()
    for r in requests:
        for ret in order.returns:
            for rfo in ret.reverse_fulfillment_orders:
                for li in rfo.line_items:
                    line = order.line_item(li.line_item_id)
                    if li.id == r.reverse_fulfillment_order_line_item_id and line and line.inventory_item_id:
                        items.add(line.inventory_item_id)
    inventory = cmd.uow.inventory.load(items)
    touched = rules.dispose(
        order,
        requests,
        inventory=inventory,
        active_locations=set(cmd.uow.catalog.active_location_ids()),
        author=cmd.author,
        now=cmd.now,
    )
    cmd.uow.inventory.save(inventory, cmd.now)
    save_order(cmd, order, loaded)
    return order, list(touched)


@dataclass(frozen=True)
class ReturnRefund:
    lines: list[tuple[int, int]]  # (return line item id, quantity); empty: every unit not yet refunded
    shipping_full_refund: bool = False
    shipping_amount: Decimal | None = None
    money: list[refund_commands.RefundMoney] | None = None  # None: the suggested refund
    note: str | None = None
    notify: bool = False
    currency: str | None = None


def suggested_refund(order: Order, ret: Return | None = None) -> Decimal:
    """What the shop owes the customer now (presentment currency), capped by what was paid.
    Given a return: what refunding its units not yet refunded pays, no more than they are
    worth less the return's fees (another return's units are owed through that return)."""
    owed = max(ZERO, min(-balance(order), ledger(order).refundable))
    if ret is None:
        return owed
    worth = sum(
        (
            rules.line_worth(order, rli.line_item_id, rli.current_quantity - rli.refunded_quantity)
            for rli in ret.return_line_items
        ),
        ZERO,
    )
    return max(ZERO, min(owed, order.presentment(worth - rules.fees_of(order, ret))))


def refund(cmd: Command, return_id: int, request: ReturnRefund) -> tuple[Order, Refund]:
    """Refund a return's units: an ordinary refund tied to the return (its `return` key). The
    money defaults to what the shop owes once the units' worth, the fees and any exchange items
    are set against each other; it is never more than was captured."""
    loaded = _load(cmd, return_id)
    order = loaded.order
    ret = _return_of(loaded, return_id)
    if ret.status not in ("open", "closed"):
        raise RuleViolation(f"Return {ret.name} is {ret.status}; only an open or closed return can be refunded")
    chosen = request.lines or [
        (rli.id, rli.current_quantity - rli.refunded_quantity)
        for rli in ret.return_line_items
        if rli.current_quantity > rli.refunded_quantity
    ]
    lines: list[RefundLineRequest] = []
    asked: dict[int, int] = {}
    for rli_id, qty in chosen:
        rli = ret.line(rli_id)
        if rli is None:
            raise InvalidInput(f"return line item {rli_id} is not on return {ret.name}", field="return_line_items")
        asked[rli.id] = asked.get(rli.id, 0) + qty
        left = rli.current_quantity - rli.refunded_quantity
        if qty <= 0 or asked[rli.id] > left:
            raise InvalidInput(
                f"can refund between 1 and {left} of return line item {rli_id}", field="return_line_items"
            )
        lines.append(RefundLineRequest(line_item_id=rli.line_item_id, quantity=qty))
    if not lines and not request.shipping_full_refund and not request.shipping_amount:
        raise RuleViolation(f"Every item of return {ret.name} is refunded already", field="return_line_items")
    refund_request = RefundRequest(
        lines=lines,
        shipping_full_refund=request.shipping_full_refund,
        shipping_amount=request.shipping_amount,
        note=request.note,
    )
    money = request.money
    if money is None:
        # What the shop owes, with the refunded shipping, but no more than these units and the
        # shipping are worth: a first part of a return does not pay out the units still to come
        # (the fees come off the last part), nor one return another's.
        calculation = refund_rules.calculate(
            order, refund_request, active_locations=set(cmd.uow.catalog.active_location_ids()), for_return=ret
        )
        owed = refund_rules.return_refund_due(order, calculation, for_return=ret)
        parents = [(t.id, left) for t, left in payment_rules.refundable_parents(order)]
        money = []
        for parent_id, left in parents:
            if owed <= 0:
                break
            take = min(owed, left)
            money.append(refund_commands.RefundMoney(parent_id=parent_id, amount=str(take)))
            owed -= take
    order_refund = refund_commands.record(
        cmd,
        loaded,
        refund_request,
        money=money,
        currency=request.currency,
        notify=False,
        for_return=ret,
    )
    for rli_id, qty in chosen:
        rli = ret.line(rli_id)
        assert rli is not None
        rli.refunded_quantity += qty
    ret.refund_ids.append(order_refund.id)
    ret.updated_at = cmd.now
    if request.notify:
        for event in order.events:
            if event.verb == "refund_created" and event.subject_id == order_refund.id:
                event.notify = "return_refunded"
    rules.settle(order, ret, author=cmd.author, now=cmd.now)
    save_order(cmd, order, loaded)
    return order, order_refund


def parse_fee(order: Order, value: object) -> Decimal | None:
    if value in (None, ""):
        return None
    return parse_amount(value, order.presentment_currency, field="return_shipping_fee", allow_zero=True)
