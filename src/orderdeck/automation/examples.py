"""The three example rules: in docs/automation.md, in the demo shop, and in the tests."""

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

EXAMPLES = (HOLD_BIG_ORDERS_FROM_NEW_CUSTOMERS, UNFULFILLED_AFTER_3_DAYS, ARCHIVE_14_DAYS_AFTER_DELIVERY)
