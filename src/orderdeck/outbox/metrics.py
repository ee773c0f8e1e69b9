"""Prometheus metrics at /metrics: what waits in the outbox and for how long, what the workers
delivered, and how far behind they are.

Depths and ages are read from the database when scraped, so every process reports the same
truth however many workers run; attempt counters and latencies are per process (scrape each
worker: `orderdeck worker --metrics-port`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ..services.context import Orderdeck
from ..store.database import utc
from ..store.tables import automation_runs, outbox, webhook_deliveries, webhook_subscriptions

REGISTRY = CollectorRegistry()

DELIVERIES = Counter(
    "orderdeck_webhook_attempts_total",
    "Webhook delivery attempts by result (delivered, retry, failed)",
    ["result"],
    registry=REGISTRY,
)
SEND_SECONDS = Histogram(
    "orderdeck_webhook_send_seconds",
    "Time for one webhook attempt, from request to answer or timeout",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
EVENT_TO_DELIVERY = Histogram(
    "orderdeck_webhook_event_to_delivery_seconds",
    "From the change that raised an event to its delivery being acknowledged",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 14400),
    registry=REGISTRY,
)
WORKER_ERRORS = Counter(
    "orderdeck_worker_errors_total", "Worker rounds that failed (database unreachable, …)", registry=REGISTRY
)


def observe_attempt(result: str, latency_ms: int, since_event: timedelta) -> None:
    DELIVERIES.labels(result).inc()
    SEND_SECONDS.observe(latency_ms / 1000)
    if result == "delivered":
        EVENT_TO_DELIVERY.observe(max(since_event.total_seconds(), 0.0))


class QueueCollector(Collector):
    """Outbox depth and age per kind; pending deliveries, how overdue the oldest is (the
    workers' lag) and disabled subscriptions."""

    def __init__(self, app: Orderdeck) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("orderdeck_outbox_pending", "Outbox messages not yet handled", labels=["kind"])
        age = GaugeMetricFamily(
            "orderdeck_outbox_oldest_pending_seconds", "Age of the oldest unhandled outbox message", labels=["kind"]
        )
        waiting = GaugeMetricFamily(
            "orderdeck_webhook_deliveries_pending", "Webhook deliveries waiting to be sent or retried"
        )
        lag = GaugeMetricFamily(
            "orderdeck_worker_lag_seconds",
            "How long the most overdue item (webhook or automation message, delivery of an enabled webhook, "
            "automation run) has waited",
        )
        disabled = GaugeMetricFamily("orderdeck_webhooks_disabled", "Webhook subscriptions disabled after failures")
        runs = GaugeMetricFamily(
            "orderdeck_automation_runs_pending", "Automation runs due or waiting (wait steps, after_hours)"
        )
        with self.app.unit_of_work(read_only=True) as uow:
            now = uow.now
            oldest_due = now
            for kind, count, oldest in uow.conn.execute(
                select(outbox.c.kind, func.count(), func.min(outbox.c.available_at))
                .where(outbox.c.delivered_at.is_(None))
                .group_by(outbox.c.kind)
            ):
                oldest = utc(oldest)
                depth.add_metric([kind], count)
                age.add_metric([kind], max((now - oldest).total_seconds(), 0.0))
                if kind in ("webhook", "automation"):
                    oldest_due = min(oldest_due, oldest)
            d, s = webhook_deliveries.c, webhook_subscriptions.c
            waiting.add_metric([], uow.conn.execute(select(func.count()).where(d.state == "pending")).scalar_one())
            overdue = uow.conn.execute(
                select(func.min(d.next_attempt_at))
                .join(webhook_subscriptions, s.id == d.subscription_id)
                .where(d.state == "pending", s.disabled_at.is_(None), d.next_attempt_at <= now)
            ).scalar_one()
            if overdue is not None:
                oldest_due = min(oldest_due, utc(overdue))  # type: ignore[type-var]
            disabled.add_metric(
                [],
                uow.conn.execute(
                    select(func.count()).select_from(webhook_subscriptions).where(s.disabled_at.is_not(None))
                ).scalar_one(),
            )
            r = automation_runs.c
            runs.add_metric([], uow.conn.execute(select(func.count()).where(r.state == "pending")).scalar_one())
            overdue_run = uow.conn.execute(
                select(func.min(r.due_at)).where(r.state == "pending", r.due_at <= now)
            ).scalar_one()
            if overdue_run is not None:
                oldest_due = min(oldest_due, utc(overdue_run))  # type: ignore[type-var]
        lag.add_metric([], max((now - oldest_due).total_seconds(), 0.0))
        yield from (depth, age, waiting, lag, disabled, runs)


class GroupCommitCollector(Collector):
    """This process's write transactions under group commit (store/group_commit.py): how many
    COMMITs, and how many commands they held; their ratio is the commands per fsync."""

    def __init__(self, app: Orderdeck) -> None:
        self.app = app

    def collect(self) -> Iterator[CounterMetricFamily]:
        commits = self.app.db.commits
        if commits is None:
            return
        yield CounterMetricFamily(
            "orderdeck_write_commits", "COMMITs of this process's group-commit batches", value=commits.batches_committed
        )
        yield CounterMetricFamily(
            "orderdeck_write_commands_committed",
            "Commands committed by this process's group-commit batches",
            value=commits.commands_committed,
        )


def exposition(app: Orderdeck) -> bytes:
    """The text a Prometheus scrape gets: this process's counters and the queues' state now."""
    queues = CollectorRegistry(auto_describe=False)
    queues.register(QueueCollector(app))
    queues.register(GroupCommitCollector(app))
    return generate_latest(REGISTRY) + generate_latest(queues)
