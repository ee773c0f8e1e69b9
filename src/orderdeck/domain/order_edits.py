"""Order edits (issue 14, AFTER-THE-SALE §3): changing what was ordered after the sale.

An edit is a staged set of changes against one order. Nothing happens to the order while the
changes are staged: each one is checked at once by applying every staged change to a copy of
the order (`calculate`), which is also the preview staff and customers see (Shopify's
CalculatedOrder). Committing applies the same changes to the order itself with `apply`, in one
transaction, so the preview and the result cannot disagree.

How a line changes. A line's `quantity` and its money (discount allocations, tax lines) always
describe the units on the order now; `original_quantity` keeps what was ordered before the first
edit touched the line (REST's `quantity`). A removed line stays on the order with quantity 0, so
its history (what was ordered, refunded, fulfilled) still reads right.

Money. The commit never moves money: what the customer owes afterwards is the order's balance
(`statuses.balance`: positive, total_outstanding to collect; negative, a refund to offer).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import msgspec

from .errors import InsufficientInventory, InvalidInput, RuleViolation
from .inventory import Inventory
from .money import MAX_AMOUNT, ZERO, round_money
from .order import (
    Author,
    DiscountAllocation,
    DiscountApplication,
    DomainEvent,
    FulfillmentOrder,
    LineItem,
    Order,
    ShippingLine,
    TaxLine,
)
from .placement import assign_to_locations
from .refunds import take_off_fulfillment_orders
from .returns import HUNDRED

MAX_QUANTITY = 10_000
MAX_PRICE = Decimal("1000000000")
MAX_TITLE = 255
MAX_NOTE = 5_000
MAX_CHANGES = 250
STATUSES = ("open", "committed", "abandoned")
# Ids of items added by an edit, before the commit gives them order line ids: far above any
# order record id (orders' ids shifted by 20 bits) and still exact in JavaScript.
STAGED_ID_BASE = 1 << 50


# ---- staged changes (Shopify's OrderStagedChange) ----------------------------------------------
class AddVariant(msgspec.Struct, tag="add_variant"):
    """A catalogue variant, with what the catalogue said of it when it was staged."""

    id: int  # the staged line's id (STAGED_ID_BASE + n)
    variant_id: int
    quantity: int
    title: str
    price: Decimal  # shop currency, from the catalogue
    location_id: int | None = None  # where it ships from; routed like a new order's when None
    product_id: int | None = None
    variant_title: str | None = None
    sku: str | None = None
    vendor: str | None = None
    grams: int = 0
    taxable: bool = True
    requires_shipping: bool = True
    inventory_item_id: int | None = None  # None: stock not tracked


class AddCustomItem(msgspec.Struct, tag="add_custom_item"):
    id: int
    title: str
    price: Decimal  # shop currency
    quantity: int
    taxable: bool = True
    requires_shipping: bool = False


class SetQuantity(msgspec.Struct, tag="set_quantity"):
    """A line of the order to `quantity` units (its current quantity before: see `current`)."""

    line_item_id: int
    quantity: int
    restock: bool = True


class LineDiscount(msgspec.Struct, tag="line_item_discount"):
    """A manual discount on one line: a fixed amount off each unit, or a percentage."""

    id: int  # the discount application's id within the edit
    line_item_id: int  # an order line or a staged line
    value: Decimal  # shop currency for fixed_amount
    value_type: str  # fixed_amount | percentage
    description: str | None = None
    # "each": a fixed value comes off every unit; "across": it is the line's whole discount
    # (a customer's switch carries the exact discount the switched units had).
    allocation_method: str = "each"


class AddShippingLine(msgspec.Struct, tag="add_shipping_line"):
    id: int
    title: str
    price: Decimal  # shop currency


class UpdateShippingLine(msgspec.Struct, tag="update_shipping_line"):
    shipping_line_id: int
    title: str
    price: Decimal


class RemoveShippingLine(msgspec.Struct, tag="remove_shipping_line"):
    shipping_line_id: int


StagedChange = (
    AddVariant | AddCustomItem | SetQuantity | LineDiscount | AddShippingLine | UpdateShippingLine | RemoveShippingLine
)


class LineDelta(msgspec.Struct):
    """One line's quantity change, as Shopify's orders/edited payload names it."""

    id: int  # the order's line item id
    delta: int
    title: str = ""


class EditOutcome(msgspec.Struct):
    """What a committed edit did (the webhook, the timeline, the e-mail read it)."""

    additions: list[LineDelta] = msgspec.field(default_factory=list)
    removals: list[LineDelta] = msgspec.field(default_factory=list)
    discounts_added: list[dict[str, str]] = msgspec.field(default_factory=list)
    shipping_added: list[dict[str, str]] = msgspec.field(default_factory=list)
    shipping_removed: list[dict[str, str]] = msgspec.field(default_factory=list)
    total_before: Decimal = ZERO  # presentment currency
    total_after: Decimal = ZERO
    balance_after: Decimal = ZERO  # + to collect, − to refund (presentment)
    added_line_ids: dict[int, int] = msgspec.field(default_factory=dict)  # staged id → order line id

    @property
    def changes_goods(self) -> bool:
        return bool(self.additions or self.removals or self.discounts_added)


class OrderEdit(msgspec.Struct):
    id: int
    order_id: int
    status: str  # open | committed | abandoned
    base_version: int  # the order's version when the edit began; a commit needs it unchanged
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    author: Author
    changes: list[StagedChange] = msgspec.field(default_factory=list)
    next_seq: int = 1
    committed_at: datetime | None = None
    notify_customer: bool = False
    staff_note: str | None = None
    outcome: EditOutcome | None = None

    def staged_id(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return STAGED_ID_BASE + (self.id << 16) + seq

    def is_expired(self, now: datetime) -> bool:
        return self.status == "open" and now >= self.expires_at

    def added_items(self) -> list[AddVariant | AddCustomItem]:
        return [c for c in self.changes if isinstance(c, (AddVariant, AddCustomItem))]

    def added(self, staged_id: int) -> AddVariant | AddCustomItem | None:
        return next((c for c in self.added_items() if c.id == staged_id), None)

    def quantity_change(self, line_item_id: int) -> SetQuantity | None:
        return next((c for c in self.changes if isinstance(c, SetQuantity) and c.line_item_id == line_item_id), None)

    def discount(self, discount_id: int) -> LineDiscount | None:
        return next((c for c in self.changes if isinstance(c, LineDiscount) and c.id == discount_id), None)


# ---- who may edit what ------------------------------------------------------------------------
def refusal(order: Order) -> str | None:
    """Why this order can't be edited at all (Shopify's merchantEditableErrors); None if it can."""
    if order.is_cancelled:
        return f"Order {order.name} is cancelled: cancelled orders can't be edited"
    if order.is_closed:
        return f"Order {order.name} is archived: unarchive it first to edit it"
    return None


def require_editable(order: Order) -> None:
    reason = refusal(order)
    if reason is not None:
        raise RuleViolation(reason, field="order_id")


def require_open(edit: OrderEdit, now: datetime) -> None:
    if edit.status != "open":
        raise RuleViolation(f"This edit was already {edit.status}: begin a new edit", field="order_edit")
    if edit.is_expired(now):
        raise RuleViolation(
            "This edit expired (it was left open longer than the shop allows): begin a new edit",
            field="order_edit",
        )


def require_unchanged(order: Order, edit: OrderEdit) -> None:
    if order.version != edit.base_version:
        raise RuleViolation(
            f"Order {order.name} changed since this edit began (someone fulfilled, refunded or edited it): "
            "begin a new edit to see it as it is now",
            field="order_edit",
        )


def begin(order: Order, *, edit_id: int, author: Author, now: datetime, lifetime: timedelta) -> OrderEdit:
    require_editable(order)
    return OrderEdit(
        id=edit_id,
        order_id=order.id,
        status="open",
        base_version=order.version,
        created_at=now,
        updated_at=now,
        expires_at=now + lifetime,
        author=author,
    )


def editable_quantity(order: Order, line: LineItem) -> int:
    """Units of a line an edit may take off: those still to ship (not fulfilled, not refunded),
    which its fulfillment orders hold. `Order.units_to_ship` alone can say more: it counts
    refunded units against the shipped ones, but units refunded before they shipped came off the
    fulfillment orders then, so once the rest ship it would offer a shipped unit to take off."""
    return min(order.units_to_ship(line), order.fulfillable_quantity(line.id))


def exchange_line_ids(order: Order) -> set[int]:
    """Lines that are exchange items of a live return: the return, not an edit, owns them."""
    return {
        ex.line_item_id
        for ret in order.returns
        if ret.is_live
        for ex in ret.exchange_line_items
        if ex.line_item_id is not None
    }


# ---- checking what is asked -------------------------------------------------------------------
def check_quantity(quantity: object, *, allow_zero: bool, field: str = "quantity") -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput("must be a whole number", field=field)
    low = 0 if allow_zero else 1
    if quantity < low or quantity > MAX_QUANTITY:
        raise InvalidInput(f"must be between {low} and {MAX_QUANTITY}", field=field)
    return quantity


def check_price(price: Decimal, *, field: str = "price") -> Decimal:
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        raise InvalidInput(f"must be between 0 and {MAX_PRICE}", field=field)
    return price


def check_title(title: object, *, field: str = "title") -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("can't be blank", field=field)
    if len(title) > MAX_TITLE or any(ord(c) < 32 for c in title):
        raise InvalidInput(f"must be one line of at most {MAX_TITLE} characters", field=field)
    return title.strip()


def check_discount(value: Decimal, value_type: str) -> None:
    if value_type not in ("fixed_amount", "percentage"):
        raise InvalidInput("must be fixed_amount or percentage", field="value_type")
    if not value.is_finite() or value <= 0:
        raise InvalidInput("must be greater than 0", field="value")
    if value_type == "percentage" and value < Decimal("0.01"):
        raise InvalidInput("a percentage must be at least 0.01", field="value")
    if value_type == "percentage" and value > HUNDRED:
        raise InvalidInput("a percentage can't exceed 100", field="value")


def stage(edit: OrderEdit, change: StagedChange, *, now: datetime) -> None:
    """Add a change to the edit, replacing an earlier one it supersedes (a second quantity for
    the same line, a staged item's new quantity, a discount's new value). The caller then checks
    the whole edit with `calculate`; on refusal it restores the edit it had."""
    if len(edit.changes) >= MAX_CHANGES:
        raise RuleViolation(f"An edit can hold at most {MAX_CHANGES} changes: commit this one first")
    if isinstance(change, SetQuantity):
        staged = edit.added(change.line_item_id)
        if staged is not None:
            if change.quantity == 0:
                edit.changes = [
                    c
                    for c in edit.changes
                    if c is not staged and not (isinstance(c, LineDiscount) and c.line_item_id == staged.id)
                ]
            else:
                staged.quantity = change.quantity
            edit.updated_at = now
            return
        # A line set to 0 takes the discount staged on it along (there is nothing left to discount).
        edit.changes = [
            c
            for c in edit.changes
            if not (isinstance(c, SetQuantity) and c.line_item_id == change.line_item_id)
            and not (change.quantity == 0 and isinstance(c, LineDiscount) and c.line_item_id == change.line_item_id)
        ]
    elif isinstance(change, LineDiscount):
        edit.changes = [
            c
            for c in edit.changes
            if not (isinstance(c, LineDiscount) and (c.id == change.id or c.line_item_id == change.line_item_id))
        ]
    elif isinstance(change, UpdateShippingLine):
        staged_line = next(
            (c for c in edit.changes if isinstance(c, AddShippingLine) and c.id == change.shipping_line_id), None
        )
        if staged_line is not None:
            staged_line.title, staged_line.price = change.title, change.price
            edit.updated_at = now
            return
        edit.changes = [
            c
            for c in edit.changes
            if not (isinstance(c, UpdateShippingLine) and c.shipping_line_id == change.shipping_line_id)
        ]
    elif isinstance(change, RemoveShippingLine):
        if change.shipping_line_id >= STAGED_ID_BASE:
            kept = [c for c in edit.changes if not (isinstance(c, AddShippingLine) and c.id == change.shipping_line_id)]
            if len(kept) == len(edit.changes):
                raise InvalidInput(
                    f"shipping line {change.shipping_line_id} is not part of this edit", field="shipping_line_id"
                )
            edit.changes = kept
            edit.updated_at = now
            return
        edit.changes = [
            c
            for c in edit.changes
            if not (
                isinstance(c, (UpdateShippingLine, RemoveShippingLine))
                and c.shipping_line_id == change.shipping_line_id
            )
        ]
    edit.changes.append(change)
    edit.updated_at = now


def remove_discount(edit: OrderEdit, discount_id: int, *, now: datetime) -> None:
    if edit.discount(discount_id) is None:
        raise InvalidInput(f"discount {discount_id} is not part of this edit", field="discount_application_id")
    edit.changes = [c for c in edit.changes if not (isinstance(c, LineDiscount) and c.id == discount_id)]
    edit.updated_at = now


# ---- applying the changes ------------------------------------------------------------------------
def _tax_rates(order: Order) -> list[TaxLine]:
    """The rates an added item is taxed at: those the order's taxable lines already carry (same
    customer, same destination), else the order's own tax lines."""
    for line in order.line_items:
        if line.taxable and line.tax_lines:
            return line.tax_lines
    return order.tax_lines


