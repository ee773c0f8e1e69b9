"""The API's answers as Pydantic models, for the OpenAPI document only (api/openapi.py).

The routes answer with JSON that resources/render.py and the route modules build by hand
(stored renderings are served as bytes), so nothing here is used to serialize. Each model lists
the keys the code renders, with their JSON types; a key the code may render as null is nullable.
Models allow further keys (``additionalProperties``): Orderdeck adds extension fields beside
Shopify's, and an older stored rendering or a newer client may carry more. The schemathesis
test (tests/api_fuzz) checks real answers against these models, so a key renamed or a type
changed in render.py without a change here fails CI.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .draft_orders_models import DRAFT_ORDER_MODELS
from .returns_models import RETURN_MODELS, Return

# ISO 8601 with the shop's offset, to the second ("2026-11-02T10:30:00+01:00").
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# A decimal amount as a string, to the currency's places ("14.50", "1200").
Amount = Annotated[str, Field(examples=["14.50"])]
Json = dict[str, Any]


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---- money -------------------------------------------------------------------------------------
class Money(Model):
    amount: Amount
    currency_code: str


class MoneyBag(Model):
    """An amount in the shop's currency and in the currency the customer paid in."""

    shop_money: Money
    presentment_money: Money


class UnsettledMoney(Model):
    amount: Amount
    currency: str


class UnsettledBag(Model):
    shop_money: UnsettledMoney
    presentment_money: UnsettledMoney


# ---- parts of an order -------------------------------------------------------------------------
class Address(Model):
    first_name: str | None
    address1: str | None
    phone: str | None
    city: str | None
    zip: str | None
    province: str | None
    country: str | None
    last_name: str | None
    address2: str | None
    company: str | None
    latitude: float | None
    longitude: float | None
    name: str | None
    country_code: str | None
    province_code: str | None


class TaxLine(Model):
    price: Amount
    rate: float
    title: str
    price_set: MoneyBag
    channel_liable: bool | None


class DiscountAllocation(Model):
    amount: Amount
    amount_set: MoneyBag
    discount_application_index: int


class NameValue(Model):
    name: str
    value: str


class LineItem(Model):
    id: int
    admin_graphql_api_id: str
    current_quantity: int
    fulfillable_quantity: int
    fulfillment_service: str
    fulfillment_status: str | None
    gift_card: bool
    grams: int
    name: str
    price: Amount
    price_set: MoneyBag
    product_exists: bool
    product_id: int | None
    properties: list[NameValue]
    quantity: int
    requires_shipping: bool
    sku: str | None
    taxable: bool
    title: str
    total_discount: Amount
    total_discount_set: MoneyBag
    variant_id: int | None
    variant_inventory_management: str | None
    variant_title: str | None
    vendor: str | None
    tax_lines: list[TaxLine]
    duties: list[Json]
    discount_allocations: list[DiscountAllocation]


class PaymentDetails(Model):
    credit_card_bin: str | None
    avs_result_code: str | None
    cvv_result_code: str | None
    credit_card_number: str | None
    credit_card_company: str | None
    buyer_action_info: Json | None
    credit_card_name: str | None
    credit_card_wallet: str | None
    credit_card_expiration_month: int | None
    credit_card_expiration_year: int | None
    payment_method_name: str | None


class Transaction(Model):
    id: int
    order_id: int
    kind: str = Field(description="authorization, capture, sale, void or refund")
    gateway: str
    status: str = Field(description="pending, success, failure or error")
    message: str | None
    created_at: Timestamp
    test: bool
    authorization: str | None
    location_id: int | None
    user_id: int | None
    parent_id: int | None
    processed_at: Timestamp | None
    device_id: int | None
    error_code: str | None
    source_name: str | None
    payment_details: PaymentDetails | None
    receipt: Json
    currency_exchange_adjustment: Json | None
    amount: Amount
    currency: str
    authorization_expires_at: Timestamp | None
    extended_authorization_attributes: Json
    payment_id: str
    total_unsettled_set: UnsettledBag
    manual_payment_gateway: bool
    admin_graphql_api_id: str


class FulfillmentEvent(Model):
    id: int
    fulfillment_id: int
    status: str
    message: str | None
    happened_at: Timestamp
    city: str | None
    province: str | None
    country: str | None
    zip: str | None
    address1: str | None
    latitude: float | None
    longitude: float | None
    shop_id: int
    created_at: Timestamp
    updated_at: Timestamp
    estimated_delivery_at: Timestamp | None
    order_id: int
    admin_graphql_api_id: str


