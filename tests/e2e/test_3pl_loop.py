"""The 3PL loop end to end (issue 15): Orderdeck serving over HTTP, the reference 3PL
(orderdeck.reference_3pl) in its own HTTP server talking to it only through the Admin API with a
token of its own, and Orderdeck's worker (`Worker.drain()`) delivering what leaves the outbox.

The merchant's side (setup, requests, cancellations, moves) goes through the Admin API too; the
carrier's news comes from the number's tracker (karrio polling the local carrier server of
tests/integration/carrier_server.py). Each test runs on SQLite and on
PostgreSQL. The reference service ships at once (ship_after=0) and reads its assigned work only
when notified unless a test says otherwise, so what it does follows from what Orderdeck sent."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from sqlalchemy import select

from orderdeck.outbox.worker import Worker
from orderdeck.reference_3pl import SCOPES, Config, Reference3PL, Shelf, parse_stock, signature
from orderdeck.services import service_sync, sweeps, trackers
from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import service_notifications
from orderdeck.store.webhooks import webhook_secret
from tests.conftest import Api, Clock, Shop, make_token
from tests.e2e.test_shopify_client import _free_port, server  # noqa: F401  (fixture)
from tests.integration.test_trackers import add_account, carrier, carriers  # noqa: F401  (fixtures)

NEVER = 3600.0  # a poll interval no test reaches: the service acts on notifications only


def eventually(check: Callable[[], Any], what: str, within: float = 20.0) -> Any:
    """Wait for `check` to return something true (the two servers work in their own threads)."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within:.0f} s (last: {found!r})")
        time.sleep(0.02)


