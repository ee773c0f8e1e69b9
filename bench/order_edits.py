"""An order edit's life through the API on a loaded shop: begin → stage → commit, each step's
latency and the whole edit's, beside the latency of placing an order on the same server.

    .venv/bin/python -m bench.order_edits --orders 1000000 --backend sqlite   # load a fresh shop first
    .venv/bin/python -m bench.order_edits --database sqlite:////path/shop.db  # a shop already loaded
    .venv/bin/python -m bench.order_edits --quick                             # 1,500 orders, 40 edits

For each of `--edits` open, unfulfilled orders, picked at random across the whole shop, two
client threads each run whole edits one after another, through the REST API (AFTER-THE-SALE
§3.7, docs/api.md "Order edits"):

1. begin: POST /orders/{id}/order_edits.json (201; the calculated order comes back);
2. stage: POST /order_edits/{id}/add_custom_item.json (gift wrap, 3.50) and
   POST /order_edits/{id}/shipping_lines.json (express, 8.90): each recomputes the preview;
3. commit: POST /order_edits/{id}/commit.json (200; the order is locked, changed, saved with
   its timeline entry and outbox messages).

Then the same clients place as many orders (POST /orders.json, bench.run's order). The server is
idle apart from these clients. Nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from orderdeck.bootstrap import build
from orderdeck.settings import Settings

from .returns import THREADS, Outcome, _place, _post, render_rows, shop_size, summarise
from .status_changes import _client, _in_threads

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("begin", "add custom item", "add shipping line", "commit")
SEED = 14


def pick_orders(url: str, count: int, seed: int = SEED) -> list[int]:
    """`count` ids of open, unfulfilled, not cancelled, not test orders, at random."""
    deck = build(Settings(database_url=url))
    with deck.unit_of_work(read_only=True) as uow:
        ids = list(
            uow.conn.execute(
                text("SELECT id FROM orders WHERE order_status = 'open' AND fulfillment_status IS NULL AND NOT test")
            ).scalars()
        )
    deck.db.dispose()
    if len(ids) < count:
        raise RuntimeError(f"only {len(ids)} open, unfulfilled orders; {count} edits wanted")
    return random.Random(seed).sample(ids, count)


def _one_edit(client: httpx.Client, order_id: int) -> Outcome:
    steps: dict[str, float] = {}
    started = time.perf_counter()
    elapsed, answer = _post(client, f"/orders/{order_id}/order_edits.json", {}, 201)
    steps["begin"] = elapsed
    if isinstance(answer, str):
        return Outcome(steps, None, answer)
    edit_id = answer.json()["order_edit"]["id"]
    for step, path, body in (
        ("add custom item", "add_custom_item", {"title": "Gift wrap", "price": "3.50", "quantity": 1}),
        ("add shipping line", "shipping_lines", {"title": "Express delivery", "price": "8.90"}),
    ):
        elapsed, answer = _post(client, f"/order_edits/{edit_id}/{path}.json", body, 200)
        steps[step] = elapsed
        if isinstance(answer, str):
            return Outcome(steps, None, answer)
    elapsed, answer = _post(
        client, f"/order_edits/{edit_id}/commit.json", {"notify_customer": False, "staff_note": "bench"}, 200
    )
    steps["commit"] = elapsed
    if isinstance(answer, str):
        return Outcome(steps, None, answer)
    return Outcome(steps, (time.perf_counter() - started) * 1000)


def measure(base_url: str, token: str, order_ids: list[int], *, order_body: bytes) -> dict[str, Any]:
    """Whole edits on `order_ids` with two client threads, then as many placements (the same
    JSON shape as bench.returns.measure, with "edits" for "returns")."""
    clients = [_client(base_url, token) for _ in range(THREADS)]
    try:
        started = time.perf_counter()
        outcomes = _in_threads(clients, order_ids, _one_edit)
        wall_s = time.perf_counter() - started
        started = time.perf_counter()
        placements = _in_threads(clients, [order_body] * len(order_ids), _place)
        placement_wall_s = time.perf_counter() - started
    finally:
        for client in clients:
            client.close()
    return {
        "edits": len(order_ids),
        "threads": THREADS,
        **summarise(STEPS, "whole edit", outcomes, wall_s, placements, placement_wall_s),
    }


def main() -> None:
    from orderdeck.demo import ensure_demo_shop, load_demo
    from orderdeck.store.migrate import migrate

    from . import machine
    from .returns import _token_and_body
    from .run import PG_ADMIN, drop_database, fresh_database, table, write_between_markers
    from .server import start

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a loaded shop's database URL (nothing is loaded into it)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite", help="for a fresh shop")
    parser.add_argument("--orders", type=int, help="demo orders loaded into a fresh shop (full: 1,000,000)")
    parser.add_argument("--edits", type=int, help="whole edits measured (full: 500)")
    parser.add_argument("--quick", action="store_true", help="1,500 orders, 40 edits")
    parser.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = parser.parse_args()
    edits = args.edits or (40 if args.quick else 500)
    workdir = Path(tempfile.mkdtemp(prefix="orderdeck-bench-edits-"))
    url = args.database or fresh_database(args.backend, workdir)
    backend = "postgres" if url.startswith("postgresql") else "sqlite"
    workers = 1 if backend == "sqlite" else 2
    try:
        if not args.database:
            deck = build(Settings(database_url=url))
            migrate(deck.db)
            ensure_demo_shop(deck.db)
            load_demo(deck, count=args.orders or (1500 if args.quick else 1_000_000), console=None, batch=5000)
            deck.db.dispose()
        token, body = _token_and_body(url)
        orders = shop_size(url)
        order_ids = pick_orders(url, edits)
        server = start(url, workers=workers, log=workdir / "server-edits.log")
        try:
            result = {"orders": orders, "workers": workers, **measure(server.url, token, order_ids, order_body=body)}
        finally:
            server.stop()
    finally:
        if args.database:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            drop_database(backend, workdir)
    info = machine.describe(PG_ADMIN if backend == "postgres" else None)
    name = "PostgreSQL" if backend == "postgres" else "SQLite"
    engine = f"PostgreSQL {info['postgresql'].split(' ')[0]}" if backend == "postgres" else f"SQLite {info['sqlite']}"
    report = "\n".join(
        [
            f"{name}, measured {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC with `python -m bench.order_edits` "
            f"({info['cpu']}, {info['memory']}, Python {info['python']}, {engine}):",
            "",
            f"Order edits on a shop of {result['orders']:,} orders, {result['edits']:,} edits (gift wrap and "
            f"express shipping added), {result['threads']} client threads, {result['workers']} server process(es):",
            "",
            table(
                ["edit step", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"],
                render_rows([*result["steps"], result["placement"]]),
            ),
            "",
            *([f"First error: `{result['first_error']}`"] if result.get("first_error") else []),
        ]
    ).rstrip()
    print(report)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"order-edits-{backend}{'-quick' if args.quick else ''}.json").write_text(
        json.dumps(result, indent=2)
    )
    if args.write:
        start_marker, end_marker = (
            f"<!-- bench:order_edits:{backend}:start -->",
            f"<!-- bench:order_edits:{backend}:end -->",
        )
        write_between_markers(ROOT / "docs" / "benchmarks.md", report, start_marker, end_marker)


if __name__ == "__main__":
    main()
