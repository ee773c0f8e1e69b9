"""Reports at scale: how long each report's query takes over the last 7, 30, 90 and 365 days
of a loaded shop, and the whole page's reports together, on SQLite or PostgreSQL.

    .venv/bin/python -m bench.reports --database sqlite:////path/orderdeck.db
    .venv/bin/python -m bench.reports --database postgresql://user@host/db --repeats 3

Load the shop first (`orderdeck demo --orders 1000000`): the demo places its orders over the
last 120 days, so its days are far busier than most shops' (a million orders in 120 days is
8,300 a day), which makes these figures an upper bound for a shop of that size. The figures
are printed (median of `--repeats` runs, in ms), and appended to a file with `--out`; nothing
here asserts on speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from orderdeck.store import reports
from orderdeck.store.tables import orders

from . import machine

QUERIES: dict[str, Callable[..., Any]] = {
    "orders and revenue": reports.orders_over_time,
    "payment status": reports.payment_status,
    "cancel reasons": reports.cancel_reasons,
    "cancelled products": reports.cancelled_products,
    "time to fulfil": reports.lead_time,
    "time in transit": reports.transit_time,
}
PERIODS = ((7, "day"), (30, "day"), (90, "week"), (365, "month"))
# What the reports page shows, in the order it asks for them (web/admin/reports.py).
PAGE = (
    "orders",
    "returns_by_reason",
    "return_rate",
    "payment_status",
    "cancel_reasons",
    "cancelled_products",
    "lead_time",
    "transit_time",
    "returns_by_product",
    "return_rate_by_product",
)


def whole_page(conn: Any, period: reports.Period) -> None:
    figures = reports.PeriodReports(conn, period)
    for name in PAGE:
        getattr(figures, name)


def measure(url: str, repeats: int) -> list[str]:
    deck = build(Settings(database_url=url))
    lines = []
    with deck.unit_of_work(read_only=True) as uow:
        total = uow.conn.execute(select(func.count()).select_from(orders)).scalar_one()
        newest = uow.conn.execute(select(func.max(orders.c.created_at))).scalar_one()
        timezone = uow.shop.timezone
        last = newest.date()
        info = machine.describe(url if "postgres" in url else None)
        backend = "PostgreSQL" if "postgres" in url else "SQLite"
        lines.append(
            f"Reports on {backend} with {total:,} orders ({info['cpu']}, {info['memory']}), median of {repeats}:"
        )
        lines.append("| period | orders in it | " + " | ".join(QUERIES) + " | all six (ms) | the page's reports (ms) |")
        lines.append("|---|---:|" + "---:|" * (len(QUERIES) + 2))
        for days, grouping in PERIODS:
            period = reports.Period(last - timedelta(days=days - 1), last, grouping, timezone)
            in_period = sum(r.orders for r in reports.orders_over_time(uow.conn, period))
            timings = []
            for query in [*QUERIES.values(), whole_page]:
                runs = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    query(uow.conn, period)
                    runs.append((time.perf_counter() - started) * 1000)
                timings.append(statistics.median(runs))
            cells = " | ".join(f"{t:,.0f}" for t in timings[:-1])
            load = Path("/proc/loadavg").read_text().split()[0]
            six, page = f"{sum(timings[:-1]):,.0f}", f"{timings[-1]:,.0f}"
            lines.append(f"| {days} days by {grouping} | {in_period:,} | {cells} | {six} | {page} | load {load}")
            print(lines[-1], flush=True)
    deck.db.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a loaded shop's database URL")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="append the figures (a Markdown table) to this file")
    args = parser.parse_args()
    lines = measure(args.database, args.repeats)
    print("\n".join(lines))
    if args.out:
        with args.out.open("a") as out:
            out.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
