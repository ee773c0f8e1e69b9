"""Group commit, before and after: orders placed through the API by wrk, with it off and on.

    .venv/bin/python -m bench.group_commit                      # both databases, 1, 8, 32 connections
    .venv/bin/python -m bench.group_commit --backend sqlite --seconds 10 --connections 1,8

For each database and each setting (`ORDERDECK_GROUP_COMMIT=off`, then `on`), a fresh shop (the
ingest benchmark's: 3 hot variants with ample stock, the same order body, bench/ingest.lua), one
server process on SQLite and two on PostgreSQL (`serve --workers 2 --no-worker`), and wrk at each
connection count. Beside orders/s and p50/p99: COMMITs per second and commands per COMMIT, read
from PostgreSQL's `pg_stat_database.xact_commit` (every transaction of the database, both server
processes, read 11 s after each level so that every backend has reported) and on SQLite from the
server's /metrics (`orderdeck_write_commits_total`; with group commit off every command is its
own COMMIT); and the load average, since the machine is shared.
Stock is checked afterwards: never oversold (available + committed stays what was stocked).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from .run import API, PG_ADMIN, order_body, prepare_shop, run_wrk
from .server import Server, start

STOCK = 50_000_000  # what bench.run's catalogue stocks each variant with, at each location
# A database of this benchmark's own: bench.run's `orderdeck_bench` may be dropped and made
# again by another benchmark on the same server meanwhile.
DATABASE = "orderdeck_bench_group_commit"


def fresh_database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{DATABASE}"


def drop_database(backend: str, workdir: Path) -> None:
    if backend == "postgres":
        _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    shutil.rmtree(workdir, ignore_errors=True)


def _admin(*statements: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        admin.dispose()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _sqlite_commits(server: Server) -> float:
    found = re.search(r"^orderdeck_write_commits_total (\S+)$", httpx.get(f"{server.url}/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def _postgres_commits(url: str) -> float:
    # A backend reports its counts at most once a second, and an idle one within 10 s: wait for
    # the last of them before reading (each level's reading is taken after this wait).
    time.sleep(11)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            return float(
                conn.execute(
                    text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _orders(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM orders")).scalar_one())
    finally:
        engine.dispose()


def _oversold(url: str, variants: list[int]) -> int:
    """Levels of the benchmark's variants below zero, or whose reserved and available units no
    longer add up to what was stocked (0 when nothing was oversold or lost)."""
    ids = ",".join(str(int(v)) for v in variants[:3])
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = f"SELECT available, available + committed FROM inventory_levels WHERE inventory_item_id IN ({ids})"
            totals = conn.execute(text(query)).all()
            return sum(1 for available, total in totals if available < 0 or total != STOCK)
    finally:
        engine.dispose()


def measure(backend: str, mode: str, connections: list[int], seconds: int) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-gc-{backend}-"))
    url = fresh_database(backend, workdir)
    rows: list[dict[str, Any]] = []
    try:
        token, variants = prepare_shop(url)
        body_file = workdir / "order.json"
        body_file.write_text(json.dumps(order_body(variants)))
        os.environ["ORDERDECK_GROUP_COMMIT"] = mode
        server = start(url, workers=1 if backend == "sqlite" else 2, log=workdir / "server.log")
        try:
            run_wrk(server, token, body_file, connections=2, seconds=2)  # warm up: caches, pools
            for count in connections:
                orders_before = _orders(url)
                commits_before = _postgres_commits(url) if backend == "postgres" else _sqlite_commits(server)
                load_before = load_average()
                figures = run_wrk(server, token, body_file, connections=count, seconds=seconds)
                placed = _orders(url) - orders_before
                if backend == "postgres":
                    commits = _postgres_commits(url) - commits_before
                elif mode == "on":
                    commits = _sqlite_commits(server) - commits_before
                else:
                    commits = placed  # one COMMIT per command, by construction
                elapsed = figures["requests"] / figures["orders_per_s"] if figures["orders_per_s"] else seconds
                rows.append(
                    {
                        "backend": backend,
                        "group_commit": mode,
                        **figures,
                        "placed": placed,
                        "commits_per_s": commits / elapsed,
                        "commands_per_commit": placed / commits if commits else 0.0,
                        "load_before": load_before,
                        "load_after": load_average(),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
        finally:
            server.stop()
        rows[-1]["oversold_levels"] = _oversold(url, variants)
    finally:
        os.environ.pop("ORDERDECK_GROUP_COMMIT", None)
        drop_database(backend, workdir)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | group commit | connections | orders/s | p50 ms | p99 ms | errors | COMMITs/s "
        "| commands/COMMIT | load before → after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['group_commit']} | {r['concurrency']} | {r['orders_per_s']:.0f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['commits_per_s']:.0f} | "
            f"{r['commands_per_commit']:.2f} | {r['load_before']} → {r['load_after']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    connections = [int(c) for c in args.connections.split(",")]
    rows: list[dict[str, Any]] = []
    for backend in backends:
        for mode in ("off", "on"):
            rows.extend(measure(backend, mode, connections, args.seconds))
    print()
    print(f"POST {API}/orders.json, {args.seconds} s per level")
    print(table(rows))
    oversold = [r for r in rows if r.get("oversold_levels")]
    print("stock oversold or lost:", oversold or "none")


if __name__ == "__main__":
    main()
