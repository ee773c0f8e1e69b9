"""Placing an order: turning what a storefront, POS or staff member sent into an `Order`.

The service has already looked up variants and read their stock; this module checks the
order's own rules, routes its lines and reserves stock (`reserve_stock`, before the order has
a number, so the service can write the stock and take the number last), then prices and
discounts the order and gives it fulfillment orders (`build_order`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .contact import check_email, check_phone
from .errors import InvalidInput
from .inventory import Inventory
from .money import ZERO, allocate, round_money
from .order import (
    Address,
    Author,
    CustomerSnapshot,
    DiscountAllocation,
    DiscountApplication,
    DiscountCode,
    DomainEvent,
    FulfillmentOrder,
    FulfillmentOrderLine,
    LineItem,
    NoteAttribute,
    Order,
    ShippingLine,
    TaxLine,
)
from .routing import RoutedLine, route

INVENTORY_BEHAVIOURS = ("bypass", "decrement_ignoring_policy", "decrement_obeying_policy")


@dataclass
class DraftLine:
    title: str
    price: Decimal
    quantity: int
    variant_id: int | None = None
    product_id: int | None = None
    inventory_item_id: int | None = None
    sku: str | None = None
    variant_title: str | None = None
    vendor: str | None = None
    grams: int = 0
    taxable: bool = True
    requires_shipping: bool = True
    gift_card: bool = False
    properties: list[NoteAttribute] = field(default_factory=list)
    tax_lines: list[TaxLine] = field(default_factory=list)
    discount_allocations: list[DiscountAllocation] = field(default_factory=list)


@dataclass
class DraftShippingLine:
    title: str
    price: Decimal
    code: str | None = None
    source: str = "orderdeck"
    tax_lines: list[TaxLine] = field(default_factory=list)


@dataclass
class OrderDraft:
    lines: list[DraftLine]
    currency: str
    presentment_currency: str
    exchange_rate: Decimal | None = None  # presentment per shop unit; required when they differ
    shipping_lines: list[DraftShippingLine] = field(default_factory=list)
    discount_codes: list[DiscountCode] = field(default_factory=list)
    discount_applications: list[DiscountApplication] = field(default_factory=list)
    tax_lines: list[TaxLine] = field(default_factory=list)
    taxes_included: bool = False
    email: str | None = None
    phone: str | None = None
    customer: CustomerSnapshot | None = None
    customer_locale: str | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    note: str | None = None
    note_attributes: list[NoteAttribute] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    source_name: str = "web"
    test: bool = False
    buyer_accepts_marketing: bool = False
    inventory_behaviour: str = "decrement_obeying_policy"
    location_id: int | None = None
    processed_at: datetime | None = None


def normalise_tags(raw: str | list[str] | None) -> list[str]:
    """Shopify sends tags as one comma-separated string; keep them unique, trimmed, in order."""
    if raw is None:
        return []
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    seen: dict[str, str] = {}
    for part in parts:
        tag = str(part).strip()
        if not tag:
            continue
        if len(tag) > 255:
            raise InvalidInput("a tag may be at most 255 characters long", field="tags")
        seen.setdefault(tag.lower(), tag)
    if len(seen) > 250:
        raise InvalidInput("an order may carry at most 250 tags", field="tags")
    return list(seen.values())


def _check_draft(draft: OrderDraft) -> None:
    if not draft.lines:
        raise InvalidInput("must have at least one line item", field="line_items")
    for index, line in enumerate(draft.lines):
        where = f"line_items[{index}]"
        if line.quantity <= 0:
            raise InvalidInput(f"{where}.quantity must be greater than 0", field="line_items")
        if line.price < 0:
            raise InvalidInput(f"{where}.price must not be negative", field="line_items")
        if not line.title.strip():
            raise InvalidInput(f"{where} needs a title or a variant_id", field="line_items")
    if draft.tax_lines and any(line.tax_lines for line in draft.lines):
        raise InvalidInput("send tax lines either on the order or on its line items, not both", field="tax_lines")
    if draft.inventory_behaviour not in INVENTORY_BEHAVIOURS:
        raise InvalidInput(f"must be one of {', '.join(INVENTORY_BEHAVIOURS)}", field="inventory_behaviour")
    if draft.exchange_rate is not None and draft.exchange_rate <= 0:
        raise InvalidInput("must be greater than 0", field="exchange_rate")
    check_email(draft.email)
    check_phone(draft.phone)


def _apply_discount_codes(
    draft: OrderDraft, lines: list[LineItem], shipping: list[ShippingLine]
) -> list[DiscountApplication]:
    """Turn discount codes into applications and spread them over lines (or shipping).

    Lines that arrive with their own discount_allocations keep them: the storefront already
    did the sums and we record them as given.
    """
    if any(li.discount_allocations for li in lines) or draft.discount_applications:
        return list(draft.discount_applications)
    applications: list[DiscountApplication] = []
    for code in draft.discount_codes:
        index = len(applications)
        if code.type == "shipping":
            targets_total = sum((s.price for s in shipping), ZERO)
            amount = min(code.amount, targets_total)
            parts = allocate(amount, [s.price for s in shipping], draft.currency)
            for s, part in zip(shipping, parts, strict=True):
                if part:
                    s.discount_allocations.append(DiscountAllocation(part, index))
            applications.append(
                DiscountApplication(
                    type="discount_code",
                    code=code.code,
                    value=code.amount,
                    value_type="fixed_amount",
                    allocation_method="each",
                    target_selection="all",
                    target_type="shipping_line",
                )
            )
            continue
        base = [li.price * li.quantity - li.total_discount for li in lines]
        subtotal = sum(base, ZERO)
        if code.type == "percentage":
            if code.amount > 100:
                raise InvalidInput("a percentage discount cannot exceed 100", field="discount_codes")
            amount = round_money(subtotal * code.amount / 100, draft.currency)
        else:
            amount = min(code.amount, subtotal)
        for li, part in zip(lines, allocate(amount, base, draft.currency), strict=True):
            if part:
                li.discount_allocations.append(DiscountAllocation(part, index))
        applications.append(
            DiscountApplication(
                type="discount_code",
                code=code.code,
                value=code.amount,
                value_type="percentage" if code.type == "percentage" else "fixed_amount",
                allocation_method="across",
                target_selection="all",
                target_type="line_item",
            )
        )
    return applications


def _route_and_commit(
    lines: list[tuple[int | None, int]],
    *,
    behaviour: str,
    locations: list[int],
    inventory: Inventory,
    preferred_location: int | None,
) -> dict[int, int]:
    """Route lines (inventory item, quantity) to locations (domain/routing.py) and commit their
    stock there; each line's location by its position."""
    obey = behaviour == "decrement_obeying_policy"
    plan = route(
        [RoutedLine(i, item, quantity) for i, (item, quantity) in enumerate(lines)],
        locations,
        inventory,
        obey_policy=obey,
        preferred_location=preferred_location,
    )
    for index, (item, quantity) in enumerate(lines):
        if item is not None:
            inventory.commit(item, plan[index], quantity, obey_policy=obey)
    return plan


