"""Webhook delivery: how fast the workers send, and how long an event waits at a steady rate.

Everything runs in its own process, as in production: the worker is `orderdeck worker --no-jobs`,
the receiver is a small HTTP server on 127.0.0.1 (`python -m bench.webhooks receive`), the paced
writer is `python -m bench.webhooks write`; this process only sets up, watches and counts.

1. **Drain.** One subscription to orders/create pointing at the receiver; `messages` outbox
   messages (the orders/create payload of a real benchmark order) are written up front, then one
   worker process (`--workers N`: N of them) starts and relays and sends them all. deliveries/s
   is `messages` over the time from the first delivery to the last one arriving at the receiver
   (the workers' start-up, imports and migration check, left out), and also over the time from
   spawning the workers.
2. **Latency at a steady rate.** With the same worker still running, the writer puts outbox
   messages at `rate` a second for `seconds`, `batch` messages a transaction through Outbox.put
   (5 every 10 ms by default: about the transaction rate of a busy ingest, each order writing
   several messages), open-loop: batch i is due at start + i·batch/rate whatever the database
   does. The receiver notes each delivery's arrival time minus its X-Shopify-Triggered-At (the
   time the event was written); the backlog is what was written and not yet received when the
   writer stops. Then we wait for the rest so every event's latency is counted.

The receiver is a raw asyncio protocol (uvloop when installed) that answers 200 to every POST
and keeps (arrival time, X-Shopify-Triggered-At, X-Shopify-Event-Id). To show it is not the
bottleneck, wrk measures how many such POSTs it takes alone before the worker starts, and its
CPU share while the worker drains is reported beside the worker's and the database's.

Standalone: `python -m bench.webhooks [--quick] [--backend sqlite|postgres|both] [--messages N]
[--seconds S] [--rate R] [--workers N]`; bench/run.py runs it as part of the suite. Nothing asserts on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import func, select, update

from orderdeck.bootstrap import build
from orderdeck.domain.order import Author
from orderdeck.settings import Settings
from orderdeck.store.outbox import OutboxMessage
from orderdeck.store.tables import outbox, webhook_attempts, webhook_deliveries
from orderdeck.store.webhooks import Subscriptions

from .paced_ingest import percentiles
from .server import free_port

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "orders/create"
HOOK_PATH = "/hook"
RATE = 500.0  # events a second in the latency measurement
BATCH = 5  # messages a transaction in the latency measurement (every 10 ms at 500/s)
UP_FRONT_BATCH = 1000  # messages a transaction when writing the drain's messages (not timed)
POLL_S = 0.05


# ---- the receiver: `python -m bench.webhooks receive --port P` (its own process) ----------------
class _Tally:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.records: list[tuple[float, str, str]] = []  # (arrival, triggered_at, event_id)
        self.events: set[str] = set()
        self.requests = 0
        self.connections = 0

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "connections": self.connections,
            "received": len(self.records),
            "unique": len(self.events),
            "first": self.records[0][0] if self.records else None,
            "last": self.records[-1][0] if self.records else None,
        }


_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class _Receiver(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all the worker (aiohttp) and wrk send."""

    def __init__(self, tally: _Tally) -> None:
        self.tally = tally
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.tally.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            arrival = time.time()
            method, path = lines[0].split(b" ")[:2]
            self._answer(method, path, headers, arrival)
            if headers.get(b"connection", b"").lower() == b"close" and self.transport is not None:
                self.transport.close()
                return

    def _answer(self, method: bytes, path: bytes, headers: dict[bytes, bytes], arrival: float) -> None:
        assert self.transport is not None
        tally = self.tally
        if method == b"POST" and path == HOOK_PATH.encode():
            tally.requests += 1
            event = headers.get(b"x-shopify-event-id", b"").decode()
            tally.records.append((arrival, headers.get(b"x-shopify-triggered-at", b"").decode(), event))
            tally.events.add(event)
            self.transport.write(_OK)
            return
        if path == b"/_stats":
            body = json.dumps(tally.stats()).encode()
        elif path == b"/_dump":
            body = json.dumps(tally.records).encode()
        elif path == b"/_reset":
            tally.reset()
            body = b"{}"
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )


async def _receive(port: int) -> None:
    loop = asyncio.get_running_loop()
    tally = _Tally()
    server = await loop.create_server(lambda: _Receiver(tally), "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def receive(port: int) -> None:
    try:
        import uvloop

        uvloop.run(_receive(port))
    except ImportError:
        asyncio.run(_receive(port))


class Receiver:
    """The receiver process, seen from here."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "bench.webhooks", "receive", "--port", str(self.port)]
        log = workdir / "receiver.log"
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the webhook receiver exited; see {log}")
            try:
                self.stats()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the webhook receiver did not start in 30 s; see {log}") from None
                time.sleep(0.1)

    def stats(self) -> dict[str, Any]:
        return dict(self.client.get("/_stats").json())

    def records(self) -> list[tuple[float, str, str]]:
        return [tuple(r) for r in self.client.get("/_dump").json()]  # type: ignore[misc]

    def reset(self) -> None:
        self.client.post("/_reset")

    def stop(self) -> None:
        self.client.close()
        _stop(self.process)


# ---- the paced writer: `python -m bench.webhooks write …` (its own process) -----------------------
def write(url: str, payload: str, order_id: int | None, *, rate: float, seconds: float, batch: int) -> dict[str, Any]:
    """Outbox messages at `rate` a second for `seconds` (or until SIGTERM), `batch` a transaction."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    deck = build(Settings(database_url=url))
    with deck.db.writer.connect():  # open the pool's first connection before the clock starts
        pass
    messages = [OutboxMessage("webhook", TOPIC, payload, order_id)] * batch
    interval = batch / rate
    put_ms: list[float] = []
    first_error = None
    errors = 0
    written = 0
    started = time.perf_counter()
    wall_started = time.time()
    sent = 0
    while not stopping:
        due = started + sent * interval
        if due >= started + seconds:
            break
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        began = time.perf_counter()
        try:
            with deck.unit_of_work() as uow:
                uow.outbox.put(messages, uow.now)
                uow.commit()
            written += batch
        except Exception as exc:  # counted and reported; the schedule goes on
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
        put_ms.append((time.perf_counter() - began) * 1000)
        sent += 1
    writing_s = time.perf_counter() - started
    deck.db.dispose()
    p50, p99 = percentiles(put_ms)
    return {
        "written": written,
        "errors": errors,
        "first_error": first_error,
        "target_rate": rate,
        "batch": batch,
        # As in paced_ingest: each batch owns a slot of batch/rate seconds.
        "achieved_rate": written / max(writing_s, sent * interval, 1e-9),
        "seconds": writing_s,
        "started_at": wall_started,
        "put_p50_ms": p50,
        "put_p99_ms": p99,
    }


def _start_writer(
    url: str, payload_file: Path, order_id: int | None, *, rate: float, seconds: float, batch: int, log: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "bench.webhooks",
        "write",
        "--database-url",
        url,
        "--payload-file",
        str(payload_file),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--batch",
        str(batch),
    ]
    if order_id is not None:
        command += ["--order-id", str(order_id)]
    return subprocess.Popen(command, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)


# ---- setting up (not timed) --------------------------------------------------------------------------
def _system() -> Author:
    return Author(kind="api", name="Benchmark", ref=None)


def sample_payload(url: str, order: dict[str, Any]) -> tuple[str, int]:
    """Place one benchmark order through the domain and take its orders/create payload, so every
    message carries what a real one does; then mark every waiting webhook message handled (the
    ingest run's, this order's), so the worker finds only the messages written here."""
    from orderdeck.api import convert, schemas
    from orderdeck.services.context import Command
    from orderdeck.services.orders import place_order

    deck = build(Settings(database_url=url))
    place = convert.place_order(schemas.OrderEnvelope.model_validate(order).order)
    with deck.unit_of_work() as uow:
        place_order(Command(deck, uow, _system()), place)
        uow.commit()
    with deck.unit_of_work() as uow:
        row = uow.conn.execute(
            select(outbox.c.payload, outbox.c.order_id)
            .where(outbox.c.kind == "webhook", outbox.c.topic == TOPIC)
            .order_by(outbox.c.created_at.desc())
            .limit(1)
        ).one()
        uow.conn.execute(
            update(outbox)
            .where(outbox.c.kind == "webhook", outbox.c.delivered_at.is_(None))
            .values(delivered_at=uow.now)
        )
        uow.commit()
    deck.db.dispose()
    return str(row.payload), int(row.order_id)


def _subscribe(url: str, address: str) -> int:
    from orderdeck.services.context import Command
    from orderdeck.services.webhooks import subscribe

    deck = build(Settings(database_url=url, allow_private_addresses="127.0.0.1"))  # the receiver's address
    with deck.unit_of_work() as uow:
        subscription = subscribe(Command(deck, uow, _system()), TOPIC, address, None)
        uow.commit()
    deck.db.dispose()
    return subscription.id


def _unsubscribe(url: str, subscription_id: int) -> None:
    """Leave no subscription behind for the benchmarks that follow (their servers run workers)."""
    deck = build(Settings(database_url=url))
    with deck.unit_of_work() as uow:
        Subscriptions(uow.conn).remove(subscription_id)
        uow.commit()
    deck.db.dispose()


def _write_up_front(url: str, payload: str, order_id: int, count: int) -> None:
    deck = build(Settings(database_url=url))
    left = count
    while left > 0:
        n = min(UP_FRONT_BATCH, left)
        with deck.unit_of_work() as uow:
            uow.outbox.put([OutboxMessage("webhook", TOPIC, payload, order_id)] * n, uow.now)
            uow.commit()
        left -= n
    deck.db.dispose()


def _queue(url: str, subscription_id: int) -> dict[str, int]:
    """What waits: webhook messages not yet relayed, deliveries not yet sent, and the attempts."""
    deck = build(Settings(database_url=url))
    d = webhook_deliveries.c
    with deck.unit_of_work(read_only=True) as uow:
        unrelayed = uow.conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.kind == "webhook", outbox.c.delivered_at.is_(None))
        ).scalar_one()
        states = dict(
            uow.conn.execute(
                select(d.state, func.count()).where(d.subscription_id == subscription_id).group_by(d.state)
            ).all()
        )
        attempts = uow.conn.execute(
            select(func.count())
            .select_from(webhook_attempts)
            .join(webhook_deliveries, d.id == webhook_attempts.c.delivery_id)
            .where(d.subscription_id == subscription_id)
        ).scalar_one()
    deck.db.dispose()
    return {
        "unrelayed": int(unrelayed),
        "pending": int(states.get("pending", 0)),
        "delivered": int(states.get("delivered", 0)),
        "failed": int(states.get("failed", 0)),
        "attempts": int(attempts),
    }


