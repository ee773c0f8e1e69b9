"""Returns and exchanges: the fourth status of an order (ORDER-MODEL.md §4, AFTER-THE-SALE.md §1-§2).

A return names fulfilled units (by fulfillment line item) that the customer sends back. Its life:

    request ──► requested ──approve──► open ──close──► closed ──reopen──► open
                   └──decline──► declined      └──cancel──► canceled (only before any work)
    create (staff) ──────────────► open

While a return is *approved* (open or closed) its money counts: the returned units' worth is
owed to the customer until it is refunded through the return, less the restocking and return
shipping fees the shop keeps (`return_credit`, `return_fees`). Exchange items are ordinary line
items of the same order, added when the return opens, on a fulfillment order held until the
returned units are back (`awaiting_return_items`) and while the customer owes money
(`awaiting_payment`). What anyone owes is then one number, `statuses.balance`.

Stock: returned units left stock when they shipped; only a `restocked` disposition puts them back
(on hand and available, at the location staff choose). Exchange items commit stock like any
order line.

A return closes by itself when every unit has been disposed of (received) and every unit has been
refunded through it (with money, or with none when its worth went to an exchange); staff may also
close it by hand, and reopen it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from . import fulfillment as fulfilment_rules
from .errors import InsufficientInventory, InvalidInput, NotFound, RuleViolation
from .inventory import Inventory
from .money import ZERO, round_money
from .order import (
    Author,
    DiscountAllocation,
    DiscountApplication,
    Disposition,
    DomainEvent,
    ExchangeLineItem,
    Fulfillment,
    FulfillmentLine,
    FulfillmentOrder,
    LineItem,
    Order,
    RestockingFee,
    Return,
    ReturnDecline,
    ReturnLabel,
    ReturnLineItem,
    ReturnShippingFee,
    ReturnTracking,
    ReverseDelivery,
    ReverseDeliveryLine,
    ReverseFulfillmentOrder,
    ReverseFulfillmentOrderLine,
    TaxLine,
)
from .placement import assign_to_locations
from .routing import RoutedLine, route

RETURN_REASONS = (
    "size_too_small",
    "size_too_large",
    "unwanted",
    "not_as_described",
    "wrong_item",
    "defective",
    "style",
    "color",
    "other",
    "unknown",
)
DECLINE_REASONS = ("return_period_ended", "final_sale", "other")
DISPOSITION_TYPES = ("restocked", "not_restocked", "processing_required", "missing")
RETURN_STATUSES = ("requested", "open", "declined", "closed", "canceled")
# Order.returnStatus (AFTER-THE-SALE §1.4), highest priority first.
ORDER_RETURN_STATUSES = (
    "return_requested",
    "in_progress",
    "inspection_complete",
    "return_failed",
    "returned",
    "no_return",
)
MAX_NOTE = {"return_reason_note": 255, "customer_note": 300, "decline_note": 500}
HUNDRED = Decimal(100)


# ---- what can be returned ------------------------------------------------------------------
def fulfillment_line_items(order: Order) -> list[tuple[Fulfillment, FulfillmentLine]]:
    return [(f, fl) for f in order.fulfillments if f.is_active for fl in f.line_items]


def fulfillment_line_item(order: Order, fulfillment_line_item_id: int) -> tuple[Fulfillment, FulfillmentLine] | None:
    return next(
        ((f, fl) for f, fl in fulfillment_line_items(order) if fl.id == fulfillment_line_item_id and fl.id != 0),
        None,
    )


def units_in_live_returns(
    order: Order, *, line_item_id: int | None = None, fulfillment_line_item_id: int | None = None
) -> int:
    return sum(
        rli.current_quantity
        for r in order.returns
        if r.is_live
        for rli in r.return_line_items
        if (line_item_id is None or rli.line_item_id == line_item_id)
        and (fulfillment_line_item_id is None or rli.fulfillment_line_item_id == fulfillment_line_item_id)
    )


def refunded_outside_returns(order: Order, line_item_id: int) -> int:
    """Units of a line refunded by ordinary refunds and kept off the order (not `cancel`): they
    can't be returned any more. Units refunded through a return are counted as returned."""
    through_returns = {r.id for r in order.refunds if r.return_id is not None}
    return sum(
        rli.quantity
        for r in order.refunds
        if r.id not in through_returns
        for rli in r.refund_line_items
        if rli.line_item_id == line_item_id and rli.restock_type != "cancel"
    )


def returnable_quantities(order: Order) -> dict[int, int]:
    """Units each fulfillment line item can still be returned: fulfilled - already in a live
    return - refunded. Refunds are per order line, so they take from its fulfillment lines in
    order of shipping."""
    result: dict[int, int] = {}
    left_by_line: dict[int, int] = {}
    for _, fl in fulfillment_line_items(order):
        if fl.id == 0:
            continue
        if fl.line_item_id not in left_by_line:
            left_by_line[fl.line_item_id] = (
                order.fulfilled_quantity(fl.line_item_id)
                - units_in_live_returns(order, line_item_id=fl.line_item_id)
                - refunded_outside_returns(order, fl.line_item_id)
            )
        own = fl.quantity - units_in_live_returns(order, fulfillment_line_item_id=fl.id)
        take = max(0, min(own, left_by_line[fl.line_item_id]))
        result[fl.id] = take
        left_by_line[fl.line_item_id] -= take
    return result


# ---- requests ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReturnLineRequest:
    fulfillment_line_item_id: int
    quantity: int
    return_reason: str = "unknown"
    return_reason_note: str = ""
    customer_note: str | None = None
    restocking_fee_percentage: Decimal | None = None


@dataclass(frozen=True)
class ExchangeVariant:
    """What the catalogue says of the variant an exchange asks for (the service looks it up)."""

    variant_id: int
    product_id: int | None
    title: str
    variant_title: str | None
    price: Decimal  # shop currency
    sku: str | None = None
    vendor: str | None = None
    grams: int = 0
    taxable: bool = True
    requires_shipping: bool = True
    inventory_item_id: int | None = None


