"""Orderdeck tells a fulfillment service that a request waits for it (AFTER-THE-SALE §4.4):
`POST {callback_url}/fulfillment_order_notification`, signed like a webhook, to a real HTTP
service on 127.0.0.1; sent again with back-off after a 500, a refused connection or a timeout
until the service answers 2xx, and never again after; stopped when the request moved on (the
service answered it through the API, the merchant withdrew it) or the service is gone. A service
that is down holds up nobody else.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from orderdeck import destinations
from orderdeck.outbox import relay, service_calls, webhooks
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from orderdeck.store.fulfillment_services import FulfillmentServices
from orderdeck.store.service_notifications import ServiceNotifications
from orderdeck.store.tables import outbox
from orderdeck.store.webhooks import webhook_secret
from tests.conftest import Api, Clock, Shop
from tests.integration.service_steps import (
    Service,
    answer,
    create_service,
    notifications,
    request_fulfillment,
    stocked_order,
    work,
)

from .test_webhooks import free_port, subscribe


def test_a_request_notifies_the_service_once_signed_like_a_webhook(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any], clock: Clock
) -> None:
    order = stocked_order(shop, jupiter["location_id"])
    fo = request_fulfillment(api, shop, order)
    work(deck)

    [call] = service.notifications
    assert call.path == "/od/fulfillment_order_notification"
    assert call.json == {"kind": "FULFILLMENT_REQUEST"}
    with deck.unit_of_work(read_only=True) as uow:
        secret = webhook_secret(uow.conn, deck.settings.webhook_secret)
        domain = uow.shop.domain
    expected = base64.b64encode(hmac.new(secret.encode(), call.body, hashlib.sha256).digest()).decode()
    assert call.headers["X-Shopify-Hmac-Sha256"] == expected
    assert call.headers["X-Shopify-Shop-Domain"] == domain
    assert call.headers["Content-Type"] == "application/json"

    [sent] = notifications(deck, order["id"])
    assert (sent.state, sent.attempts, sent.last_status, sent.kind) == ("acknowledged", 1, 200, "fulfillment_request")
    assert (sent.service_id, sent.fulfillment_order_id) == (jupiter["id"], fo["id"])
    assert sent.acknowledged_at is not None

    clock.advance(hours=5)
    work(deck)
    assert len(service.notifications) == 1


def test_a_cancellation_request_notifies_with_its_kind(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    order = stocked_order(shop, jupiter["location_id"])
    fo = request_fulfillment(api, shop, order)
    work(deck)
    answer(api, fo, "fulfillment_request/accept")
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/cancellation_request.json", {"cancellation_request": {}}))
    work(deck)

    assert [c.json["kind"] for c in service.notifications] == ["FULFILLMENT_REQUEST", "CANCELLATION_REQUEST"]
    assert [(n.kind, n.state) for n in notifications(deck, order["id"])] == [
        ("fulfillment_request", "acknowledged"),
        ("cancellation_request", "acknowledged"),
    ]


def test_retried_after_a_500_and_a_refused_connection_until_the_service_answers(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock
) -> None:
    port = free_port()
    down = Service(port=port)
    jupiter = create_service(api, "Jupiter Fulfillment", down.url)
    order = stocked_order(shop, jupiter["location_id"])
    request_fulfillment(api, shop, order)
    work(deck)  # nobody listens: connection refused
    [n] = notifications(deck, order["id"])
    assert (n.state, n.attempts, n.last_status) == ("pending", 1, None)
    assert n.last_error is not None and n.last_error.startswith("Could not connect")

    work(deck)  # not due again yet: nothing is sent meanwhile
    assert notifications(deck, order["id"])[0].attempts == 1

    down.script = [500]
    down.start()
    try:
        clock.advance(seconds=13)
        work(deck)
        [n] = notifications(deck, order["id"])
        assert (n.state, n.attempts, n.last_status) == ("pending", 2, 500)
        assert n.last_error == 'The service answered 500: {"error":"warehouse system down"}'

        clock.advance(seconds=37)
        work(deck)
        [n] = notifications(deck, order["id"])
        assert (n.state, n.attempts, n.last_status, n.last_error) == ("acknowledged", 3, 200, None)
        assert len(down.notifications) == 2

        clock.advance(days=1)
        work(deck)
        assert len(down.notifications) == 2
    finally:
        down.stop()


def test_back_off_grows_and_is_capped(deck: Orderdeck, api: Api, shop: Shop, clock: Clock) -> None:
    jupiter = create_service(api, "Jupiter Fulfillment", Service(port=free_port()).url)
    order = stocked_order(shop, jupiter["location_id"])
    request_fulfillment(api, shop, order)
    waits = []
    for _ in range(12):
        work(deck)
        [n] = notifications(deck, order["id"])
        assert n.next_attempt_at is not None and n.last_attempt_at is not None
        waits.append((n.next_attempt_at - n.last_attempt_at).total_seconds())
        clock.now = n.next_attempt_at
    assert notifications(deck, order["id"])[0].attempts == 12
    assert waits[0] < waits[3] < waits[6]
    assert max(waits) <= 2 * 3600 * 1.2  # never more than the cap, whatever the jitter
    assert waits[-1] >= 2 * 3600 * 0.8  # and it keeps going at the cap


def test_the_service_answering_through_the_api_stops_the_retries(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any], clock: Clock
) -> None:
    order = stocked_order(shop, jupiter["location_id"])
    fo = request_fulfillment(api, shop, order)
    service.script = [500]
    work(deck)
    assert notifications(deck, order["id"])[0].state == "pending"

    # The service polled its assigned fulfillment orders anyway and accepted: that is an answer.
    answer(api, fo, "fulfillment_request/accept")
    [n] = notifications(deck, order["id"])
    assert (n.state, n.attempts, n.last_status) == ("acknowledged", 1, 500)
    clock.advance(hours=3)
    work(deck)
    assert len(service.notifications) == 1
    with deck.unit_of_work(read_only=True) as uow:
        assert ServiceNotifications(uow.conn).unacknowledged_since(clock.now) == []


def test_a_request_withdrawn_before_the_service_heard_of_it_is_not_sent(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    order = stocked_order(shop, jupiter["location_id"])
    fo = request_fulfillment(api, shop, order)
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/cancel.json"))  # before the worker ran
    work(deck)
    assert service.notifications == []
    [n] = notifications(deck, order["id"])
    assert (n.state, n.attempts) == ("abandoned", 0)


def test_a_notification_for_a_deleted_service_is_abandoned(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any], clock: Clock
) -> None:
    order = stocked_order(shop, jupiter["location_id"])
    request_fulfillment(api, shop, order)
    service.script = [503]
    work(deck)
    # The API refuses to delete a service while requests wait for it; the row can still go (an
    # operator's clean-up, a restore): what waited for it stops, with the reason.
    with deck.unit_of_work() as uow:
        FulfillmentServices(uow.conn).delete(jupiter["id"])
        uow.commit()
    clock.advance(minutes=1)
    work(deck)
    assert len(service.notifications) == 1
    [n] = notifications(deck, order["id"])
    assert (n.state, n.last_error) == ("abandoned", "The fulfillment service was deleted")


def test_relaying_a_message_again_does_not_notify_twice(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    order = stocked_order(shop, jupiter["location_id"])
    request_fulfillment(api, shop, order)
    relay.relay(deck, kinds=("service_call",))
    with deck.unit_of_work() as uow:  # as if the relay's mark were lost (a restore)
        uow.conn.execute(update(outbox).where(outbox.c.kind == "service_call").values(delivered_at=None))
        uow.commit()
    assert relay.relay(deck, kinds=("service_call",)) == 1
    work(deck)
    assert len(notifications(deck, order["id"])) == 1
    assert len(service.notifications) == 1


def test_a_service_that_is_down_holds_up_nobody_else(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    hook = Service().start()
    try:
        subscribe(api, hook.url, topic="fulfillment_orders/fulfillment_request_submitted")
        mars = create_service(api, "Mars Fulfillment", Service(port=free_port()).url)
        stuck = stocked_order(shop, mars["location_id"], "PLATE-1")
        fine = stocked_order(shop, jupiter["location_id"])
        request_fulfillment(api, shop, stuck)
        request_fulfillment(api, shop, fine)
        started = time.perf_counter()
        work(deck)
        assert time.perf_counter() - started < 15  # a refused connection costs no timeout
        assert len(service.notifications) == 1
        assert len(hook.notifications) == 2  # both webhooks delivered
        assert notifications(deck, fine["id"])[0].state == "acknowledged"
        assert notifications(deck, stuck["id"])[0].state == "pending"
    finally:
        hook.stop()


def test_unacknowledged_notifications_are_listed_for_the_stuck_order_sweep(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any], clock: Clock
) -> None:
    order = stocked_order(shop, jupiter["location_id"])
    fo = request_fulfillment(api, shop, order)
    service.script = [500] * 20
    work(deck)
    sent_at = clock.now
    with deck.unit_of_work(read_only=True) as uow:
        assert ServiceNotifications(uow.conn).unacknowledged_since(sent_at - timedelta(hours=4)) == []
    clock.advance(hours=5)
    work(deck)
    with deck.unit_of_work(read_only=True) as uow:
        [late] = ServiceNotifications(uow.conn).unacknowledged_since(clock.now - timedelta(hours=4))
    assert (late.order_id, late.fulfillment_order_id, late.service_id) == (order["id"], fo["id"], jupiter["id"])
    assert late.attempts == 2 and late.last_error is not None and "500" in late.last_error
    assert late.created_at <= sent_at


def test_two_workers_at_once_send_each_notification_once(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    placed = [stocked_order(shop, jupiter["location_id"], f"SKU-{i}") for i in range(8)]
    for order in placed:
        request_fulfillment(api, shop, order)
    relay.relay(deck)
    service.script = [("slow", 0.2)] * 8  # both workers find work while the other sends

    async def both() -> None:
        await asyncio.gather(Worker(deck, run_jobs=False).drain(), Worker(deck, run_jobs=False).drain())

    asyncio.run(both())
    assert len(service.notifications) == 8
    assert all(n.state == "acknowledged" and n.attempts == 1 for o in placed for n in notifications(deck, o["id"]))


def test_a_running_worker_sends_notifications_in_a_loop_of_their_own(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    order = stocked_order(shop, jupiter["location_id"])
    request_fulfillment(api, shop, order)

    async def run_until_sent() -> None:
        worker = Worker(deck, run_jobs=False, idle_wait=0.05)
        running = asyncio.create_task(worker.run())
        for _ in range(200):
            if service.notifications:
                break
            await asyncio.sleep(0.05)
        worker.stop()
        await running

    asyncio.run(run_until_sent())
    assert len(service.notifications) == 1
    assert notifications(deck, order["id"])[0].state == "acknowledged"


def test_a_round_claims_no_more_than_it_can_send_within_its_lease(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, jupiter: dict[str, Any]
) -> None:
    """Claimed notifications are held for LEASE; a round sends `in_flight` at a time, each taking
    up to TIMEOUT. A round claiming more waves than fit in the lease (50 at 8 in flight: 7 waves,
    140 s against a lease of 90 s) would have its last ones claimed again by another worker
    while still waiting here, and sent twice. So a round claims only what fits."""
    assert service_calls.LEASE.total_seconds() > service_calls.WAVES * service_calls.TIMEOUT
    placed = [stocked_order(shop, jupiter["location_id"], f"SKU-{i}") for i in range(service_calls.WAVES + 1)]
    for order in placed:
        request_fulfillment(api, shop, order)
    relay.relay(deck)

    async def one_round() -> int:
        async with webhooks.client(destinations.of(deck.settings)) as client:
            return await service_calls.send_due(deck, client, "worker-1", in_flight=1)

    assert asyncio.run(one_round()) == service_calls.WAVES
    assert len(service.notifications) == service_calls.WAVES
    assert asyncio.run(one_round()) == 1
    assert all(n.state == "acknowledged" and n.attempts == 1 for o in placed for n in notifications(deck, o["id"]))
