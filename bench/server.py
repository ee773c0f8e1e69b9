"""Starting and stopping an Orderdeck server process for a benchmark, and watching its memory."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from orderdeck.settings import Settings


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU time of these processes (those that have ended count nothing)."""
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        parent = psutil.Process(self.process.pid)
        return [parent, *parent.children(recursive=True)]

    def worker_rss_mb(self) -> float:
        """Resident memory of the largest server process (each worker is one)."""
        sizes = []
        for proc in self.processes():
            try:
                sizes.append(proc.memory_info().rss)
            except psutil.NoSuchProcess:
                continue
        return max(sizes) / 2**20 if sizes else 0.0

    def cpu_seconds(self) -> float:
        """User + system CPU time of every server process so far."""
        return cpu_seconds(self.processes())

    @contextlib.contextmanager
    def peak_rss_mb(self) -> Iterator[list[float]]:
        """Watch the largest process's resident memory while the block runs (every 50 ms);
        `max()` of the list it yields is the peak."""
        peak = [self.worker_rss_mb()]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak.append(self.worker_rss_mb())
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            yield peak
        finally:
            stop.set()
            watcher.join()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(database_url: str, *, workers: int, log: Path) -> Server:
    port = free_port()
    # The public URL is set once, as an operator would: the demo loader stored its renderings
    # with the default one, and a server with another would render every order on every read.
    env = {
        **os.environ,
        "ORDERDECK_DATABASE_URL": database_url,
        "ORDERDECK_POOL_SIZE": "20",
        "ORDERDECK_PUBLIC_URL": Settings.public_url,
    }
    # --no-worker: the API's own figures, as measured before the worker existed; webhook
    # delivery is measured on its own (bench/webhooks.py).
    command = [
        sys.executable,
        "-m",
        "orderdeck.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-worker",
    ]
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Server(process, port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited; see {log}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                time.sleep(0.5 * workers)  # let every worker finish starting
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"the server did not start in 60 s; see {log}")
