"""Only the ingest part of the suite, for one database, in a few seconds per level:
`python -m bench.ingest_only --backend postgres --workers 2 --seconds 10`.

For each concurrency level: orders/s, p50/p99 and errors (wrk, bench/ingest.lua, the same order
as bench/run.py places), the load average at the end, and the server processes' CPU time per
order placed (user + system of every server process, read with psutil, divided by the orders
the database gained). Then the statements one placement runs (counted in-process on the
writer engine, after a warm-up order), the stock check (no deny-policy level below zero;
every level's committed units equal to what the orders' open fulfillment orders hold, and
on_hand = available + committed), and last the ceiling beside it (bench/ceiling.py; it writes
stock itself, so it runs after the check). Nothing here asserts on speed.

With `--variants N` each order's 3 lines are drawn at random from N variants made for the run
(bench/ingest_spread.lua), so no stock row is hot: the issue's "1,000 different variants".

It uses a database of its own (`orderdeck_bench_ingest` on PostgreSQL, a temporary file for
SQLite), so it can run beside bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text

from orderdeck.api.app import create_app
from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from orderdeck.store.tables import inventory_levels, orders, variants

from . import ceiling, status_changes
from .run import API, PG_ADMIN, order_body, prepare_shop, run_wrk, wrk_figures
from .server import Server, start

DATABASE = "orderdeck_bench_ingest"
ACTIVE_FO = ("open", "in_progress", "scheduled", "on_hold")


def fresh_database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    from sqlalchemy import create_engine

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{DATABASE}"


def drop_database(backend: str) -> None:
    if backend == "postgres":
        from sqlalchemy import create_engine

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        admin.dispose()


def add_variants(url: str, count: int) -> list[int]:
    """`count` products of one variant each, stocked amply at every active location."""
    from orderdeck.demo import STAFF
    from orderdeck.services import catalog
    from orderdeck.services.context import Command

    deck = build(Settings(database_url=url))
    made: list[int] = []
    with deck.unit_of_work() as uow:
        cmd = Command(deck, uow, STAFF)
        stock = {loc: 50_000_000 for loc in uow.catalog.active_location_ids()}
        for n in range(count):
            product = catalog.add_product(
                cmd,
                title=f"Spread {n}",
                vendor="Bench",
                product_type="Bench",
                new_variants=[
                    catalog.NewVariant(sku=f"SPREAD-{n}", title="Default Title", price=Decimal("3.00"), stock=stock)
                ],
            )
            made.append(product)
        uow.commit()
    with deck.unit_of_work(read_only=True) as uow:
        ids = [row[0] for row in uow.conn.execute(select(variants.c.id).where(variants.c.product_id.in_(made)))]
    deck.db.dispose()
    return ids


def run_spread_wrk(
    server: Server, token: str, body_file: Path, ids: list[int], *, connections: int, seconds: int
) -> dict[str, Any]:
    """run.py's run_wrk with bench/ingest_spread.lua."""
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_BODY_FILE": str(body_file),
        "BENCH_VARIANTS": ",".join(map(str, ids)),
    }
    script = Path(__file__).resolve().parent / "ingest_spread.lua"
    command = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s"]
    out = subprocess.run(
        [*command, "-s", str(script), f"{server.url}{API}/orders.json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    return wrk_figures(out, connections)


def order_count(url: str) -> int:
    deck = build(Settings(database_url=url))
    with deck.unit_of_work(read_only=True) as uow:
        found = int(uow.conn.execute(select(func.count()).select_from(orders)).scalar_one())
    deck.db.dispose()
    return found


def statements_per_placement(url: str, token: str, body: dict[str, Any]) -> tuple[int, list[str]]:
    """Statements on the writer engine for one POST /orders.json, after a warm-up order."""
    deck = build(Settings(database_url=url))
    seen: list[str] = []
    try:
        with TestClient(create_app(deck)) as client:
            headers = {"X-Shopify-Access-Token": token}
            for attempt in range(2):
                if attempt == 1:
                    event.listen(deck.db.writer, "before_cursor_execute", _recorder(seen))
                response = client.post(f"{API}/orders.json", json=body, headers=headers)
                if response.status_code != 201:
                    raise RuntimeError(f"placing an order: {response.status_code} {response.text[:300]}")
    finally:
        deck.db.dispose()
    return len(seen), seen


def _recorder(seen: list[str]) -> Any:
    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append(statement.split("\n", 1)[0][:100])

    return record


def check_stock(url: str) -> dict[str, Any]:
    """Never oversold: no deny-policy level below zero, committed == what open fulfillment
    orders hold, on_hand == available + committed. Reads every order (a few seconds per 10,000)."""
    deck = build(Settings(database_url=url))
    problems: list[str] = []
    held: dict[tuple[int, int], int] = {}
    with deck.unit_of_work(read_only=True) as uow:
        ids = [r[0] for r in uow.conn.execute(select(orders.c.id).order_by(orders.c.id))]
        for order_id in ids:
            order = uow.orders.get(order_id, for_update=False)
            if order.cancelled_at is not None:
                continue
            for fo in order.fulfillment_orders:
                if fo.status not in ACTIVE_FO:
                    continue
                for fl in fo.line_items:
                    if fl.inventory_item_id is not None:
                        key = (fl.inventory_item_id, fo.assigned_location_id)
                        held[key] = held.get(key, 0) + fl.fulfillable_quantity
        policy = dict(uow.conn.execute(select(variants.c.id, variants.c.inventory_policy)).all())
        levels = list(uow.conn.execute(select(inventory_levels)))
    deck.db.dispose()
    for lv in levels:
        key = (lv.inventory_item_id, lv.location_id)
        if policy.get(lv.inventory_item_id) == "deny" and lv.available < 0:
            problems.append(f"item {key[0]} at {key[1]}: available {lv.available} with policy deny")
        if lv.committed != held.get(key, 0):
            problems.append(f"item {key[0]} at {key[1]}: committed {lv.committed}, open orders hold {held.get(key, 0)}")
        if lv.on_hand != lv.available + lv.committed:
            problems.append(f"item {key[0]} at {key[1]}: on_hand {lv.on_hand} != available + committed")
    return {"orders": len(ids), "levels": len(levels), "ok": not problems, "problems": problems[:10]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--concurrency", default="1,8,32,64", help="comma-separated connection counts")
    parser.add_argument("--seconds", type=int, default=10, help="per concurrency level")
    parser.add_argument("--workers", type=int, default=None, help="server processes (SQLite 1, PostgreSQL 2)")
    parser.add_argument("--variants", type=int, default=0, help="draw each order's lines from this many variants")
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument(
        "--status-changes",
        type=int,
        default=0,
        help="then time this many of each status change while ingest runs at half the best rate",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    workers = args.workers or (1 if args.backend == "sqlite" else 2)
    workdir = Path(tempfile.mkdtemp(prefix="orderdeck-ingest-"))
    url = fresh_database(args.backend, workdir)
    figures: dict[str, Any] = {"backend": args.backend, "workers": workers, "seconds": args.seconds, "ingest": []}
    try:
        token, variant_ids = prepare_shop(url)
        body = order_body(variant_ids)
        body_file = workdir / "order.json"
        body_file.write_text(json.dumps(body))
        spread = add_variants(url, args.variants) if args.variants else []
        figures["variants"] = len(spread) or 3
        server = start(url, workers=workers, log=workdir / "server.log")
        try:
            for connections in [int(c) for c in args.concurrency.split(",")]:
                placed_before = order_count(url)
                cpu_before = server.cpu_seconds()
                if spread:
                    row = run_spread_wrk(
                        server, token, body_file, spread, connections=connections, seconds=args.seconds
                    )
                else:
                    row = run_wrk(server, token, body_file, connections=connections, seconds=args.seconds)
                cpu = server.cpu_seconds() - cpu_before
                placed = order_count(url) - placed_before
                row["placed"] = placed
                row["cpu_ms_per_order"] = cpu * 1000 / placed if placed else None
                row["loadavg"] = Path("/proc/loadavg").read_text().split()[0]
                figures["ingest"].append(row)
                print(
                    f"{args.backend} c={connections:3d}: {row['orders_per_s']:7.1f} orders/s  "
                    f"p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  errors {row['errors']}  "
                    f"server CPU {row['cpu_ms_per_order'] or 0:.2f} ms/order  load {row['loadavg']}",
                    flush=True,
                )
            if args.status_changes:
                best = max(i["orders_per_s"] for i in figures["ingest"])
                changes = status_changes.measure(
                    server.url, token, body_file, rate=best / 2, per_action=args.status_changes, workdir=workdir
                )
                figures["status_changes"] = changes
                print(f"status changes while ingest runs at {best / 2:.0f} orders/s: {json.dumps(changes)}", flush=True)
        finally:
            server.stop()
        count, seen = statements_per_placement(url, token, body)
        figures["statements_per_placement"] = count
        print(f"statements per placement (writer engine, warm): {count}")
        for statement in seen:
            print(f"  {statement}")
        stock = check_stock(url)
        figures["stock_check"] = stock
        print(
            f"stock check over {stock['orders']} orders and {stock['levels']} levels: "
            + ("OK, never oversold" if stock["ok"] else "FAILED\n  " + "\n  ".join(stock["problems"])),
            flush=True,
        )
        if not args.no_ceiling:
            deck = build(Settings(database_url=url))
            with deck.unit_of_work(read_only=True) as uow:
                order_id = uow.conn.execute(select(func.max(orders.c.id))).scalar_one()
            captured = ceiling.captured_rows(deck, order_id)
            deck.db.dispose()
            figures["ceiling"] = []
            for connections in [int(c) for c in args.concurrency.split(",")]:
                if args.backend == "postgres":
                    rate = ceiling.postgres_ceiling(url, captured, clients=connections, seconds=args.seconds)
                else:
                    rate = ceiling.sqlite_ceiling(url.removeprefix("sqlite:///"), captured, seconds=args.seconds)
                load = Path("/proc/loadavg").read_text().split()[0]
                figures["ceiling"].append({"concurrency": connections, "orders_per_s": rate, "loadavg": load})
                print(f"ceiling c={connections:3d}: {rate:7.1f} orders/s  load {load}", flush=True)
                if args.backend == "sqlite":
                    break  # one writer: the same figure at every level
    finally:
        drop_database(args.backend)
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    if not figures.get("stock_check", {}).get("ok", False):
        raise SystemExit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
