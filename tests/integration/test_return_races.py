"""Twenty clients working on the same return at the same moment do the work once.

The clients are threads released together by a barrier. Through the services, each runs its
command in its own unit of work (as every caller does, tests/integration/returns_steps.run);
through the REST API, each sends its request to a real server. Either way half of them go
through a second Orderdeck with its own engine and connection pool, as a second server process
would. Every command below would be refused if it ran a second time (the return is approved
already, the units are received, every unit is refunded), so more than one success, or any
failure that is not that refusal (a lock timeout, a crash), shows a race.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from orderdeck.domain import returns as rules
from orderdeck.domain.errors import RuleViolation
from orderdeck.services import returns as commands
from orderdeck.services.context import Command, Orderdeck
from tests.conftest import Shop, make_token
from tests.integration.order_steps import stock
from tests.integration.returns_steps import fulfillment_line_ids, run, shipped_order, together
from tests.integration.test_concurrency import Server, at_once

CLIENTS = 20


def all_at_once(decks: list[Orderdeck], work: Callable[[Command], Any]) -> list[Any]:
    """Run `work` from CLIENTS threads released together, spread over `decks`."""
    return together(*[(decks[index % len(decks)], work) for index in range(CLIENTS)])


def once(results: list[Any], refusal: str) -> Any:
    """One client succeeded; every other was refused by the rules with a message naming the
    state (never a database error or a crash)."""
    failures = [r for r in results if isinstance(r, Exception)]
    odd = [r for r in failures if not isinstance(r, RuleViolation)]
    assert not odd, [f"{type(r).__name__}: {r}" for r in odd]
    assert len(failures) == CLIENTS - 1, f"{CLIENTS - len(failures)} clients succeeded"
    assert all(refusal in str(r) for r in failures), {str(r) for r in failures}
    return next(r for r in results if not isinstance(r, Exception))


def request_one(fl_id: int, quantity: int) -> rules.ReturnRequest:
    return rules.ReturnRequest(
        lines=[rules.ReturnLineRequest(fulfillment_line_item_id=fl_id, quantity=quantity, return_reason="unwanted")]
    )


def events(shop: Shop, order_id: int, verb: str) -> int:
    found = shop.api.ok(shop.api.get(f"/orders/{order_id}/events.json?limit=250"))["events"]
    return sum(e["verb"] == verb for e in found)


def test_twenty_clients_approving_one_request_approve_it_once(
    decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int
) -> None:
    """Approving opens the return once: one reverse fulfillment order, the exchange item added
    once and its stock committed once."""
    deck = decks[0]
    jug = shop.product("JUG-RACE", price="12.50", stock={amsterdam: 5}, title="Jug")
    order = shipped_order(shop, mug, quantity=2)
    fl = fulfillment_line_ids(deck, order["id"])[0]

    def ask(c: Command) -> Any:
        exchanges = commands.exchange_variants(c, [(jug, 1, None, None, None)])
        request = rules.ReturnRequest(lines=request_one(fl, 2).lines, exchanges=exchanges)
        return commands.start(c, order["id"], commands.StartReturn(request, status="requested"))

    _, ret = run(deck, ask)
    assert stock(shop, jug, amsterdam) == (5, 0, 5)

    results = all_at_once(decks, lambda c: commands.approve(c, ret.id, notify=False))

    once(results, "only a requested return can be approved")
    after = shop.get(order["id"])
    [approved] = after["returns"]
    assert approved["status"] == "open"
    assert len(approved["reverse_fulfillment_orders"]) == 1
    assert approved["reverse_fulfillment_orders"][0]["line_items"][0]["total_quantity"] == 2
    assert [li["variant_id"] for li in after["line_items"]].count(jug) == 1
    assert stock(shop, jug, amsterdam) == (4, 1, 5)
    assert events(shop, order["id"], "return_approved") == 1
    assert after["return_status"] == "in_progress"


def test_twenty_clients_receiving_the_same_units_restock_them_once(
    decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int
) -> None:
    deck = decks[0]
    order = shipped_order(shop, mug, quantity=3)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    _, ret = run(deck, lambda c: commands.start(c, order["id"], commands.StartReturn(request_one(fl, 3), "open")))
    rfo_line = ret.reverse_fulfillment_orders[0].line_items[0].id
    assert stock(shop, mug, amsterdam) == (47, 0, 47)

    results = all_at_once(
        decks, lambda c: commands.dispose(c, [rules.DispositionRequest(rfo_line, 3, "restocked", amsterdam)])
    )

    once(results, "still to be received")
    assert stock(shop, mug, amsterdam) == (50, 0, 50)
    after = shop.get(order["id"])
    [line] = after["returns"][0]["reverse_fulfillment_orders"][0]["line_items"]
    assert [(d["type"], d["quantity"]) for d in line["dispositions"]] == [("restocked", 3)]
    assert after["return_status"] == "inspection_complete"
    assert events(shop, order["id"], "return_items_received") == 1


def test_twenty_clients_receiving_one_unit_each_receive_only_what_came_back(
    decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int
) -> None:
    """Two units back, twenty clients each receiving one: exactly two are received."""
    deck = decks[0]
    order = shipped_order(shop, mug, quantity=2)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    _, ret = run(deck, lambda c: commands.start(c, order["id"], commands.StartReturn(request_one(fl, 2), "open")))
    rfo_line = ret.reverse_fulfillment_orders[0].line_items[0].id

    results = all_at_once(
        decks, lambda c: commands.dispose(c, [rules.DispositionRequest(rfo_line, 1, "restocked", amsterdam)])
    )

    failures = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(r, RuleViolation) for r in failures), [f"{type(r).__name__}: {r}" for r in failures]
    assert len(failures) == CLIENTS - 2
    assert stock(shop, mug, amsterdam) == (50, 0, 50)
    [line] = shop.get(order["id"])["returns"][0]["reverse_fulfillment_orders"][0]["line_items"]
    assert line["disposed_quantity"] == 2


def test_twenty_clients_refunding_one_return_refund_it_once(
    decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int
) -> None:
    deck = decks[0]
    order = shipped_order(shop, mug, quantity=2)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    _, ret = run(deck, lambda c: commands.start(c, order["id"], commands.StartReturn(request_one(fl, 2), "open")))
    rfo_line = ret.reverse_fulfillment_orders[0].line_items[0].id
    run(deck, lambda c: commands.dispose(c, [rules.DispositionRequest(rfo_line, 2, "not_restocked", None)]))

    results = all_at_once(decks, lambda c: commands.refund(c, ret.id, commands.ReturnRefund(lines=[])))

    once(results, "is refunded already")
    after = shop.get(order["id"])
    assert len(after["refunds"]) == 1
    [refund] = after["refunds"]
    assert refund["return"]["id"] == ret.id
    txns = shop.api.ok(shop.api.get(f"/orders/{order['id']}/transactions.json"))["transactions"]
    refunds = [t for t in txns if t["kind"] == "refund" and t["status"] == "success"]
    assert sum(Decimal(t["amount"]) for t in refunds) == Decimal("25.00")
    assert len(refunds) == 1
    assert after["financial_status"] == "refunded"
    assert after["returns"][0]["status"] == "closed"
    assert after["returns"][0]["return_line_items"][0]["refunded_quantity"] == 2
    assert after["total_outstanding"] == "0.00"
    assert stock(shop, mug, amsterdam) == (48, 0, 48)


# ---- the same through the REST API -------------------------------------------------------------
@pytest.fixture
def servers(decks: list[Orderdeck]) -> Iterator[list[Server]]:
    """Two servers, one per Orderdeck, with one token between them."""
    token = make_token(decks[0])
    running = [Server(d) for d in decks]
    for server in running:
        server.headers = {"X-Shopify-Access-Token": token}
        server.start()
    yield running
    for server in running:
        server.stop()


def once_over_http(responses: list[httpx.Response], status: int, refusal: str) -> dict[str, Any]:
    """One answer `status`; every other a 422 naming the state (never a 500)."""
    assert Counter(r.status_code for r in responses) == {status: 1, 422: CLIENTS - 1}, [r.text for r in responses]
    assert all(refusal in r.text for r in responses if r.status_code == 422), {r.text for r in responses}
    return next(r.json() for r in responses if r.status_code == status)  # type: ignore[no-any-return]


def test_twenty_api_clients_approving_one_request_approve_it_once(
    decks: list[Orderdeck], servers: list[Server], shop: Shop, mug: int
) -> None:
    order = shipped_order(shop, mug, quantity=2)
    fl = fulfillment_line_ids(decks[0], order["id"])[0]
    _, ret = run(
        decks[0], lambda c: commands.start(c, order["id"], commands.StartReturn(request_one(fl, 2), "requested"))
    )

    responses = at_once(servers, CLIENTS, lambda c, _: c.post(f"/returns/{ret.id}/approve.json", json={}))

    assert once_over_http(responses, 200, "only a requested return can be approved")["return"]["status"] == "open"
    [approved] = shop.get(order["id"])["returns"]
    assert len(approved["reverse_fulfillment_orders"]) == 1
    assert events(shop, order["id"], "return_approved") == 1


def test_twenty_api_clients_receiving_the_same_units_restock_them_once(
    decks: list[Orderdeck], servers: list[Server], shop: Shop, mug: int, amsterdam: int
) -> None:
    order = shipped_order(shop, mug, quantity=2)
    fl = fulfillment_line_ids(decks[0], order["id"])[0]
    _, ret = run(decks[0], lambda c: commands.start(c, order["id"], commands.StartReturn(request_one(fl, 2), "open")))
    line = ret.reverse_fulfillment_orders[0].line_items[0].id
    body = {
        "dispositions": [
            {
                "reverse_fulfillment_order_line_item_id": line,
                "quantity": 2,
                "disposition_type": "restocked",
                "location_id": amsterdam,
            }
        ]
    }

    responses = at_once(servers, CLIENTS, lambda c, _: c.post("/reverse_fulfillment_orders/dispose.json", json=body))

    once_over_http(responses, 200, "still to be received")
    assert stock(shop, mug, amsterdam) == (50, 0, 50)
    assert events(shop, order["id"], "return_items_received") == 1


def test_twenty_api_clients_refunding_one_return_refund_it_once(
    decks: list[Orderdeck], servers: list[Server], shop: Shop, mug: int
) -> None:
    order = shipped_order(shop, mug, quantity=2)
    fl = fulfillment_line_ids(decks[0], order["id"])[0]
    _, ret = run(decks[0], lambda c: commands.start(c, order["id"], commands.StartReturn(request_one(fl, 2), "open")))

    responses = at_once(servers, CLIENTS, lambda c, _: c.post(f"/returns/{ret.id}/refunds.json", json={"refund": {}}))

    refund = once_over_http(responses, 201, "is refunded already")["refund"]
    assert refund["return"]["id"] == ret.id
    after = shop.get(order["id"])
    assert [r["id"] for r in after["refunds"]] == [refund["id"]]
    txns = shop.api.ok(shop.api.get(f"/orders/{order['id']}/transactions.json"))["transactions"]
    assert [t["amount"] for t in txns if t["kind"] == "refund" and t["status"] == "success"] == ["25.00"]
    assert after["returns"][0]["return_line_items"][0]["refunded_quantity"] == 2
