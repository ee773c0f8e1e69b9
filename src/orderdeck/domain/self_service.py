"""What customers may do to their own order from its status page (S9.4): cancel it, or correct
its shipping address, within the shop's window and only while it is safe to."""

from __future__ import annotations

from datetime import datetime, timedelta

from .order import Order
from .statuses import financial_status

REASONS = ("changed_my_mind", "wrong_item", "better_price", "other")
CLOSED_PAYMENTS = ("refunded", "partially_refunded", "voided")


def refusal(order: Order, *, now: datetime, window: timedelta) -> str | None:
    """Why the customer may not change this order any more, in a few words; None when they may."""
    if order.cancelled_at is not None:
        return "cancelled"
    if order.closed_at is not None:
        return "archived"
    if now > order.processed_at + window:
        return "too_late"
    if any(order.fulfilled_quantity(li.id) > 0 for li in order.line_items):
        return "fulfilled"
    if any(h.reason == "high_risk_of_fraud" for fo in order.fulfillment_orders for h in fo.fulfillment_holds):
        return "on_hold"
    if financial_status(order) in CLOSED_PAYMENTS or any(t.expired_at for t in order.transactions):
        return "payment_closed"
    return None
