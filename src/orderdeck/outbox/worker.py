"""The worker: relays outbox messages, sends webhook deliveries and notifications to
fulfillment services, carries out automation runs and runs due jobs.

It runs as `orderdeck worker` (any number, on any number of machines, against PostgreSQL) and,
unless `--no-worker`, inside `orderdeck serve`. Database work runs in threads so the event loop
stays free for the HTTP sends. Stopping (SIGTERM, or the server shutting down) lets the sends in
flight finish and be recorded, a running job stop between two orders, and gives back automation
runs it had claimed and not started; nothing else is held (a delivery is claimed only when a
send can start at once).

The worker waits for news rather than polling for it: a command that commits outbox rows, and a
relay that commits deliveries, wake it (PostgreSQL LISTEN/NOTIFY, or within one SQLite process a
call from the commit; see outbox/listener.py and store/wakeup.py). It still polls every
`safety_poll` seconds, and every `idle_wait` seconds while its listener is down.
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

import aiohttp
import httpx

from .. import destinations
from ..automation import engine as automation
from ..services import bulk_runs, held
from ..services.context import Orderdeck
from ..store.webhooks import Delivery, Subscriptions, webhook_secret
from . import metrics, notifications, scheduler, service_calls, staff_mail, webhooks
from .listener import Listener
from .relay import CONSUMERS, relay

log = logging.getLogger("orderdeck.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


Claimed = tuple[Delivery, dict[str, str], str]  # a delivery, its headers, its address


@dataclass
class Worker:
    app: Orderdeck
    name: str = field(default_factory=worker_name)
    batch: int = 100  # most deliveries claimed (and held, sending or waiting to) at once
    # Sends kept going side by side, and the most keep-alive connections to one receiver. Enough
    # to hide receivers' latency (chosen when httpx's pool bookkeeping, per request over every
    # request in flight, made more a bottleneck; docs/benchmarks.md). Also the fulfillment
    # service calls' limit.
    in_flight: int = 16
    idle_wait: float = 0.2  # seconds between polls when there is nothing to do and no listener
    # Seconds between polls while the listener wakes the worker: only against a notification
    # lost in a way nobody foresaw, and for retries and expired leases coming due.
    safety_poll: float = 2.0
    lease: timedelta = timedelta(seconds=60)  # longer than any send (5 s) plus recording
    retry_delays: tuple[timedelta, ...] = webhooks.RETRY_DELAYS
    # Automation runs claimed at once: few enough that their http_requests, each up to
    # actions.HTTP_DEADLINE, end well within the runs' lease (engine.LEASE).
    rule_batch: int = 10
    run_jobs: bool = True
    job_poll: float = 5.0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._stopping = asyncio.Event()
        self._secret: str | None = None  # the signing secret, read with the first claim
        self._resume_bulk = True  # on starting, take up bulk runs a stopped worker left half done
        # Set when there may be news for a loop; each loop clears its own before it looks.
        self._news = {name: asyncio.Event() for name in ("tend", "deliveries", "rules", "services")}
        self.listener = Listener(self.app.db, self._outbox_news)

    def stop(self) -> None:
        self._stopping.set()
        for news in self._news.values():
            news.set()

    def _outbox_news(self) -> None:
        """Something committed outbox messages or deliveries (here or in another process).
        Automation runs and service calls are woken by the relay that writes them (`_relayed`),
        which is the worker that just woke to relay; their loops' other checks would be one write
        transaction per commit on SQLite's one writer."""
        self._news["tend"].set()
        self._news["deliveries"].set()

    def _relayed(self) -> None:
        """This worker's relay handed messages on: deliveries, runs and service calls wait."""
        for name in ("deliveries", "rules", "services"):
            self._news[name].set()

    def _poll_every(self) -> float:
        return self.safety_poll if self.listener.healthy else self.idle_wait

    async def _wait(self, news: asyncio.Event, seconds: float) -> None:
        """Until there is news (or the worker stops), at most `seconds`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(news.wait(), seconds)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Until stopped: deliveries in one loop, the relay, notifications and staff e-mail in
        another, automation runs in a third, bulk runs in a fourth, jobs in a fifth; so a slow
        receiver (of a webhook or of a rule's http_request) holds up neither the relay nor the
        other receivers."""
        log.info("worker %s started", self.name)
        jobs = asyncio.create_task(self._jobs()) if self.run_jobs else None
        listening = asyncio.create_task(self.listener.run())
        try:
            allowed = destinations.of(self.app.settings)
            async with webhooks.session(allowed, self.in_flight) as session, webhooks.client(allowed) as client:
                await asyncio.gather(
                    self._tend_loop(),
                    self._delivery_loop(session),
                    self._bulk_loop(),
                    self._rules_loop(),
                    self._service_loop(client),
                )
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            if jobs is not None:
                await jobs
            log.info("worker %s stopped", self.name)

    async def drain(self, max_rounds: int = 1000) -> None:
        """Work until nothing is due now (no jobs), one step after another: for tests and
        one-off catch-ups."""
        gate = asyncio.Semaphore(self.in_flight)
        allowed = destinations.of(self.app.settings)
        async with webhooks.session(allowed, self.in_flight) as session, webhooks.client(allowed) as client:

            async def gated(item: Claimed) -> tuple[Delivery, webhooks.Outcome]:
                async with gate:
                    return await self._send_one(session, item)

            for _ in range(max_rounds):
                tended = await self._tend()
                ran = await self._rules()
                bulk = await self._bulk()
                claimed = await asyncio.to_thread(self._claim, self.batch)
                if claimed:
                    await self._record_all(list(await asyncio.gather(*(gated(c) for c in claimed))))
                told = await self._services(client)
                if not tended and not ran and not bulk and not claimed and not told:
                    return

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # ---- relay, notifications, staff e-mail ------------------------------------------------------

    async def _tend_loop(self) -> None:
        news = self._news["tend"]
        while not self.stopping:
            news.clear()
            if not await self._tend():
                await self._wait(news, self._poll_every())

    async def _tend(self) -> bool:
        try:
            # One read first: most wake-ups (every commit that wrote outbox rows, on every worker)
            # find none of these kinds due, and then cost no write transaction per kind.
            due = await asyncio.to_thread(self._due_kinds)
            relayed = mailed = 0
            kinds = tuple(kind for kind in CONSUMERS if kind in due)
            if kinds:
                relayed = await asyncio.to_thread(relay, self.app, kinds=kinds)
            if relayed:
                self._relayed()
            if "staff_alert" in due:
                mailed += await asyncio.to_thread(staff_mail.send_due, self.app)
            if "notification" in due:
                mailed += await asyncio.to_thread(notifications.send_due, self.app)
        except Exception:  # the database is away for a moment: wait and try again
            log.exception("worker %s could not reach the database", self.name)
            metrics.WORKER_ERRORS.inc()
            await self._pause(1.0)
            return False
        return bool(relayed or mailed)

    def _due_kinds(self) -> set[str]:
        with self.app.unit_of_work(read_only=True) as uow:
            return uow.outbox.due_kinds((*CONSUMERS, "staff_alert", "notification"), uow.now)

    # ---- automation runs ----------------------------------------------------------------------------
    # In a loop of their own: a rule's http_request may wait for its receiver (up to
    # actions.HTTP_DEADLINE), and the relay (hence every webhook), notifications and staff
    # e-mail go on meanwhile.

    async def _rules_loop(self) -> None:
        news = self._news["rules"]
        while not self.stopping:
            news.clear()
            if not await self._rules():
                await self._wait(news, self._poll_every())

    async def _rules(self) -> bool:
        try:
            ran = await asyncio.to_thread(automation.run_due, self.app, lambda: self.stopping, self.rule_batch)
        except Exception:  # the database is away: the claimed runs are taken up again after their lease
            log.exception("worker %s could not carry out automation runs", self.name)
            metrics.WORKER_ERRORS.inc()
            await self._pause(1.0)
            return False
        return bool(ran)

    # ---- bulk actions staff started from the Orders page -------------------------------------------
    # In a loop of their own: a run over many orders takes a while, and the relay and the
    # notifications go on meanwhile (the run's own webhooks among them).

    async def _bulk_loop(self) -> None:
        while not self.stopping:
            if not await self._bulk():
                await self._pause(self.idle_wait)

    async def _bulk(self) -> bool:
        resume, self._resume_bulk = self._resume_bulk, False
        try:
            ran = await asyncio.to_thread(bulk_runs.run_due, self.app, lambda: self.stopping, resume=resume)
            # Then render the orders bulk work changed and let their held messages go (services/held.py).
            released = await asyncio.to_thread(held.release_due, self.app, lambda: self.stopping)
            return bool(ran or released)
        except Exception:  # the database is away: the run keeps its count and is taken up again
            log.exception("worker %s could not carry out bulk runs", self.name)
            metrics.WORKER_ERRORS.inc()
            self._resume_bulk = True
            await self._pause(1.0)
            return False

    # ---- notifications to fulfillment services -------------------------------------------------
    # In a loop of their own: a service may take up to service_calls.TIMEOUT to answer, and
    # webhooks, the relay and the rules go on meanwhile.

    async def _service_loop(self, client: httpx.AsyncClient) -> None:
        news = self._news["services"]
        while not self.stopping:
            news.clear()
            if not await self._services(client):
                # Not latency-critical (a service reads its requests when it polls anyway): a
                # slower poll keeps this loop's claims off SQLite's one writer.
                await self._wait(news, max(self.idle_wait, 1.0))

    async def _services(self, client: httpx.AsyncClient) -> bool:
        try:
            told = await service_calls.send_due(
                self.app, client, self.name, in_flight=self.in_flight, delays=self.retry_delays, rng=self.rng
            )
        except Exception:  # the database is away: claimed notifications go again after their lease
            log.exception("worker %s could not notify fulfillment services", self.name)
            metrics.WORKER_ERRORS.inc()
            await self._pause(1.0)
            return False
        return bool(told)

    # ---- webhook deliveries ------------------------------------------------------------------

    async def _delivery_loop(self, session: aiohttp.ClientSession) -> None:
        """Keep deliveries going: claim up to `batch` when half of them are done, send at most
        `in_flight` at a time, record finished attempts half a batch or more at a time (claims and
        records are transactions: fewer and larger is faster). A record runs beside the claims
        and the sends, one at a time; what finishes meanwhile waits for the next. A slow receiver
        holds one slot, not the others. Stopping claims nothing more, lets the sends finish and
        records them."""
        gate = asyncio.Semaphore(self.in_flight)
        arrived: asyncio.Queue[tuple[Delivery, webhooks.Outcome] | None] = asyncio.Queue()
        tasks: set[asyncio.Task[None]] = set()  # held so they are not collected mid-send
        outstanding = 0  # claimed and not yet arrived
        finished: list[tuple[Delivery, webhooks.Outcome]] = []
        recording: asyncio.Task[None] | None = None
        nothing_due_until = 0.0
        loop = asyncio.get_running_loop()
        news = self._news["deliveries"]

        async def send(item: Claimed) -> None:
            result = None
            async with gate:
                try:
                    result = await self._send_one(session, item)
                except Exception:  # send() answers every failure itself; this would be a bug
                    log.exception("worker %s: a send failed; it goes again after the lease", self.name)
                    metrics.WORKER_ERRORS.inc()
            arrived.put_nowait(result)

        def record_when_free() -> None:
            nonlocal recording, finished
            if finished and (recording is None or recording.done()):
                recording = asyncio.create_task(self._record_all(finished))
                finished = []

        async def record_everything() -> None:
            nonlocal recording, finished
            while finished or recording is not None:
                if recording is not None:
                    await recording
                    recording = None
                record_when_free()

        while True:
            if news.is_set():  # new deliveries may be due: look, whenever we last found none
                news.clear()
                nothing_due_until = 0.0
            room = self.batch - outstanding
            if not self.stopping and room >= self.batch // 2 and loop.time() >= nothing_due_until:
                try:
                    claimed = await asyncio.to_thread(self._claim, room)
                except Exception:
                    log.exception("worker %s could not claim deliveries", self.name)
                    metrics.WORKER_ERRORS.inc()
                    claimed = []
                if not claimed:
                    nothing_due_until = loop.time() + self._poll_every()
                for item in claimed:
                    task = asyncio.create_task(send(item))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                outstanding += len(claimed)
            if outstanding == 0:
                await record_everything()
                if self.stopping:
                    return
                await self._wait(news, max(nothing_due_until - loop.time(), 0.01))
                continue
            with contextlib.suppress(TimeoutError):
                first = await asyncio.wait_for(arrived.get(), 0.1)
                results = [first]
                while not arrived.empty():
                    results.append(arrived.get_nowait())
                outstanding -= len(results)
                finished.extend(r for r in results if r is not None)
            if len(finished) >= self.batch // 2 or (finished and outstanding == 0):
                record_when_free()

    async def _send_one(self, session: aiohttp.ClientSession, item: Claimed) -> tuple[Delivery, webhooks.Outcome]:
        delivery, headers, address = item
        return delivery, await webhooks.send(session, address, delivery, headers, self.app.clock())

    def _claim(self, limit: int) -> list[Claimed]:
        with self.app.unit_of_work() as uow:
            found = webhooks.claim(uow.conn, uow.now, self.lease, limit, skip_locked=not self.app.db.is_sqlite)
            if not found:
                return []
            if self._secret is None:
                # Kept: the stored secret is only ever filled in, never changed (webhook_secret).
                self._secret = webhook_secret(uow.conn, self.app.settings.webhook_secret)
            by_id, domain = Subscriptions(uow.conn).senders({d.subscription_id for d in found})
            uow.commit()
        # A subscription deleted meanwhile took its deliveries with it: nothing of it to send.
        found = [d for d in found if d.subscription_id in by_id]
        if not found or domain is None:
            return []
        secret = self._secret
        # One HMAC per body: an event's deliveries to subscriptions that take the whole payload
        # carry the same body, hence the same signature.
        signatures: dict[str, str] = {}
        for d in found:
            if d.body not in signatures:
                signatures[d.body] = webhooks.sign(d.body.encode(), secret)
        return [
            (
                d,
                webhooks.headers_for(d, by_id[d.subscription_id], secret, domain, signatures[d.body]),
                by_id[d.subscription_id].address,
            )
            for d in found
        ]

    async def _record_all(self, results: list[tuple[Delivery, webhooks.Outcome]]) -> None:
        while True:
            try:
                await asyncio.to_thread(self._record, results)
                return
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
