"""Request bodies and the answer shape of the fulfillment services API (Shopify REST 2024-10
`FulfillmentService`). The bodies refuse unknown keys by name and take booleans only as JSON
booleans; services/ and domain/fulfillment_services.py check the rest (blank or taken names,
callback URLs). The answer model describes services.fulfillment_services.render, for the
OpenAPI document only."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from .schemas import Email, Short, Strict

Url = Annotated[str, Field(max_length=2000)]


class FulfillmentServiceIn(Strict):
    name: Short | None = None  # blank names: domain.fulfillment_services
    email: Email | None = None
    callback_url: Url | None = None
    inventory_management: StrictBool | None = None
    tracking_support: StrictBool | None = None
    fulfillment_orders_opt_in: StrictBool | None = None
    permits_sku_sharing: StrictBool | None = None
    requires_shipping_method: StrictBool | None = None
    format: Literal["json"] | None = None
    include_pending_stock: StrictBool | None = None
    # Orderdeck's extension: off, on_payment or on_authorization; null follows the shop's
    # auto_request_fulfillment (services/fulfillment_services.py checks the value).
    auto_request: Short | None = None


class FulfillmentServiceEnvelope(Strict):
    fulfillment_service: FulfillmentServiceIn


class FulfillmentServiceUpdateIn(FulfillmentServiceIn):
    """Shopify's clients save a service by sending back what GET gave, read-only keys and all:
    those keys are ignored (the handle and location stay; move stock through the location)."""

    id: int | None = None
    handle: str | None = None
    service_name: str | None = None
    location_id: int | None = None
    admin_graphql_api_id: str | None = None
    provider_id: int | str | None = None


class FulfillmentServiceUpdateEnvelope(Strict):
    fulfillment_service: FulfillmentServiceUpdateIn


# ---- answers (OpenAPI only) ----------------------------------------------------------------------
class FulfillmentService(BaseModel):
    model_config = ConfigDict(title="FulfillmentService")
    id: int
    name: str
    email: str | None
    service_name: str = Field(description="The name again (Shopify's fixtures mirror it)")
    handle: str = Field(description="Made from the name when the service is created; unique; kept on a rename")
    fulfillment_orders_opt_in: bool = Field(description="Always true in 2024-10")
    include_pending_stock: bool
    provider_id: None
    location_id: int = Field(description="The service's own location, created with it")
    callback_url: str
    tracking_support: bool
    inventory_management: bool
    admin_graphql_api_id: str
    permits_sku_sharing: bool
    requires_shipping_method: bool
    format: Literal["json"]
    auto_request: Literal["off", "on_payment", "on_authorization"] | None = Field(
        description="Orderdeck extension: when fulfillment is requested from the service by itself "
        "(null follows the shop's auto_request_fulfillment)"
    )


FULFILLMENT_SERVICE_MODELS: tuple[type[BaseModel], ...] = (FulfillmentService,)
