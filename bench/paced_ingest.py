"""Background ingest at a fixed rate, in its own process: `python -m bench.paced_ingest --url URL
--token TOKEN --body-file FILE --rate R --seconds S`.

wrk (bench/run.py) measures how fast Orderdeck can take orders: each connection sends the next
order as soon as the last one is answered. To see what other work costs while a shop is busy we
want the opposite: orders arriving at a steady rate whatever the server does, the way customers
check out. So this is open-loop: request i is due at start + i/R and is sent then, even if earlier
ones are still waiting for their answer (up to --max-in-flight at once; past that the schedule
slips, which `achieved_rate` shows). It runs in its own process so that its client work never
competes with the measuring client for one interpreter's lock.

It stops after S seconds or on SIGTERM/SIGINT, waits for the requests in flight, and prints one
line: `PACED {"requests": …, "errors": …, "achieved_rate": …, "p50_ms": …, "p99_ms": …, …}`.
Nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

API = "/admin/api/2024-10"
# Answers slower than this count as errors; generous, so only a stuck server trips it.
REQUEST_TIMEOUT_S = 30.0


def percentiles(samples_ms: list[float]) -> tuple[float | None, float | None]:
    """(p50, p99) of latencies in ms, nearest rank as bench/run.py takes them; None when empty."""
    if not samples_ms:
        return None, None
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass
class Tally:
    """What the requests came to. One event loop, so no locking is needed."""

    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    first_error: str | None = None

    def error(self, what: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = what[:300]


async def _place(client: httpx.AsyncClient, url: str, body: bytes, tally: Tally) -> None:
    started = time.perf_counter()
    try:
        response = await client.post(url, content=body)
    except httpx.HTTPError as exc:
        tally.requests += 1
        tally.error(f"{type(exc).__name__}: {exc}")
        return
    tally.requests += 1
    tally.latencies_ms.append((time.perf_counter() - started) * 1000)
    if response.status_code != 201:
        tally.error(f"{response.status_code} {response.text}")


async def _until(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless stopped first; True when stopped (so SIGTERM never waits a gap out)."""
    if stop.is_set():
        return True
    if seconds <= 0:
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _acquire(slots: asyncio.Semaphore, stop: asyncio.Event) -> bool:
    """Take an in-flight slot, or give up when stopped; True when a slot was taken."""
    if not slots.locked():
        await slots.acquire()
        return True
    acquiring = asyncio.ensure_future(slots.acquire())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if acquiring.done() and not acquiring.cancelled():
        if stop.is_set():
            slots.release()
            return False
        return True
    acquiring.cancel()
    return False


async def run(url: str, token: str, body: bytes, *, rate: float, seconds: float, max_in_flight: int) -> dict[str, Any]:
    """Place orders at `rate` per second for `seconds` (or until SIGTERM/SIGINT); the summary."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tally = Tally()
    slots = asyncio.Semaphore(max_in_flight)
    in_flight: set[asyncio.Task[None]] = set()
    target = f"{url.rstrip('/')}{API}/orders.json"
    headers = {"X-Shopify-Access-Token": token, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)

    def finished(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        slots.release()

    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        started = time.perf_counter()
        ends = started + seconds
        sent = 0
        while True:
            due = started + sent / rate
            if due >= ends or await _until(stop, due - time.perf_counter()):
                break
            if not await _acquire(slots, stop):
                break
            if time.perf_counter() >= ends:  # the schedule slipped past the end while waiting for a slot
                slots.release()
                break
            task = asyncio.create_task(_place(client, target, body, tally))
            in_flight.add(task)
            task.add_done_callback(finished)
            sent += 1
        sending_s = time.perf_counter() - started
        # The rate the schedule was kept at. Each order sent owns a slot of 1/rate seconds, so
        # sending took at least sent/rate (the last slot has only just begun when the run ends);
        # longer only if the schedule slipped.
        achieved_rate = sent / max(sending_s, sent / rate, 1e-9)
        if in_flight:
            _, unfinished = await asyncio.wait(in_flight, timeout=REQUEST_TIMEOUT_S + 5)
            for task in unfinished:
                task.cancel()
                tally.requests += 1
                tally.error("still in flight when the run ended")
    p50, p99 = percentiles(tally.latencies_ms)
    return {
        "requests": tally.requests,
        "errors": tally.errors,
        "achieved_rate": achieved_rate,
        "p50_ms": p50,
        "p99_ms": p99,
        "target_rate": rate,
        "seconds": sending_s,
        "first_error": tally.first_error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="an API token with write_orders")
    parser.add_argument("--body-file", required=True, type=Path, help="the order JSON to place again and again")
    parser.add_argument("--rate", required=True, type=float, help="orders per second")
    parser.add_argument("--seconds", required=True, type=float, help="stop after this long (or on SIGTERM)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="requests waiting at once, at most")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.max_in_flight < 1:
        parser.error("--rate and --seconds must be positive, --max-in-flight at least 1")
    summary = asyncio.run(
        run(
            args.url,
            args.token,
            args.body_file.read_bytes(),
            rate=args.rate,
            seconds=args.seconds,
            max_in_flight=args.max_in_flight,
        )
    )
    print(f"PACED {json.dumps(summary)}", flush=True)


if __name__ == "__main__":
    main()
