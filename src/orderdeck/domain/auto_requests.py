"""Requests Orderdeck sends a fulfillment service by itself (S7.1, S8.4), decided from the order
as it is once a command has changed it (services/changes.py runs these before statuses are
derived). Pure: the caller says which locations belong to which service and what each wants.

Two jobs:
- Due requests: an open, unsubmitted fulfillment order at a service's location, not held, not
  scheduled, of an order not cancelled, is sent when its payment satisfies the rule: the
  service's own `auto_request`, else the shop's `auto_request_fulfillment` ("off",
  "on_payment": paid; "on_authorization": authorized or paid). A released hold or a due schedule
  makes the order open and unsubmitted again, so it is sent then (Shopify waits for the merchant
  to request again, §4.6: a request forgotten after a hold is a stuck order). A request the
  merchant withdrew or the service gave back, and a rejected one, is never sent again by itself
  (`FulfillmentOrder.automatic_request == "never"`, or `request_status` is not unsubmitted).
- Follow-ups to a change: an order edit (or a refund) that changes the units of a fulfillment
  order a service holds must not let the service ship what was taken off (AFTER-THE-SALE §4.7).
  Submitted, not yet accepted: the merchant still holds the work, so the request is withdrawn
  and the new quantities are requested again at once. Accepted: a cancellation request says the
  order was edited, and once the service accepts it the new quantities are requested again at
  once (whatever the setting: the merchant had asked for this work; only its quantities
  changed). A cancellation it rejects says so (`after_edit`), for the stuck-order rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidInput
from .fulfillment import WITH_SERVICE, _touch
from .fulfillment_requests import _hand_back, request_cancellation, submit
from .order import SYSTEM, DomainEvent, FulfillmentOrder, Order

WHEN = ("off", "on_payment", "on_authorization")
# Shopify's financial statuses that say the order is paid (a part refunded later still was).
PAID = ("paid", "partially_refunded")
AUTHORIZED = ("authorized", *PAID)
# The request states in which a service holds the work (what it may ship).
HELD = WITH_SERVICE


@dataclass(frozen=True)
class ServiceRule:
    """A service's location: the service's name and when to request from it by itself."""

    name: str
    when: str  # one of WHEN, the service's override or else the shop's setting


def checked_when(value: object, *, field: str) -> str:
    if value not in WHEN:
        raise InvalidInput(f"must be one of {', '.join(WHEN)}", field=field)
    return str(value)


def rule_for(service_when: str | None, shop_when: str) -> str:
    """A service's own setting wins; None follows the shop."""
    return service_when if service_when in WHEN else shop_when


def payment_allows(when: str, financial_status: str) -> bool:
    if when == "on_payment":
        return financial_status in PAID
    if when == "on_authorization":
        return financial_status in AUTHORIZED
    return False


def due(order: Order, rules: dict[int, ServiceRule], financial_status: str) -> Iterator[FulfillmentOrder]:
    """The fulfillment orders to send now (see the module docstring)."""
    if order.is_cancelled:
        return
    for fo in list(order.fulfillment_orders):
        rule = rules.get(fo.assigned_location_id)
        if (
            rule is None
            or fo.status != "open"
            or fo.request_status != "unsubmitted"
            or fo.fulfillment_holds
            or fo.remaining == 0
        ):
            continue
        if fo.automatic_request == "at_once" or (
            fo.automatic_request == "by_rule" and payment_allows(rule.when, financial_status)
        ):
            yield fo


def send_due(
    order: Order, rules: dict[int, ServiceRule], financial_status: str, now: datetime
) -> list[FulfillmentOrder]:
    """Submit every due fulfillment order whole, as Orderdeck (the timeline says so)."""
    sent = []
    for fo in due(order, rules, financial_status):
        rule = rules[fo.assigned_location_id]
        if fo.automatic_request == "at_once":
            message = "The order was edited after fulfillment was requested: this request has the new quantities."
        elif financial_status in PAID:
            message = "Requested automatically: the order is paid."
        else:
            message = "Requested automatically: the payment is authorized."
        fo.automatic_request = "by_rule"
        submit(
            order,
            fo,
            service_name=rule.name,
            message=message,
            requests=None,
            # The service tells the customer when it ships, as the merchant's own requests do by default.
            notify_customer=True,
            author=SYSTEM,
            now=now,
        )
        sent.append(fo)
    return sent


