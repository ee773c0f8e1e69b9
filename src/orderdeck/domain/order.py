"""The order aggregate: everything recorded about one order, as plain data.

An `Order` holds facts only (what was ordered, which payments happened, what was assigned to
which location, what shipped, what was refunded, when it was cancelled or archived). Every status
is derived from these facts in `statuses.py`; commands in the neighbouring modules change facts
and append `DomainEvent`s, which the store turns into timeline entries and outbox messages.

Ids of records inside an order carry the order's id in their high bits (`child_id`), so a
fulfillment order or a fulfillment can be found from its id alone without an index table, and
new records need no shared sequence that every order creation would contend on.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from .money import ZERO, round_money

CHILD_ID_BITS = 20


def order_id_of(child_id: int) -> int:
    """The id of the order a line item, fulfillment order, fulfillment, … belongs to."""
    return child_id >> CHILD_ID_BITS


def sequence_of(child_id: int) -> int:
    """Where a record inside an order comes in the order's history (later records are higher)."""
    return child_id & ((1 << CHILD_ID_BITS) - 1)


class Author(msgspec.Struct, frozen=True):
    """Who did something: a staff member, an API token, the customer, or the system."""

    kind: str  # "staff" | "api" | "customer" | "system"
    name: str
    ref: str | None = None  # token id or staff id, so people can edit their own comments

    @property
    def label(self) -> str:
        return self.name


SYSTEM = Author(kind="system", name="Orderdeck")


class Address(msgspec.Struct):
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province: str | None = None
    province_code: str | None = None
    country: str | None = None
    country_code: str | None = None
    zip: str | None = None
    phone: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class CustomerSnapshot(msgspec.Struct):
    id: int
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class TaxLine(msgspec.Struct):
    title: str
    price: Decimal
    rate: Decimal
    # Order edits resize a line's money from a basis (price, for so many units) taken the first
    # time, never from an amount already rounded, so resizing back and forth drifts no cent.
    basis: tuple[Decimal, int] | None = None


class DiscountAllocation(msgspec.Struct):
    amount: Decimal
    discount_application_index: int
    basis: tuple[Decimal, int] | None = None  # as TaxLine.basis


class DiscountApplication(msgspec.Struct):
    type: str  # discount_code | manual | script | automatic
    value: Decimal
    value_type: str  # fixed_amount | percentage
    allocation_method: str  # across | each
    target_selection: str  # all | entitled | explicit
    target_type: str  # line_item | shipping_line
    code: str | None = None
    title: str | None = None
    description: str | None = None


class DiscountCode(msgspec.Struct):
    code: str
    amount: Decimal
    type: str  # fixed_amount | percentage | shipping


class NoteAttribute(msgspec.Struct):
    name: str
    value: str


class LineItem(msgspec.Struct):
    id: int
    title: str
    quantity: int
    price: Decimal
    sku: str | None = None
    variant_id: int | None = None
    product_id: int | None = None
    variant_title: str | None = None
    vendor: str | None = None
    grams: int = 0
    taxable: bool = True
    requires_shipping: bool = True
    gift_card: bool = False
    # The inventory item whose stock this line reserves; None for custom items and for orders
    # placed with inventory_behaviour "bypass".
    inventory_item_id: int | None = None
    properties: list[NoteAttribute] = msgspec.field(default_factory=list)
    tax_lines: list[TaxLine] = msgspec.field(default_factory=list)
    discount_allocations: list[DiscountAllocation] = msgspec.field(default_factory=list)
    # Units taken off the order before they shipped (order cancelled, or refunded with
    # restock_type "cancel"). They are neither fulfillable nor fulfilled any more.
    removed_quantity: int = 0
    # What was ordered before an order edit first changed the line (REST's `quantity`); None
    # while no edit has. `quantity` and the line's money always describe the units on the order
    # now, so a line an edit removed has quantity 0 and stays for its history.
    original_quantity: int | None = None

    @property
    def name(self) -> str:
        return f"{self.title} - {self.variant_title}" if self.variant_title else self.title

    @property
    def ordered_quantity(self) -> int:
        """REST's `quantity`: as ordered, whatever edits did since."""
        return self.quantity if self.original_quantity is None else self.original_quantity

    @property
    def total_discount(self) -> Decimal:
        return sum((a.amount for a in self.discount_allocations), ZERO)

    @property
    def total_tax(self) -> Decimal:
        return sum((t.price for t in self.tax_lines), ZERO)