def _taxes_for(order: Order, amount: Decimal, rates: list[TaxLine]) -> list[TaxLine]:
    """Tax lines for an amount (shop currency); with prices that include tax, the part of the
    amount the rate accounts for."""
    lines = []
    for t in rates:
        value = amount * t.rate / (1 + t.rate) if order.taxes_included else amount * t.rate
        lines.append(TaxLine(title=t.title, rate=t.rate, price=round_money(value, order.currency)))
    return lines


def _line_amount(line: LineItem) -> Decimal:
    return line.price * line.quantity - line.total_discount


def _taxed_on_the_order(order: Order) -> Decimal:
    """What the order's own tax lines tax: its taxable lines that carry none themselves."""
    return sum((_line_amount(li) for li in order.line_items if li.taxable and not li.tax_lines), ZERO)


def _retax_order(order: Order, before: Decimal) -> None:
    """Lines taxed by the order's own tax lines (REST allows tax on the order instead of on its
    lines) were resized or discounted: the order's tax follows what they come to now, so added
    units are taxed and removed ones take their tax along; the rest of it (shipping) stays."""
    change = _taxed_on_the_order(order) - before
    if change:
        for t in order.tax_lines:
            part = change * t.rate / (1 + t.rate) if order.taxes_included else change * t.rate
            t.price = max(ZERO, t.price + round_money(part, order.currency))