@dataclass(frozen=True)
class ExchangeLineRequest:
    variant: ExchangeVariant
    quantity: int
    discount_value: Decimal | None = None
    discount_value_type: str | None = None  # fixed_amount (per unit) | percentage
    discount_description: str | None = None


@dataclass(frozen=True)
class ReturnRequest:
    lines: list[ReturnLineRequest]
    exchanges: list[ExchangeLineRequest] = field(default_factory=list)
    shipping_fee: Decimal | None = None  # presentment currency
    requested_at: datetime | None = None


# ---- money -----------------------------------------------------------------------------------
def line_worth(order: Order, line_item_id: int, quantity: int) -> Decimal:
    """What `quantity` units of a line are worth back (shop currency): exactly what refunding
    them takes off the order (refunds/calculate's subtotal and tax)."""
    line = order.line_item(line_item_id)
    if line is None or quantity <= 0:
        return ZERO
    subtotal, tax = order.units_worth(line, quantity)
    return order.with_tax(subtotal, tax)


def restocking_fee_amount(order: Order, rli: ReturnLineItem) -> Decimal:
    if rli.restocking_fee is None:
        return ZERO
    worth = line_worth(order, rli.line_item_id, rli.current_quantity)
    return round_money(worth * rli.restocking_fee.percentage / HUNDRED, order.currency)


def fees_of(order: Order, ret: Return) -> Decimal:
    """What the shop keeps of this return's worth (shop currency): restocking fees and the
    return shipping fee."""
    return sum((restocking_fee_amount(order, rli) for rli in ret.return_line_items), ZERO) + sum(
        (f.amount for f in ret.return_shipping_fees), ZERO
    )


def return_credit(order: Order) -> Decimal:
    """The worth of returned units of approved returns not yet refunded (shop currency): the
    customer is owed it (in money, or against exchange items). Refunds through a return take
    off exactly the worth they recorded, so refunding in parts never leaves a cent behind."""
    approved = {r.id for r in order.returns if r.is_approved}
    returned = sum(
        (
            line_worth(order, rli.line_item_id, rli.current_quantity)
            for r in order.returns
            if r.id in approved
            for rli in r.return_line_items
        ),
        ZERO,
    )
    refunded = sum(
        (
            order.with_tax(rli.subtotal, rli.total_tax)
            for refund in order.refunds
            if refund.return_id in approved
            for rli in refund.refund_line_items
        ),
        ZERO,
    )
    return returned - refunded


def return_fees(order: Order) -> Decimal:
    return sum((fees_of(order, r) for r in order.returns if r.is_approved), ZERO)


def _exchange_unit_price(order: Order, req: ExchangeLineRequest) -> tuple[Decimal, Decimal]:
    """(price, discount per unit), shop currency."""
    price = round_money(req.variant.price, order.currency)
    if req.discount_value is None:
        return price, ZERO
    if req.discount_value_type == "percentage":
        return price, round_money(price * req.discount_value / HUNDRED, order.currency)
    return price, min(price, order.shop_amount(req.discount_value))


def _exchange_tax_lines(
    order: Order, returned_line: LineItem | None, taxable_amount: Decimal, taxable: bool
) -> list[TaxLine]:
    """Exchange items are taxed at the rates of the line they replace (same customer, same
    destination); with taxes included the tax is the part of the price the rate accounts for."""
    if not taxable or returned_line is None or not taxable_amount:
        return []
    lines = []
    for t in returned_line.tax_lines:
        value = taxable_amount * t.rate / (1 + t.rate) if order.taxes_included else taxable_amount * t.rate
        lines.append(TaxLine(title=t.title, rate=t.rate, price=round_money(value, order.currency)))
    return lines


@dataclass(frozen=True)
class PricedReturnLine:
    request: ReturnLineRequest
    line: LineItem
    worth: Decimal  # shop currency
    restocking_fee: Decimal


@dataclass(frozen=True)
class PricedExchangeLine:
    request: ExchangeLineRequest
    price: Decimal
    discount: Decimal  # per unit
    tax: Decimal  # for the whole quantity

    @property
    def total(self) -> Decimal:
        return (self.price - self.discount) * self.request.quantity + self.tax