# ---- watching ----------------------------------------------------------------------------------------
def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _database_pids(url: str) -> list[int]:
    """PostgreSQL's server processes (when it runs on this machine); SQLite runs inside the
    worker and the writer."""
    if url.startswith("sqlite"):
        return []
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            found.append(proc.pid)
    return found


def _cpu(pids: list[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            seconds[pid] = times.user + times.system + times.children_user + times.children_system
    return seconds


def _cpu_share(before: dict[int, float], after: dict[int, float], wall: float) -> float:
    """CPU used between two samples, as a share of one core (1.0 = one core busy all along)."""
    used = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    return used / wall if wall > 0 else 0.0


def _wait_for(receiver: Receiver, count: int, timeout: float, workers: Workers) -> dict[str, Any]:
    """Poll the receiver until it has `count` distinct events (or the time is up, or every worker
    died); its last stats."""
    deadline = time.monotonic() + timeout
    while True:
        stats = receiver.stats()
        if stats["unique"] >= count or time.monotonic() > deadline or not workers.alive():
            return stats
        time.sleep(POLL_S)


def _receiver_capacity(receiver: Receiver, payload: str, workdir: Path, seconds: int) -> float:
    """POSTs a second the receiver answers alone: wrk, 2 threads, 20 connections (the worker keeps
    up to 20 alive), each POST the webhook's body and headers."""
    script = workdir / "receiver.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(payload, ensure_ascii=False)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["X-Shopify-Triggered-At"] = "2026-01-01T00:00:00+00:00"\n'
        'wrk.headers["X-Shopify-Event-Id"] = "00000000-0000-0000-0000-000000000000"\n'
    )
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", "20", "-d", f"{seconds}s", "-s", str(script), receiver.url + HOOK_PATH],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    found = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
    receiver.reset()
    if not found:
        raise RuntimeError(f"wrk against the receiver failed: {out.stdout}\n{out.stderr}")
    return float(found.group(1))


class Workers:
    """`count` worker processes (`orderdeck worker --no-jobs`), each logging to its own file."""

    def __init__(self, url: str, workdir: Path, backend: str, count: int) -> None:
        env = {**os.environ, "ORDERDECK_DATABASE_URL": url, "ORDERDECK_ALLOW_PRIVATE_ADDRESSES": "127.0.0.1"}
        command = [sys.executable, "-m", "orderdeck.cli", "worker", "--no-jobs"]
        self.logs = [workdir / f"worker-{backend}-{i}.log" for i in range(count)]
        self.spawned = time.time()
        self.processes = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
            for log in self.logs
        ]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def alive(self) -> bool:
        return any(p.poll() is None for p in self.processes)

    def exits(self) -> list[int | None]:
        return [p.poll() for p in self.processes]

    def log_tail(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in self.logs)

    def stop(self) -> None:
        for process in self.processes:
            _stop(process)