def resize_line(order: Order, line: LineItem, quantity: int) -> None:
    """Set a line's quantity, keeping its discount and tax per unit (its money always describes
    the units on the order)."""
    if line.original_quantity is None:
        line.original_quantity = line.quantity
    old = line.quantity
    if old == quantity:
        return
    for a in line.discount_allocations:
        a.basis = a.basis or ((a.amount, old) if old else None)
        a.amount = _scaled(a.basis, quantity, order.currency)
    for t in line.tax_lines:
        t.basis = t.basis or ((t.price, old) if old else None)
        t.price = _scaled(t.basis, quantity, order.currency)
    if old == 0 and line.taxable and all(t.basis is None for t in line.tax_lines):
        # Units come back to a line whose tax had no basis (it had none left): taxed afresh.
        line.tax_lines = _taxes_for(
            order, line.price * quantity, [TaxLine(t.title, ZERO, t.rate) for t in line.tax_lines]
        )
    line.quantity = quantity


def discount_taken_off(order: Order, line: LineItem, quantity: int) -> Decimal:
    """How much of a line's discount leaves with it when an edit sets it to `quantity` units
    (what `resize_line` will take off, to the cent)."""
    kept = sum(
        (
            _scaled(a.basis or ((a.amount, line.quantity) if line.quantity else None), quantity, order.currency)
            for a in line.discount_allocations
        ),
        ZERO,
    )
    return line.total_discount - kept


