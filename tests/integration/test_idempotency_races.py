"""One Idempotency-Key sent by many clients at the same moment, through real servers.

The clients are released together by a barrier, half of them to one server and half to a second
server with its own engine and connection pool (as two server processes would be), on one
database. Every command below would be refused if it ran a second time (the stock is gone, the
authorization is captured, the units are fulfilled, the order is cancelled), so a client that got
a refusal instead of the first answer would show that the command ran twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from tests.conftest import AUTHORIZE, make_token
from tests.integration.test_concurrency import Server, at_once, order_body, setup_shop

CLIENTS = 10


class Pair:
    """Two servers over one database, with one token between them."""

    def __init__(self, deck: Any) -> None:
        self.other_deck = build(Settings(database_url=deck.db.url, public_url="http://shop.test"), clock=deck.clock)
        token = make_token(deck)
        self.servers = [Server(deck), Server(self.other_deck)]
        for server in self.servers:
            server.headers = {"X-Shopify-Access-Token": token}

    @property
    def first(self) -> Server:
        return self.servers[0]


@pytest.fixture
def pair(deck: Any) -> Iterator[Pair]:
    running = Pair(deck)
    for server in running.servers:
        server.start()
    yield running
    for server in running.servers:
        server.stop()
    running.other_deck.db.dispose()


def all_at_once(pair: Pair, call: Callable[[httpx.Client], httpx.Response]) -> list[httpx.Response]:
    """CLIENTS clients released together, half to each server."""
    return at_once(pair.servers, CLIENTS, lambda client, _: call(client))


def one_answer(responses: list[httpx.Response], status: int) -> dict[str, Any]:
    """Every client got the same successful answer: the first, and replays of it."""
    assert [r.status_code for r in responses] == [status] * CLIENTS, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") != "true" for r in responses) == 1
    return responses[0].json()  # type: ignore[no-any-return]


KEY = {"Idempotency-Key": "race-1"}


def test_creating_with_one_key_at_once_never_answers_not_enough_stock(pair):
    server = pair.first
    _, variant = setup_shop(server, stock=2)

    responses = all_at_once(pair, lambda c: c.post("/orders.json", json=order_body(variant, 2), headers=KEY))

    order = one_answer(responses, 201)["order"]
    with server.client() as c:
        assert server.ok(c.get("/orders/count.json?status=any"))["count"] == 1
        assert server.ok(c.get(f"/orders/{order['id']}.json"))["order"]["name"] == "#1001"


def test_capturing_with_one_key_at_once_captures_once(pair):
    server = pair.first
    _, variant = setup_shop(server, stock=5)
    with server.client() as c:
        order = server.ok(c.post("/orders.json", json=order_body(variant, 5, transactions=AUTHORIZE)))["order"]
    body = {"transaction": {"kind": "capture", "amount": order["total_price"]}}

    responses = all_at_once(pair, lambda c: c.post(f"/orders/{order['id']}/transactions.json", json=body, headers=KEY))

    one_answer(responses, 201)
    with server.client() as c:
        txns = server.ok(c.get(f"/orders/{order['id']}/transactions.json"))["transactions"]
    assert [t["kind"] for t in txns] == ["authorization", "capture"]


def test_fulfilling_with_one_key_at_once_fulfils_once(pair):
    server = pair.first
    _, variant = setup_shop(server, stock=5)
    with server.client() as c:
        order = server.ok(c.post("/orders.json", json=order_body(variant, 3)))["order"]
        fo = server.ok(c.get(f"/orders/{order['id']}/fulfillment_orders.json"))["fulfillment_orders"][0]
    body = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}}

    responses = all_at_once(pair, lambda c: c.post("/fulfillments.json", json=body, headers=KEY))

    one_answer(responses, 201)
    with server.client() as c:
        after = server.ok(c.get(f"/orders/{order['id']}.json"))["order"]
    assert len(after["fulfillments"]) == 1
    assert after["fulfillment_status"] == "fulfilled"


def test_cancelling_with_one_key_at_once_cancels_once(pair):
    server = pair.first
    _, variant = setup_shop(server, stock=5)
    with server.client() as c:
        order = server.ok(c.post("/orders.json", json=order_body(variant, 2)))["order"]
    body = {"reason": "customer", "restock": True}

    responses = all_at_once(pair, lambda c: c.post(f"/orders/{order['id']}/cancel.json", json=body, headers=KEY))

    assert one_answer(responses, 200)["order"]["cancel_reason"] == "customer"
    with server.client() as c:
        events = server.ok(c.get(f"/orders/{order['id']}/events.json"))["events"]
        levels = server.ok(c.get(f"/inventory_levels.json?inventory_item_ids={variant}"))["inventory_levels"]
    assert [e["verb"] for e in events].count("cancelled") == 1
    assert levels[0]["available"] == 5


def test_a_refused_request_stores_nothing_and_its_retry_runs(pair):
    server = pair.first
    location, variant = setup_shop(server, stock=1)
    with server.client() as c:
        refused = c.post("/orders.json", json=order_body(variant, 2), headers=KEY)
        assert refused.status_code == 422, refused.text
        server.ok(
            c.post(
                "/inventory_levels/adjust.json",
                json={"location_id": location, "inventory_item_id": variant, "available_adjustment": 1},
            )
        )
        retried = c.post("/orders.json", json=order_body(variant, 2), headers=KEY)
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
