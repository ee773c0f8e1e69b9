"""Order counts by status, kept as they change, so the open-orders count and the badge cost the
same at a million orders as at ten.

Counting rows is linear in what matches (tens of milliseconds per hundred thousand orders on
any database), and a single counter row per status would make every order placed wait for the
one before it to commit. So each change appends a delta instead: +1 for an order's new status
combination, -1 for its old one, in the command's own transaction. A count is the sum of the
deltas whose combination matches the filter. Now and then (every `FOLD_EVERY` writes of a
process, and after every bulk batch) the deltas are folded into one row per combination;
`DELETE … RETURNING` makes the fold exact under concurrent writers, since each delta is taken
by exactly one fold and deltas of transactions still running are left for the next.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, select, text, true

from .tables import order_counts

FOLD_EVERY = 1000
FOLD_LOCK = text("SELECT pg_try_advisory_xact_lock(4242001)")
_writes = itertools.count(1)

# order_status, closed, cancelled, financial_status, fulfillment_status, display_fulfillment_status
Key = tuple[str, bool, bool, str, str | None, str]
_COLUMNS = (
    "order_status",
    "closed",
    "cancelled",
    "financial_status",
    "fulfillment_status",
    "display_fulfillment_status",
)


def key_of(row: dict[str, Any]) -> Key:
    """The status combination an order row is counted under."""
    return (
        str(row["order_status"]),
        row["closed_at"] is not None,
        row["cancelled_at"] is not None,
        str(row["financial_status"]),
        row["fulfillment_status"],
        str(row["display_fulfillment_status"]),
    )


def record(conn: Connection, changes: Iterable[tuple[Key, int]]) -> None:
    """Append the deltas of one command (or one batch); nets out what cancels."""
    net: Counter[Key] = Counter()
    for key, delta in changes:
        net[key] += delta
    rows = [dict(zip(_COLUMNS, key, strict=True), delta=delta) for key, delta in net.items() if delta]
    if not rows:
        return
    conn.execute(insert(order_counts), rows)
    if next(_writes) % FOLD_EVERY == 0:
        fold(conn)


def fold(conn: Connection) -> None:
    """Replace the deltas by one row per status combination, inside the caller's transaction."""
    # On PostgreSQL one fold at a time; a writer that finds another folding leaves it to that one.
    if conn.dialect.name == "postgresql" and not conn.execute(FOLD_LOCK).scalar_one():
        return
    taken = conn.execute(delete(order_counts).returning(*(order_counts.c[c] for c in _COLUMNS), order_counts.c.delta))
    net: Counter[Key] = Counter()
    for row in taken:
        net[(row[0], bool(row[1]), bool(row[2]), row[3], row[4], row[5])] += row[6]
    rows = [dict(zip(_COLUMNS, key, strict=True), delta=delta) for key, delta in net.items() if delta]
    if rows:
        conn.execute(insert(order_counts), rows)


def count(conn: Connection, where: list[ColumnElement[bool]]) -> int:
    return int(
        conn.execute(select(func.coalesce(func.sum(order_counts.c.delta), 0)).where(and_(true(), *where))).scalar_one()
    )