class ShippingLine(msgspec.Struct):
    id: int
    title: str
    price: Decimal
    code: str | None = None
    source: str = "orderdeck"
    carrier_identifier: str | None = None
    tax_lines: list[TaxLine] = msgspec.field(default_factory=list)
    discount_allocations: list[DiscountAllocation] = msgspec.field(default_factory=list)

    @property
    def discounted_price(self) -> Decimal:
        return self.price - sum((a.amount for a in self.discount_allocations), ZERO)


class Transaction(msgspec.Struct):
    id: int
    kind: str  # authorization | capture | sale | void | refund
    status: str  # pending | success | failure | error
    amount: Decimal  # in the order's presentment currency
    currency: str
    gateway: str
    created_at: datetime
    processed_at: datetime
    parent_id: int | None = None
    authorization: str | None = None
    error_code: str | None = None
    message: str | None = None
    test: bool = False
    source_name: str | None = None
    manual_payment_gateway: bool = False
    credit_card_number: str | None = None  # masked, e.g. "•••• •••• •••• 4242"
    credit_card_company: str | None = None
    receipt: dict[str, Any] = msgspec.field(default_factory=dict)
    authorization_expires_at: datetime | None = None
    # Set by the authorization-expiry sweep: the fact that the provider's deadline passed
    # uncaptured. Payment status "expired" follows from it.
    expired_at: datetime | None = None
    # Set when staff were warned that this authorization expires soon (once per authorization).
    expiry_warned_at: datetime | None = None
    author: Author | None = None


class Hold(msgspec.Struct):
    id: int
    reason: str
    reason_notes: str | None
    held_at: datetime
    author: Author | None = None


class MerchantRequest(msgspec.Struct):
    """A request the merchant sent a fulfillment service (Shopify's FulfillmentOrderMerchantRequest)."""

    id: int
    kind: str  # fulfillment_request | cancellation_request
    message: str | None
    sent_at: datetime
    request_options: dict[str, Any] = msgspec.field(default_factory=dict)


class FulfillmentOrderLine(msgspec.Struct):
    id: int
    line_item_id: int
    quantity: int  # units assigned to this fulfillment order
    fulfillable_quantity: int  # of those, still to ship
    inventory_item_id: int | None = None
    variant_id: int | None = None


class FulfillmentOrder(msgspec.Struct):
    id: int
    assigned_location_id: int
    status: str  # open | in_progress | scheduled | on_hold | incomplete | closed | cancelled
    created_at: datetime
    updated_at: datetime
    line_items: list[FulfillmentOrderLine]
    request_status: str = "unsubmitted"
    fulfill_at: datetime | None = None
    fulfill_by: datetime | None = None
    fulfillment_holds: list[Hold] = msgspec.field(default_factory=list)
    # What the order returns to when its last hold is released: open, in_progress or scheduled.
    status_before_hold: str | None = None
    merchant_requests: list[MerchantRequest] = msgspec.field(default_factory=list)
    # What Orderdeck may request from the location's service by itself (domain/auto_requests.py):
    # "by_rule" (the shop's or the service's setting decides), "never" (the merchant or the
    # service took a request back: it is requested again by hand) or "at_once" (it carries the
    # quantities of a request an order edit changed, and is sent whatever the setting).
    automatic_request: str = "by_rule"
    # When request_status last changed: stuck requests are measured from it (domain/stuck.py).
    # None on documents stored before it existed; stuck.request_since falls back for those.
    request_status_at: datetime | None = None

    @property
    def remaining(self) -> int:
        return sum(line.fulfillable_quantity for line in self.line_items)

    @property
    def is_active(self) -> bool:
        return self.status not in ("closed", "cancelled", "incomplete")

    def line_for(self, line_item_id: int) -> FulfillmentOrderLine | None:
        return next((li for li in self.line_items if li.line_item_id == line_item_id), None)