class Running3PL:
    """A reference 3PL under uvicorn in a thread; `service` is its state, to look at."""

    def __init__(self, config: Config) -> None:
        self.service = Reference3PL(config)
        self.config = config
        self.url = config.callback_url
        self._server = uvicorn.Server(
            uvicorn.Config(self.service.app(), host=config.host, port=config.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, name="reference-3pl", daemon=True)

    def __enter__(self) -> Running3PL:
        self._thread.start()
        eventually(lambda: self._server.started or not self._thread.is_alive(), "the reference 3PL started")
        if not self._server.started:
            pytest.fail("the reference 3PL stopped before it served (could it register?)")
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    @property
    def location_id(self) -> int:
        assert self.service.service is not None
        return int(self.service.service["location_id"])

    def did(self, action: str) -> list[int]:
        return [fo_id for what, fo_id in self.service.answered if what == action]

    def done(self, action: str, fo_id: int) -> None:
        """Wait until the service has done it: it records an action once Orderdeck answered it, so
        Orderdeck's side is there by then."""
        eventually(lambda: fo_id in self.did(action), f"the service {action} fulfillment order {fo_id}")


@pytest.fixture
def start_3pl(deck: Orderdeck, server: int) -> Iterator[Callable[..., Running3PL]]:  # noqa: F811
    """Starts reference 3PLs against the running Orderdeck, each with a token of its own."""
    started: list[Running3PL] = []

    def start(**options: Any) -> Running3PL:
        port = _free_port()
        defaults: dict[str, Any] = {"ship_after": 0.0, "poll_every": NEVER, "port": port}
        if "token" not in options:
            options["token"] = make_token(deck, list(SCOPES), name=f"{options.get('name', 'Reference 3PL')} app")
        config = Config(orderdeck_url=f"http://127.0.0.1:{server}", **{**defaults, **options})
        running = Running3PL(config).__enter__()
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        running.__exit__()


def drain(deck: Orderdeck) -> None:
    """Orderdeck's worker until nothing is due: relay the outbox, notify the services."""
    asyncio.run(Worker(deck, run_jobs=False).drain())


def shop_secret(deck: Orderdeck) -> str:
    """What signs webhooks and service notifications (`orderdeck webhooks secret`)."""
    with deck.unit_of_work() as uow:
        secret = webhook_secret(uow.conn, deck.settings.webhook_secret)
        uow.commit()
    return secret


def notifications_of(deck: Orderdeck, order_id: int) -> list[Any]:
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(
            select(service_notifications).where(service_notifications.c.order_id == order_id)
        ).mappings()
        return [dict(row) for row in rows]


def request_fulfillment(api: Api, fo_id: int, **extra: Any) -> dict[str, Any]:
    body = {"fulfillment_request": {"message": "Please ship this.", **extra}}
    return api.ok(api.post(f"/fulfillment_orders/{fo_id}/fulfillment_request.json", body))  # type: ignore[no-any-return]


def fulfillment_order(api: Api, fo_id: int) -> dict[str, Any]:
    return api.ok(api.get(f"/fulfillment_orders/{fo_id}.json"))["fulfillment_order"]  # type: ignore[no-any-return]


def only_fo(shop: Shop, order_id: int) -> dict[str, Any]:
    [fo] = [fo for fo in shop.fulfillment_orders(order_id) if fo["status"] in ("open", "in_progress")]
    return fo


def timeline(api: Api, order_id: int) -> list[str]:
    return [e["message"] for e in api.ok(api.get(f"/orders/{order_id}/events.json"))["events"]]


def paid_order(shop: Shop, variant_id: int, quantity: int = 1) -> dict[str, Any]:
    sale = [{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}]
    return shop.order([{"variant_id": variant_id, "quantity": quantity}], transactions=sale)


# ---- the reference service itself --------------------------------------------------------------


def test_the_reference_3pl_registers_once_and_answers_the_callbacks_over_http(api, shop, start_3pl):
    first = start_3pl(stock={"MUG-1": 7, "PLATE-1": 0})
    service = first.service.service
    assert service is not None
    assert (service["callback_url"], service["inventory_management"], service["tracking_support"]) == (
        first.url,
        True,
        True,
    )
    stock = httpx.get(f"{first.url}/fetch_stock.json", params={"shop": "shop.test", "timestamp": "1"}).json()
    assert stock == {"MUG-1": 7, "PLATE-1": 0}
    assert httpx.get(f"{first.url}/fetch_stock", params={"sku": "MUG-1"}).json() == {"MUG-1": 7}
    numbers = httpx.get(f"{first.url}/fetch_tracking_numbers.json", params={"order_names[]": "#1001.1"}).json()
    assert numbers == {"tracking_numbers": {}, "message": "Successfully received the tracking numbers", "success": True}
    for wrong in ({"kind": "SOMETHING"}, ["FULFILLMENT_REQUEST"], "FULFILLMENT_REQUEST"):
        assert httpx.post(f"{first.url}/fulfillment_order_notification", json=wrong).status_code == 400
    assert first.service.notifications == []
    first.__exit__()

    # Started again with the same token on another port: the same service, pointed at the new address.
    again = start_3pl(stock={"MUG-1": 7}, token=first.config.token)
    assert again.service.service is not None
    assert again.service.service["id"] == service["id"]
    assert again.service.service["callback_url"] == again.url
    listed = api.ok(api.get("/fulfillment_services.json?scope=all"))["fulfillment_services"]
    assert [(s["name"], s["callback_url"]) for s in listed] == [("Reference 3PL", again.url)]


def test_a_notification_with_a_bad_signature_is_refused_when_the_service_knows_the_secret(start_3pl):
    secret = "the-shops-webhook-secret"
    running = start_3pl(secret=secret)
    body = orjson.dumps({"kind": "FULFILLMENT_REQUEST"})
    url = f"{running.url}/fulfillment_order_notification"
    wrong = httpx.post(url, content=body, headers={"X-Shopify-Hmac-Sha256": signature(body, "guessed")})
    assert wrong.status_code == 401
    right = httpx.post(url, content=body, headers={"X-Shopify-Hmac-Sha256": signature(body, secret)})
    assert right.status_code == 200
    assert running.service.notifications == ["FULFILLMENT_REQUEST"]


# ---- the loop ----------------------------------------------------------------------------------


def test_a_lost_notification_is_made_up_for_by_the_services_own_poll(api, shop, start_3pl):
    """Nothing tells the service (no worker runs): its periodic read of the assigned work finds
    the request, accepts it and ships."""
    running = start_3pl(stock={"MUG-1": 5}, poll_every=0.2)
    mug = shop.product("MUG-1", stock={running.location_id: 5}, title="Delft mug")
    order = paid_order(shop, mug, 2)
    fo = only_fo(shop, order["id"])
    request_fulfillment(api, fo["id"])
    running.done("shipped", fo["id"])
    assert fulfillment_order(api, fo["id"])["status"] == "closed"
    assert running.did("accepted") == running.did("shipped") == [fo["id"]]
    assert running.service.notifications == []


def test_requested_accepted_shipped_tracked_to_delivered(deck, api, shop, start_3pl, carrier, clock):  # noqa: F811
    """The whole loop: payment requests fulfillment (the shop's automatic requests), Orderdeck
    notifies the service (signed), the service accepts and ships with a DHL number, a tracker
    polls DHL (karrio against the local carrier server) until delivered."""
    shop.settings(auto_archive=True, auto_request_fulfillment="on_payment")
    add_account(deck, "dhl_universal", consumer_key="dhl-key-123", consumer_secret="dhl-secret-456")
    running = start_3pl(stock={"MUG-1": 5}, carrier="DHL Express", secret=shop_secret(deck))
    mug = shop.product("MUG-1", stock={running.location_id: 5}, title="Delft mug")
    order = paid_order(shop, mug, 2)  # paid: the shop requests fulfillment by itself
    fo = only_fo(shop, order["id"])
    assert (fo["assigned_location_id"], fo["request_status"]) == (running.location_id, "submitted")
    drain(deck)  # the signed notification wakes the service
    assert running.service.notifications == ["FULFILLMENT_REQUEST"]

    running.done("shipped", fo["id"])
    assert fulfillment_order(api, fo["id"])["status"] == "closed"
    [fulfillment] = api.ok(api.get(f"/orders/{order['id']}/fulfillments.json"))["fulfillments"]
    number = running.service.tracking[fulfillment["name"]]
    assert (fulfillment["tracking_number"], fulfillment["tracking_company"]) == (number, "DHL Express")
    assert fulfillment["status"] == "success"
    # Its shelf lost the two mugs; Orderdeck asks it for tracking numbers by fulfillment name.
    assert httpx.get(f"{running.url}/fetch_stock.json").json() == {"MUG-1": 3}
    asked = httpx.get(f"{running.url}/fetch_tracking_numbers.json", params={"order_names[]": fulfillment["name"]})
    assert asked.json()["tracking_numbers"] == {fulfillment["name"]: number}
    placed = shop.get(order["id"])
    assert (placed["fulfillment_status"], placed["financial_status"]) == ("fulfilled", "paid")
    said = timeline(api, order["id"])
    assert any("accepted the fulfillment request: Reference 3PL will ship this." in m for m in said), said

    # The carrier's news, polled by the number's tracker: on its way, then delivered.
    start = clock.now
    carrier.scan(number, "in_transit", at=start, city="Venlo", description="Left the hub")
    assert _swept_after(deck, clock, minutes=1) == 1
    path = f"/orders/{order['id']}/fulfillments/{fulfillment['id']}.json"
    assert api.ok(api.get(path))["fulfillment"]["shipment_status"] == "in_transit"
    carrier.scan(number, "delivered", at=start + timedelta(hours=20), city="Amsterdam", description="Delivered")
    assert _swept_after(deck, clock, hours=2, minutes=1) == 1
    assert api.ok(api.get(path))["fulfillment"]["shipment_status"] == "delivered"
    events = api.ok(api.get(f"/orders/{order['id']}/fulfillments/{fulfillment['id']}/events.json"))
    assert [e["status"] for e in events["fulfillment_events"]] == ["in_transit", "delivered"]

    # Fulfilled and paid: archived by the shop's auto-archive rule; the sweep finds nothing left.
    assert shop.get(order["id"])["closed_at"] is not None
    assert sweeps.auto_archive(deck) == 0


def _swept_after(deck: Orderdeck, clock: Clock, **advance: float) -> int:
    clock.advance(**advance)
    return trackers.sweep(deck)


def test_what_the_service_has_no_stock_for_is_rejected_with_a_message_per_line(deck, api, shop, start_3pl):
    running = start_3pl(stock={"MUG-1": 1})
    at = running.location_id
    mug = shop.product("MUG-1", stock={at: 5}, title="Delft mug")
    plate = shop.product("PLATE-1", stock={at: 5}, title="Plate")
    sale = [{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}]
    order = shop.order(
        [{"variant_id": mug, "quantity": 3}, {"variant_id": plate, "quantity": 1}],
        transactions=sale,
    )
    fo = only_fo(shop, order["id"])
    request_fulfillment(api, fo["id"])
    drain(deck)

    running.done("rejected", fo["id"])
    rejected = fulfillment_order(api, fo["id"])
    assert rejected["request_status"] == "rejected"
    assert (rejected["status"], rejected["supported_actions"]) == ("open", ["request_fulfillment"])
    assert running.did("rejected") == [fo["id"]] and running.did("accepted") == []
    assert shop.get(order["id"])["display_fulfillment_status"] == "request_declined"
    said = " | ".join(timeline(api, order["id"]))
    assert "rejected the fulfillment request (inventory out of stock)" in said, said
    assert "Not enough inventory on hand" in said
    # Flagged stuck at once, with what to do next.
    [flag] = shop.get(order["id"])["stuck"]
    assert (flag["reason"], flag["service"], flag["fulfillment_order_id"]) == (
        "request_rejected",
        "Reference 3PL",
        fo["id"],
    )
    assert "move the items to another location" in flag["next_step"]
    assert "stuck" in shop.get(order["id"])["tags"]
    # The shelf keeps what it has: nothing promised, nothing shipped.
    assert httpx.get(f"{running.url}/fetch_stock.json").json() == {"MUG-1": 1}


def test_a_cancellation_is_accepted_and_the_work_requested_again_from_another_service(deck, api, shop, start_3pl):
    slow = start_3pl(name="Slow 3PL", stock={"MUG-1": 5}, ship_after=NEVER)
    other = start_3pl(name="Other 3PL", stock={"MUG-1": 5})
    mug = shop.product("MUG-1", stock={slow.location_id: 5, other.location_id: 5}, title="Delft mug")
    order = paid_order(shop, mug, 2)
    fo = only_fo(shop, order["id"])
    if fo["assigned_location_id"] != slow.location_id:
        move = {"fulfillment_order": {"new_location_id": slow.location_id}}
        fo = api.ok(api.post(f"/fulfillment_orders/{fo['id']}/move.json", move))["moved_fulfillment_order"]
    request_fulfillment(api, fo["id"])
    drain(deck)
    slow.done("accepted", fo["id"])
    assert fulfillment_order(api, fo["id"])["request_status"] == "accepted"
    # Two mugs promised to the accepted work are still on its shelf: it reports them, and Orderdeck
    # counts them once (on hand 5, of which 2 committed to this order).
    assert httpx.get(f"{slow.url}/fetch_stock.json").json() == {"MUG-1": 5}
    assert service_sync.sync_stock(deck) == 2
    assert shop.level(mug, slow.location_id) == {**shop.level(mug, slow.location_id), "on_hand": 5, "available": 3}

    body = {"cancellation_request": {"message": "The customer wants it from the other warehouse."}}
    asked = api.ok(api.post(f"/fulfillment_orders/{fo['id']}/cancellation_request.json", body))["fulfillment_order"]
    assert asked["request_status"] == "cancellation_requested"
    drain(deck)
    assert slow.service.notifications == ["FULFILLMENT_REQUEST", "CANCELLATION_REQUEST"]
    slow.done("cancellation accepted", fo["id"])
    cancelled = fulfillment_order(api, fo["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["request_status"] == "cancellation_accepted"
    assert slow.did("cancellation accepted") == [fo["id"]] and slow.did("shipped") == []
    assert httpx.get(f"{slow.url}/").json()["promised"] == {}  # the slow shelf let the mugs go

    # The work came back in a new fulfillment order: move it to the other service, request there.
    back = only_fo(shop, order["id"])
    assert (back["request_status"], back["assigned_location_id"]) == ("unsubmitted", slow.location_id)
    move = {"fulfillment_order": {"new_location_id": other.location_id}}
    moved = api.ok(api.post(f"/fulfillment_orders/{back['id']}/move.json", move))["moved_fulfillment_order"]
    request_fulfillment(api, moved["id"])
    drain(deck)
    other.done("shipped", moved["id"])
    assert fulfillment_order(api, moved["id"])["status"] == "closed"
    assert other.service.notifications == ["FULFILLMENT_REQUEST"]
    assert other.did("shipped") == [moved["id"]]
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"
    assert httpx.get(f"{other.url}/fetch_stock.json").json() == {"MUG-1": 3}
    assert httpx.get(f"{slow.url}/fetch_stock.json").json() == {"MUG-1": 5}


def test_the_service_publishes_its_stock_and_a_paid_order_moved_to_it_is_requested_and_shipped(
    deck, api, shop, start_3pl
):
    """The demo's walk (docs/operations.md, "Try a 3PL"): the shop requests fulfillment on payment;
    staff move a paid order's items to the service, which gets them by itself."""
    shop.settings(auto_request_fulfillment="on_payment")
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", stock={amsterdam: 5}, title="Delft mug")
    order = paid_order(shop, mug, 2)
    fo = only_fo(shop, order["id"])
    assert (fo["assigned_location_id"], fo["request_status"]) == (amsterdam, "unsubmitted")

    running = start_3pl(stock={"MUG-1": 9, "VASE-1": 2})  # the shop sells no VASE-1
    assert shop.level(mug, running.location_id)["available"] == 9
    move = {"fulfillment_order": {"new_location_id": running.location_id}}
    moved = api.ok(api.post(f"/fulfillment_orders/{fo['id']}/move.json", move))["moved_fulfillment_order"]
    assert fulfillment_order(api, moved["id"])["request_status"] == "submitted"
    drain(deck)
    running.done("shipped", moved["id"])
    assert fulfillment_order(api, moved["id"])["status"] == "closed"
    assert running.service.notifications == ["FULFILLMENT_REQUEST"]
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"


def test_orderdeck_takes_the_services_stock_and_asks_it_for_a_tracking_number_it_gave_later(deck, api, shop, start_3pl):
    running = start_3pl(stock={"MUG-1": 7, "BOWL-1": 4}, tracking_later=True)
    mug = shop.product("MUG-1", stock={running.location_id: 0}, title="Delft mug")
    assert service_sync.sync_stock(deck) == 1  # the fetch-stock job
    assert shop.level(mug, running.location_id)["available"] == 7  # BOWL-1 is not stocked there: ignored

    order = paid_order(shop, mug, 2)
    fo = only_fo(shop, order["id"])
    request_fulfillment(api, fo["id"])
    drain(deck)
    running.done("shipped", fo["id"])
    assert fulfillment_order(api, fo["id"])["status"] == "closed"
    [fulfillment] = api.ok(api.get(f"/orders/{order['id']}/fulfillments.json"))["fulfillments"]
    assert fulfillment["tracking_number"] is None
    assert service_sync.sync_tracking(deck) == 1  # the fetch-tracking-numbers job
    path = f"/orders/{order['id']}/fulfillments/{fulfillment['id']}.json"
    assert api.ok(api.get(path))["fulfillment"]["tracking_number"] == running.service.tracking[fulfillment["name"]]

    assert service_sync.sync_stock(deck) == 1
    assert shop.level(mug, running.location_id)["available"] == 5


def test_a_service_that_never_answers_is_flagged_once_the_shops_wait_is_over(deck, api, shop, start_3pl, clock):
    shop.settings(request_accept_hours=4)
    running = start_3pl(stock={"MUG-1": 5}, silent=True)
    mug = shop.product("MUG-1", stock={running.location_id: 5}, title="Delft mug")
    order = paid_order(shop, mug, 1)
    fo = only_fo(shop, order["id"])
    request_fulfillment(api, fo["id"])
    drain(deck)
    assert running.service.notifications == ["FULFILLMENT_REQUEST"]  # taken, never answered
    [note] = notifications_of(deck, order["id"])
    assert note["state"] == "acknowledged"

    clock.advance(hours=3, minutes=59)
    assert sweeps.flag_stuck_orders(deck) == 0
    assert shop.get(order["id"])["stuck"] == []
    clock.advance(minutes=2)
    assert sweeps.flag_stuck_orders(deck) == 1
    [flag] = shop.get(order["id"])["stuck"]
    assert (flag["reason"], flag["service"], flag["fulfillment_order_id"]) == (
        "request_not_accepted",
        "Reference 3PL",
        fo["id"],
    )
    assert fulfillment_order(api, fo["id"])["request_status"] == "submitted"
    assert running.service.answered == []


def test_a_service_that_is_down_gets_the_notification_again_and_nothing_is_lost(deck, api, shop, start_3pl, clock):
    running = start_3pl(stock={"MUG-1": 5}, down_for=2)
    mug = shop.product("MUG-1", stock={running.location_id: 5}, title="Delft mug")
    order = paid_order(shop, mug, 1)
    fo = only_fo(shop, order["id"])
    request_fulfillment(api, fo["id"])

    drain(deck)
    [note] = notifications_of(deck, order["id"])
    assert (note["state"], note["attempts"], note["last_status"]) == ("pending", 1, 500)
    assert "the warehouse system is down" in note["last_error"]
    assert fulfillment_order(api, fo["id"])["request_status"] == "submitted"
    drain(deck)  # not due again yet: nothing sent
    assert running.service.notifications == ["FULFILLMENT_REQUEST"]

    clock.advance(seconds=13)  # the first wait: 10 s, give or take 20 %
    drain(deck)
    assert running.service.refused_notifications == 2
    clock.advance(seconds=37)  # the second: 30 s
    drain(deck)
    [note] = notifications_of(deck, order["id"])
    assert (note["state"], note["attempts"], note["last_status"]) == ("acknowledged", 3, 200)
    assert running.service.notifications == ["FULFILLMENT_REQUEST"] * 3

    running.done("shipped", fo["id"])
    assert fulfillment_order(api, fo["id"])["status"] == "closed"
    assert running.did("accepted") == running.did("shipped") == [fo["id"]]
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"


def test_a_service_down_for_hours_is_flagged_as_not_reached_and_takes_the_request_when_back(
    deck, api, shop, start_3pl, clock
):
    down = start_3pl(stock={"MUG-1": 5}, down_for=1000)
    mug = shop.product("MUG-1", stock={down.location_id: 5}, title="Delft mug")
    order = paid_order(shop, mug, 1)
    fo = only_fo(shop, order["id"])
    request_fulfillment(api, fo["id"])
    drain(deck)
    clock.advance(hours=2, minutes=1)  # the shop's request_acknowledge_hours: 2
    drain(deck)
    assert down.service.refused_notifications == 2
    assert sweeps.flag_stuck_orders(deck) == 1
    [flag] = shop.get(order["id"])["stuck"]
    assert (flag["reason"], flag["service"]) == ("notification_unacknowledged", "Reference 3PL")

    # Its system is back, at a new address: it takes up its service and reads its assigned work
    # at once; the request answered, Orderdeck stops sending the notification.
    down.__exit__()
    back = start_3pl(stock={"MUG-1": 5}, token=down.config.token)
    back.done("shipped", fo["id"])
    clock.advance(minutes=2)
    drain(deck)
    assert back.service.notifications == []
    [note] = notifications_of(deck, order["id"])
    assert (note["state"], note["attempts"]) == ("acknowledged", 2)
    assert shop.get(order["id"])["stuck"] == []
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"


def test_the_command_refuses_stock_that_is_not_sku_equals_quantity() -> None:
    from typer.testing import CliRunner

    from orderdeck.cli import app

    answer = CliRunner().invoke(app, ["reference-3pl", "--token", "odk_x", "--stock", "MUG-1=5", "--stock", "PLATE"])
    assert answer.exit_code == 2
    assert "'PLATE'" in answer.output and "SKU=QUANTITY" in answer.output


def test_the_shelf_promises_accepted_work_and_ships_or_releases_it() -> None:
    assert parse_stock(["MUG-1=5", " PLATE-1 = 0", "A=B=2"]) == {"MUG-1": 5, "PLATE-1": 0, "A=B": 2}
    shelf = Shelf({"MUG-1": 5, "PLATE-1": 1})
    assert shelf.shortages({"MUG-1": 5, "PLATE-1": 2, "BOWL-1": 1}) == {"PLATE-1": 1, "BOWL-1": 0}
    shelf.promise(1, {"MUG-1": 3})
    shelf.promise(2, {"MUG-1": 2})
    assert (shelf.free("MUG-1"), shelf.shortages({"MUG-1": 1})) == (0, {"MUG-1": 0})
    shelf.release(2)  # a cancellation accepted
    shelf.ship(1)
    assert (shelf.on_hand["MUG-1"], shelf.free("MUG-1"), shelf.promised) == (2, 2, {})
