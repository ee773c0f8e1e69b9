"""The worker as a real process, sending to a real HTTP receiver.

A burst of webhook events must each reach the receiver, signed, under one stable webhook id,
while `orderdeck worker` is SIGKILLed at random moments and started again; the database must
end with every delivery delivered and every outbox message handed on, and SIGTERM must stop a
worker cleanly. `orderdeck serve` must deliver webhooks in-process, and `--no-worker` must not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select, update

from orderdeck.bootstrap import build
from orderdeck.domain.order import Author
from orderdeck.outbox.relay import delivery_id
from orderdeck.services.context import Command, Orderdeck
from orderdeck.services.webhooks import subscribe
from orderdeck.settings import Settings
from orderdeck.store.outbox import OutboxMessage
from orderdeck.store.tables import outbox, webhook_attempts, webhook_deliveries
from tests.conftest import BASE, _empty_postgres, make_token

SECRET = "worker-process-test-secret"
# 10,000 on SQLite; PostgreSQL's worker sends about a quarter slower here, and 10,000 took 100 s
# on the 2-core development machine (SQLite: 70 s), so it gets half as many.
EVENTS = {"sqlite": 10_000, "postgresql": 5_000}
BURST_TRANSACTIONS = 4
TAIL_EVENTS = 1_000  # a second burst, for stopping a busy worker with SIGTERM
SEED = 20261130
KILL_AFTER = (0.5, 2.0)  # seconds a worker runs before its SIGKILL, uniformly at random
# Workers killed during the burst (fewer when every event arrives sooner). A number of kills, not
# a time budget: how fast the machine is decides how much of the burst goes out before the last
# kill, never whether the test passes.
KILLS = 25
# Then one worker alone delivers the rest and settles the database. Only a guard against a hang:
# far beyond the minute or so it takes on a busy two-core machine.
SETTLE_TIMEOUT = 600.0


@dataclass(frozen=True)
class Received:
    webhook_id: str
    event_id: str
    topic: str
    body: bytes
    hmac_ok: bool


class Receiver:
    """An HTTP server on 127.0.0.1 that answers 200 to every POST and records what came."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.events: set[str] = set()
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the worker's client expects

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing arrived
                    self.close_connection = True
                    return
                receiver.record(self.headers, body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512  # the worker opens up to 100 connections at once

            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed worker's connections
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def record(self, headers: Any, body: bytes) -> None:
        expected = base64.b64encode(hmac.new(self.secret.encode(), body, hashlib.sha256).digest()).decode()
        got = headers.get("X-Shopify-Hmac-Sha256") or ""
        item = Received(
            webhook_id=headers.get("X-Shopify-Webhook-Id") or "",
            event_id=headers.get("X-Shopify-Event-Id") or "",
            topic=headers.get("X-Shopify-Topic") or "",
            body=body,
            hmac_ok=hmac.compare_digest(expected, got),
        )
        with self.changed:
            self.received.append(item)
            self.events.add(item.event_id)
            self.changed.notify_all()

    def wait_for_events(self, wanted: set[str], timeout: float) -> bool:
        """Wait until every event in `wanted` has arrived; False when `timeout` ran out first."""
        with self.changed:
            # The length first: a cheap test on each of the thousands of wake-ups.
            return self.changed.wait_for(lambda: len(self.events) >= len(wanted) and wanted <= self.events, timeout)

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(condition, timeout)

    def snapshot(self) -> list[Received]:
        with self.changed:
            return list(self.received)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SECRET) as running:
        yield running


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database the worker processes can reach."""
    if request.param == "sqlite":
        path = tmp_path / "orderdeck.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = str(request.getfixturevalue("postgres_url"))
    _empty_postgres(url)
    return url


@pytest.fixture
def app(database_url: str) -> Iterator[Orderdeck]:
    built = build(Settings(database_url=database_url, webhook_secret=SECRET, allow_private_addresses="127.0.0.1"))
    yield built
    built.db.dispose()


def process_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERDECK_")}
    env.update(ORDERDECK_DATABASE_URL=database_url, ORDERDECK_WEBHOOK_SECRET=SECRET, PYTHONUNBUFFERED="1")
    env.update(ORDERDECK_ALLOW_PRIVATE_ADDRESSES="127.0.0.1")  # the receivers listen there
    return env


class Processes:
    """Child processes of one test, each logging to a file of its own; all stopped at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        log = self.directory / f"{len(self.started):04d}-{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "orderdeck.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.started.append((proc, log))
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        path = next(p for q, p in self.started if q is proc)
        return path.read_text(errors="replace")

    def wait_for_line(self, proc: subprocess.Popen[bytes], needle: str, timeout: float) -> None:
        """Wait until the process has logged `needle` (start-up: imports, migrations)."""
        path = next(p for q, p in self.started if q is proc)
        deadline = time.monotonic() + timeout
        while needle not in path.read_text(errors="replace")[:20_000]:
            assert proc.poll() is None, f"{path.name} exited with {proc.returncode}:\n{path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{path.name} did not log {needle!r} in {timeout:g} s"
            time.sleep(0.02)

    def stop_gracefully(self, proc: subprocess.Popen[bytes], within: float = 10, codes: tuple[int, ...] = (0,)) -> None:
        """SIGTERM; the process must exit with one of `codes` within `within` seconds."""
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(within)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {within:g} s after SIGTERM:\n{self.log_of(proc)[-3000:]}")
        assert code in codes, f"exited with {code} on SIGTERM:\n{self.log_of(proc)[-3000:]}"

    def problems(self) -> list[str]:
        """Tracebacks and errors any process logged (a SIGKILL itself leaves no trace)."""
        found = []
        for _, path in self.started:
            text = path.read_text(errors="replace")
            if "Traceback" in text or " ERROR " in text:
                found.append(f"--- {path.name}\n{text[-3000:]}")
        return found

    def stop_all(self) -> None:
        for proc, _ in self.started:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    directory = tmp_path / "logs"
    directory.mkdir()
    running = Processes(directory)
    try:
        yield running
    finally:
        running.stop_all()


