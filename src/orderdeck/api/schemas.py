"""Request bodies, as Shopify's clients send them. Pydantic checks shapes and types; the
domain checks the rules. Unknown fields are refused by name so typos never pass silently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from ..domain.contact import check_email, check_phone, is_one_line
from ..domain.errors import InvalidInput


def _one_line(value: str) -> str:
    """A name, title or code is one line (domain.contact.is_one_line)."""
    if not is_one_line(value):
        raise ValueError("must be one line without control characters (no line breaks, tabs or NUL)")
    return value


def _printable(value: str) -> str:
    """Longer text (notes, messages) may have line breaks and tabs, but no other control character."""
    if any((ord(c) < 32 and c not in "\t\r\n") or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return value


def _checked_by(check: Callable[..., object]) -> Callable[[str], str]:
    """A domain check as a Pydantic validator: its refusal becomes the field's error."""

    def validate(value: str) -> str:
        try:
            check(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value

    return validate


Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]
Id = Annotated[int, Field(gt=0, lt=2**63)]
Quantity = Annotated[int, Field(gt=0, le=100_000)]
Text = Annotated[str, Field(max_length=5000), AfterValidator(_printable)]
Short = Annotated[str, Field(max_length=255), AfterValidator(_one_line)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_checked_by(check_email))]
Phone = Annotated[str, Field(max_length=255), AfterValidator(_checked_by(check_phone))]
Int32 = Annotated[int, Field(ge=0, le=2**31 - 1)]  # what an INTEGER column holds (PostgreSQL's is 32 bits)


def _plausible_time(value: datetime) -> datetime:
    """Year 9999 in one time zone is year 10000 in the next, which no date can hold."""
    if not 1900 <= value.year <= 2999:
        raise ValueError("must be a time between the years 1900 and 2999")
    return value


When = Annotated[datetime, AfterValidator(_plausible_time)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)


class MoneyIn(Strict):
    amount: Amount
    currency_code: Short | None = None


class MoneyBagIn(Strict):
    shop_money: MoneyIn | None = None
    presentment_money: MoneyIn | None = None


class AddressIn(Strict):
    first_name: Short | None = None
    last_name: Short | None = None
    name: Short | None = None
    company: Short | None = None
    address1: Short | None = None
    address2: Short | None = None
    city: Short | None = None
    province: Short | None = None
    province_code: Short | None = None
    country: Short | None = None
    country_code: Short | None = None
    country_name: Short | None = None
    zip: Short | None = None
    phone: Short | None = None
    latitude: float | None = None
    longitude: float | None = None


class TaxLineIn(Strict):
    title: Short
    price: Amount
    rate: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)
    price_set: MoneyBagIn | None = None
    channel_liable: bool | None = None


class PropertyIn(Strict):
    name: Short
    value: Text


class DiscountAllocationIn(Strict):
    amount: Amount
    discount_application_index: Annotated[int, Field(ge=0, le=1000)] = 0
    amount_set: MoneyBagIn | None = None


class LineItemIn(Strict):
    variant_id: Id | None = None
    product_id: Id | None = None
    title: Short | None = None
    variant_title: Short | None = None
    name: Short | None = None
    sku: Short | None = None
    vendor: Short | None = None
    price: Amount | None = None
    price_set: MoneyBagIn | None = None
    quantity: Quantity
    grams: Int32 = 0
    taxable: bool = True
    requires_shipping: bool = True
    gift_card: bool = False
    properties: list[PropertyIn] = Field(default_factory=list, max_length=100)
    tax_lines: list[TaxLineIn] = Field(default_factory=list, max_length=20)
    discount_allocations: list[DiscountAllocationIn] = Field(default_factory=list, max_length=20)
    fulfillment_service: Short | None = None


class ShippingLineIn(Strict):
    title: Short
    price: Amount
    code: Short | None = None
    source: Short | None = None
    price_set: MoneyBagIn | None = None
    tax_lines: list[TaxLineIn] = Field(default_factory=list, max_length=20)


class DiscountCodeIn(Strict):
    code: Short
    amount: Amount
    type: Literal["fixed_amount", "percentage", "shipping"] = "fixed_amount"


class DiscountApplicationIn(Strict):
    type: Literal["discount_code", "manual", "script", "automatic"]
    value: Amount
    value_type: Literal["fixed_amount", "percentage"]
    allocation_method: Literal["across", "each", "one"] = "across"
    target_selection: Literal["all", "entitled", "explicit"] = "all"
    target_type: Literal["line_item", "shipping_line"] = "line_item"
    code: Short | None = None
    title: Short | None = None
    description: Text | None = None


