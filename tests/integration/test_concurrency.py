"""Real concurrency against one database: a uvicorn server in a thread, 20 clients at once.

The requests are released together by a barrier, so they overlap in the server: the database
(row locks on PostgreSQL, BEGIN IMMEDIATE on SQLite) has to keep every rule.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn

from orderdeck.api.app import create_app
from tests.conftest import AUTHORIZE, BASE, make_token

THREADS = 20


class Server:
    def __init__(self, deck: Any) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(create_app(deck), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base = f"http://127.0.0.1:{self.port}{BASE}"
        self.headers = {"X-Shopify-Access-Token": make_token(deck)}

    def start(self) -> None:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                return
            time.sleep(0.02)
        raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers, timeout=120)

    def ok(self, response: httpx.Response) -> Any:
        assert 200 <= response.status_code < 300, f"{response.status_code}: {response.text}"
        return response.json()


@pytest.fixture
def server(deck: Any) -> Iterator[Server]:
    running = Server(deck)
    running.start()
    yield running
    running.stop()


def at_once(
    server: Server | Sequence[Server], count: int, call: Callable[[httpx.Client, int], httpx.Response]
) -> list[httpx.Response]:
    """Run `call` in `count` threads released together; every thread has its own connection
    (given several servers, thread i connects to server i mod their number)."""
    servers = [server] if isinstance(server, Server) else list(server)
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        with servers[index % len(servers)].client() as client:
            client.get("/locations.json")  # open the connection before the barrier
            barrier.wait()
            try:
                results[index] = call(client, index)
            except Exception as exc:
                results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    errors = [r for r in results if not isinstance(r, httpx.Response)]
    assert not errors, errors
    return results


def setup_shop(server: Server, stock: int, price: str = "10.00") -> tuple[int, int]:
    with server.client() as c:
        location = server.ok(c.post("/locations.json", json={"location": {"name": "Amsterdam"}}))["location"]["id"]
        variant = {
            "sku": "RACE-1",
            "price": price,
            "inventory_policy": "deny",
            "inventory_quantities": {str(location): stock},
        }
        product = server.ok(c.post("/products.json", json={"product": {"title": "Race", "variants": [variant]}}))
        return location, product["product"]["variants"][0]["id"]


def level(server: Server, variant: int, location: int) -> dict[str, int]:
    with server.client() as c:
        levels = server.ok(c.get(f"/inventory_levels.json?inventory_item_ids={variant}"))["inventory_levels"]
    found = [lv for lv in levels if lv["location_id"] == location]
    return {k: found[0][k] for k in ("available", "committed", "on_hand")}


def order_body(variant: int, quantity: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "order": {"email": "anna@example.nl", "line_items": [{"variant_id": variant, "quantity": quantity}], **fields}
    }


def test_parallel_fulfilments_ship_each_unit_once(server):
    location, variant = setup_shop(server, stock=10)
    with server.client() as c:
        order = server.ok(c.post("/orders.json", json=order_body(variant, 5)))["order"]
        fo = server.ok(c.get(f"/orders/{order['id']}/fulfillment_orders.json"))["fulfillment_orders"][0]
    line = fo["line_items"][0]
    assert line["fulfillable_quantity"] == 5
    body = {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": [{"id": line["id"], "quantity": 1}]}
            ]
        }
    }

    responses = at_once(server, THREADS, lambda c, _: c.post("/fulfillments.json", json=body))

    assert Counter(r.status_code for r in responses) == {201: 5, 422: 15}, [r.text for r in responses]
    with server.client() as c:
        after = server.ok(c.get(f"/orders/{order['id']}.json"))["order"]
    active = [f for f in after["fulfillments"] if f["status"] == "success"]
    assert sum(li["quantity"] for f in active for li in f["line_items"]) == 5
    assert len(active) == 5
    assert after["line_items"][0]["fulfillable_quantity"] == 0
    assert after["fulfillment_status"] == "fulfilled"
    assert level(server, variant, location) == {"available": 5, "committed": 0, "on_hand": 5}


def test_parallel_captures_never_take_more_than_authorized(server):
    _, variant = setup_shop(server, stock=10)
    with server.client() as c:
        order = server.ok(c.post("/orders.json", json=order_body(variant, 5, transactions=AUTHORIZE)))["order"]
    assert order["total_price"] == "50.00"
    body = {"transaction": {"kind": "capture", "amount": "10.00"}}

    responses = at_once(server, THREADS, lambda c, _: c.post(f"/orders/{order['id']}/transactions.json", json=body))

    assert Counter(r.status_code for r in responses) == {201: 5, 422: 15}, [r.text for r in responses]
    with server.client() as c:
        txns = server.ok(c.get(f"/orders/{order['id']}/transactions.json"))["transactions"]
        after = server.ok(c.get(f"/orders/{order['id']}.json"))["order"]
    captures = [t for t in txns if t["kind"] == "capture" and t["status"] == "success"]
    assert len(captures) == 5
    assert sum(Decimal(t["amount"]) for t in captures) == Decimal("50.00")
    assert after["financial_status"] == "paid"
    assert after["total_outstanding"] == "0.00"


def test_parallel_orders_never_oversell_and_names_stay_gap_free(server):
    location, variant = setup_shop(server, stock=7)

    responses = at_once(server, THREADS, lambda c, _: c.post("/orders.json", json=order_body(variant)))

    assert Counter(r.status_code for r in responses) == {201: 7, 422: 13}, [r.text for r in responses]
    names = sorted(r.json()["order"]["order_number"] for r in responses if r.status_code == 201)
    assert names == list(range(1001, 1008))
    assert level(server, variant, location) == {"available": 0, "committed": 7, "on_hand": 7}
    with server.client() as c:
        assert server.ok(c.get("/orders/count.json?status=any"))["count"] == 7
        # Refused orders gave their numbers back: the next one is #1008.
        server.ok(
            c.post(
                "/inventory_levels/adjust.json",
                json={"location_id": location, "inventory_item_id": variant, "available_adjustment": 1},
            )
        )
        nxt = server.ok(c.post("/orders.json", json=order_body(variant)))["order"]
    assert nxt["name"] == "#1008"


def test_one_idempotency_key_from_ten_threads_makes_one_order(server):
    _, variant = setup_shop(server, stock=50)
    body = order_body(variant, 2, transactions=AUTHORIZE)
    key = {"Idempotency-Key": "checkout-7f3a"}

    responses = at_once(server, 10, lambda c, _: c.post("/orders.json", json=body, headers=key))

    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    with server.client() as c:
        assert server.ok(c.get("/orders/count.json?status=any"))["count"] == 1
        order = server.ok(c.get(f"/orders/{responses[0].json()['order']['id']}.json"))["order"]
        assert len(server.ok(c.get(f"/orders/{order['id']}/transactions.json"))["transactions"]) == 1
    assert order["name"] == "#1001"
