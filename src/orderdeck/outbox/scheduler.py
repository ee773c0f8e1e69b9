"""Time-based jobs, run by the workers: each due job by one worker at a time.

A job's row in `scheduled_jobs` says when it is next due. A worker takes a due job with one
compare-and-set UPDATE (due, and no live lease), so however many workers poll, on SQLite or on
PostgreSQL, one runs it; a worker that dies mid-job leaves a lease that runs out, and the next
worker runs the job again. Every job is safe to run twice: each order is its own command that
checks its rules afresh.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..automation import engine as automation
from ..services import service_sync, sweeps, trackers
from ..services.context import Orderdeck
from ..store.database import utc
from ..store.tables import scheduled_jobs

log = logging.getLogger("orderdeck.scheduler")

ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: Callable[[Orderdeck, ShouldStop], str]
    summary: str


def _count(sweep: Callable[..., int], what: str) -> Callable[[Orderdeck, ShouldStop], str]:
    def run(app: Orderdeck, should_stop: ShouldStop) -> str:
        return f"{sweep(app, should_stop=should_stop)} {what}"

    return run


JOBS = (
    Job(
        "expire-authorizations",
        timedelta(minutes=10),
        _count(sweeps.expire_authorizations, "order(s) with expired authorizations"),
        "Record expiry of authorizations past their deadline (payment status becomes expired).",
    ),
    Job(
        "authorization-expiry-alerts",
        timedelta(hours=1),
        _count(sweeps.warn_expiring_authorizations, "order(s) with authorizations expiring within 2 days"),
        "Warn staff, once per authorization, two days before it expires uncaptured.",
    ),
    Job(
        "open-scheduled-fulfillment-orders",
        timedelta(minutes=1),
        _count(sweeps.open_due_fulfillment_orders, "order(s) with scheduled fulfillment orders opened"),
        "Open scheduled fulfillment orders whose fulfill_at has come.",
    ),
    Job(
        "auto-archive",
        timedelta(hours=1),
        _count(sweeps.auto_archive, "order(s) archived"),
        "Archive orders the auto-archive rule covers, when the shop has it switched on.",
    ),
    Job(
        "stuck-orders",
        timedelta(minutes=10),
        _count(sweeps.flag_stuck_orders, "order(s) flagged as stuck"),
        "Flag and report orders stuck: requests a fulfillment service leaves unanswered or unshipped, "
        "orders unfulfilled longer than the shop allows; drop flags whose cause went.",
    ),
    Job(
        "fetch-stock",
        timedelta(hours=1),
        _count(service_sync.sync_stock, "fulfillment service(s) reported their stock"),
        "Ask fulfillment services that manage inventory for their stock (fetch_stock) and set it at their locations.",
    ),
    Job(
        "fetch-tracking-numbers",
        timedelta(hours=1),
        _count(service_sync.sync_tracking, "fulfillment service(s) asked for tracking numbers"),
        "Ask fulfillment services with tracking support for the numbers of their fulfillments that have none.",
    ),
    Job(
        "automation-schedules",
        timedelta(minutes=1),
        _count(automation.run_schedules, "automation run(s) started by scheduled rules"),
        "Start the runs of scheduled automation rules whose time has come.",
    ),
    Job(
        "track-shipments",
        timedelta(minutes=5),
        _count(partial(trackers.sweep, budget=trackers.JOB_BUDGET), "tracking number(s) asked about"),
        "Ask carriers (through karrio) about the shipments whose tracker is due: every 2 hours, every 30 minutes "
        "while out for delivery, until delivered, failed or 90 days old.",
    ),
    Job(
        "retention",
        timedelta(days=1),
        _count(sweeps.forget_old_deliveries, "handled outbox message(s), deliveries and service notifications removed"),
        "Remove handled outbox messages, finished webhook deliveries and finished notifications to fulfillment "
        "services older than the retention period.",
    ),
    Job(
        "expired-sessions",
        timedelta(hours=6),
        _count(sweeps.forget_expired_sessions, "expired admin session(s) removed"),
        "Remove admin sign-in sessions past their 14 days.",
    ),
)
JOBS_BY_NAME = {job.name: job for job in JOBS}
LEASE = timedelta(minutes=15)


def _ensure_row(conn: Connection, name: str, next_run_at: datetime) -> bool:
    """Make the job's row when it has none yet. False when another worker made it meanwhile."""
    if conn.execute(select(scheduled_jobs.c.name).where(scheduled_jobs.c.name == name)).first() is not None:
        return True
    try:
        conn.execute(insert(scheduled_jobs).values(name=name, next_run_at=next_run_at))
    except IntegrityError:
        return False
    return True


