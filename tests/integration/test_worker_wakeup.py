"""Workers wake when work is committed (store/wakeup.py, outbox/listener.py) instead of polling:
a waiting worker whose polls are an hour apart still delivers what a command commits, whether
the command ran in its own process or another; on PostgreSQL it listens again after its
listening connection is cut; and two workers side by side never send one message twice.

The waits below only bound how long a test may hang when the behaviour is broken; with polls an
hour apart, a delivery within them can only have come from being woken."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from orderdeck.bootstrap import build
from orderdeck.outbox.listener import APPLICATION_NAME
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck

from ..conftest import Api, Clock, Shop
from . import test_webhooks
from .test_webhooks import LINE, Receiver, subscribe

receiver = test_webhooks.receiver  # the fixtures: a webhook receiver, and a location to sell from
location = test_webhooks.location

HOUR = 3600.0
HANG = 60.0  # seconds a broken wake-up may keep a test waiting before it fails


def sleepy(deck: Orderdeck) -> Worker:
    """A worker that, left to its polls, would not look again for an hour."""
    worker = Worker(deck, run_jobs=False, idle_wait=HOUR, safety_poll=HOUR)
    worker.listener.reconnect_after = 0.1
    return worker


async def until(done: Callable[[], bool], what: str) -> None:
    for _ in range(int(HANG / 0.02)):
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


async def settled(worker: Worker, receiver: Receiver, count: int) -> None:
    """The worker listens and has delivered `count` and gone back to waiting."""
    await until(lambda: worker.listener.healthy, "the listener")
    await until(lambda: len(receiver.got) >= count, f"{count} deliveries")
    await asyncio.sleep(0.3)  # back to waiting: its relay and claims found nothing more


PUT_FROM_ANOTHER_PROCESS = """
import sys
from datetime import datetime
from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from orderdeck.store.outbox import Outbox, OutboxMessage

deck = build(Settings(database_url=sys.argv[1]))
with deck.db.writer.begin() as conn:
    message = OutboxMessage(kind="webhook", topic="orders/create", payload='{"id": 4242}')
    Outbox(conn).put([message], datetime.fromisoformat(sys.argv[2]))
deck.db.dispose()
"""


@pytest.mark.parametrize("writer", ["this process", "another process"])
def test_a_waiting_worker_delivers_work_committed_afterwards_without_polling(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver, clock: Clock, writer: str
) -> None:
    subscribe(api, receiver.url)
    shop.order(LINE)

    async def scenario() -> None:
        worker = sleepy(deck)
        task = asyncio.create_task(worker.run())
        try:
            await settled(worker, receiver, 1)  # the order placed before it started
            if writer == "this process":
                order = await asyncio.to_thread(shop.order, LINE)
                expected = order["id"]
            else:
                command = [sys.executable, "-c", PUT_FROM_ANOTHER_PROCESS, deck.db.url, clock.now.isoformat()]
                await asyncio.to_thread(subprocess.run, command, check=True)
                expected = 4242
            await until(lambda: len(receiver.got) == 2, "the delivery of what was committed afterwards")
            assert receiver.got[1].json["id"] == expected
        finally:
            worker.stop()
            await task

    asyncio.run(scenario())


# PostgreSQL only: SQLite's worker has no connection to cut (it reads PRAGMA data_version).
@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_worker_listens_again_after_its_connection_is_cut(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver, backend: str
) -> None:
    subscribe(api, receiver.url)
    shop.order(LINE)

    def cut() -> int:
        with deck.db.writer.begin() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name AND datname = current_database()"
                    ),
                    {"name": APPLICATION_NAME},
                ).all()
            )

    async def scenario() -> None:
        worker = sleepy(deck)
        task = asyncio.create_task(worker.run())
        try:
            await settled(worker, receiver, 1)
            assert worker.listener.connections == 1
            assert await asyncio.to_thread(cut) == 1
            await until(lambda: worker.listener.connections == 2 and worker.listener.healthy, "a new connection")
            await asyncio.sleep(0.3)  # the wake-up on reconnecting has been looked into
            order = await asyncio.to_thread(shop.order, LINE)
            await until(lambda: len(receiver.got) == 2, "the delivery after reconnecting")
            assert receiver.got[1].json["id"] == order["id"]
        finally:
            worker.stop()
            await task

    asyncio.run(scenario())


def test_two_workers_never_deliver_one_message_twice(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver, clock: Clock
) -> None:
    """Two workers with engines of their own (as two processes have), woken by the same commits,
    while orders keep arriving: each order's webhook arrives exactly once."""
    subscribe(api, receiver.url)
    other = build(deck.settings, clock=clock)
    orders: list[dict[str, Any]] = []

    async def scenario() -> None:
        workers = [sleepy(deck), sleepy(other)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            await until(lambda: all(w.listener.healthy for w in workers), "both listeners")
            for _ in range(30):
                orders.append(await asyncio.to_thread(shop.order, LINE))
            await until(lambda: len(receiver.got) >= len(orders), "every order's webhook")
            await asyncio.sleep(0.5)  # time for a second copy to arrive, were one on its way
        finally:
            for worker in workers:
                worker.stop()
            await asyncio.gather(*tasks)

    try:
        asyncio.run(scenario())
    finally:
        other.db.dispose()
    sent = Counter(got.json["id"] for got in receiver.got)
    assert sent == Counter(order["id"] for order in orders)
    assert len({got.headers["X-Shopify-Event-Id"] for got in receiver.got}) == len(receiver.got)
