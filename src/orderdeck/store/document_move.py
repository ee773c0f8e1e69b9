"""Migration 0027's work: each order's document and rendering move out of `orders` into
`order_documents`, and the narrow row gets the columns lists, exports and reports read
(store/orders.summary_columns), filled from the document (shipment rows get `delivered_at`).

A million orders is 20 GB to move, so the move is made to be stopped and started again:
`prepare` adds the new table and columns (nothing is taken away, so the version before 0027
still runs on the database); `move` then walks the orders by id a batch at a time, each batch
in its own transaction when `orderdeck migrate` runs it (store/migrate.py), and starts after the
last order already moved, so a run killed halfway goes on where it stopped. Migration 0027
itself moves what is left (everything, when Alembic runs it alone) and only then drops the old
columns, in the migration's one transaction. Memory stays at one batch however many orders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from sqlalchemy import Connection, Text, bindparam, column, func, insert, inspect, select, table, text, update

from .batched import Transaction, walk
from .codec import BadDocument, decode_order
from .orders import summary_columns
from .shipments import shipment_row
from .tables import order_documents, orders, shipments

log = logging.getLogger("alembic.runtime.migration")

BATCH = 1000
# The columns 0027 adds to `orders`, as store/orders.summary_columns writes them.
SUMMARY = (
    "placed_at_text",
    "email_as_written",
    "customer_display_name",
    "subtotal_amount",
    "shipping_amount",
    "tax_amount",
    "total_amount",
    "discount_codes",
    "tags",
    "line_summary",
    "tracking_numbers",
    "cancelled_at_text",
    "cancel_reason",
    "first_fulfilled_at",
)
# The columns 0027 takes out of `orders` (the layout before it).
WIDE = table("orders", column("id"), column("document", Text), column("rendered", Text), column("rendered_for"))
MOVED = ("document", "rendered", "rendered_for")


@dataclass
class MoveReport:
    moved: int = 0
    unreadable: list[int] = field(default_factory=list)  # orders whose document did not load


def to_move(conn: Connection) -> bool:
    """Whether documents still wait in `orders` (the database is not narrow yet)."""
    return "document" in {c["name"] for c in inspect(conn).get_columns("orders")}


def prepare(conn: Connection) -> None:
    """Add `order_documents`, the summary columns and `shipments.delivered_at` where missing
    (safe to run again)."""
    inspector = inspect(conn)
    if not inspector.has_table("order_documents"):
        order_documents.create(conn)
    for name, columns in (("orders", SUMMARY), ("shipments", ("delivered_at",))):
        present = {c["name"] for c in inspector.get_columns(name)}
        target = orders if name == "orders" else shipments
        for added in columns:
            if added not in present:
                kind = target.c[added].type.compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {name} ADD COLUMN {added} {kind}"))


def moved_up_to(conn: Connection) -> int:
    """The last order moved: batches go in id order and each commits whole."""
    return int(conn.execute(select(func.coalesce(func.max(order_documents.c.order_id), 0))).scalar_one())


def _summary_update() -> Any:
    return update(orders).where(orders.c.id == bindparam("order_id")).values({n: bindparam(n) for n in SUMMARY})


def _delivered_update() -> Any:
    return (
        update(shipments)
        .where(shipments.c.fulfillment_id == bindparam("fid"))
        .values(delivered_at=bindparam("delivered"))
    )


def move_batch(conn: Connection, *, batch: int = BATCH, report: MoveReport | None = None) -> int:
    """Move the next `batch` orders after the last one moved; how many were moved (0: done)."""
    report = report if report is not None else MoveReport()
    after = moved_up_to(conn)
    w = WIDE.c
    rows = conn.execute(
        select(w.id, w.document, w.rendered, w.rendered_for).where(w.id > after).order_by(w.id).limit(batch)
    ).all()
    if not rows:
        return 0
    conn.execute(
        insert(order_documents),
        [{"order_id": r.id, **{name: getattr(r, name) for name in MOVED}} for r in rows],
    )
    summaries, delivered = [], []
    for row in rows:
        try:
            order = decode_order(row.document)
        except BadDocument as exc:
            # Left without its summary: the export marks it, `orderdeck repair-orders` fills it.
            log.warning("order %s: %s; run `orderdeck repair-orders`", row.id, exc.message)
            report.unreadable.append(row.id)
            continue
        # Only the columns 0027 adds: a later one (0030's `tag_list`) is not there yet, and an
        # extra key named after a column of `orders` would join the UPDATE's SET.
        summary = summary_columns(order)
        summaries.append({"order_id": order.id, **{name: summary[name] for name in SUMMARY}})
        for f in order.fulfillments:
            when = shipment_row(order, f)["delivered_at"]
            if when is not None:
                delivered.append({"fid": f.id, "delivered": when})
    if summaries:
        conn.execute(_summary_update(), summaries)
    if delivered:
        conn.execute(_delivered_update(), delivered)
    report.moved += len(rows)
    return len(rows)


def move(
    transaction: Transaction,
    *,
    batch: int = BATCH,
    console: Console | None = None,
) -> MoveReport:
    """Move every order not moved yet, a batch per `transaction()` (a context manager giving a
    connection in a transaction that commits on leaving), with a progress bar on stderr."""
    report = MoveReport()
    with transaction() as conn:
        left = int(conn.execute(select(func.count()).where(WIDE.c.id > moved_up_to(conn))).scalar_one())
    if not left:
        return report
    walk(
        transaction,
        lambda conn: move_batch(conn, batch=batch, report=report),
        total=left,
        label="Moving order documents",
        console=console,
    )
    log.info("%s order(s) moved to order_documents; %s did not load", report.moved, len(report.unreadable))
    return report


def drop_moved_columns(conn: Connection) -> None:
    """Take the moved columns out of `orders` (after every document was moved)."""
    left = conn.execute(select(func.count()).where(WIDE.c.id > moved_up_to(conn))).scalar_one()
    if left:
        raise RuntimeError(f"{left} order(s) are not moved yet; their documents would be lost")
    for name in MOVED:
        conn.execute(text(f"ALTER TABLE orders DROP COLUMN {name}"))
