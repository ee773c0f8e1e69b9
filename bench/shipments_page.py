"""The Shipments page at scale (issue 15, S6.1): how long staff wait for each tab, filter and a
page deep in the list, with a million shipments, on SQLite and PostgreSQL; and the query plan of
each tab's list and count (EXPLAIN), so an index that stops serving shows up in the figures' file.

    .venv/bin/python -m bench.shipments_page                         # 1,000,000 shipments, both databases
    .venv/bin/python -m bench.shipments_page --shipments 200000 --backend sqlite
    .venv/bin/python -m bench.shipments_page --quick                  # 5,000 shipments, a few repeats

The page reads only the `shipments` table (one row per fulfillment, written with the order), so
the shop is a demo shop of `--orders` orders (their shipments made by the demo's own story) plus
shipment rows written straight into the table up to `--shipments`, spread over 120 days like the
demo's orders, in a mix a shop sees: most delivered, some under way, a few stuck or late. Loading
a million demo orders takes about an hour here; a million rows of this table take minutes, and
the page's queries cannot tell the difference. Each page is asked `--repeats` times by one
signed-in browser-like client; with `--write` the figures go into docs/benchmarks.md between its
shipments markers. Nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select, text

from orderdeck.bootstrap import build
from orderdeck.demo import ensure_demo_shop, load_demo
from orderdeck.services.staff import add_staff
from orderdeck.settings import Settings
from orderdeck.store.migrate import migrate
from orderdeck.store.shipments import ShipmentFilter, count_query, list_query
from orderdeck.store.tables import orders, shipments

from . import machine
from .admin_pages import EMAIL, PASSWORD, _sign_in
from .run import PG_ADMIN, _timed, drop_database, fresh_database, write_between_markers
from .server import start

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:shipments:start -->", "<!-- bench:shipments:end -->"
CARRIERS = ("PostNL", "DHL Parcel", "DPD", "GLS", "UPS", "Posti")
FIRST_ID = 2 * 10**12  # above any demo fulfillment id


def _prepare(url: str, demo_orders: int) -> tuple[list[tuple[int, str]], list[int]]:
    deck = build(Settings(database_url=url))
    migrate(deck.db)
    ensure_demo_shop(deck.db)
    load_demo(deck, count=demo_orders, console=None, batch=5000)
    with deck.unit_of_work() as uow:
        if uow.staff.by_email(EMAIL) is None:
            add_staff(uow, email=EMAIL, password=PASSWORD, owner=True, name="Benchmark")
        placed = [(r.id, r.name) for r in uow.conn.execute(select(orders.c.id, orders.c.name))]
        locations = [loc.id for loc in uow.catalog.locations()]
        # Last: with group commit a unit of work's connection goes back to the batch at commit.
        uow.commit()
    deck.db.dispose()
    return placed, locations


def _stage(rng: random.Random, age_days: float) -> str:
    """Where a parcel shipped `age_days` ago is, in the proportions a shop sees."""
    roll = rng.random()
    if age_days < 1:
        return "label" if roll < 0.5 else "in_transit" if roll < 0.9 else "out_for_delivery"
    if age_days < 7:
        for stage, share in (
            ("delivered", 0.6),
            ("in_transit", 0.2),
            ("label", 0.05),
            ("out_for_delivery", 0.03),
            ("ready_for_pickup", 0.04),
            ("attempted", 0.04),
            ("failed", 0.02),
        ):
            if roll < share:
                return stage
            roll -= share
        return "cancelled"
    for stage, share in (("delivered", 0.93), ("failed", 0.015), ("label", 0.02), ("attempted", 0.01)):
        if roll < share:
            return stage
        roll -= share
    return "cancelled"


STATUS_OF = {
    "label": None,
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "ready_for_pickup": "ready_for_pickup",
    "attempted": "attempted_delivery",
    "delivered": "delivered",
    "failed": "failure",
    "cancelled": None,
}


def load_shipments(
    url: str, count: int, placed: list[tuple[int, str]], locations: list[int], *, now: datetime, seed: int = 15
) -> int:
    """Write shipment rows until the table holds `count`; returns how many it holds."""
    rng = random.Random(seed)
    deck = build(Settings(database_url=url))
    with deck.unit_of_work() as uow:
        have = int(uow.conn.execute(text("SELECT count(*) FROM shipments")).scalar_one())
    wanted = max(0, count - have)
    start = now - timedelta(days=120)
    batch: list[dict[str, Any]] = []
    for i in range(wanted):
        created = start + timedelta(seconds=i * 120 * 86400 / max(wanted, 1))
        age = (now - created).total_seconds() / 86400
        stage = _stage(rng, age)
        order_id, name = placed[i % len(placed)]
        under_way = stage not in ("delivered", "failed", "cancelled")
        news = created + timedelta(hours=rng.randint(6, 60)) if STATUS_OF[stage] else None
        news = min(news, now) if news else None
        eta = created + timedelta(days=3) if stage != "label" and stage != "cancelled" else None
        carrier = CARRIERS[i % len(CARRIERS)]
        number = f"3S{rng.randint(10**9, 10**10 - 1)}NL"
        batch.append(
            {
                "fulfillment_id": FIRST_ID + i,
                "order_id": order_id,
                "order_name": name,
                "customer_name": f"Klant {i % 20000}",
                "email": f"klant{i % 20000}@example.nl",
                "location_id": locations[i % len(locations)],
                "service": "manual",
                "carrier": carrier,
                "tracking_number": number,
                "tracking_url": f"https://jouw.postnl.nl/track-and-trace/{number}",
                "status": "cancelled" if stage == "cancelled" else "success",
                "shipment_status": STATUS_OF[stage],
                "stage": stage,
                "late_after": eta if under_way else None,
                "quiet_since": (news or created) if under_way else None,
                "last_event_at": news,
                "last_event_message": "Scanned at the sorting centre" if news else None,
                "estimated_delivery_at": eta,
                "created_at": created,
                "updated_at": news or created,
            }
        )
        if len(batch) == 10_000:
            with deck.unit_of_work() as uow:
                uow.conn.execute(insert(shipments), batch)
                uow.commit()
            batch = []
    with deck.unit_of_work() as uow:
        if batch:
            uow.conn.execute(insert(shipments), batch)
        uow.commit()
    # As an operator's database is after a while: statistics known and, on PostgreSQL, the
    # visibility map set by (auto)vacuum, which index-only scans need.
    with deck.db.writer.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE shipments"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()
        total = int(conn.execute(text("SELECT count(*) FROM shipments")).scalar_one())
    deck.db.dispose()
    return total


def pages(carrier: str, location: int) -> list[tuple[str, str]]:
    return [
        ("All", "/admin/shipments"),
        ("Label / confirmed", "/admin/shipments?tab=label"),
        ("In transit", "/admin/shipments?tab=in_transit"),
        ("Out for delivery", "/admin/shipments?tab=out_for_delivery"),
        ("Delivered", "/admin/shipments?tab=delivered"),
        ("Attempted delivery", "/admin/shipments?tab=attempted"),
        ("Failed", "/admin/shipments?tab=failed"),
        ("Delayed", "/admin/shipments?tab=delayed"),
        ("No news for 3 days", "/admin/shipments?tab=no_news"),
        ("filter: carrier", f"/admin/shipments?carrier={carrier}"),
        ("filter: location, in transit", f"/admin/shipments?tab=in_transit&location_id={location}"),
        ("filter: last 7 days, delivered", "/admin/shipments?tab=delivered&created_from={week}"),
        ("filter: service", "/admin/shipments?service=manual"),
    ]


def _deep(client: httpx.Client, path: str, pages_deep: int) -> str:
    import re

    for _ in range(pages_deep):
        found = re.search(r'href="([^"]+)" rel="next"', client.get(path).text)
        if not found:
            break
        path = found.group(1).replace("&amp;", "&")
    return path


def measure(url: str, repeats: int, workdir: Path, *, now: datetime, location: int) -> list[tuple[str, float, float]]:
    week = (now - timedelta(days=7)).date().isoformat()
    server = start(url, workers=1, log=workdir / "server-shipments.log")
    results = []
    try:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            _sign_in(client)
            for label, path in pages("PostNL", location):
                p50, p99 = _timed(client, path.format(week=week), repeats)
                results.append((label, p50, p99))
                print(f"{label:36} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms", flush=True)
            deep = _deep(client, "/admin/shipments", 20)
            p50, p99 = _timed(client, deep, repeats)
            results.append(("page 21 (Older, 20 times)", p50, p99))
            print(f"{'page 21':36} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms", flush=True)
    finally:
        server.stop()
    return results


def plans(url: str, now: datetime, location: int) -> list[tuple[str, str]]:
    """EXPLAIN of each tab's page query and capped count, as the database plans them."""
    deck = build(Settings(database_url=url))
    found = []
    with deck.unit_of_work(read_only=True) as uow:
        dialect = uow.conn.dialect
        explain = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN "
        for tab in (None, "label", "in_transit", "delivered", "delayed", "no_news"):
            wanted = ShipmentFilter(tab=tab)
            for kind, query in (
                ("list", list_query(wanted, now, limit=50)),
                ("count", count_query(wanted, now, at_most=10_000)),
            ):
                sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                lines = [" ".join(str(v) for v in row) for row in uow.conn.execute(text(explain + sql))]
                found.append((f"{kind} {tab or 'all'}", "; ".join(lines)))
        week = now - timedelta(days=7)
        for label, wanted in (
            ("carrier", ShipmentFilter(carrier="PostNL")),
            ("carrier, failed", ShipmentFilter(carrier="PostNL", tab="failed")),
            ("carrier, delayed", ShipmentFilter(carrier="PostNL", tab="delayed")),
            ("location, in transit", ShipmentFilter(location_id=location, tab="in_transit")),
            ("last 7 days", ShipmentFilter(created_at_min=week)),
            ("last 7 days, delivered", ShipmentFilter(created_at_min=week, tab="delivered")),
            ("service", ShipmentFilter(service="manual")),
        ):
            for kind, query in (
                ("list", list_query(wanted, now, limit=50)),
                ("count", count_query(wanted, now, at_most=10_000)),
            ):
                sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                lines = [" ".join(str(v) for v in row) for row in uow.conn.execute(text(explain + sql))]
                found.append((f"{kind} {label}", "; ".join(lines)))
    deck.db.dispose()
    return found


