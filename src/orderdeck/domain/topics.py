"""The webhook topics a subscription may name: Shopify's order-related ones (ORDER-MODEL.md §8)
and Orderdeck's own, which are added here as the features that raise them arrive."""

from __future__ import annotations

# A fulfillment request's life, one topic per step (domain/fulfillment_requests.py raises them).
FULFILLMENT_REQUEST_TOPICS = (
    "fulfillment_orders/fulfillment_request_submitted",
    "fulfillment_orders/fulfillment_request_accepted",
    "fulfillment_orders/fulfillment_request_rejected",
    "fulfillment_orders/cancellation_request_submitted",
    "fulfillment_orders/cancellation_request_accepted",
    "fulfillment_orders/cancellation_request_rejected",
    "fulfillment_orders/fulfillment_service_failed_to_complete",
)
# Raised when an order's fulfillment orders have been routed to a fulfillment service's location.
ROUTING_TOPIC = "fulfillment_orders/order_routing_complete"
SHOPIFY_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/edited",  # line-item order edits; accepted now, raised once order editing exists
    "orders/delete",
    "order_transactions/create",
    "refunds/create",
    "fulfillments/create",
    "fulfillments/update",
    "fulfillment_events/create",
    "fulfillment_orders/placed_on_hold",
    "fulfillment_orders/hold_released",
    "fulfillment_orders/scheduled_fulfillment_order_ready",
    "fulfillment_orders/rescheduled",
    "fulfillment_orders/moved",
    "fulfillment_orders/cancelled",
    *FULFILLMENT_REQUEST_TOPICS,
    ROUTING_TOPIC,
    "returns/request",
    "returns/approve",
    "returns/decline",
    "returns/update",
    "returns/cancel",
    "returns/close",
    "returns/reopen",
    "reverse_deliveries/attach_deliverable",
    "reverse_fulfillment_orders/dispose",
    "draft_orders/create",
    "draft_orders/update",
    "draft_orders/delete",
)

ORDERDECK_TOPICS = ("orderdeck/orders_stuck", "orderdeck/custom_status_changed")

TOPICS = SHOPIFY_TOPICS + ORDERDECK_TOPICS