# ---- the two measurements ------------------------------------------------------------------------------
def _drain(
    url: str,
    receiver: Receiver,
    count: int,
    workers: Workers,
    *,
    timeout: float,
) -> dict[str, Any]:
    database = _database_pids(url)
    spawned = workers.spawned
    # The first delivery: from then on the workers are up, and CPU is counted.
    stats = receiver.stats()
    while not stats["received"] and workers.alive() and time.time() - spawned < timeout:
        time.sleep(0.01)
        stats = receiver.stats()
    cpu_from = time.time()
    cpu_before = {"worker": _cpu(workers.pids), "receiver": _cpu([receiver.process.pid])}
    db_before = _cpu(database)
    stats = _wait_for(receiver, count, timeout - (time.time() - spawned), workers)
    cpu_to = time.time()
    cpu_after = {"worker": _cpu(workers.pids), "receiver": _cpu([receiver.process.pid])}
    db_after = _cpu(_database_pids(url))
    received, first, last = stats["unique"], stats["first"], stats["last"]
    if not received:
        raise RuntimeError(f"the workers delivered nothing (exits {workers.exits()}):\n{workers.log_tail()}")
    sending = max(last - first, 1e-9)
    return {
        "messages": count,
        "received": received,
        "duplicates": stats["received"] - stats["unique"],
        "connections": stats["connections"],  # TCP connections the worker opened to the receiver
        "complete": received >= count,
        "deliveries_per_s": received / sending,
        "deliveries_per_s_with_startup": received / (last - spawned),
        "startup_s": first - spawned,
        "seconds": sending,
        "cpu": {
            "worker": _cpu_share(cpu_before["worker"], cpu_after["worker"], cpu_to - cpu_from),
            "receiver": _cpu_share(cpu_before["receiver"], cpu_after["receiver"], cpu_to - cpu_from),
            "database": _cpu_share(db_before, db_after, cpu_to - cpu_from) if database else None,
        },
    }


def _latencies(records: list[tuple[float, str, str]]) -> list[float]:
    return [(arrival - datetime.fromisoformat(triggered).timestamp()) * 1000 for arrival, triggered, _ in records]


