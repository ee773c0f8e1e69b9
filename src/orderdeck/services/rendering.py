"""Keeping each order's stored rendering current.

Every command stores the order as the API renders it (so lists answer without rendering), named
by the settings it was made with: the shop's time zone and the public URL that status links
point at. A rendering made with other settings is never served (a read renders afresh instead),
so after changing either, `orderdeck rerender` stores them again and lists are fast once more.
"""

from __future__ import annotations

import orjson
from sqlalchemy import bindparam, or_, select, update

from ..resources import render
from ..store.codec import decode_order
from ..store.tables import order_documents, orders
from .context import Orderdeck

BATCH = 500


def rerender_stale(app: Orderdeck, *, batch: int = BATCH) -> int:
    """Store a fresh rendering for every order whose stored one was made with other settings.
    Returns how many were stored. Safe beside running commands: a rendering is written only if
    the order is still at the version it was rendered from."""
    d = order_documents.c
    done, last = 0, 0
    while True:
        with app.unit_of_work() as uow:
            ctx = app.render_context(uow)
            rows = uow.conn.execute(
                select(orders.c.id, orders.c.version, d.document, orders.c.overlay)
                .select_from(orders.join(order_documents, d.order_id == orders.c.id))
                .where(
                    orders.c.id > last,
                    or_(d.rendered.is_(None), d.rendered_for != ctx.fingerprint),
                )
                .order_by(orders.c.id)
                .limit(batch)
            ).all()
            if not rows:
                return done
            # Only where the order is still at the version rendered (its narrow row says).
            still = select(orders.c.id).where(
                orders.c.id == bindparam("at_id"), orders.c.version == bindparam("at_version")
            )
            uow.conn.execute(
                update(order_documents)
                .where(d.order_id.in_(still.scalar_subquery()))
                .values(rendered=bindparam("fresh"), rendered_for=ctx.fingerprint),
                [
                    {
                        "at_id": row.id,
                        "at_version": row.version,
                        "fresh": orjson.dumps(render.order(decode_order(row.document, row.overlay), ctx)).decode(),
                    }
                    for row in rows
                ],
            )
            uow.commit()
        done += len(rows)
        last = rows[-1].id