class FulfillmentLine(msgspec.Struct):
    line_item_id: int
    fulfillment_order_id: int
    fulfillment_order_line_id: int
    quantity: int
    # Shopify's FulfillmentLineItem id: what a return names. Lines stored before returns existed
    # get theirs from migration 0018.
    id: int = 0


class FulfillmentEvent(msgspec.Struct):
    id: int
    status: str
    happened_at: datetime
    created_at: datetime
    message: str | None = None
    city: str | None = None
    province: str | None = None
    country: str | None = None
    zip: str | None = None
    address1: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    estimated_delivery_at: datetime | None = None


class Fulfillment(msgspec.Struct):
    id: int
    name: str
    location_id: int
    status: str  # success | cancelled
    created_at: datetime
    updated_at: datetime
    line_items: list[FulfillmentLine]
    tracking_company: str | None = None
    tracking_numbers: list[str] = msgspec.field(default_factory=list)
    tracking_urls: list[str] = msgspec.field(default_factory=list)
    shipment_status: str | None = None
    service: str = "manual"
    events: list[FulfillmentEvent] = msgspec.field(default_factory=list)
    origin_address: Address | None = None
    # A shipping label bought for this fulfillment; it must be voided (by cancelling the
    # fulfillment) before the order may be deleted (S9.3).
    label_voided: bool = False

    @property
    def is_active(self) -> bool:
        return self.status == "success"

    @property
    def has_unvoided_label(self) -> bool:
        return (
            self.is_active
            and not self.label_voided
            and any(e.status in ("label_purchased", "label_printed") for e in self.events)
        )


class RefundLineItem(msgspec.Struct):
    id: int
    line_item_id: int
    quantity: int
    restock_type: str  # no_restock | cancel | return
    location_id: int | None
    subtotal: Decimal
    total_tax: Decimal


class OrderAdjustment(msgspec.Struct):
    id: int
    kind: str  # shipping_refund | refund_discrepancy
    amount: Decimal  # shop currency; money refunded (shipping), or refunded beyond the calculation
    tax_amount: Decimal
    reason: str | None = None
    # A refund_discrepancy as it was measured, in the order's presentment currency (so the
    # outstanding balance does not drift by a rounding cent on multi-currency orders).
    presentment_amount: Decimal | None = None


class Refund(msgspec.Struct):
    id: int
    created_at: datetime
    refund_line_items: list[RefundLineItem]
    transaction_ids: list[int]
    order_adjustments: list[OrderAdjustment] = msgspec.field(default_factory=list)
    note: str | None = None
    discrepancy_reason: str | None = None
    author: Author | None = None
    return_id: int | None = None  # the return this refund settles (REST: the refund's "return")


# ---- returns (domain/returns.py holds the rules) ------------------------------------------
class RestockingFee(msgspec.Struct):
    percentage: Decimal  # of the returned units' worth (after discounts, with tax)


class ReturnLineItem(msgspec.Struct):
    id: int
    fulfillment_line_item_id: int
    fulfillment_id: int
    line_item_id: int
    quantity: int  # units asked back (less `removed_quantity` once lines are taken off)
    return_reason: str
    return_reason_note: str = ""
    customer_note: str | None = None
    restocking_fee: RestockingFee | None = None
    removed_quantity: int = 0  # taken off the return before anything happened to them
    refunded_quantity: int = 0  # refunded through this return (money may be 0 for an exchange)

    @property
    def current_quantity(self) -> int:
        return self.quantity - self.removed_quantity


