"""Request bodies and answer shapes of the draft orders API (Shopify REST 2024-10 `DraftOrder`).

The bodies refuse unknown keys by name and check shapes and ranges, so a negative quantity or a
discount type Shopify does not have is a 422 naming the field; services/draft_orders.py and
domain/draft_orders.py check the rest. The answer models describe what
services.draft_orders.render builds, for the OpenAPI document only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .schemas import AddressIn, Amount, Email, Id, NoteAttributeIn, PropertyIn, Quantity, Short, Strict, TaxLineIn, Text

DiscountValue = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]
Price = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]


# ---- request bodies ------------------------------------------------------------------------------
class AppliedDiscountIn(Strict):
    value: DiscountValue
    value_type: Literal["fixed_amount", "percentage"] = "fixed_amount"
    title: Short | None = None
    description: Short | None = None
    amount: Amount | None = None  # Shopify's clients echo it back; the value decides


class DraftLineItemIn(Strict):
    variant_id: Id | None = None
    product_id: Id | None = None
    title: Short | None = None
    price: Price | None = None
    quantity: Quantity = 1
    taxable: bool | None = None
    requires_shipping: bool | None = None
    sku: Short | None = None
    grams: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    custom: bool | None = None
    properties: list[PropertyIn] = Field(default_factory=list, max_length=100)
    applied_discount: AppliedDiscountIn | None = None


class ShippingLineIn(Strict):
    title: Short
    price: Price
    handle: Short | None = None
    custom: bool | None = None


class DraftCustomerIn(Strict):
    id: Id


class DraftOrderIn(Strict):
    line_items: list[DraftLineItemIn] | None = Field(default=None, max_length=250)
    email: Email | None = None
    customer: DraftCustomerIn | None = None
    billing_address: AddressIn | None = None
    shipping_address: AddressIn | None = None
    customer_locale: Short | None = None
    note: Text | None = None
    note_attributes: list[NoteAttributeIn] | None = Field(default=None, max_length=100)
    tags: str | list[Short] | None = None
    tax_exempt: bool | None = None
    taxes_included: bool | None = None
    tax_lines: list[TaxLineIn] | None = Field(default=None, max_length=100)
    applied_discount: AppliedDiscountIn | None = None
    shipping_line: ShippingLineIn | None = None
    currency: Short | None = None


class DraftOrderEnvelope(Strict):
    draft_order: DraftOrderIn


# Shopify's clients save a draft by sending the whole draft back (`PUT`), read-only fields and all:
# on a change, the keys the answers carry that a draft can't take are ignored, as for orders.
class DraftLineItemBackIn(DraftLineItemIn):
    model_config = ConfigDict(extra="ignore")


class DraftCustomerBackIn(DraftCustomerIn):
    model_config = ConfigDict(extra="ignore")


class DraftShippingLineBackIn(ShippingLineIn):
    model_config = ConfigDict(extra="ignore")


class DraftOrderUpdateIn(DraftOrderIn):
    model_config = ConfigDict(extra="ignore")
    line_items: list[DraftLineItemBackIn] | None = Field(default=None, max_length=250)  # type: ignore[assignment]
    customer: DraftCustomerBackIn | None = None
    shipping_line: DraftShippingLineBackIn | None = None


class DraftOrderUpdateEnvelope(Strict):
    draft_order: DraftOrderUpdateIn


class DraftOrderInvoiceIn(Strict):
    to: Email | None = None
    # Shopify's sender and copies; Orderdeck sends from the shop's address and keeps no copies.
    from_: Email | None = Field(default=None, alias="from")
    bcc: list[Email] = Field(default_factory=list, max_length=0)
    subject: Short | None = None
    custom_message: Text | None = None


class DraftOrderInvoiceEnvelope(Strict):
    draft_order_invoice: DraftOrderInvoiceIn = Field(default_factory=DraftOrderInvoiceIn)


# ---- answers (OpenAPI only) ----------------------------------------------------------------------
class DraftAppliedDiscount(BaseModel):
    title: str | None
    description: str | None
    value: str
    value_type: Literal["fixed_amount", "percentage"]
    amount: str


class DraftOrderLineItem(BaseModel):
    id: int
    variant_id: int | None
    product_id: int | None
    title: str
    variant_title: str | None
    name: str
    sku: str | None
    vendor: str | None
    quantity: int
    price: str
    grams: int
    taxable: bool
    requires_shipping: bool
    custom: bool
    gift_card: bool
    fulfillment_service: str
    properties: list[dict[str, str]]
    applied_discount: DraftAppliedDiscount | None
    tax_lines: list[dict[str, object]]
    admin_graphql_api_id: str


class DraftShippingLine(BaseModel):
    title: str
    custom: bool
    handle: str | None
    price: str


class DraftOrderCustomer(BaseModel):
    id: int
    email: str | None
    first_name: str | None
    last_name: str | None


class DraftTaxLine(BaseModel):
    title: str
    price: str
    rate: float


class DraftOrder(BaseModel):
    id: int
    admin_graphql_api_id: str
    name: str
    status: Literal["open", "invoice_sent", "completed"]
    email: str | None
    currency: str
    customer: DraftOrderCustomer | None
    customer_locale: str | None
    billing_address: dict[str, object] | None
    shipping_address: dict[str, object] | None
    line_items: list[DraftOrderLineItem]
    applied_discount: DraftAppliedDiscount | None
    shipping_line: DraftShippingLine | None
    note: str | None
    note_attributes: list[dict[str, str]]
    tags: str
    tax_exempt: bool
    tax_exemptions: list[str]
    taxes_included: bool
    tax_lines: list[DraftTaxLine]
    total_line_items_price: str
    total_discounts: str
    subtotal_price: str
    total_shipping_price: str
    total_tax: str
    total_price: str
    invoice_url: str
    invoice_sent_at: str | None
    order_id: int | None
    completed_at: str | None
    payment_terms: None
    source_name: str
    created_at: str
    updated_at: str


class DraftOrderInvoice(BaseModel):
    to: str
    from_: str = Field(alias="from")
    bcc: list[str]
    subject: str
    custom_message: str


DRAFT_ORDER_MODELS: tuple[type[BaseModel], ...] = (DraftOrder, DraftOrderInvoice)