class Fulfillment(Model):
    id: int
    order_id: int
    status: str = Field(description="success or cancelled")
    created_at: Timestamp
    service: str
    updated_at: Timestamp
    tracking_company: str | None
    shipment_status: str | None
    location_id: int
    origin_address: Json = Field(description="An address, or {} when none was given")
    line_items: list[LineItem]
    tracking_number: str | None
    tracking_numbers: list[str]
    tracking_url: str | None
    tracking_urls: list[str]
    receipt: Json
    name: str
    admin_graphql_api_id: str


class Destination(Model):
    id: int
    address1: str | None
    address2: str | None
    city: str | None
    company: str | None
    country: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    province: str | None
    zip: str | None


class FulfillmentOrderLineItem(Model):
    id: int
    shop_id: int
    fulfillment_order_id: int
    quantity: int
    line_item_id: int
    inventory_item_id: int | None
    fulfillable_quantity: int
    variant_id: int | None


class FulfillmentHold(Model):
    id: int
    reason: str
    reason_notes: str | None
    held_by: str | None
    held_at: Timestamp


class DeliveryMethod(Model):
    id: int
    method_type: str
    min_delivery_date_time: Timestamp | None
    max_delivery_date_time: Timestamp | None


class AssignedLocation(Model):
    address1: str | None
    address2: str | None
    city: str | None
    country_code: str | None
    location_id: int
    name: str | None
    phone: str | None
    province: str | None
    zip: str | None


class FulfillmentOrder(Model):
    id: int
    shop_id: int
    order_id: int
    assigned_location_id: int
    request_status: str
    status: str = Field(description="open, in_progress, scheduled, on_hold, incomplete, closed or cancelled")
    supported_actions: list[str]
    destination: Destination | None
    line_items: list[FulfillmentOrderLineItem]
    international_duties: Json | None
    fulfill_at: Timestamp | None
    fulfill_by: Timestamp | None
    fulfillment_holds: list[FulfillmentHold]
    created_at: Timestamp
    updated_at: Timestamp
    delivery_method: DeliveryMethod
    assigned_location: AssignedLocation
    merchant_requests: list[Json]


class RefundLineItem(Model):
    location_id: int | None
    restock_type: str = Field(description="no_restock, cancel or return")
    quantity: int
    id: int
    line_item_id: int
    subtotal: float
    total_tax: float
    subtotal_set: MoneyBag
    total_tax_set: MoneyBag
    line_item: LineItem | None


class OrderAdjustment(Model):
    id: int
    order_id: int
    refund_id: int
    amount: Amount
    amount_set: MoneyBag
    tax_amount: Amount
    tax_amount_set: MoneyBag
    kind: str = Field(description="shipping_refund or refund_discrepancy")
    reason: str | None


class Refund(Model):
    id: int
    order_id: int
    created_at: Timestamp
    note: str | None
    user_id: int | None
    processed_at: Timestamp
    restock: bool
    duties: list[Json]
    total_duties_set: MoneyBag
    additional_fees: list[Json]
    total_additional_fees_set: MoneyBag
    return_: Json | None = Field(alias="return")
    admin_graphql_api_id: str
    refund_line_items: list[RefundLineItem]
    transactions: list[Transaction]
    order_adjustments: list[OrderAdjustment]


class RefundShipping(Model):
    amount: Amount
    tax: Amount
    maximum_refundable: Amount


class CalculatedRefundLineItem(Model):
    quantity: int
    line_item_id: int
    location_id: int | None
    restock_type: str
    price: Amount
    subtotal: Amount
    total_tax: Amount
    discounted_price: Amount
    discounted_total_price: Amount
    total_cart_discount_amount: Amount


class SuggestedTransaction(Model):
    order_id: int
    kind: str = Field(description="suggested_refund")
    gateway: str
    parent_id: int
    amount: Amount
    currency: str
    maximum_refundable: Amount


class RefundCalculation(Model):
    """What a refund would be; it can be posted back to refunds.json as it came."""

    shipping: RefundShipping
    duties: list[Json]
    total_duties_set: MoneyBag
    additional_fees: list[Json]
    total_additional_fees_set: MoneyBag
    return_: Json | None = Field(alias="return")
    refund_line_items: list[CalculatedRefundLineItem]
    transactions: list[SuggestedTransaction]
    currency: str


