"""Status changes while orders keep coming in: capture, fulfil, cancel with restock, archive.

A shop's staff work on orders while customers keep placing new ones, and every status change
writes to the same tables (and, on SQLite, queues for the same write lock) as ingest does. So we
measure each action with a steady background ingest running (bench/paced_ingest.py, in its own
process, open-loop at a fixed rate) rather than on an idle server.

Every action runs on its own set of freshly placed orders (authorized, unfulfilled, three lines:
the order from `bench.run.order_body`), so no action finds an order another one already changed.
Everything an action needs to know (fulfillment order ids) is read before the clock starts, and
before the background load, so preparation neither disturbs nor is disturbed by the measurement.
Nothing here asserts on speed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from .paced_ingest import percentiles

ROOT = Path(__file__).resolve().parent.parent
API = "/admin/api/2024-10"
ACTIONS = ("capture", "fulfil", "cancel with restock", "archive")
PREPARE_THREADS = 4
MEASURE_THREADS = 2
# Seconds between starting the background ingest and the first timed request, so the load is
# steady (its process has started and its first orders are in) when measuring begins.
WARM_UP_S = 2.0
TIMEOUT_S = 60.0

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Operation:
    """One timed request: what to send and which status means it worked."""

    path: str
    body: dict[str, Any] | None
    expect: int


@dataclass(frozen=True)
class Outcome:
    latency_ms: float
    error: str | None  # None when the answer had the expected status
    at: float  # perf_counter when it finished, to tell which error came first


def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url.rstrip("/") + API, headers={"X-Shopify-Access-Token": token}, timeout=TIMEOUT_S
    )


def _in_threads(
    clients: Sequence[httpx.Client], items: Sequence[Item], work: Callable[[httpx.Client, Item], Result]
) -> list[Result]:
    """Run `work` over `items` with one thread per client (each thread keeps to its own client,
    as an httpx.Client is not meant to be shared across threads); results in the items' order."""
    results: list[Result | None] = [None] * len(items)
    failures: list[BaseException] = []

    def worker(client: httpx.Client, indices: range) -> None:
        try:
            for i in indices:
                results[i] = work(client, items[i])
        except BaseException as exc:  # re-raised in the calling thread below
            failures.append(exc)

    threads = [
        threading.Thread(target=worker, args=(client, range(n, len(items), len(clients))))
        for n, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results  # type: ignore[return-value]  # every slot was filled, or we raised above


# ---- preparation (not timed) -------------------------------------------------------------------
def _place_order(client: httpx.Client, body: bytes) -> int:
    response = client.post("/orders.json", content=body, headers={"Content-Type": "application/json"})
    if response.status_code != 201:
        raise RuntimeError(f"placing an order for the status changes failed: {response.status_code} {response.text}")
    return int(response.json()["order"]["id"])


def _fulfillment_order_id(client: httpx.Client, order_id: int) -> int:
    """The order's one open fulfillment order. The benchmark order routes to a single location;
    if a catalogue change ever split it, one fulfillment could not ship it all, so say so."""
    response = client.get(f"/orders/{order_id}/fulfillment_orders.json")
    if response.status_code != 200:
        raise RuntimeError(f"reading fulfillment orders of {order_id}: {response.status_code} {response.text}")
    open_ones = [fo["id"] for fo in response.json()["fulfillment_orders"] if fo["status"] == "open"]
    if len(open_ones) != 1:
        raise RuntimeError(f"order {order_id} has {len(open_ones)} open fulfillment orders, expected 1")
    return int(open_ones[0])


def _operations(
    client_pool: Sequence[httpx.Client], order_ids: list[int], per_action: int
) -> dict[str, list[Operation]]:
    """Split the prepared orders into one set per action and build each action's requests."""
    sets = {action: order_ids[n * per_action : (n + 1) * per_action] for n, action in enumerate(ACTIONS)}
    fulfillment_orders = _in_threads(client_pool, sets["fulfil"], _fulfillment_order_id)
    return {
        # The order has exactly one open authorization, which Orderdeck (like Shopify's Python
        # client's `capture()`) captures in full without `parent_id` or `amount`.
        "capture": [
            Operation(f"/orders/{oid}/transactions.json", {"transaction": {"kind": "capture"}}, 201)
            for oid in sets["capture"]
        ],
        "fulfil": [
            Operation(
                "/fulfillments.json",
                {
                    "fulfillment": {
                        "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo_id}],
                        "tracking_info": {"number": f"{oid:010d}", "company": "DHL Express"},
                        "notify_customer": False,
                    }
                },
                201,
            )
            for oid, fo_id in zip(sets["fulfil"], fulfillment_orders, strict=True)
        ],
        # Not captured, so nothing is refunded: cancelling voids the authorization and puts the
        # reserved stock back.
        "cancel with restock": [
            Operation(f"/orders/{oid}/cancel.json", {"reason": "customer", "restock": True}, 200)
            for oid in sets["cancel with restock"]
        ],
        "archive": [Operation(f"/orders/{oid}/close.json", None, 200) for oid in sets["archive"]],
    }


# ---- the background ingest -----------------------------------------------------------------------
def _start_background(
    base_url: str, token: str, body_file: Path, *, rate: float, seconds: float, log: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "bench.paced_ingest",
        "--url",
        base_url,
        "--token",
        token,
        "--body-file",
        str(body_file),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
    ]
    # Output to a file, not a pipe, so a chatty failure can never block the process on a full pipe.
    return subprocess.Popen(command, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _stop_background(process: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    """SIGTERM (it finishes its requests in flight and prints its summary); the summary, with
    `covered_measurement` False if it had already stopped on its own, i.e. ran out of time."""
    covered = process.poll() is None
    if covered:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=TIMEOUT_S + 15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    output = log.read_text(errors="replace")
    found = re.search(r"^PACED (\{.*\})$", output, re.MULTILINE)
    if not found:
        raise RuntimeError(f"the background ingest printed no summary (exit {process.returncode}):\n{output[-2000:]}")
    return {**json.loads(found.group(1)), "covered_measurement": covered}


# ---- measuring -------------------------------------------------------------------------------------
def _timed(client: httpx.Client, op: Operation) -> Outcome:
    started = time.perf_counter()
    try:
        response = client.post(op.path, json=op.body) if op.body is not None else client.post(op.path)
    except httpx.HTTPError as exc:
        now = time.perf_counter()
        return Outcome((now - started) * 1000, f"{type(exc).__name__}: {exc}", now)
    now = time.perf_counter()
    error = None if response.status_code == op.expect else f"{response.status_code} {response.text}"
    return Outcome((now - started) * 1000, error, now)


def _measure_action(clients: Sequence[httpx.Client], action: str, ops: list[Operation]) -> dict[str, Any]:
    started = time.perf_counter()
    outcomes = _in_threads(clients, ops, _timed)
    wall_s = time.perf_counter() - started
    failed = sorted((o for o in outcomes if o.error is not None), key=lambda o: o.at)
    p50, p99 = percentiles([o.latency_ms for o in outcomes])
    result: dict[str, Any] = {
        "action": action,
        "count": len(ops),
        "errors": len(failed),
        "ops_per_s": len(ops) / wall_s,
        "p50_ms": p50,
        "p99_ms": p99,
    }
    if failed:
        result["first_error"] = (failed[0].error or "")[:300]
    return result


def measure(
    base_url: str, token: str, body_file: Path, *, rate: float, per_action: int, workdir: Path
) -> dict[str, Any]:
    """Each status change, `per_action` times with 2 client threads, while orders are placed at
    `rate` per second in the background, against the running server at `base_url`.

    Returns (JSON-ready):
        {
          "rate": the background ingest's target rate (orders/s),
          "per_action": per_action,
          "actions": [  # capture, fulfil, cancel with restock, archive, in that order
            {"action", "count", "errors", "ops_per_s", "p50_ms", "p99_ms",
             "first_error" (only when errors: the first failure's status and body, 300 chars)},
            ...
          ],
          "background": paced_ingest's summary ("requests", "errors", "achieved_rate", "p50_ms",
            "p99_ms", "target_rate", "seconds", "first_error") plus "covered_measurement"
            (False if it ran out of time before the last action finished),
        }
    `ops_per_s` is count over the wall time of that action's phase; latencies are per request.
    Preparation (placing 4 * per_action orders, reading fulfillment orders) is not timed and
    happens before the background ingest starts. `workdir` gets the background ingest's log.
    """
    body = body_file.read_bytes()
    prepare_clients = [_client(base_url, token) for _ in range(PREPARE_THREADS)]
    try:
        order_ids = _in_threads(prepare_clients, [body] * (len(ACTIONS) * per_action), _place_order)
        operations = _operations(prepare_clients, order_ids, per_action)
    finally:
        for client in prepare_clients:
            client.close()

    # Long enough even if every action managed only 1 operation a second; stopped when done.
    seconds = WARM_UP_S + 60 + len(ACTIONS) * per_action
    log = workdir / "paced-ingest.log"
    background = _start_background(base_url, token, body_file, rate=rate, seconds=seconds, log=log)
    clients = [_client(base_url, token) for _ in range(MEASURE_THREADS)]
    actions: list[dict[str, Any]] = []
    try:
        time.sleep(WARM_UP_S)
        for action in ACTIONS:
            actions.append(_measure_action(clients, action, operations[action]))
    finally:
        for client in clients:
            client.close()
        summary = _stop_background(background, log)
    return {"rate": rate, "per_action": per_action, "actions": actions, "background": summary}
