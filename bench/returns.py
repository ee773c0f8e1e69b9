"""A return's life through the API on a loaded shop: create → receive → refund, each step's
latency and the whole return's, beside the latency of placing an order on the same server.

    .venv/bin/python -m bench.returns --orders 1000000 --backend sqlite    # load a fresh shop first
    .venv/bin/python -m bench.returns --database sqlite:////path/shop.db   # a shop already loaded
    .venv/bin/python -m bench.returns --quick                              # 1,500 orders, 20 returns

`python -m bench.run` runs the same measurement on the shop its list benchmark loaded (section 7
of docs/benchmarks.md). For each of `--returns` fulfilled, paid orders, picked at random across
the whole shop (a customer returns an old order as often as yesterday's), two client threads
each run whole returns one after another, through the REST API (AFTER-THE-SALE.md §1.9):

1. create: POST /orders/{id}/returns.json, an open return of one unit of the order's first
   returnable fulfillment line (201);
2. receive: POST /reverse_fulfillment_orders/dispose.json, that unit restocked at the location
   of the return's reverse fulfillment order (200);
3. refund: POST /returns/{id}/refunds.json for the unit, with the suggested money (201).

What the steps need to know is in the answers of the steps before them (the return's JSON holds
its reverse fulfillment order lines), so nothing but these three requests is timed; which line
to return is read before the clock starts. Then the same two clients place as many orders
(POST /orders.json, the order of bench.run's ingest), so the placement figure beside the returns
comes from the same server, database, shop and client. The server is idle apart from these
clients: no background ingest. Nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from orderdeck.bootstrap import build
from orderdeck.settings import Settings

from .status_changes import _client, _in_threads

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2
STEPS = ("create", "receive", "refund")
SEED = 13


def pick_orders(url: str, count: int, seed: int = SEED) -> list[int]:
    """Up to `count` ids of fulfilled, paid (nothing refunded yet), not cancelled, not test orders,
    at random across the shop; a few spare ones, in case an order turns out to have nothing left
    to return."""
    deck = build(Settings(database_url=url))
    with deck.unit_of_work(read_only=True) as uow:
        ids = list(
            uow.conn.execute(
                text(
                    "SELECT id FROM orders WHERE financial_status = 'paid' AND fulfillment_status = 'fulfilled'"
                    " AND order_status != 'cancelled' AND NOT test"
                )
            ).scalars()
        )
    deck.db.dispose()
    wanted = min(len(ids), count + max(10, count // 10))
    return random.Random(seed).sample(ids, wanted)


def shop_size(url: str) -> int:
    deck = build(Settings(database_url=url))
    with deck.unit_of_work(read_only=True) as uow:
        total = int(uow.conn.execute(text("SELECT count(*) FROM orders")).scalar_one())
    deck.db.dispose()
    return total


@dataclass(frozen=True)
class Candidate:
    order_id: int
    fulfillment_line_item_id: int


@dataclass
class Outcome:
    """One return: each step's latency (ms) as far as it got, and the first failure."""

    steps_ms: dict[str, float]
    whole_ms: float | None
    error: str | None = None


def _returnable(client: httpx.Client, order_id: int) -> Candidate | None:
    response = client.get(f"/orders/{order_id}/returnable_fulfillments.json")
    if response.status_code != 200:
        raise RuntimeError(f"returnable fulfillments of {order_id}: {response.status_code} {response.text[:300]}")
    for fulfillment in response.json()["returnable_fulfillments"]:
        for line in fulfillment["line_items"]:
            if line["quantity"] >= 1:
                return Candidate(order_id, int(line["fulfillment_line_item_id"]))
    return None


def _post(client: httpx.Client, path: str, body: dict[str, Any], expect: int) -> tuple[float, httpx.Response | str]:
    """(ms, the answer) or (ms, what went wrong)."""
    started = time.perf_counter()
    try:
        response = client.post(path, json=body)
    except httpx.HTTPError as exc:
        return (time.perf_counter() - started) * 1000, f"{path}: {type(exc).__name__}: {exc}"
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != expect:
        return elapsed, f"{path}: {response.status_code} {response.text[:300]}"
    return elapsed, response


