"""The Stuck list's reads: orders with a standing stuck flag (domain/stuck.py), found through
their ("stuck", reason) search terms, newest first in keyset pages, and the count per reason."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from ..domain.order import Order
from .codec import BadDocument, decode_order
from .tables import order_documents, orders
from .tables import order_search_terms as terms


def counts(conn: Connection) -> dict[str, int]:
    """Stuck orders per reason, and "any" for all of them (only the stuck terms are read)."""
    rows = conn.execute(select(terms.c.term, func.count()).where(terms.c.kind == "stuck").group_by(terms.c.term)).all()
    return {term: int(count) for term, count in rows}


def page(conn: Connection, reason: str, *, before: int | None, limit: int) -> tuple[list[Order], int | None]:
    """A page of orders stuck for `reason` ("any": for any reason), newest first, and the id
    the next page starts before (None on the last page)."""
    query = (
        select(orders.c.id, order_documents.c.document, orders.c.overlay)
        .select_from(orders.join(order_documents, order_documents.c.order_id == orders.c.id))
        .join(terms, terms.c.order_id == orders.c.id)
        .where(terms.c.kind == "stuck", terms.c.term == reason)
        .order_by(orders.c.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(orders.c.id < before)
    rows = conn.execute(query).all()
    found = []
    for row in rows[:limit]:
        try:
            found.append(decode_order(row.document, row.overlay))
        except BadDocument:
            continue  # an unreadable order is left out here as in every list; repair-orders fixes it
    return found, (rows[limit - 1].id if len(rows) > limit else None)
