"""The set-based statements of webhook delivery against the per-row rules they replace, on both
databases: the relay's fan-out copying payloads inside the database, the one-statement claim, and
a batch of attempts recorded at once against the same attempts recorded one by one."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update

from orderdeck.outbox import webhooks
from orderdeck.outbox.relay import delivery_id, fan_out_webhooks, relay, shaped_body
from orderdeck.services.context import Orderdeck
from orderdeck.store.database import utc
from orderdeck.store.outbox import OutboxMessage
from orderdeck.store.tables import outbox, webhook_attempts, webhook_deliveries, webhook_subscriptions
from orderdeck.store.webhooks import Delivery, Subscriptions

from ..conftest import Clock

ADDRESS = "http://127.0.0.1:9/hooks"
PAYLOAD = orjson.dumps({"id": 7, "name": "#1001", "email": "ann@example.com", "total_price": "25.00"}).decode()
LEASE = timedelta(seconds=60)


@pytest.fixture
def still(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock standing still (it ticks a millisecond a reading), so that two runs of the
    same steps write the same times, and a test knows the time its steps write."""
    monkeypatch.setattr(Clock, "__call__", lambda self: self.now)
    return clock


def _subscribe(deck: Orderdeck, topic: str, fields: list[str] | None = None, failures: int = 0) -> int:
    with deck.unit_of_work() as uow:
        subscription = Subscriptions(uow.conn).add(topic, ADDRESS, fields, "2025-01", uow.now)
        if failures:
            uow.conn.execute(
                update(webhook_subscriptions)
                .where(webhook_subscriptions.c.id == subscription.id)
                .values(consecutive_failures=failures)
            )
        uow.commit()
    return subscription.id


def _deliveries(deck: Orderdeck) -> dict[str, dict[str, Any]]:
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(webhook_deliveries)).mappings()
        return {r["id"]: Delivery.of(r).__dict__ for r in rows}


def test_the_relay_makes_the_same_deliveries_as_shaping_each_message_itself(deck: Orderdeck, clock: Clock) -> None:
    whole = _subscribe(deck, "orders/create")
    cut = _subscribe(deck, "orders/create", fields=["id", "total_price"])
    empty_fields = _subscribe(deck, "orders/create", fields=[])  # [] means the whole payload, as before
    paid = _subscribe(deck, "orders/paid")
    _subscribe(deck, "orders/cancelled")  # no message of its topic
    other = orjson.dumps({"id": 8, "name": "#1002", "financial_status": "paid"}).decode()
    with deck.unit_of_work() as uow:
        uow.outbox.put(
            [
                OutboxMessage("webhook", "orders/create", PAYLOAD, 7),
                OutboxMessage("webhook", "orders/paid", other, 8),
                OutboxMessage("webhook", "orders/create", other, None),
            ],
            uow.now,
        )
        uow.commit()
    with deck.unit_of_work(read_only=True) as uow:
        messages = list(uow.conn.execute(select(outbox)).mappings())
    clock.advance(seconds=3)

    assert relay(deck, kinds=("webhook",)) == 3
    with deck.unit_of_work(read_only=True) as uow:
        handled = uow.conn.execute(select(outbox.c.delivered_at, outbox.c.attempts)).all()
    relayed_at = utc(handled[0].delivered_at)
    assert relayed_at is not None and relayed_at > utc(messages[0]["created_at"]) + timedelta(seconds=3)
    assert [(utc(at), n) for at, n in handled] == [(relayed_at, 1)] * 3

    by_topic = {"orders/create": [(whole, None), (cut, ["id", "total_price"]), (empty_fields, [])]}
    by_topic["orders/paid"] = [(paid, None)]
    expected = {}
    for m in messages:
        for sid, fields in by_topic.get(m["topic"], []):
            expected[delivery_id(m["id"], sid)] = {
                "id": delivery_id(m["id"], sid),
                "subscription_id": sid,
                "event_id": m["id"],
                "topic": m["topic"],
                "order_id": m["order_id"],
                "body": shaped_body(m["payload"], fields),
                "triggered_at": utc(m["created_at"]),
                "created_at": relayed_at,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": relayed_at,
                "delivered_at": None,
                "last_status": None,
                "last_error": None,
            }
    assert _deliveries(deck) == expected


