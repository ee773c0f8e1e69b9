"""Saving a changed order: statuses, status-change topics, auto-archive, timeline, outbox.

Every command ends here, so these things happen the same way whatever changed the order.
"""

from __future__ import annotations

import orjson

from ..domain import auto_requests, fulfillment_requests, lifecycle, returns, service_notifications, stuck
from ..domain.order import DomainEvent, Order
from ..domain.statuses import DerivedStatuses, balance, derive_statuses
from ..resources import order_edits as edit_json
from ..resources import render
from ..store import counts
from ..store.fulfillment_services import FulfillmentServices
from ..store.orders import search_terms, status_columns
from ..store.outbox import OutboxMessage
from ..store.returns import fulfilled_by_line
from ..store.service_notifications import ServiceNotifications
from ..store.trackers import Trackers
from .auto_requests import follow_up as follow_up_at_services
from .context import Command
from .held import release_loaded


class Loaded:
    """An order as it was when the command loaded it, to tell what the command changed."""

    def __init__(self, order: Order) -> None:
        self.order = order
        self.statuses = derive_statuses(order)
        self.terms = search_terms(order)
        self.count_key = counts.key_of(status_columns(order, self.statuses))
        self.fulfilled = fulfilled_by_line(order)
        # What fulfillment services held, and the fulfillment orders there were (services/auto_requests.py).
        self.held = auto_requests.held_by_services(order)
        self.fulfillment_order_ids = {fo.id for fo in order.fulfillment_orders}


def load_order(cmd: Command, order_id: int) -> Loaded:
    order = cmd.uow.orders.get(order_id, for_update=True)
    # A bulk change may have left messages held until the order is rendered (services/held.py):
    # they carry the order as that change left it, which is the order as loaded here.
    release_loaded(cmd, order)
    return Loaded(order)


def _status_topics(before: DerivedStatuses | None, after: DerivedStatuses) -> list[str]:
    topics = []
    if after.financial_status == "paid" and (before is None or before.financial_status != "paid"):
        topics.append("orders/paid")
    if before is None or before.fulfillment_status != after.fulfillment_status:
        if after.fulfillment_status == "fulfilled":
            topics.append("orders/fulfilled")
        elif after.fulfillment_status == "partial":
            topics.append("orders/partially_fulfilled")
    return topics


def _payload(cmd: Command, order: Order, event: DomainEvent, topic: str, order_json: bytes) -> bytes:
    ctx = cmd.app.render_context(cmd.uow)
    sid = event.subject_id
    if topic.startswith(("fulfillments/", "fulfillment_events/")) and sid is not None:
        found = order.fulfillment(sid)
        if found is not None:
            if topic.startswith("fulfillment_events/") and found.events:
                wanted = event.arguments.get("event_id") if event.arguments else None
                told = next((e for e in found.events if e.id == wanted), found.events[-1])
                return orjson.dumps(render.fulfillment_event(order, found, told, ctx))
            return orjson.dumps(render.fulfillment(order, found, ctx))
    if topic.startswith("fulfillment_orders/") and sid is not None:
        fo = order.fulfillment_order(sid)
        if fo is not None and topic in fulfillment_requests.PAYLOAD_TOPICS:
            return orjson.dumps(fulfillment_requests.webhook_payload(topic, order, fo, event.arguments))
        if fo is not None:
            # supported_actions differ at a fulfillment service's location.
            services = {s.location_id for s in FulfillmentServices(cmd.uow.conn).all()}
            return orjson.dumps(
                {"fulfillment_order": render.fulfillment_order(order, fo, ctx, service_locations=services)}
            )
    if topic == "order_transactions/create" and sid is not None:
        txn = order.transaction(sid)
        if txn is not None:
            return orjson.dumps(render.transaction(order, txn, ctx))
    if topic.startswith("returns/") and sid is not None:
        ret = order.return_(sid)
        if ret is not None:
            return orjson.dumps(render.return_webhook(order, ret, topic, ctx, event.arguments))
    if topic == "reverse_deliveries/attach_deliverable" and sid is not None:
        delivery = returns.find_reverse_delivery(order, sid)
        if delivery is not None:
            return orjson.dumps(render.reverse_delivery_webhook(order, delivery[0], delivery[2], ctx))
    if topic == "reverse_fulfillment_orders/dispose" and sid is not None:
        reverse = returns.find_reverse_fulfillment_order(order, sid)
        if reverse is not None:
            return orjson.dumps(render.dispose_webhook(reverse[1]))
    if topic == "orders/edited" and sid is not None:
        edit = cmd.uow.order_edits.get(sid, for_update=False)
        return orjson.dumps(edit_json.edited_webhook(order, edit, ctx))
    if topic == "refunds/create" and sid is not None:
        found_refund = next((r for r in order.refunds if r.id == sid), None)
        if found_refund is not None:
            return orjson.dumps(render.refund(order, found_refund, ctx))
    return order_json


