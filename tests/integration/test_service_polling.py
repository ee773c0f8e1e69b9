"""Orderdeck asks fulfillment services what they know (AFTER-THE-SALE §4.4), as the scheduled
jobs `fetch-stock` and `fetch-tracking-numbers`, against a real HTTP service on 127.0.0.1: the
stock it reports is what it physically holds, the on-hand stock at its location, and available is
that less what Orderdeck's orders commit there (no unit counted twice; unknown SKUs are ignored);
the tracking numbers it reports are added to its fulfillments as staff
would add them (URL, webhook). Errors, nonsense and timeouts are recorded on the service and
stop neither the job nor the other services.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from orderdeck.outbox import scheduler
from orderdeck.services import service_sync
from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import fulfillment_services, outbox
from tests.conftest import Api, Clock, Shop
from tests.integration.order_steps import open_fo
from tests.integration.service_steps import (
    Service,
    create_service,
    request_fulfillment,
    stocked_order,
    work,
)
from tests.integration.test_webhooks import free_port


def row(deck: Orderdeck, service_id: int) -> Any:
    with deck.unit_of_work(read_only=True) as uow:
        return uow.conn.execute(select(fulfillment_services).where(fulfillment_services.c.id == service_id)).one()


def gets(service: Service, action: str) -> list[Any]:
    return [c for c in service.calls if c.method == "GET" and c.path == f"/od/{action}.json"]


# ---- fetch_stock --------------------------------------------------------------------------------------


@pytest.fixture
def stocking(api: Api, service: Service) -> dict[str, Any]:
    return create_service(api, "Jupiter Fulfillment", service.url, inventory_management=True)


def test_reported_stock_becomes_on_hand_at_the_services_location(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, stocking: dict[str, Any], clock: Clock
) -> None:
    at = stocking["location_id"]
    elsewhere = shop.location("Amsterdam")
    order = stocked_order(shop, at)  # two MUG-1 committed at the service's location
    mug = order["line_items"][0]["variant_id"]
    plate = shop.product("PLATE-1", stock={at: 5, elsewhere: 7})
    service.stock = {"MUG-1": 40, "PLATE-1": 5, "GHOST-9": 3}

    assert service_sync.sync_stock(deck) == 1

    [call] = gets(service, "fetch_stock")
    with deck.unit_of_work(read_only=True) as uow:
        domain = uow.shop.domain
    assert call.query["shop"] == [domain]
    assert call.query["location_id"] == [str(at)]
    assert call.query["timestamp"][0].isdecimal()
    assert "sku" not in call.query  # all SKUs at once
    assert shop.level(mug, at) == {**shop.level(mug, at), "available": 38, "committed": 2, "on_hand": 40}
    assert (shop.level(plate, at)["available"], shop.level(plate, elsewhere)["available"]) == (5, 7)
    synced = row(deck, stocking["id"])
    assert synced.stock_synced_at is not None and synced.sync_error is None

    service.stock = {"stock_levels": {"MUG-1": "12"}}  # the other shape Shopify's client took
    clock.advance(hours=1)
    service_sync.sync_stock(deck)
    assert (shop.level(mug, at)["on_hand"], shop.level(mug, at)["available"]) == (12, 10)


def test_units_committed_but_never_requested_are_not_counted_twice(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, stocking: dict[str, Any]
) -> None:
    """An order placed at the service's location and not requested yet: its two mugs are still on
    the service's shelf, which reports them; Orderdeck keeps them committed and does not add them
    on top of what the shelf holds."""
    at = stocking["location_id"]
    order = stocked_order(shop, at)
    mug = order["line_items"][0]["variant_id"]
    assert open_fo(shop, order["id"])["request_status"] == "unsubmitted"
    service.stock = {"MUG-1": 10}  # the ten mugs it was given, none shipped

    service_sync.sync_stock(deck)

    assert shop.level(mug, at) == {**shop.level(mug, at), "on_hand": 10, "committed": 2, "available": 8}
    service_sync.sync_stock(deck)  # asked again: the same answer changes nothing
    assert shop.level(mug, at)["available"] == 8

    request_fulfillment(api, shop, order)  # requested: still committed, still on its shelf
    service_sync.sync_stock(deck)
    assert shop.level(mug, at) == {**shop.level(mug, at), "on_hand": 10, "committed": 2, "available": 8}


def test_a_shelf_short_of_what_orders_wait_for_shows_negative_available(
    deck: Orderdeck, shop: Shop, service: Service, stocking: dict[str, Any]
) -> None:
    """The service holds fewer units than Orderdeck's orders commit there (broken or lost stock):
    available goes below zero and says by how much, rather than being clamped to 0."""
    at = stocking["location_id"]
    order = stocked_order(shop, at)
    mug = order["line_items"][0]["variant_id"]
    service.stock = {"MUG-1": 1}

    service_sync.sync_stock(deck)

    assert shop.level(mug, at) == {**shop.level(mug, at), "on_hand": 1, "committed": 2, "available": -1}


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ((500, b"warehouse db down"), "fetch_stock: the service answered 500: warehouse db down"),
        ((200, b"<html>hello</html>"), "fetch_stock: the answer is not JSON"),
        ({"MUG-1": -3}, "fetch_stock: the quantity of SKU 'MUG-1' is -3, not a whole number of 0 or more"),
        ({"MUG-1": 2.5}, "not a whole number"),
        ([1, 2, 3], "fetch_stock: the answer is not a map of SKUs to quantities"),
    ],
)
def test_a_bad_stock_answer_is_recorded_and_changes_nothing(
    deck: Orderdeck, shop: Shop, service: Service, stocking: dict[str, Any], answer: Any, says: str
) -> None:
    order = stocked_order(shop, stocking["location_id"])
    mug = order["line_items"][0]["variant_id"]
    service.stock = answer
    assert scheduler.run_now(deck, "fetch-stock", "test") == "0 fulfillment service(s) reported their stock"
    synced = row(deck, stocking["id"])
    assert says in synced.sync_error and synced.sync_error_at is not None and synced.stock_synced_at is None
    assert shop.level(mug, stocking["location_id"])["available"] == 8

    service.stock = {"MUG-1": 9}  # the next good answer clears the error
    service_sync.sync_stock(deck)
    assert row(deck, stocking["id"]).sync_error is None
    assert shop.level(mug, stocking["location_id"])["available"] == 7  # 9 held, 2 committed


def test_a_service_down_or_slow_holds_up_no_other_service(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, stocking: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_sync, "TIMEOUT", 0.5)
    down = create_service(api, "Mars Fulfillment", Service(port=free_port()).url, inventory_management=True)
    slow_service = Service(stock=("slow", 2.0)).start()
    try:
        slow = create_service(api, "Venus Fulfillment", slow_service.url, inventory_management=True)
        order = stocked_order(shop, stocking["location_id"])
        service.stock = {"MUG-1": 30}
        assert service_sync.sync_stock(deck) == 1
    finally:
        slow_service.stop()
    assert shop.level(order["line_items"][0]["variant_id"], stocking["location_id"])["on_hand"] == 30
    assert row(deck, down["id"]).sync_error.startswith("fetch_stock: could not connect")
    assert row(deck, slow["id"]).sync_error == "fetch_stock: no answer within 0.5 s"
    assert row(deck, stocking["id"]).sync_error is None


def test_services_without_inventory_management_are_not_asked(deck: Orderdeck, api: Api, service: Service) -> None:
    create_service(api, "Jupiter Fulfillment", service.url)
    assert service_sync.sync_stock(deck) == 0
    assert service.calls == []


# ---- fetch_tracking_numbers ----------------------------------------------------------------------------


@pytest.fixture
def tracking(api: Api, service: Service) -> dict[str, Any]:
    return create_service(api, "Jupiter Fulfillment", service.url, tracking_support=True)


def shipped_without_tracking(api: Api, shop: Shop, location_id: int, sku: str = "MUG-1") -> tuple[dict[str, Any], str]:
    """An order the service accepted and shipped without a number: the order and the fulfillment's name."""
    order = stocked_order(shop, location_id, sku)
    fo = request_fulfillment(api, shop, order)
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request/accept.json", {"fulfillment_request": {}}))
    body = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}}
    fulfillment = api.ok(api.post("/fulfillments.json", body))["fulfillment"]
    assert fulfillment["tracking_number"] is None
    return order, fulfillment["name"]


