"""The narrow order row (issue 16, step 5) measured on a loaded shop: the database's size (and
the `orders` table's, the pages a list or count walks), the CSV export of every order (time
and the server's peak memory while it streams), reports over the last 30 days, and the list
queries of bench/run.py (p50/p99 through the HTTP server), with per-order figures.

    .venv/bin/orderdeck demo --orders 200000        # ORDERDECK_DATABASE_URL=sqlite:////tmp/shop.db
    .venv/bin/python -m bench.narrow_row --database sqlite:////tmp/shop.db --label after --out narrow.json

Run it with the code before the change on one copy of the shop, migrate another copy with the
code after it (`orderdeck migrate`, timed on its own), and run it again there: the same
orders, measured the same way. It runs with whichever Orderdeck is importable (PYTHONPATH), so
the code before need only be checked out somewhere. Figures are printed and appended to
`--out` as JSON; nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from orderdeck.store import reports
from orderdeck.store.access import SCOPES, parse_scopes
from orderdeck.store.tables import orders

from . import machine
from .server import start

API = "/admin/api/2024-10"


def sizes(url: str) -> dict[str, float]:
    """MB: the whole database, and the `orders` table with its indexes (SQLite: dbstat)."""
    deck = build(Settings(database_url=url))
    found: dict[str, float] = {}
    with deck.db.reader.connect() as conn:
        if conn.dialect.name == "sqlite":
            path = make_url(url).database or ""
            found["database_mb"] = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p)) / 2**20
            free = conn.execute(text("PRAGMA freelist_count")).scalar_one()
            page = conn.execute(text("PRAGMA page_size")).scalar_one()
            found["free_pages_mb"] = free * page / 2**20
            try:
                rows = conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all()
            except Exception:  # SQLite built without dbstat
                rows = []
            by_name = {name: int(size) for name, size in rows}
            found["orders_table_mb"] = by_name.get("orders", 0) / 2**20
            found["orders_indexes_mb"] = sum(v for k, v in by_name.items() if k.startswith("ix_orders_")) / 2**20
            found["order_documents_mb"] = by_name.get("order_documents", 0) / 2**20
        else:

            def mb(sql: str) -> float:
                return float(conn.execute(text(sql)).scalar_one() or 0) / 2**20

            found["database_mb"] = mb("SELECT pg_database_size(current_database())")
            found["orders_table_mb"] = mb("SELECT pg_table_size('orders')")
            found["orders_indexes_mb"] = mb("SELECT pg_indexes_size('orders')")
            found["order_documents_mb"] = mb("SELECT pg_total_relation_size(to_regclass('order_documents'))")
    deck.db.dispose()
    return found


def measure_reports(url: str, repeats: int) -> dict[str, Any]:
    """Every report of the last 30 days (the page's default), median of `repeats`, and each query."""
    deck = build(Settings(database_url=url))
    with deck.unit_of_work(read_only=True) as uow:
        newest = uow.conn.execute(select(func.max(orders.c.created_at))).scalar_one()
        newest = newest if isinstance(newest, datetime) else datetime.fromisoformat(str(newest))
        last = newest.date()
        period = reports.Period(last - timedelta(days=29), last, "day", uow.shop.timezone)
        in_period = uow.conn.execute(select(func.count()).where(reports._placed_in(period))).scalar_one()
        each: dict[str, list[float]] = {}
        for name, query in (
            ("orders and revenue", reports.orders_over_time),
            ("payment status", reports.payment_status),
            ("cancel reasons", reports.cancel_reasons),
            ("cancelled products", reports.cancelled_products),
            ("time to fulfil", reports.lead_time),
            ("time in transit", reports.transit_time),
        ):
            for _ in range(repeats):
                started = time.perf_counter()
                query(uow.conn, period)
                each.setdefault(name, []).append(time.perf_counter() - started)
        whole = []
        for _ in range(repeats):
            started = time.perf_counter()
            reports.build(uow.conn, period)
            whole.append(time.perf_counter() - started)
    deck.db.dispose()
    return {
        "orders_in_30_days": int(in_period),
        "all_reports_s": statistics.median(whole),
        "each_s": {k: statistics.median(v) for k, v in each.items()},
    }


def _token(url: str) -> str:
    deck = build(Settings(database_url=url))
    with deck.unit_of_work() as uow:
        _, token = uow.tokens.create("narrow-row benchmark", parse_scopes(list(SCOPES)), uow.now)
        uow.commit()
    deck.db.dispose()
    return str(token)


def _questions(url: str) -> list[tuple[str, str]]:
    """bench/run.py's list questions, asked of this shop."""
    deck = build(Settings(database_url=url))
    with deck.unit_of_work(read_only=True) as uow:
        sample = uow.conn.execute(
            text("SELECT email, name FROM orders WHERE email IS NOT NULL ORDER BY id DESC LIMIT 1")
        ).one()
        tracking = (
            uow.conn.execute(text("SELECT term FROM order_search_terms WHERE kind = 'tracking' LIMIT 1")).scalar()
            or "none"
        )
        newest = uow.conn.execute(text("SELECT max(created_at) FROM orders")).scalar_one()
    deck.db.dispose()
    newest_at = newest if isinstance(newest, datetime) else datetime.fromisoformat(str(newest))
    day = newest_at.replace(tzinfo=UTC).date().isoformat()
    # A whole day four weeks back too: the newest day has few orders, all among the newest ids,
    # which a walk of the newest orders meets at once; an older day's orders it meets only after
    # every newer one (1.7 s at a million on PostgreSQL, measured in the fourth session).
    past = (newest_at.replace(tzinfo=UTC).date() - timedelta(days=28)).isoformat()
    return [
        ("open, unfulfilled, paid", "/orders.json?status=open&fulfillment_status=unshipped&financial_status=paid"),
        ("on hold", "/orders.json?status=any&fulfillment_status=on_hold"),
        ("authorized (to capture)", "/orders.json?status=open&financial_status=authorized"),
        ("partially fulfilled", "/orders.json?status=any&fulfillment_status=partial"),
        ("tag", "/orders.json?status=any&tag=vip"),
        ("search: e-mail", f"/orders.json?status=any&q={sample.email}"),
        ("search: order name", f"/orders.json?status=any&q=%23{sample.name.lstrip('#')}"),
        ("search: tracking number", f"/orders.json?status=any&q={tracking}"),
        (
            "date range (one day)",
            f"/orders.json?status=any&created_at_min={day}T00:00:00Z&created_at_max={day}T23:59:59Z",
        ),
        (
            "date range (a day 4 weeks back)",
            f"/orders.json?status=any&created_at_min={past}T00:00:00Z&created_at_max={past}T23:59:59Z",
        ),
        ("open-orders count", "/orders/count.json?status=open"),
    ]


def _timed(client: httpx.Client, path: str, repeats: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def through_the_server(url: str, repeats: int, workdir: Path) -> dict[str, Any]:
    """The list queries (limit 50), then the CSV export of every order, watching the server's memory."""
    token = _token(url)
    questions = _questions(url)
    server = start(url, workers=1, log=workdir / "server-narrow-row.log")
    found: dict[str, Any] = {"lists": {}}
    try:
        headers = {"X-Shopify-Access-Token": token}
        with httpx.Client(base_url=server.url + API, headers=headers, timeout=3600) as client:
            for label, path in questions:
                client.get(path)  # warm
                p50, p99 = _timed(client, path + ("&limit=50" if "orders.json" in path else ""), repeats)
                found["lists"][label] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1)}
            with server.peak_rss_mb() as peak:
                started = time.perf_counter()
                rows, size = 0, 0
                with client.stream("GET", "/orders/export.csv?status=any") as response:
                    for chunk in response.iter_bytes():
                        rows += chunk.count(b"\n")
                        size += len(chunk)
                elapsed = time.perf_counter() - started
            found["export"] = {"orders": rows - 1, "seconds": elapsed, "peak_mb": max(peak), "csv_mb": size / 2**20}
    finally:
        server.stop()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--label", default="run")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    url = args.database
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    deck = build(Settings(database_url=url))
    with deck.db.reader.connect() as conn:
        total = conn.execute(select(func.count()).select_from(orders)).scalar_one()
    deck.db.dispose()
    result: dict[str, Any] = {
        "label": args.label,
        "orders": total,
        "machine": machine.describe(url if "postgres" in url else None),
        "load_before": load_before,
        "sizes": sizes(url),
        "reports_30_days": measure_reports(url, max(3, args.repeats // 4)),
        **through_the_server(url, args.repeats, args.workdir),
    }
    with open("/proc/loadavg") as f:
        result["load_after"] = f.read().split()[:3]
    per = {
        "database_kb_per_order": result["sizes"]["database_mb"] * 1024 / total,
        "orders_table_kb_per_order": result["sizes"]["orders_table_mb"] * 1024 / total,
        "export_us_per_order": result["export"]["seconds"] * 1e6 / total,
        "reports_us_per_order_in_period": result["reports_30_days"]["all_reports_s"]
        * 1e6
        / max(1, result["reports_30_days"]["orders_in_30_days"]),
    }
    result["per_order"] = {k: round(v, 3) for k, v in per.items()}
    text_out = json.dumps(result, indent=2, default=str)
    print(text_out)
    if args.out:
        with args.out.open("a") as f:
            f.write(re.sub(r"\s+", " ", json.dumps(result, default=str)) + "\n")


if __name__ == "__main__":
    main()