def reserve_stock(draft: OrderDraft, *, locations: list[int], inventory: Inventory) -> dict[int, int]:
    """Check the draft, route its lines and commit their stock: each draft line's location by
    its position, for `build_order`. Refuses (InsufficientInventory) what stock cannot cover."""
    _check_draft(draft)
    track = draft.inventory_behaviour != "bypass"
    return _route_and_commit(
        [(line.inventory_item_id if track else None, line.quantity) for line in draft.lines],
        behaviour=draft.inventory_behaviour,
        locations=locations,
        inventory=inventory,
        preferred_location=draft.location_id,
    )


def assign_to_locations(
    order: Order,
    lines: list[LineItem],
    *,
    locations: list[int],
    inventory: Inventory,
    now: datetime,
    preferred_location: int | None = None,
    plan: dict[int, int] | None = None,
) -> list[FulfillmentOrder]:
    """Route new lines of the order to locations (domain/routing.py), commit their stock there
    and give each location an open fulfillment order for them: what placing an order does, and
    what adding exchange items to it does. With `plan` (from `reserve_stock`) the lines were
    routed and their stock committed already."""
    if plan is None:
        plan = _route_and_commit(
            [(li.inventory_item_id, li.quantity) for li in lines],
            behaviour=order.inventory_behaviour,
            locations=locations,
            inventory=inventory,
            preferred_location=preferred_location,
        )
    by_location: dict[int, list[LineItem]] = {}
    for index, li in enumerate(lines):
        by_location.setdefault(plan[index], []).append(li)
    created = []
    for location_id, located in by_location.items():
        fo = FulfillmentOrder(
            id=order.child_id(),
            assigned_location_id=location_id,
            status="open",
            created_at=now,
            updated_at=now,
            fulfill_at=now,
            line_items=[
                FulfillmentOrderLine(
                    id=order.child_id(),
                    line_item_id=li.id,
                    quantity=li.quantity,
                    fulfillable_quantity=li.quantity,
                    inventory_item_id=li.inventory_item_id,
                    variant_id=li.variant_id,
                )
                for li in located
            ],
        )
        order.fulfillment_orders.append(fo)
        created.append(fo)
    return created