class CustomerIn(Strict):
    id: Id | None = None
    email: Email | None = None
    phone: Phone | None = None
    first_name: Short | None = None
    last_name: Short | None = None


class CreditCardIn(Strict):
    number: Short
    month: Annotated[int, Field(ge=1, le=12)] | None = None
    year: Annotated[int, Field(ge=0, le=9999)] | None = None
    verification_value: Short | None = None
    first_name: Short | None = None
    last_name: Short | None = None


class PaymentDetailsIn(Strict):
    credit_card_number: Short | None = None
    credit_card_company: Short | None = None


class TransactionIn(Strict):
    kind: Literal["authorization", "capture", "sale", "void", "refund"]
    status: Literal["pending", "success", "failure", "error"] | None = None
    amount: Amount | None = None
    currency: Short | None = None
    gateway: Short | None = None
    parent_id: Id | None = None
    authorization: Short | None = None
    test: bool = False
    source: Short | None = None
    source_name: Short | None = None
    credit_card: CreditCardIn | None = None
    payment_details: PaymentDetailsIn | None = None

    @field_validator("amount", "currency", "gateway", "authorization", mode="before")
    @classmethod
    def blank_is_absent(cls, value: Any) -> Any:
        """Shopify's clients send "" for a field left empty (capture without an amount)."""
        return None if value == "" else value

    @property
    def card_number(self) -> str | None:
        if self.credit_card is not None:
            return self.credit_card.number
        if self.payment_details is not None:
            return self.payment_details.credit_card_number
        return None


class NoteAttributeIn(Strict):
    name: Short
    value: Text


class FulfillmentAtCreationIn(Strict):
    location_id: Id | None = None


class OrderIn(Strict):
    line_items: list[LineItemIn] = Field(min_length=1, max_length=500)
    email: Email | None = None
    phone: Phone | None = None
    customer: CustomerIn | None = None
    customer_locale: Short | None = None
    billing_address: AddressIn | None = None
    shipping_address: AddressIn | None = None
    shipping_lines: list[ShippingLineIn] = Field(default_factory=list, max_length=20)
    discount_codes: list[DiscountCodeIn] = Field(default_factory=list, max_length=20)
    discount_applications: list[DiscountApplicationIn] = Field(default_factory=list, max_length=20)
    tax_lines: list[TaxLineIn] = Field(default_factory=list, max_length=20)
    total_tax: Amount | None = None
    taxes_included: bool = False
    currency: Short | None = None
    presentment_currency: Short | None = None
    exchange_rate: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=10)] | None = None
    note: Text | None = None
    note_attributes: list[NoteAttributeIn] = Field(default_factory=list, max_length=100)
    tags: str | list[Short] | None = None
    source_name: Short | None = None
    test: bool = False
    buyer_accepts_marketing: bool = False
    financial_status: (
        Literal["pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided"] | None
    ) = None
    fulfillment_status: Literal["fulfilled", "unfulfilled"] | None = None
    fulfillments: list[FulfillmentAtCreationIn] = Field(default_factory=list, max_length=10)
    auto_fulfill: bool | None = None
    transactions: list[TransactionIn] = Field(default_factory=list, max_length=20)
    inventory_behaviour: Literal["bypass", "decrement_ignoring_policy", "decrement_obeying_policy"] = (
        "decrement_obeying_policy"
    )
    send_receipt: bool = False
    send_fulfillment_receipt: bool = False
    processed_at: When | None = None
    location_id: Id | None = None


class OrderEnvelope(Strict):
    order: OrderIn


class OrderUpdateIn(BaseModel):
    """PUT /orders/{id}.json. Shopify's clients send the whole order back on save, so fields that
    are read-only after placement are accepted when unchanged and ignored (billing_address is
    checked: changing it is refused)."""

    model_config = ConfigDict(extra="allow")
    email: Email | None = None
    phone: Phone | None = None
    note: Text | None = None
    note_attributes: list[NoteAttributeIn] | None = None
    tags: str | list[Short] | None = None
    shipping_address: AddressIn | None = None
    billing_address: dict[str, Any] | None = None
    buyer_accepts_marketing: bool | None = None
    customer_locale: Short | None = None


