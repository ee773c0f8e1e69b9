"""Request bodies and response shapes of the catalogue routes (products, variants, inventory
items), and the shape of a fulfillment order's fulfillments. The routes answer with orjson
directly; the response models describe that answer, key for key, in Shopify's 2024-10 wire
format, for the OpenAPI document."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .schemas import Amount, Short


class Count(BaseModel):
    count: int


class PresentmentPrice(BaseModel):
    price: dict[str, str]
    compare_at_price: dict[str, str] | None


class VariantOut(BaseModel):
    id: int
    product_id: int
    title: str
    price: str = Field(description="Money as a decimal string")
    sku: str | None
    position: int
    inventory_policy: str = Field(description="deny or continue (overselling allowed)")
    compare_at_price: str | None
    fulfillment_service: str
    inventory_management: str | None = Field(description='"shopify" when Orderdeck tracks stock, else null')
    option1: str | None
    option2: str | None
    option3: str | None
    created_at: str
    updated_at: str
    taxable: bool
    barcode: str | None
    grams: int
    image_id: int | None
    weight: float
    weight_unit: str
    inventory_item_id: int = Field(description="The variant's inventory item: the same id as the variant")
    inventory_quantity: int = Field(description="Available units over all locations")
    old_inventory_quantity: int
    presentment_prices: list[PresentmentPrice]
    requires_shipping: bool
    admin_graphql_api_id: str


class ProductOption(BaseModel):
    id: int
    product_id: int
    name: str
    position: int
    values: list[str]


class ProductOut(BaseModel):
    id: int
    title: str
    body_html: str | None
    vendor: str | None
    product_type: str | None
    created_at: str
    handle: str
    updated_at: str
    published_at: str | None
    template_suffix: str | None
    published_scope: str
    tags: str = Field(description="Comma-separated")
    status: str = Field(description="active, draft or archived")
    admin_graphql_api_id: str
    variants: list[VariantOut]
    options: list[ProductOption]
    images: list[Any]
    image: Any | None


class InventoryItemOut(BaseModel):
    id: int
    sku: str | None
    created_at: str
    updated_at: str
    requires_shipping: bool
    cost: str | None
    country_code_of_origin: str | None
    province_code_of_origin: str | None
    harmonized_system_code: str | None
    tracked: bool
    country_harmonized_system_codes: list[Any]
    admin_graphql_api_id: str


class ProductEnvelopeOut(BaseModel):
    product: ProductOut


class ProductsOut(BaseModel):
    products: list[ProductOut]


class VariantEnvelopeOut(BaseModel):
    variant: VariantOut


class VariantsOut(BaseModel):
    variants: list[VariantOut]


class InventoryItemEnvelopeOut(BaseModel):
    inventory_item: InventoryItemOut


class InventoryItemsOut(BaseModel):
    inventory_items: list[InventoryItemOut]


class Empty(BaseModel):
    """DELETE answers `{}`."""


# ---- a fulfillment order's fulfillments ---------------------------------------------------------
class FulfillmentOut(BaseModel):
    id: int
    order_id: int
    status: str = Field(description="success or cancelled")
    created_at: str
    service: str
    updated_at: str
    tracking_company: str | None
    shipment_status: str | None
    location_id: int
    origin_address: dict[str, Any]
    line_items: list[dict[str, Any]]
    tracking_number: str | None
    tracking_numbers: list[str]
    tracking_url: str | None
    tracking_urls: list[str]
    receipt: dict[str, Any]
    name: str
    admin_graphql_api_id: str


class FulfillmentsOut(BaseModel):
    fulfillments: list[FulfillmentOut]


def answers(model: type[BaseModel], *, created: bool = False) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route answering with `model` (200, or 201 for a creation)."""
    return {201 if created else 200: {"model": model}}


# ---- request bodies ------------------------------------------------------------------------------
# Shopify's clients send a resource back whole when they save it (shopify.Product.save() PUTs
# every key it read), so the keys Shopify itself computes are taken and ignored; any other
# unknown key is refused by name, as everywhere in the API.
class _ReadOnly(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: int | None = None
    admin_graphql_api_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class OptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Short
    values: list[Short] | None = None  # computed from the variants
    id: int | None = None
    product_id: int | None = None
    position: int | None = None


class VariantIn(_ReadOnly):
    title: Short | None = None
    sku: Short | None = None
    price: Amount | None = None
    compare_at_price: Amount | None = None
    barcode: Short | None = None
    option1: Short | None = None
    option2: Short | None = None
    option3: Short | None = None
    grams: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    weight: Annotated[Decimal, Field(ge=0, le=100_000)] | None = None
    weight_unit: Literal["g", "kg", "lb", "oz"] | None = None
    taxable: bool | None = None
    requires_shipping: bool | None = None
    inventory_management: Literal["shopify", "orderdeck"] | None = Field(
        default="shopify", description='"shopify" (or "orderdeck"): Orderdeck tracks stock; null: it does not'
    )
    inventory_policy: Literal["deny", "continue"] | None = None
    inventory_quantities: dict[str, Annotated[int, Field(ge=-1_000_000, le=1_000_000)]] | None = Field(
        default=None, description="On creation only: available stock by location id (an Orderdeck addition)"
    )
    # Computed by Shopify: accepted and ignored.
    product_id: int | None = None
    position: int | None = None
    inventory_item_id: int | None = None
    inventory_quantity: int | None = None
    old_inventory_quantity: int | None = None
    presentment_prices: list[Any] | None = None
    fulfillment_service: Short | None = None
    image_id: int | None = None


class ProductIn(_ReadOnly):
    title: Short | None = None
    body_html: Annotated[str, Field(max_length=65_000)] | None = None
    vendor: Short | None = None
    product_type: Short | None = None
    handle: Short | None = None
    status: Literal["active", "draft", "archived"] | None = None
    tags: Annotated[str, Field(max_length=5000)] | list[Short] | None = None
    options: Annotated[list[OptionIn | Short], Field(max_length=3)] | None = None
    variants: Annotated[list[VariantIn], Field(max_length=100)] | None = None
    published_at: str | None = None
    # Computed by Shopify, or kept by Shopify only: accepted and ignored.
    published_scope: Short | None = None
    template_suffix: Short | None = None
    images: list[Any] | None = None
    image: Any | None = None


class ProductBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product: ProductIn


class VariantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variant: VariantIn


class InventoryItemIn(_ReadOnly):
    sku: Short | None = None
    tracked: bool | None = None
    cost: Amount | None = None
    requires_shipping: bool | None = None
    country_code_of_origin: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    harmonized_system_code: Annotated[str, Field(min_length=6, max_length=13, pattern=r"^\d+$")] | None = None
    # Kept by Shopify only: accepted and ignored.
    province_code_of_origin: Short | None = None
    country_harmonized_system_codes: list[Any] | None = None


class InventoryItemBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inventory_item: InventoryItemIn
