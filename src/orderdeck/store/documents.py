"""Where the order documents are, for the walks over every stored order that migrations run.

Since migration 0027 an order's document lives in `order_documents` (tables.py); before it, in
a `document` column of `orders` itself. The commands and pages read the current layout only,
but the walks that older migrations run (0015's and 0017's repairs, 0018's and 0026's
backfills) read whichever layout the database is in when they run, so a database several
versions old still upgrades in one go.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, FromClause, Text, column, inspect, null, table, update

from .tables import order_documents, orders

# `orders` as it was before 0027, for writing a document back there.
_WIDE = table("orders", column("id"), column("document"), column("rendered"), column("rendered_for"))


def documents_here(conn: Connection) -> bool:
    """Whether this database keeps documents in `order_documents` (migration 0027 ran)."""
    return inspect(conn).has_table("order_documents")


def orders_have(conn: Connection, column_name: str) -> bool:
    """Whether `orders` has this column in this database (a later migration may add it)."""
    return column_name in {c["name"] for c in inspect(conn).get_columns("orders")}


def document_source(conn: Connection) -> tuple[FromClause, Any, Any]:
    """(what to select orders from, the column holding each order's document, its overlay:
    store/codec.decode_order lays it over the document) for this database's layout."""
    # Before 0029 there is no overlay: every document is whole.
    overlay = orders.c.overlay if orders_have(conn, "overlay") else null()
    if documents_here(conn):
        return (
            orders.join(order_documents, order_documents.c.order_id == orders.c.id),
            order_documents.c.document,
            overlay,
        )
    # Before 0027: an unbound column renders as plain `document`, the column of `orders` itself.
    return orders, column("document", Text), overlay


def store_document(conn: Connection, order_id: int, document: str, *, drop_rendering: bool = False) -> None:
    """Write an order's document back where this database keeps it; with `drop_rendering`, its
    stored rendering goes too (reads render the order afresh)."""
    dropped = {"rendered": None, "rendered_for": None} if drop_rendering else {}
    if documents_here(conn):
        c = order_documents.c
        conn.execute(update(order_documents).where(c.order_id == order_id).values(document=document, **dropped))
    else:
        conn.execute(update(_WIDE).where(_WIDE.c.id == order_id).values(document=document, **dropped))