def _scaled(basis: tuple[Decimal, int] | None, quantity: int, currency: str) -> Decimal:
    """An amount for `quantity` units, from its basis (so much for so many units)."""
    return ZERO if basis is None else round_money(basis[0] * quantity / basis[1], currency)


def _retax(order: Order, line: LineItem, before: Decimal) -> None:
    """A line's discount changed: its tax follows its amount."""
    after = _line_amount(line)
    if not line.tax_lines:
        return
    if before > 0:
        for t in line.tax_lines:
            t.price = round_money(t.price * after / before, order.currency)
            t.basis = None  # what the line comes to changed: a later resize starts from here
    else:
        line.tax_lines = _taxes_for(order, after, line.tax_lines)


def _add_units(
    order: Order, line: LineItem, units: int, *, inventory: Inventory, locations: list[int], now: datetime
) -> None:
    """More units of a line already on the order: onto the fulfillment order that holds it
    when that one can still take them (stock at its location), else routed like a new order."""
    obey = order.inventory_behaviour == "decrement_obeying_policy"
    for fo in order.fulfillment_orders:
        fol = fo.line_for(line.id)
        if fol is None or fo.status not in ("open", "scheduled", "on_hold") or fo.assigned_location_id not in locations:
            continue
        if fo.request_status not in ("unsubmitted", "rejected"):
            continue  # a service holds that request: the units join no work it was asked for
        if line.inventory_item_id is not None:
            try:
                inventory.commit(line.inventory_item_id, fo.assigned_location_id, units, obey_policy=obey)
            except InsufficientInventory:
                continue
        fol.quantity += units
        fol.fulfillable_quantity += units
        fo.updated_at = now
        return
    extra = msgspec.structs.replace(line, quantity=units)
    _join_open_fulfillment_orders(
        order, assign_to_locations(order, [extra], locations=locations, inventory=inventory, now=now), now
    )