class ExchangeLineItem(msgspec.Struct):
    id: int
    variant_id: int
    quantity: int
    # The order line the exchange became once the return was open (None while requested).
    line_item_id: int | None = None
    discount_value: Decimal | None = None
    discount_value_type: str | None = None  # fixed_amount (per unit, presentment) | percentage
    discount_description: str | None = None
    removed_quantity: int = 0


class ReturnShippingFee(msgspec.Struct):
    id: int
    amount: Decimal  # shop currency
    presentment_amount: Decimal


class ReturnDecline(msgspec.Struct):
    reason: str  # return_period_ended | final_sale | other
    note: str | None = None


class Disposition(msgspec.Struct):
    id: int
    type: str  # restocked | not_restocked | processing_required | missing
    quantity: int
    location_id: int | None
    created_at: datetime
    reverse_delivery_line_item_id: int | None = None
    author: Author | None = None


class ReverseFulfillmentOrderLine(msgspec.Struct):
    id: int
    return_line_item_id: int
    fulfillment_line_item_id: int
    line_item_id: int
    total_quantity: int
    dispositions: list[Disposition] = msgspec.field(default_factory=list)

    @property
    def disposed_quantity(self) -> int:
        return sum(d.quantity for d in self.dispositions)


class ReturnLabel(msgspec.Struct):
    file_url: str
    created_at: datetime
    updated_at: datetime


class ReturnTracking(msgspec.Struct):
    number: str | None = None
    url: str | None = None
    carrier_name: str | None = None


class ReverseDeliveryLine(msgspec.Struct):
    id: int
    reverse_fulfillment_order_line_id: int
    quantity: int


class ReverseDelivery(msgspec.Struct):
    id: int
    created_at: datetime
    updated_at: datetime
    line_items: list[ReverseDeliveryLine]
    label: ReturnLabel | None = None
    tracking: ReturnTracking | None = None


class ReverseFulfillmentOrder(msgspec.Struct):
    id: int
    location_id: int  # where the units go back to (the location they shipped from)
    status: str  # open | closed | canceled
    created_at: datetime
    line_items: list[ReverseFulfillmentOrderLine]
    reverse_deliveries: list[ReverseDelivery] = msgspec.field(default_factory=list)


class Return(msgspec.Struct):
    id: int
    name: str  # "#1001-R1"
    status: str  # requested | open | declined | closed | canceled
    created_at: datetime
    updated_at: datetime
    return_line_items: list[ReturnLineItem]
    exchange_line_items: list[ExchangeLineItem] = msgspec.field(default_factory=list)
    return_shipping_fees: list[ReturnShippingFee] = msgspec.field(default_factory=list)
    reverse_fulfillment_orders: list[ReverseFulfillmentOrder] = msgspec.field(default_factory=list)
    refund_ids: list[int] = msgspec.field(default_factory=list)
    decline: ReturnDecline | None = None
    requested_at: datetime | None = None
    request_approved_at: datetime | None = None
    closed_at: datetime | None = None
    author: Author | None = None  # who started it (the customer for a request)

    @property
    def total_quantity(self) -> int:
        return sum(li.current_quantity for li in self.return_line_items)

    @property
    def is_live(self) -> bool:
        """Its units are spoken for: asked back, coming back or back."""
        return self.status in ("requested", "open", "closed")

    @property
    def is_approved(self) -> bool:
        """Approved (or created open by staff): its money and stock count."""
        return self.status in ("open", "closed")

    def line(self, return_line_item_id: int) -> ReturnLineItem | None:
        return next((li for li in self.return_line_items if li.id == return_line_item_id), None)


class Cancellation(msgspec.Struct):
    reason: str
    staff_note: str | None
    notify_customer: bool
    author: Author | None = None