@dataclass(frozen=True)
class ReturnCalculation:
    """What a return would come to (returns/calculate): nothing is changed to work it out."""

    lines: list[PricedReturnLine]
    exchanges: list[PricedExchangeLine]
    shipping_fee: Decimal  # shop currency
    shipping_fee_presentment: Decimal

    @property
    def returned_worth(self) -> Decimal:
        return sum((p.worth for p in self.lines), ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((p.restocking_fee for p in self.lines), ZERO) + self.shipping_fee

    @property
    def exchange_total(self) -> Decimal:
        return sum((p.total for p in self.exchanges), ZERO)

    @property
    def balance(self) -> Decimal:
        """Positive: the customer owes it; negative: the shop owes it back (shop currency)."""
        return self.exchange_total + self.fees - self.returned_worth


def _check_text(value: str | None, name: str, where: str) -> None:
    if value is not None and len(value) > MAX_NOTE[name]:
        raise InvalidInput(f"{name} can be at most {MAX_NOTE[name]} characters", field=where)


def calculate(order: Order, request: ReturnRequest, *, allow_exchanges: bool = True) -> ReturnCalculation:
    """Check a return's lines against what can be returned and price it."""
    if not request.lines:
        raise InvalidInput("name at least one fulfilled item to return", field="return_line_items")
    returnable = returnable_quantities(order)
    asked: dict[int, int] = {}
    priced: list[PricedReturnLine] = []
    for req in request.lines:
        found = fulfillment_line_item(order, req.fulfillment_line_item_id)
        if found is None:
            raise InvalidInput(
                f"fulfillment line item {req.fulfillment_line_item_id} is not a fulfilled item of order {order.name}",
                field="return_line_items",
            )
        _, fl = found
        line = order.line_item(fl.line_item_id)
        assert line is not None
        if req.quantity <= 0:
            raise InvalidInput("quantity must be greater than 0", field="return_line_items")
        if req.return_reason not in RETURN_REASONS:
            raise InvalidInput(f"return_reason must be one of {', '.join(RETURN_REASONS)}", field="return_line_items")
        _check_text(req.return_reason_note, "return_reason_note", "return_line_items")
        _check_text(req.customer_note, "customer_note", "return_line_items")
        fee = req.restocking_fee_percentage
        if fee is not None and not (ZERO <= fee <= HUNDRED):
            raise InvalidInput("restocking_fee percentage must be between 0 and 100", field="return_line_items")
        asked[fl.id] = asked.get(fl.id, 0) + req.quantity
        if asked[fl.id] > returnable.get(fl.id, 0):
            raise RuleViolation(
                f"Cannot return {asked[fl.id]} of {line.name}: only {returnable.get(fl.id, 0)} "
                "were fulfilled and are not refunded or in another return",
                field="return_line_items",
            )
        worth = line_worth(order, line.id, req.quantity)
        fee_amount = round_money(worth * fee / HUNDRED, order.currency) if fee else ZERO
        priced.append(PricedReturnLine(req, line, worth, fee_amount))
    if request.exchanges and not allow_exchanges:
        raise RuleViolation("This shop does not offer exchanges", field="exchange_line_items")
    exchanges = []
    for ex in request.exchanges:
        if ex.quantity <= 0:
            raise InvalidInput("quantity must be greater than 0", field="exchange_line_items")
        if ex.discount_value is not None:
            if ex.discount_value_type not in ("fixed_amount", "percentage"):
                raise InvalidInput("a discount is an amount or a percentage", field="exchange_line_items")
            if ex.discount_value < 0 or (ex.discount_value_type == "percentage" and ex.discount_value > HUNDRED):
                raise InvalidInput("a discount is between 0 and the price (or 100 %)", field="exchange_line_items")
        price, discount = _exchange_unit_price(order, ex)
        replaced = priced[0].line if priced else None
        taxable = (price - discount) * ex.quantity
        tax = sum((t.price for t in _exchange_tax_lines(order, replaced, taxable, ex.variant.taxable)), ZERO)
        exchanges.append(PricedExchangeLine(ex, price, discount, ZERO if order.taxes_included else tax))
    fee_presentment = request.shipping_fee or ZERO
    if fee_presentment < 0:
        raise InvalidInput("return_shipping_fee must not be negative", field="return_shipping_fee")
    return ReturnCalculation(priced, exchanges, order.shop_amount(fee_presentment), fee_presentment)


# ---- creating ------------------------------------------------------------------------------
def _event(order: Order, ret: Return, verb: str, message: str, author: Author, *topics: str, **kw: object) -> None:
    notify = kw.pop("notify", None)
    order.record(
        DomainEvent(
            verb=verb,
            message=message,
            author=author,
            topics=(*topics, "orders/updated"),
            subject_id=ret.id,
            arguments={"return": ret.name, **kw},
            notify=notify if isinstance(notify, str) else None,
        )
    )


def _units(n: int) -> str:
    return f"{n} item{'s' if n != 1 else ''}"


def start_return(
    order: Order,
    request: ReturnRequest,
    *,
    status: str,
    author: Author,
    now: datetime,
    inventory: Inventory,
    locations: list[int],
    notify: bool = False,
    allow_exchanges: bool = True,
) -> Return:
    """Create a return: `requested` (the customer asks; staff approve or decline) or `open`
    (staff create it, approved at once)."""
    if status not in ("requested", "open"):
        raise InvalidInput("a new return is requested or open", field="status")
    if order.is_cancelled:
        raise RuleViolation(f"Order {order.name} is cancelled; nothing on it can be returned")
    calc = calculate(order, request, allow_exchanges=allow_exchanges)
    if status == "open":
        _check_exchange_stock(
            order,
            [(ex.variant.variant_id, ex.quantity) for ex in request.exchanges],
            request.exchanges,
            inventory,
            locations,
        )
    ret = Return(
        id=order.child_id(),
        name=f"{order.name}-R{len(order.returns) + 1}",
        status=status,
        created_at=now,
        updated_at=now,
        requested_at=request.requested_at or now,
        author=author,
        return_line_items=[],
    )
    for p in calc.lines:
        found = fulfillment_line_item(order, p.request.fulfillment_line_item_id)
        assert found is not None
        fulfilment, fl = found
        pct = p.request.restocking_fee_percentage
        ret.return_line_items.append(
            ReturnLineItem(
                id=order.child_id(),
                fulfillment_line_item_id=fl.id,
                fulfillment_id=fulfilment.id,
                line_item_id=fl.line_item_id,
                quantity=p.request.quantity,
                return_reason=p.request.return_reason,
                return_reason_note=p.request.return_reason_note or "",
                customer_note=p.request.customer_note,
                restocking_fee=RestockingFee(percentage=pct) if pct else None,
            )
        )
    for ex in request.exchanges:
        ret.exchange_line_items.append(
            ExchangeLineItem(
                id=order.child_id(),
                variant_id=ex.variant.variant_id,
                quantity=ex.quantity,
                discount_value=ex.discount_value,
                discount_value_type=ex.discount_value_type,
                discount_description=ex.discount_description,
            )
        )
    if calc.shipping_fee_presentment:
        ret.return_shipping_fees.append(
            ReturnShippingFee(
                id=order.child_id(), amount=calc.shipping_fee, presentment_amount=calc.shipping_fee_presentment
            )
        )
    order.returns.append(ret)
    if order.is_closed:
        # Shopify: creating a return unarchives the order; auto-archive takes it back once the
        # return is closed (no sticky unarchive here, nobody chose to keep it open).
        order.closed_at = None
        order.record(
            DomainEvent(
                verb="re_opened",
                author=author,
                topics=("orders/updated",),
                message=f"Order {order.name} was unarchived for return {ret.name}.",
            )
        )
    order.updated_at = now
    units = ret.total_quantity
    if status == "requested":
        _event(
            order,
            ret,
            "return_requested",
            f"Return {ret.name} of {_units(units)} was requested.",
            author,
            "returns/request",
            units=units,
            notify="return_requested" if notify else None,
        )
    else:
        _event(
            order,
            ret,
            "return_created",
            f"Return {ret.name} of {_units(units)} was created.",
            author,
            "returns/approve",
            units=units,
        )
        _open(
            order,
            ret,
            request.exchanges,
            author=author,
            now=now,
            inventory=inventory,
            locations=locations,
            notify=notify,
        )
    return ret


def _open(
    order: Order,
    ret: Return,
    exchanges: list[ExchangeLineRequest],
    *,
    author: Author,
    now: datetime,
    inventory: Inventory,
    locations: list[int],
    notify: bool,
) -> None:
    """The return is approved: reverse fulfillment orders per location, exchange items become
    line items on a held fulfillment order."""
    ret.status = "open"
    ret.request_approved_at = now
    ret.updated_at = now
    by_location: dict[int, list[ReturnLineItem]] = {}
    for rli in ret.return_line_items:
        if rli.current_quantity <= 0:
            continue
        fulfilment = order.fulfillment(rli.fulfillment_id)
        location = fulfilment.location_id if fulfilment else (locations[0] if locations else 0)
        by_location.setdefault(location, []).append(rli)
    for location, lines in by_location.items():
        ret.reverse_fulfillment_orders.append(
            ReverseFulfillmentOrder(
                id=order.child_id(),
                location_id=location,
                status="open",
                created_at=now,
                line_items=[
                    ReverseFulfillmentOrderLine(
                        id=order.child_id(),
                        return_line_item_id=rli.id,
                        fulfillment_line_item_id=rli.fulfillment_line_item_id,
                        line_item_id=rli.line_item_id,
                        total_quantity=rli.current_quantity,
                    )
                    for rli in lines
                ],
            )
        )
    _add_exchange_items(order, ret, exchanges, author=author, now=now, inventory=inventory, locations=locations)
    if notify:
        order.record(
            DomainEvent(
                verb="return_notified",
                author=author,
                subject_id=ret.id,
                message=f"The customer was sent the return instructions for {ret.name}.",
                notify="return_approved",
            )
        )


def _check_exchange_stock(
    order: Order,
    wanted: list[tuple[int, int]],
    requests: list[ExchangeLineRequest],
    inventory: Inventory,
    locations: list[int],
) -> None:
    """Refuse, before anything on the order changes, exchange items the catalogue no longer has
    or that no location can ship under the items' oversell policy (routing is only read here)."""
    if not wanted:
        return
    by_variant = {r.variant.variant_id: r for r in requests}
    lines = []
    for index, (variant_id, quantity) in enumerate(wanted):
        req = by_variant.get(variant_id)
        if req is None:
            raise RuleViolation(
                f"variant {variant_id} of the exchange is no longer in the catalogue", field="exchange_line_items"
            )
        item = req.variant.inventory_item_id if order.inventory_behaviour != "bypass" else None
        lines.append(RoutedLine(index, item, quantity))
    try:
        route(lines, locations, inventory, obey_policy=order.inventory_behaviour == "decrement_obeying_policy")
    except InsufficientInventory as short:
        raise InsufficientInventory(short.message, field="exchange_line_items") from None


def _add_exchange_items(
    order: Order,
    ret: Return,
    requests: list[ExchangeLineRequest],
    *,
    author: Author,
    now: datetime,
    inventory: Inventory,
    locations: list[int],
) -> None:
    pending = [ex for ex in ret.exchange_line_items if ex.line_item_id is None and ex.removed_quantity < ex.quantity]
    if not pending:
        return
    by_variant = {r.variant.variant_id: r for r in requests}
    replaced = order.line_item(ret.return_line_items[0].line_item_id) if ret.return_line_items else None
    new_lines: list[LineItem] = []
    for ex in pending:
        req = by_variant.get(ex.variant_id)
        if req is None:
            raise RuleViolation(
                f"variant {ex.variant_id} of the exchange is no longer in the catalogue", field="exchange_line_items"
            )
        v = req.variant
        price, discount = _exchange_unit_price(order, req)
        qty = ex.quantity - ex.removed_quantity
        taxable = (price - discount) * qty
        allocations = []
        if discount:
            # The exchange's discount is a manual discount application of its own, so the
            # order's JSON explains it like any other.
            order.discount_applications.append(
                DiscountApplication(
                    type="manual",
                    value=req.discount_value or ZERO,
                    value_type=req.discount_value_type or "fixed_amount",
                    allocation_method="each",
                    target_selection="explicit",
                    target_type="line_item",
                    title=req.discount_description or f"Exchange discount ({ret.name})",
                    description=req.discount_description,
                )
            )
            index = len(order.discount_applications) - 1
            allocations = [DiscountAllocation(amount=discount * qty, discount_application_index=index)]
        line = LineItem(
            id=order.child_id(),
            title=v.title,
            quantity=qty,
            price=price,
            sku=v.sku,
            variant_id=v.variant_id,
            product_id=v.product_id,
            variant_title=v.variant_title,
            vendor=v.vendor,
            grams=v.grams,
            taxable=v.taxable,
            requires_shipping=v.requires_shipping,
            inventory_item_id=v.inventory_item_id if order.inventory_behaviour != "bypass" else None,
            tax_lines=_exchange_tax_lines(order, replaced, taxable, v.taxable),
            discount_allocations=allocations,
        )
        ex.line_item_id = line.id
        order.line_items.append(line)
        new_lines.append(line)
    for fo in assign_to_locations(order, new_lines, locations=locations, inventory=inventory, now=now):
        fulfilment_rules.hold(
            order,
            fo,
            reason="awaiting_return_items",
            reason_notes=f"Ships once the items of return {ret.name} are back",
            requests=None,
            author=author,
            now=now,
        )
    units = sum(li.quantity for li in new_lines)
    _event(
        order,
        ret,
        "exchange_items_added",
        f"{_units(units)} added as an exchange for return {ret.name}: "
        + ", ".join(f"{li.quantity} x {li.name}" for li in new_lines)
        + ".",
        author,
        units=units,
    )


def exchange_fulfillment_orders(order: Order, ret: Return) -> list[FulfillmentOrder]:
    ids = {ex.line_item_id for ex in ret.exchange_line_items if ex.line_item_id is not None}
    return [
        fo for fo in order.fulfillment_orders if fo.is_active and any(li.line_item_id in ids for li in fo.line_items)
    ]


# ---- state changes -------------------------------------------------------------------------
def require_return(order: Order, return_id: int) -> Return:
    ret = order.return_(return_id)
    if ret is None:
        raise NotFound(f"Return {return_id} is not on order {order.name}")
    return ret


def approve(
    order: Order,
    ret: Return,
    exchanges: list[ExchangeLineRequest],
    *,
    author: Author,
    now: datetime,
    inventory: Inventory,
    locations: list[int],
    notify: bool,
) -> None:
    if ret.status != "requested":
        raise RuleViolation(f"Return {ret.name} is {ret.status}; only a requested return can be approved")
    # The units may have changed since the request (a refund of them, say): every unit asked
    # back must still be a fulfilled unit nobody refunded.
    for rli in ret.return_line_items:
        line_id = rli.line_item_id
        spoken_for = units_in_live_returns(order, line_item_id=line_id) + refunded_outside_returns(order, line_id)
        fulfilment = order.fulfillment(rli.fulfillment_id)
        if fulfilment is None or not fulfilment.is_active or spoken_for > order.fulfilled_quantity(line_id):
            raise RuleViolation(f"The items of return {ret.name} are no longer fulfilled; decline it instead")
    pending = [
        (ex.variant_id, ex.quantity - ex.removed_quantity) for ex in ret.exchange_line_items if ex.line_item_id is None
    ]
    _check_exchange_stock(order, [p for p in pending if p[1] > 0], exchanges, inventory, locations)
    _event(order, ret, "return_approved", f"Return {ret.name} was approved.", author, "returns/approve")
    _open(order, ret, exchanges, author=author, now=now, inventory=inventory, locations=locations, notify=notify)


def decline(
    order: Order, ret: Return, *, reason: str, note: str | None, author: Author, now: datetime, notify: bool
) -> None:
    if ret.status != "requested":
        raise RuleViolation(f"Return {ret.name} is {ret.status}; only a requested return can be declined")
    if reason not in DECLINE_REASONS:
        raise InvalidInput(f"decline_reason must be one of {', '.join(DECLINE_REASONS)}", field="decline_reason")
    _check_text(note, "decline_note", "decline_note")
    ret.status = "declined"
    ret.decline = ReturnDecline(reason=reason, note=note or None)
    ret.updated_at = now
    order.updated_at = now
    _event(
        order,
        ret,
        "return_declined",
        f"Return {ret.name} was declined ({reason.replace('_', ' ')})" + (f": {note}" if note else "."),
        author,
        "returns/decline",
        reason=reason,
        notify="return_declined" if notify else None,
    )


def _work_done(ret: Return) -> bool:
    return bool(ret.refund_ids) or any(
        line.dispositions for rfo in ret.reverse_fulfillment_orders for line in rfo.line_items
    )


def cancel(order: Order, ret: Return, *, author: Author, now: datetime, inventory: Inventory) -> None:
    """Cancel a return before anything was received or refunded: the units are simply
    fulfilled again, exchange items that have not shipped come off the order."""
    if ret.status not in ("requested", "open"):
        raise RuleViolation(f"Return {ret.name} is {ret.status}; only a requested or open return can be cancelled")
    if _work_done(ret):
        raise RuleViolation(
            f"Return {ret.name} has items received or refunded; close it instead of cancelling", field="base"
        )
    for ex in ret.exchange_line_items:
        if ex.line_item_id is not None and order.fulfilled_quantity(ex.line_item_id) > 0:
            raise RuleViolation(f"Exchange items of return {ret.name} have shipped; close the return instead")
    for ex in ret.exchange_line_items:
        _drop_exchange_units(order, ex, ex.quantity - ex.removed_quantity, inventory)
    ret.status = "canceled"
    for rfo in ret.reverse_fulfillment_orders:
        rfo.status = "canceled"
    ret.updated_at = now
    order.updated_at = now
    _event(
        order,
        ret,
        "return_canceled",
        f"Return {ret.name} was cancelled; its items count as fulfilled again.",
        author,
        "returns/cancel",
    )


def _drop_exchange_units(order: Order, ex: ExchangeLineItem, quantity: int, inventory: Inventory) -> None:
    """Take unshipped exchange units off the order, releasing their stock. An exchange line that
    loses every unit leaves the order (it was never sold)."""
    ex.removed_quantity += quantity
    if ex.line_item_id is None or quantity <= 0:
        return
    line = order.line_item(ex.line_item_id)
    if line is None:
        return
    left = quantity
    for fo in order.fulfillment_orders:
        fol = fo.line_for(line.id)
        if fol is None or not fo.is_active or left == 0:
            continue
        take = min(left, fol.fulfillable_quantity)
        fol.fulfillable_quantity -= take
        fol.quantity -= take
        left -= take
        if line.inventory_item_id is not None and take:
            inventory.release(line.inventory_item_id, fo.assigned_location_id, take, restock=True)
        fo.line_items = [li for li in fo.line_items if li.quantity > 0]
        if not fo.line_items:
            fo.status = "cancelled"
            fo.fulfillment_holds = []
    per_unit = line.total_discount / line.quantity if line.quantity else ZERO
    tax_per_unit = [t.price / line.quantity for t in line.tax_lines] if line.quantity else []
    line.quantity -= quantity - left
    if line.quantity <= 0:
        order.line_items = [li for li in order.line_items if li.id != line.id]
        ex.line_item_id = None
        return
    for a in line.discount_allocations:
        a.amount = round_money(per_unit * line.quantity, order.currency)
    for t, unit in zip(line.tax_lines, tax_per_unit, strict=True):
        t.price = round_money(unit * line.quantity, order.currency)


def close(order: Order, ret: Return, *, author: Author, now: datetime, automatic: bool = False) -> None:
    if ret.status != "open":
        raise RuleViolation(f"Return {ret.name} is not in an open state ({ret.status})")
    ret.status = "closed"
    ret.closed_at = now
    ret.updated_at = now
    for rfo in ret.reverse_fulfillment_orders:
        if rfo.status == "open":
            rfo.status = "closed"
    order.updated_at = now
    _event(
        order,
        ret,
        "return_closed",
        f"Return {ret.name} was closed" + (" (every item received and refunded)." if automatic else "."),
        author,
        "returns/close",
    )


def reopen(order: Order, ret: Return, *, author: Author, now: datetime) -> None:
    if ret.status != "closed":
        raise RuleViolation(f"Return {ret.name} is {ret.status}; only a closed return can be reopened")
    if order.is_cancelled:
        raise RuleViolation(f"Order {order.name} is cancelled")
    ret.status = "open"
    ret.closed_at = None
    ret.updated_at = now
    for rfo in ret.reverse_fulfillment_orders:
        if rfo.status == "closed" and any(line.disposed_quantity < line.total_quantity for line in rfo.line_items):
            rfo.status = "open"
    if order.is_closed:
        order.closed_at = None
    order.updated_at = now
    _event(order, ret, "return_reopened", f"Return {ret.name} was reopened.", author, "returns/reopen")


def remove_lines(
    order: Order,
    ret: Return,
    *,
    return_lines: list[tuple[int, int]],
    exchange_lines: list[tuple[int, int]],
    author: Author,
    now: datetime,
    inventory: Inventory,
) -> None:
    """Take units off a return before they were received or refunded (returns/update)."""
    if ret.status not in ("requested", "open"):
        raise RuleViolation(
            f"Return {ret.name} is {ret.status}; lines can only be removed from a requested or open return"
        )
    if not return_lines and not exchange_lines:
        raise InvalidInput("name the return or exchange lines to remove", field="return_line_items")
    removals = []
    for rli_id, qty in return_lines:
        rli = ret.line(rli_id)
        if rli is None:
            raise InvalidInput(f"return line item {rli_id} is not on return {ret.name}", field="return_line_items")
        rfo_line = next(
            (li for rfo in ret.reverse_fulfillment_orders for li in rfo.line_items if li.return_line_item_id == rli.id),
            None,
        )
        done = max(rli.refunded_quantity, rfo_line.disposed_quantity if rfo_line else 0)
        if qty <= 0 or qty > rli.current_quantity - done:
            raise InvalidInput(
                f"can remove between 1 and {rli.current_quantity - done} of return line item {rli_id}",
                field="return_line_items",
            )
        removals.append((rli, rfo_line, qty))
    ex_removals = []
    for ex_id, qty in exchange_lines:
        ex = next((e for e in ret.exchange_line_items if e.id == ex_id), None)
        if ex is None:
            raise InvalidInput(f"exchange line item {ex_id} is not on return {ret.name}", field="exchange_line_items")
        shipped = order.fulfilled_quantity(ex.line_item_id) if ex.line_item_id else 0
        left = ex.quantity - ex.removed_quantity - shipped
        if qty <= 0 or qty > left:
            raise InvalidInput(
                f"can remove between 1 and {left} of exchange line item {ex_id}", field="exchange_line_items"
            )
        ex_removals.append((ex, qty))
    if sum(r[2] for r in removals) >= ret.total_quantity:
        raise RuleViolation(f"That would leave return {ret.name} empty; cancel it instead", field="return_line_items")
    for rli, rfo_line, qty in removals:
        rli.removed_quantity += qty
        if rfo_line is not None:
            rfo_line.total_quantity -= qty
    for ex, qty in ex_removals:
        _drop_exchange_units(order, ex, qty, inventory)
    ret.updated_at = now
    order.updated_at = now
    _event(
        order,
        ret,
        "return_updated",
        f"Removed {_units(sum(r[2] for r in removals) + sum(q for _, q in ex_removals))} from return {ret.name}.",
        author,
        "returns/update",
        removals=[{"return_line_item_id": r[0].id, "delta": r[2]} for r in removals],
    )
    settle(order, ret, author=author, now=now)


# ---- the parcel coming back ----------------------------------------------------------------
def find_reverse_fulfillment_order(order: Order, rfo_id: int) -> tuple[Return, ReverseFulfillmentOrder] | None:
    return next(
        ((ret, rfo) for ret in order.returns for rfo in ret.reverse_fulfillment_orders if rfo.id == rfo_id), None
    )


def find_reverse_delivery(
    order: Order, delivery_id: int
) -> tuple[Return, ReverseFulfillmentOrder, ReverseDelivery] | None:
    return next(
        (
            (ret, rfo, rd)
            for ret in order.returns
            for rfo in ret.reverse_fulfillment_orders
            for rd in rfo.reverse_deliveries
            if rd.id == delivery_id
        ),
        None,
    )


def require_reverse_fulfillment_order(order: Order, rfo_id: int) -> tuple[Return, ReverseFulfillmentOrder]:
    found = find_reverse_fulfillment_order(order, rfo_id)
    if found is None:
        raise NotFound(f"Reverse fulfillment order {rfo_id} is not on order {order.name}")
    return found


def require_reverse_delivery(order: Order, delivery_id: int) -> tuple[Return, ReverseFulfillmentOrder, ReverseDelivery]:
    found = find_reverse_delivery(order, delivery_id)
    if found is None:
        raise NotFound(f"Reverse delivery {delivery_id} is not on order {order.name}")
    return found


def _check_deliverable(label_url: str | None, tracking: ReturnTracking | None) -> None:
    if label_url is not None and not label_url.startswith(("https://", "http://")):
        raise InvalidInput("label file_url must be an http(s) address", field="label")
    if tracking is not None and tracking.url is not None and not tracking.url.startswith(("https://", "http://")):
        raise InvalidInput("tracking url must be an http(s) address", field="tracking")


def attach_delivery(
    order: Order,
    ret: Return,
    rfo: ReverseFulfillmentOrder,
    *,
    lines: list[tuple[int, int]],
    label_url: str | None,
    tracking: ReturnTracking | None,
    author: Author,
    now: datetime,
    notify: bool,
) -> ReverseDelivery:
    """The return label and/or the tracking of the parcel coming back."""
    if ret.status != "open" or rfo.status != "open":
        raise RuleViolation(f"Return {ret.name} is not open; a label can only be added to an open return")
    if label_url is None and (tracking is None or not (tracking.number or tracking.url)):
        raise InvalidInput("give a label file_url, a tracking number or both", field="reverse_delivery")
    _check_deliverable(label_url, tracking)
    chosen: list[ReverseDeliveryLine] = []
    if not lines:
        lines = [(li.id, li.total_quantity) for li in rfo.line_items if li.total_quantity > 0]
    for line_id, qty in lines:
        line = next((li for li in rfo.line_items if li.id == line_id), None)
        if line is None:
            raise InvalidInput(f"line {line_id} is not on reverse fulfillment order {rfo.id}", field="line_items")
        if qty <= 0 or qty > line.total_quantity:
            raise InvalidInput(f"quantity must be between 1 and {line.total_quantity}", field="line_items")
        chosen.append(ReverseDeliveryLine(id=order.child_id(), reverse_fulfillment_order_line_id=line.id, quantity=qty))
    delivery = ReverseDelivery(
        id=order.child_id(),
        created_at=now,
        updated_at=now,
        line_items=chosen,
        label=ReturnLabel(file_url=label_url, created_at=now, updated_at=now) if label_url else None,
        tracking=tracking,
    )
    rfo.reverse_deliveries.append(delivery)
    ret.updated_at = now
    order.updated_at = now
    _delivery_event(order, ret, delivery, author, notify)
    return delivery


def update_delivery(
    order: Order,
    ret: Return,
    delivery: ReverseDelivery,
    *,
    label_url: str | None,
    tracking: ReturnTracking | None,
    author: Author,
    now: datetime,
    notify: bool,
) -> None:
    if ret.status != "open":
        raise RuleViolation(f"Return {ret.name} is not open")
    if label_url is None and tracking is None:
        raise InvalidInput("give a label file_url, tracking or both", field="reverse_delivery")
    _check_deliverable(label_url, tracking)
    if label_url is not None:
        created = delivery.label.created_at if delivery.label else now
        delivery.label = ReturnLabel(file_url=label_url, created_at=created, updated_at=now)
    if tracking is not None:
        delivery.tracking = tracking
    delivery.updated_at = now
    ret.updated_at = now
    order.updated_at = now
    _delivery_event(order, ret, delivery, author, notify)


def _delivery_event(order: Order, ret: Return, delivery: ReverseDelivery, author: Author, notify: bool) -> None:
    parts = []
    if delivery.label:
        parts.append("a return label")
    if delivery.tracking and delivery.tracking.number:
        parts.append(f"tracking {delivery.tracking.carrier_name or ''} {delivery.tracking.number}".replace("  ", " "))
    order.record(
        DomainEvent(
            verb="return_delivery_attached",
            author=author,
            subject_id=delivery.id,
            topics=("reverse_deliveries/attach_deliverable", "orders/updated"),
            message=f"Return {ret.name}: " + " and ".join(parts) + " added.",
            arguments={"return": ret.name, "return_id": ret.id},
            notify="return_label" if notify else None,
        )
    )


@dataclass(frozen=True)
class DispositionRequest:
    reverse_fulfillment_order_line_item_id: int
    quantity: int
    disposition_type: str
    location_id: int | None = None


def dispose(
    order: Order,
    requests: list[DispositionRequest],
    *,
    inventory: Inventory,
    active_locations: set[int],
    author: Author,
    now: datetime,
) -> list[ReverseFulfillmentOrder]:
    """Receive returned units: each is restocked (at a chosen location), not restocked, needs
    processing, or missing. Restocked units go back on hand and become available there."""
    if not requests:
        raise InvalidInput("name at least one disposition", field="dispositions")
    lines = {
        li.id: (ret, rfo, li)
        for ret in order.returns
        for rfo in ret.reverse_fulfillment_orders
        for li in rfo.line_items
    }
    asked: dict[int, int] = {}
    for req in requests:
        found = lines.get(req.reverse_fulfillment_order_line_item_id)
        if found is None:
            raise InvalidInput(
                f"reverse fulfillment order line item {req.reverse_fulfillment_order_line_item_id} "
                f"is not on order {order.name}",
                field="dispositions",
            )
        ret, rfo, li = found
        if req.disposition_type not in DISPOSITION_TYPES:
            raise InvalidInput(f"disposition_type must be one of {', '.join(DISPOSITION_TYPES)}", field="dispositions")
        if ret.status != "open" or rfo.status == "canceled":
            raise RuleViolation(
                f"Return {ret.name} is {ret.status}; items can only be received on an open return", field="dispositions"
            )
        if req.quantity <= 0:
            raise InvalidInput("quantity must be greater than 0", field="dispositions")
        asked[li.id] = asked.get(li.id, 0) + req.quantity
        if asked[li.id] > li.total_quantity - li.disposed_quantity:
            raise RuleViolation(
                f"Only {li.total_quantity - li.disposed_quantity} unit(s) of this return line are still to be received",
                field="dispositions",
            )
        if req.disposition_type == "restocked":
            if req.location_id is None:
                raise InvalidInput("location_id is required to restock", field="dispositions")
            if req.location_id not in active_locations:
                raise InvalidInput(f"location {req.location_id} does not exist or is not active", field="dispositions")
        elif req.location_id is not None and req.location_id not in active_locations:
            raise InvalidInput(f"location {req.location_id} does not exist or is not active", field="dispositions")
    touched: dict[int, ReverseFulfillmentOrder] = {}
    returns_touched: dict[int, Return] = {}
    counts: dict[str, int] = {}
    for req in requests:
        ret, rfo, li = lines[req.reverse_fulfillment_order_line_item_id]
        li.dispositions.append(
            Disposition(
                id=order.child_id(),
                type=req.disposition_type,
                quantity=req.quantity,
                location_id=req.location_id if req.location_id is not None else rfo.location_id,
                created_at=now,
                author=author,
            )
        )
        line = order.line_item(li.line_item_id)
        if req.disposition_type == "restocked" and line is not None and line.inventory_item_id is not None:
            assert req.location_id is not None
            inventory.receive_return(line.inventory_item_id, req.location_id, req.quantity)
        counts[req.disposition_type] = counts.get(req.disposition_type, 0) + req.quantity
        touched[rfo.id] = rfo
        returns_touched[ret.id] = ret
    for rfo in touched.values():
        if all(li.disposed_quantity >= li.total_quantity for li in rfo.line_items):
            rfo.status = "closed"
        order.record(
            DomainEvent(
                verb="return_items_received",
                author=author,
                subject_id=rfo.id,
                topics=("reverse_fulfillment_orders/dispose", "orders/updated"),
                message="Return items received: "
                + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(counts.items()))
                + ".",
                arguments={"dispositions": counts},
            )
        )
    order.updated_at = now
    for ret in returns_touched.values():
        ret.updated_at = now
        settle(order, ret, author=author, now=now)
    return list(touched.values())