class OrderUpdateEnvelope(Strict):
    order: OrderUpdateIn


class TransactionEnvelope(Strict):
    transaction: TransactionIn


class LineRequestIn(Strict):
    id: Id
    quantity: Quantity


class HoldIn(Strict):
    reason: Literal[
        "awaiting_payment",
        "high_risk_of_fraud",
        "incorrect_address",
        "inventory_out_of_stock",
        "unknown_delivery_date",
        "other",
    ]
    reason_notes: Text | None = None
    notify_merchant: bool = False
    external_id: Short | None = None
    fulfillment_order_line_items: list[LineRequestIn] = Field(default_factory=list, max_length=500)


class HoldEnvelope(Strict):
    fulfillment_hold: HoldIn


class ReleaseHoldIn(Strict):
    hold_ids: list[Id] = Field(default_factory=list)


class MoveIn(Strict):
    new_location_id: Id
    fulfillment_order_line_items: list[LineRequestIn] = Field(default_factory=list, max_length=500)


class MoveEnvelope(Strict):
    fulfillment_order: MoveIn


class RescheduleIn(Strict):
    new_fulfill_at: When


class RescheduleEnvelope(Strict):
    fulfillment_order: RescheduleIn


class TrackingInfoIn(Strict):
    number: Short | None = None
    numbers: list[Short] = Field(default_factory=list, max_length=20)
    company: Short | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None
    urls: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=20)


class LinesByFulfillmentOrderIn(Strict):
    fulfillment_order_id: Id
    fulfillment_order_line_items: list[LineRequestIn] = Field(default_factory=list, max_length=500)


class FulfillmentIn(Strict):
    line_items_by_fulfillment_order: list[LinesByFulfillmentOrderIn] = Field(min_length=1, max_length=50)
    tracking_info: TrackingInfoIn | None = None
    notify_customer: bool = False
    message: Text | None = None
    origin_address: AddressIn | None = None


class FulfillmentEnvelope(Strict):
    fulfillment: FulfillmentIn


class UpdateTrackingIn(Strict):
    tracking_info: TrackingInfoIn
    notify_customer: bool = False


class UpdateTrackingEnvelope(Strict):
    fulfillment: UpdateTrackingIn


class FulfillmentEventIn(Strict):
    status: Short
    message: Text | None = None
    happened_at: When | None = None
    city: Short | None = None
    province: Short | None = None
    country: Short | None = None
    zip: Short | None = None
    address1: Short | None = None
    latitude: float | None = None
    longitude: float | None = None
    estimated_delivery_at: When | None = None


class FulfillmentEventEnvelope(Strict):
    event: FulfillmentEventIn


class RefundShippingIn(Strict):
    full_refund: bool = False
    amount: Amount | None = None
    # Read-only fields of a calculate answer, accepted so it can be posted back as it came.
    tax: Any = None
    maximum_refundable: Any = None


class RefundLineItemIn(Strict):
    line_item_id: Id
    quantity: Quantity
    restock_type: Literal["no_restock", "cancel", "return"] = "no_restock"
    location_id: Id | None = None
    price: Any = None
    subtotal: Any = None
    total_tax: Any = None
    discounted_price: Any = None
    discounted_total_price: Any = None
    total_cart_discount_amount: Any = None


class RefundTransactionIn(Strict):
    parent_id: Id | None = None
    amount: Amount
    kind: Literal["refund", "suggested_refund"] = "refund"
    gateway: Short | None = None
    order_id: Any = None
    currency: Short | None = None
    maximum_refundable: Any = None


class RefundIn(Strict):
    currency: Short | None = None
    notify: bool = False
    note: Text | None = None
    discrepancy_reason: Literal["restock", "damage", "customer", "other"] | None = None
    shipping: RefundShippingIn | None = None
    refund_line_items: list[RefundLineItemIn] = Field(default_factory=list, max_length=500)
    transactions: list[RefundTransactionIn] = Field(default_factory=list, max_length=20)
    # Read-only parts of a calculate answer.
    duties: Any = None
    total_duties_set: Any = None
    additional_fees: Any = None
    total_additional_fees_set: Any = None
    refund_duties: Any = None
    order_id: Any = None
    return_: Any = Field(default=None, alias="return")
    restock: Any = None

    @field_validator("restock")
    @classmethod
    def no_legacy_restock(cls, value: Any) -> Any:
        if value:
            raise ValueError("restock is no longer accepted; set restock_type on each refund line item")
        return value


