"""The daily `retention` job forgets notifications to fulfillment services that ended
(acknowledged by the service, or abandoned because the request moved on) once they are older
than the shop's retention period, as it forgets webhook deliveries; a notification still pending
stays however old, because the service has not heard of its request yet.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from typing import Any

from orderdeck.outbox import relay, scheduler
from orderdeck.services.context import Orderdeck
from tests.conftest import Api, Clock, Shop
from tests.integration.service_steps import (
    Service,
    create_service,
    notifications,
    request_fulfillment,
    stocked_order,
    work,
)


def states(deck: Orderdeck, *orders: dict[str, Any]) -> list[list[str]]:
    return [[n.state for n in notifications(deck, order["id"])] for order in orders]


def test_ended_notifications_older_than_the_retention_period_go_and_pending_ones_stay(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, clock: Clock
) -> None:
    shop.settings(retention_days=30)
    jupiter = create_service(api, "Jupiter Fulfillment", service.url)
    at = jupiter["location_id"]
    acknowledged = stocked_order(shop, at, "MUG-1")
    request_fulfillment(api, shop, acknowledged)
    withdrawn = stocked_order(shop, at, "MUG-2")
    fo = request_fulfillment(api, shop, withdrawn)
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/cancel.json"))  # before the service heard of it
    work(deck)
    assert states(deck, acknowledged, withdrawn) == [["acknowledged"], ["abandoned"]]

    clock.advance(days=20)
    recent = stocked_order(shop, at, "MUG-3")
    request_fulfillment(api, shop, recent)
    work(deck)
    waiting = stocked_order(shop, at, "MUG-4")
    request_fulfillment(api, shop, waiting)
    relay.relay(deck, kinds=("service_call",))  # queued for the service, not sent yet
    clock.advance(days=11)

    scheduler.run_now(deck, "retention", "test")
    assert states(deck, acknowledged, withdrawn, recent, waiting) == [[], [], ["acknowledged"], ["pending"]]

    clock.advance(days=30)  # the pending one is now old too, and still waits for its service
    scheduler.run_now(deck, "retention", "test")
    assert states(deck, recent, waiting) == [[], ["pending"]]
