"""The carrier tracker sweep (services/trackers.sweep) for many live shipments, with karrio's
real code against the local carrier server (tests/integration/carrier_server.py, GLS's Track
and Trace API: batches of 10 numbers a call), in its own process:

    .venv/bin/python -m bench.tracker_sweep --shipments 100000           # SQLite, a fresh shop
    .venv/bin/python -m bench.tracker_sweep --shipments 100000 --database postgresql+psycopg://…
    .venv/bin/python -m bench.tracker_sweep --quick                      # 300 shipments

The shop is the demo's (orders placed over 120 days, bulk-loaded); every shipped fulfillment
with a tracking number gets a tracker until there are `--shipments`. Two sweeps are measured
in a fresh process each (so peak memory is the sweep's own):

1. news for every shipment: the carrier has one new scan (in transit) for each number, so each
   becomes a shipment event through the order's command (load, record, save with the timeline,
   outbox and Shipments row);
2. nothing new, two hours later: each number is asked about again, only the trackers change.

Figures: shipments per second, carrier calls, the sweep process's peak memory (max RSS). Nothing
here asserts on speed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import insert, select

from orderdeck.bootstrap import build
from orderdeck.demo import ensure_demo_shop, load_demo
from orderdeck.settings import Settings
from orderdeck.store.migrate import migrate
from orderdeck.store.tables import carrier_accounts, shipments, trackers

from . import machine

ROOT = Path(__file__).resolve().parent.parent


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


def prepare(url: str, wanted: int, start: datetime) -> int:
    """A demo shop with a GLS account and `wanted` live trackers (fewer if the demo shipped
    fewer); returns how many."""
    deck = build(Settings(database_url=url))
    migrate(deck.db)
    ensure_demo_shop(deck.db)
    # About 70% of the demo's orders are shipped with a tracking number.
    load_demo(deck, count=wanted * 3 // 2 + 200, console=Console(quiet=True))
    with deck.unit_of_work() as uow:
        s = shipments.c
        rows = uow.conn.execute(
            select(s.fulfillment_id, s.order_id, s.tracking_number)
            .where(s.status == "success", s.tracking_number.is_not(None))
            .order_by(s.fulfillment_id)
            .limit(wanted)
        ).all()
        uow.conn.execute(
            insert(carrier_accounts).values(
                carrier="gls",
                name="GLS (local)",
                credentials='{"client_id": "bench", "client_secret": "bench-secret"}',
                test_mode=False,
                active=True,
                created_at=start,
                updated_at=start,
            )
        )
        for first in range(0, len(rows), 5000):
            uow.conn.execute(
                insert(trackers),
                [
                    {
                        "order_id": r.order_id,
                        "fulfillment_id": r.fulfillment_id,
                        "tracking_number": r.tracking_number,
                        "carrier": "gls",
                        "state": "active",
                        "next_check_at": start,
                        "errors": 0,
                        "created_at": start,
                    }
                    for r in rows[first : first + 5000]
                ],
            )
        uow.commit()
    deck.db.dispose()
    return len(rows)


def _serve(ready: Any, stop: Any, scanned_at: str) -> None:
    from tests.integration.carrier_server import CarrierServer

    server = CarrierServer.start()
    server.count_calls = False
    server.answer_every_number("in_transit", at=datetime.fromisoformat(scanned_at))
    ready.put(server.url)
    stop.wait()
    server.stop()


def _sweep(url: str, carrier_url: str, at: str, answer: Any) -> None:
    from orderdeck.services import trackers as service

    deck = build(Settings(database_url=url, carrier_api_url=carrier_url), clock=_Clock(datetime.fromisoformat(at)))
    began = time.perf_counter()
    asked = service.sweep(deck)
    seconds = time.perf_counter() - began
    deck.db.dispose()
    answer.put({"asked": asked, "seconds": seconds, "peak_mib": _peak_mib()})


def _peak_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    from the parent at fork, and the parent here holds the loaded shop."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _in_process(target: Any, *args: Any) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    answer = spawn.Queue()
    process = spawn.Process(target=target, args=(*args, answer))
    process.start()
    found = answer.get(timeout=6 * 3600)
    process.join()
    return dict(found)


def events_recorded(url: str) -> int:
    from orderdeck.store.tables import trackers as t

    deck = build(Settings(database_url=url))
    with deck.unit_of_work(read_only=True) as uow:
        count = len(uow.conn.execute(select(t.c.id).where(t.c.shipment_status == "in_transit")).all())
    deck.db.dispose()
    return count


def run(url: str, wanted: int) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0)
    began = time.perf_counter()
    live = prepare(url, wanted, start)
    loaded = time.perf_counter() - began
    print(f"{live:,} live trackers on a demo shop, loaded in {loaded:.0f} s", flush=True)
    spawn = multiprocessing.get_context("spawn")
    ready, stop = spawn.Queue(), spawn.Event()
    server = spawn.Process(target=_serve, args=(ready, stop, (start - timedelta(hours=1)).isoformat()))
    server.start()
    try:
        carrier_url = ready.get(timeout=60)
        news = _in_process(_sweep, url, carrier_url, (start + timedelta(minutes=1)).isoformat())
        print(f"news sweep: {news}", flush=True)
        recorded = events_recorded(url)
        quiet = _in_process(_sweep, url, carrier_url, (start + timedelta(hours=2, minutes=2)).isoformat())
        print(f"quiet sweep: {quiet}", flush=True)
    finally:
        stop.set()
        server.join(timeout=30)
    return {
        "shipments": live,
        "load_seconds": round(loaded, 1),
        "recorded": recorded,
        "news": news,
        "quiet": quiet,
        "calls": -(-live // 10),
    }


def render(result: dict[str, Any]) -> list[str]:
    """The tracker sweep's section of a report."""
    rows = []
    for name, key in (("news for every shipment (1 event each)", "news"), ("nothing new, 2 hours later", "quiet")):
        sweep = result[key]
        rate = sweep["asked"] / sweep["seconds"] if sweep["seconds"] else 0.0
        rows.append(
            f"| {name} | {sweep['asked']:,} | {sweep['seconds']:.1f} s | {rate:,.0f} | {sweep['peak_mib']:.0f} MiB |"
        )
    return [
        f"### Tracker sweep: {result['shipments']:,} live shipments (karrio → local GLS server)",
        "",
        f"Batches of 10 numbers a call ({result['calls']:,} calls a sweep); {result['recorded']:,} shipments moved "
        "to in transit by the first sweep.",
        "",
        "| sweep | shipments asked | time | shipments/s | peak memory (sweep process) |",
        "|---|---:|---:|---:|---:|",
        *rows,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shipments", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="300 shipments")
    parser.add_argument("--database", help="a database URL to load into (default: a fresh SQLite file)")
    args = parser.parse_args()
    wanted = 300 if args.quick else args.shipments
    workdir = Path(tempfile.mkdtemp(prefix="orderdeck-trackers-"))
    url = args.database or f"sqlite:///{workdir / 'trackers.db'}"
    try:
        result = run(url, wanted)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(render(result)))
    print()
    for key, value in machine.describe(url if url.startswith("postgresql") else None).items():
        print(f"- {key}: {value}")


if __name__ == "__main__":
    main()