class RefundEnvelope(Strict):
    refund: RefundIn


class CancelRefundIn(RefundIn):
    pass


class CancelIn(Strict):
    reason: Literal["customer", "fraud", "inventory", "declined", "staff", "other"] | None = None
    email: bool | None = None
    notify_customer: bool | None = None
    refund: CancelRefundIn | bool | None = None
    restock: bool | None = None
    amount: Amount | None = None
    currency: Short | None = None
    staff_note: Text | None = None


class MarkAsPaidIn(Strict):
    amount: Amount | None = None


class TagsIn(Strict):
    tags: str | list[Short]


class CommentIn(Strict):
    body: Text


class CommentEnvelope(Strict):
    comment: CommentIn


class LocationIn(Strict):
    name: Short | None = None
    address1: Short | None = None
    address2: Short | None = None
    city: Short | None = None
    zip: Short | None = None
    province: Short | None = None
    province_code: Short | None = None
    country_code: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    phone: Short | None = None
    active: bool | None = None
    priority: Int32 | None = None

    @field_validator("name", "active", "priority", mode="before")
    @classmethod
    def not_null(cls, value: Any) -> Any:
        """These have no empty state: null would not be "leave it", it would be stored."""
        if value is None:
            raise ValueError("can't be null; leave the field out to keep its value")
        return value


class LocationEnvelope(Strict):
    location: LocationIn


class VariantIn(Strict):
    title: Short = "Default Title"
    sku: Short | None = None
    price: Amount = Decimal(0)
    grams: Int32 = 0
    taxable: bool = True
    requires_shipping: bool = True
    inventory_management: Literal["orderdeck", "shopify"] | None = "orderdeck"
    inventory_policy: Literal["deny", "continue"] = "deny"
    inventory_quantities: dict[str, Annotated[int, Field(ge=-1_000_000, le=1_000_000)]] = Field(default_factory=dict)


class ProductIn(Strict):
    title: Short
    vendor: Short | None = None
    product_type: Short | None = None
    variants: list[VariantIn] = Field(default_factory=list, max_length=100)


class ProductEnvelope(Strict):
    product: ProductIn


class InventorySetIn(Strict):
    location_id: Id
    inventory_item_id: Id
    available: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    disconnect_if_necessary: bool = False


class InventoryAdjustIn(Strict):
    location_id: Id
    inventory_item_id: Id
    available_adjustment: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]


class InventoryConnectIn(Strict):
    location_id: Id
    inventory_item_id: Id
    relocate_if_necessary: bool = False


class BulkFilterIn(Strict):
    """The order list's filters, as a JSON object (the same names as the list's query string)."""

    status: Literal["open", "closed", "cancelled", "any"] = "open"
    financial_status: Short = "any"
    fulfillment_status: Short = "any"
    return_status: Short = "any"
    since_id: Id | None = None
    created_at_min: When | None = None
    created_at_max: When | None = None
    updated_at_min: When | None = None
    updated_at_max: When | None = None
    processed_at_min: When | None = None
    processed_at_max: When | None = None
    tag: str | list[Short] = Field(default_factory=list)
    tag_not: str | list[Short] = Field(default_factory=list)
    source_name: Short | None = None
    location_id: Id | None = None
    customer_id: Id | None = None
    email: Short | None = None
    name: Short | None = None
    test: bool | None = None
    q: Short | None = None
    custom_status: Short | None = None

    @field_validator("tag", "tag_not")
    @classmethod
    def as_list(cls, value: str | list[str]) -> list[str]:
        parts = value.split(",") if isinstance(value, str) else value
        return [p.strip() for p in parts if p.strip()]


class BulkMessage(Strict):
    subject: Annotated[str, Field(min_length=1, max_length=1000)]
    body: Annotated[str, Field(min_length=1, max_length=20_000)]


class BulkMessageIn(Strict):
    """A message to the customers of many orders: by ids or by the list's filters. Subject and
    body are Liquid, rendered for each order (its customer, its language)."""

    ids: list[Id] = Field(default_factory=list, max_length=10_000)
    filter: BulkFilterIn | None = None
    message: BulkMessage


class MessagePreviewIn(Strict):
    message: BulkMessage
    order_id: Id | None = None


class BulkIn(Strict):
    ids: list[Id] = Field(default_factory=list, max_length=10_000)
    filter: BulkFilterIn | None = None
    tags: str | list[Short] | None = None