def _one_return(client: httpx.Client, candidate: Candidate) -> Outcome:
    steps: dict[str, float] = {}
    started = time.perf_counter()
    elapsed, answer = _post(
        client,
        f"/orders/{candidate.order_id}/returns.json",
        {
            "return": {
                "return_line_items": [
                    {
                        "fulfillment_line_item_id": candidate.fulfillment_line_item_id,
                        "quantity": 1,
                        "return_reason": "size_too_small",
                    }
                ]
            }
        },
        201,
    )
    steps["create"] = elapsed
    if isinstance(answer, str):
        return Outcome(steps, None, answer)
    made = answer.json()["return"]
    rfo = made["reverse_fulfillment_orders"][0]
    elapsed, answer = _post(
        client,
        "/reverse_fulfillment_orders/dispose.json",
        {
            "dispositions": [
                {
                    "reverse_fulfillment_order_line_item_id": rfo["line_items"][0]["id"],
                    "quantity": 1,
                    "disposition_type": "restocked",
                    "location_id": rfo["location_id"],
                }
            ]
        },
        200,
    )
    steps["receive"] = elapsed
    if isinstance(answer, str):
        return Outcome(steps, None, answer)
    elapsed, answer = _post(
        client,
        f"/returns/{made['id']}/refunds.json",
        {"refund": {"return_line_items": [{"id": made["return_line_items"][0]["id"], "quantity": 1}]}},
        201,
    )
    steps["refund"] = elapsed
    if isinstance(answer, str):
        return Outcome(steps, None, answer)
    return Outcome(steps, (time.perf_counter() - started) * 1000)


