"""The worker: relays outbox messages, sends webhook deliveries, carries out automation runs
and runs due jobs.

It runs as `orderdeck worker` (any number, on any number of machines, against PostgreSQL) and,
unless `--no-worker`, inside `orderdeck serve`. Database work runs in threads so the event loop
stays free for the HTTP sends. Stopping (SIGTERM, or the server shutting down) lets the sends in
flight finish and be recorded, and a running job stop between two orders; whatever was claimed
and not sent becomes due again when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from ..automation import engine as automation
from ..services.context import Orderdeck
from ..store.webhooks import Delivery, Subscriptions, webhook_secret
from . import metrics, scheduler, staff_mail, webhooks
from .relay import relay

log = logging.getLogger("orderdeck.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Worker:
    app: Orderdeck
    name: str = field(default_factory=worker_name)
    batch: int = 100  # deliveries claimed at once and sent side by side
    idle_wait: float = 0.2  # seconds between polls when there is nothing to do
    lease: timedelta = timedelta(seconds=60)  # longer than any send (5 s) plus recording
    retry_delays: tuple[timedelta, ...] = webhooks.RETRY_DELAYS
    run_jobs: bool = True
    job_poll: float = 5.0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        log.info("worker %s started", self.name)
        jobs = asyncio.create_task(self._jobs()) if self.run_jobs else None
        try:
            async with webhooks.client() as client:
                while not self.stopping:
                    busy = await self._round(client)
                    if not busy:
                        await self._pause(self.idle_wait)
        finally:
            if jobs is not None:
                await jobs
            log.info("worker %s stopped", self.name)

    async def drain(self, max_rounds: int = 1000) -> None:
        """Work until nothing is due now (no jobs): for tests and one-off catch-ups."""
        async with webhooks.client() as client:
            for _ in range(max_rounds):
                if not await self._round(client):
                    return

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _round(self, client: object) -> bool:
        """One pass: relay what is waiting, then send one batch of due deliveries."""
        try:
            relayed = await asyncio.to_thread(relay, self.app)
            claimed = await asyncio.to_thread(self._claim)
            ran = await asyncio.to_thread(automation.run_due, self.app, lambda: self.stopping)
            mailed = await asyncio.to_thread(staff_mail.send_due, self.app)
        except Exception:  # the database is away for a moment: wait and try again
            log.exception("worker %s could not reach the database", self.name)
            metrics.WORKER_ERRORS.inc()
            await self._pause(1.0)
            return False
        if claimed:
            try:
                await self._send(client, claimed)
            except Exception:  # never let one round end the worker; the claims' leases run out
                log.exception("worker %s could not send a batch of %d", self.name, len(claimed))
                metrics.WORKER_ERRORS.inc()
        return bool(relayed or claimed or ran or mailed)

    def _claim(self) -> list[tuple[Delivery, dict[str, str], str]]:
        with self.app.unit_of_work() as uow:
            found = webhooks.claim(uow.conn, uow.now, self.lease, self.batch, skip_locked=not self.app.db.is_sqlite)
            if not found:
                return []
            secret = webhook_secret(uow.conn, self.app.settings.webhook_secret)
            domain = uow.shop.domain
            subscriptions = Subscriptions(uow.conn)
            by_id = {s: subscriptions.get(s) for s in {d.subscription_id for d in found}}
            uow.commit()
        return [
            (d, webhooks.headers_for(d, by_id[d.subscription_id], secret, domain), by_id[d.subscription_id].address)
            for d in found
        ]

    async def _send(self, client: object, claimed: list[tuple[Delivery, dict[str, str], str]]) -> None:
        now = self.app.clock()
        outcomes = await asyncio.gather(
            *(webhooks.send(client, address, d, headers, now) for d, headers, address in claimed)  # type: ignore[arg-type]
        )
        results = [(d, o) for (d, _, _), o in zip(claimed, outcomes, strict=True)]
        while True:
            try:
                await asyncio.to_thread(self._record, results)
                break
            except Exception:
                # Sent but not recorded: keep trying (until the worker is stopped) rather than
                # let the leases run out and send the same deliveries again.
                log.exception("worker %s could not record %d attempts; retrying", self.name, len(results))
                metrics.WORKER_ERRORS.inc()
                if self.stopping:
                    return
                await asyncio.sleep(1.0)

    def _record(self, results: list[tuple[Delivery, webhooks.Outcome]]) -> None:
        with self.app.unit_of_work() as uow:
            finals = webhooks.record(uow.conn, results, uow.now, self.name, self.retry_delays, self.rng)
            uow.commit()
            for (delivery, outcome), final in zip(results, finals, strict=True):
                metrics.observe_attempt(final, outcome.latency_ms, uow.now - delivery.triggered_at)

    async def _jobs(self) -> None:
        while not self.stopping:
            try:
                await asyncio.to_thread(scheduler.run_due, self.app, self.name, lambda: self.stopping)
            except Exception:
                log.exception("worker %s could not run its jobs", self.name)
                metrics.WORKER_ERRORS.inc()
            await self._pause(self.job_poll)


async def run_until_signalled(worker: Worker) -> None:
    """`orderdeck worker`: run until SIGTERM or SIGINT, then stop gracefully."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()
