"""What a notification template can use: Shopify's notification variables (ORDER-MODEL.md §9),
made from the order as the API renders it, with amounts in the customer's (presentment)
currency. docs/notifications.md lists them; the `money` and `format_date` filters format them
for the message's language.
"""

from __future__ import annotations

from typing import Any

from ..tracking import link as tracking_link
from .engine import LOCALES


def _presentment(resource: dict[str, Any], key: str) -> str | None:
    money_set = resource.get(f"{key}_set") or {}
    presentment = money_set.get("presentment_money") or {}
    return presentment.get("amount", resource.get(key))


def _address(a: dict[str, Any] | None) -> dict[str, Any] | None:
    if not a:
        return None
    keys = (
        "name",
        "first_name",
        "last_name",
        "company",
        "address1",
        "address2",
        "city",
        "zip",
        "province",
        "country",
        "country_code",
        "phone",
    )
    return {k: a.get(k) for k in keys}


def locale_of(order: dict[str, Any], shop_locale: str) -> str:
    """The order's `customer_locale` ("nl", "de-AT", "fi_FI" …) when Orderdeck speaks it,
    otherwise the shop's language, otherwise English."""
    for candidate in (order.get("customer_locale"), shop_locale):
        if candidate:
            language = str(candidate).replace("_", "-").split("-")[0].lower()
            if language in LOCALES:
                return language
    return "en"


def _pick(records: list[dict[str, Any]], subject_id: int | None) -> dict[str, Any] | None:
    """The fulfillment or refund the notification is about, or else the latest one."""
    chosen = next((r for r in records if r.get("id") == subject_id), None)
    return chosen or (records[-1] if records else None)


# Shopify's return reasons (domain/returns.py), as the customer reads them in each language.
RETURN_REASONS: dict[str, dict[str, str]] = {
    "en": {
        "size_too_small": "Size was too small",
        "size_too_large": "Size was too large",
        "unwanted": "Changed my mind",
        "not_as_described": "Item not as described",
        "wrong_item": "Received the wrong item",
        "defective": "Damaged or defective",
        "style": "Style",
        "color": "Colour",
        "other": "Other",
        "unknown": "No reason given",
    },
    "nl": {
        "size_too_small": "Maat te klein",
        "size_too_large": "Maat te groot",
        "unwanted": "Toch niet nodig",
        "not_as_described": "Artikel anders dan beschreven",
        "wrong_item": "Verkeerd artikel ontvangen",
        "defective": "Beschadigd of defect",
        "style": "Stijl",
        "color": "Kleur",
        "other": "Andere reden",
        "unknown": "Geen reden opgegeven",
    },
    "de": {
        "size_too_small": "Zu klein",
        "size_too_large": "Zu groß",
        "unwanted": "Gefällt mir doch nicht",
        "not_as_described": "Artikel entspricht nicht der Beschreibung",
        "wrong_item": "Falschen Artikel erhalten",
        "defective": "Beschädigt oder defekt",
        "style": "Stil",
        "color": "Farbe",
        "other": "Anderer Grund",
        "unknown": "Kein Grund angegeben",
    },
    "fi": {
        "size_too_small": "Liian pieni koko",
        "size_too_large": "Liian suuri koko",
        "unwanted": "Muutin mieleni",
        "not_as_described": "Tuote ei vastannut kuvausta",
        "wrong_item": "Sain väärän tuotteen",
        "defective": "Vaurioitunut tai viallinen",
        "style": "Tyyli",
        "color": "Väri",
        "other": "Muu syy",
        "unknown": "Syytä ei annettu",
    },
}


def _holds(record: dict[str, Any], subject_id: int | None, order: dict[str, Any]) -> bool:
    """Whether the notification's subject is this return or one of its parts: the return
    itself, one of its reverse deliveries (return_label), one of its refunds (return_refunded)
    or a fulfillment that ships its exchange items (exchange_shipped)."""
    if subject_id is None:
        return False
    if record.get("id") == subject_id or subject_id in (record.get("refund_ids") or []):
        return True
    deliveries = [
        rd for rfo in record.get("reverse_fulfillment_orders") or [] for rd in rfo.get("reverse_deliveries") or []
    ]
    if any(rd.get("id") == subject_id for rd in deliveries):
        return True
    exchanged = {i for ex in record.get("exchange_line_items") or [] for i in ex.get("line_item_ids") or []}
    shipped = next((f for f in order.get("fulfillments") or [] if f.get("id") == subject_id), None)
    return shipped is not None and any(li.get("id") in exchanged for li in shipped.get("line_items") or [])