def test_tracking_numbers_the_service_reports_are_added_to_its_fulfillments(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, tracking: dict[str, Any], clock: Clock
) -> None:
    order, name = shipped_without_tracking(api, shop, tracking["location_id"])
    other, other_name = shipped_without_tracking(api, shop, tracking["location_id"], "PLATE-1")
    service.tracking = {
        "tracking_numbers": {name: "1Z999AA10123456784", "#9999.1": "made-up"},
        "message": "Successfully received the tracking numbers",
        "success": True,
    }
    assert service_sync.sync_tracking(deck) == 1

    [call] = gets(service, "fetch_tracking_numbers")
    assert sorted(call.query["order_names[]"]) == sorted([name, other_name])
    assert call.query["shop"]
    [fulfillment] = shop.get(order["id"])["fulfillments"]
    assert fulfillment["tracking_number"] == "1Z999AA10123456784"
    assert fulfillment["tracking_company"] == "UPS"
    assert fulfillment["tracking_url"]
    assert shop.get(other["id"])["fulfillments"][0]["tracking_number"] is None
    with deck.unit_of_work(read_only=True) as uow:
        topics = uow.conn.execute(
            select(outbox.c.topic).where(outbox.c.order_id == order["id"], outbox.c.kind == "webhook")
        ).scalars()
        assert "fulfillments/update" in list(topics)
    assert row(deck, tracking["id"]).tracking_synced_at is not None

    # Next time only the fulfillment still without a number is asked about (the bare map works too).
    service.tracking = {other_name: ["9400100000000000000000"]}
    clock.advance(hours=1)
    service_sync.sync_tracking(deck)
    last = gets(service, "fetch_tracking_numbers")[-1]
    assert last.query["order_names[]"] == [other_name]
    assert shop.get(other["id"])["fulfillments"][0]["tracking_number"] == "9400100000000000000000"

    service.calls.clear()
    service_sync.sync_tracking(deck)
    assert gets(service, "fetch_tracking_numbers") == []  # nothing left to ask about


