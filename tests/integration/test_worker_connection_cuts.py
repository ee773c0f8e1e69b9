"""The worker's database connections cut under it while it delivers (PostgreSQL).

`orderdeck worker` checks no pooled connection before use (store/database.py, `pre_ping`): a
connection cut by a restart, a failover or `pg_terminate_backend` fails the transaction that
uses it next, and the loop retries. Here the worker's connections are cut again and again, at
random moments, through a burst of webhook events; every event must still reach the receiver
exactly once, and the database end with every delivery delivered and every message handed on.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import orjson
import pytest
from sqlalchemy import event, func, select, text

from orderdeck.bootstrap import build
from orderdeck.domain.order import Author
from orderdeck.outbox import metrics
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Command, Orderdeck
from orderdeck.services.webhooks import subscribe
from orderdeck.store.outbox import OutboxMessage
from orderdeck.store.tables import outbox, webhook_deliveries

from ..conftest import Clock
from . import test_webhooks
from .test_webhooks import Receiver

receiver = test_webhooks.receiver  # the fixture: a webhook receiver on 127.0.0.1

EVENTS = 600
CUTS = 30
SEED = 20261208
HANG = 120.0  # seconds a broken worker may keep the test waiting before it fails


def _cut(deck: Orderdeck, pids: set[int]) -> int:
    """Terminate the worker's database sessions; how many were alive."""
    with deck.db.writer.begin() as conn:
        return sum(
            1
            for ok in conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": list(pids)},
            ).scalars()
            if ok
        )


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_cut_connections_neither_lose_nor_repeat_a_webhook(
    deck: Orderdeck, receiver: Receiver, clock: Clock, backend: str
) -> None:
    with deck.unit_of_work() as uow:
        subscribe(Command(deck, uow, Author("system", "test")), "orders/create", receiver.url, None)
        uow.commit()
    for start in range(0, EVENTS, 200):
        with deck.unit_of_work() as uow:
            uow.outbox.put(
                [
                    OutboxMessage("webhook", "orders/create", orjson.dumps({"id": i}).decode(), i)
                    for i in range(start, start + 200)
                ],
                uow.now,
            )
            uow.commit()

    app = build(deck.settings, clock=clock, pre_ping=False)  # as `orderdeck worker` builds it
    pids: set[int] = set()
    event.listen(app.db.writer, "connect", lambda dbapi, _record: pids.add(dbapi.info.backend_pid))
    errors_before = metrics.WORKER_ERRORS._value.get()
    rng = random.Random(SEED)
    hits = 0

    async def scenario() -> None:
        nonlocal hits
        worker = Worker(app, run_jobs=False)
        task = asyncio.create_task(worker.run())
        try:
            for _ in range(CUTS):
                await asyncio.sleep(rng.uniform(0.02, 0.2))
                hits += await asyncio.to_thread(_cut, deck, set(pids))
            for _ in range(int(HANG / 0.05)):
                if len(receiver.got) >= EVENTS:
                    break
                await asyncio.sleep(0.05)
        finally:
            worker.stop()  # records every attempt it sent before it returns
            await task

    try:
        asyncio.run(scenario())
        # A claim whose COMMIT was cut may have committed unseen: its deliveries wait for their
        # lease. Let it run out, with nothing in flight, and send what waited.
        clock.advance(seconds=61)
        asyncio.run(Worker(app, run_jobs=False).drain())
    finally:
        app.db.dispose()

    sent = Counter(orjson.loads(got.body)["id"] for got in receiver.got)
    assert sent == Counter(range(EVENTS)), "every event exactly once"
    assert hits > 0 and metrics.WORKER_ERRORS._value.get() > errors_before, "the cuts reached the worker"
    with deck.unit_of_work(read_only=True) as uow:
        d = webhook_deliveries.c
        states: dict[Any, Any] = dict(uow.conn.execute(select(d.state, func.count()).group_by(d.state)).all())
        waiting = uow.conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
        ).scalar_one()
    assert states == {"delivered": EVENTS} and waiting == 0