class ClientDetails(Model):
    accept_language: str | None
    browser_height: int | None
    browser_ip: str | None
    browser_width: int | None
    session_hash: str | None
    user_agent: str | None


class CustomStatusMark(Model):
    """Orderdeck's: the merchant's stage for the order, with its notes (the private one for staff)."""

    handle: str
    set_at: Timestamp
    due_at: Timestamp | None
    public_note: str | None
    private_note: str | None


class StuckFlag(Model):
    """Orderdeck's: why an order is stuck (a fulfillment request, or unfulfilled too long), since
    when, and what to do next."""

    reason: str = Field(
        description="notification_unacknowledged, request_not_accepted, request_rejected, accepted_not_shipped, "
        "closed_incomplete, cancellation_unanswered, cancellation_rejected or unfulfilled_too_long"
    )
    label: str
    since: Timestamp = Field(description="When the cause began: the request's own time")
    flagged_at: Timestamp
    fulfillment_order_id: int | None
    service: str | None = Field(description="The fulfillment service's name")
    service_reason: str | None = Field(description="The service's reason code (a rejection's)")
    message: str | None = Field(description="The service's message")
    next_step: str


class DiscountCode(Model):
    code: str
    amount: Amount
    type: str


class MarketingConsent(Model):
    state: str
    opt_in_level: str | None
    consent_updated_at: Timestamp | None


class OrderCustomer(Model):
    id: int
    email: str | None
    created_at: Timestamp | None
    updated_at: Timestamp | None
    email_marketing_consent: MarketingConsent
    sms_marketing_consent: Json | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    state: str
    note: str | None
    verified_email: bool
    multipass_identifier: str | None
    tax_exempt: bool
    tags: str
    currency: str
    tax_exemptions: list[str]
    admin_graphql_api_id: str
    default_address: Json | None


class DiscountApplication(Model):
    """`code` for discount codes; `title` and `description` for manual discounts."""

    target_type: str
    type: str
    value: str
    value_type: str
    allocation_method: str
    target_selection: str


class ShippingLine(Model):
    id: int
    carrier_identifier: str | None
    code: str
    discounted_price: Amount
    discounted_price_set: MoneyBag
    phone: str | None
    price: Amount
    price_set: MoneyBag
    requested_fulfillment_service_id: str | None
    source: str
    title: str
    tax_lines: list[TaxLine]
    discount_allocations: list[DiscountAllocation]


class Order(Model):
    """An order in Shopify's REST shape, with Orderdeck's own keys: `custom_status`,
    `display_financial_status`, `display_fulfillment_status`, `return_status`, `shipping_refunded`."""

    id: int
    admin_graphql_api_id: str
    app_id: int | None
    browser_ip: str | None
    buyer_accepts_marketing: bool
    cancel_reason: str | None
    cancelled_at: Timestamp | None
    cart_token: str | None
    checkout_id: int | None
    checkout_token: str | None
    client_details: ClientDetails
    closed_at: Timestamp | None
    company: Json | None
    confirmation_number: str | None
    confirmed: bool
    contact_email: str | None
    created_at: Timestamp
    currency: str
    current_subtotal_price: Amount
    current_subtotal_price_set: MoneyBag
    current_total_additional_fees_set: MoneyBag | None
    current_total_discounts: Amount
    current_total_discounts_set: MoneyBag
    current_total_duties_set: MoneyBag | None
    current_total_price: Amount
    current_total_price_set: MoneyBag
    current_total_tax: Amount
    current_total_tax_set: MoneyBag
    customer_locale: str | None
    custom_status: CustomStatusMark | None
    device_id: int | None
    discount_codes: list[DiscountCode]
    email: str | None
    estimated_taxes: bool
    financial_status: str | None
    fulfillment_status: str | None
    landing_site: str | None
    landing_site_ref: str | None
    location_id: int | None
    merchant_business_entity_id: str | None
    merchant_of_record_app_id: int | None
    name: str
    note: str | None
    note_attributes: list[NameValue]
    number: int
    order_number: int
    order_status_url: str
    original_total_additional_fees_set: MoneyBag | None
    original_total_duties_set: MoneyBag | None
    payment_gateway_names: list[str]
    phone: str | None
    po_number: str | None
    presentment_currency: str
    processed_at: Timestamp
    reference: str | None
    referring_site: str | None
    source_identifier: str | None
    source_name: str
    source_url: str | None
    subtotal_price: Amount
    subtotal_price_set: MoneyBag
    tags: str
    tax_exempt: bool
    tax_lines: list[TaxLine]
    taxes_included: bool
    test: bool
    token: str
    total_discounts: Amount
    total_discounts_set: MoneyBag
    total_line_items_price: Amount
    total_line_items_price_set: MoneyBag
    total_outstanding: Amount
    total_price: Amount
    total_price_set: MoneyBag
    total_shipping_price_set: MoneyBag
    total_tax: Amount
    total_tax_set: MoneyBag
    total_tip_received: Amount
    total_weight: int
    updated_at: Timestamp
    user_id: int | None
    billing_address: Address | None
    customer: OrderCustomer | None
    discount_applications: list[DiscountApplication]
    fulfillments: list[Fulfillment]
    line_items: list[LineItem]
    payment_terms: Json | None
    refunds: list[Refund]
    returns: list[Return] = Field(
        default_factory=list, description="Orderdeck extension: the order's returns, oldest first"
    )
    shipping_address: Address | None
    shipping_lines: list[ShippingLine]
    display_financial_status: str | None
    display_fulfillment_status: str | None
    return_status: str | None = Field(
        description="Orderdeck extension (Shopify's Order.returnStatus): return_requested, in_progress, "
        "inspection_complete, returned, return_failed or no_return"
    )
    shipping_refunded: Amount
    stuck: list[StuckFlag] = Field(description="Orderdeck extension: what the order is stuck on (empty: nothing)")