def test_a_run_that_outlasts_its_budget_stops_between_calls_and_the_next_asks_the_rest(
    deck: Orderdeck,
    api: Api,
    shop: Shop,
    service: Service,
    tracking: dict[str, Any],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scheduled run stops inside the scheduler's job lease (another worker would otherwise
    take the job and ask the same services again); what it did not ask, the next run asks."""
    first, first_name = shipped_without_tracking(api, shop, tracking["location_id"])
    second, second_name = shipped_without_tracking(api, shop, tracking["location_id"], "PLATE-1")
    service.tracking = {first_name: "1Z999AA10123456784", second_name: "1Z999AA10123456791"}
    monkeypatch.setattr(service_sync, "NAMES_PER_CALL", 1)
    asked = service_sync._get

    def slow_get(*args: Any) -> Any:
        answer = asked(*args)
        clock.advance(minutes=11)  # each call takes longer than the run's whole budget
        return answer

    monkeypatch.setattr(service_sync, "_get", slow_get)
    service_sync.sync_tracking(deck)
    assert len(gets(service, "fetch_tracking_numbers")) == 1
    numbers = [shop.get(o["id"])["fulfillments"][0]["tracking_number"] for o in (first, second)]
    assert numbers.count(None) == 1

    service_sync.sync_tracking(deck)
    assert len(gets(service, "fetch_tracking_numbers")) == 2
    assert all(shop.get(o["id"])["fulfillments"][0]["tracking_number"] for o in (first, second))


def test_fulfillments_cancelled_or_tracked_elsewhere_are_not_asked_about(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, tracking: dict[str, Any]
) -> None:
    cancelled, _ = shipped_without_tracking(api, shop, tracking["location_id"])
    [f] = shop.get(cancelled["id"])["fulfillments"]
    api.ok(api.post(f"/fulfillments/{f['id']}/cancel.json", {}))
    service.tracking = {}
    service_sync.sync_tracking(deck)
    assert gets(service, "fetch_tracking_numbers") == []


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ({"tracking_numbers": {}, "message": "API key expired", "success": False}, "success: false: API key expired"),
        ((404, b"no such page"), "fetch_tracking_numbers: the service answered 404: no such page"),
        ((200, b"tracking numbers: none"), "fetch_tracking_numbers: the answer is not JSON"),
    ],
)
def test_a_bad_tracking_answer_is_recorded(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, tracking: dict[str, Any], answer: Any, says: str
) -> None:
    order, _ = shipped_without_tracking(api, shop, tracking["location_id"])
    service.tracking = answer
    assert scheduler.run_now(deck, "fetch-tracking-numbers", "test").startswith("0 ")
    synced = row(deck, tracking["id"])
    assert says in synced.sync_error and synced.tracking_synced_at is None
    assert shop.get(order["id"])["fulfillments"][0]["tracking_number"] is None


def test_the_callback_url_is_a_prefix_with_or_without_its_slash(
    deck: Orderdeck, api: Api, shop: Shop, service: Service, tracking: dict[str, Any]
) -> None:
    bare = {"fulfillment_service": {"callback_url": service.url.rstrip("/")}}
    api.ok(api.put(f"/fulfillment_services/{tracking['id']}.json", bare))
    order = stocked_order(shop, tracking["location_id"])
    fo = request_fulfillment(api, shop, order)
    work(deck)
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request/accept.json", {"fulfillment_request": {}}))
    body = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}}
    api.ok(api.post("/fulfillments.json", body))
    service_sync.sync_tracking(deck)
    assert [(c.method, c.path) for c in service.calls] == [
        ("POST", "/od/fulfillment_order_notification"),
        ("GET", "/od/fetch_tracking_numbers.json"),
    ]