def _take(app: Orderdeck, job: Job, worker: str) -> bool:
    c = scheduled_jobs.c
    with app.unit_of_work() as uow:
        now = uow.now
        if not _ensure_row(uow.conn, job.name, now):
            return False
        taken = uow.conn.execute(
            update(scheduled_jobs)
            .where(
                c.name == job.name,
                c.next_run_at <= now,
                (c.leased_until.is_(None)) | (c.leased_until < now),
            )
            .values(leased_until=now + LEASE, leased_by=worker, last_started_at=now)
        ).rowcount
        uow.commit()
        return bool(taken)


def _finish(app: Orderdeck, job: Job, worker: str, result: str | None, error: str | None) -> None:
    c = scheduled_jobs.c
    with app.unit_of_work() as uow:
        uow.conn.execute(
            update(scheduled_jobs)
            .where(c.name == job.name, c.leased_by == worker)
            .values(
                next_run_at=uow.now + job.every,
                leased_until=None,
                leased_by=None,
                last_finished_at=uow.now,
                last_result=result,
                last_error=error,
            )
        )
        uow.commit()


def run_due(app: Orderdeck, worker: str, should_stop: ShouldStop = lambda: False, jobs: tuple[Job, ...] = JOBS) -> int:
    """Run every job that is due and not held by another worker. Returns how many ran."""
    ran = 0
    for job in jobs:
        if should_stop():
            break
        if not _take(app, job, worker):
            continue
        try:
            result, error = job.run(app, should_stop), None
        except Exception as exc:  # a failing job is recorded and retried at its next turn
            log.exception("scheduled job %s failed", job.name)
            result, error = None, "".join(traceback.format_exception_only(exc)).strip()
        _finish(app, job, worker, result, error)
        ran += 1
    return ran


def run_now(app: Orderdeck, name: str, worker: str) -> str:
    """Run one job at once (the CLI's `orderdeck jobs run`), whatever its due time, and record it."""
    job = JOBS_BY_NAME[name]
    result = job.run(app, lambda: False)
    with app.unit_of_work() as uow:
        c = scheduled_jobs.c
        _ensure_row(uow.conn, name, uow.now + job.every)
        uow.conn.execute(
            update(scheduled_jobs)
            .where(c.name == name)
            .values(last_started_at=uow.now, last_finished_at=uow.now, last_result=result, last_error=None)
        )
        uow.commit()
    return result


@dataclass(frozen=True)
class JobState:
    name: str
    summary: str
    every: timedelta
    next_run_at: datetime | None
    last_finished_at: datetime | None
    last_result: str | None
    last_error: str | None
    running_on: str | None


def states(app: Orderdeck) -> list[JobState]:
    with app.unit_of_work(read_only=True) as uow:
        rows = {r["name"]: r for r in uow.conn.execute(select(scheduled_jobs)).mappings()}
        now = uow.now
    found = []
    for job in JOBS:
        row = rows.get(job.name)
        leased = row is not None and row["leased_until"] is not None and utc(row["leased_until"]) > now  # type: ignore[operator]
        found.append(
            JobState(
                name=job.name,
                summary=job.summary,
                every=job.every,
                next_run_at=utc(row["next_run_at"]) if row else None,
                last_finished_at=utc(row["last_finished_at"]) if row else None,
                last_result=row["last_result"] if row else None,
                last_error=row["last_error"] if row else None,
                running_on=row["leased_by"] if leased and row else None,
            )
        )
    return found
