"""What a change sets off at fulfillment services by itself (domain/auto_requests.py has the
rules): the routing webhook for work newly assigned to a service, the follow-up to an edit of
work a service holds, and the requests now due. save_order runs it before statuses are derived,
in the command's own transaction, so the events, webhooks and notifications follow as for any
request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain import auto_requests as rules
from ..domain.fulfillment_requests import announce_routing
from ..domain.order import Order
from ..domain.statuses import financial_status
from ..store.fulfillment_services import FulfillmentServices
from .context import Command

if TYPE_CHECKING:
    from .changes import Loaded


def _may_send(order: Order) -> bool:
    return not order.is_cancelled and any(
        fo.status == "open" and fo.request_status == "unsubmitted" and fo.automatic_request != "never"
        for fo in order.fulfillment_orders
    )


def follow_up(cmd: Command, order: Order, loaded: Loaded | None) -> None:
    held = loaded.held if loaded is not None else {}
    changed_held = bool(held) and rules.held_by_services(order) != held
    if loaded is None:
        routed = list(order.fulfillment_orders)  # placed: every fulfillment order was just routed
    elif any(e.verb == "order_edited" for e in order.events):
        routed = [fo for fo in order.fulfillment_orders if fo.id not in loaded.fulfillment_order_ids]
    else:
        routed = []
    if not (changed_held or routed or _may_send(order)):
        return  # the common case costs no query
    services = FulfillmentServices(cmd.uow.conn).all()
    if not services:
        return
    names = {s.location_id: s.name for s in services}
    announce_routing(order, routed, names)
    if changed_held:
        rules.tell_services(order, held, names, cmd.now)
    shop_when = cmd.uow.shop.settings.auto_request_fulfillment
    by_location = {
        s.location_id: rules.ServiceRule(s.name, rules.rule_for(s.auto_request, shop_when)) for s in services
    }
    rules.send_due(order, by_location, financial_status(order), cmd.now)
