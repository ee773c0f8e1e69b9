"""`orderdeck serve --workers 2`: two server processes behind one port start, both answer, take
orders side by side (names gap-free, none lost), and stop cleanly on SIGTERM. On PostgreSQL this
is how a shop uses more than one core; on SQLite it works too, the processes taking turns at the
one writer (docs/operations.md)."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from tests.conftest import BASE, make_token

from . import test_worker_process
from .test_worker_process import Processes, free_port, process_env, stop_server

database_url = test_worker_process.database_url  # the fixtures: a migrated database (both kinds), processes
processes = test_worker_process.processes

ORDERS = 24
# Only a guard against a hang: each process compiles and imports the application, which takes a
# while on a busy two-core machine (without .pyc files, 20 s and more were seen).
START_TIMEOUT = 180.0


def start_processes(processes: Processes, database_url: str, count: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = processes.start(
        ["serve", "--port", str(port), "--workers", str(count)], process_env(database_url), "serve"
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while processes.log_of(server).count("Application startup complete") < count:
        assert server.poll() is None, f"orderdeck serve exited with {server.returncode}:\n{processes.log_of(server)}"
        assert time.monotonic() < deadline, f"not started in {START_TIMEOUT:g} s:\n{processes.log_of(server)}"
        time.sleep(0.2)
    return server, base


def test_two_server_processes_share_the_requests(database_url: str, processes: Processes) -> None:
    app = build(Settings(database_url=database_url))
    try:
        token = make_token(app)
    finally:
        app.db.dispose()
    server, base = start_processes(processes, database_url, 2)
    assert "died" not in processes.log_of(server)  # none killed for starting slowly, nor restarted

    # A new connection each time: the kernel hands each to whichever process accepts it first.
    answered: set[str] = set()
    deadline = time.monotonic() + 60
    while len(answered) < 2:
        assert time.monotonic() < deadline, f"only {answered} answered:\n{processes.log_of(server)[-3000:]}"
        health = httpx.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        answered.add(health.json()["process"])
    assert len(answered) == 2

    headers = {"X-Shopify-Access-Token": token}
    location = httpx.post(f"{base}{BASE}/locations.json", json={"location": {"name": "Amsterdam"}}, headers=headers)
    assert location.status_code == 201, location.text

    def place(i: int) -> httpx.Response:
        body = {
            "order": {"email": f"buyer{i}@example.nl", "line_items": [{"title": "Mug", "price": "9.50", "quantity": 1}]}
        }
        return httpx.post(f"{base}{BASE}/orders.json", json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        placed = list(pool.map(place, range(ORDERS)))
    assert [p.status_code for p in placed] == [201] * ORDERS, [p.text for p in placed if p.status_code != 201]
    names = sorted(int(p.json()["order"]["name"].lstrip("#")) for p in placed)
    assert names == list(range(names[0], names[0] + ORDERS))  # gap-free, none twice
    count = httpx.get(f"{base}{BASE}/orders/count.json", headers=headers, timeout=10)
    assert count.json()["count"] == ORDERS

    stop_server(processes, server)
