"""Messaging the customers of chosen shipments (the Shipments page's bulk action, S6.1).

One e-mail per order, however many of its shipments were chosen: the staff member's own message
(Liquid, like the Orders page's bulk message) or the shipping_update notification about the
order's newest chosen shipment. They go the way every notification goes: an outbox message the
worker sends, queued in one transaction with a line on each order's timeline.

"Never twice for one click": the confirmation form carries a token made when it was shown, and
each outbox message's id is derived from that token and the order. Posting the same form again
(a double click, a reload, a retry) queues the same ids, which the outbox's primary key refuses,
so nothing is queued twice and the staff member is told it was queued already.
"""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy import exc as sql_errors
from sqlalchemy import insert, select

from ..domain.errors import InvalidInput
from ..domain.order import Author, DomainEvent
from ..store.tables import outbox
from . import notifications
from .context import Orderdeck

TEMPLATES = ("custom_message", "shipping_update")
_CLICKS = uuid.UUID("6f0b2b4e-9f55-4c8a-9d1c-5b2f4f1e7a10")
MAX_CLICK = 64


class AlreadyQueued(Exception):
    """This form was sent before: its messages are queued (or sent) already."""


def _message_id(click: str, order_id: int) -> str:
    return str(uuid.uuid5(_CLICKS, f"{click}:{order_id}"))


def check(template: str, subject: str | None, body: str | None, shop_name: str) -> dict[str, str] | None:
    """The message to send, checked before anything is queued (a refusal names the field)."""
    if template not in TEMPLATES:
        raise InvalidInput("choose your own message or the shipping update e-mail", field="template")
    if template == "shipping_update":
        return None
    subject, body = (subject or "").strip(), (body or "").strip()
    if not subject:
        raise InvalidInput("write a subject", field="subject")
    if len(subject) > 255:
        raise InvalidInput("the subject can be at most 255 characters", field="subject")
    if not body:
        raise InvalidInput("write the message", field="body")
    if len(body) > 10_000:
        raise InvalidInput("the message can be at most 10,000 characters", field="body")
    notifications.check_message(subject, body, "en", shop_name)
    return {"subject": subject, "body": body}


def message_customers(
    app: Orderdeck,
    *,
    targets: list[tuple[int, int]],
    template: str,
    message: dict[str, str] | None,
    click: str,
    author: Author,
) -> int:
    """Queue one e-mail per (order id, fulfillment id) in `targets` (one pair per order).
    Returns how many were queued; raises AlreadyQueued when this click's were queued before."""
    if not click or len(click) > MAX_CLICK:
        raise InvalidInput("this form has expired; open the Shipments page again", field="click")
    if template not in TEMPLATES or (template == "custom_message") != (message is not None):
        raise InvalidInput("choose your own message or the shipping update e-mail", field="template")
    if not targets:
        return 0

    what = f"a message to the customer, “{message['subject']}”" if message else "the shipping update e-mail"
    try:
        with app.unit_of_work() as uow:
            first = _message_id(click, targets[0][0])
            if uow.conn.execute(select(outbox.c.id).where(outbox.c.id == first)).first() is not None:
                raise AlreadyQueued
            rows = []
            for order_id, fulfillment_id in targets:
                payload: dict[str, object] = {"order_id": order_id, "template": template}
                if message is not None:
                    payload |= {"message": message, "liquid": True}
                else:
                    payload["subject_id"] = fulfillment_id
                rows.append(
                    {
                        "id": _message_id(click, order_id),
                        "kind": "notification",
                        "topic": template,
                        "order_id": order_id,
                        "subject_id": fulfillment_id,
                        "payload": orjson.dumps(payload).decode(),
                        "created_at": uow.now,
                        "available_at": uow.now,
                    }
                )
                asked = DomainEvent(
                    "notification_requested", f"{author.name} asked to send {what} (Shipments page).", author
                )
                uow.timeline.append(order_id, [asked], uow.now)
            uow.conn.execute(insert(outbox), rows)
            uow.commit()
    except sql_errors.IntegrityError:
        # The same form posted at the same moment: the other request queued them.
        raise AlreadyQueued from None
    return len(targets)
