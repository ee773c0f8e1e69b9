"""Putting stored orders right after an upgrade or a bug: search terms an older version never
wrote, documents that no longer load, and orders an older version's rules left wrong.

Each walks the orders by id in batches, each batch in its own short transaction when run by
`orderdeck repair-orders`, or inside the migration's one transaction when a migration runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Connection, Row, Text, column, insert, select, table, update

from ..domain.order import Order
from ..domain.repairs import OrderRepair, repair_old_order
from . import counts
from .codec import BadDocument, _decoder, decode_order, encode_order, repair_document
from .documents import document_source, documents_here, store_document
from .inventory import InventoryRepository
from .orders import OrderRepository, _row, search_terms, status_columns, summary_columns
from .tables import order_search_terms, orders
from .timeline import Timeline

log = logging.getLogger(__name__)

BATCH = 500


def _orders_after(
    conn: Connection, last: int, batch: int, *columns: ColumnElement[Any], lock: bool = False
) -> Sequence[Row[Any]]:
    """The next `batch` orders by id after `last` (the walk every repair here makes), with
    `columns` and each one's `document` (wherever this database keeps it: store/documents.py,
    as migrations run these on older layouts); with `lock`, their rows locked for the
    transaction (PostgreSQL; SQLite's writer already holds the database)."""
    source, document, overlay = document_source(conn)
    query = (
        select(*columns, document.label("document"), overlay.label("overlay"))
        .select_from(source)
        .where(orders.c.id > last)
        .order_by(orders.c.id)
        .limit(batch)
    )
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return conn.execute(query).all()


def _name_terms(customer_name: str | None) -> set[tuple[str, str]]:
    """The `name` terms from the row's customer_name column (what search_terms makes of the
    document), for an order whose document does not load."""
    return {("name", word[:255]) for word in (customer_name or "").split() if len(word) > 1}


def fill_missing_search_terms(conn: Connection, *, batch: int = BATCH) -> int:
    """Add every search term an order should have and lacks: orders saved before a kind of term
    existed (`name`, added after 0001) never got it, and saving an order writes only the terms
    that changed. Returns how many terms were added. Terms are never removed here."""
    added = 0
    last = 0
    while True:
        rows = _orders_after(conn, last, batch, orders.c.id, orders.c.customer_name)
        if not rows:
            return added
        last = rows[-1].id
        ids = [row.id for row in rows]
        have: dict[int, set[tuple[str, str]]] = {i: set() for i in ids}
        for t in conn.execute(
            select(order_search_terms.c.order_id, order_search_terms.c.kind, order_search_terms.c.term).where(
                order_search_terms.c.order_id.in_(ids)
            )
        ):
            have[t.order_id].add((t.kind, t.term))
        missing = []
        for row in rows:
            try:
                wanted = search_terms(decode_order(row.document, row.overlay))
            except BadDocument as exc:
                log.error("order %s: %s; only its name terms were filled in", row.id, exc.message)
                wanted = _name_terms(row.customer_name)
            missing += [{"order_id": row.id, "kind": k, "term": t} for k, t in sorted(wanted - have[row.id])]
        if missing:
            conn.execute(insert(order_search_terms), missing)
            added += len(missing)


@dataclass
class RepairReport:
    checked: int = 0
    repaired: list[tuple[int, str, str]] = field(default_factory=list)  # (id, name, what was wrong)
    unreadable: list[tuple[int, str, str]] = field(default_factory=list)  # (id, name, the error)


def repair_documents(transaction: Callable[[], object], *, dry_run: bool = False, batch: int = BATCH) -> RepairReport:
    """Find orders whose stored document does not load. Those whose only fault is a null where
    the order has a default (the known bad value) are stored with the default — unless
    `dry_run` — and their stored rendering is dropped, to be made afresh; the others are
    reported, untouched. `transaction()` gives a context manager yielding a Connection in a
    transaction that commits on leaving (`engine.begin`)."""
    report = RepairReport()
    last = 0
    while True:
        with transaction() as conn:  # type: ignore[attr-defined]
            rows = _orders_after(conn, last, batch, orders.c.id, orders.c.name)
            if not rows:
                return report
            last = rows[-1].id
            report.checked += len(rows)
            for row in rows:
                try:
                    _decoder.decode(row.document)
                    continue
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    problem = str(exc)
                repaired = repair_document(row.document)
                if repaired is None:
                    report.unreadable.append((row.id, row.name, problem))
                    continue
                report.repaired.append((row.id, row.name, problem))
                if not dry_run:
                    store_document(conn, row.id, encode_order(repaired), drop_rendering=True)
                    if documents_here(conn):
                        # Its export cells and report columns, left empty when it did not load.
                        # With the fields a bulk change laid over the document, as every reader sees it.
                        seen = decode_order(encode_order(repaired), row.overlay) if row.overlay else repaired
                        conn.execute(update(orders).where(orders.c.id == row.id).values(**summary_columns(seen)))


@dataclass
class OldOrdersReport:
    checked: int = 0
    repaired: list[tuple[int, str, str]] = field(default_factory=list)  # (id, name, what was put right)
    stock_not_found: list[tuple[int, int, int]] = field(default_factory=list)  # (order, item, location)


def repair_old_orders(
    transaction: Callable[[], object], *, now: datetime, dry_run: bool = False, batch: int = BATCH
) -> OldOrdersReport:
    """Put right what older versions left wrong in orders by today's rules
    (`domain.repairs.repair_old_order`): units refunded without restock still on fulfillment
    orders come off them, their reserved stock written off at their location; refunds lacking
    the refund_discrepancy today's refund command records get it. Each repaired order is saved
    the way a command saves it (status columns, counts and search terms recomputed), gets a
    `repaired` timeline event, and its stored rendering is dropped to be made afresh. No webhook
    is sent. Orders whose document does not load are left to `repair_documents`. Running it
    again changes nothing. `transaction()` as for `repair_documents`."""
    report = OldOrdersReport()
    last = 0
    while True:
        with transaction() as conn:  # type: ignore[attr-defined]
            rows = _orders_after(conn, last, batch, orders.c.id, lock=True)
            if not rows:
                return report
            last = rows[-1].id
            report.checked += len(rows)
            for row in rows:
                try:
                    order = decode_order(row.document, row.overlay)
                except BadDocument:
                    continue
                fix = repair_old_order(order, now=now)
                if fix is None:
                    continue
                report.repaired.append((order.id, order.name, fix.message))
                if not dry_run:
                    _save_repair(conn, order, fix, now, report)


def _save_repair(conn: Connection, before: Order, fix: OrderRepair, now: datetime, report: OldOrdersReport) -> None:
    fixed = fix.order
    if fix.stock_moves:
        stock = InventoryRepository(conn)
        inventory = stock.load({m.inventory_item_id for m in fix.stock_moves})
        for move in fix.stock_moves:
            key = (move.inventory_item_id, move.location_id)
            level = inventory.levels.get(key)
            if level is None:  # the item is no longer stocked there: nothing reserved to write off
                log.warning("order %s: no stock level of item %s at location %s", fixed.id, key[0], key[1])
                report.stock_not_found.append((fixed.id, key[0], key[1]))
                continue
            level.committed += move.committed
            level.on_hand += move.on_hand
            level.available += move.available
            inventory.changed.add(key)
        stock.save(inventory, now)
    events, fixed.events = fixed.events, []
    # Older migrations (0017, 0019) run this on the layout before 0027: save_repaired writes either.
    save_repaired(
        conn, fixed, previous_terms=search_terms(before), previous_count_key=counts.key_of(status_columns(before))
    )
    Timeline(conn).append(fixed.id, events, now)


def save_repaired(
    conn: Connection, order: Order, *, previous_terms: set[tuple[str, str]], previous_count_key: counts.Key
) -> None:
    """Save an order a repair changed, as a command saves it, with no stored rendering (reads
    render it afresh), in this database's layout: before 0027 the document goes back into
    `orders`, whose row then has no summary columns (0027 fills them when it moves it)."""
    repository = OrderRepository(conn)
    if documents_here(conn):
        repository.save(order, previous_terms=previous_terms, previous_count_key=previous_count_key, rendered=None)
        return
    order.version += 1
    row = {k: v for k, v in _row(order).items() if k not in summary_columns(order)}
    # `orders` as it was then: today's columns (their types convert the values) and the document's.
    wide = table(
        "orders",
        *(column(name, orders.c[name].type) for name in row),
        *(column(name, Text) for name in ("document", "rendered", "rendered_for")),
    )
    values = {k: v for k, v in row.items() if k != "id"}
    conn.execute(
        update(wide)
        .where(wide.c.id == order.id)
        .values(**values, document=encode_order(order), rendered=None, rendered_for=None)
    )
    repository.record_changes(order, row, previous_terms=previous_terms, previous_count_key=previous_count_key)
