"""Rendering records into Shopify's wire format (see the package docstring)."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision

from ..domain import stuck
from ..domain.fulfillment import supported_actions
from ..domain.order import (
    Address,
    DiscountAllocation,
    Fulfillment,
    FulfillmentEvent,
    FulfillmentOrder,
    LineItem,
    Order,
    Refund,
    Return,
    ReverseDelivery,
    ReverseFulfillmentOrder,
    StuckFlag,
    TaxLine,
    Transaction,
)
from ..domain.refunds import RefundCalculation, shipping_refunded
from ..domain.returns import (
    ReturnCalculation,
    exchange_fulfillment_orders,
    fees_of,
    line_worth,
    restocking_fee_amount,
    returnable_quantities,
)
from ..domain.statuses import (
    capturable_amount,
    derive_statuses,
    line_fulfillment_status,
    rest_financial_status,
    total_outstanding,
)

Json = dict[str, Any]

# Raised whenever the order's JSON changes shape (2: the order carries its `returns`), so renderings
# stored before are made afresh when read (and by `orderdeck rerender`).
RENDERING_SHAPE = 3


@dataclass(frozen=True)
class RenderContext:
    timezone: str = "UTC"
    public_url: str = "http://localhost:8000"
    shop_id: int = 1

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def fingerprint(self) -> str:
        """Names these settings and the shape of the answers, so a stored rendering made with
        other settings, or before the answers changed shape, is not reused."""
        key = f"{RENDERING_SHAPE}|{self.timezone}|{self.public_url}|{self.shop_id}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def ts(value: datetime | None, ctx: RenderContext) -> str | None:
    if value is None:
        return None
    return value.astimezone(ctx.zone).isoformat(timespec="seconds")


@cache
def _places(currency: str) -> int:
    return int(get_currency_precision(currency))


def amount(value: Decimal, currency: str) -> str:
    return f"{value:.{_places(currency)}f}"


def gid(kind: str, record_id: int) -> str:
    return f"gid://shopify/{kind}/{record_id}"


def bag(order: Order, shop_value: Decimal) -> Json:
    return {
        "shop_money": {"amount": amount(shop_value, order.currency), "currency_code": order.currency},
        "presentment_money": {
            "amount": amount(order.presentment(shop_value), order.presentment_currency),
            "currency_code": order.presentment_currency,
        },
    }


def bag_from_presentment(order: Order, presentment_value: Decimal) -> Json:
    return {
        "shop_money": {
            "amount": amount(order.shop_amount(presentment_value), order.currency),
            "currency_code": order.currency,
        },
        "presentment_money": {
            "amount": amount(presentment_value, order.presentment_currency),
            "currency_code": order.presentment_currency,
        },
    }


def address(value: Address | None) -> Json | None:
    if value is None:
        return None
    return {
        "first_name": value.first_name,
        "address1": value.address1,
        "phone": value.phone,
        "city": value.city,
        "zip": value.zip,
        "province": value.province,
        "country": value.country,
        "last_name": value.last_name,
        "address2": value.address2,
        "company": value.company,
        "latitude": value.latitude,
        "longitude": value.longitude,
        "name": value.name or None,
        "country_code": value.country_code,
        "province_code": value.province_code,
    }


def tax_line(order: Order, line: TaxLine) -> Json:
    return {
        "price": amount(line.price, order.currency),
        "rate": float(line.rate),
        "title": line.title,
        "price_set": bag(order, line.price),
        "channel_liable": None,
    }


def allocation(order: Order, a: DiscountAllocation) -> Json:
    return {
        "amount": amount(a.amount, order.currency),
        "amount_set": bag(order, a.amount),
        "discount_application_index": a.discount_application_index,
    }


def line_item(order: Order, li: LineItem) -> Json:
    return {
        "id": li.id,
        "admin_graphql_api_id": gid("LineItem", li.id),
        "current_quantity": order.current_quantity(li),
        "fulfillable_quantity": order.fulfillable_quantity(li.id),
        "fulfillment_service": "manual",
        "fulfillment_status": line_fulfillment_status(order, li.id),
        "gift_card": li.gift_card,
        "grams": li.grams,
        "name": li.name,
        "price": amount(li.price, order.currency),
        "price_set": bag(order, li.price),
        "product_exists": li.product_id is not None,
        "product_id": li.product_id,
        "properties": [{"name": p.name, "value": p.value} for p in li.properties],
        "quantity": li.ordered_quantity,
        "requires_shipping": li.requires_shipping,
        "sku": li.sku,
        "taxable": li.taxable,
        "title": li.title,
        "total_discount": amount(li.total_discount, order.currency),
        "total_discount_set": bag(order, li.total_discount),
        "variant_id": li.variant_id,
        "variant_inventory_management": "shopify" if li.inventory_item_id else None,
        "variant_title": li.variant_title,
        "vendor": li.vendor,
        "tax_lines": [tax_line(order, t) for t in li.tax_lines],
        "duties": [],
        "discount_allocations": [allocation(order, a) for a in li.discount_allocations],
    }


def transaction(order: Order, t: Transaction, ctx: RenderContext) -> Json:
    unsettled = capturable_amount(order, t) if t.kind == "authorization" else Decimal(0)
    return {
        "id": t.id,
        "order_id": order.id,
        "kind": t.kind,
        "gateway": t.gateway,
        "status": t.status,
        "message": t.message,
        "created_at": ts(t.created_at, ctx),
        "test": t.test,
        "authorization": t.authorization,
        "location_id": order.location_id,
        "user_id": None,
        "parent_id": t.parent_id,
        "processed_at": ts(t.processed_at, ctx),
        "device_id": None,
        "error_code": t.error_code,
        "source_name": t.source_name,
        "payment_details": {
            "credit_card_bin": None,
            "avs_result_code": None,
            "cvv_result_code": None,
            "credit_card_number": t.credit_card_number,
            "credit_card_company": t.credit_card_company,
            "buyer_action_info": None,
            "credit_card_name": None,
            "credit_card_wallet": None,
            "credit_card_expiration_month": None,
            "credit_card_expiration_year": None,
            "payment_method_name": t.credit_card_company.lower() if t.credit_card_company else t.gateway,
        }
        if t.credit_card_number
        else None,
        "receipt": t.receipt,
        "currency_exchange_adjustment": None,
        "amount": amount(t.amount, t.currency),
        "currency": t.currency,
        "authorization_expires_at": ts(t.authorization_expires_at, ctx),
        "extended_authorization_attributes": {},
        "payment_id": f"{order.name}.{order.transactions.index(t) + 1}",
        "total_unsettled_set": {
            "presentment_money": {"amount": amount(unsettled, t.currency), "currency": t.currency},
            "shop_money": {"amount": amount(order.shop_amount(unsettled), order.currency), "currency": order.currency},
        },
        "manual_payment_gateway": t.manual_payment_gateway,
        "admin_graphql_api_id": gid("OrderTransaction", t.id),
    }


def fulfillment_event(order: Order, fulfillment: Fulfillment, e: FulfillmentEvent, ctx: RenderContext) -> Json:
    return {
        "id": e.id,
        "fulfillment_id": fulfillment.id,
        "status": e.status,
        "message": e.message,
        "happened_at": ts(e.happened_at, ctx),
        "city": e.city,
        "province": e.province,
        "country": e.country,
        "zip": e.zip,
        "address1": e.address1,
        "latitude": e.latitude,
        "longitude": e.longitude,
        "shop_id": ctx.shop_id,
        "created_at": ts(e.created_at, ctx),
        "updated_at": ts(e.created_at, ctx),
        "estimated_delivery_at": ts(e.estimated_delivery_at, ctx),
        "order_id": order.id,
        "admin_graphql_api_id": gid("FulfillmentEvent", e.id),
    }


def fulfillment(order: Order, f: Fulfillment, ctx: RenderContext) -> Json:
    lines = []
    for fl in f.line_items:
        li = order.line_item(fl.line_item_id)
        if li is not None:
            rendered = line_item(order, li)
            rendered["quantity"] = fl.quantity
            lines.append(rendered)
    return {
        "id": f.id,
        "order_id": order.id,
        "status": f.status,
        "created_at": ts(f.created_at, ctx),
        "service": f.service,
        "updated_at": ts(f.updated_at, ctx),
        "tracking_company": f.tracking_company,
        "shipment_status": f.shipment_status,
        "location_id": f.location_id,
        "origin_address": address(f.origin_address) or {},
        "line_items": lines,
        "tracking_number": f.tracking_numbers[0] if f.tracking_numbers else None,
        "tracking_numbers": list(f.tracking_numbers),
        "tracking_url": f.tracking_urls[0] if f.tracking_urls else None,
        "tracking_urls": list(f.tracking_urls),
        "receipt": {},
        "name": f.name,
        "admin_graphql_api_id": gid("Fulfillment", f.id),
    }


def fulfillment_order(
    order: Order,
    fo: FulfillmentOrder,
    ctx: RenderContext,
    location_names: dict[int, str] | None = None,
    service_locations: Collection[int] = (),
) -> Json:
    """`service_locations`: the locations of fulfillment services, where the merchant requests
    fulfillment instead of creating one (supported_actions)."""
    dest = order.shipping_address
    at_service = fo.assigned_location_id in service_locations
    return {
        "id": fo.id,
        "shop_id": ctx.shop_id,
        "order_id": order.id,
        "assigned_location_id": fo.assigned_location_id,
        "request_status": fo.request_status,
        "status": fo.status,
        "supported_actions": supported_actions(fo, at_service=at_service) if not order.is_cancelled else [],
        "destination": None
        if dest is None
        else {
            "id": fo.id,
            "address1": dest.address1,
            "address2": dest.address2,
            "city": dest.city,
            "company": dest.company,
            "country": dest.country,
            "email": order.email,
            "first_name": dest.first_name,
            "last_name": dest.last_name,
            "phone": dest.phone,
            "province": dest.province,
            "zip": dest.zip,
        },
        "line_items": [
            {
                "id": li.id,
                "shop_id": ctx.shop_id,
                "fulfillment_order_id": fo.id,
                "quantity": li.quantity,
                "line_item_id": li.line_item_id,
                "inventory_item_id": li.inventory_item_id,
                "fulfillable_quantity": li.fulfillable_quantity,
                "variant_id": li.variant_id,
            }
            for li in fo.line_items
        ],
        "international_duties": None,
        "fulfill_at": ts(fo.fulfill_at, ctx),
        "fulfill_by": ts(fo.fulfill_by, ctx),
        "fulfillment_holds": [
            {
                "id": h.id,
                "reason": h.reason,
                "reason_notes": h.reason_notes,
                "held_by": h.author.name if h.author else None,
                "held_at": ts(h.held_at, ctx),
            }
            for h in fo.fulfillment_holds
        ],
        "created_at": ts(fo.created_at, ctx),
        "updated_at": ts(fo.updated_at, ctx),
        "delivery_method": {
            "id": fo.id,
            "method_type": "shipping" if order.shipping_lines else "none",
            "min_delivery_date_time": None,
            "max_delivery_date_time": None,
        },
        "assigned_location": {
            "address1": None,
            "address2": None,
            "city": None,
            "country_code": None,
            "location_id": fo.assigned_location_id,
            "name": (location_names or {}).get(fo.assigned_location_id),
            "phone": None,
            "province": None,
            "zip": None,
        },
        "merchant_requests": [
            {
                "message": r.message,
                "request_options": r.request_options,
                "kind": r.kind,
                "sent_at": ts(r.sent_at, ctx),
            }
            for r in fo.merchant_requests
        ],
    }


def refund(order: Order, r: Refund, ctx: RenderContext) -> Json:
    zero = Decimal(0)
    lines = []
    for rli in r.refund_line_items:
        li = order.line_item(rli.line_item_id)
        lines.append(
            {
                "location_id": rli.location_id,
                "restock_type": rli.restock_type,
                "quantity": rli.quantity,
                "id": rli.id,
                "line_item_id": rli.line_item_id,
                "subtotal": float(rli.subtotal),
                "total_tax": float(rli.total_tax),
                "subtotal_set": bag(order, rli.subtotal),
                "total_tax_set": bag(order, rli.total_tax),
                "line_item": line_item(order, li) if li else None,
            }
        )
    return {
        "id": r.id,
        "order_id": order.id,
        "created_at": ts(r.created_at, ctx),
        "note": r.note,
        "user_id": None,
        "processed_at": ts(r.created_at, ctx),
        "restock": any(rl.restock_type != "no_restock" for rl in r.refund_line_items),
        "duties": [],
        "total_duties_set": bag(order, zero),
        "additional_fees": [],
        "total_additional_fees_set": bag(order, zero),
        "return": {"id": r.return_id, "admin_graphql_api_id": gid("Return", r.return_id)} if r.return_id else None,
        "admin_graphql_api_id": gid("Refund", r.id),
        "refund_line_items": lines,
        "transactions": [transaction(order, t, ctx) for t in order.transactions if t.id in r.transaction_ids],
        "order_adjustments": [
            {
                "id": a.id,
                "order_id": order.id,
                "refund_id": r.id,
                "amount": amount(-a.amount, order.currency),
                "amount_set": bag(order, -a.amount),
                "tax_amount": amount(-a.tax_amount, order.currency),
                "tax_amount_set": bag(order, -a.tax_amount),
                "kind": a.kind,
                "reason": a.reason,
            }
            for a in r.order_adjustments
        ],
    }


def refund_calculation(
    order: Order,
    calc: RefundCalculation,
    suggested: list[tuple[Transaction, Decimal]],
    owed: Decimal | None = None,
) -> Json:
    """Shopify's calculate answer. `owed` (presentment): money the shop owes the customer with
    nothing to refund item by item (an order edit took items off), suggested when the request
    names no items and no shipping."""
    zero = Decimal(0)
    return {
        "shipping": {
            "amount": amount(calc.shipping_amount, order.currency),
            "tax": amount(calc.shipping_tax, order.currency),
            "maximum_refundable": amount(calc.shipping_maximum, order.currency),
        },
        "duties": [],
        "total_duties_set": bag(order, zero),
        "additional_fees": [],
        "total_additional_fees_set": bag(order, zero),
        "return": None,
        "refund_line_items": [
            {
                "quantity": p.request.quantity,
                "line_item_id": p.line.id,
                "location_id": p.request.location_id,
                "restock_type": p.request.restock_type,
                "price": amount(p.line.price, order.currency),
                "subtotal": amount(p.subtotal, order.currency),
                "total_tax": amount(p.total_tax, order.currency),
                "discounted_price": amount(p.line.price - p.line.total_discount / p.line.quantity, order.currency),
                "discounted_total_price": amount(p.line.price * p.request.quantity, order.currency),
                "total_cart_discount_amount": amount(zero, order.currency),
            }
            for p in calc.lines
        ],
        "transactions": [
            {
                "order_id": order.id,
                "kind": "suggested_refund",
                "gateway": parent.gateway,
                "parent_id": parent.id,
                "amount": amount(value, order.presentment_currency),
                "currency": order.presentment_currency,
                "maximum_refundable": amount(left, order.presentment_currency),
            }
            for parent, value, left in _suggestions(
                suggested, owed if owed is not None else order.presentment(calc.total)
            )
        ],
        "currency": order.presentment_currency,
    }


def _suggestions(
    parents: list[tuple[Transaction, Decimal]], total: Decimal
) -> list[tuple[Transaction, Decimal, Decimal]]:
    result = []
    for parent, left in parents:
        if total <= 0:
            break
        take = min(total, left)
        result.append((parent, take, left))
        total -= take
    return result


def order(o: Order, ctx: RenderContext, *, location_names: dict[int, str] | None = None) -> Json:
    # Each total walks every line; work each out once.
    subtotal, total_tax, total_price = o.subtotal_price, o.total_tax, o.total_price
    total_discounts, line_items_price = o.total_discounts, o.total_line_items_price
    shipping_price, current_total = o.total_shipping_price, o.current_total_price
    s = derive_statuses(o)
    cur = o.currency
    current_subtotal = (
        max(
            Decimal(0),
            subtotal - sum((rli.subtotal for r in o.refunds for rli in r.refund_line_items), Decimal(0)),
        )
        if not o.is_cancelled
        else Decimal(0)
    )
    current_tax = (
        max(Decimal(0), total_tax - sum((rli.total_tax for r in o.refunds for rli in r.refund_line_items), Decimal(0)))
        if not o.is_cancelled
        else Decimal(0)
    )
    current_discounts = total_discounts if not o.is_cancelled else Decimal(0)
    outstanding = total_outstanding(o)
    customer = o.customer
    return {
        "id": o.id,
        "admin_graphql_api_id": gid("Order", o.id),
        "app_id": None,
        "browser_ip": None,
        "buyer_accepts_marketing": o.buyer_accepts_marketing,
        "cancel_reason": o.cancel_reason,
        "cancelled_at": ts(o.cancelled_at, ctx),
        "cart_token": None,
        "checkout_id": None,
        "checkout_token": None,
        "client_details": {
            "accept_language": None,
            "browser_height": None,
            "browser_ip": None,
            "browser_width": None,
            "session_hash": None,
            "user_agent": None,
        },
        "closed_at": ts(o.closed_at, ctx),
        "company": None,
        "confirmation_number": o.token[:9].upper() if o.token else None,
        "confirmed": True,
        "contact_email": o.email,
        "created_at": ts(o.created_at, ctx),
        "currency": cur,
        "current_subtotal_price": amount(current_subtotal, cur),
        "current_subtotal_price_set": bag(o, current_subtotal),
        "current_total_additional_fees_set": None,
        "current_total_discounts": amount(current_discounts, cur),
        "current_total_discounts_set": bag(o, current_discounts),
        "current_total_duties_set": None,
        "current_total_price": amount(current_total, cur),
        "current_total_price_set": bag(o, current_total),
        "current_total_tax": amount(current_tax, cur),
        "current_total_tax_set": bag(o, current_tax),
        "customer_locale": o.customer_locale,
        # Orderdeck's own: the merchant's stage, with its notes (the private one for staff).
        "custom_status": None
        if o.custom_status is None
        else {
            "handle": o.custom_status.handle,
            "set_at": ts(o.custom_status.set_at, ctx),
            "due_at": ts(o.custom_status.due_at, ctx),
            "public_note": o.custom_status.public_note,
            "private_note": o.custom_status.private_note,
        },
        "device_id": None,
        "discount_codes": [{"code": d.code, "amount": amount(d.amount, cur), "type": d.type} for d in o.discount_codes],
        "email": o.email,
        "estimated_taxes": False,
        "financial_status": rest_financial_status(s.financial_status),
        "fulfillment_status": s.fulfillment_status,
        "landing_site": None,
        "landing_site_ref": None,
        "location_id": o.location_id,
        "merchant_business_entity_id": None,
        "merchant_of_record_app_id": None,
        "name": o.name,
        "note": o.note,
        "note_attributes": [{"name": a.name, "value": a.value} for a in o.note_attributes],
        "number": o.number - 1000 if o.number > 1000 else o.number,
        "order_number": o.number,
        "order_status_url": f"{ctx.public_url.rstrip('/')}/orders/status/{o.token}",
        "original_total_additional_fees_set": None,
        "original_total_duties_set": None,
        "payment_gateway_names": sorted({t.gateway for t in o.transactions}),
        "phone": o.phone,
        "po_number": None,
        "presentment_currency": o.presentment_currency,
        "processed_at": ts(o.processed_at, ctx),
        "reference": None,
        "referring_site": None,
        "source_identifier": None,
        "source_name": o.source_name,
        "source_url": None,
        "subtotal_price": amount(subtotal, cur),
        "subtotal_price_set": bag(o, subtotal),
        "tags": ", ".join(o.tags),
        "tax_exempt": False,
        "tax_lines": [tax_line(o, t) for t in o.tax_lines] or _summed_tax_lines(o),
        "taxes_included": o.taxes_included,
        "test": o.test,
        "token": o.token,
        "total_discounts": amount(total_discounts, cur),
        "total_discounts_set": bag(o, total_discounts),
        "total_line_items_price": amount(line_items_price, cur),
        "total_line_items_price_set": bag(o, line_items_price),
        "total_outstanding": amount(o.shop_amount(outstanding), cur),
        "total_price": amount(total_price, cur),
        "total_price_set": bag(o, total_price),
        "total_shipping_price_set": bag(o, shipping_price),
        "total_tax": amount(total_tax, cur),
        "total_tax_set": bag(o, total_tax),
        "total_tip_received": amount(Decimal(0), cur),
        "total_weight": o.total_weight,
        "updated_at": ts(o.updated_at, ctx),
        "user_id": None,
        "billing_address": address(o.billing_address),
        "customer": None
        if customer is None
        else {
            "id": customer.id,
            "email": customer.email,
            "created_at": None,
            "updated_at": None,
            "email_marketing_consent": {
                "state": "subscribed" if o.buyer_accepts_marketing else "not_subscribed",
                "opt_in_level": None,
                "consent_updated_at": None,
            },
            "sms_marketing_consent": None,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone": customer.phone,
            "state": "disabled",
            "note": None,
            "verified_email": False,
            "multipass_identifier": None,
            "tax_exempt": False,
            "tags": "",
            "currency": cur,
            "tax_exemptions": [],
            "admin_graphql_api_id": gid("Customer", customer.id),
            "default_address": None,
        },
        "discount_applications": [
            {
                "target_type": d.target_type,
                "type": d.type,
                "value": str(d.value),
                "value_type": d.value_type,
                "allocation_method": d.allocation_method,
                "target_selection": d.target_selection,
                **({"code": d.code} if d.code else {}),
                **({"title": d.title, "description": d.description} if d.type == "manual" else {}),
            }
            for d in o.discount_applications
        ],
        "fulfillments": [fulfillment(o, f, ctx) for f in o.fulfillments],
        "line_items": [line_item(o, li) for li in o.line_items],
        "payment_terms": None,
        "refunds": [refund(o, r, ctx) for r in o.refunds],
        # Orderdeck extension: the order's returns (Shopify has them in GraphQL only).
        "returns": [return_(o, r, ctx) for r in o.returns],
        "shipping_address": address(o.shipping_address),
        "shipping_lines": [
            {
                "id": s.id,
                "carrier_identifier": s.carrier_identifier,
                "code": s.code or s.title,
                "discounted_price": amount(s.discounted_price, cur),
                "discounted_price_set": bag(o, s.discounted_price),
                "phone": None,
                "price": amount(s.price, cur),
                "price_set": bag(o, s.price),
                "requested_fulfillment_service_id": None,
                "source": s.source,
                "title": s.title,
                "tax_lines": [tax_line(o, t) for t in s.tax_lines],
                "discount_allocations": [allocation(o, a) for a in s.discount_allocations],
            }
            for s in o.shipping_lines
        ],
        # Orderdeck's own fields: the statuses REST has no key for.
        "display_financial_status": s.financial_status,
        "display_fulfillment_status": s.display_fulfillment_status,
        "return_status": s.return_status,
        "shipping_refunded": amount(shipping_refunded(o), cur),
        # What the order is stuck on (domain/stuck.py); empty when nothing.
        "stuck": [stuck_flag(f, ctx) for f in o.stuck],
    }


def stuck_flag(f: StuckFlag, ctx: RenderContext) -> Json:
    return {
        "reason": f.reason,
        "label": stuck.REASONS[f.reason],
        "since": ts(f.since, ctx),
        "flagged_at": ts(f.flagged_at, ctx),
        "fulfillment_order_id": f.fulfillment_order_id,
        "service": f.service,
        "service_reason": f.service_reason,
        "message": f.detail,
        "next_step": stuck.next_step(f),
    }


def _summed_tax_lines(o: Order) -> list[Json]:
    """Order-level tax lines summed from the lines' and shipping's, by title and rate."""
    sums: dict[tuple[str, Decimal], Decimal] = {}
    for t in [t for li in o.line_items for t in li.tax_lines] + [t for s in o.shipping_lines for t in s.tax_lines]:
        sums[(t.title, t.rate)] = sums.get((t.title, t.rate), Decimal(0)) + t.price
    return [tax_line(o, TaxLine(title, price, rate)) for (title, rate), price in sums.items()]


# ---- returns (Orderdeck extension: AFTER-THE-SALE.md §1.9) ---------------------------------
def _ref(kind: str, record_id: int) -> Json:
    return {"id": record_id, "admin_graphql_api_id": gid(kind, record_id)}


def return_line_item(order: Order, ret: Return, rli: Any) -> Json:
    li = order.line_item(rli.line_item_id)
    processed = sum(
        line.disposed_quantity
        for rfo in ret.reverse_fulfillment_orders
        for line in rfo.line_items
        if line.return_line_item_id == rli.id
    )
    fee = restocking_fee_amount(order, rli)
    return {
        "id": rli.id,
        "admin_graphql_api_id": gid("ReturnLineItem", rli.id),
        "fulfillment_line_item_id": rli.fulfillment_line_item_id,
        "fulfillment_id": rli.fulfillment_id,
        "line_item_id": rli.line_item_id,
        "title": li.name if li else None,
        "variant_id": li.variant_id if li else None,
        "product_id": li.product_id if li else None,
        "sku": li.sku if li else None,
        "quantity": rli.current_quantity,
        "removed_quantity": rli.removed_quantity,
        "refundable_quantity": max(0, rli.current_quantity - rli.refunded_quantity),
        "refunded_quantity": rli.refunded_quantity,
        "processed_quantity": processed,
        "return_reason": rli.return_reason,
        "return_reason_note": rli.return_reason_note,
        "customer_note": rli.customer_note,
        "subtotal_set": bag(order, line_worth(order, rli.line_item_id, rli.current_quantity)),
        "restocking_fee": None
        if rli.restocking_fee is None
        else {"percentage": float(rli.restocking_fee.percentage), "amount_set": bag(order, fee)},
    }


def exchange_line_item(order: Order, ex: Any) -> Json:
    li = order.line_item(ex.line_item_id) if ex.line_item_id else None
    return {
        "id": ex.id,
        "admin_graphql_api_id": gid("ExchangeLineItem", ex.id),
        "variant_id": ex.variant_id,
        "quantity": ex.quantity - ex.removed_quantity,
        "removed_quantity": ex.removed_quantity,
        "line_item_ids": [ex.line_item_id] if ex.line_item_id else [],
        "line_item": line_item(order, li) if li else None,
        "processed_quantity": order.fulfilled_quantity(li.id) if li else 0,
        "applied_discount": None
        if ex.discount_value is None
        else {
            "description": ex.discount_description,
            "value": str(ex.discount_value),
            "value_type": ex.discount_value_type,
        },
    }


def reverse_delivery(
    order: Order, ret: Return, rfo: ReverseFulfillmentOrder, rd: ReverseDelivery, ctx: RenderContext
) -> Json:
    return {
        "id": rd.id,
        "admin_graphql_api_id": gid("ReverseDelivery", rd.id),
        "reverse_fulfillment_order_id": rfo.id,
        "return_id": ret.id,
        "created_at": ts(rd.created_at, ctx),
        "updated_at": ts(rd.updated_at, ctx),
        "line_items": [
            {
                "id": line.id,
                "reverse_fulfillment_order_line_item_id": line.reverse_fulfillment_order_line_id,
                "quantity": line.quantity,
            }
            for line in rd.line_items
        ],
        "label": None
        if rd.label is None
        else {
            "public_file_url": rd.label.file_url,
            "created_at": ts(rd.label.created_at, ctx),
            "updated_at": ts(rd.label.updated_at, ctx),
        },
        "tracking": None
        if rd.tracking is None
        else {"carrier_name": rd.tracking.carrier_name, "number": rd.tracking.number, "url": rd.tracking.url},
    }


def disposition(d: Any, ctx: RenderContext, line_id: int) -> Json:
    return {
        "id": d.id,
        "admin_graphql_api_id": gid("ReverseFulfillmentOrderDisposition", d.id),
        "type": d.type,
        "quantity": d.quantity,
        "location": _ref("Location", d.location_id) if d.location_id else None,
        "location_id": d.location_id,
        "reverse_fulfillment_order_line_item": _ref("ReverseFulfillmentOrderLineItem", line_id),
        "reverse_delivery_line_item": None,
        "created_at": ts(d.created_at, ctx),
    }


def reverse_fulfillment_order(order: Order, ret: Return, rfo: ReverseFulfillmentOrder, ctx: RenderContext) -> Json:
    return {
        "id": rfo.id,
        "admin_graphql_api_id": gid("ReverseFulfillmentOrder", rfo.id),
        "order_id": order.id,
        "return_id": ret.id,
        "location_id": rfo.location_id,
        "status": rfo.status,
        "created_at": ts(rfo.created_at, ctx),
        "line_items": [
            {
                "id": line.id,
                "admin_graphql_api_id": gid("ReverseFulfillmentOrderLineItem", line.id),
                "return_line_item_id": line.return_line_item_id,
                "fulfillment_line_item_id": line.fulfillment_line_item_id,
                "line_item_id": line.line_item_id,
                "total_quantity": line.total_quantity,
                "disposed_quantity": line.disposed_quantity,
                "dispositions": [disposition(d, ctx, line.id) for d in line.dispositions],
            }
            for line in rfo.line_items
        ],
        "reverse_deliveries": [reverse_delivery(order, ret, rfo, rd, ctx) for rd in rfo.reverse_deliveries],
        "third_party_confirmation": None,
    }


def return_(order: Order, ret: Return, ctx: RenderContext) -> Json:
    fees = fees_of(order, ret)
    return {
        "id": ret.id,
        "admin_graphql_api_id": gid("Return", ret.id),
        "name": ret.name,
        "order_id": order.id,
        "order": _ref("Order", order.id),
        "status": ret.status,
        "created_at": ts(ret.created_at, ctx),
        "updated_at": ts(ret.updated_at, ctx),
        "requested_at": ts(ret.requested_at, ctx),
        "request_approved_at": ts(ret.request_approved_at, ctx),
        "closed_at": ts(ret.closed_at, ctx),
        "total_quantity": ret.total_quantity,
        "decline": None if ret.decline is None else {"reason": ret.decline.reason, "note": ret.decline.note},
        "return_line_items": [return_line_item(order, ret, rli) for rli in ret.return_line_items],
        "exchange_line_items": [exchange_line_item(order, ex) for ex in ret.exchange_line_items],
        "return_shipping_fees": [
            {
                "id": f.id,
                "admin_graphql_api_id": gid("ReturnShippingFee", f.id),
                "price": bag_from_presentment(order, f.presentment_amount),
                "amount_set": bag_from_presentment(order, f.presentment_amount),
            }
            for f in ret.return_shipping_fees
        ],
        "total_fees_set": bag(order, fees),
        "exchange_fulfillment_order_ids": [fo.id for fo in exchange_fulfillment_orders(order, ret)],
        "reverse_fulfillment_orders": [
            reverse_fulfillment_order(order, ret, rfo, ctx) for rfo in ret.reverse_fulfillment_orders
        ],
        "refund_ids": list(ret.refund_ids),
        "created_by": ret.author.name if ret.author else None,
    }


def returnable_fulfillments(order: Order) -> list[Json]:
    left = returnable_quantities(order)
    result = []
    for f in order.fulfillments:
        if not f.is_active:
            continue
        lines = []
        for fl in f.line_items:
            qty = left.get(fl.id, 0)
            li = order.line_item(fl.line_item_id)
            if qty > 0 and li is not None:
                lines.append(
                    {
                        "fulfillment_line_item_id": fl.id,
                        "line_item_id": fl.line_item_id,
                        "quantity": qty,
                        "title": li.name,
                        "variant_id": li.variant_id,
                        "product_id": li.product_id,
                    }
                )
        if lines:
            result.append(
                {
                    "id": f.id,
                    "admin_graphql_api_id": gid("ReturnableFulfillment", f.id),
                    "fulfillment_id": f.id,
                    "line_items": lines,
                }
            )
    return result


def return_calculation(order: Order, calc: ReturnCalculation, outstanding_before: Decimal) -> Json:
    """returns/calculate: the return's worth, fees, exchange items and who then owes what. The
    outcome is net of what is already owed either way on the order (presentment currency)."""
    net = order.presentment(calc.balance) + outstanding_before
    return {
        "return_line_items": [
            {
                "fulfillment_line_item_id": p.request.fulfillment_line_item_id,
                "line_item_id": p.line.id,
                "quantity": p.request.quantity,
                "subtotal_set": bag(order, p.worth),
                "restocking_fee": None
                if p.request.restocking_fee_percentage is None
                else {
                    "percentage": float(p.request.restocking_fee_percentage),
                    "amount_set": bag(order, p.restocking_fee),
                },
            }
            for p in calc.lines
        ],
        "exchange_line_items": [
            {
                "variant_id": p.request.variant.variant_id,
                "title": p.request.variant.title,
                "variant_title": p.request.variant.variant_title,
                "quantity": p.request.quantity,
                "original_unit_price_set": bag(order, p.price),
                "discounted_unit_price_set": bag(order, p.price - p.discount),
                "total_tax_set": bag(order, p.tax),
                "subtotal_set": bag(order, p.total),
            }
            for p in calc.exchanges
        ],
        "return_shipping_fee": {"amount_set": bag_from_presentment(order, calc.shipping_fee_presentment)},
        "returned_subtotal_set": bag(order, calc.returned_worth),
        "total_fees_set": bag(order, calc.fees),
        "exchange_subtotal_set": bag(order, calc.exchange_total),
        "financial_outcome": {
            "kind": "invoice" if net > 0 else ("refund" if net < 0 else "none"),
            "amount_set": bag_from_presentment(order, abs(net)),
        },
    }


# Webhook payloads in Shopify's shapes (AFTER-THE-SALE.md §1.8).
def return_webhook(order: Order, ret: Return, topic: str, ctx: RenderContext, arguments: dict[str, Any]) -> Json:
    if topic in ("returns/cancel", "returns/close", "returns/reopen"):
        return {"admin_graphql_api_id": gid("Return", ret.id), "id": ret.id, "order_id": order.id, "status": ret.status}
    if topic == "returns/decline":
        return {
            "admin_graphql_api_id": gid("Return", ret.id),
            "id": ret.id,
            "status": ret.status,
            "decline": None if ret.decline is None else {"reason": ret.decline.reason, "note": ret.decline.note},
        }
    if topic == "returns/update":
        return {
            "admin_graphql_api_id": gid("Return", ret.id),
            "id": ret.id,
            "restocking_fees": {"removals": [], "updates": []},
            "return_line_items": {
                "removals": [
                    {"admin_graphql_api_id": gid("ReturnLineItem", r["return_line_item_id"]), "delta": r["delta"]}
                    for r in arguments.get("removals", [])
                ]
            },
            "return_shipping_fees": {"removals": [], "updates": []},
        }
    full = return_(order, ret, ctx)
    return {
        "admin_graphql_api_id": gid("Return", ret.id),
        "id": ret.id,
        "name": ret.name,
        "status": ret.status,
        "order": _ref("Order", order.id),
        "total_return_line_items": len(ret.return_line_items),
        "total_exchange_line_items": len(ret.exchange_line_items),
        "return_line_items": [
            {
                **rli,
                "fulfillment_line_item": {
                    **_ref("FulfillmentLineItem", rli["fulfillment_line_item_id"]),
                    "line_item": _ref("LineItem", rli["line_item_id"]),
                },
            }
            for rli in full["return_line_items"]
        ],
        "exchange_line_items": full["exchange_line_items"],
        "return_shipping_fees": full["return_shipping_fees"],
    }


def reverse_delivery_webhook(order: Order, ret: Return, rd: ReverseDelivery, ctx: RenderContext) -> Json:
    return {
        "admin_graphql_api_id": gid("ReverseDelivery", rd.id),
        "id": rd.id,
        "return": _ref("Return", ret.id),
        "shipping_deliverable": {
            "label": {
                "created_at": ts(rd.label.created_at, ctx) if rd.label else None,
                "public_file_url": rd.label.file_url if rd.label else None,
            },
            "tracking": {
                "carrier_name": rd.tracking.carrier_name if rd.tracking else None,
                "tracking_number": rd.tracking.number if rd.tracking else None,
                "tracking_url": rd.tracking.url if rd.tracking else None,
            },
        },
    }


def dispose_webhook(rfo: ReverseFulfillmentOrder) -> Json:
    dispositions = [
        {
            "location": _ref("Location", d.location_id) if d.location_id else None,
            "quantity": d.quantity,
            "reverse_delivery_line_item": None,
            "reverse_fulfillment_order_line_item": _ref("ReverseFulfillmentOrderLineItem", line.id),
            "type": d.type,
        }
        for line in rfo.line_items
        for d in line.dispositions
    ]
    return {
        "admin_graphql_api_id": gid("ReverseFulfillmentOrder", rfo.id),
        "id": rfo.id,
        "total_dispositions": len(dispositions),
        "dispositions": dispositions,
    }
