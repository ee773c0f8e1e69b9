"""Order edits as JSON: the calculated order of AFTER-THE-SALE §3.7 (Orderdeck's REST shape of
Shopify's CalculatedOrder) and the `orders/edited` webhook's `order_edit` payload (§3.5)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ..domain import order_edits as rules
from ..domain.money import ZERO
from ..domain.order import LineItem, Order
from ..domain.statuses import balance
from .render import RenderContext, bag, bag_from_presentment, gid, ts

Json = dict[str, Any]


def _unit_prices(order: Order, line: LineItem) -> tuple[Json, Json]:
    discounted = (line.price * line.quantity - line.total_discount) / line.quantity if line.quantity else line.price
    return bag(order, line.price), bag(order, discounted.quantize(Decimal("0.01")))


def _staged_change(change: rules.StagedChange) -> Json:
    data: Json = {"type": type(change).__struct_config__.tag}
    for name in change.__struct_fields__:
        value = getattr(change, name)
        data[name] = str(value) if isinstance(value, Decimal) else value
    return data


def calculated_order(calc: rules.CalculatedOrder, edit: rules.OrderEdit, ctx: RenderContext, now: datetime) -> Json:
    """The edit with its preview: what each line of the order becomes, the items it adds, the
    shipping lines, the staged changes, and the money (to collect, or to refund)."""
    original, edited = calc.original, calc.edited
    added_ids = calc.outcome.added_line_ids if calc.outcome else {}
    added_by_line = {line_id: staged for staged, line_id in added_ids.items()}
    lines = []
    added = []
    for line in edited.line_items:
        before = original.line_item(line.id)
        original_price, discounted_price = _unit_prices(edited, line)
        change = edit.quantity_change(line.id)
        common: Json = {
            "title": line.title,
            "variant_id": line.variant_id,
            "variant_title": line.variant_title,
            "sku": line.sku,
            "quantity": edited.current_quantity(line),
            "editable_quantity": rules.editable_quantity(edited, line),
            "original_unit_price_set": original_price,
            "discounted_unit_price_set": discounted_price,
            "total_discount_set": bag(edited, line.total_discount),
            "taxable": line.taxable,
            "requires_shipping": line.requires_shipping,
        }
        if before is None:
            staged_id = added_by_line.get(line.id)
            if staged_id is not None:
                added.append({"id": staged_id, **common, "restockable": False, "restocking": False})
            continue
        editable_before = rules.editable_quantity(original, before)
        lines.append(
            {
                "id": line.id,
                "line_item_id": line.id,
                "admin_graphql_api_id": gid("CalculatedLineItem", line.id),
                **common,
                "editable_quantity_before_changes": editable_before,
                "restockable": before.inventory_item_id is not None and editable_before > 0,
                "restocking": bool(change and change.restock and change.quantity < original.current_quantity(before)),
                "has_staged_change": change is not None,
            }
        )
    removed_shipping = {s.id for s in original.shipping_lines if not any(e.id == s.id for e in edited.shipping_lines)}
    shipping = [
        {
            "id": s.id,
            "title": s.title,
            "price_set": bag(original, s.price),
            "staged_status": "REMOVED" if s.id in removed_shipping else "NONE",
        }
        for s in original.shipping_lines
    ]
    shipping += [
        {"id": c.id, "title": c.title, "price_set": bag(original, c.price), "staged_status": "ADDED"}
        for c in edit.changes
        if isinstance(c, rules.AddShippingLine)
    ]
    shipping += [
        {"id": c.shipping_line_id, "title": c.title, "price_set": bag(original, c.price), "staged_status": "ADDED"}
        for c in edit.changes
        if isinstance(c, rules.UpdateShippingLine)
    ]
    owed = balance(edited)
    return {
        "id": edit.id,
        "admin_graphql_api_id": gid("CalculatedOrder", edit.id),
        "order_id": edit.order_id,
        "status": "expired" if edit.is_expired(now) else edit.status,
        "created_at": ts(edit.created_at, ctx),
        "updated_at": ts(edit.updated_at, ctx),
        "expires_at": ts(edit.expires_at, ctx),
        "committed_at": ts(edit.committed_at, ctx),
        "notify_customer": edit.notify_customer,
        "staff_note": edit.staff_note,
        "line_items": lines,
        "added_line_items": added,
        "added_discount_applications": [
            {
                "id": c.id,
                "line_item_id": c.line_item_id,
                "description": c.description,
                "value": str(edited.presentment(c.value)) if c.value_type == "fixed_amount" else str(c.value),
                "value_type": c.value_type,
                "allocation_method": c.allocation_method,
                "target_selection": "explicit",
            }
            for c in edit.changes
            if isinstance(c, rules.LineDiscount)
        ],
        "shipping_lines": shipping,
        "staged_changes": [_staged_change(c) for c in edit.changes],
        "subtotal_line_items_quantity": sum(edited.current_quantity(li) for li in edited.line_items),
        "subtotal_price_set": bag(edited, edited.subtotal_price),
        "total_shipping_price_set": bag(edited, edited.total_shipping_price),
        "total_tax_set": bag(edited, edited.total_tax),
        "total_price_set": bag(edited, edited.total_price),
        "original_total_price_set": bag(original, original.total_price),
        "total_outstanding_set": bag_from_presentment(edited, max(ZERO, owed)),
        "suggested_refund_set": bag_from_presentment(edited, max(ZERO, -owed)),
    }


def edited_webhook(order: Order, edit: rules.OrderEdit, ctx: RenderContext) -> Json:
    """Shopify's orders/edited payload: line item additions and removals with their deltas,
    discounts and shipping lines the edit added or removed."""
    outcome = edit.outcome or rules.EditOutcome()
    return {
        "order_edit": {
            "id": edit.id,
            "app_id": None,
            "created_at": ts(edit.created_at, ctx),
            "committed_at": ts(edit.committed_at, ctx),
            "notify_customer": edit.notify_customer,
            "order_id": order.id,
            "staff_note": edit.staff_note or "",
            "user_id": int(edit.author.ref)
            if edit.author.kind == "staff" and (edit.author.ref or "").isdigit()
            else None,
            "line_items": {
                "additions": [{"id": a.id, "delta": a.delta} for a in outcome.additions],
                "removals": [{"id": r.id, "delta": r.delta} for r in outcome.removals],
            },
            "discounts": {
                "line_item": {
                    "additions": [
                        {
                            "line_item_id": int(d["line_item_id"]),
                            "description": d["description"],
                            "amount": d["amount"],
                        }
                        for d in outcome.discounts_added
                    ],
                    "removals": [],
                }
            },
            "shipping_lines": {
                "additions": [
                    {"id": int(s["id"]), "title": s["title"], "price": s["price"]} for s in outcome.shipping_added
                ],
                "removals": [
                    {"id": int(s["id"]), "title": s["title"], "price": s["price"]} for s in outcome.shipping_removed
                ],
            },
        }
    }
