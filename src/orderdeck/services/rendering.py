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
from ..store.tables import orders
from .context import Orderdeck

BATCH = 500


def rerender_stale(app: Orderdeck, *, batch: int = BATCH) -> int:
    """Store a fresh rendering for every order whose stored one was made with other settings.
    Returns how many were stored. Safe beside running commands: a rendering is written only if
    the order is still at the version it was rendered from."""
    done, last = 0, 0
    while True:
        with app.unit_of_work() as uow:
            ctx = app.render_context(uow)
            rows = uow.conn.execute(
                select(orders.c.id, orders.c.version, orders.c.document)
                .where(
                    orders.c.id > last,
                    or_(orders.c.rendered.is_(None), orders.c.rendered_for != ctx.fingerprint),
                )
                .order_by(orders.c.id)
                .limit(batch)
            ).all()
            if not rows:
                return done
            uow.conn.execute(
                update(orders)
                .where(orders.c.id == bindparam("order_id"), orders.c.version == bindparam("at_version"))
                .values(rendered=bindparam("fresh"), rendered_for=ctx.fingerprint),
                [
                    {
                        "order_id": row.id,
                        "at_version": row.version,
                        "fresh": orjson.dumps(render.order(decode_order(row.document), ctx)).decode(),
                    }
                    for row in rows
                ],
            )
            uow.commit()
        done += len(rows)
        last = rows[-1].id
