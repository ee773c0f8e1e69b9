"""Migration 0030's work: each order's tags as a JSON list in its narrow row (`orders.tag_list`),
which bulk tagging reads instead of the 5 KB document (store/bulk_updates.rows_for_update).

The column may be NULL, meaning "not filled yet: read the document", so adding it is instant and
every order reads right at any moment of the fill. The fill then reads each document once, a
million of them in minutes, so it is made to be stopped and started again like 0027's move
(store/document_move.py): `prepare` adds the column; `fill` walks the orders by id a batch at a
time, each batch in its own transaction when `orderdeck migrate` runs it (store/migrate.py), and
fills only what is still NULL, so a run killed halfway goes on where it stopped. Migration 0030
fills what is left (everything, when Alembic runs it alone). Memory stays at one batch: the
tags go from the document into the row inside the database.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console
from sqlalchemy import JSON, ColumnElement, Connection, Text, cast, func, select, text, update

from .batched import Transaction, walk
from .documents import orders_have
from .tables import order_documents, orders

log = logging.getLogger("alembic.runtime.migration")

BATCH = 5000


def prepare(conn: Connection) -> None:
    """Add the column where it is missing (safe to run again): NULL for every order."""
    if not orders_have(conn, "tag_list"):
        conn.execute(text("ALTER TABLE orders ADD COLUMN tag_list TEXT"))


def _tags(conn: Connection) -> ColumnElement[Any]:
    """The order's tags as JSON text: the overlay's where a bulk change left them there
    (migration 0029), else the document's (the codec always writes the list, [] for none)."""
    if conn.dialect.name == "postgresql":
        overlaid = cast(orders.c.overlay, JSON).op("->")("tags")
        return cast(func.coalesce(overlaid, cast(order_documents.c.document, JSON).op("->")("tags")), Text)
    return func.coalesce(
        func.json_extract(orders.c.overlay, "$.tags"), func.json_extract(order_documents.c.document, "$.tags")
    )


def fill_batch(conn: Connection, after: int, *, batch: int = BATCH) -> tuple[int, int] | None:
    """Fill the next `batch` orders after id `after` that have no tag list yet: (the last id of
    the batch, how many), or None when none is left."""
    ids = [
        r[0]
        for r in conn.execute(
            select(orders.c.id)
            .where(orders.c.id > after, orders.c.tag_list.is_(None))
            .order_by(orders.c.id)
            .limit(batch)
        )
    ]
    if not ids:
        return None
    tags = select(_tags(conn)).where(order_documents.c.order_id == orders.c.id).scalar_subquery()
    conn.execute(update(orders).where(orders.c.id.in_(ids)).values(tag_list=tags))
    return ids[-1], len(ids)


def fill_all(conn: Connection, *, batch: int = BATCH) -> int:
    """Fill every order still without a tag list, in this one transaction (migration 0030);
    how many."""
    filled, after = 0, 0
    while (done := fill_batch(conn, after, batch=batch)) is not None:
        after, n = done
        filled += n
    return filled


def left(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).where(orders.c.tag_list.is_(None))).scalar_one())


def fill(
    transaction: Transaction,
    *,
    batch: int = BATCH,
    console: Console | None = None,
) -> int:
    """Fill every order without a tag list, a batch per `transaction()` (a context manager giving
    a connection in a transaction that commits on leaving), with a progress bar on stderr.
    Returns how many it filled."""
    with transaction() as conn:
        todo = left(conn)
    if not todo:
        return 0
    filled, after = 0, 0

    def step(conn: Connection) -> int:
        nonlocal filled, after
        done = fill_batch(conn, after, batch=batch)
        if done is None:
            return 0
        after, n = done
        filled += n
        return n

    walk(transaction, step, total=todo, label="Filling order tag lists", console=console)
    log.info("%s order(s) given their tag list", filled)
    return filled
