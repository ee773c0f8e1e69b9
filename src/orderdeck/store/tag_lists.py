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
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import JSON, ColumnElement, Connection, Text, cast, func, inspect, select, text, update

from .tables import order_documents, orders

log = logging.getLogger("alembic.runtime.migration")

BATCH = 5000


def has_column(conn: Connection) -> bool:
    return "tag_list" in {c["name"] for c in inspect(conn).get_columns("orders")}


def prepare(conn: Connection) -> None:
    """Add the column where it is missing (safe to run again): NULL for every order."""
    if not has_column(conn):
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
    transaction: Callable[[], AbstractContextManager[Connection]],
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
    console = console or Console(file=sys.stderr)
    columns = (TextColumn("Filling order tag lists"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    filled, after = 0, 0
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("orders", total=todo)
        while True:
            with transaction() as conn:
                done = fill_batch(conn, after, batch=batch)
            if done is None:
                break
            after, n = done
            filled += n
            progress.update(task, advance=n)
    log.info("%s order(s) given their tag list", filled)
    return filled