def _join_open_fulfillment_orders(order: Order, created: list[FulfillmentOrder], now: datetime) -> None:
    """Units an edit adds at a location that already has an open fulfillment order (not held,
    not scheduled, not requested from a service) ship with it: one pick list per location, as
    Shopify's edited orders show."""
    for fo in created:
        joined = next(
            (
                other
                for other in order.fulfillment_orders
                if other is not fo
                and other.assigned_location_id == fo.assigned_location_id
                and other.status == "open"
                and other.request_status == "unsubmitted"
                and not other.fulfillment_holds
            ),
            None,
        )
        if joined is None:
            continue
        for new_line in fo.line_items:
            existing = joined.line_for(new_line.line_item_id)
            if existing is not None:
                existing.quantity += new_line.quantity
                existing.fulfillable_quantity += new_line.fulfillable_quantity
            else:
                joined.line_items.append(new_line)
        joined.updated_at = now
        order.fulfillment_orders = [other for other in order.fulfillment_orders if other is not fo]


def _new_line(order: Order, item: AddVariant | AddCustomItem) -> LineItem:
    rates = _tax_rates(order) if item.taxable else []
    line = LineItem(
        id=order.child_id(),
        title=item.title,
        quantity=item.quantity,
        price=round_money(item.price, order.currency),
        taxable=item.taxable,
        requires_shipping=item.requires_shipping,
        tax_lines=_taxes_for(order, item.price * item.quantity, rates),
    )
    if isinstance(item, AddVariant):
        line.sku = item.sku
        line.variant_id = item.variant_id
        line.product_id = item.product_id
        line.variant_title = item.variant_title
        line.vendor = item.vendor
        line.grams = item.grams
        line.inventory_item_id = item.inventory_item_id if order.inventory_behaviour != "bypass" else None
    return line


def _shipping_taxes(order: Order, price: Decimal, like: ShippingLine | None) -> list[TaxLine]:
    source = (
        like.tax_lines if like is not None else next((s.tax_lines for s in order.shipping_lines if s.tax_lines), [])
    )
    return _taxes_for(order, price, source)