def all_received(ret: Return) -> bool:
    lines = [li for rfo in ret.reverse_fulfillment_orders if rfo.status != "canceled" for li in rfo.line_items]
    return bool(lines) and all(li.disposed_quantity >= li.total_quantity for li in lines)


def all_refunded(ret: Return) -> bool:
    return all(rli.refunded_quantity >= rli.current_quantity for rli in ret.return_line_items)


def settle(order: Order, ret: Return, *, author: Author, now: datetime) -> None:
    """What follows by itself once the units are back or the money is settled: exchange items
    waiting for the returned units are released, and a return whose every unit is received and
    refunded closes."""
    if ret.status != "open":
        return
    if all_received(ret):
        for fo in exchange_fulfillment_orders(order, ret):
            waiting = [h.id for h in fo.fulfillment_holds if h.reason == "awaiting_return_items"]
            if fo.status == "on_hold" and waiting:
                fulfilment_rules.release_hold(order, fo, hold_ids=waiting, author=author, now=now)
        if all_refunded(ret):
            close(order, ret, author=author, now=now, automatic=True)


def release_paid_exchanges(order: Order, *, owed: Decimal, author: Author, now: datetime) -> None:
    """Exchange items held because the customer owed money ship once nothing is owed."""
    if owed > 0:
        return
    for ret in order.returns:
        if ret.status not in ("open", "closed"):
            continue
        for fo in exchange_fulfillment_orders(order, ret):
            waiting = [h.id for h in fo.fulfillment_holds if h.reason == "awaiting_payment"]
            if fo.status == "on_hold" and waiting:
                fulfilment_rules.release_hold(order, fo, hold_ids=waiting, author=author, now=now)