def run_on(url: str, shipments_wanted: int, *, demo_orders: int, repeats: int, workdir: Path) -> dict[str, Any]:
    """Load, measure and explain on one database; what run.py and main() report."""
    placed, locations = _prepare(url, demo_orders)
    now = datetime.now(UTC)
    total = load_shipments(url, shipments_wanted, placed, locations, now=now)
    print(f"{total:,} shipments loaded", flush=True)
    return {
        "shipments": total,
        "orders": len(placed),
        "repeats": repeats,
        "pages": measure(url, repeats, workdir, now=now, location=locations[0]),
        "plans": plans(url, now, locations[0]),
    }


def render(backend: str, found: dict[str, Any], info: dict[str, str]) -> list[str]:
    version = f"PostgreSQL {info.get('postgresql', '?')}" if backend == "postgres" else f"SQLite {info['sqlite']}"
    lines = [
        f"Shipments page on {version} with {found['shipments']:,} shipments ({found['orders']:,} demo orders), "
        f"{found['repeats']} requests each, one signed-in client:",
        "",
        "| page | p50 ms | p99 ms |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {p50:,.1f} | {p99:,.1f} |" for label, p50, p99 in found["pages"]]
    lines += ["", "<details><summary>Query plans</summary>", ""]
    lines += [f"- {label}: `{plan}`" for label, plan in found["plans"]]
    lines += ["", "</details>", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--shipments", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=2000, help="demo orders the shipments belong to")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="5,000 shipments, 300 orders, 5 requests a page")
    parser.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = parser.parse_args()
    count, demo, repeats = (5000, 300, 5) if args.quick else (args.shipments, args.orders, args.repeats)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    info = machine.describe(PG_ADMIN if "postgres" in backends else None)
    lines = [f"Machine: {info['cpu']}, {info['memory']}, Python {info['python']}.", ""]
    for backend in backends:
        workdir = Path(tempfile.mkdtemp(prefix=f"orderdeck-bench-shipments-{backend}-"))
        url = fresh_database(backend, workdir)
        try:
            lines += render(backend, run_on(url, count, demo_orders=demo, repeats=repeats, workdir=workdir), info)
        finally:
            drop_database(backend, workdir)
    report = "\n".join(lines)
    print(report)
    if args.write:
        write_between_markers(ROOT / "docs" / "benchmarks.md", report, START, END)


if __name__ == "__main__":
    main()
