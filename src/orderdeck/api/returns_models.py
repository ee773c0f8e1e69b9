"""Request bodies and answer shapes of the returns API (an Orderdeck extension in Shopify's REST
style, AFTER-THE-SALE.md §1.9).

The bodies refuse unknown keys by name and check shapes, ranges and Shopify's reason names, so
a fee over 100 % or a negative quantity is a 422 naming the field before any order is loaded;
the domain (domain/returns.py) checks the rest against the order.

The answer models describe what resources/render.py builds, key for key, for the OpenAPI
document only (like api/resources.py, which lists them among its components and whose `Order`
carries `returns`). They do not import api/resources.py, which imports them: money and line
items refer to its `MoneyBag` and `LineItem` components by reference.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from ..domain.returns import DECLINE_REASONS, DISPOSITION_TYPES, RETURN_REASONS
from .schemas import Amount, Id, Quantity, Short, Strict, Text, When

# ---- request bodies ------------------------------------------------------------------------------
# The domain's names are the ones the bodies take: one list each, in domain/returns.py.
ReturnReason = Literal[RETURN_REASONS]  # type: ignore[valid-type]
DeclineReason = Literal[DECLINE_REASONS]  # type: ignore[valid-type]
DispositionType = Literal[DISPOSITION_TYPES]  # type: ignore[valid-type]
Percentage = Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4)]
ReasonNote = Annotated[str, Field(max_length=255)]
CustomerNote = Annotated[str, Field(max_length=300)]
Url = Annotated[str, Field(max_length=2000)]


class RestockingFeeIn(Strict):
    percentage: Percentage


class ReturnLineIn(Strict):
    fulfillment_line_item_id: Id
    quantity: Quantity
    return_reason: ReturnReason = "unknown"
    return_reason_note: ReasonNote = ""
    customer_note: CustomerNote | None = None
    restocking_fee: RestockingFeeIn | None = None


class DiscountValueIn(Strict):
    """One of: a percentage of the price, or an amount off each unit (presentment currency)."""

    percentage: Percentage | None = None
    amount: Amount | None = None

    @model_validator(mode="after")
    def one_of(self) -> DiscountValueIn:
        if (self.percentage is None) == (self.amount is None):
            raise ValueError("give either percentage or amount")
        return self


class AppliedDiscountIn(Strict):
    description: Short | None = None
    value: DiscountValueIn


class ExchangeLineIn(Strict):
    variant_id: Id
    quantity: Quantity
    applied_discount: AppliedDiscountIn | None = None


class ReturnShippingFeeIn(Strict):
    amount: Amount
    currency: Short | None = None  # the order's presentment currency; checked when given
    currency_code: Short | None = None


class ReturnRequestIn(Strict):
    """A customer's request (status requested): no exchange items, as in Shopify's returnRequest."""

    requested_at: When | None = None
    notify_customer: bool = False
    return_line_items: list[ReturnLineIn] = Field(min_length=1, max_length=500)
    return_shipping_fee: ReturnShippingFeeIn | None = None


class ReturnIn(ReturnRequestIn):
    """A return staff create open, perhaps with exchange items."""

    exchange_line_items: list[ExchangeLineIn] = Field(default_factory=list, max_length=100)


class ReturnEnvelope(Strict):
    return_: ReturnIn = Field(alias="return")


class ReturnRequestEnvelope(Strict):
    return_: ReturnRequestIn = Field(alias="return")


class NotifyIn(Strict):
    notify_customer: bool = False


class ApproveEnvelope(Strict):
    return_: NotifyIn = Field(default_factory=NotifyIn, alias="return")


class DeclineIn(Strict):
    decline_reason: DeclineReason
    decline_note: Annotated[str, Field(max_length=500)] | None = None
    notify_customer: bool = False


class DeclineEnvelope(Strict):
    return_: DeclineIn = Field(alias="return")


class LineQuantityIn(Strict):
    id: Id
    quantity: Quantity


class RemoveLinesIn(Strict):
    return_line_items: list[LineQuantityIn] = Field(default_factory=list, max_length=500)
    exchange_line_items: list[LineQuantityIn] = Field(default_factory=list, max_length=100)


class RemoveLinesEnvelope(Strict):
    return_: RemoveLinesIn = Field(alias="return")


class ReturnRefundShippingIn(Strict):
    full_refund: bool = False
    amount: Amount | None = None


class ReturnRefundTransactionIn(Strict):
    parent_id: Id | None = None
    amount: Amount
    kind: Literal["refund"] = "refund"
    gateway: Short | None = None


class ReturnRefundIn(Strict):
    """Leave `transactions` out for the suggested refund; `[]` refunds the units with no money
    (their worth went to exchange items)."""

    return_line_items: list[LineQuantityIn] = Field(default_factory=list, max_length=500)
    shipping: ReturnRefundShippingIn | None = None
    transactions: list[ReturnRefundTransactionIn] | None = Field(default=None, max_length=20)
    currency: Short | None = None
    note: Text | None = None
    notify: bool = False


class ReturnRefundEnvelope(Strict):
    refund: ReturnRefundIn


class DispositionIn(Strict):
    type: DispositionType
    quantity: Quantity
    location_id: Id | None = None


class ProcessLineIn(Strict):
    id: Id
    quantity: Quantity
    dispositions: list[DispositionIn] = Field(default_factory=list, max_length=20)


class ProcessRefundIn(Strict):
    transactions: list[ReturnRefundTransactionIn] | None = Field(default=None, max_length=20)
    store_credit: None = None  # Shopify's key; Orderdeck refunds to the original payment only


class ProcessIn(Strict):
    return_line_items: list[ProcessLineIn] = Field(min_length=1, max_length=500)
    refund_shipping: ReturnRefundShippingIn | None = None
    refund: ProcessRefundIn | None = None
    currency: Short | None = None
    note: Text | None = None
    notify_customer: bool = False


class ProcessEnvelope(Strict):
    return_: ProcessIn = Field(alias="return")


class TrackingIn(Strict):
    number: Short | None = None
    url: Url | None = None
    company: Short | None = None


class LabelIn(Strict):
    file_url: Url


class DeliveryLineIn(Strict):
    reverse_fulfillment_order_line_item_id: Id
    quantity: Quantity


class ReverseDeliveryIn(Strict):
    line_items: list[DeliveryLineIn] = Field(default_factory=list, max_length=500)
    tracking: TrackingIn | None = None
    label: LabelIn | None = None
    notify_customer: bool = False


class ReverseDeliveryEnvelope(Strict):
    reverse_delivery: ReverseDeliveryIn


class ReverseDeliveryUpdateIn(Strict):
    tracking: TrackingIn | None = None
    label: LabelIn | None = None
    notify_customer: bool = False


class ReverseDeliveryUpdateEnvelope(Strict):
    reverse_delivery: ReverseDeliveryUpdateIn


class DisposeLineIn(Strict):
    reverse_fulfillment_order_line_item_id: Id
    quantity: Quantity
    disposition_type: DispositionType
    location_id: Id | None = None


class DisposeIn(Strict):
    """Unwrapped, like InventoryLevel's bodies."""

    dispositions: list[DisposeLineIn] = Field(min_length=1, max_length=500)


