"""The example rules: in docs/automation.md, in the demo shop, and in the tests."""

from __future__ import annotations

from typing import Any

HOLD_BIG_ORDERS_FROM_NEW_CUSTOMERS: dict[str, Any] = {
    "name": "Hold big orders from new customers",
    "enabled": True,
    "when": {"event": "orders/create"},
    "if": {
        "all": [
            {"field": "total_price", "op": "gt", "value": 1000},
            {"field": "customer.orders_count", "op": "lte", "value": 1},
        ]
    },
    "then": [
        {"action": "hold_fulfillment", "reason": "high_risk_of_fraud", "notes": "Over 1,000 from a new customer"},
        {"action": "add_tags", "tags": ["review"]},
    ],
}

UNFULFILLED_AFTER_3_DAYS: dict[str, Any] = {
    "name": "Unfulfilled after 3 days",
    "enabled": True,
    "when": {"event": "orders/create", "after_hours": 72},
    "if": {"field": "display_fulfillment_status", "op": "in", "value": ["unfulfilled", "partially_fulfilled"]},
    "then": [
        {"action": "add_tags", "tags": ["unfulfilled-3-days"]},
        {"action": "email_staff", "subject": "Unfulfilled for 3 days", "message": "Please look at this order."},
    ],
}

ARCHIVE_14_DAYS_AFTER_DELIVERY: dict[str, Any] = {
    "name": "Archive 14 days after delivery",
    "enabled": True,
    "when": {"event": "fulfillment_events/create"},
    "if": {"field": "shipment_status", "op": "contains", "value": "delivered"},
    "then": [{"action": "wait", "hours": 336}, {"action": "archive"}],
}

# Small returns are not worth a look; a defective item is, whatever its price, and a final-sale
# item is only taken back when staff say so.
APPROVE_SMALL_RETURN_REQUESTS: dict[str, Any] = {
    "name": "Approve small return requests",
    "enabled": True,
    "when": {"event": "returns/request"},
    "if": {
        "all": [
            {"field": "return.total", "op": "lt", "value": 50},
            {"field": "return.final_sale", "op": "eq", "value": False},
            {"field": "return.reasons", "op": "not_contains", "value": "defective"},
        ]
    },
    "then": [{"action": "approve_return"}],
}

TELL_STAFF_ABOUT_DEFECTIVE_ITEMS: dict[str, Any] = {
    "name": "Tell staff about defective items",
    "enabled": True,
    "when": {"event": "returns/request"},
    "if": {"field": "return.reasons", "op": "contains", "value": "defective"},
    "then": [
        {"action": "add_tags", "tags": ["defective-return"]},
        {
            "action": "email_staff",
            "subject": "A customer returns a defective item",
            "message": "Please look at the return request on this order.",
        },
    ],
}

EXAMPLES = (
    HOLD_BIG_ORDERS_FROM_NEW_CUSTOMERS,
    UNFULFILLED_AFTER_3_DAYS,
    ARCHIVE_14_DAYS_AFTER_DELIVERY,
    APPROVE_SMALL_RETURN_REQUESTS,
    TELL_STAFF_ABOUT_DEFECTIVE_ITEMS,
)
