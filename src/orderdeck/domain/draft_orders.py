"""Draft orders (Shopify's DraftOrder, REST 2024-10): an order staff prepare before the customer
pays. Pure rules: the draft's facts, checking what is asked, discounts and totals, and turning a
draft into the `OrderDraft` that placing an order takes (services/draft_orders.py places it)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

import msgspec

from .errors import InvalidInput, RuleViolation
from .money import ZERO, allocate, round_money
from .order import Address, DiscountAllocation, DiscountApplication, NoteAttribute, TaxLine
from .placement import DraftLine, DraftShippingLine, OrderDraft

STATUSES = ("open", "invoice_sent", "completed")
VALUE_TYPES = ("fixed_amount", "percentage")
SOURCE_NAME = "shopify_draft_order"  # the placed order's source_name, as Shopify's
MAX_LINES = 250


class AppliedDiscount(msgspec.Struct):
    """A manual discount on one line or on the whole draft. For a line, a fixed amount is taken
    off each unit (Shopify's); for the draft, off the subtotal once."""

    value: Decimal
    value_type: str  # fixed_amount | percentage
    title: str | None = None
    description: str | None = None


class DraftLineItem(msgspec.Struct):
    id: int
    title: str
    price: Decimal
    quantity: int
    variant_id: int | None = None
    product_id: int | None = None
    variant_title: str | None = None
    sku: str | None = None
    vendor: str | None = None
    grams: int = 0
    taxable: bool = True
    requires_shipping: bool = True
    inventory_tracked: bool = False
    properties: list[NoteAttribute] = []
    applied_discount: AppliedDiscount | None = None

    @property
    def custom(self) -> bool:
        return self.variant_id is None


class DraftShipping(msgspec.Struct):
    title: str
    price: Decimal
    handle: str | None = None

    @property
    def custom(self) -> bool:
        return self.handle is None


class DraftCustomer(msgspec.Struct):
    id: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class DraftOrder(msgspec.Struct):
    id: int
    currency: str
    created_at: datetime
    updated_at: datetime
    token: str  # the invoice page's secret part of the address
    status: str = "open"
    line_items: list[DraftLineItem] = []
    email: str | None = None
    customer: DraftCustomer | None = None
    customer_locale: str | None = None  # the invoice e-mail's language, and the order's
    billing_address: Address | None = None
    shipping_address: Address | None = None
    note: str | None = None
    note_attributes: list[NoteAttribute] = []
    tags: list[str] = []
    tax_exempt: bool = False
    taxes_included: bool = False
    tax_lines: list[TaxLine] = []
    applied_discount: AppliedDiscount | None = None
    shipping_line: DraftShipping | None = None
    invoice_sent_at: datetime | None = None
    order_id: int | None = None
    completed_at: datetime | None = None
    source_name: str = "orderdeck_admin"  # who made the draft: the admin, or the API token's app

    @property
    def name(self) -> str:
        return f"#D{self.id}"


# ---- discounts and totals ----------------------------------------------------------------------
def check_discount(raw: AppliedDiscount, where: str, currency: str) -> AppliedDiscount:
    if raw.value_type not in VALUE_TYPES:
        raise InvalidInput(f"{where}.value_type must be fixed_amount or percentage", field=where)
    if raw.value < 0:
        raise InvalidInput(f"{where}.value can't be negative", field=where)
    if raw.value_type == "percentage" and raw.value > 100:
        raise InvalidInput(f"{where}.value: a percentage can't exceed 100", field=where)
    value = raw.value if raw.value_type == "percentage" else round_money(raw.value, currency)
    return AppliedDiscount(value=value, value_type=raw.value_type, title=raw.title, description=raw.description)


def line_discount(line: DraftLineItem, currency: str) -> Decimal:
    """What a line's own discount takes off the line, never more than the line is worth."""
    d = line.applied_discount
    worth = line.price * line.quantity
    if d is None:
        return ZERO
    amount = round_money(worth * d.value / 100, currency) if d.value_type == "percentage" else d.value * line.quantity
    return min(amount, worth)


def line_items_subtotal(draft: DraftOrder) -> Decimal:
    return sum((li.price * li.quantity - line_discount(li, draft.currency) for li in draft.line_items), ZERO)


def order_discount(draft: DraftOrder) -> Decimal:
    d = draft.applied_discount
    base = line_items_subtotal(draft)
    if d is None:
        return ZERO
    if d.value_type == "percentage":
        return round_money(base * d.value / 100, draft.currency)
    return min(d.value, base)


class Totals(msgspec.Struct):
    total_line_items_price: Decimal
    total_discounts: Decimal
    subtotal_price: Decimal
    shipping_price: Decimal
    total_tax: Decimal
    total_price: Decimal


def totals(draft: DraftOrder) -> Totals:
    line_total = sum((li.price * li.quantity for li in draft.line_items), ZERO)
    line_discounts = sum((line_discount(li, draft.currency) for li in draft.line_items), ZERO)
    whole = order_discount(draft)
    subtotal = line_total - line_discounts - whole
    shipping = draft.shipping_line.price if draft.shipping_line else ZERO
    tax = ZERO if draft.tax_exempt else sum((t.price for t in draft.tax_lines), ZERO)
    total = subtotal + shipping + (ZERO if draft.taxes_included else tax)
    return Totals(line_total, line_discounts + whole, subtotal, shipping, tax, total)


# ---- checking a draft ----------------------------------------------------------------------------
def parse_amount(raw: object, field: str, currency: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{field} must be an amount like 12.50", field=field) from None
    if not value.is_finite() or value < 0 or value > Decimal("1e12"):
        raise InvalidInput(f"{field} must be an amount from 0 up", field=field)
    return round_money(value, currency)


def check(draft: DraftOrder) -> None:
    """What a draft must be before it is saved. Drafts may be saved without lines (Shopify's
    too: staff fill them in later); completing one needs at least one."""
    if len(draft.line_items) > MAX_LINES:
        raise InvalidInput(f"a draft order may have at most {MAX_LINES} line items", field="line_items")
    for index, line in enumerate(draft.line_items):
        where = f"line_items[{index}]"
        if line.quantity <= 0 or line.quantity > 1_000_000:
            raise InvalidInput(f"{where}.quantity must be from 1 to 1,000,000", field="line_items")
        if line.price < 0:
            raise InvalidInput(f"{where}.price can't be negative", field="line_items")
        if not line.title.strip():
            raise InvalidInput(f"{where}.title can't be blank (a custom item needs a title)", field="line_items")
    if draft.shipping_line is not None and not draft.shipping_line.title.strip():
        raise InvalidInput("shipping_line.title can't be blank", field="shipping_line")
    t = totals(draft)
    if t.subtotal_price < 0:
        raise InvalidInput("the discount exceeds the line items' worth", field="applied_discount")


def editable(draft: DraftOrder) -> None:
    if draft.status == "completed":
        raise RuleViolation(
            f"draft order {draft.name} is completed (order {draft.order_id}); it can't be changed",
            field="status",
        )


def completable(draft: DraftOrder) -> None:
    editable(draft)
    if not draft.line_items:
        raise InvalidInput("add at least one line item before completing the draft", field="line_items")


def deletable(draft: DraftOrder) -> None:
    """Shopify refuses to delete a completed draft: it is the order's record of where it came from."""
    if draft.status == "completed":
        raise RuleViolation(
            f"draft order {draft.name} is completed; a completed draft can't be deleted", field="status"
        )


# ---- from draft to order -------------------------------------------------------------------------
def order_draft(draft: DraftOrder, location_id: int | None = None) -> OrderDraft:
    """The `OrderDraft` placing the order takes: lines with their discounts as manual discount
    applications (one per discounted line, one for the draft's own discount spread over the
    lines by what each is worth), the shipping line, the tax lines."""
    applications: list[DiscountApplication] = []
    lines: list[DraftLine] = []
    for li in draft.line_items:
        allocations: list[DiscountAllocation] = []
        off = line_discount(li, draft.currency)
        if li.applied_discount is not None and off > 0:
            d = li.applied_discount
            allocations.append(DiscountAllocation(off, len(applications)))
            applications.append(
                DiscountApplication(
                    type="manual",
                    value=d.value,
                    value_type=d.value_type,
                    allocation_method="each" if d.value_type == "fixed_amount" else "across",
                    target_selection="explicit",
                    target_type="line_item",
                    title=d.title or d.description or "Custom discount",
                    description=d.description,
                )
            )
        lines.append(
            DraftLine(
                title=li.title,
                price=li.price,
                quantity=li.quantity,
                variant_id=li.variant_id,
                product_id=li.product_id,
                sku=li.sku,
                variant_title=li.variant_title,
                vendor=li.vendor,
                grams=li.grams,
                taxable=li.taxable,
                requires_shipping=li.requires_shipping,
                properties=list(li.properties),
                discount_allocations=allocations,
            )
        )
    whole = order_discount(draft)
    if draft.applied_discount is not None and whole > 0:
        d = draft.applied_discount
        index = len(applications)
        applications.append(
            DiscountApplication(
                type="manual",
                value=d.value,
                value_type=d.value_type,
                allocation_method="across",
                target_selection="all",
                target_type="line_item",
                title=d.title or d.description or "Custom discount",
                description=d.description,
            )
        )
        weights = [li.price * li.quantity - line_discount(li, draft.currency) for li in draft.line_items]
        for line, part in zip(lines, allocate(whole, weights, draft.currency), strict=True):
            if part > 0:
                line.discount_allocations.append(DiscountAllocation(part, index))
    shipping = (
        [
            DraftShippingLine(
                title=draft.shipping_line.title, price=draft.shipping_line.price, code=draft.shipping_line.handle
            )
        ]
        if draft.shipping_line
        else []
    )
    return OrderDraft(
        lines=lines,
        currency=draft.currency,
        presentment_currency=draft.currency,
        shipping_lines=shipping,
        discount_applications=applications,
        tax_lines=[] if draft.tax_exempt else list(draft.tax_lines),
        taxes_included=draft.taxes_included,
        email=draft.email,
        customer_locale=draft.customer_locale,
        billing_address=draft.billing_address,
        shipping_address=draft.shipping_address,
        note=draft.note,
        note_attributes=list(draft.note_attributes),
        tags=list(draft.tags),
        source_name=SOURCE_NAME,
        location_id=location_id,
    )