# ---- answers -------------------------------------------------------------------------------------
MoneyBag = Annotated[dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/MoneyBag"}]})]
LineItemRef = Annotated[dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/LineItem"}]})]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Reference(_Model):
    id: int
    admin_graphql_api_id: str


class RestockingFee(_Model):
    percentage: float
    amount_set: MoneyBag


class ReturnLineItem(_Model):
    id: int
    admin_graphql_api_id: str
    fulfillment_line_item_id: int
    fulfillment_id: int
    line_item_id: int
    title: str | None
    variant_id: int | None
    product_id: int | None
    sku: str | None
    quantity: int = Field(description="Units on the return (after any removed)")
    removed_quantity: int
    refundable_quantity: int
    refunded_quantity: int
    processed_quantity: int = Field(description="Units received (disposed of)")
    return_reason: str
    return_reason_note: str
    customer_note: str | None
    subtotal_set: MoneyBag = Field(description="What the units are worth back (after discounts, with tax)")
    restocking_fee: RestockingFee | None


class AppliedDiscount(_Model):
    description: str | None
    value: str
    value_type: str = Field(description="percentage or fixed_amount (per unit)")


class ExchangeLineItem(_Model):
    id: int
    admin_graphql_api_id: str
    variant_id: int
    quantity: int
    removed_quantity: int
    line_item_ids: list[int] = Field(description="The order line the exchange became once the return opened")
    line_item: LineItemRef | None
    processed_quantity: int = Field(description="Exchange units shipped")
    applied_discount: AppliedDiscount | None


class ReturnShippingFee(_Model):
    id: int
    admin_graphql_api_id: str
    price: MoneyBag
    amount_set: MoneyBag


class ReverseDeliveryLineItem(_Model):
    id: int
    reverse_fulfillment_order_line_item_id: int
    quantity: int


class ReturnLabel(_Model):
    public_file_url: str
    created_at: Timestamp | None
    updated_at: Timestamp | None


class ReturnTracking(_Model):
    carrier_name: str | None
    number: str | None
    url: str | None


class ReverseDelivery(_Model):
    id: int
    admin_graphql_api_id: str
    reverse_fulfillment_order_id: int
    return_id: int
    created_at: Timestamp
    updated_at: Timestamp
    line_items: list[ReverseDeliveryLineItem]
    label: ReturnLabel | None
    tracking: ReturnTracking | None


class Disposition(_Model):
    id: int
    admin_graphql_api_id: str
    type: str = Field(description="restocked, not_restocked, processing_required or missing")
    quantity: int
    location: Reference | None
    location_id: int | None
    reverse_fulfillment_order_line_item: Reference
    reverse_delivery_line_item: Reference | None
    created_at: Timestamp


class ReverseFulfillmentOrderLineItem(_Model):
    id: int
    admin_graphql_api_id: str
    return_line_item_id: int
    fulfillment_line_item_id: int
    line_item_id: int
    total_quantity: int
    disposed_quantity: int
    dispositions: list[Disposition]


class ReverseFulfillmentOrder(_Model):
    id: int
    admin_graphql_api_id: str
    order_id: int
    return_id: int
    location_id: int
    status: str = Field(description="open, closed or canceled")
    created_at: Timestamp
    line_items: list[ReverseFulfillmentOrderLineItem]
    reverse_deliveries: list[ReverseDelivery]
    third_party_confirmation: dict[str, Any] | None


class ReturnDecline(_Model):
    reason: str
    note: str | None


class Return(_Model):
    """A return (Orderdeck extension; Shopify's Return object in REST style)."""

    id: int
    admin_graphql_api_id: str
    name: str = Field(examples=["#1001-R1"])
    order_id: int
    order: Reference
    status: str = Field(description="requested, open, declined, closed or canceled")
    created_at: Timestamp
    updated_at: Timestamp
    requested_at: Timestamp | None
    request_approved_at: Timestamp | None
    closed_at: Timestamp | None
    total_quantity: int
    decline: ReturnDecline | None
    return_line_items: list[ReturnLineItem]
    exchange_line_items: list[ExchangeLineItem]
    return_shipping_fees: list[ReturnShippingFee]
    total_fees_set: MoneyBag
    exchange_fulfillment_order_ids: list[int]
    reverse_fulfillment_orders: list[ReverseFulfillmentOrder]
    refund_ids: list[int]
    created_by: str | None


class ReturnableLineItem(_Model):
    fulfillment_line_item_id: int
    line_item_id: int
    quantity: int = Field(description="Units that can still be returned")
    title: str
    variant_id: int | None
    product_id: int | None


class ReturnableFulfillment(_Model):
    id: int
    admin_graphql_api_id: str
    fulfillment_id: int
    line_items: list[ReturnableLineItem]


class CalculatedReturnLineItem(_Model):
    fulfillment_line_item_id: int
    line_item_id: int
    quantity: int
    subtotal_set: MoneyBag
    restocking_fee: RestockingFee | None


class CalculatedExchangeLineItem(_Model):
    variant_id: int
    title: str
    variant_title: str | None
    quantity: int
    original_unit_price_set: MoneyBag
    discounted_unit_price_set: MoneyBag
    total_tax_set: MoneyBag
    subtotal_set: MoneyBag


class FinancialOutcome(_Model):
    kind: str = Field(description="refund (the shop owes), invoice (the customer owes) or none")
    amount_set: MoneyBag


class CalculatedShippingFee(_Model):
    amount_set: MoneyBag


class ReturnCalculation(_Model):
    return_line_items: list[CalculatedReturnLineItem]
    exchange_line_items: list[CalculatedExchangeLineItem]
    return_shipping_fee: CalculatedShippingFee
    returned_subtotal_set: MoneyBag
    total_fees_set: MoneyBag
    exchange_subtotal_set: MoneyBag
    financial_outcome: FinancialOutcome


RETURN_MODELS: tuple[type[BaseModel], ...] = (
    Return,
    ReverseFulfillmentOrder,
    ReverseDelivery,
    ReturnableFulfillment,
    ReturnCalculation,
)