def _return(
    order: dict[str, Any],
    subject_id: int | None,
    locale: str,
    instructions: str,
    exchange_titles: dict[int, str],
) -> dict[str, Any] | None:
    """The return the notification is about (else the latest one), in the template's words."""
    records = order.get("returns") or []
    record = next((r for r in records if _holds(r, subject_id, order)), None) or (records[-1] if records else None)
    if record is None:
        return None
    titles = {li["id"]: li.get("title") for li in order.get("line_items") or []}
    reasons = RETURN_REASONS.get(locale, RETURN_REASONS["en"])
    deliveries = [
        rd for rfo in record.get("reverse_fulfillment_orders") or [] for rd in rfo.get("reverse_deliveries") or []
    ]
    # The delivery a return_label notification is about, else the latest one with a label or tracking.
    delivery = next((rd for rd in deliveries if rd.get("id") == subject_id), None) or next(
        (rd for rd in reversed(deliveries) if rd.get("label") or rd.get("tracking")), None
    )
    label = (delivery or {}).get("label") or {}
    tracking = (delivery or {}).get("tracking") or {}
    refunds = [r for r in order.get("refunds") or [] if r.get("id") in (record.get("refund_ids") or [])]
    refunded = sum(float(t.get("amount") or 0) for r in refunds for t in r.get("transactions") or [])
    fees = (record.get("total_fees_set") or {}).get("presentment_money") or {}
    decline = record.get("decline") or {}
    exchanges = []
    for ex in record.get("exchange_line_items") or []:
        if not ex.get("quantity"):
            continue
        line = ex.get("line_item") or {}
        exchanges.append(
            {
                "title": line.get("title") or exchange_titles.get(ex.get("variant_id") or 0, ""),
                "variant_title": line.get("variant_title"),
                "quantity": ex.get("quantity"),
            }
        )
    return {
        "name": record.get("name"),
        "status": record.get("status"),
        "requested_at": record.get("requested_at"),
        "return_line_items": [
            {
                "title": rli.get("title") or titles.get(rli.get("line_item_id")),
                "quantity": rli.get("quantity"),
                "reason": rli.get("return_reason"),
                "reason_label": reasons.get(rli.get("return_reason") or "unknown", reasons["other"]),
                "customer_note": rli.get("customer_note") or "",
            }
            for rli in record.get("return_line_items") or []
            if rli.get("quantity")
        ],
        "exchange_line_items": exchanges,
        # A stored URL that is no web address (javascript:) becomes '', so no mail links it.
        "label_url": tracking_link(label.get("public_file_url")) or "",
        "tracking_number": tracking.get("number") or "",
        "tracking_url": tracking_link(tracking.get("url")) or "",
        "tracking_company": tracking.get("carrier_name") or "",
        "instructions": instructions,
        "decline_reason": decline.get("reason") or "",
        "decline_note": decline.get("note") or "",
        "fees": fees.get("amount", "0.00"),
        "refund_amount": f"{refunded:.2f}",
    }


def _line_item(li: dict[str, Any]) -> dict[str, Any]:
    price = float(_presentment(li, "price") or 0)
    current = li.get("current_quantity", li.get("quantity"))
    return {
        "title": li.get("title"),
        "variant_title": li.get("variant_title"),
        "sku": li.get("sku"),
        "quantity": li.get("quantity"),
        "price": _presentment(li, "price"),
        "line_price": f"{price * int(li.get('quantity') or 0):.2f}",
        # Units on the order now (after edits and refunds), and what they cost.
        "current_quantity": current,
        "current_line_price": f"{price * int(current or 0):.2f}",
    }