def _shown(order: Order, presentment_amount: Decimal) -> str:
    """A presentment amount with as many decimals as its currency has (JPY none, EUR two)."""
    return str(round_money(presentment_amount, order.presentment_currency))


def _money(order: Order, amount: Decimal) -> str:
    return f"{_shown(order, order.presentment(amount))} {order.presentment_currency}"


def apply(
    order: Order,
    edit: OrderEdit,
    *,
    inventory: Inventory,
    locations: list[int],
    now: datetime,
    author: Author,
) -> EditOutcome:
    """Apply every staged change to `order` (stock in `inventory`). Raises, naming the field, at
    the first change that can't be made; the caller then throws the order away."""
    from .statuses import balance  # statuses imports returns, which the edit rules sit beside

    require_editable(order)
    outcome = EditOutcome(total_before=order.presentment(order.total_price))
    held = exchange_line_ids(order)
    taxed_on_the_order = _taxed_on_the_order(order)
    # Quantities first: units taken off free stock the added items may need.
    for change in edit.changes:
        if not isinstance(change, SetQuantity):
            continue
        line = order.line_item(change.line_item_id)
        if line is None:
            raise InvalidInput(f"line item {change.line_item_id} is not on order {order.name}", field="line_item_id")
        if line.id in held:
            raise RuleViolation(
                f"{line.name} is an exchange item of a return: change the return instead", field="line_item_id"
            )
        current = order.current_quantity(line)
        delta = change.quantity - current
        if delta < 0:
            editable = editable_quantity(order, line)
            if -delta > editable:
                fixed = current - editable
                raise RuleViolation(
                    f"{line.name}: the quantity can't go below {fixed}, the units already fulfilled or refunded",
                    field="quantity",
                )
            take_off_fulfillment_orders(
                order,
                line,
                -delta,
                inventory,
                restock_at=None,
                restock=change.restock and line.inventory_item_id is not None,
            )
            resize_line(order, line, line.quantity + delta)
            outcome.removals.append(LineDelta(line.id, -delta, line.name))
        elif delta > 0:
            _add_units(order, line, delta, inventory=inventory, locations=locations, now=now)
            resize_line(order, line, line.quantity + delta)
            outcome.additions.append(LineDelta(line.id, delta, line.name))
    # Added items, routed and reserved like a new order's lines.
    for item in edit.added_items():
        line = _new_line(order, item)
        order.line_items.append(line)
        preferred = item.location_id if isinstance(item, AddVariant) else None
        if preferred is not None and preferred not in locations:
            raise InvalidInput(f"location {preferred} is not an active location", field="location_id")
        try:
            # A location asked for is where the item ships from, or the item is refused (as
            # Shopify checks stock at the location named); without one it is routed.
            created = assign_to_locations(
                order,
                [line],
                locations=[preferred] if preferred is not None else locations,
                inventory=inventory,
                now=now,
            )
        except InsufficientInventory as short:
            if preferred is None:
                raise
            raise InsufficientInventory(short.message, field="location_id") from None
        _join_open_fulfillment_orders(order, created, now)
        outcome.additions.append(LineDelta(line.id, line.quantity, line.name))
        outcome.added_line_ids[item.id] = line.id
    # Discounts, on lines of the order or on the items just added.
    for change in edit.changes:
        if not isinstance(change, LineDiscount):
            continue
        line_id = outcome.added_line_ids.get(change.line_item_id, change.line_item_id)
        line = order.line_item(line_id)
        if line is None or line.quantity == 0:
            raise InvalidInput(f"line item {change.line_item_id} is not on order {order.name}", field="line_item_id")
        if line.id in held:
            raise RuleViolation(
                f"{line.name} is an exchange item of a return: change the return instead", field="line_item_id"
            )
        if order.refunded_quantity(line.id) > 0:
            # A line's money covers its refunded units too, so a discount on it would be shared
            # with units already refunded: the customer would get back more than the discount.
            raise RuleViolation(
                f"{line.name} has refunded units, so a discount on it would count them too: "
                "refund the difference instead (a refund without items)",
                field="line_item_id",
            )
        before = _line_amount(line)
        if change.value_type == "percentage":
            amount = round_money(line.price * line.quantity * change.value / HUNDRED, order.currency)
        elif change.allocation_method == "across":
            amount = round_money(change.value, order.currency)
        else:
            amount = round_money(change.value * line.quantity, order.currency)
        if amount > before:
            raise RuleViolation(
                f"the discount on {line.name} ({_money(order, amount)}) is more than its price "
                f"({_money(order, before)})",
                field="value",
            )
        order.discount_applications.append(
            DiscountApplication(
                type="manual",
                value=change.value,
                value_type=change.value_type,
                allocation_method=change.allocation_method,
                target_selection="explicit",
                target_type="line_item",
                title=change.description or "Discount",
                description=change.description,
            )
        )
        line.discount_allocations.append(DiscountAllocation(amount, len(order.discount_applications) - 1))
        _retax(order, line, before)
        outcome.discounts_added.append(
            {
                "line_item_id": str(line.id),
                "description": change.description or "",
                "amount": _shown(order, order.presentment(amount)),
            }
        )
    _retax_order(order, taxed_on_the_order)
    # Shipping: added, changed or removed by hand (rates are never recalculated, as Shopify's).
    shipping_refunded = any(a.kind == "shipping_refund" for r in order.refunds for a in r.order_adjustments)
    for change in edit.changes:
        if isinstance(change, AddShippingLine):
            like = order.shipping_lines[0] if order.shipping_lines else None
            added = ShippingLine(
                id=order.child_id(),
                title=change.title,
                price=round_money(change.price, order.currency),
                source="orderdeck",
                tax_lines=_shipping_taxes(order, change.price, like),
            )
            order.shipping_lines.append(added)
            outcome.shipping_added.append(
                {"id": str(added.id), "title": added.title, "price": _shown(order, order.presentment(added.price))}
            )
        elif isinstance(change, (UpdateShippingLine, RemoveShippingLine)):
            found = next((s for s in order.shipping_lines if s.id == change.shipping_line_id), None)
            if found is None:
                raise InvalidInput(
                    f"shipping line {change.shipping_line_id} is not on order {order.name}", field="shipping_line_id"
                )
            if shipping_refunded:
                raise RuleViolation(
                    "Shipping was already refunded on this order: its shipping lines can't change any more",
                    field="shipping_line_id",
                )
            order.shipping_lines = [s for s in order.shipping_lines if s.id != found.id]
            outcome.shipping_removed.append(
                {"id": str(found.id), "title": found.title, "price": _shown(order, order.presentment(found.price))}
            )
            if isinstance(change, UpdateShippingLine):
                changed = ShippingLine(
                    id=order.child_id(),
                    title=change.title,
                    price=round_money(change.price, order.currency),
                    code=found.code,
                    source=found.source,
                    carrier_identifier=found.carrier_identifier,
                    tax_lines=_shipping_taxes(order, change.price, found),
                )
                order.shipping_lines.append(changed)
                outcome.shipping_added.append(
                    {
                        "id": str(changed.id),
                        "title": changed.title,
                        "price": _shown(order, order.presentment(changed.price)),
                    }
                )
    order.updated_at = now
    if order.total_price >= MAX_AMOUNT or order.presentment(order.total_price) >= MAX_AMOUNT:
        raise InvalidInput(
            f"the order's total would reach {MAX_AMOUNT:,}: stage smaller prices or quantities", field="price"
        )
    outcome.total_after = order.presentment(order.total_price)
    outcome.balance_after = balance(order)
    return outcome