def build_order(
    draft: OrderDraft,
    *,
    order_id: int,
    number: int,
    name: str,
    token: str,
    now: datetime,
    locations: list[int],
    inventory: Inventory,
    author: Author,
    plan: dict[int, int] | None = None,
) -> Order:
    """Create the order, its fulfillment orders and its stock reservations; with `plan` (from
    `reserve_stock`, which checked the draft) the stock was reserved already."""
    if plan is None:
        _check_draft(draft)
    order = Order(
        id=order_id,
        number=number,
        name=name,
        created_at=now,
        updated_at=now,
        processed_at=draft.processed_at or now,
        currency=draft.currency,
        presentment_currency=draft.presentment_currency,
        exchange_rate=draft.exchange_rate or Decimal(1),
        line_items=[],
        source_name=draft.source_name,
        email=draft.email,
        phone=draft.phone,
        customer=draft.customer,
        customer_locale=draft.customer_locale,
        billing_address=draft.billing_address,
        shipping_address=draft.shipping_address,
        tax_lines=list(draft.tax_lines),
        taxes_included=draft.taxes_included,
        discount_codes=list(draft.discount_codes),
        note=draft.note,
        note_attributes=list(draft.note_attributes),
        tags=normalise_tags(draft.tags),
        test=draft.test,
        buyer_accepts_marketing=draft.buyer_accepts_marketing,
        token=token,
        inventory_behaviour=draft.inventory_behaviour,
        location_id=draft.location_id,
    )
    track = draft.inventory_behaviour != "bypass"
    for line in draft.lines:
        order.line_items.append(
            LineItem(
                id=order.child_id(),
                title=line.title,
                quantity=line.quantity,
                price=round_money(line.price, draft.currency),
                sku=line.sku,
                variant_id=line.variant_id,
                product_id=line.product_id,
                variant_title=line.variant_title,
                vendor=line.vendor,
                grams=line.grams,
                taxable=line.taxable,
                requires_shipping=line.requires_shipping,
                gift_card=line.gift_card,
                inventory_item_id=line.inventory_item_id if track else None,
                properties=list(line.properties),
                tax_lines=list(line.tax_lines),
                discount_allocations=list(line.discount_allocations),
            )
        )
    order.shipping_lines = [
        ShippingLine(
            id=order.child_id(), title=s.title, price=s.price, code=s.code, source=s.source, tax_lines=list(s.tax_lines)
        )
        for s in draft.shipping_lines
    ]
    order.discount_applications = _apply_discount_codes(draft, order.line_items, order.shipping_lines)
    for li in order.line_items:
        if li.total_discount > li.price * li.quantity:
            raise InvalidInput(f"the discount on {li.title} exceeds its price", field="line_items")

    by_location = {
        fo.assigned_location_id: fo
        for fo in assign_to_locations(
            order,
            order.line_items,
            locations=locations,
            inventory=inventory,
            now=now,
            preferred_location=draft.location_id,
            plan=plan,
        )
    }
    who = order.customer.name if order.customer and order.customer.name else (order.email or "a customer")
    order.record(
        DomainEvent(
            verb="placed",
            author=author,
            topics=("orders/create",),
            message=f"Order {order.name} was placed by {who} through {order.source_name}.",
            arguments={"locations": sorted(by_location)},
        )
    )
    if len(by_location) > 1:
        order.record(
            DomainEvent(
                verb="fulfillment_orders_split",
                author=author,
                message=f"The order ships from {len(by_location)} locations.",
                arguments={"locations": sorted(by_location)},
            )
        )
    return order