def write_burst(app: Orderdeck, first: int, count: int, transactions: int) -> dict[str, int]:
    """`count` orders/create messages with ids from `first` on, over a few transactions: their
    event ids (X-Shopify-Event-Id) and the ids in their payloads."""
    per = -(-count // transactions)
    for start in range(first, first + count, per):
        with app.unit_of_work() as uow:
            uow.outbox.put(
                [
                    OutboxMessage("webhook", "orders/create", orjson.dumps({"id": i, "name": f"#{i}"}).decode(), i)
                    for i in range(start, min(start + per, first + count))
                ],
                uow.now,
            )
            uow.commit()
    with app.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(
            select(outbox.c.id, outbox.c.order_id).where(outbox.c.kind == "webhook", outbox.c.order_id >= first)
        ).all()
    return {r.id: r.order_id for r in rows}


def expire_leases(app: Orderdeck) -> int:
    """Stand in for time after a SIGKILL: the dead worker's claims (each held by a 60 s lease)
    become due now instead of a minute later. Returns how many it held."""
    d = webhook_deliveries.c
    with app.unit_of_work() as uow:
        held = uow.conn.execute(
            update(webhook_deliveries)
            .where(d.state == "pending", d.next_attempt_at > uow.now)
            .values(next_attempt_at=uow.now)
        ).rowcount
        uow.commit()
    return int(held)


def database_state(app: Orderdeck) -> tuple[Counter[str], int, int]:
    """Deliveries by state, all deliveries, outbox rows not yet handed on."""
    with app.unit_of_work(read_only=True) as uow:
        states = Counter(
            dict(
                uow.conn.execute(
                    select(webhook_deliveries.c.state, func.count()).group_by(webhook_deliveries.c.state)
                ).all()
            )
        )
        waiting = uow.conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
        ).scalar_one()
    return states, sum(states.values()), int(waiting)


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}")


