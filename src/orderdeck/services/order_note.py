"""Who sees the order's `note`.

Shopify's `note` is one field that both the customer (the checkout's note) and staff write. The
customer's status page shows it as "Your note", so it shows it only while it is the customer's
own: the order was placed with it through the API (a checkout, not staff on the admin's new-order
page), and nobody has changed it since (staff in the admin, an app through the API, a rule).
Once changed it is staff's, and customers no longer see it. The admin's order page says which
of the two it is. The timeline records both facts (the `placed` event's author; `update` events
name the fields they changed), so nothing else needs storing.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, select

from ..domain.order import Order
from ..store.tables import timeline_events


def customer_sees_note(conn: Connection, order: Order) -> bool:
    """Whether the order's note is the customer's own, as placed, and so shown to them."""
    if not (order.note or "").strip():
        return False
    rows = conn.execute(
        select(timeline_events.c.verb, timeline_events.c.author_kind, timeline_events.c.arguments)
        .where(
            timeline_events.c.order_id == order.id,
            timeline_events.c.verb.in_(("placed", "update")),
            timeline_events.c.is_comment.is_(False),
        )
        .order_by(timeline_events.c.id)
    ).all()
    placed = next((row for row in rows if row.verb == "placed"), None)
    if placed is None or placed.author_kind == "staff":
        return False
    return not any(row.verb == "update" and "note" in orjson.loads(row.arguments).get("fields", []) for row in rows)