def _paced(
    url: str,
    receiver: Receiver,
    workers: Workers,
    subscription_id: int,
    payload_file: Path,
    order_id: int,
    *,
    rate: float,
    seconds: float,
    batch: int,
    workdir: Path,
) -> dict[str, Any]:
    receiver.reset()
    log = workdir / "writer.log"
    writer = _start_writer(url, payload_file, order_id, rate=rate, seconds=seconds, batch=batch, log=log)
    try:
        writer.wait(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        _stop(writer)
    ended = time.time()
    at_end = receiver.stats()
    queue = _queue(url, subscription_id)
    output = log.read_text(errors="replace")
    found = re.search(r"^WRITER (\{.*\})$", output, re.MULTILINE)
    if not found:
        raise RuntimeError(f"the paced writer printed no summary (exit {writer.returncode}):\n{output[-2000:]}")
    written = json.loads(found.group(1))
    # The rest: wait for what was still on its way, so every event's latency counts.
    done = _wait_for(receiver, written["written"], max(60.0, seconds * 4), workers)
    drained_after = (done["last"] - ended) if done["unique"] >= written["written"] and done["last"] else None
    records = receiver.records()
    latencies = _latencies(records)
    p50, p99 = percentiles(latencies)
    # The backlog over the run, from the records: written (triggered) minus arrived at each moment.
    events = sorted(
        [(datetime.fromisoformat(t).timestamp(), 1) for _, t, _ in records] + [(a, -1) for a, _, _ in records]
    )
    backlog = peak = 0
    for _, step in events:
        backlog += step
        peak = max(peak, backlog)
    return {
        **written,
        "received": done["unique"],
        "duplicates": done["received"] - done["unique"],
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": max(latencies) if latencies else None,
        "backlog_at_end": written["written"] - at_end["unique"],
        "unrelayed_at_end": queue["unrelayed"],
        "unsent_at_end": queue["pending"],
        "peak_backlog": peak,
        "drained_after_s": drained_after,
    }


def measure(
    url: str,
    order: dict[str, Any],
    *,
    messages: int,
    seconds: float,
    workdir: Path,
    rate: float = RATE,
    batch: int = BATCH,
    capacity_seconds: int = 3,
    workers: int = 1,
) -> dict[str, Any]:
    """Both measurements against the database at `url` (migrated, with a catalogue that can take
    `order`, the request body of bench.run's benchmark order). Returns (JSON-ready):
        {"payload_bytes", "receiver_capacity_per_s",
         "drain": {"messages", "received", "duplicates", "complete", "deliveries_per_s",
                   "deliveries_per_s_with_startup", "startup_s", "seconds",
                   "cpu": {"worker", "receiver", "database" (None on SQLite)} (shares of one core)},
         "paced": the writer's summary ("written", "errors", "target_rate", "batch",
                  "achieved_rate", "put_p50_ms", "put_p99_ms", …) and "received", "duplicates",
                  "p50_ms", "p99_ms", "max_ms" (event to delivery), "backlog_at_end" (written
                  and not yet received when the writer stopped: "unrelayed_at_end" of it still
                  in the outbox, "unsent_at_end" relayed and not yet sent), "peak_backlog",
                  "drained_after_s" (None if the rest did not arrive within the wait),
         "queue": the deliveries' states and attempts at the end}
    """
    payload, order_id = sample_payload(url, order)
    payload_file = workdir / "webhook-payload.json"
    payload_file.write_text(payload)
    backend = "sqlite" if url.startswith("sqlite") else "postgres"
    receiver = Receiver(workdir)
    try:
        capacity = _receiver_capacity(receiver, payload, workdir, capacity_seconds)
        subscription_id = _subscribe(url, receiver.url + HOOK_PATH)
        _write_up_front(url, payload, order_id, messages)
        running = Workers(url, workdir, backend, workers)
        try:
            drain = _drain(url, receiver, messages, running, timeout=max(120.0, messages / 20))
            paced = _paced(
                url,
                receiver,
                running,
                subscription_id,
                payload_file,
                order_id,
                rate=rate,
                seconds=seconds,
                batch=batch,
                workdir=workdir,
            )
        finally:
            running.stop()
        queue = _queue(url, subscription_id)
        _unsubscribe(url, subscription_id)
    finally:
        receiver.stop()
    return {
        "workers": workers,
        "payload_bytes": len(payload.encode()),
        "receiver_capacity_per_s": capacity,
        "drain": drain,
        "paced": paced,
        "queue": queue,
    }


# ---- reporting -------------------------------------------------------------------------------------------
def _processes(count: int) -> str:
    return (
        "One `orderdeck worker --no-jobs` process" if count == 1 else f"{count} `orderdeck worker --no-jobs` processes"
    )


def render(result: dict[str, Any], table: Callable[[list[str], list[list[str]]], str]) -> list[str]:
    """The markdown for bench.run's report: a table for each measurement and a line of context."""
    if not result:
        return []
    d, p = result["drain"], result["paced"]
    cpu = d["cpu"]
    shares = f"worker {cpu['worker']:.0%}, receiver {cpu['receiver']:.0%}" + (
        f", PostgreSQL {cpu['database']:.0%}" if cpu.get("database") is not None else ""
    )

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    return [
        table(
            [
                "webhooks: drain",
                "delivered",
                "deliveries/s (first to last)",
                "deliveries/s (from worker start)",
                "worker start-up s",
                "CPU (one core = 100 %)",
            ],
            [
                [
                    f"{d['messages']:,} orders/create messages written up front",
                    f"{d['received']:,}" + ("" if d["complete"] else " (timed out)"),
                    f"{d['deliveries_per_s']:.0f}",
                    f"{d['deliveries_per_s_with_startup']:.0f}",
                    f"{d['startup_s']:.1f}",
                    shares,
                ]
            ],
        ),
        "",
        table(
            [
                "webhooks: event to delivery",
                "written",
                "p50 ms",
                "p99 ms",
                "max ms",
                "backlog at end (unrelayed / unsent)",
                "peak backlog",
                "rest drained in s",
            ],
            [
                [
                    f"{p['achieved_rate']:.0f}/s for {p['seconds']:.0f} s, {p['batch']} a transaction",
                    f"{p['written']:,}" + (f" ({p['errors']} errors)" if p["errors"] else ""),
                    ms(p["p50_ms"]),
                    ms(p["p99_ms"]),
                    ms(p["max_ms"]),
                    f"{p['backlog_at_end']:,} ({p['unrelayed_at_end']:,} / {p['unsent_at_end']:,})",
                    f"{p['peak_backlog']:,}",
                    "-" if p["drained_after_s"] is None else f"{max(p['drained_after_s'], 0):.1f}",
                ]
            ],
        ),
        "",
        f"{_processes(result.get('workers', 1))}; payload {result['payload_bytes']:,} bytes; the receiver "
        f"alone answers {result['receiver_capacity_per_s']:,.0f} POSTs/s (wrk, 20 connections). "
        f"Deliveries ended: {result['queue']['delivered']:,} delivered, {result['queue']['failed']} failed, "
        f"{result['queue']['pending']} pending, in {result['queue']['attempts']:,} attempts.",
        "",
    ]


# ---- standalone ------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="the benchmark alone (the default)")
    receiver = sub.add_parser("receive", help="the receiver process")
    receiver.add_argument("--port", type=int, required=True)
    writer = sub.add_parser("write", help="the paced writer process")
    writer.add_argument("--database-url", required=True)
    writer.add_argument("--payload-file", type=Path, required=True)
    writer.add_argument("--order-id", type=int)
    writer.add_argument("--rate", type=float, default=RATE)
    writer.add_argument("--seconds", type=float, required=True)
    writer.add_argument("--batch", type=int, default=BATCH)
    for target in (parser, run):
        target.add_argument("--quick", action="store_true", help="1,000 messages, 5 s at the paced rate")
        target.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
        target.add_argument("--messages", type=int, help="messages written up front (full: 20,000)")
        target.add_argument("--seconds", type=float, help="seconds of paced writing (full: 30)")
        target.add_argument("--rate", type=float, default=RATE, help="paced events a second (500)")
        target.add_argument("--batch", type=int, default=BATCH, help="paced messages a transaction (5)")
        target.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    args = parser.parse_args()
    if args.command == "receive":
        receive(args.port)
    elif args.command == "write":
        summary = write(
            args.database_url,
            args.payload_file.read_text(),
            args.order_id,
            rate=args.rate,
            seconds=args.seconds,
            batch=args.batch,
        )
        print(f"WRITER {json.dumps(summary)}", flush=True)
    else:
        standalone(args)


def standalone(args: argparse.Namespace) -> None:
    from . import machine
    from .run import PG_ADMIN, RESULTS, Plan, drop_database, fresh_database, order_body, prepare_shop, table

    plan = Plan.make(args.quick)
    messages = args.messages if args.messages is not None else plan.webhook_messages
    seconds = args.seconds if args.seconds is not None else plan.webhook_seconds
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    RESULTS.mkdir(parents=True, exist_ok=True)
    parts = [
        table(
            ["machine", ""], [[k, v] for k, v in machine.describe(PG_ADMIN if "postgres" in backends else None).items()]
        ),
        "",
    ]
    for backend in backends:
        workdir = Path(tempfile.mkdtemp(prefix=f"orderdeck-bench-webhooks-{backend}-"))
        url = fresh_database(backend, workdir)
        try:
            _, variants = prepare_shop(url)
            print(f"[{backend}] webhooks: {messages:,} messages, then {args.rate:.0f}/s for {seconds:g} s", flush=True)
            result = measure(
                url,
                order_body(variants),
                messages=messages,
                seconds=seconds,
                rate=args.rate,
                batch=args.batch,
                workdir=workdir,
                workers=args.workers,
            )
        finally:
            drop_database(backend, workdir)
        workers = "" if args.workers == 1 else f"-{args.workers}-workers"
        (RESULTS / f"webhooks-{backend}{workers}{'-quick' if args.quick else ''}.json").write_text(
            json.dumps(result, indent=2)
        )
        parts += [f"### {backend}", "", *render(result, table)]
    print("\n".join(parts))


if __name__ == "__main__":
    main()