def _returns_concerned(order: Order, raised: list[OutboxMessage]) -> dict[str, list[int]]:
    """The returns each raised topic is about (a return's own topics, a reverse delivery's, a
    disposal's, a refund's of a return): a rule triggered by the topic reads and acts on them."""
    found: dict[str, list[int]] = {}
    for m in raised:
        sid = m.subject_id
        if sid is None:
            continue
        about: int | None = None
        if m.topic.startswith("returns/"):
            about = sid if order.return_(sid) is not None else None
        elif m.topic == "reverse_deliveries/attach_deliverable":
            delivery = returns.find_reverse_delivery(order, sid)
            about = delivery[0].id if delivery else None
        elif m.topic == "reverse_fulfillment_orders/dispose":
            reverse = returns.find_reverse_fulfillment_order(order, sid)
            about = reverse[0].id if reverse else None
        elif m.topic == "refunds/create":
            about = next((r.return_id for r in order.refunds if r.id == sid), None)
        if about is not None and about not in found.get(m.topic, []):
            found.setdefault(m.topic, []).append(about)
    return found


def save_order(cmd: Command, order: Order, loaded: Loaded | None) -> bytes:
    """Persist a new or changed order with everything that follows from the change.

    Returns the rendered order (JSON) so the caller can answer with it without rendering twice.
    """
    uow = cmd.uow
    before = loaded.statuses if loaded else None
    if order.returns:
        # Exchange items held while the customer owed money ship once nothing is owed, whatever
        # settled it (a capture, mark as paid, a refund of the returned units).
        returns.release_paid_exchanges(order, owed=balance(order), author=cmd.author, now=cmd.now)
    # Fulfillment services: routing announced, edits of work they hold followed up, due requests sent.
    follow_up_at_services(cmd, order, loaded)
    # A command that resolves what an order was stuck on (an answer, a shipment, a new request, a
    # cancellation) drops that flag in the same transaction (domain/stuck.py).
    stuck.clear_gone(order, now=cmd.now)
    after = derive_statuses(order)
    if uow.shop.settings.auto_archive and not order.is_closed and lifecycle.auto_archive(order, now=cmd.now):
        after = derive_statuses(order)
    events = order.events
    order.events = []
    topics_by_event = [(e, list(e.topics)) for e in events]
    status_topics = _status_topics(before, after)
    if loaded is not None and events and not any("orders/updated" in t for _, t in topics_by_event):
        status_topics.append("orders/updated")
    ctx = cmd.app.render_context(uow)
    order_json = orjson.dumps(render.order(order, ctx))
    if loaded is None:
        uow.orders.add(order, rendered=order_json, rendered_for=ctx.fingerprint)
    else:
        uow.orders.save(
            order,
            previous_terms=loaded.terms,
            previous_count_key=loaded.count_key,
            rendered=order_json,
            rendered_for=ctx.fingerprint,
        )
    # The Returns list's and the reports' rows, in the same transaction as the order.
    uow.returns.sync(order, fulfilled_before=loaded.fulfilled if loaded else None)
    # The Shipments page's rows likewise (one per fulfillment).
    uow.shipments.sync(order, had_any=loaded is not None)
    # A carrier tracker for each new tracking number a carrier account can poll (store/trackers.py).
    Trackers(uow.conn).follow(order, cmd.now)
    messages: list[OutboxMessage] = []
    order_topics_sent: set[str] = set()
    for event, topics in topics_by_event:
        for topic in topics:
            if topic.startswith("orders/"):
                # One orders/updated (or orders/cancelled …) per command, however many steps.
                if topic in order_topics_sent:
                    continue
                order_topics_sent.add(topic)
            messages.append(
                OutboxMessage(
                    "webhook",
                    topic,
                    _payload(cmd, order, event, topic, order_json).decode(),
                    order.id,
                    event.subject_id,
                )
            )
        if event.notify:
            messages.append(
                OutboxMessage(
                    "notification",
                    event.notify,
                    orjson.dumps(
                        {"order_id": order.id, "subject_id": event.subject_id, "template": event.notify}
                    ).decode(),
                    order.id,
                    event.subject_id,
                )
            )
        if event.verb in service_notifications.KIND_OF_VERB and event.subject_id is not None:
            # The fulfillment service is told a request waits for it (outbox/service_calls.py).
            fo = order.fulfillment_order(event.subject_id)
            if fo is not None:
                messages.append(
                    OutboxMessage(
                        "service_call",
                        service_notifications.KIND_OF_VERB[event.verb],
                        orjson.dumps(
                            {
                                "fulfillment_order_id": fo.id,
                                "location_id": fo.assigned_location_id,
                                "request_id": event.arguments.get("request_id"),
                            }
                        ).decode(),
                        order.id,
                        fo.id,
                    )
                )
        if event.alert_staff:
            # Staff alerts wait here for the staff mailer; until it exists staff see them on the
            # order's timeline (and stuck orders by their tag).
            messages.append(
                OutboxMessage(
                    "staff_alert",
                    event.verb,
                    orjson.dumps(
                        {
                            "order_id": order.id,
                            "name": order.name,
                            "message": event.message,
                            # the mail's subject when the event names one (a stuck request's reason)
                            **({"subject": event.arguments["subject"]} if event.arguments.get("subject") else {}),
                        }
                    ).decode(),
                    order.id,
                    event.subject_id,
                )
            )
    for topic in status_topics:
        if topic in order_topics_sent:
            continue
        messages.append(OutboxMessage("webhook", topic, order_json.decode(), order.id))
    if events:
        # Automation rules listen to the same changes the timeline shows.
        messages.append(
            OutboxMessage(
                "automation",
                "order_changed",
                orjson.dumps(
                    {
                        "order_id": order.id,
                        "verbs": [e.verb for e in events],
                        # What rules trigger on: the topics this change raised, whether or not
                        # anyone subscribes to them.
                        "topics": sorted({m.topic for m in messages if m.kind == "webhook"}),
                        # … and, for topics about returns, which return: the rule reads that one.
                        "returns": _returns_concerned(order, [m for m in messages if m.kind == "webhook"]),
                        "financial_status": after.financial_status,
                        "fulfillment_status": after.display_fulfillment_status,
                        # Who made the change: a rule's own change never triggers that rule
                        # again, and chains of rules stop at a depth limit.
                        "author": {"kind": cmd.author.kind, "ref": cmd.author.ref},
                    }
                ).decode(),
                order.id,
            )
        )
    if events and any(fo.merchant_requests for fo in order.fulfillment_orders):
        # Notifications to a service stop once their request has moved on, whatever moved it.
        ServiceNotifications(uow.conn).settle(order, cmd.now)
    uow.timeline.append(order.id, events, cmd.now)
    uow.outbox.put(messages, cmd.now)
    return order_json
