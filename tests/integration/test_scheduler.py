"""Scheduled jobs: one worker runs each due job however many poll at once; failures are recorded
and retried; the jobs themselves (stuck orders, authorization expiry warnings) do their work
once per order."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from orderdeck.outbox import scheduler
from orderdeck.outbox.scheduler import Job
from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox

from ..conftest import AUTHORIZE, Api, Clock, Shop

LINE = [{"title": "Mug", "price": "12.50", "quantity": 2}]


def counting_job(calls: list[str], every: timedelta = timedelta(hours=1)) -> Job:
    def run(app: Orderdeck, should_stop: Any) -> str:
        calls.append(threading.current_thread().name)
        return "done"

    return Job("counting", every, run, "counts its runs")


def test_of_many_workers_polling_at_once_one_runs_a_due_job(deck: Orderdeck, clock: Clock) -> None:
    calls: list[str] = []
    job = counting_job(calls)
    start = threading.Barrier(4)

    def poll(name: str) -> None:
        start.wait()
        scheduler.run_due(deck, name, jobs=(job,))

    threads = [threading.Thread(target=poll, args=(f"worker-{i}",), name=f"worker-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1

    scheduler.run_due(deck, "late", jobs=(job,))  # not due again yet
    assert len(calls) == 1
    clock.advance(minutes=61)
    scheduler.run_due(deck, "late", jobs=(job,))
    assert len(calls) == 2


def test_a_failing_job_is_recorded_and_runs_again_at_its_next_turn(deck: Orderdeck, clock: Clock) -> None:
    attempts: list[int] = []

    def flaky(app: Orderdeck, should_stop: Any) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("carrier API down")
        return "recovered"

    job = Job("flaky", timedelta(minutes=5), flaky, "fails once")
    scheduler.run_due(deck, "w", jobs=(job,))
    with deck.unit_of_work(read_only=True) as uow:
        row = uow.conn.execute(select(scheduler.scheduled_jobs).where(scheduler.scheduled_jobs.c.name == "flaky")).one()
    assert row.last_error == "RuntimeError: carrier API down" and row.leased_by is None
    clock.advance(minutes=6)
    scheduler.run_due(deck, "w", jobs=(job,))
    assert len(attempts) == 2


def test_a_worker_that_died_holding_a_job_lets_another_run_it_after_the_lease(deck: Orderdeck, clock: Clock) -> None:
    calls: list[str] = []
    job = counting_job(calls)
    assert scheduler._take(deck, job, "dead-worker")  # took it, then died without finishing
    scheduler.run_due(deck, "other", jobs=(job,))
    assert calls == []
    clock.advance(minutes=16)
    scheduler.run_due(deck, "other", jobs=(job,))
    assert len(calls) == 1


def outbox_topics(deck: Orderdeck, kind: str) -> list[str]:
    with deck.unit_of_work(read_only=True) as uow:
        return list(uow.conn.execute(select(outbox.c.topic).where(outbox.c.kind == kind)).scalars())


def test_orders_unfulfilled_too_long_are_tagged_stuck_once(deck: Orderdeck, api: Api, shop: Shop, clock: Clock) -> None:
    shop.location()
    shop.settings(stuck_after_days=3)
    waiting = shop.order(LINE)
    cancelled = shop.order(LINE)
    api.ok(api.post(f"/orders/{cancelled['id']}/cancel.json", {}))
    clock.advance(days=2)
    fresh_later = shop.order(LINE)
    clock.advance(days=1, hours=1)
    scheduler.run_now(deck, "stuck-orders", "test")

    assert "stuck" in shop.get(waiting["id"])["tags"]
    assert "stuck" not in shop.get(cancelled["id"])["tags"]
    assert "stuck" not in shop.get(fresh_later["id"])["tags"]
    events = api.ok(api.get(f"/orders/{waiting['id']}/events.json", params={"verb": "stuck"}))["events"]
    assert len(events) == 1 and "3 day(s)" in events[0]["message"]
    assert outbox_topics(deck, "staff_alert") == ["stuck"]
    assert "orderdeck/orders_stuck" in outbox_topics(deck, "webhook")

    # Staff take the tag off after looking: the order is not flagged again by the same rule.
    clock.advance(hours=1)
    scheduler.run_now(deck, "stuck-orders", "test")
    assert len(api.ok(api.get(f"/orders/{waiting['id']}/events.json", params={"verb": "stuck"}))["events"]) == 1


def test_stuck_orders_are_left_alone_when_the_shop_switches_it_off(deck: Orderdeck, shop: Shop, clock: Clock) -> None:
    shop.location()
    shop.settings(stuck_after_days=0)
    order = shop.order(LINE)
    clock.advance(days=30)
    assert scheduler.run_now(deck, "stuck-orders", "test") == "0 order(s) flagged as stuck"
    assert "stuck" not in shop.get(order["id"])["tags"]


def test_staff_are_warned_once_two_days_before_an_authorization_expires(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock
) -> None:
    shop.location()
    order = shop.order(LINE, transactions=AUTHORIZE)  # the shop's authorization period: 7 days
    clock.advance(days=4)
    scheduler.run_now(deck, "authorization-expiry-alerts", "test")
    assert (
        api.ok(api.get(f"/orders/{order['id']}/events.json", params={"verb": "authorization_expiring"}))["events"] == []
    )
    clock.advance(days=1, hours=1)
    scheduler.run_now(deck, "authorization-expiry-alerts", "test")
    clock.advance(hours=3)
    scheduler.run_now(deck, "authorization-expiry-alerts", "test")
    warned = api.ok(api.get(f"/orders/{order['id']}/events.json", params={"verb": "authorization_expiring"}))["events"]
    assert len(warned) == 1 and "capture it before then" in warned[0]["message"]
    assert outbox_topics(deck, "staff_alert") == ["authorization_expiring"]

    clock.advance(days=2)
    scheduler.run_now(deck, "expire-authorizations", "test")
    assert (
        shop.get(order["id"])["financial_status"] == "expired" or shop.get(order["id"])["financial_status"] == "voided"
    )


def test_a_stopping_worker_leaves_a_sweep_between_two_orders(deck: Orderdeck, shop: Shop, clock: Clock) -> None:
    from orderdeck.services import sweeps

    shop.location()
    shop.settings(stuck_after_days=1)
    for _ in range(3):
        shop.order(LINE)
    clock.advance(days=2)
    asked: list[int] = []

    def stop_after_one() -> bool:
        asked.append(1)
        return len(asked) > 1

    assert sweeps.flag_stuck_orders(deck, should_stop=stop_after_one) == 1
    assert sweeps.flag_stuck_orders(deck) == 2  # the next run goes on where it stopped


@pytest.mark.parametrize("name", [job.name for job in scheduler.JOBS])
def test_every_job_runs_on_an_empty_shop(deck: Orderdeck, name: str) -> None:
    assert scheduler.run_now(deck, name, "test").startswith("0 ")