@dataclass(frozen=True)
class CalculatedOrder:
    """The preview: the order as the edit would leave it (Shopify's CalculatedOrder)."""

    original: Order
    edited: Order
    outcome: EditOutcome | None  # None while nothing is staged


def calculate(
    order: Order, edit: OrderEdit, *, inventory: Inventory, locations: list[int], now: datetime
) -> CalculatedOrder:
    """The order as the edit would leave it, computed on copies (the order and the stock are
    untouched). Raises like `apply` when a staged change can't be made."""
    edited = copy.deepcopy(order)
    if not edit.changes:
        return CalculatedOrder(order, edited, None)
    outcome = apply(edited, edit, inventory=copy.deepcopy(inventory), locations=locations, now=now, author=edit.author)
    edited.events = []
    return CalculatedOrder(order, edited, outcome)


def describe(order: Order, outcome: EditOutcome) -> str:
    """The timeline's words: "Added 1 × Wool socks (M); removed 2 × Cap; shipping DHL 9.95 EUR"."""
    parts = [f"added {a.delta} × {a.title}" for a in outcome.additions]
    parts += [f"removed {r.delta} × {r.title}" for r in outcome.removals]
    parts += [
        f"discount {d['amount']} {order.presentment_currency} on {_title_of(order, d)}" for d in outcome.discounts_added
    ]
    parts += [f"shipping {s['title']} {s['price']} {order.presentment_currency}" for s in outcome.shipping_added]
    parts += [
        f"shipping {s['title']} removed"
        for s in outcome.shipping_removed
        if s["title"] not in {a["title"] for a in outcome.shipping_added}
    ]
    text = "; ".join(parts)
    return text[:1].upper() + text[1:]