def test_fan_out_reads_the_payload_only_for_subscriptions_that_cut_it(deck: Orderdeck) -> None:
    """Messages handed on without payloads (as the relay reads webhook messages) still give
    shaped bodies: those payloads are read by the fan-out itself."""
    cut = _subscribe(deck, "orders/create", fields=["name"])
    with deck.unit_of_work() as uow:
        uow.outbox.put([OutboxMessage("webhook", "orders/create", PAYLOAD, 7)], uow.now)
        messages = uow.outbox.due("webhook", uow.now, 10, skip_locked=False, payload=False)
        assert not hasattr(messages[0], "payload")
        assert fan_out_webhooks(uow.conn, messages, uow.now) == 1
        uow.commit()
    [made] = _deliveries(deck).values()
    assert made["subscription_id"] == cut and orjson.loads(made["body"]) == {"name": "#1001"}


def _pending(deck: Orderdeck, subscription_id: int, due: list[datetime]) -> list[str]:
    """Deliveries of one subscription due at the given times; returns their ids."""
    ids = []
    with deck.unit_of_work() as uow:
        for n, at in enumerate(due):
            event = f"00000000-0000-4000-8000-{subscription_id:06d}{n:06d}"
            ids.append(delivery_id(event, subscription_id))
            uow.conn.execute(
                webhook_deliveries.insert().values(
                    id=ids[-1],
                    subscription_id=subscription_id,
                    event_id=event,
                    topic="orders/create",
                    order_id=None,
                    body=PAYLOAD,
                    triggered_at=at,
                    created_at=at,
                    state="pending",
                    attempts=0,
                    next_attempt_at=at,
                )
            )
        uow.commit()
    return ids


def _claim(deck: Orderdeck, limit: int) -> list[Delivery]:
    with deck.unit_of_work() as uow:
        found = webhooks.claim(uow.conn, uow.now, LEASE, limit, skip_locked=not deck.db.is_sqlite)
        uow.commit()
    return found


def test_a_claim_holds_the_oldest_due_deliveries_of_enabled_webhooks(deck: Orderdeck, still: Clock) -> None:
    clock = still
    now = clock()
    enabled = _subscribe(deck, "orders/create")
    disabled = _subscribe(deck, "orders/create")
    with deck.unit_of_work() as uow:
        Subscriptions(uow.conn).change(disabled, uow.now, disabled_at=uow.now, disabled_reason="test")
        uow.commit()
    oldest, older, newest, later = _pending(
        deck, enabled, [now - timedelta(minutes=3), now - timedelta(minutes=2), now, now + timedelta(seconds=1)]
    )
    _pending(deck, disabled, [now - timedelta(hours=1)])
    with deck.unit_of_work() as uow:  # neither delivered nor failed ones are claimed, however due
        uow.conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == older).values(state="delivered"))
        uow.commit()

    first = _claim(deck, 1)
    assert [d.id for d in first] == [oldest]
    assert first[0].body == PAYLOAD and first[0].attempts == 0 and first[0].next_attempt_at == now + LEASE
    assert [d.id for d in _claim(deck, 10)] == [newest]  # the held one is not claimed again
    assert _claim(deck, 10) == []
    rows = _deliveries(deck)
    assert rows[oldest]["next_attempt_at"] == rows[newest]["next_attempt_at"] == now + LEASE
    assert rows[later]["next_attempt_at"] == now + timedelta(seconds=1)
    clock.advance(seconds=61)  # a lease that ran out: due again
    assert sorted(d.id for d in _claim(deck, 10)) == sorted([oldest, newest, later])


OK = webhooks.Outcome("delivered", 12, status=200, excerpt="thanks")
BUSY = webhooks.Outcome("retry", 30, status=503, error="The receiver answered 503", excerpt="busy")
SLOW_DOWN = webhooks.Outcome(
    "retry", 5, status=429, error="The receiver answered 429", retry_after=timedelta(seconds=90)
)
GONE = webhooks.Outcome("failed", 8, status=410, error="The receiver answered 410", excerpt="gone")


# Per subscription: its run of failures before, then the outcomes of its deliveries, in order.
SCENARIOS: list[tuple[int, list[webhooks.Outcome]]] = [
    (0, [OK, OK, OK]),  # stays at 0
    (3, [OK, BUSY]),  # back to 0; a retry does not count
    (2, [GONE, BUSY, GONE]),  # 4
    (6, [GONE, GONE]),  # 8: disabled
    (5, [GONE, OK, GONE, GONE]),  # a delivery ends the run: 2
    (7, [SLOW_DOWN, BUSY]),  # retries only: stays at 7
    (0, [GONE] * 9),  # 9 in one batch: disabled
]