# ---- Orderdeck's other resources ---------------------------------------------------------------
class Event(Model):
    """A timeline entry of an order, in the shape of Shopify's events.json."""

    id: int
    subject_id: int
    created_at: Timestamp
    updated_at: Timestamp | None
    subject_type: str
    verb: str
    arguments: list[Any] = Field(description="The event's values as JSON, in order")
    body: str | None
    message: str
    author: str
    author_type: str
    description: str
    path: str
    is_comment: bool
    subject_record_id: int | None


class Location(Model):
    id: int
    name: str
    address1: str | None
    address2: str | None
    city: str | None
    zip: str | None
    province: str | None
    country: str | None
    phone: str | None
    created_at: Timestamp
    updated_at: Timestamp
    country_code: str | None
    country_name: str | None
    province_code: str | None
    legacy: bool
    active: bool
    priority: int
    admin_graphql_api_id: str
    localized_country_name: str | None
    localized_province_name: str | None


class LocationForMove(Model):
    location: Json
    message: str
    movable: bool


class InventoryLevel(Model):
    inventory_item_id: int
    location_id: int
    available: int
    committed: int
    on_hand: int
    updated_at: Timestamp | None
    admin_graphql_api_id: str


class ShopSettings(Model):
    capture_mode: str
    authorization_period_days: int
    auto_archive: bool
    auto_fulfill_channels: list[str]
    order_name_prefix: str
    stuck_after_days: int
    auto_request_fulfillment: str = Field(
        description="When fulfillment is requested from fulfillment services by itself: off, on_payment "
        "or on_authorization"
    )
    request_accept_hours: int = Field(description="A fulfillment request not accepted this long is stuck (0: never)")
    request_acknowledge_hours: int = Field(description="A notification the service never acknowledged (0: never)")
    cancellation_answer_hours: int = Field(description="A cancellation request unanswered this long (0: never)")
    request_ship_days: int = Field(description="A request accepted with nothing shipped this long (0: never)")
    staff_email: str | None
    smtp_url: str | None = Field(description="The shop's mail server, its password hidden")
    retention_days: int
    self_service: bool
    self_service_window_minutes: int
    self_service_reasons: list[str]
    shipment_updates: list[str] = Field(
        description="The carrier's shipment statuses customers are e-mailed about (out_for_delivery, delivered, "
        "ready_for_pickup, attempted_delivery, failure)"
    )
    returns_enabled: bool
    return_window_days: int
    return_window_from: str = Field(description="delivery or fulfillment")
    final_sale_tags: list[str]
    returns_allow_exchanges: bool
    return_requests_need_approval: bool
    return_shipping_fee: str = Field(description="An amount in the shop's currency")
    restocking_fee_percentage: float
    return_instructions: str
    order_edit_hours: int = Field(description="How long an order edit stays open before it expires (1-720)")
    customer_edits: bool = Field(description="Customers may edit unfulfilled items from their status page")
    customer_edits_may_raise_total: bool = Field(description="A customer's edit may leave something to pay")
    payment_instructions: str = Field(description="How customers pay what is left (payment requests, status page)")
    shipstation_username: str = Field(description="ShipStation's Custom Store username; empty: the endpoint is off")
    shipstation_password_set: bool = Field(description="Whether ShipStation's password is set (it is never shown)")


