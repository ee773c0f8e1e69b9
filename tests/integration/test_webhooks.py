"""Webhooks end to end: subscriptions through the API, deliveries to a real HTTP receiver on
127.0.0.1 with failures injected (slow, 500, 429 with Retry-After, connection refused, down for a
while then back), signatures, retries, disabling, redelivery, and the metrics."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import orjson
import pytest

from orderdeck.outbox import webhooks as sending
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from orderdeck.store.webhooks import webhook_secret

from ..conftest import SELL, Api, Clock, Shop
from .local_server import LocalServer

LINE = [{"title": "Mug", "price": "12.50", "quantity": 2}]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver(LocalServer):
    """A webhook receiver. `script` holds what to answer next: a status code, ("slow", seconds),
    (429, retry_after) or "drop" (close the connection without answering); when empty, 200."""

    got: list[Received] = field(default_factory=list)
    script: list[Any] = field(default_factory=list)
    answered: int = 0
    queue_size: ClassVar[int] = 128  # the worker sends a batch side by side

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append(Received(dict(self.headers.items()), body))
                step = receiver.script.pop(0) if receiver.script else 200
                if isinstance(step, tuple) and step[0] == "slow":
                    time.sleep(step[1])
                    step = 200
                headers: dict[str, str] = {}
                if isinstance(step, tuple):
                    step, headers = step[0], {"Retry-After": str(step[1])}
                self.send_response(step)
                for name, value in headers.items():
                    self.send_header(name, value)
                reply = b"thanks" if step < 300 else b"not now"
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                receiver.answered += 1

            def log_message(self, *args: Any) -> None:
                pass

        self.serve(Handler)
        return self


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def work(deck: Orderdeck, **options: Any) -> None:
    """Run the worker until nothing is due now."""
    asyncio.run(Worker(deck, run_jobs=False, **options).drain())


def subscribe(api: Api, address: str, topic: str = "orders/create", **extra: Any) -> dict[str, Any]:
    return api.ok(api.post("/webhooks.json", {"webhook": {"topic": topic, "address": address, **extra}}))["webhook"]  # type: ignore[no-any-return]


def deliveries(api: Api, webhook_id: int, **params: Any) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/webhooks/{webhook_id}/deliveries.json", params=params))["deliveries"]  # type: ignore[no-any-return]


def test_a_delivery_carries_shopifys_headers_and_a_valid_signature(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver
) -> None:
    hook = subscribe(api, receiver.url, fields=["id", "name", "total_price"])
    order = shop.order(LINE)
    work(deck)

    assert len(receiver.got) == 1
    got = receiver.got[0]
    with deck.unit_of_work() as uow:
        secret = webhook_secret(uow.conn, None)
    expected = base64.b64encode(hmac.new(secret.encode(), got.body, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(got.headers["X-Shopify-Hmac-Sha256"], expected)
    assert got.headers["X-Shopify-Topic"] == "orders/create"
    assert got.headers["X-Shopify-Shop-Domain"]
    assert got.headers["X-Shopify-API-Version"] == "2024-10"
    assert got.headers["Content-Type"] == "application/json"
    datetime.fromisoformat(got.headers["X-Shopify-Triggered-At"])
    # Only the fields the subscription asked for.
    assert got.json == {"id": order["id"], "name": order["name"], "total_price": order["total_price"]}

    [logged] = deliveries(api, hook["id"])
    assert logged["id"] == got.headers["X-Shopify-Webhook-Id"]
    assert logged["event_id"] == got.headers["X-Shopify-Event-Id"]
    assert logged["state"] == "delivered" and logged["order_id"] == order["id"]
    [attempt] = logged["attempt_log"]
    assert attempt["result"] == "delivered" and attempt["response_status"] == 200
    assert attempt["response_excerpt"] == "thanks"


def test_only_subscribed_topics_are_sent_and_every_subscription_gets_its_own_copy(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver
) -> None:
    other = Receiver().start()
    try:
        subscribe(api, receiver.url, topic="orders/cancelled")
        subscribe(api, receiver.url, topic="orders/create")
        subscribe(api, other.url, topic="orders/create")
        shop.order(LINE)
        work(deck)
        assert [g.headers["X-Shopify-Topic"] for g in receiver.got] == ["orders/create"]
        assert [g.headers["X-Shopify-Topic"] for g in other.got] == ["orders/create"]
        # Same event, one delivery id per subscription.
        assert receiver.got[0].headers["X-Shopify-Event-Id"] == other.got[0].headers["X-Shopify-Event-Id"]
        assert receiver.got[0].headers["X-Shopify-Webhook-Id"] != other.got[0].headers["X-Shopify-Webhook-Id"]
    finally:
        other.stop()


def test_a_server_error_is_retried_with_backoff_under_the_same_webhook_id(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver, clock: Clock
) -> None:
    hook = subscribe(api, receiver.url)
    receiver.script = [500, 503]
    shop.order(LINE)
    work(deck)
    [logged] = deliveries(api, hook["id"])
    assert logged["state"] == "pending" and logged["attempts"] == 1
    assert logged["last_error"] == "The receiver answered 500"
    due = datetime.fromisoformat(logged["next_attempt_at"])
    assert timedelta(seconds=7) <= due - clock.now <= timedelta(seconds=13)  # 10 s ± 20 % jitter

    work(deck)  # not due yet: nothing sent
    assert len(receiver.got) == 1
    clock.advance(seconds=13)
    work(deck)  # second attempt: 503
    clock.advance(seconds=40)
    work(deck)  # third: delivered
    assert len(receiver.got) == 3
    assert len({g.headers["X-Shopify-Webhook-Id"] for g in receiver.got}) == 1
    assert len({g.body for g in receiver.got}) == 1  # retries carry the original payload
    [logged] = deliveries(api, hook["id"])
    assert logged["state"] == "delivered"
    assert [a["result"] for a in logged["attempt_log"]] == ["retry", "retry", "delivered"]
    assert [a["response_status"] for a in logged["attempt_log"]] == [500, 503, 200]


def test_429_waits_as_long_as_retry_after_says(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver, clock: Clock
) -> None:
    hook = subscribe(api, receiver.url)
    receiver.script = [(429, 120)]
    shop.order(LINE)
    work(deck)
    clock.advance(seconds=60)  # the usual 10 s backoff would have retried by now
    work(deck)
    assert len(receiver.got) == 1
    clock.advance(seconds=61)
    work(deck)
    assert len(receiver.got) == 2
    assert deliveries(api, hook["id"])[0]["state"] == "delivered"


def test_other_4xx_answers_fail_without_retry(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver, clock: Clock
) -> None:
    hook = subscribe(api, receiver.url)
    receiver.script = [404]
    shop.order(LINE)
    work(deck)
    clock.advance(hours=5)
    work(deck)
    assert len(receiver.got) == 1
    [logged] = deliveries(api, hook["id"], state="failed")
    assert logged["attempts"] == 1 and logged["last_status"] == 404
    assert api.ok(api.get(f"/webhooks/{hook['id']}.json"))["webhook"]["consecutive_failures"] == 1


def test_a_slow_receiver_times_out_and_is_retried(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sending, "TOTAL_TIMEOUT", 0.3)
    hook = subscribe(api, receiver.url)
    receiver.script = [("slow", 1.0)]
    shop.order(LINE)
    work(deck)
    [logged] = deliveries(api, hook["id"])
    assert logged["state"] == "pending"
    assert logged["attempt_log"][0]["error"] == "No answer within 0.3 s"
    clock.advance(seconds=15)
    work(deck)
    assert deliveries(api, hook["id"])[0]["state"] == "delivered"


def test_a_receiver_down_for_a_while_gets_everything_when_it_is_back(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock
) -> None:
    port = free_port()
    later = Receiver(port=port)
    hook = subscribe(api, later.url)
    first = shop.order(LINE)
    work(deck)  # connection refused
    [logged] = deliveries(api, hook["id"])
    assert logged["state"] == "pending" and logged["attempt_log"][0]["error"].startswith("Could not connect")
    second = shop.order(LINE)
    clock.advance(seconds=15)
    work(deck)  # still down: both wait
    later.start()
    try:
        clock.advance(minutes=2)
        work(deck)
        assert sorted(g.json["id"] for g in later.got) == sorted([first["id"], second["id"]])
        assert {d["state"] for d in deliveries(api, hook["id"])} == {"delivered"}
    finally:
        later.stop()


def test_a_run_of_failures_disables_the_webhook_and_nothing_waiting_is_lost(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock
) -> None:
    down = Receiver(port=free_port())
    hook = subscribe(api, down.url)
    quick = {"retry_delays": (timedelta(seconds=1),)}  # two attempts per delivery
    for _ in range(sending.DISABLE_AFTER):
        shop.order(LINE)
    work(deck, **quick)
    clock.advance(seconds=2)
    work(deck, **quick)
    shown = api.ok(api.get(f"/webhooks/{hook['id']}.json"))["webhook"]
    assert shown["enabled"] is False
    assert "8 deliveries in a row failed" in shown["disabled_reason"]
    assert len(deliveries(api, hook["id"], state="failed")) == sending.DISABLE_AFTER

    waiting = shop.order(LINE)  # raised while disabled: kept, not sent
    down.start()
    try:
        clock.advance(minutes=5)
        work(deck, **quick)
        assert down.got == []
        assert len(deliveries(api, hook["id"], state="pending")) == 1

        api.ok(api.post(f"/webhooks/{hook['id']}/enable.json"))
        work(deck, **quick)
        assert [g.json["id"] for g in down.got] == [waiting["id"]]
        # The failed ones are sent again on request.
        answer = api.ok(api.post(f"/webhooks/{hook['id']}/redeliver.json", {"state": "failed"}))
        assert answer == {"redelivering": sending.DISABLE_AFTER}
        work(deck, **quick)
        assert len(down.got) == 1 + sending.DISABLE_AFTER
        assert {d["state"] for d in deliveries(api, hook["id"])} == {"delivered"}
        assert api.ok(api.get(f"/webhooks/{hook['id']}.json"))["webhook"]["consecutive_failures"] == 0
    finally:
        down.stop()


def test_giving_up_after_nine_attempts_over_about_four_hours(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock
) -> None:
    down = Receiver(port=free_port())
    hook = subscribe(api, down.url)
    shop.order(LINE)
    started = clock.now
    for _ in range(12):
        work(deck)
        [logged] = deliveries(api, hook["id"])
        if logged["state"] != "pending":
            break
        clock.now = datetime.fromisoformat(logged["next_attempt_at"]).astimezone(UTC) + timedelta(seconds=1)
    assert logged["state"] == "failed" and logged["attempts"] == 9
    assert logged["last_error"].startswith("Gave up after 9 attempts")
    assert timedelta(hours=3) < clock.now - started < timedelta(hours=5, minutes=30)
    # Sent again on request, it gets a whole new schedule, not a single last try.
    api.ok(api.post(f"/webhooks/{hook['id']}/redeliver.json", {"delivery_ids": [logged["id"]]}))
    work(deck)
    [logged] = deliveries(api, hook["id"])
    assert logged["state"] == "pending" and logged["attempts"] == 1


def test_redelivering_one_delivery_sends_the_same_id_and_body_again(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver
) -> None:
    hook = subscribe(api, receiver.url)
    shop.order(LINE)
    work(deck)
    [logged] = deliveries(api, hook["id"])
    api.ok(api.post(f"/webhooks/{hook['id']}/redeliver.json", {"delivery_ids": [logged["id"]]}))
    work(deck)
    assert len(receiver.got) == 2
    assert receiver.got[0].body == receiver.got[1].body
    assert receiver.got[0].headers["X-Shopify-Webhook-Id"] == receiver.got[1].headers["X-Shopify-Webhook-Id"]
    missing = api.post(f"/webhooks/{hook['id']}/redeliver.json", {"delivery_ids": ["nope"]})
    assert missing.status_code == 404


def test_status_topics_follow_the_change(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver, location: int
) -> None:
    for topic in ("orders/paid", "orders/fulfilled", "fulfillments/create", "orders/cancelled", "orders/delete"):
        subscribe(api, receiver.url, topic=topic)
    variant = shop.product("MUG", stock={location: 5})
    order = shop.order([{"variant_id": variant, "quantity": 1}], transactions=SELL)
    shop.fulfil(order["id"])
    work(deck)
    topics = sorted(g.headers["X-Shopify-Topic"] for g in receiver.got)
    assert topics == ["fulfillments/create", "orders/fulfilled", "orders/paid"]
    fulfillment = next(g for g in receiver.got if g.headers["X-Shopify-Topic"] == "fulfillments/create")
    assert fulfillment.json["order_id"] == order["id"]


def test_webhooks_resource_validates_and_manages_subscriptions(api: Api, receiver: Receiver) -> None:
    bad_topic = api.post("/webhooks.json", {"webhook": {"topic": "orders/exploded", "address": receiver.url}})
    assert bad_topic.status_code == 422 and "orders/exploded" in bad_topic.json()["errors"]["topic"][0]
    bad_address = api.post("/webhooks.json", {"webhook": {"topic": "orders/create", "address": "ftp://x"}})
    assert bad_address.status_code == 422 and "http" in bad_address.json()["errors"]["address"][0]
    missing = api.post("/webhooks.json", {"webhook": {"topic": "orders/create"}})
    assert missing.status_code == 422 and "address" in missing.json()["errors"]
    unknown = api.post("/webhooks.json", {"webhook": {"topic": "orders/create", "address": receiver.url, "x": 1}})
    assert unknown.status_code == 422
    xml = api.post("/webhooks.json", {"webhook": {"topic": "orders/create", "address": receiver.url, "format": "xml"}})
    assert xml.status_code == 422 and "json" in xml.json()["errors"]["format"][0]
    assert api.ok(api.get("/webhooks/count.json")) == {"count": 0}

    one = subscribe(api, receiver.url)
    two = subscribe(api, receiver.url, topic="orders/paid")
    assert one["format"] == "json" and one["enabled"] is True and one["api_version"] == "2024-10"
    assert api.ok(api.get("/webhooks/count.json", params={"topic": "orders/paid"})) == {"count": 1}
    listed = api.ok(api.get("/webhooks.json", params={"topic": "orders/create"}))["webhooks"]
    assert [w["id"] for w in listed] == [one["id"]]
    page = api.get("/webhooks.json", params={"limit": 1})
    assert [w["id"] for w in page.json()["webhooks"]] == [one["id"]] and 'rel="next"' in page.headers["Link"]
    third = subscribe(api, receiver.url + "/other")
    filtered = api.get("/webhooks.json", params={"limit": 1, "topic": "orders/create"})
    assert "topic=orders%2Fcreate" in filtered.headers["Link"]
    follow = filtered.headers["Link"].split(">")[0].lstrip("<").split("/admin/api/2024-10")[1]
    assert [w["id"] for w in api.ok(api.get(follow))["webhooks"]] == [third["id"]]
    api.ok(api.delete(f"/webhooks/{third['id']}.json"))
    taken = api.post("/webhooks.json", {"webhook": {"topic": "orders/create", "address": receiver.url}})
    assert taken.status_code == 422 and taken.json()["errors"] == {"address": ["for this topic has already been taken"]}
    wrong_type = api.post(
        "/webhooks.json", {"webhook": {"topic": "orders/create", "address": receiver.url, "fields": 3}}
    )
    assert wrong_type.status_code == 422 and "fields" in wrong_type.json()["errors"]

    changed = api.ok(api.put(f"/webhooks/{two['id']}.json", {"webhook": {"address": receiver.url + "/v2"}}))
    assert changed["webhook"]["address"] == receiver.url + "/v2" and changed["webhook"]["topic"] == "orders/paid"
    assert api.put(f"/webhooks/{two['id']}.json", {"webhook": {"topic": "nope"}}).status_code == 422
    assert api.ok(api.get(f"/webhooks/{two['id']}.json"))["webhook"]["address"] == receiver.url + "/v2"

    assert api.ok(api.delete(f"/webhooks/{two['id']}.json")) == {}
    assert api.get(f"/webhooks/{two['id']}.json").status_code == 404
    assert api.get("/webhooks/999999.json").status_code == 404


def test_metrics_show_the_outbox_and_deliveries(deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver) -> None:
    subscribe(api, receiver.url)
    shop.order(LINE)
    before = api.client.get("/metrics").text
    assert 'orderdeck_outbox_pending{kind="webhook"}' in before
    work(deck)
    after = api.client.get("/metrics").text
    assert 'orderdeck_outbox_pending{kind="webhook"}' not in after
    assert "orderdeck_webhook_deliveries_pending 0.0" in after
    assert 'orderdeck_webhook_attempts_total{result="delivered"}' in after
    assert "orderdeck_worker_lag_seconds 0.0" in after
    assert "orderdeck_automation_runs_pending 0.0" in after


def test_an_unusable_address_fails_its_deliveries_and_not_the_worker(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver
) -> None:
    refused = api.post("/webhooks.json", {"webhook": {"topic": "orders/create", "address": "http://xn--/hook"}})
    assert refused.status_code == 422 and "cannot be used" in refused.json()["errors"]["address"][0]
    # One stored before the check existed (or restored from elsewhere) still must not stop the worker.
    from orderdeck.store.webhooks import Subscriptions

    with deck.unit_of_work() as uow:
        broken = Subscriptions(uow.conn).add("orders/create", "http://xn--/hook", None, "2024-10", uow.now)
        uow.commit()
    good = subscribe(api, receiver.url)
    order = shop.order(LINE)
    work(deck)
    assert [g.json["id"] for g in receiver.got] == [order["id"]]
    [failed] = deliveries(api, broken.id)
    assert failed["state"] == "failed" and failed["last_error"].startswith("The address cannot be used")
    assert deliveries(api, good["id"])[0]["state"] == "delivered"


def test_a_slow_receiver_does_not_hold_up_the_others(
    deck: Orderdeck, api: Api, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The running worker (not `drain`) keeps sends going independently: an order placed while
    the slow receiver sits on its first request reaches the fast receiver meanwhile."""
    monkeypatch.setattr(sending, "TOTAL_TIMEOUT", 5.0)
    slow, fast = Receiver().start(), Receiver().start()
    slow.script = [("slow", 3.0)]
    try:
        hooks = [subscribe(api, slow.url)["id"], subscribe(api, fast.url)["id"]]
        shop.order(LINE)
        seen: list[tuple[int, int, int]] = []

        async def until(done: Any) -> None:
            for _ in range(400):
                if done():
                    return
                await asyncio.sleep(0.02)

        async def scenario() -> None:
            worker = Worker(deck, run_jobs=False, idle_wait=0.05)
            task = asyncio.create_task(worker.run())
            await until(lambda: len(slow.got) == 1 and len(fast.got) == 1)
            await asyncio.to_thread(shop.order, LINE)  # while the slow receiver still sleeps
            await until(lambda: len(fast.got) == 2)
            seen.append((len(fast.got), len(slow.got), slow.answered))
            await until(lambda: slow.answered == 2)
            worker.stop()
            await task

        asyncio.run(scenario())
        fast_got, slow_got, slow_answered = seen[0]
        assert fast_got == 2 and slow_answered < slow_got  # the fast one did not wait for the slow one
        assert {d["state"] for hook in hooks for d in deliveries(api, hook)} == {"delivered"}
    finally:
        slow.stop()
        fast.stop()