class DomainEvent(msgspec.Struct):
    """Something that happened to an order, for its timeline and for the outbox.

    `verb` uses Shopify's event verbs where one exists (placed, capture_success, cancelled, …);
    `topics` are the webhook topics the change triggers.
    """

    verb: str
    message: str
    author: Author
    topics: tuple[str, ...] = ()
    subject_id: int | None = None  # the transaction, fulfillment, … the event is about
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    notify: str | None = None  # the customer notification this change asks for, if any
    alert_staff: bool = False  # staff are told by e-mail, beside the timeline


class StuckFlag(msgspec.Struct):
    """Why an order is stuck (S8.3), raised once per occurrence and dropped when the cause is
    gone (domain/stuck.py has the rules and the words)."""

    reason: str  # one of stuck.REASONS
    since: datetime  # when the cause began: the request's own time, not when it was noticed
    flagged_at: datetime
    fulfillment_order_id: int | None = None  # None: about the whole order (unfulfilled too long)
    service: str | None = None  # the fulfillment service's name
    service_reason: str | None = None  # the service's reason code (a rejection's inventory_out_of_stock, …)
    detail: str | None = None  # the service's own message, in its words


class CustomStatusMark(msgspec.Struct):
    """The merchant's own stage an order is in (S5): which one, since when, and the notes."""

    handle: str
    set_at: datetime
    due_at: datetime | None = None
    public_note: str | None = None  # the customer sees it on the status page
    private_note: str | None = None  # staff only


