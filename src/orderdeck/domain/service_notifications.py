"""Notifications Orderdeck posts to a fulfillment service (AFTER-THE-SALE §4.4): "a fulfillment
request (or a cancellation request) waits for you". Shopify's body names only the kind; the
service then reads its assigned fulfillment orders and answers through the API.

Orderdeck sends each one again with back-off until the service answers 2xx (Shopify sends once,
and a request that never reached the warehouse is the stuck order merchants lose, §4.7). It
stops as soon as the request has moved on: the service answered it through the API (an
acknowledgement as good as a 2xx), the merchant withdrew it, or a newer request replaced it.
"""

from __future__ import annotations

from datetime import timedelta

from .order import FulfillmentOrder, Order

# The notification's kind (the merchant request's kind) and Shopify's body for it.
BODIES = {
    "fulfillment_request": '{"kind":"FULFILLMENT_REQUEST"}',
    "cancellation_request": '{"kind":"CANCELLATION_REQUEST"}',
}
# The request state each kind waits in: the service has not answered while the order is there.
WAITING_IN = {"fulfillment_request": "submitted", "cancellation_request": "cancellation_requested"}
# The domain events (domain/fulfillment_requests.py) that make a notification, and its kind.
KIND_OF_VERB = {
    "fulfillment_request_submitted": "fulfillment_request",
    "cancellation_request_submitted": "cancellation_request",
}
# A notification still waiting for its service is sent again after these waits (Shopify's webhook
# retries, outbox/webhooks.py), then every RETRY_CAP until the request moves on: a service down
# for a day gets its requests when it is back, without being hammered meanwhile.
RETRY_CAP = timedelta(hours=2)


def retry_after(attempts: int, delays: tuple[timedelta, ...]) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1-based)."""
    if attempts <= len(delays):
        return min(delays[attempts - 1], RETRY_CAP)
    return RETRY_CAP


def state_of_request(order: Order | None, fo_id: int, kind: str, request_id: int | None) -> str:
    """Where the announced request stands: `waiting` (the service has not answered it), `answered`
    (it did, through the API) or `withdrawn` (the order, the fulfillment order or the request is
    gone: cancelled, moved, replaced by a newer request)."""
    if order is None:
        return "withdrawn"
    fo = order.fulfillment_order(fo_id)
    if fo is None:
        return "withdrawn"
    if request_id is not None and _latest_request(fo, kind) != request_id:
        return "withdrawn"  # a newer request of the same kind carries on in its own notification
    if fo.request_status == WAITING_IN[kind]:
        # A cancelled order's cancellation request still waits: the service holds the work
        # (domain/cancellation.py asks it to cancel when the order is cancelled).
        still_wanted = kind == "cancellation_request" or not order.is_cancelled
        return "waiting" if fo.is_active and still_wanted else "withdrawn"
    if kind == "fulfillment_request" and fo.request_status == "unsubmitted":
        return "withdrawn"
    return "answered"


def _latest_request(fo: FulfillmentOrder, kind: str) -> int | None:
    return next((r.id for r in reversed(fo.merchant_requests) if r.kind == kind), None)
