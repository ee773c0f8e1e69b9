"""The CSV export of every order through the HTTP server (GET /orders/export.csv?status=any), as a
merchant downloads it: time, the server's CPU time and peak memory while it streams, and the
file's SHA-256, so that runs of the code before and after a change can be shown to give the
same bytes.

    .venv/bin/python -m bench.export_csv --database sqlite:////tmp/shop.db
    PYTHONPATH=/path/to/old/src .venv/bin/python -m bench.export_csv --database postgresql+psycopg://…/shop

It writes one API token to the shop (the export needs one), so point it at a copy of a shop that
must stay untouched. On PostgreSQL the CPU time of the database's own processes serving this
database is counted too. Figures are printed and appended to `--out` as JSON; nothing here
asserts on speed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orderdeck.bootstrap import build
from orderdeck.settings import Settings

from . import machine
from .narrow_row import API, _token
from .server import Server, cpu_seconds, start


def _load() -> list[str]:
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def _database_processes(url: str) -> list[psutil.Process]:
    """PostgreSQL's backends connected to this database (none for SQLite, which runs in the server)."""
    if not url.startswith("postgresql"):
        return []
    deck = build(Settings(database_url=url))
    with deck.db.reader.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
            {"name": make_url(url).database},
        ).scalars()
        found = []
        for pid in pids:
            try:
                found.append(psutil.Process(int(pid)))
            except psutil.NoSuchProcess:
                continue
    deck.db.dispose()
    return found


def export(server: Server, url: str, token: str) -> dict[str, Any]:
    headers = {"X-Shopify-Access-Token": token}
    with httpx.Client(base_url=server.url + API, headers=headers, timeout=7200) as client:
        client.get("/orders/count.json?status=any")  # the first request's imports and connections
        database = _database_processes(url)
        with server.peak_rss_mb() as peak:
            load_before = _load()
            cpu_before = server.cpu_seconds(), cpu_seconds(database)
            started = time.perf_counter()
            digest = hashlib.sha256()
            lines, size, reads = 0, 0, 0
            with client.stream("GET", "/orders/export.csv?status=any") as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    lines += chunk.count(b"\n")
                    size += len(chunk)
                    reads += 1
            elapsed = time.perf_counter() - started
            cpu_after = server.cpu_seconds(), cpu_seconds(database)
    orders = lines - 1
    server_cpu = cpu_after[0] - cpu_before[0]
    return {
        "orders": orders,
        "seconds": round(elapsed, 2),
        "us_per_order": round(elapsed * 1e6 / max(orders, 1), 1),
        "server_cpu_seconds": round(server_cpu, 2),
        "server_cpu_us_per_order": round(server_cpu * 1e6 / max(orders, 1), 1),
        "database_cpu_seconds": round(cpu_after[1] - cpu_before[1], 2) if database else None,
        "peak_mb": round(max(peak), 1),
        "csv_mb": round(size / 2**20, 1),
        "sha256": digest.hexdigest(),
        "client_reads": reads,
        "load_before": load_before,
        "load_after": _load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--label", default="run")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    url = args.database
    token = _token(url)
    server = start(url, workers=1, log=args.workdir / "server-export-csv.log")
    try:
        result = {"label": args.label, **export(server, url, token)}
    finally:
        server.stop()
    result["machine"] = machine.describe(url if url.startswith("postgresql") else None)
    print(json.dumps(result, indent=2, default=str))
    if args.out:
        with args.out.open("a") as f:
            f.write(json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
