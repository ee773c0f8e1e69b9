"""Response shapes of the catalogue routes (products, variants, inventory items) and of a
fulfillment order's fulfillments, for the OpenAPI document. The routes answer with orjson
directly; these models describe that answer, key for key, in Shopify's 2024-10 wire format."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
