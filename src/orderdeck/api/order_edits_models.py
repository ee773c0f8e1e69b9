"""Request bodies and the answer shape of the order edits API (an Orderdeck extension in Shopify's
REST style, AFTER-THE-SALE.md §3.7).

Every body may come bare (`{"quantity": 2, ...}`) or wrapped the way the answers are
(`{"order_edit": {"quantity": 2, ...}}`); either way a refusal names the field itself
(`quantity`), as for Shopify's other envelopes. The bodies refuse unknown keys by name and take
numbers and booleans as JSON numbers and booleans only: `"quantity": "2"` or `"restock": "yes"`
is a 422 naming the field before anything is loaded (Shopify's GraphQL types are as strict).
services/order_edits.py and domain/order_edits.py check the rest against the order.

The answer model describes what resources/order_edits.calculated_order builds, key for key, for
the OpenAPI document only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from ..domain.order_edits import MAX_PRICE, MAX_QUANTITY
from .schemas import Short, Strict, Text

# JSON numbers only: a quoted number or a boolean is refused, not converted.
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]
QuantityOrZero = Annotated[int, Field(strict=True, ge=0, le=MAX_QUANTITY)]
LineId = Annotated[int, Field(strict=True, gt=0, lt=2**63)]
Flag = Annotated[bool, Field(strict=True)]
# Money in the order's presentment currency (what the customer pays in), as a JSON number or a
# decimal string like Shopify's money fields ("9.95").
Price = Annotated[Decimal, Field(ge=0, le=MAX_PRICE, max_digits=18, decimal_places=4)]
Percent = Annotated[Decimal, Field(gt=0, le=100, max_digits=7, decimal_places=4)]
ENVELOPE = "order_edit"


class EditBody(Strict):
    """A body bare or in {"order_edit": {...}}."""

    @model_validator(mode="before")
    @classmethod
    def unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and set(data) == {ENVELOPE} and isinstance(data[ENVELOPE], dict):
            return data[ENVELOPE]
        return data


class BeginIn(EditBody):
    """Nothing to say yet: the edit starts from the order as it is."""


class AddVariantIn(EditBody):
    variant_id: LineId
    quantity: Quantity
    location_id: LineId | None = None
    allow_duplicates: Flag = False


class AddCustomItemIn(EditBody):
    title: Short
    price: Price
    quantity: Quantity
    taxable: Flag = True
    requires_shipping: Flag = False


class SetQuantityIn(EditBody):
    line_item_id: LineId
    quantity: QuantityOrZero
    restock: Flag = True


class DiscountIn(EditBody):
    """A fixed amount off each unit (presentment currency) or a percentage of the line."""

    description: Short | None = None
    fixed_value: Annotated[Decimal, Field(gt=0, le=MAX_PRICE, max_digits=18, decimal_places=4)] | None = None
    percent_value: Percent | None = None

    @model_validator(mode="after")
    def one_of(self) -> DiscountIn:
        if (self.fixed_value is None) == (self.percent_value is None):
            raise ValueError("give either fixed_value or percent_value")
        return self

    @property
    def value(self) -> tuple[Decimal, str]:
        if self.percent_value is not None:
            return self.percent_value, "percentage"
        assert self.fixed_value is not None
        return self.fixed_value, "fixed_amount"


class LineDiscountIn(DiscountIn):
    line_item_id: LineId


class ShippingLineIn(EditBody):
    title: Short
    price: Price


class ShippingLineUpdateIn(EditBody):
    title: Short | None = None
    price: Price | None = None

    @model_validator(mode="after")
    def something(self) -> ShippingLineUpdateIn:
        if self.title is None and self.price is None:
            raise ValueError("give a title, a price or both")
        return self


class CommitIn(EditBody):
    notify_customer: Flag = False
    staff_note: Text | None = None


# ---- the answer ----------------------------------------------------------------------------------
MoneyBag = Annotated[dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/MoneyBag"}]})]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class _EditLine(_Model):
    title: str
    variant_id: int | None
    variant_title: str | None
    sku: str | None
    quantity: int = Field(description="Units on the order once the edit is committed")
    editable_quantity: int = Field(description="Of those, the units still to ship (an edit may take these off)")
    original_unit_price_set: MoneyBag
    discounted_unit_price_set: MoneyBag
    total_discount_set: MoneyBag
    taxable: bool
    requires_shipping: bool
    restockable: bool
    restocking: bool


class CalculatedLineItem(_EditLine):
    """A line of the order as the edit leaves it."""

    id: int
    line_item_id: int
    admin_graphql_api_id: str
    editable_quantity_before_changes: int
    has_staged_change: bool


class AddedLineItem(_EditLine):
    """An item the edit adds; `id` is its staged id (set_quantity and line_item_discounts take it)."""

    id: int


class AddedDiscountApplication(_Model):
    id: int
    line_item_id: int
    description: str | None
    value: str = Field(description="An amount off each unit (presentment currency) or a percentage")
    value_type: str = Field(description="fixed_amount or percentage")
    allocation_method: str
    target_selection: str


class CalculatedShippingLine(_Model):
    id: int
    title: str
    price_set: MoneyBag
    staged_status: str = Field(description="NONE, ADDED or REMOVED")


class OrderEdit(_Model):
    """An order edit with its preview (Shopify's CalculatedOrder; Orderdeck extension)."""

    id: int
    admin_graphql_api_id: str
    order_id: int
    status: str = Field(description="open, committed, abandoned or expired")
    created_at: Timestamp
    updated_at: Timestamp
    expires_at: Timestamp
    committed_at: Timestamp | None
    notify_customer: bool
    staff_note: str | None
    line_items: list[CalculatedLineItem]
    added_line_items: list[AddedLineItem]
    added_discount_applications: list[AddedDiscountApplication]
    shipping_lines: list[CalculatedShippingLine]
    staged_changes: list[dict[str, Any]] = Field(description="Each with its `type`: add_variant, set_quantity, …")
    subtotal_line_items_quantity: int
    subtotal_price_set: MoneyBag
    total_shipping_price_set: MoneyBag
    total_tax_set: MoneyBag
    total_price_set: MoneyBag
    original_total_price_set: MoneyBag
    total_outstanding_set: MoneyBag = Field(description="What the customer would still owe")
    suggested_refund_set: MoneyBag = Field(description="What the shop would owe back (the commit refunds nothing)")
    calculation_errors: dict[str, list[str]] | None = Field(
        description="Why an open edit's preview can't be made any more (stock gone, units fulfilled meanwhile); "
        "the answer then shows the order as it is"
    )


ORDER_EDIT_MODELS: tuple[type[BaseModel], ...] = (OrderEdit,)