def _world(deck: Orderdeck, clock: Clock) -> list[tuple[int, list[tuple[Delivery, webhooks.Outcome]]]]:
    """One subscription per scenario, with one claimed delivery per outcome."""
    world = []
    for failures, outcomes in SCENARIOS:
        sid = _subscribe(deck, "orders/create", failures=failures)
        _pending(deck, sid, [clock()] * len(outcomes))
        world.append(sid)
    claimed = _claim(deck, 1000)
    by_subscription: dict[int, list[Delivery]] = {}
    for d in sorted(claimed, key=lambda d: d.id):
        by_subscription.setdefault(d.subscription_id, []).append(d)
    return [
        (sid, list(zip(by_subscription[sid], outcomes, strict=True)))
        for sid, (_, outcomes) in zip(world, SCENARIOS, strict=True)
    ]


def _outcome_rows(deck: Orderdeck, world: list[tuple[int, list[tuple[Delivery, webhooks.Outcome]]]]) -> list[Any]:
    """What recording left, per scenario, without the ids that differ between two worlds."""
    with deck.unit_of_work(read_only=True) as uow:
        found = []
        for sid, results in world:
            subscription = Subscriptions(uow.conn).get(sid)
            deliveries = [_deliveries_by_id(uow.conn, d.id) for d, _ in results]
            attempts = [
                {k: v for k, v in a.items() if k not in ("id", "delivery_id")}
                for d, _ in results
                for a in uow.conn.execute(
                    select(webhook_attempts).where(webhook_attempts.c.delivery_id == d.id)
                ).mappings()
            ]
            found.append(
                (
                    subscription.consecutive_failures,
                    subscription.disabled_at,
                    subscription.disabled_reason,
                    deliveries,
                    attempts,
                )
            )
        return found


def _deliveries_by_id(conn: Any, delivery: str) -> dict[str, Any]:
    row = conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.id == delivery)).mappings().one()
    values = Delivery.of(row).__dict__
    return {k: v for k, v in values.items() if k not in ("id", "subscription_id", "event_id")}


def test_a_batch_of_attempts_records_what_recording_them_one_by_one_does(deck: Orderdeck, still: Clock) -> None:
    clock = still
    one_by_one = _world(deck, clock)
    batched = _world(deck, clock)
    clock.advance(seconds=2)
    with deck.unit_of_work() as uow:  # the same jitter for both: the same draws in the same order
        rng = random.Random(16)
        for _, results in one_by_one:
            for result in results:
                webhooks.record(uow.conn, [result], uow.now, "w1", webhooks.RETRY_DELAYS, rng)
        uow.commit()
    with deck.unit_of_work() as uow:
        rng = random.Random(16)
        mixed = [result for _, results in batched for result in results]
        finals = webhooks.record(uow.conn, mixed, uow.now, "w1", webhooks.RETRY_DELAYS, rng)
        uow.commit()

    assert finals.count("delivered") == 5 and finals.count("failed") == 16 and finals.count("retry") == 4
    expected = _outcome_rows(deck, one_by_one)
    assert _outcome_rows(deck, batched) == expected
    runs = [(failures, disabled is not None) for failures, disabled, *_ in expected]
    assert runs == [(0, False), (0, False), (4, False), (8, True), (2, False), (7, False), (9, True)]
    reason = expected[3][2]
    assert reason == (
        "Disabled after 8 deliveries in a row failed; the last: The receiver answered 410. "
        "Deliveries wait until the webhook is enabled again."
    )


def test_a_webhook_already_disabled_keeps_when_and_why(deck: Orderdeck, still: Clock) -> None:
    clock = still
    sid = _subscribe(deck, "orders/create", failures=8)
    waiting = _pending(deck, sid, [clock()])
    claimed = _claim(deck, 10)
    with deck.unit_of_work() as uow:
        Subscriptions(uow.conn).change(sid, uow.now, disabled_at=uow.now, disabled_reason="staff")
        uow.commit()
    clock.advance(minutes=5)
    with deck.unit_of_work() as uow:
        webhooks.record(uow.conn, [(claimed[0], GONE)], uow.now, "w1", webhooks.RETRY_DELAYS, random.Random(1))
        uow.commit()
    with deck.unit_of_work(read_only=True) as uow:
        after = Subscriptions(uow.conn).get(sid)
    assert waiting == [claimed[0].id]
    assert after.consecutive_failures == 9
    assert after.disabled_at == clock() - timedelta(minutes=5) and after.disabled_reason == "staff"
