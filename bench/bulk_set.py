"""Set-based bulk work on a large shop (issue 16, step 4).

On the shop ORDERDECK_DATABASE_URL points at (load one first: `orderdeck demo --orders 170000`
gives about 100,000 open orders), times, each in a process of its own so its peak memory is its
own:

1. archive the `--orders` oldest open orders by filter (the filter's SELECT included);
2. the background step that renders them and releases their held webhooks and automation
   messages (services/held.release_due);
3. unarchive the same orders, and its background step;
4. add a tag to them, and its background step;
5. remove the tag, and its background step;
6. with `--before N`, the same archive one order a command (services/bulk.run_in_batches, 200
   orders a transaction, as main did it) on N other open orders, for the rate before.

Each step's figure is printed beside the load average, with the orders it changed; the orders
are left as they were found (open, untagged), apart from their versions and timeline.

    ORDERDECK_DATABASE_URL=sqlite:////tmp/shop.db python -m bench.bulk_set --orders 100000 --before 2000
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from collections.abc import Callable
from typing import Any

from orderdeck.bootstrap import build
from orderdeck.domain.order import Author
from orderdeck.services import bulk, bulk_set, held, orders
from orderdeck.store.queries import OrderFilter, order_ids

STAFF = Author("staff", "Bench", None)
TAG = "bench-bulk"


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _in_child(work: Callable[[], int], queue: Any) -> None:
    started = time.perf_counter()
    changed = work()
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((changed, seconds, peak_mb))


def measure(label: str, work: Callable[[], int]) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    before = _loadavg()
    child = context.Process(target=_in_child, args=(work, queue))
    child.start()
    changed, seconds, peak_mb = queue.get()
    child.join()
    print(f"| {label} | {changed:,} | {seconds:.1f} | {peak_mb:.0f} | {before} → {_loadavg()} |", flush=True)


def chosen(status: str, limit: int, *, offset: int = 0) -> list[int]:
    deck = build()
    with deck.unit_of_work(read_only=True) as uow:
        return order_ids(uow.conn, OrderFilter(status=status), limit=limit + offset)[offset:]


def set_based(action: str, ids: Callable[[], list[int]], tags: list[str] | None = None) -> Callable[[], int]:
    def work() -> int:
        deck = build()
        step: Any = {
            "archive": orders.close_order,
            "unarchive": orders.reopen_order,
            "add_tags": lambda cmd, oid: orders.change_tags(cmd, oid, add=tags or [], remove=[]),
            "remove_tags": lambda cmd, oid: orders.change_tags(cmd, oid, add=[], remove=tags or []),
        }[action]
        result = bulk_set.run(deck, STAFF, ids(), action, tags=tags, step=step)
        if result.refused:
            print(f"  {len(result.refused):,} refused, e.g. {result.refused[0]}")
        return len(result.succeeded)

    return work


def release() -> int:
    return held.release_due(build())


def one_by_one(ids: Callable[[], list[int]], step: Any) -> Callable[[], int]:
    def work() -> int:
        return len(bulk.run_in_batches(build(), STAFF, ids(), step).succeeded)

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000, help="open orders to archive, tag, … (100,000)")
    parser.add_argument("--before", type=int, default=0, help="also archive this many one order a command")
    args = parser.parse_args()
    deck = build()
    print(f"database: {deck.db.url.split('@')[-1]}  orders: {args.orders:,}")
    print("| step | orders | seconds | peak MB | load average |")
    print("|---|---|---|---|---|")
    # The oldest open orders: found again by each step (the filter is part of the action).
    ids = chosen("open", args.orders)
    if len(ids) < args.orders:
        raise SystemExit(f"the shop has only {len(ids):,} open orders; load a bigger demo shop")
    measure("archive by filter", set_based("archive", lambda: chosen("open", args.orders)))
    measure("  render and release (background)", release)
    measure("unarchive them", set_based("unarchive", lambda: ids))
    measure("  render and release (background)", release)
    measure(f"add tag {TAG!r}", set_based("add_tags", lambda: ids, [TAG]))
    measure("  render and release (background)", release)
    measure(f"remove tag {TAG!r}", set_based("remove_tags", lambda: ids, [TAG]))
    measure("  render and release (background)", release)
    if args.before:
        others = chosen("open", args.before, offset=args.orders)
        measure(
            f"before: archive {args.before:,} one order a command (200 a transaction)",
            one_by_one(lambda: others, orders.close_order),
        )
        # Put them back as they were, set-based (not timed).
        set_based("unarchive", lambda: others)()
        release()


if __name__ == "__main__":
    main()