class Shop(Model):
    id: int
    name: str
    domain: str
    email: str | None
    currency: str
    iana_timezone: str
    primary_locale: str
    settings: ShopSettings | None = Field(
        default=None, description="Only for a token with read_settings (left out otherwise, never null)"
    )


class Webhook(Model):
    """A subscription, with Orderdeck's own `enabled`, `disabled_at`, `disabled_reason` and
    `consecutive_failures`."""

    id: int
    address: str
    topic: str
    created_at: Timestamp
    updated_at: Timestamp
    format: str
    fields: list[str]
    metafield_namespaces: list[str]
    api_version: str
    private_metafield_namespaces: list[str]
    enabled: bool
    disabled_at: Timestamp | None
    disabled_reason: str | None
    consecutive_failures: int


class DeliveryAttempt(Model):
    attempted_at: Timestamp
    result: str
    response_status: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str | None
    worker: str


class Delivery(Model):
    id: str
    webhook_id: int
    event_id: str
    topic: str
    order_id: int | None
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    triggered_at: Timestamp
    created_at: Timestamp
    next_attempt_at: Timestamp | None
    delivered_at: Timestamp | None
    last_status: int | None
    last_error: str | None
    body: str = Field(description="The payload as it is sent")
    attempt_log: list[DeliveryAttempt]


class CustomStatus(Model):
    id: int
    handle: str
    names: dict[str, str] = Field(description="The stage's name by locale")
    color: str
    position: int
    customer_visible: bool
    notify: bool
    created_at: Timestamp
    updated_at: Timestamp


class AutomationRule(Model):
    """The rule as it was sent (name, enabled, when, if, then, …) with its id and times."""

    id: int
    name: str
    enabled: bool
    created_at: Timestamp
    updated_at: Timestamp


class RuleRun(Model):
    id: str
    rule_id: int
    order_id: int
    trigger: str
    depth: int
    state: str
    next_step: int
    due_at: Timestamp | None
    created_at: Timestamp
    finished_at: Timestamp | None
    error: str | None
    log: list[Json]


class MatchedOrder(Model):
    id: int
    name: str


class DryRun(Model):
    scanned: int
    matched: int
    orders: list[MatchedOrder] = Field(description="The newest 250 matches")


class TemplateSummary(Model):
    name: str
    locale: str
    customized: list[str]


class NotificationTemplate(Model):
    name: str
    locale: str
    subject: str
    html: str
    text: str
    sms: str
    customized: list[str] = Field(description="The parts that are the shop's own")


class RenderedTemplate(Model):
    subject: str
    html: str
    text: str
    sms: str


class RenderedMessage(Model):
    subject: str
    body: str


class Refusal(Model):
    id: int
    error: str


class BulkResult(Model):
    succeeded: list[int]
    refused: list[Refusal]


# ---- errors -----------------------------------------------------------------------------------
ErrorDetail = Annotated[
    str | dict[str, str | list[str]],
    Field(
        description='A message ("Not Found"), or messages by field ({"line_items[0].quantity": ["must be at '
        'least 1"]}); "base" names the request as a whole.'
    ),
]


class Error(BaseModel):
    """Every refusal: `{"errors": …}` with a 4xx status that says what kind it is."""

    model_config = ConfigDict(extra="forbid")
    errors: ErrorDetail


RESOURCE_MODELS: tuple[type[BaseModel], ...] = (
    Order,
    Transaction,
    Refund,
    RefundCalculation,
    FulfillmentOrder,
    Fulfillment,
    FulfillmentEvent,
    Event,
    Location,
    LocationForMove,
    InventoryLevel,
    Shop,
    ShopSettings,
    Webhook,
    Delivery,
    CustomStatus,
    AutomationRule,
    RuleRun,
    DryRun,
    TemplateSummary,
    NotificationTemplate,
    RenderedTemplate,
    RenderedMessage,
    BulkResult,
    Error,
    *RETURN_MODELS,
    *DRAFT_ORDER_MODELS,
)
