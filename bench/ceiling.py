"""The ceiling: the rows one order writes, inserted by the shortest path the database allows.

We capture exactly what Orderdeck wrote for one real order (its order row and document row, search terms,
timeline events, outbox messages, status-count delta and stock levels) and write those same rows again and again,
one order per transaction, with nothing else in the way: pgbench for PostgreSQL, a minimal
loop over the standard sqlite3 module for SQLite. Orderdeck ÷ ceiling is the price of
everything else (HTTP, validation, the domain, rendering).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import (
    inventory_levels,
    order_counts,
    order_documents,
    order_search_terms,
    orders,
    outbox,
    timeline_events,
)


def captured_rows(deck: Orderdeck, order_id: int) -> dict[str, list[dict[str, Any]]]:
    with deck.unit_of_work(read_only=True) as uow:
        conn = uow.conn

        def rows(table: Any, where: Any) -> list[dict[str, Any]]:
            return [dict(r._mapping) for r in conn.execute(select(table).where(where))]

        order_rows = rows(orders, orders.c.id == order_id)
        document_rows = rows(order_documents, order_documents.c.order_id == order_id)
        item_ids = [li for li in re.findall(r'"inventory_item_id":(\d+)', document_rows[0]["document"])]
        return {
            "orders": order_rows,
            "order_documents": document_rows,
            "order_search_terms": rows(order_search_terms, order_search_terms.c.order_id == order_id),
            "timeline_events": rows(timeline_events, timeline_events.c.order_id == order_id),
            "outbox": rows(outbox, outbox.c.order_id == order_id),
            # The +1 a new order adds to the status counts (store/counts.py).
            "order_counts": [
                dict(r._mapping) for r in conn.execute(select(order_counts).order_by(order_counts.c.id.desc()).limit(1))
            ],
            "inventory_levels": rows(
                inventory_levels, inventory_levels.c.inventory_item_id.in_(sorted({int(i) for i in item_ids}))
            ),
        }


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _values(row: dict[str, Any], overrides: dict[str, str]) -> tuple[str, str]:
    columns = [c for c in row if c != "id" or "id" in overrides]
    values = [overrides.get(c, _literal(row[c])) for c in columns]
    return ", ".join(columns), ", ".join(values)


def pgbench_script(captured: dict[str, list[dict[str, Any]]]) -> str:
    """One order per transaction, the same statements Orderdeck runs, with fresh keys."""
    lines = [
        "BEGIN;",
        "UPDATE shop SET next_order_number = next_order_number + 1 WHERE id = 1 "
        "RETURNING next_order_number + 1000000000 AS n \\gset",
    ]
    row = captured["orders"][0]
    cols, vals = _values(row, {"id": ":n", "number": ":n", "name": "'#' || :n", "token": "md5(:n::text)"})
    lines.append(f"INSERT INTO orders ({cols}) VALUES ({vals});")
    for document in captured["order_documents"]:
        cols, vals = _values(document, {"order_id": ":n"})
        lines.append(f"INSERT INTO order_documents ({cols}) VALUES ({vals});")
    terms = captured["order_search_terms"]
    if terms:
        values = ", ".join(f"(:n, {_literal(t['kind'])}, {_literal(t['term'])})" for t in terms)
        lines.append(f"INSERT INTO order_search_terms (order_id, kind, term) VALUES {values};")
    for event in captured["timeline_events"]:
        cols, vals = _values({k: v for k, v in event.items() if k != "id"}, {"order_id": ":n"})
        lines.append(f"INSERT INTO timeline_events ({cols}) VALUES ({vals});")
    for message in captured["outbox"]:
        cols, vals = _values(message, {"id": "gen_random_uuid()::text", "order_id": ":n"})
        lines.append(f"INSERT INTO outbox ({cols}) VALUES ({vals});")
    for delta in captured["order_counts"]:
        cols, vals = _values(delta, {})
        lines.append(f"INSERT INTO order_counts ({cols}) VALUES ({vals});")
    levels = captured["inventory_levels"]
    if levels:
        values = ", ".join(
            f"({lv['inventory_item_id']}, {lv['location_id']}, {lv['available']}, "
            f"{lv['committed']}, {lv['on_hand']}, now())"
            for lv in levels
        )
        lines.append(
            "INSERT INTO inventory_levels (inventory_item_id, location_id, available, committed, "
            f"on_hand, updated_at) VALUES {values} ON CONFLICT (inventory_item_id, location_id) DO UPDATE "
            "SET available = inventory_levels.available - 1, committed = inventory_levels.committed + 1, "
            "updated_at = excluded.updated_at;"
        )
    lines.append("END;")
    return "\n".join(line.replace("\n", " ") for line in lines) + "\n"


def postgres_ceiling(url: str, captured: dict[str, list[dict[str, Any]]], *, clients: int, seconds: int) -> float:
    """Orders per second pgbench writes with `clients` connections."""
    script = Path(tempfile.mkdtemp()) / "order.sql"
    script.write_text(pgbench_script(captured))
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    out = subprocess.run(
        ["pgbench", "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), "-f", str(script), dsn],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    found = re.search(r"tps = ([\d.]+)", out.stdout)
    if not found:
        raise RuntimeError(f"pgbench failed: {out.stdout}\n{out.stderr}")
    return float(found.group(1))


def sqlite_ceiling(path: str, captured: dict[str, list[dict[str, Any]]], *, seconds: int) -> float:
    """Orders per second one connection writes (SQLite has one writer at a time anyway)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    row = captured["orders"][0]
    order_cols = [c for c in row]
    start_id = max(2_000_000_000, conn.execute("SELECT max(id) FROM orders").fetchone()[0] + 1)
    done = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        n = start_id + done
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE shop SET next_order_number = next_order_number + 1 WHERE id = 1 RETURNING next_order_number"
        ).fetchone()
        values = {**row, "id": n, "number": n, "name": f"#{n}", "token": f"t{n}"}
        conn.execute(
            f"INSERT INTO orders ({', '.join(order_cols)}) VALUES ({', '.join('?' * len(order_cols))})",
            [_sqlite_value(values[c]) for c in order_cols],
        )
        for document in captured["order_documents"]:
            cols = list(document)
            conn.execute(
                f"INSERT INTO order_documents ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [n if c == "order_id" else _sqlite_value(document[c]) for c in cols],
            )
        conn.executemany(
            "INSERT INTO order_search_terms (order_id, kind, term) VALUES (?, ?, ?)",
            [(n, t["kind"], t["term"]) for t in captured["order_search_terms"]],
        )
        for event in captured["timeline_events"]:
            cols = [c for c in event if c != "id"]
            conn.execute(
                f"INSERT INTO timeline_events ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [n if c == "order_id" else _sqlite_value(event[c]) for c in cols],
            )
        for message in captured["outbox"]:
            cols = list(message)
            conn.execute(
                f"INSERT INTO outbox ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [
                    f"c{n}-{cols and id(message)}" if c == "id" else n if c == "order_id" else _sqlite_value(message[c])
                    for c in cols
                ],
            )
        for delta in captured["order_counts"]:
            cols = [c for c in delta if c != "id"]
            conn.execute(
                f"INSERT INTO order_counts ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [delta[c] for c in cols],
            )
        for level in captured["inventory_levels"]:
            conn.execute(
                "UPDATE inventory_levels SET available = available - 1, committed = committed + 1 "
                "WHERE inventory_item_id = ? AND location_id = ?",
                (level["inventory_item_id"], level["location_id"]),
            )
        conn.execute("COMMIT")
        done += 1
    elapsed = time.perf_counter() - started
    conn.close()
    return done / elapsed


def _sqlite_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ")
    if value.__class__.__name__ == "Decimal":
        return str(value)
    return value
