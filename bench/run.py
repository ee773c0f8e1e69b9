"""Orderdeck's benchmark suite: `python -m bench.run [--quick] [--backend sqlite|postgres|both]`.

For each database it measures, on one machine in one run:
1. ingest: orders placed through POST /orders.json by wrk in its own process, at several
   concurrency levels, beside the ceiling (the same rows written by the shortest path);
2. status changes (capture, fulfil, cancel with restock, archive) while a paced ingest runs
   at half the best ingest rate (bench/status_changes.py);
3. the order list at scale: the admin's common questions against a loaded shop;
4. bulk work: archive by filter, CSV export of every order (time and the server's peak memory);
5. memory of one server process, idle and after ingest;
6. webhooks: how fast one `orderdeck worker` process delivers a backlog to a local receiver, and
   event-to-delivery latency while outbox messages arrive at 500/s (bench/webhooks.py);
7. returns: create → receive → refund of one unit on fulfilled orders of the loaded shop, each
   step's latency beside the placement of an order by the same clients (bench/returns.py);
8. the Shipments page: each tab and filter with `shipments` rows (bench/shipments_page.py).
Full runs write their figures into docs/benchmarks.md (between its markers, leaving the
analysis around them as it is); --quick runs everything on small data (for CI, so the harness never rots) and writes
bench/results/quick.md. Nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from orderdeck.bootstrap import build
from orderdeck.demo import ensure_catalogue, load_demo
from orderdeck.settings import Settings
from orderdeck.store.access import SCOPES, parse_scopes
from orderdeck.store.migrate import migrate

from . import ceiling, machine, returns, status_changes, tracker_sweep, webhooks
from .server import Server, start

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_ADMIN = os.environ.get("ORDERDECK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
API = "/admin/api/2024-10"


@dataclass
class Plan:
    quick: bool
    concurrency: list[int]
    ingest_seconds: int
    list_orders: int
    repeats: int
    archive_orders: int
    status_changes: int
    webhook_messages: int
    webhook_seconds: float
    returns: int
    tracker_shipments: int = 100_000  # live shipments the tracker sweep polls (SQLite run only)
    workers: int = 2
    shipments: int = 5000  # rows in the shipments table for the Shipments page (full: 1,000,000)

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                quick=True,
                concurrency=[4],
                ingest_seconds=4,
                list_orders=1500,
                repeats=10,
                archive_orders=100,
                status_changes=20,
                webhook_messages=1000,
                webhook_seconds=5,
                returns=20,
                tracker_shipments=300,
            )
        return cls(
            quick=False,
            concurrency=[1, 8, 32, 64],
            ingest_seconds=30,
            list_orders=1_000_000,
            repeats=200,
            archive_orders=100_000,
            status_changes=500,
            webhook_messages=20_000,
            webhook_seconds=30,
            returns=500,
            shipments=1_000_000,
        )


@dataclass
class Results:
    backend: str
    ingest: list[dict[str, Any]] = field(default_factory=list)
    ceiling: list[dict[str, Any]] = field(default_factory=list)
    status_changes: dict[str, Any] = field(default_factory=dict)
    queries: list[dict[str, Any]] = field(default_factory=list)
    bulk: list[dict[str, Any]] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    webhooks: dict[str, Any] = field(default_factory=dict)
    returns: dict[str, Any] = field(default_factory=dict)
    trackers: dict[str, Any] = field(default_factory=dict)
    shipments: dict[str, Any] = field(default_factory=dict)


# ---- databases ------------------------------------------------------------------------------
# The PostgreSQL database a run makes and drops: one per run (or the one ORDERDECK_BENCH_DATABASE
# names), so two runs on one server never drop each other's database halfway.
BENCH_DATABASE = os.environ.get("ORDERDECK_BENCH_DATABASE", f"orderdeck_bench_{os.getpid()}")


def fresh_database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{BENCH_DATABASE}"


def drop_database(backend: str, workdir: Path) -> None:
    """Leave nothing behind: the PostgreSQL database and the SQLite working folder go."""
    if backend == "postgres":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        admin.dispose()
    shutil.rmtree(workdir, ignore_errors=True)


def prepare_shop(url: str) -> tuple[str, list[int]]:
    """Migrate, make a token and a catalogue with ample stock; returns (token, variant ids)."""
    deck = build(Settings(database_url=url))
    migrate(deck.db)
    with deck.unit_of_work() as uow:
        _, token = uow.tokens.create("Benchmark", parse_scopes(list(SCOPES)), uow.now)
        uow.commit()
    # Locations and products with stock for every order the run places (ample, so no order is
    # refused for want of stock and every request measures a real placement).
    ensure_catalogue(deck, stock=50_000_000)
    with deck.unit_of_work(read_only=True) as uow:
        variants = sorted(uow.catalog.variants_by_id(set(range(1, 1000))))
    deck.db.dispose()
    return token, variants


def order_body(variants: list[int]) -> dict[str, Any]:
    return {
        "order": {
            "email": "bench.customer@example.com",
            "customer": {"first_name": "Bench", "last_name": "Customer", "email": "bench.customer@example.com"},
            "shipping_address": {
                "first_name": "Bench",
                "last_name": "Customer",
                "address1": "Damrak 1",
                "city": "Amsterdam",
                "zip": "1012 LG",
                "country_code": "NL",
            },
            "line_items": [{"variant_id": v, "quantity": 1} for v in variants[:3]],
            "transactions": [{"kind": "authorization", "gateway": "bogus", "credit_card": {"number": "1"}}],
        }
    }


# ---- 1. ingest --------------------------------------------------------------------------------
def run_wrk(server: Server, token: str, body_file: Path, *, connections: int, seconds: int) -> dict[str, Any]:
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_BODY_FILE": str(body_file)}
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(2, connections)),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "ingest.lua"),
            f"{server.url}{API}/orders.json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    return wrk_figures(out, connections)


def wrk_figures(out: subprocess.CompletedProcess[str], connections: int) -> dict[str, Any]:
    """The figures a wrk run of an ingest script printed (its BENCH line)."""
    found = re.search(r"BENCH (\{.*\})", out.stdout)
    if not found:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    raw = json.loads(found.group(1))
    seconds_run = raw["duration_us"] / 1e6
    return {
        "concurrency": connections,
        "orders_per_s": raw["requests"] / seconds_run,
        "requests": raw["requests"],
        "errors": raw["errors"],
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
    }


def ingest(url: str, token: str, variants: list[int], plan: Plan, results: Results, workdir: Path) -> None:
    body_file = workdir / "order.json"
    body_file.write_text(json.dumps(order_body(variants)))
    # SQLite has one writer: one process (its threads queue for the write lock in order) beats
    # several processes meeting at the busy timeout. PostgreSQL gets one process per core.
    workers = 1 if results.backend == "sqlite" else plan.workers
    server = start(url, workers=workers, log=workdir / f"server-{results.backend}.log")
    try:
        results.memory["idle_mb"] = server.worker_rss_mb()
        for connections in plan.concurrency:
            results.ingest.append(
                run_wrk(server, token, body_file, connections=connections, seconds=plan.ingest_seconds)
            )
        results.memory["after_ingest_mb"] = server.worker_rss_mb()
        # 3. Status changes while orders keep arriving at half the best ingest rate.
        best = max(i["orders_per_s"] for i in results.ingest)
        results.status_changes = status_changes.measure(
            server.url, token, body_file, rate=best / 2, per_action=plan.status_changes, workdir=workdir
        )
    finally:
        server.stop()
    deck = build(Settings(database_url=url))
    with deck.unit_of_work(read_only=True) as uow:
        order_id = uow.conn.execute(text("SELECT max(id) FROM orders")).scalar_one()
    captured = ceiling.captured_rows(deck, order_id)
    deck.db.dispose()
    for connections in plan.concurrency:
        if results.backend == "postgres":
            rate = ceiling.postgres_ceiling(url, captured, clients=connections, seconds=plan.ingest_seconds)
        else:
            rate = ceiling.sqlite_ceiling(url.removeprefix("sqlite:///"), captured, seconds=plan.ingest_seconds)
        results.ceiling.append({"concurrency": connections, "orders_per_s": rate})


# ---- 2. the order list at scale ------------------------------------------------------------------
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


def list_queries(url: str, token: str, plan: Plan, results: Results, workdir: Path) -> None:
    deck = build(Settings(database_url=url))
    # The list is asked of demo orders in a realistic mix of statuses, on top of the ingest run's
    # orders (which are all alike: authorized and unfulfilled).
    load_demo(deck, count=plan.list_orders, console=None, batch=5000)
    with deck.unit_of_work(read_only=True) as uow:
        sample = uow.conn.execute(
            text("SELECT email, name FROM orders WHERE email IS NOT NULL ORDER BY id DESC LIMIT 1")
        ).one()
        tracking = (
            uow.conn.execute(
                text("SELECT term FROM order_search_terms WHERE kind = 'tracking' LIMIT 1")
            ).scalar_one_or_none()
            or "none"
        )
        newest = uow.conn.execute(text("SELECT max(created_at) FROM orders")).scalar_one()
    deck.db.dispose()
    newest_at = newest if isinstance(newest, datetime) else datetime.fromisoformat(str(newest))
    day = newest_at.replace(tzinfo=UTC).date().isoformat()
    questions = [
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
        ("open-orders count", "/orders/count.json?status=open"),
        ("open-orders badge", "/orders/open_count.json"),
    ]
    server = start(url, workers=1, log=workdir / f"server-list-{results.backend}.log")
    try:
        with httpx.Client(base_url=server.url + API, headers={"X-Shopify-Access-Token": token}, timeout=60) as client:
            for label, path in questions:
                p50, p99 = _timed(client, path + ("&limit=50" if "orders.json" in path else ""), plan.repeats)
                results.queries.append({"query": label, "p50_ms": p50, "p99_ms": p99})
            # A page deep in the cursor chain: follow next links, then ask for that page again and again.
            path: str | None = "/orders.json?status=any&limit=50"
            for _ in range(20):
                response = client.get(path or "")
                found = re.search(r'<([^>]+)>; rel="next"', response.headers.get("Link", ""))
                if not found:
                    break
                path = found.group(1).split(API, 1)[1]
            p50, p99 = _timed(client, path or "", plan.repeats)
            results.queries.append({"query": "page 21 of the cursor chain", "p50_ms": p50, "p99_ms": p99})
            # Bulk: export every order as CSV, watching the server's memory while it streams.
            with server.peak_rss_mb() as peak:
                started = time.perf_counter()
                rows = 0
                with client.stream("GET", "/orders/export.csv?status=any") as response:
                    for chunk in response.iter_text():
                        rows += chunk.count("\n")
                elapsed = time.perf_counter() - started
            results.bulk.append(
                {"work": f"export {rows - 1:,} orders to CSV", "seconds": elapsed, "peak_mb": max(peak)}
            )
            # Archive by filter: the newest `archive_orders` open orders (since_id bounds the filter).
            since = _nth_open_order_id(url, plan.archive_orders)
            started = time.perf_counter()
            response = (
                client.post(
                    "/orders/bulk/close.json",
                    json={"filter": {"status": "open", "since_id": since}},
                    timeout=3600,
                )
                if plan.archive_orders
                else None
            )
            archived = len(response.json()["bulk_result"]["succeeded"]) if response is not None else 0
            results.bulk.append(
                {
                    "work": f"archive {archived:,} open orders by filter",
                    "seconds": time.perf_counter() - started,
                    "peak_mb": server.worker_rss_mb(),
                }
            )
    finally:
        server.stop()


def _nth_open_order_id(url: str, count: int) -> int:
    """An id such that `since_id` selects about `count` of the newest open orders."""
    deck = build(Settings(database_url=url))
    with deck.unit_of_work(read_only=True) as uow:
        found = uow.conn.execute(
            text("SELECT id FROM orders WHERE order_status = 'open' ORDER BY id DESC LIMIT 1 OFFSET :n"),
            {"n": max(count - 1, 0)},
        ).scalar_one_or_none()
    deck.db.dispose()
    return int(found) - 1 if found else 0


# ---- reporting ---------------------------------------------------------------------------------
def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(all_results: list[Results], plan: Plan, info: dict[str, str]) -> str:
    parts = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python -m bench.run"
        f"{' --quick' if plan.quick else ''}`.",
        "",
        table(["machine", ""], [[k, v] for k, v in info.items()]),
        "",
    ]
    for r in all_results:
        parts.append(f"### {r.backend}")
        parts.append("")
        ceilings = {c["concurrency"]: c["orders_per_s"] for c in r.ceiling}
        parts.append(
            table(
                [
                    "ingest: connections",
                    "orders/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "errors",
                    "ceiling orders/s",
                    "Orderdeck ÷ ceiling",
                ],
                [
                    [
                        str(i["concurrency"]),
                        f"{i['orders_per_s']:.0f}",
                        f"{i['p50_ms']:.1f}",
                        f"{i['p95_ms']:.1f}",
                        f"{i['p99_ms']:.1f}",
                        str(i["errors"]),
                        f"{ceilings.get(i['concurrency'], 0):.0f}",
                        f"{i['orders_per_s'] / ceilings[i['concurrency']]:.1%}"
                        if ceilings.get(i["concurrency"])
                        else "-",
                    ]
                    for i in r.ingest
                ],
            )
        )
        parts.append("")
        if r.status_changes:
            sc = r.status_changes
            background = sc["background"]
            parts.append(
                f"Status changes while ingest runs at {background['achieved_rate']:.0f} orders/s "
                f"(half the best ingest rate; {background['errors']} errors, p99 {background['p99_ms']:.0f} ms):"
            )
            parts.append("")
            parts.append(
                table(
                    ["status change", "count", "per s", "p50 ms", "p99 ms", "errors"],
                    [
                        [
                            a["action"],
                            str(a["count"]),
                            f"{a['ops_per_s']:.0f}",
                            f"{a['p50_ms']:.1f}",
                            f"{a['p99_ms']:.1f}",
                            str(a["errors"]),
                        ]
                        for a in sc["actions"]
                    ],
                )
            )
            parts.append("")
        parts.append(
            table(
                ["list query (50 per page)", "p50 ms", "p99 ms"],
                [[q["query"], f"{q['p50_ms']:.1f}", f"{q['p99_ms']:.1f}"] for q in r.queries],
            )
        )
        parts.append("")
        parts.append(
            table(
                ["bulk", "seconds", "server peak MB"],
                [[b["work"], f"{b['seconds']:.1f}", f"{b['peak_mb']:.0f}"] for b in r.bulk],
            )
        )
        parts.append("")
        parts.append(
            f"Memory of one server process: {r.memory.get('idle_mb', 0):.0f} MB idle, "
            f"{r.memory.get('after_ingest_mb', 0):.0f} MB after ingest."
        )
        parts.append("")
        parts += webhooks.render(r.webhooks, table)
        parts += returns.render(r.returns, table, r.ingest)
        if r.trackers:
            parts += ["", *tracker_sweep.render(r.trackers)]
        if r.shipments:
            from . import shipments_page  # imported here: it imports this module's helpers

            parts += ["", *shipments_page.render(r.backend, r.shipments, info)]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data, a few seconds per benchmark")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--orders", type=int, help="orders in the shop for the list queries (full: 1,000,000)")
    parser.add_argument("--archive", type=int, help="at most this many orders archived by filter (full: 100,000)")
    parser.add_argument("--seconds", type=int, help="seconds per ingest level (full: 30)")
    parser.add_argument("--returns", type=int, help="whole returns measured on the loaded shop (full: 500)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `bash bench/setup` (it installs Debian's wrk)")
    plan = Plan.make(args.quick)
    plan.list_orders = args.orders if args.orders is not None else plan.list_orders
    plan.archive_orders = args.archive if args.archive is not None else plan.archive_orders
    plan.ingest_seconds = args.seconds if args.seconds is not None else plan.ingest_seconds
    plan.returns = args.returns if args.returns is not None else plan.returns
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    RESULTS.mkdir(parents=True, exist_ok=True)
    all_results = []
    for backend in backends:
        workdir = Path(tempfile.mkdtemp(prefix=f"orderdeck-bench-{backend}-"))
        url = fresh_database(backend, workdir)
        try:
            token, variants = prepare_shop(url)
            results = Results(backend)
            print(f"[{backend}] ingest", flush=True)
            ingest(url, token, variants, plan, results, workdir)
            print(f"[{backend}] webhooks: {plan.webhook_messages:,} deliveries, then 500 events/s", flush=True)
            results.webhooks = webhooks.measure(
                url,
                order_body(variants),
                messages=plan.webhook_messages,
                seconds=plan.webhook_seconds,
                workdir=workdir,
                capacity_seconds=1 if plan.quick else 3,
            )
            print(f"[{backend}] order list with {plan.list_orders:,} orders", flush=True)
            list_queries(url, token, plan, results, workdir)
            print(f"[{backend}] returns: {plan.returns:,} on the loaded shop", flush=True)
            results.returns = returns.run_on(
                url,
                token,
                json.dumps(order_body(variants)).encode(),
                returns=plan.returns,
                # As for ingest: one process on SQLite (one writer), one per core on PostgreSQL.
                workers=1 if backend == "sqlite" else plan.workers,
                workdir=workdir,
            )
            print(f"[{backend}] shipments page with {plan.shipments:,} shipments", flush=True)
            from . import shipments_page  # imported here: it imports this module's helpers

            results.shipments = shipments_page.run_on(
                url, plan.shipments, demo_orders=300, repeats=plan.repeats, workdir=workdir
            )
            if backend == "sqlite":
                print(f"[{backend}] tracker sweep: {plan.tracker_shipments:,} live shipments", flush=True)
                results.trackers = tracker_sweep.run(f"sqlite:///{workdir / 'trackers.db'}", plan.tracker_shipments)
            all_results.append(results)
        finally:
            drop_database(backend, workdir)
        (RESULTS / f"{backend}{'-quick' if plan.quick else ''}.json").write_text(
            json.dumps(results.__dict__, indent=2, default=str)
        )
    text_report = report(all_results, plan, machine.describe(PG_ADMIN if "postgres" in backends else None))
    print(text_report)
    if plan.quick:
        target = RESULTS / "quick.md"
        target.write_text(text_report + "\n")
    else:
        target = ROOT / "docs" / "benchmarks.md"
        write_between_markers(target, text_report)
    print(f"written to {target}")


START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def write_between_markers(target: Path, results: str, start: str = START, end: str = END) -> None:
    """Put the figures into docs/benchmarks.md between its markers; the analysis around them,
    written by people, stays as it is."""
    document = target.read_text() if target.exists() else f"# Benchmarks\n\n{start}\n{end}\n"
    if start not in document or end not in document:
        document += f"\n{start}\n{end}\n"
    head, rest = document.split(start, 1)
    _, tail = rest.split(end, 1)
    target.write_text(f"{head}{start}\n{results}\n{end}{tail}")


if __name__ == "__main__":
    main()