def hold_unpaid_exchanges(order: Order, ret: Return, *, owed: Decimal, author: Author, now: datetime) -> None:
    """While the customer owes money for an exchange, its items wait (awaiting_payment)."""
    if owed <= 0:
        return
    for fo in exchange_fulfillment_orders(order, ret):
        if not any(h.reason == "awaiting_payment" for h in fo.fulfillment_holds) and fo.remaining > 0:
            fulfilment_rules.hold(
                order,
                fo,
                reason="awaiting_payment",
                reason_notes=f"The customer owes the difference for the exchange in {ret.name}",
                requests=None,
                author=author,
                now=now,
            )


# ---- the order's return status -------------------------------------------------------------
def status_of(ret: Return) -> str:
    """One return's contribution to the order's return status."""
    if ret.status == "requested":
        return "return_requested"
    if ret.status == "declined":
        return "return_failed"
    if ret.status == "canceled":
        return "no_return"
    if ret.status == "closed":
        return "returned"
    missing = any(
        d.type == "missing" for rfo in ret.reverse_fulfillment_orders for li in rfo.line_items for d in li.dispositions
    )
    if all_received(ret):
        return "return_failed" if missing else "inspection_complete"
    return "in_progress"


def order_return_status(order: Order) -> str:
    """Order.returnStatus: the highest-priority status over its returns (AFTER-THE-SALE §1.4)."""
    found = {status_of(r) for r in order.returns}
    return next((s for s in ORDER_RETURN_STATUSES if s in found), "no_return")


def return_in_progress(order: Order) -> Return | None:
    """A return still being worked on (requested or open), which blocks cancelling the order."""
    return next((r for r in order.returns if r.status in ("requested", "open")), None)


# What staff have to do next about a return: the Returns list filters on it.
DUE_STATES = ("to_approve", "awaiting_parcel", "to_inspect", "to_refund", "nothing")


def what_is_due(ret: Return) -> str:
    """to_approve: a customer's request waits for an answer; awaiting_parcel: approved, nothing
    received yet; to_inspect: some units are back (or need processing) and others are not;
    to_refund: every unit is back and some are not refunded; nothing: declined, cancelled,
    closed, or settled."""
    if ret.status == "requested":
        return "to_approve"
    if ret.status != "open":
        return "nothing"
    lines = [li for rfo in ret.reverse_fulfillment_orders if rfo.status != "canceled" for li in rfo.line_items]
    received = sum(li.disposed_quantity for li in lines)
    processing = any(d.type == "processing_required" for li in lines for d in li.dispositions)
    if received == 0:
        return "awaiting_parcel"
    if not all_received(ret) or processing:
        return "to_inspect"
    if not all_refunded(ret):
        return "to_refund"
    return "nothing"
