"""Bulk runs: one staff member's action on many orders, carried out in the background.

A run's row fixes the orders (their ids, chosen when the run was asked for) and what the action
needs, and keeps its progress: how many orders are done, how many succeeded, and why the others
were refused. Progress is written in the same transaction as the orders it counts, so the row
never says more (or less) was done than the database holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from ..domain.errors import NotFound
from .database import utc
from .tables import bulk_runs, orders

# Refusals kept with their reason; past this many only the count is kept (done - succeeded),
# so a run over 100,000 orders does not rewrite megabytes of JSON with every batch.
KEPT_REFUSALS = 1000


@dataclass(frozen=True)
class BulkRun:
    id: int
    action: str
    params: dict[str, Any]
    order_ids: list[int]
    total: int
    done: int
    succeeded: int
    refused: list[dict[str, Any]]  # [{order_id, name, reason}], the first KEPT_REFUSALS of them
    state: str  # queued | running | finished | failed
    staff_id: int | None
    staff_name: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.state in ("finished", "failed")

    @property
    def refused_count(self) -> int:
        return self.done - self.succeeded

    @classmethod
    def of(cls, row: Any) -> BulkRun:
        return cls(
            id=row["id"],
            action=row["action"],
            params=orjson.loads(row["params"]),
            order_ids=orjson.loads(row["order_ids"]),
            total=row["total"],
            done=row["done"],
            succeeded=row["succeeded"],
            refused=orjson.loads(row["refused"]),
            state=row["state"],
            staff_id=row["staff_id"],
            staff_name=row["staff_name"],
            created_at=utc(row["created_at"]),  # type: ignore[arg-type]
            started_at=utc(row["started_at"]),
            finished_at=utc(row["finished_at"]),
            error=row["error"],
        )


class BulkRuns:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        *,
        action: str,
        params: dict[str, Any],
        order_ids: list[int],
        staff_id: int | None,
        staff_name: str,
        now: datetime,
    ) -> int:
        result = self.conn.execute(
            insert(bulk_runs).values(
                action=action,
                params=orjson.dumps(params).decode(),
                order_ids=orjson.dumps(order_ids).decode(),
                total=len(order_ids),
                done=0,
                succeeded=0,
                refused="[]",
                state="queued",
                staff_id=staff_id,
                staff_name=staff_name,
                created_at=now,
            )
        )
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def get(self, run_id: int, *, for_update: bool = False) -> BulkRun:
        query = select(bulk_runs).where(bulk_runs.c.id == run_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"There is no bulk action {run_id}")
        return BulkRun.of(row)

    def progress(self, run_id: int) -> dict[str, Any]:
        """The few numbers the progress bar polls for, without reading the order ids."""
        b = bulk_runs.c
        row = self.conn.execute(select(b.total, b.done, b.succeeded, b.state).where(b.id == run_id)).first()
        if row is None:
            raise NotFound(f"There is no bulk action {run_id}")
        return {
            "total": row.total,
            "done": row.done,
            "succeeded": row.succeeded,
            "refused": row.done - row.succeeded,
            "state": row.state,
            "finished": row.state in ("finished", "failed"),
        }

    def waiting(self, *, include_running: bool, limit: int = 10) -> list[int]:
        """Runs to take up, oldest first: queued ones, and (when a worker starts) running ones a
        stopped worker left half done."""
        b = bulk_runs.c
        states = ["queued", "running"] if include_running else ["queued"]
        query = select(b.id).where(b.state.in_(states)).order_by(b.id).limit(limit)
        return list(self.conn.execute(query).scalars())

    def claim(self, run_id: int, now: datetime) -> bool:
        """Queued → running, by one compare-and-set: of several workers, one wins."""
        b = bulk_runs.c
        taken = self.conn.execute(
            update(bulk_runs).where(b.id == run_id, b.state == "queued").values(state="running", started_at=now)
        ).rowcount
        return bool(taken)

    def record(self, run_id: int, *, done: int, succeeded: int, refused: list[dict[str, Any]]) -> None:
        """Add one batch's outcome (called inside the batch's own transaction)."""
        b = bulk_runs.c
        self.conn.execute(
            update(bulk_runs)
            .where(b.id == run_id)
            .values(
                done=b.done + done,
                succeeded=b.succeeded + succeeded,
                refused=orjson.dumps(refused[:KEPT_REFUSALS]).decode(),
            )
        )

    def finish(self, run_id: int, now: datetime) -> None:
        b = bulk_runs.c
        self.conn.execute(
            update(bulk_runs)
            .where(b.id == run_id, b.state == "running", b.done >= b.total)
            .values(state="finished", finished_at=now)
        )

    def fail(self, run_id: int, error: str, now: datetime) -> None:
        b = bulk_runs.c
        self.conn.execute(
            update(bulk_runs)
            .where(b.id == run_id, b.state.in_(["queued", "running"]))
            .values(state="failed", error=error[:2000], finished_at=now)
        )


def order_names(conn: Connection, ids: list[int]) -> dict[int, str]:
    """The names (#1001) of these orders, for the confirmation page and the refusals."""
    if not ids:
        return {}
    o = orders.c
    return {row.id: row.name for row in conn.execute(select(o.id, o.name).where(o.id.in_(ids)))}