class Order(msgspec.Struct):
    id: int
    number: int
    name: str
    created_at: datetime
    updated_at: datetime
    processed_at: datetime
    currency: str
    presentment_currency: str
    exchange_rate: Decimal  # presentment units per shop unit, fixed when the order was placed
    line_items: list[LineItem]
    source_name: str = "web"
    email: str | None = None
    phone: str | None = None
    customer: CustomerSnapshot | None = None
    customer_locale: str | None = None
    custom_status: CustomStatusMark | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    shipping_lines: list[ShippingLine] = msgspec.field(default_factory=list)
    tax_lines: list[TaxLine] = msgspec.field(default_factory=list)
    taxes_included: bool = False
    discount_codes: list[DiscountCode] = msgspec.field(default_factory=list)
    discount_applications: list[DiscountApplication] = msgspec.field(default_factory=list)
    note: str | None = None
    note_attributes: list[NoteAttribute] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)
    test: bool = False
    buyer_accepts_marketing: bool = False
    token: str = ""
    inventory_behaviour: str = "decrement_obeying_policy"
    location_id: int | None = None  # the POS location an in-store sale was made at
    transactions: list[Transaction] = msgspec.field(default_factory=list)
    fulfillment_orders: list[FulfillmentOrder] = msgspec.field(default_factory=list)
    fulfillments: list[Fulfillment] = msgspec.field(default_factory=list)
    refunds: list[Refund] = msgspec.field(default_factory=list)
    returns: list[Return] = msgspec.field(default_factory=list)
    cancelled_at: datetime | None = None
    cancellation: Cancellation | None = None
    closed_at: datetime | None = None
    # Set when staff unarchive the order: the child-record sequence number at that moment. The
    # auto-archive rule leaves the order open until a fulfillment, refund or payment newer than
    # that makes it due again (an unarchive sticks; the hourly sweep does not undo it).
    unarchived_seq: int | None = None
    # Stuck flags still standing (S8.3), and whether Orderdeck put the `stuck` tag on the order
    # (it takes it off when the last flag goes, unless someone changed the tag since).
    stuck: list[StuckFlag] = msgspec.field(default_factory=list)
    stuck_tag_added: bool = False
    next_child_seq: int = 1
    version: int = 0
    # Events raised by the command being run; drained by the store, never persisted.
    events: list[DomainEvent] = msgspec.field(default_factory=list)

    # ---- identity -------------------------------------------------------------------------
    def child_id(self) -> int:
        """A new id for a record inside this order (see the module docstring)."""
        seq = self.next_child_seq
        if seq >= 1 << CHILD_ID_BITS:
            raise OverflowError("an order cannot hold more than a million records")
        self.next_child_seq += 1
        return (self.id << CHILD_ID_BITS) | seq

    def record(self, event: DomainEvent) -> None:
        self.events.append(event)

    # ---- lookups --------------------------------------------------------------------------
    def line_item(self, line_item_id: int) -> LineItem | None:
        return next((li for li in self.line_items if li.id == line_item_id), None)

    def transaction(self, transaction_id: int) -> Transaction | None:
        return next((t for t in self.transactions if t.id == transaction_id), None)

    def fulfillment_order(self, fo_id: int) -> FulfillmentOrder | None:
        return next((fo for fo in self.fulfillment_orders if fo.id == fo_id), None)

    def fulfillment(self, fulfillment_id: int) -> Fulfillment | None:
        return next((f for f in self.fulfillments if f.id == fulfillment_id), None)

    def return_(self, return_id: int) -> Return | None:
        return next((r for r in self.returns if r.id == return_id), None)

    # ---- state ----------------------------------------------------------------------------
    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def is_open(self) -> bool:
        return not self.is_cancelled and not self.is_closed

    @property
    def cancel_reason(self) -> str | None:
        return self.cancellation.reason if self.cancellation else None

    # ---- quantities -----------------------------------------------------------------------
    def fulfilled_quantity(self, line_item_id: int) -> int:
        return sum(
            fl.quantity
            for f in self.fulfillments
            if f.is_active
            for fl in f.line_items
            if fl.line_item_id == line_item_id
        )

    def fulfillable_quantity(self, line_item_id: int) -> int:
        return sum(
            fol.fulfillable_quantity
            for fo in self.fulfillment_orders
            if fo.is_active
            for fol in fo.line_items
            if fol.line_item_id == line_item_id
        )

    def refunded_quantity(self, line_item_id: int, restock_type: str | None = None) -> int:
        return sum(
            rli.quantity
            for r in self.refunds
            for rli in r.refund_line_items
            if rli.line_item_id == line_item_id and (restock_type is None or rli.restock_type == restock_type)
        )

    def units_to_ship(self, line: LineItem) -> int:
        """Units of a line still to be fulfilled (Shopify: quantity - max(refunded, fulfilled)).

        Units taken off before they shipped (`removed_quantity`: order cancelled, or refunded with
        restock_type "cancel") never ship. Other refunded units (no_restock, return) count against
        the fulfilled ones first, so only those beyond what shipped come off the order.

        What a refund or an undone shipment leaves on the fulfillment orders is measured against
        this. It is an upper bound, not a count: units refunded before they shipped came off the
        fulfillment orders then, and when the rest ship it still counts the refunded units against
        them (3 ordered, 2 refunded unshipped, 1 shipped: 1 here, none on the fulfillment orders).
        What an edit may take off is `order_edits.editable_quantity`."""
        kept_refunded = self.refunded_quantity(line.id) - self.refunded_quantity(line.id, "cancel")
        return max(0, line.quantity - line.removed_quantity - max(kept_refunded, self.fulfilled_quantity(line.id)))

    def current_quantity(self, line: LineItem) -> int:
        """Units still on the order: ordered less removed and refunded ones."""
        refunded_not_removed = self.refunded_quantity(line.id) - self.refunded_quantity(line.id, "cancel")
        return max(0, line.quantity - line.removed_quantity - refunded_not_removed)

    # ---- money (shop currency) -------------------------------------------------------------
    def with_tax(self, amount: Decimal, tax: Decimal) -> Decimal:
        """What an amount and its tax come to: with prices that include tax (`taxes_included`,
        usual in the EU) the tax is already in the amount and is not added again."""
        return amount if self.taxes_included else amount + tax

    def units_worth(self, line: LineItem, quantity: int) -> tuple[Decimal, Decimal]:
        """(subtotal after discounts, tax) of `quantity` units of a line: what refunding them
        takes off the order, and what a return of them is worth."""
        if line.quantity == 0:  # removed by an edit: nothing left to be worth anything
            return (ZERO, ZERO)
        unit = (line.price * line.quantity - line.total_discount) / line.quantity
        tax = line.total_tax / line.quantity
        return (round_money(unit * quantity, self.currency), round_money(tax * quantity, self.currency))

    @property
    def total_line_items_price(self) -> Decimal:
        return sum((li.price * li.quantity for li in self.line_items), ZERO)

    @property
    def total_discounts(self) -> Decimal:
        return sum((li.total_discount for li in self.line_items), ZERO) + sum(
            (a.amount for s in self.shipping_lines for a in s.discount_allocations), ZERO
        )

    @property
    def subtotal_price(self) -> Decimal:
        return self.total_line_items_price - sum((li.total_discount for li in self.line_items), ZERO)

    @property
    def total_shipping_price(self) -> Decimal:
        return sum((s.discounted_price for s in self.shipping_lines), ZERO)

    @property
    def total_tax(self) -> Decimal:
        lines = sum((li.total_tax for li in self.line_items), ZERO)
        shipping = sum((t.price for s in self.shipping_lines for t in s.tax_lines), ZERO)
        order_level = sum((t.price for t in self.tax_lines), ZERO)
        return lines + shipping + order_level

    @property
    def total_price(self) -> Decimal:
        tax = ZERO if self.taxes_included else self.total_tax
        return self.subtotal_price + self.total_shipping_price + tax

    @property
    def total_weight(self) -> int:
        return sum(li.grams * li.quantity for li in self.line_items)

    @property
    def total_refunded_amount(self) -> Decimal:
        """What refunds took off the order's value (lines, their tax and shipping), shop money."""
        lines = sum(
            (self.with_tax(rli.subtotal, rli.total_tax) for r in self.refunds for rli in r.refund_line_items),
            ZERO,
        )
        adjustments = sum(
            (
                self.with_tax(a.amount, a.tax_amount)
                for r in self.refunds
                for a in r.order_adjustments
                if a.kind == "shipping_refund"
            ),
            ZERO,
        )
        return lines + adjustments

    @property
    def refund_discrepancy(self) -> Decimal:
        """Money refunded beyond (positive) or short of (negative) what the refunded items and
        shipping were worth, summed over the refunds' refund_discrepancy adjustments (shop money).
        A goodwill refund without items, or 7.00 back for a 10.00 line, is recorded this way, so
        nobody owes anybody the difference."""
        return sum(
            (a.amount for r in self.refunds for a in r.order_adjustments if a.kind == "refund_discrepancy"),
            ZERO,
        )

    @property
    def current_total_price(self) -> Decimal:
        if self.is_cancelled:
            return ZERO
        return max(ZERO, self.total_price - self.total_refunded_amount)

    @property
    def refund_discrepancy_presentment(self) -> Decimal:
        """`refund_discrepancy` in the order's presentment currency."""
        return sum(
            (
                a.presentment_amount if a.presentment_amount is not None else self.presentment(a.amount)
                for r in self.refunds
                for a in r.order_adjustments
                if a.kind == "refund_discrepancy"
            ),
            ZERO,
        )

    def presentment(self, shop_amount: Decimal) -> Decimal:
        """The customer's-currency amount of a shop-currency amount."""
        if self.presentment_currency == self.currency:
            return shop_amount
        return round_money(shop_amount * self.exchange_rate, self.presentment_currency)

    def shop_amount(self, presentment_amount: Decimal) -> Decimal:
        if self.presentment_currency == self.currency:
            return presentment_amount
        return round_money(presentment_amount / self.exchange_rate, self.currency)