# ---- follow-ups to a changed order --------------------------------------------------------------
Held = dict[int, tuple[str, dict[int, int]]]


def held_by_services(order: Order) -> Held:
    """{fulfillment order id: (request status, {line item id: units})} of the work services hold,
    taken when a command loads the order."""
    return {
        fo.id: (fo.request_status, {li.line_item_id: li.quantity for li in fo.line_items})
        for fo in order.fulfillment_orders
        if fo.is_active and fo.request_status in HELD
    }


def cause_of(order: Order) -> str:
    verbs = {e.verb for e in order.events}
    if "order_edited" in verbs:
        return "The order was edited"
    if "refund_created" in verbs:
        return "Items were refunded"
    return "The order changed"


def tell_services(order: Order, before: Held, names: dict[int, str], now: datetime) -> None:
    """The work a service held whose units the command changed: withdraw, or ask to cancel."""
    if order.is_cancelled:
        return  # cancelling the order ends its fulfillment orders by its own rules
    cause = cause_of(order)
    for fo_id, (state, quantities) in before.items():
        fo = order.fulfillment_order(fo_id)
        if fo is None or fo.request_status != state:
            continue  # the command answered or moved the request itself
        if {li.line_item_id: li.quantity for li in fo.line_items} == quantities:
            continue
        service = names.get(fo.assigned_location_id, "the fulfillment service")
        if state == "submitted":
            _withdraw(order, fo, service, cause, now)
            continue
        if not fo.is_active:
            # The change took the last units off, but the service holds the order until it
            # answers: it stays in progress (shipping nothing more) so it can be asked to cancel.
            fo.status = "in_progress"
        if state == "accepted":
            _ask_to_cancel(order, fo, service, cause, now)
        elif not (state == "cancellation_requested" and fo.automatic_request == "at_once"):
            # A cancellation asked for by an earlier edit carries the new quantities too; else
            # the service can't be asked again (Shopify allows no second request): staff tell it.
            _alert(order, fo, service, cause, state, now)


def _withdraw(order: Order, fo: FulfillmentOrder, service: str, cause: str, now: datetime) -> None:
    """Not yet accepted: the request is withdrawn (the fulfillment order closes, so the service
    can't accept it any more) and what is left is requested again at once, as a new order."""
    replacement = _hand_back(order, fo, now) if fo.is_active else None
    if replacement:
        replacement.automatic_request = "at_once"
    fo.status = "closed"
    fo.fulfillment_holds = []
    _touch(order, fo, now)
    then = (
        f"; the new quantities are requested again (fulfillment order {replacement.id})."
        if replacement
        else "; nothing is left for it to fulfill."
    )
    order.record(
        DomainEvent(
            verb="fulfillment_request_withdrawn",
            author=SYSTEM,
            subject_id=fo.id,
            topics=("fulfillment_orders/cancelled", "orders/updated"),
            message=f"{cause} before {service} accepted the fulfillment request: the request was withdrawn{then}",
            arguments={"replacement_id": replacement.id if replacement else None, "cause": cause},
        )
    )


def _ask_to_cancel(order: Order, fo: FulfillmentOrder, service: str, cause: str, now: datetime) -> None:
    left = fo.remaining
    then = (
        "Please cancel this fulfillment; Orderdeck requests the new quantities as soon as you do."
        if left
        else "Nothing is left to fulfill on it: please cancel this fulfillment."
    )
    request_cancellation(order, fo, message=f"{cause} after you accepted it. {then}", author=SYSTEM, now=now)
    # When the service accepts, its replacement (the units left) is requested again at once.
    fo.automatic_request = "at_once"


def _alert(order: Order, fo: FulfillmentOrder, service: str, cause: str, state: str, now: datetime) -> None:
    _touch(order, fo, now)
    waiting = "has not answered a cancellation request" if state == "cancellation_requested" else "refused to cancel"
    order.record(
        DomainEvent(
            verb="fulfillment_changed_while_held",
            author=SYSTEM,
            subject_id=fo.id,
            topics=("orders/updated",),
            message=f"{cause} while {service} holds fulfillment order {fo.id} and {waiting}: "
            f"tell {service} the new quantities, or it may ship units no longer on the order.",
            arguments={"request_status": state, "cause": cause},
            alert_staff=True,
        )
    )
