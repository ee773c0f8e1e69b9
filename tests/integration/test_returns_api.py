"""The returns API (an Orderdeck extension in Shopify's REST style) end to end on both databases:
a return created, labelled, received (restocked and not), refunded with the suggested amount and
closed by itself; a customer's request approved or declined; an exchange that leaves the customer
owing; dispositions and refund in one call; the orders list's `return_status` filter; scopes;
Idempotency-Key; and the webhooks, in Shopify's payload shapes (AFTER-THE-SALE.md §1.8)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from tests.conftest import BASE, Api, Shop, make_token
from tests.integration.order_steps import counted, ids_listed, stock
from tests.integration.returns_steps import shipped_order
from tests.integration.test_webhooks import Receiver, subscribe


def returnable(api: Api, order_id: int) -> list[dict[str, Any]]:
    found = api.ok(api.get(f"/orders/{order_id}/returnable_fulfillments.json"))["returnable_fulfillments"]
    return [line for f in found for line in f["line_items"]]


def return_body(fl_id: int, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    line = {"fulfillment_line_item_id": fl_id, "quantity": quantity, "return_reason": "size_too_small"}
    return {"return": {"return_line_items": [{**line, **extra.pop("line", {})}], **extra}}


def create(api: Api, order_id: int, body: dict[str, Any], path: str = "returns") -> dict[str, Any]:
    answer = api.post(f"/orders/{order_id}/{path}.json", body)
    assert answer.status_code == 201, answer.text
    return answer.json()["return"]  # type: ignore[no-any-return]


def post(api: Api, path: str, body: Any = None) -> Any:
    return api.ok(api.post(path, body))


def rfo_lines(ret: dict[str, Any]) -> list[dict[str, Any]]:
    return [li for rfo in ret["reverse_fulfillment_orders"] for li in rfo["line_items"]]


def test_a_return_from_creation_to_closing_by_itself(api: Api, shop: Shop, mug: int, amsterdam: int) -> None:
    order = shipped_order(shop, mug, quantity=2)
    oid = order["id"]
    assert order["return_status"] == "no_return" and order["returns"] == []
    [line] = returnable(api, oid)
    assert line["quantity"] == 2
    body = return_body(
        line["fulfillment_line_item_id"],
        2,
        line={"restocking_fee": {"percentage": 10}},
        return_shipping_fee={"amount": "2.00", "currency": "EUR"},
    )

    # calculate previews the money and changes nothing
    before = shop.get(oid)
    calc = post(api, f"/orders/{oid}/returns/calculate.json", body)["return"]
    assert calc["returned_subtotal_set"]["shop_money"]["amount"] == "25.00"
    assert calc["total_fees_set"]["shop_money"]["amount"] == "4.50"
    assert calc["financial_outcome"]["kind"] == "refund"
    assert calc["financial_outcome"]["amount_set"]["presentment_money"]["amount"] == "20.50"
    assert shop.get(oid) == before

    ret = create(api, oid, body)
    assert ret["status"] == "open" and ret["name"] == f"{order['name']}-R1" and ret["total_quantity"] == 2
    assert ret["return_line_items"][0]["restocking_fee"]["amount_set"]["shop_money"]["amount"] == "2.50"
    assert ret["return_shipping_fees"][0]["amount_set"]["presentment_money"]["amount"] == "2.00"
    after = shop.get(oid)
    assert after["return_status"] == "in_progress"
    assert [r["id"] for r in after["returns"]] == [ret["id"]]
    assert returnable(api, oid) == []
    assert api.ok(api.get(f"/returns/{ret['id']}.json?fields=id,status"))["return"] == {
        "id": ret["id"],
        "status": "open",
    }
    assert [r["id"] for r in api.ok(api.get(f"/orders/{oid}/returns.json?status=open"))["returns"]] == [ret["id"]]
    assert api.ok(api.get(f"/orders/{oid}/returns.json?status=closed"))["returns"] == []

    # the label, then the tracking number
    [rfo] = api.ok(api.get(f"/returns/{ret['id']}/reverse_fulfillment_orders.json"))["reverse_fulfillment_orders"]
    answer = api.post(
        f"/reverse_fulfillment_orders/{rfo['id']}/reverse_deliveries.json",
        {"reverse_delivery": {"label": {"file_url": "https://labels.example.com/r1.pdf"}}},
    )
    assert answer.status_code == 201, answer.text
    delivery = answer.json()["reverse_delivery"]
    assert delivery["label"]["public_file_url"] == "https://labels.example.com/r1.pdf"
    assert delivery["line_items"][0]["quantity"] == 2
    tracked = api.ok(
        api.put(
            f"/reverse_deliveries/{delivery['id']}.json",
            {"reverse_delivery": {"tracking": {"number": "3SABC123", "company": "PostNL"}}},
        )
    )["reverse_delivery"]
    assert tracked["tracking"] == {"carrier_name": "PostNL", "number": "3SABC123", "url": None}
    assert tracked["label"]["public_file_url"] == "https://labels.example.com/r1.pdf"

    # received: one back on the shelf, one not
    rfo_line = rfo["line_items"][0]["id"]
    disposed = post(
        api,
        "/reverse_fulfillment_orders/dispose.json",
        {
            "dispositions": [
                {
                    "reverse_fulfillment_order_line_item_id": rfo_line,
                    "quantity": 1,
                    "disposition_type": "restocked",
                    "location_id": amsterdam,
                },
                {
                    "reverse_fulfillment_order_line_item_id": rfo_line,
                    "quantity": 1,
                    "disposition_type": "not_restocked",
                },
            ]
        },
    )["reverse_fulfillment_orders"]
    assert disposed[0]["status"] == "closed" and disposed[0]["line_items"][0]["disposed_quantity"] == 2
    assert stock(shop, mug, amsterdam) == (49, 0, 49)
    assert shop.get(oid)["return_status"] == "inspection_complete"

    # refunded with the suggested amount: the units' worth less the fees; the return closes
    made = api.post(f"/returns/{ret['id']}/refunds.json", {"refund": {}})
    assert made.status_code == 201, made.text
    refund = made.json()["refund"]
    assert refund["return"]["id"] == ret["id"]
    assert sum(Decimal(t["amount"]) for t in refund["transactions"]) == Decimal("20.50")
    after = shop.get(oid)
    assert after["returns"][0]["status"] == "closed" and after["returns"][0]["refund_ids"] == [refund["id"]]
    assert after["return_status"] == "returned"
    assert after["financial_status"] == "partially_refunded"
    assert oid in ids_listed(api, return_status="returned")
    assert counted(api, return_status="returned") == 1
    assert counted(api, return_status="in_progress") == 0

    # staff may reopen it and close it again by hand
    assert post(api, f"/returns/{ret['id']}/reopen.json")["return"]["status"] == "open"
    assert post(api, f"/returns/{ret['id']}/close.json")["return"]["status"] == "closed"


def test_a_request_is_approved_or_declined(api: Api, shop: Shop, mug: int) -> None:
    order = shipped_order(shop, mug, quantity=2)
    oid = order["id"]
    [line] = returnable(api, oid)
    fl = line["fulfillment_line_item_id"]
    first = create(api, oid, return_body(fl, line={"customer_note": "Too small"}), path="return_requests")
    assert first["status"] == "requested" and first["reverse_fulfillment_orders"] == []
    assert first["return_line_items"][0]["customer_note"] == "Too small"
    assert shop.get(oid)["return_status"] == "return_requested"
    assert oid in ids_listed(api, return_status="return_requested")
    approved = post(api, f"/returns/{first['id']}/approve.json", {"return": {"notify_customer": False}})["return"]
    assert approved["status"] == "open" and approved["request_approved_at"]
    assert len(approved["reverse_fulfillment_orders"]) == 1

    second = create(api, oid, return_body(fl), path="return_requests")
    declined = post(
        api,
        f"/returns/{second['id']}/decline.json",
        {"return": {"decline_reason": "final_sale", "decline_note": "Sale items are final."}},
    )["return"]
    assert declined["status"] == "declined"
    assert declined["decline"] == {"reason": "final_sale", "note": "Sale items are final."}
    # the declined unit can be returned again
    assert [li["quantity"] for li in returnable(api, oid)] == [1]

    # the list: oldest first, by status, a page at a time
    listed = api.get(f"/orders/{oid}/returns.json?limit=1")
    assert [r["id"] for r in listed.json()["returns"]] == [first["id"]]
    next_link = listed.headers["Link"].split(";")[0].strip("<>")
    assert [r["id"] for r in api.client.get(next_link, headers=api.headers).json()["returns"]] == [second["id"]]
    declined_only = api.ok(api.get(f"/orders/{oid}/returns.json?status=declined"))["returns"]
    assert [r["id"] for r in declined_only] == [second["id"]]


def test_units_in_a_live_return_are_refunded_through_it_only(api: Api, shop: Shop, mug: int) -> None:
    order = shipped_order(shop, mug, quantity=2)
    [line] = returnable(api, order["id"])
    create(api, order["id"], return_body(line["fulfillment_line_item_id"]))
    both = {"refund": {"refund_line_items": [{"line_item_id": line["line_item_id"], "quantity": 2}]}}
    before = shop.get(order["id"])
    refused = api.post(f"/orders/{order['id']}/refunds.json", both)
    assert refused.status_code == 422, refused.text
    assert shop.get(order["id"]) == before
    one = {"refund": {"refund_line_items": [{"line_item_id": line["line_item_id"], "quantity": 1}]}}
    assert api.post(f"/orders/{order['id']}/refunds.json", one).status_code == 201


def test_cancelling_a_return_before_any_work_fulfils_the_units_again(api: Api, shop: Shop, mug: int) -> None:
    order = shipped_order(shop, mug, quantity=1)
    [line] = returnable(api, order["id"])
    ret = create(api, order["id"], return_body(line["fulfillment_line_item_id"]))
    assert post(api, f"/returns/{ret['id']}/cancel.json")["return"]["status"] == "canceled"
    assert shop.get(order["id"])["return_status"] == "no_return"
    assert returnable(api, order["id"])[0]["quantity"] == 1


def test_units_come_off_a_return(api: Api, shop: Shop, mug: int) -> None:
    order = shipped_order(shop, mug, quantity=3)
    [line] = returnable(api, order["id"])
    ret = create(api, order["id"], return_body(line["fulfillment_line_item_id"], 3))
    rli = ret["return_line_items"][0]["id"]
    changed = post(
        api,
        f"/returns/{ret['id']}/remove_line_items.json",
        {"return": {"return_line_items": [{"id": rli, "quantity": 2}]}},
    )["return"]
    assert changed["total_quantity"] == 1 and changed["return_line_items"][0]["removed_quantity"] == 2
    assert rfo_lines(changed)[0]["total_quantity"] == 1
    assert returnable(api, order["id"])[0]["quantity"] == 2


def test_an_exchange_for_a_dearer_item_leaves_the_customer_owing(
    api: Api, shop: Shop, mug: int, amsterdam: int
) -> None:
    jug = shop.product("JUG-1", price="20.00", stock={amsterdam: 5}, title="Jug")
    order = shipped_order(shop, mug, quantity=1)
    oid = order["id"]
    [line] = returnable(api, oid)
    body = return_body(line["fulfillment_line_item_id"], exchange_line_items=[{"variant_id": jug, "quantity": 1}])
    calc = post(api, f"/orders/{oid}/returns/calculate.json", body)["return"]
    assert calc["financial_outcome"]["kind"] == "invoice"
    assert calc["financial_outcome"]["amount_set"]["presentment_money"]["amount"] == "7.50"
    assert calc["exchange_line_items"][0]["subtotal_set"]["shop_money"]["amount"] == "20.00"

    ret = create(api, oid, body)
    after = shop.get(oid)
    assert after["financial_status"] == "partially_paid"
    assert after["total_outstanding"] == "7.50"
    [exchange] = ret["exchange_line_items"]
    assert exchange["variant_id"] == jug and len(exchange["line_item_ids"]) == 1
    assert exchange["line_item_ids"][0] in {li["id"] for li in after["line_items"]}
    [held] = [fo for fo in shop.fulfillment_orders(oid) if fo["id"] in ret["exchange_fulfillment_order_ids"]]
    assert held["status"] == "on_hold"
    assert {h["reason"] for h in held["fulfillment_holds"]} == {"awaiting_return_items", "awaiting_payment"}
    assert stock(shop, jug, amsterdam) == (4, 1, 5)

    # a discounted exchange: 50 % off the jug leaves the shop owing 2.50
    other = shipped_order(shop, mug, quantity=1)
    [line] = returnable(api, other["id"])
    half = return_body(
        line["fulfillment_line_item_id"],
        exchange_line_items=[
            {
                "variant_id": jug,
                "quantity": 1,
                "applied_discount": {"description": "Sorry", "value": {"percentage": 50}},
            }
        ],
    )
    calc = post(api, f"/orders/{other['id']}/returns/calculate.json", half)["return"]
    assert calc["financial_outcome"]["kind"] == "refund"
    assert calc["financial_outcome"]["amount_set"]["presentment_money"]["amount"] == "2.50"


def test_process_receives_and_refunds_in_one_call_or_not_at_all(api: Api, shop: Shop, mug: int, amsterdam: int) -> None:
    order = shipped_order(shop, mug, quantity=2)
    oid = order["id"]
    [line] = returnable(api, oid)
    ret = create(api, oid, return_body(line["fulfillment_line_item_id"], 2))
    rli = ret["return_line_items"][0]["id"]
    half = post(
        api,
        f"/returns/{ret['id']}/process.json",
        {
            "return": {
                "return_line_items": [
                    {
                        "id": rli,
                        "quantity": 1,
                        "dispositions": [{"type": "restocked", "location_id": amsterdam, "quantity": 1}],
                    }
                ],
                "refund": {},
            }
        },
    )
    assert half["return"]["status"] == "open"
    assert half["return"]["return_line_items"][0]["refunded_quantity"] == 1
    assert half["return"]["return_line_items"][0]["processed_quantity"] == 1
    assert sum(Decimal(t["amount"]) for t in half["refund"]["transactions"]) == Decimal("12.50")
    assert stock(shop, mug, amsterdam) == (49, 0, 49)

    # asking to refund more than is left refuses the whole call: nothing is received either
    before = shop.get(oid)
    refused = api.post(
        f"/returns/{ret['id']}/process.json",
        {
            "return": {
                "return_line_items": [{"id": rli, "quantity": 2, "dispositions": [{"type": "missing", "quantity": 2}]}],
                "refund": {},
            }
        },
    )
    assert refused.status_code == 422, refused.text
    assert shop.get(oid) == before

    last = post(
        api,
        f"/returns/{ret['id']}/process.json",
        {
            "return": {
                "return_line_items": [{"id": rli, "quantity": 1, "dispositions": [{"type": "missing", "quantity": 1}]}],
                "refund": {"transactions": []},
            }
        },
    )
    assert last["return"]["status"] == "closed"
    assert last["refund"]["transactions"] == []
    assert shop.get(oid)["return_status"] == "returned"


def test_the_orders_list_filters_by_return_status(api: Api, shop: Shop, mug: int) -> None:
    plain = shipped_order(shop, mug, quantity=1)
    requested = shipped_order(shop, mug, quantity=1)
    [line] = returnable(api, requested["id"])
    create(api, requested["id"], return_body(line["fulfillment_line_item_id"]), path="return_requests")
    assert ids_listed(api, return_status="return_requested") == {requested["id"]}
    assert ids_listed(api, return_status="no_return") == {plain["id"]}
    assert counted(api, return_status="return_requested") == 1
    assert counted(api, return_status="in_progress") == 0
    # the filter rides along in the page_info of the next page
    page = api.get("/orders.json?status=any&return_status=no_return&limit=1")
    assert page.headers.get("Link") is None
    refused = api.get("/orders.json?return_status=in_return")
    assert refused.status_code == 422 and "return_status" in refused.json()["errors"]
    assert api.get("/orders/count.json?return_status=bogus").status_code == 422
    # Bulk work takes the same filter: tag every order with a return requested.
    tagged = api.ok(
        api.post(
            "/orders/bulk/tags/add.json",
            {"filter": {"status": "any", "return_status": "return_requested"}, "tags": "return-asked"},
        )
    )
    assert tagged["bulk_result"]["succeeded"] == [requested["id"]], tagged
    assert ids_listed(api, tag="return-asked") == {requested["id"]}


def test_an_idempotency_key_replays_the_creation_and_makes_one_return(api: Api, shop: Shop, mug: int) -> None:
    order = shipped_order(shop, mug, quantity=2)
    [line] = returnable(api, order["id"])
    body = return_body(line["fulfillment_line_item_id"])
    key = {"Idempotency-Key": "return-once"}
    first = api.post(f"/orders/{order['id']}/returns.json", body, headers=key)
    again = api.post(f"/orders/{order['id']}/returns.json", body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert len(shop.get(order["id"])["returns"]) == 1
    other = api.post(
        f"/orders/{order['id']}/returns.json", return_body(line["fulfillment_line_item_id"], 2), headers=key
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["errors"]


def test_the_returns_scopes(deck: Orderdeck, api: Api, shop: Shop, mug: int) -> None:
    order = shipped_order(shop, mug, quantity=2)
    [line] = returnable(api, order["id"])
    body = return_body(line["fulfillment_line_item_id"])

    def call(scopes: list[str], method: str, path: str, json: Any = None) -> int:
        token = make_token(deck, scopes, name=",".join(scopes))
        headers = {"X-Shopify-Access-Token": token}
        return int(api.client.request(method, BASE + path, json=json, headers=headers).status_code)

    listing = f"/orders/{order['id']}/returns.json"
    assert call(["read_returns"], "GET", listing) == 200
    assert call(["read_returns"], "POST", f"/orders/{order['id']}/returns/calculate.json", body) == 200
    assert call(["read_returns"], "POST", listing, body) == 403
    assert call(["read_products"], "GET", listing) == 403
    assert call(["write_returns"], "POST", listing, body) == 201
    assert call(["write_orders"], "POST", listing, body) == 201


# ---- webhooks ------------------------------------------------------------------------------------
TOPICS = (
    "returns/request",
    "returns/approve",
    "returns/decline",
    "returns/update",
    "returns/cancel",
    "returns/close",
    "returns/reopen",
    "reverse_deliveries/attach_deliverable",
    "reverse_fulfillment_orders/dispose",
    "refunds/create",
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def test_every_return_topic_is_sent_in_shopifys_shape(
    deck: Orderdeck, api: Api, shop: Shop, mug: int, amsterdam: int, receiver: Receiver
) -> None:
    for topic in TOPICS:
        assert subscribe(api, receiver.url, topic=topic)["topic"] == topic
    order = shipped_order(shop, mug, quantity=3)
    oid = order["id"]
    [line] = returnable(api, oid)
    fl = line["fulfillment_line_item_id"]
    requested = create(api, oid, return_body(fl, 2), path="return_requests")
    post(api, f"/returns/{requested['id']}/approve.json")
    rli = requested["return_line_items"][0]["id"]
    post(
        api,
        f"/returns/{requested['id']}/remove_line_items.json",
        {"return": {"return_line_items": [{"id": rli, "quantity": 1}]}},
    )
    declined = create(api, oid, return_body(fl), path="return_requests")
    post(api, f"/returns/{declined['id']}/decline.json", {"return": {"decline_reason": "return_period_ended"}})
    cancelled = create(api, oid, return_body(fl))
    post(api, f"/returns/{cancelled['id']}/cancel.json")
    ret = api.ok(api.get(f"/returns/{requested['id']}.json"))["return"]
    rfo = ret["reverse_fulfillment_orders"][0]
    post(
        api,
        f"/reverse_fulfillment_orders/{rfo['id']}/reverse_deliveries.json",
        {"reverse_delivery": {"tracking": {"number": "3SXYZ", "company": "DHL"}}},
    )
    post(
        api,
        "/reverse_fulfillment_orders/dispose.json",
        {
            "dispositions": [
                {
                    "reverse_fulfillment_order_line_item_id": rfo["line_items"][0]["id"],
                    "quantity": 1,
                    "disposition_type": "restocked",
                    "location_id": amsterdam,
                }
            ]
        },
    )
    post(api, f"/returns/{ret['id']}/refunds.json", {"refund": {}})  # closes it
    post(api, f"/returns/{ret['id']}/reopen.json")
    asyncio.run(Worker(deck, run_jobs=False).drain())

    got: dict[str, list[Any]] = {}
    for received in receiver.got:
        got.setdefault(received.headers["X-Shopify-Topic"], []).append(received.json)
    assert set(got) == set(TOPICS)
    gid = f"gid://shopify/Return/{ret['id']}"

    [req] = got["returns/request"][:1]
    assert req["status"] == "requested" and req["order"] == {
        "id": oid,
        "admin_graphql_api_id": f"gid://shopify/Order/{oid}",
    }
    assert req["total_return_line_items"] == 1 and req["total_exchange_line_items"] == 0
    assert {"name", "return_line_items", "exchange_line_items", "return_shipping_fees"} <= set(req)
    line_json = req["return_line_items"][0]
    assert line_json["fulfillment_line_item"]["id"] == fl
    assert line_json["fulfillment_line_item"]["line_item"]["id"] == order["line_items"][0]["id"]
    assert line_json["return_reason"] == "size_too_small"

    approved = {p["id"]: p for p in got["returns/approve"]}
    assert approved[ret["id"]]["status"] == "open" and approved[ret["id"]]["admin_graphql_api_id"] == gid
    assert approved[cancelled["id"]]["status"] == "open"  # a return created open is approved at once

    [update] = got["returns/update"]
    assert update["return_line_items"]["removals"] == [
        {"admin_graphql_api_id": f"gid://shopify/ReturnLineItem/{rli}", "delta": 1}
    ]
    assert update["restocking_fees"] == {"removals": [], "updates": []}
    assert update["return_shipping_fees"] == {"removals": [], "updates": []}

    [decline] = got["returns/decline"]
    assert decline == {
        "admin_graphql_api_id": f"gid://shopify/Return/{declined['id']}",
        "id": declined["id"],
        "status": "declined",
        "decline": {"reason": "return_period_ended", "note": None},
    }
    for topic, status, which in (
        ("returns/cancel", "canceled", cancelled["id"]),
        ("returns/close", "closed", ret["id"]),
        ("returns/reopen", "open", ret["id"]),
    ):
        [payload] = got[topic]
        assert payload == {
            "admin_graphql_api_id": f"gid://shopify/Return/{which}",
            "id": which,
            "order_id": oid,
            "status": status,
        }, topic

    [attached] = got["reverse_deliveries/attach_deliverable"]
    assert attached["return"] == {"id": ret["id"], "admin_graphql_api_id": gid}
    assert attached["shipping_deliverable"]["tracking"] == {
        "carrier_name": "DHL",
        "tracking_number": "3SXYZ",
        "tracking_url": None,
    }
    assert attached["shipping_deliverable"]["label"] == {"created_at": None, "public_file_url": None}

    [dispose] = got["reverse_fulfillment_orders/dispose"]
    assert dispose["id"] == rfo["id"] and dispose["total_dispositions"] == 1
    [disposition] = dispose["dispositions"]
    assert disposition["type"] == "restocked" and disposition["quantity"] == 1
    assert disposition["location"]["id"] == amsterdam
    assert disposition["reverse_fulfillment_order_line_item"]["id"] == rfo["line_items"][0]["id"]

    [refund] = got["refunds/create"]
    assert refund["return"] == {"id": ret["id"], "admin_graphql_api_id": gid}
    assert refund["order_id"] == oid
