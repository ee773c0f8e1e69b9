"""From request bodies to the services' and domain's own types."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..domain.fulfillment import LineRequest, TrackingInfo
from ..domain.order import Address, DiscountAllocation, DiscountApplication, DiscountCode, NoteAttribute, TaxLine
from ..domain.placement import DraftLine, DraftShippingLine, OrderDraft
from ..domain.refunds import RefundLineRequest, RefundRequest
from ..services.orders import NewCustomer, PlaceOrder
from ..services.payments import NewTransaction
from . import schemas as s


def address(a: s.AddressIn | None) -> Address | None:
    if a is None:
        return None
    first, last = a.first_name, a.last_name
    if a.name and not (first or last):
        first, _, last = a.name.partition(" ")
    return Address(
        first_name=first,
        last_name=last or None,
        company=a.company,
        address1=a.address1,
        address2=a.address2,
        city=a.city,
        province=a.province,
        province_code=a.province_code,
        country=a.country or a.country_name,
        country_code=(a.country_code or "").upper() or None,
        zip=a.zip,
        phone=a.phone,
        latitude=a.latitude,
        longitude=a.longitude,
    )


# Keys of an address as sent that land in other fields of the stored address.
_ADDRESS_KEY_FIELDS = {"name": ("first_name", "last_name"), "country_name": ("country",)}


def address_changes(a: s.AddressIn) -> dict[str, Any]:
    """Only the keys a partial address sent (PUT /orders/{id}.json), as stored address fields."""
    full = address(a)
    assert full is not None
    changed: dict[str, Any] = {}
    for key in a.model_fields_set:
        for name in _ADDRESS_KEY_FIELDS.get(key, (key,)):
            changed[name] = getattr(full, name)
    if "name" in a.model_fields_set and a.model_fields_set & {"first_name", "last_name"}:
        # first_name/last_name win over name; the one of them not sent stays as it was.
        for name in ("first_name", "last_name"):
            if name not in a.model_fields_set:
                changed.pop(name, None)
    return changed


def tax_lines(lines: list[s.TaxLineIn]) -> list[TaxLine]:
    return [TaxLine(title=t.title, price=t.price, rate=t.rate) for t in lines]


def transaction(t: s.TransactionIn) -> NewTransaction:
    return NewTransaction(
        kind=t.kind,
        amount=t.amount,
        currency=t.currency,
        gateway=t.gateway,
        status=t.status,
        parent_id=t.parent_id,
        authorization=t.authorization,
        card_number=t.card_number,
        test=t.test,
        source=t.source,
    )


def place_order(o: s.OrderIn) -> PlaceOrder:
    lines = [
        DraftLine(
            title=li.title or li.name or "",
            price=li.price if li.price is not None else Decimal(-1),
            quantity=li.quantity,
            variant_id=li.variant_id,
            product_id=li.product_id,
            sku=li.sku,
            variant_title=li.variant_title,
            vendor=li.vendor,
            grams=li.grams,
            taxable=li.taxable,
            requires_shipping=li.requires_shipping,
            gift_card=li.gift_card,
            properties=[NoteAttribute(p.name, p.value) for p in li.properties],
            tax_lines=tax_lines(li.tax_lines),
            discount_allocations=[
                DiscountAllocation(a.amount, a.discount_application_index) for a in li.discount_allocations
            ],
        )
        for li in o.line_items
    ]
    order_tax = tax_lines(o.tax_lines)
    if o.total_tax is not None and not order_tax and not any(li.tax_lines for li in lines):
        order_tax = [TaxLine(title="Tax", price=o.total_tax, rate=Decimal(0))]
    draft = OrderDraft(
        lines=lines,
        currency=(o.currency or "").upper(),
        presentment_currency=(o.presentment_currency or "").upper(),
        exchange_rate=o.exchange_rate,
        shipping_lines=[
            DraftShippingLine(
                title=sl.title,
                price=sl.price,
                code=sl.code,
                source=sl.source or "orderdeck",
                tax_lines=tax_lines(sl.tax_lines),
            )
            for sl in o.shipping_lines
        ],
        discount_codes=[DiscountCode(d.code, d.amount, d.type) for d in o.discount_codes],
        discount_applications=[
            DiscountApplication(
                type=d.type,
                value=d.value,
                value_type=d.value_type,
                allocation_method=d.allocation_method,
                target_selection=d.target_selection,
                target_type=d.target_type,
                code=d.code,
                title=d.title,
                description=d.description,
            )
            for d in o.discount_applications
        ],
        tax_lines=order_tax,
        taxes_included=o.taxes_included,
        email=o.email,
        phone=o.phone,
        customer_locale=o.customer_locale,
        billing_address=address(o.billing_address),
        shipping_address=address(o.shipping_address),
        note=o.note,
        note_attributes=[NoteAttribute(a.name, a.value) for a in o.note_attributes],
        tags=o.tags if isinstance(o.tags, list) else ([] if o.tags is None else o.tags.split(",")),
        source_name=o.source_name or "api",
        test=o.test,
        buyer_accepts_marketing=o.buyer_accepts_marketing,
        inventory_behaviour=o.inventory_behaviour,
        location_id=o.location_id,
        processed_at=o.processed_at,
    )
    auto = o.auto_fulfill
    if o.fulfillment_status == "fulfilled":
        auto = True
    elif o.fulfillment_status == "unfulfilled":
        auto = False
    customer = None
    if o.customer is not None:
        c = o.customer
        customer = NewCustomer(id=c.id, email=c.email, phone=c.phone, first_name=c.first_name, last_name=c.last_name)
    return PlaceOrder(
        draft=draft,
        customer=customer,
        transactions=[transaction(t) for t in o.transactions],
        financial_status=o.financial_status,
        auto_fulfill=auto,
        fulfillment_location_id=o.fulfillments[0].location_id if o.fulfillments else None,
        send_receipt=o.send_receipt,
        send_fulfillment_receipt=o.send_fulfillment_receipt,
    )


def line_requests(items: list[s.LineRequestIn]) -> list[LineRequest] | None:
    return [LineRequest(i.id, i.quantity) for i in items] or None


def tracking(t: s.TrackingInfoIn | None) -> TrackingInfo:
    if t is None:
        return TrackingInfo()
    numbers = list(t.numbers) or ([t.number] if t.number else [])
    urls = list(t.urls) or ([t.url] if t.url else [])
    return TrackingInfo(company=t.company, numbers=tuple(numbers), urls=tuple(urls))


def refund_request(r: s.RefundIn) -> RefundRequest:
    shipping = r.shipping
    return RefundRequest(
        lines=[
            RefundLineRequest(li.line_item_id, li.quantity, li.restock_type, li.location_id)
            for li in r.refund_line_items
        ],
        shipping_full_refund=bool(shipping and shipping.full_refund),
        shipping_amount=shipping.amount if shipping else None,
        note=r.note,
        discrepancy_reason=r.discrepancy_reason,
    )