def _title_of(order: Order, discount: dict[str, str]) -> str:
    line = order.line_item(int(discount["line_item_id"]))
    return line.name if line else "a line"


def commit(
    order: Order,
    edit: OrderEdit,
    *,
    inventory: Inventory,
    locations: list[int],
    now: datetime,
    author: Author,
    notify_customer: bool,
    staff_note: str | None,
) -> EditOutcome:
    """Apply the edit to the order for good, and say so on its timeline and to the world."""
    require_open(edit, now)
    require_unchanged(order, edit)
    if staff_note is not None and len(staff_note) > MAX_NOTE:
        raise InvalidInput(f"must be at most {MAX_NOTE} characters", field="staff_note")
    outcome = apply(order, edit, inventory=inventory, locations=locations, now=now, author=author)
    # Checked here, not in `apply`: staged changes that cancel out (a quantity set back to what
    # the line has) are a state the preview must show, not a refusal of the last stage.
    if not (
        outcome.additions
        or outcome.removals
        or outcome.discounts_added
        or outcome.shipping_added
        or outcome.shipping_removed
    ):
        raise RuleViolation("This edit changes nothing yet: stage a change before committing", field="order_edit")
    if not any(order.current_quantity(li) > 0 for li in order.line_items):
        # Shopify keeps at least one item on an order; taking everything off is cancelling it,
        # which has its own rules (refund, restock, the customer told). Checked at the commit:
        # a switch stages the removal before the item that replaces it.
        raise RuleViolation("An edit can't take every item off the order: cancel the order instead", field="quantity")
    edit.status = "committed"
    edit.committed_at = now
    edit.updated_at = now
    edit.notify_customer = notify_customer
    edit.staff_note = staff_note or None
    edit.outcome = outcome
    money = ""
    if outcome.balance_after > 0:
        money = f" {_shown(order, outcome.balance_after)} {order.presentment_currency} is left to collect."
    elif outcome.balance_after < 0:
        money = f" {_shown(order, -outcome.balance_after)} {order.presentment_currency} can be refunded."
    order.record(
        DomainEvent(
            verb="order_edited",
            author=author,
            topics=("orders/edited", "orders/updated"),
            subject_id=edit.id,
            message=f"{describe(order, outcome)}.{money}" + (f" Note: {staff_note}" if staff_note else ""),
            arguments={"edit_id": edit.id, "staff_note": staff_note or "", "notify_customer": notify_customer},
            notify="order_edited" if notify_customer else None,
        )
    )
    return outcome


def abandon(edit: OrderEdit, *, now: datetime) -> None:
    if edit.status != "open":
        raise RuleViolation(f"This edit was already {edit.status}", field="order_edit")
    edit.status = "abandoned"
    edit.updated_at = now