def _order_edit(edit: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """What an order edit changed, for the "order edited" message (AFTER-THE-SALE §3.6): the
    items it added, the lines it took off entirely, and the lines whose quantity changed
    ("2 → 1 × Cap"). `edit` is the committed OrderEdit as plain data; without one, nothing."""
    found: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    if not edit:
        return found
    outcome = edit.get("outcome") or {}
    added = {int(v) for v in (outcome.get("added_line_ids") or {}).values()}
    # The quantity each order line was set to: with the delta, its quantity before.
    set_to = {
        int(c["line_item_id"]): int(c["quantity"]) for c in edit.get("changes") or [] if c.get("type") == "set_quantity"
    }
    deltas = [(d, 1) for d in outcome.get("additions") or []] + [(d, -1) for d in outcome.get("removals") or []]
    for delta, sign in deltas:
        line_id, units, title = int(delta.get("id") or 0), int(delta.get("delta") or 0), delta.get("title") or ""
        new = set_to.get(line_id)
        if line_id in added or new is None:
            key = "added" if sign > 0 else "removed"
            found[key].append({"title": title, "quantity": units})
        elif new == 0:
            found["removed"].append({"title": title, "quantity": units})
        else:
            found["changed"].append({"title": title, "old_quantity": new - sign * units, "new_quantity": new})
    return found


def build(
    order: dict[str, Any],
    *,
    shop: dict[str, Any],
    locale: str,
    subject_id: int | None = None,
    message: dict[str, str] | None = None,
    transactions: list[dict[str, Any]] | None = None,
    outstanding: str | None = None,
    custom_status_name: str | None = None,
    return_instructions: str = "",
    exchange_titles: dict[int, str] | None = None,
    order_edit: dict[str, Any] | None = None,
    suggested_refund: str | None = None,
) -> dict[str, Any]:
    titles = {li["id"]: li.get("title") for li in order.get("line_items") or []}
    edited = _order_edit(order_edit)
    fulfillment = _pick(order.get("fulfillments") or [], subject_id)
    refund = _pick(order.get("refunds") or [], subject_id)
    customer = order.get("customer") or {}
    shipping = order.get("total_shipping_price_set") or {}
    return {
        "locale": locale,
        "shop": shop,
        "order_status_url": order.get("order_status_url"),
        "name": order.get("name"),
        "order_name": order.get("name"),
        "order_number": order.get("order_number"),
        "created_at": order.get("processed_at") or order.get("created_at"),
        "email": order.get("email"),
        "phone": order.get("phone"),
        "customer": {
            "first_name": customer.get("first_name") or "",
            "last_name": customer.get("last_name") or "",
            "name": " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p),
            "email": customer.get("email"),
        },
        "currency": order.get("presentment_currency") or order.get("currency"),
        "line_items": [_line_item(li) for li in order.get("line_items") or []],
        "subtotal_price": _presentment(order, "subtotal_price"),
        "shipping_price": (shipping.get("presentment_money") or {}).get("amount", "0.00"),
        "total_tax": _presentment(order, "total_tax"),
        "total_discounts": _presentment(order, "total_discounts"),
        "total_price": _presentment(order, "total_price"),
        # The order resource's total_outstanding is in the shop's currency; templates format
        # amounts in the customer's, so the caller passes the presentment amount when it has one.
        "total_outstanding": outstanding if outstanding is not None else order.get("total_outstanding"),
        # What an order edit changed ("order edited" message), and what the shop owes back now
        # (presentment currency; "0.00" when nothing).
        "added_line_items": edited["added"],
        "removed_line_items": edited["removed"],
        "changed_line_items": edited["changed"],
        "edited_by_customer": ((order_edit or {}).get("author") or {}).get("kind") == "customer",
        "suggested_refund": suggested_refund or "0.00",
        "shipping_address": _address(order.get("shipping_address")),
        "billing_address": _address(order.get("billing_address")),
        "transactions": [
            {"kind": t.get("kind"), "status": t.get("status"), "amount": t.get("amount"), "gateway": t.get("gateway")}
            for t in transactions or []
        ],
        "fulfillment": None
        if fulfillment is None
        else {
            "tracking_company": fulfillment.get("tracking_company"),
            "tracking_numbers": list(fulfillment.get("tracking_numbers") or []),
            # A stored URL that is no web address (javascript:) becomes '', so no mail links it.
            "tracking_urls": [tracking_link(url) or "" for url in fulfillment.get("tracking_urls") or []],
            "shipment_status": fulfillment.get("shipment_status"),
            "fulfillment_line_items": [
                {"title": li.get("title") or titles.get(li.get("id")), "quantity": li.get("quantity")}
                for li in fulfillment.get("line_items") or []
            ],
        },
        "refund": None
        if refund is None
        else {
            "amount": f"{sum(float(t.get('amount') or 0) for t in refund.get('transactions') or []):.2f}",
            "note": refund.get("note"),
            "refund_line_items": [
                {"title": (rli.get("line_item") or {}).get("title"), "quantity": rli.get("quantity")}
                for rli in refund.get("refund_line_items") or []
            ],
        },
        "cancel_reason": order.get("cancel_reason"),
        "cancelled_at": order.get("cancelled_at"),
        "message": message,
        "return": _return(order, subject_id, locale, return_instructions, exchange_titles or {}),
        # The merchant's stage, as the customer may see it (never the private note).
        "custom_status": None
        if not order.get("custom_status")
        else {
            "handle": order["custom_status"].get("handle"),
            "name": custom_status_name or order["custom_status"].get("handle"),
            "public_note": order["custom_status"].get("public_note"),
            "due_at": order["custom_status"].get("due_at"),
        },
    }