def test_every_event_is_delivered_while_workers_are_killed_at_random(
    database_url: str,
    app: Orderdeck,
    receiver: Receiver,
    processes: Processes,
    record_property: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with app.unit_of_work() as uow:
        subscription = subscribe(Command(app, uow, Author("system", "test")), "orders/create", receiver.url, None)
        uow.commit()
    backend = "sqlite" if app.db.is_sqlite else "postgresql"
    events = EVENTS[backend]
    began = time.monotonic()
    expected = write_burst(app, 0, events, BURST_TRANSACTIONS)
    assert len(expected) == events
    wanted = set(expected)
    env = process_env(database_url)
    rng = random.Random(SEED)

    # Kill a worker at a random moment, start another, until every event has arrived or KILLS
    # workers have been killed.
    crash_began = time.monotonic()
    kills = stranded = 0
    while kills < KILLS and not receiver.wait_for_events(wanted, 0):
        worker = processes.start(["worker", "--no-jobs"], env, "worker")
        # Start-up (imports, migrations) takes most of a second; the random moment falls after it.
        processes.wait_for_line(worker, "started", 30)
        receiver.wait_for_events(wanted, rng.uniform(*KILL_AFTER))
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        kills += 1
        stranded += expire_leases(app)
    crash_seconds = time.monotonic() - crash_began

    # One worker left alone settles the database: what the last killed one sent without recording
    # is sent again (expire_leases made it due).
    worker = processes.start(["worker", "--no-jobs"], env, "worker")
    settle_began = time.monotonic()
    while True:
        states, total, waiting = database_state(app)
        if states["delivered"] == total == events and waiting == 0 and receiver.wait_for_events(wanted, 0):
            break
        assert worker.poll() is None, f"the worker exited with {worker.returncode}:\n{processes.log_of(worker)}"
        if time.monotonic() - settle_began > SETTLE_TIMEOUT:
            missing = wanted - receiver.events
            pytest.fail(
                f"after {kills} SIGKILLs (seed {SEED}) and {SETTLE_TIMEOUT:g} s of one worker alone, the "
                f"database still shows deliveries {dict(states)} (of {total}, {events} expected), {waiting} "
                f"outbox rows not handed on, and {len(missing)} events never arrived, e.g. "
                f"{sorted(missing)[:5]}\n" + "\n".join(processes.problems())
            )
        time.sleep(0.5)
    settle_seconds = time.monotonic() - settle_began

    received = receiver.snapshot()

    # Stopping gracefully, busy: a second burst; once some of it has arrived, SIGTERM. The worker
    # exits with 0 within 10 s, having recorded whatever it sent: no claim is left holding a lease
    # and every event that arrived is delivered in the database.
    tail = set(write_burst(app, events, TAIL_EVENTS, 1))
    assert receiver.wait_until(lambda: bool(tail & receiver.events), 15), "the second burst never arrived"
    processes.stop_gracefully(worker)
    assert "stopped" in processes.log_of(worker)
    with app.unit_of_work(read_only=True) as uow:
        d = webhook_deliveries.c
        leased = uow.conn.execute(
            select(func.count())
            .select_from(webhook_deliveries)
            .where(d.state == "pending", d.next_attempt_at > uow.now)
        ).scalar_one()
        recorded = set(uow.conn.execute(select(d.event_id).where(d.state == "delivered")).scalars())
    assert leased == 0, f"{leased} deliveries were claimed but not recorded when the worker stopped"
    arrived = tail & receiver.events
    assert arrived == tail & recorded, (
        f"after SIGTERM {len(arrived - recorded)} events arrived but are not recorded delivered, "
        f"{len((tail & recorded) - arrived)} recorded delivered never arrived"
    )
    ids_by_event: dict[str, set[str]] = defaultdict(set)
    for item in received:
        ids_by_event[item.event_id].add(item.webhook_id)
    unsigned = [r.webhook_id for r in received if not r.hmac_ok]
    assert not unsigned, f"{len(unsigned)} deliveries had a wrong X-Shopify-Hmac-Sha256, e.g. {unsigned[:3]}"
    assert set(ids_by_event) == wanted, f"unexpected event ids: {sorted(set(ids_by_event) - wanted)[:5]}"
    several = {e: ids for e, ids in ids_by_event.items() if len(ids) != 1}
    assert not several, (
        f"{len(several)} events arrived under more than one webhook id, e.g. {list(several.items())[:3]}"
    )
    wrong = [
        r.webhook_id
        for r in received
        if r.webhook_id != delivery_id(r.event_id, subscription.id)
        or r.topic != "orders/create"
        or orjson.loads(r.body)["id"] != expected[r.event_id]
    ]
    assert not wrong, f"{len(wrong)} deliveries carry another id, topic or body than their event's, e.g. {wrong[:3]}"
    # The receiver always answers 200: every attempt recorded must say so (a retry would mean a
    # send failed, and expire_leases would have hidden its backoff).
    with app.unit_of_work(read_only=True) as uow:
        a = webhook_attempts.c
        results = dict(uow.conn.execute(select(a.result, func.count()).group_by(a.result)).all())
        errors = uow.conn.execute(select(a.error).where(a.result != "delivered").limit(3)).scalars().all()
    assert set(results) == {"delivered"}, f"attempts by result: {results}; e.g. {errors}"
    problems = processes.problems()
    assert not problems, "the workers logged errors:\n" + "\n".join(problems)

    duplicates = len(received) - len(wanted)
    total_seconds = time.monotonic() - began
    record_property("events", events)
    record_property("sigkills", kills)
    record_property("claims_stranded_by_kills", stranded)
    record_property("duplicates", duplicates)
    record_property("crash_phase_seconds", round(crash_seconds, 1))
    record_property("settle_seconds", round(settle_seconds, 1))
    record_property("attempts_recorded", results["delivered"])
    report(
        capsys,
        f"[{backend}] {events} events, {kills} SIGKILLs ({stranded} claims stranded), "
        f"{len(received)} requests received, {duplicates} duplicates, {results['delivered']} attempts recorded; "
        f"{crash_seconds:.1f} s under the kills, then {settle_seconds:.1f} s for one worker to deliver the rest "
        f"and settle; {total_seconds:.1f} s in all",
    )


# `orderdeck serve` with its embedded worker.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(processes: Processes, database_url: str, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = processes.start(["serve", "--port", str(port), *extra], process_env(database_url), "serve")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert server.poll() is None, f"orderdeck serve exited with {server.returncode}:\n{processes.log_of(server)}"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"orderdeck serve not ready in 30 s:\n{processes.log_of(server)}"
        time.sleep(0.1)


def stop_server(processes: Processes, server: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the server (and its embedded worker) shuts down cleanly within 10 s. Uvicorn
    raises the signal again once it has shut down, so the exit status is -SIGTERM."""
    processes.stop_gracefully(server, codes=(0, -signal.SIGTERM))
    assert "Application shutdown complete" in processes.log_of(server)
    assert not processes.problems(), "\n".join(processes.problems())


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "serve.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def place_order(base: str, token: str, receiver: Receiver) -> int:
    headers = {"X-Shopify-Access-Token": token}
    with httpx.Client(base_url=base + BASE, headers=headers, timeout=10) as client:
        hook = client.post("/webhooks.json", json={"webhook": {"topic": "orders/create", "address": receiver.url}})
        assert hook.status_code == 201, hook.text
        location = client.post("/locations.json", json={"location": {"name": "Amsterdam"}})
        assert location.status_code == 201, location.text
        order = client.post(
            "/orders.json",
            json={
                "order": {
                    "line_items": [{"title": "Mug", "price": "10.00", "quantity": 1}],
                    "email": "a@example.com",
                }
            },
        )
        assert order.status_code == 201, order.text
        return int(order.json()["order"]["id"])


def order_deliveries(receiver: Receiver) -> list[Received]:
    return [r for r in receiver.snapshot() if r.topic == "orders/create"]


def test_serve_delivers_webhooks_in_process(sqlite_url: str, receiver: Receiver, processes: Processes) -> None:
    app = build(Settings(database_url=sqlite_url))
    try:
        token = make_token(app)
    finally:
        app.db.dispose()
    server, base = start_server(processes, sqlite_url)
    order_id = place_order(base, token, receiver)

    deadline = time.monotonic() + 15
    while not order_deliveries(receiver):
        assert time.monotonic() < deadline, f"no orders/create delivery within 15 s:\n{processes.log_of(server)}"
        time.sleep(0.1)
    (delivery,) = order_deliveries(receiver)
    assert delivery.hmac_ok
    assert orjson.loads(delivery.body)["id"] == order_id
    stop_server(processes, server)


def test_serve_without_worker_leaves_deliveries_waiting(
    sqlite_url: str, receiver: Receiver, processes: Processes
) -> None:
    app = build(Settings(database_url=sqlite_url))
    try:
        token = make_token(app)
        server, base = start_server(processes, sqlite_url, "--no-worker")
        order_id = place_order(base, token, receiver)
        time.sleep(3)
        assert receiver.snapshot() == []
        stop_server(processes, server)
        with app.unit_of_work(read_only=True) as uow:
            waiting = uow.conn.execute(
                select(outbox.c.topic, outbox.c.delivered_at).where(
                    outbox.c.kind == "webhook", outbox.c.order_id == order_id
                )
            ).all()
        assert ("orders/create", None) in [tuple(r) for r in waiting]
    finally:
        app.db.dispose()
