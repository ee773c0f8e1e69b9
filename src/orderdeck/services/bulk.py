"""Running one command over many orders (bulk archive, tags, …) in batches.

Each order is still its own command: loaded under its lock, changed by the same domain rule,
saved with its timeline event and outbox messages, and refused on its own. What a batch
shares is the transaction: a few hundred orders commit together, each inside a savepoint, so
one refusal rolls back that order alone and the others go on. One commit per batch instead of
one per order is what makes archiving 100,000 orders a matter of seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import OperationalError

from ..domain.errors import OrderError
from ..domain.order import Author
from ..store import counts
from ..store.uow import UnitOfWork
from .context import Command, Orderdeck

BATCH = 200  # orders a transaction: long enough to share commits, short enough not to stall other writers


@dataclass
class BulkResult:
    succeeded: list[int] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)


# Called inside a batch's transaction, just before it commits, with the ids that succeeded and
# the refusals: bookkeeping (a background run's progress) commits with the orders or not at all.
OnBatch = Callable[[UnitOfWork, list[int], list[dict[str, Any]]], None]


def _batches(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _conflict(exc: OperationalError) -> bool:
    """PostgreSQL chose this transaction as a deadlock victim or failed it on a conflict."""
    return getattr(exc.orig, "sqlstate", None) in ("40001", "40P01")


def run_in_batches(
    app: Orderdeck,
    author: Author,
    ids: list[int],
    step: Callable[[Command, int], Any],
    *,
    batch: int | None = None,
    on_batch: OnBatch | None = None,
) -> BulkResult:
    result = BulkResult()
    for chunk in _batches(ids, batch or BATCH):
        try:
            result = _run_batch(app, author, chunk, step, result, on_batch)
        except OperationalError as exc:
            if not _conflict(exc):
                raise
            # Another request held one of these orders; nothing of the batch was committed.
            # Go through it again an order a transaction, so that only a conflicting order fails.
            for order_id in chunk:
                try:
                    result = _run_batch(app, author, [order_id], step, result, on_batch)
                except OperationalError as again:
                    if not _conflict(again):
                        raise
                    refusal = {"id": order_id, "error": "changed by another request; retry"}
                    if on_batch is not None:
                        with app.unit_of_work() as uow:
                            on_batch(uow, [], [refusal])
                            uow.commit()
                    result.refused.append(refusal)
    return result


def _run_batch(
    app: Orderdeck,
    author: Author,
    chunk: list[int],
    step: Callable[[Command, int], Any],
    so_far: BulkResult,
    on_batch: OnBatch | None = None,
) -> BulkResult:
    done: list[int] = []
    refused: list[dict[str, Any]] = []
    with app.unit_of_work() as uow:
        cmd = Command(app, uow, author)
        for order_id in chunk:
            savepoint = uow.conn.begin_nested()
            try:
                step(cmd, order_id)
            except OrderError as exc:
                savepoint.rollback()
                refused.append({"id": order_id, "error": exc.message})
            else:
                savepoint.commit()
                done.append(order_id)
        # A batch leaves up to two status-count deltas an order; fold them while they are few.
        counts.fold(uow.conn)
        if on_batch is not None:
            on_batch(uow, done, refused)
        uow.commit()
    # Only what the commit made true is reported.
    so_far.succeeded.extend(done)
    so_far.refused.extend(refused)
    return so_far