def _place(client: httpx.Client, body: bytes) -> Outcome:
    started = time.perf_counter()
    try:
        response = client.post("/orders.json", content=body, headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        return Outcome({}, None, f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 201:
        return Outcome({"place": elapsed}, None, f"{response.status_code} {response.text[:300]}")
    return Outcome({"place": elapsed}, elapsed)


def latencies(samples_ms: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 (nearest rank, as bench/run.py takes them) and the slowest; None when empty."""
    if not samples_ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(samples_ms)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    return {"p50_ms": statistics.median(ordered), "p95_ms": rank(0.95), "p99_ms": rank(0.99), "max_ms": ordered[-1]}


def _summary(label: str, samples_ms: list[float], count: int, errors: int, wall_s: float | None) -> dict[str, Any]:
    return {
        "step": label,
        "count": count,
        "errors": errors,
        "per_s": count / wall_s if wall_s else None,
        **latencies(samples_ms),
    }


def measure(base_url: str, token: str, order_ids: list[int], *, returns: int, order_body: bytes) -> dict[str, Any]:
    """`returns` whole returns (create → receive → refund) with two client threads against the
    server at `base_url`, on orders from `order_ids` (tried in turn until enough have a unit to
    return), then as many order placements with the same clients.

    Returns (JSON-ready):
        {
          "returns": how many returns were run, "threads": 2,
          "steps": [{"step" (create, receive, refund, whole return), "count", "errors", "per_s",
                     "p50_ms", "p95_ms", "p99_ms", "max_ms"}, ...],
          "placement": the same keys for POST /orders.json ("step": "place an order"),
          "first_error": the first failure's request, status and body (300 chars), or None,
        }
    A step's count is the returns that reached it; a return whose step failed stops there.
    `per_s` of "whole return" is returns over the wall time of the phase; of a step, None.
    """
    clients = [_client(base_url, token) for _ in range(THREADS)]
    try:
        candidates: list[Candidate] = []
        for start in range(0, len(order_ids), 200):
            if len(candidates) >= returns:
                break
            found = _in_threads(clients, order_ids[start : start + 200], _returnable)
            candidates += [c for c in found if c is not None]
        candidates = candidates[:returns]
        if len(candidates) < returns:
            raise RuntimeError(f"only {len(candidates)} orders have a unit to return; {returns} wanted")
        started = time.perf_counter()
        outcomes = _in_threads(clients, candidates, _one_return)
        wall_s = time.perf_counter() - started
        started = time.perf_counter()
        placements = _in_threads(clients, [order_body] * returns, _place)
        placement_wall_s = time.perf_counter() - started
    finally:
        for client in clients:
            client.close()
    return {
        "returns": returns,
        "threads": THREADS,
        **summarise(STEPS, "whole return", outcomes, wall_s, placements, placement_wall_s),
    }


def summarise(
    steps_named: tuple[str, ...],
    whole_label: str,
    outcomes: list[Outcome],
    wall_s: float,
    placements: list[Outcome],
    placement_wall_s: float,
) -> dict[str, Any]:
    """Each step's summary, the whole run's, the placements' and the first error (JSON-ready)."""
    steps = []
    for step in steps_named:
        reached = [o for o in outcomes if step in o.steps_ms]
        # The step failed where the run stopped on an error: it is the last one it reached.
        ok = [o.steps_ms[step] for o in reached if o.error is None or list(o.steps_ms)[-1] != step]
        steps.append(_summary(step, ok, len(reached), len(reached) - len(ok), None))
    whole = [o.whole_ms for o in outcomes if o.whole_ms is not None]
    steps.append(_summary(whole_label, whole, len(outcomes), len(outcomes) - len(whole), wall_s))
    placed = [o.whole_ms for o in placements if o.whole_ms is not None]
    errors = [o.error for o in [*outcomes, *placements] if o.error is not None]
    return {
        "steps": steps,
        "placement": _summary(
            "place an order", placed, len(placements), len(placements) - len(placed), placement_wall_s
        ),
        "first_error": errors[0] if errors else None,
    }


def run_on(url: str, token: str, order_body: bytes, *, returns: int, workers: int, workdir: Path) -> dict[str, Any]:
    """Start a server on the loaded shop at `url`, measure, stop it; adds the shop's size and the
    machine's load average (1 minute) before and after, since a shared machine shows in the tail."""
    from .server import start

    orders = shop_size(url)
    order_ids = pick_orders(url, returns)
    server = start(url, workers=workers, log=workdir / "server-returns.log")
    load_before = os.getloadavg()[0]
    try:
        result = measure(server.url, token, order_ids, returns=returns, order_body=order_body)
    finally:
        server.stop()
    return {"orders": orders, "workers": workers, "load_average": [load_before, os.getloadavg()[0]], **result}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render_rows(steps: list[dict[str, Any]]) -> list[list[str]]:
    """A table row per step summary (_summary): count, rate, latencies, errors."""
    return [
        [
            s["step"],
            str(s["count"]),
            "-" if s["per_s"] is None else f"{s['per_s']:.1f}",
            _ms(s["p50_ms"]),
            _ms(s["p95_ms"]),
            _ms(s["p99_ms"]),
            _ms(s["max_ms"]),
            str(s["errors"]),
        ]
        for s in steps
    ]


def render(
    result: dict[str, Any],
    table: Callable[[list[str], list[list[str]]], str],
    ingest: list[dict[str, Any]] | None = None,
) -> list[str]:
    """The markdown for a report: the steps' table, then the placement figures to compare with."""
    if not result:
        return []
    rows = render_rows([*result["steps"], result["placement"]])
    lines = [
        f"Returns on a shop of {result['orders']:,} orders, {result['returns']:,} returns of one unit, "
        f"{result['threads']} client threads, {result['workers']} server process(es), no other requests "
        f"(machine load average {result['load_average'][0]:.1f} before, {result['load_average'][1]:.1f} after):",
        "",
        table(["return step", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"], rows),
        "",
    ]
    if ingest:
        levels = ", ".join(f"{i['p99_ms']:,.1f} ms at {i['concurrency']} connection(s)" for i in ingest)
        lines += [f"Order placement p99 in this run's ingest (wrk, before the demo orders were loaded): {levels}.", ""]
    if result.get("first_error"):
        lines += [f"First error: `{result['first_error']}`", ""]
    return lines


# ---- standalone ------------------------------------------------------------------------------------
def _token_and_body(url: str) -> tuple[str, bytes]:
    """A token with every scope on a shop loaded elsewhere, and bench.run's order for its catalogue."""
    from orderdeck.store.access import SCOPES, parse_scopes
    from orderdeck.store.migrate import migrate

    from .run import order_body

    deck = build(Settings(database_url=url))
    migrate(deck.db)
    with deck.unit_of_work() as uow:
        _, token = uow.tokens.create("Benchmark: returns", parse_scopes(list(SCOPES)), uow.now)
        uow.commit()
    with deck.unit_of_work(read_only=True) as uow:
        variants = sorted(uow.catalog.variants_by_id(set(range(1, 1000))))
    deck.db.dispose()
    return token, json.dumps(order_body(variants)).encode()


def main() -> None:
    from orderdeck.demo import ensure_demo_shop, load_demo

    from . import machine
    from .run import PG_ADMIN, drop_database, fresh_database, table, write_between_markers

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a loaded shop's database URL (nothing is loaded into it)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite", help="for a fresh shop")
    parser.add_argument("--orders", type=int, help="demo orders loaded into a fresh shop (full: 1,000,000)")
    parser.add_argument("--returns", type=int, help="whole returns measured (full: 500)")
    parser.add_argument("--quick", action="store_true", help="1,500 orders, 20 returns")
    parser.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = parser.parse_args()
    returns = args.returns or (20 if args.quick else 500)
    workdir = Path(tempfile.mkdtemp(prefix="orderdeck-bench-returns-"))
    url = args.database or fresh_database(args.backend, workdir)
    backend = "postgres" if url.startswith("postgresql") else "sqlite"
    try:
        if not args.database:
            deck = build(Settings(database_url=url))
            from orderdeck.store.migrate import migrate

            migrate(deck.db)
            ensure_demo_shop(deck.db)
            load_demo(deck, count=args.orders or (1500 if args.quick else 1_000_000), console=None, batch=5000)
            deck.db.dispose()
        token, body = _token_and_body(url)
        # As in bench.run: one process on SQLite (one writer), one per core on PostgreSQL.
        result = run_on(url, token, body, returns=returns, workers=1 if backend == "sqlite" else 2, workdir=workdir)
    finally:
        if args.database:
            shutil.rmtree(workdir, ignore_errors=True)  # the server's log; the shop stays as it was
        else:
            drop_database(backend, workdir)
    info = machine.describe(PG_ADMIN if backend == "postgres" else None)
    name = "PostgreSQL" if backend == "postgres" else "SQLite"
    text_report = "\n".join(
        [
            f"{name}, measured {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC with `python -m bench.returns` "
            f"({info['cpu']}, {info['memory']}, Python {info['python']}, "
            + (
                f"PostgreSQL {info['postgresql'].split(' ')[0]}"
                if backend == "postgres"
                else f"SQLite {info['sqlite']}"
            )
            + "):",
            "",
            *render(result, table),
        ]
    ).rstrip()
    print(text_report)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"returns-{backend}{'-quick' if args.quick else ''}.json").write_text(json.dumps(result, indent=2))
    if args.write:
        start, end = f"<!-- bench:returns:{backend}:start -->", f"<!-- bench:returns:{backend}:end -->"
        write_between_markers(ROOT / "docs" / "benchmarks.md", text_report, start, end)


if __name__ == "__main__":
    main()
