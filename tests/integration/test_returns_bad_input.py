"""Bad input on every returns endpoint: unknown ids (404), units that are not fulfilled or are
already in a return, a return in the wrong state, a fee over 100 %, negative quantities, reasons
Shopify does not have, a label that is not an http(s) address, … Each answers 4xx naming the
field, and the order is exactly as it was (its JSON compared before and after), on both databases.

One shop is set up per database and every refusal is tried against it in turn, because setting
it up costs more than all the refusals together."""

from __future__ import annotations

from typing import Any

from orderdeck.domain.order import CHILD_ID_BITS
from tests.conftest import Api, Shop
from tests.integration.order_steps import open_fo, ship, stock

LONG = "x" * 501


def _setup(api: Api, shop: Shop, mug: int, amsterdam: int) -> dict[str, Any]:
    """An order of 4 mugs with 3 shipped: an open return of 1 with a label, a requested return of
    1 and a declined one; 1 shipped unit is still returnable, 1 unit is not shipped."""
    order = shop.order([{"variant_id": mug, "quantity": 4}], transactions=[{"kind": "sale", "status": "success"}])
    oid = order["id"]
    assert ship(api, open_fo(shop, oid), quantity=3).status_code == 201
    found = api.ok(api.get(f"/orders/{oid}/returnable_fulfillments.json"))["returnable_fulfillments"]
    fl = found[0]["line_items"][0]["fulfillment_line_item_id"]

    def start(path: str) -> dict[str, Any]:
        body = {"return": {"return_line_items": [{"fulfillment_line_item_id": fl, "quantity": 1}]}}
        return api.ok(api.post(f"/orders/{oid}/{path}.json", body))["return"]  # type: ignore[no-any-return]

    open_return = start("returns")
    requested = start("return_requests")
    declined = start("return_requests")
    api.ok(api.post(f"/returns/{declined['id']}/decline.json", {"return": {"decline_reason": "other"}}))
    rfo = open_return["reverse_fulfillment_orders"][0]
    delivery = api.ok(
        api.post(
            f"/reverse_fulfillment_orders/{rfo['id']}/reverse_deliveries.json",
            {"reverse_delivery": {"label": {"file_url": "https://labels.example.com/1.pdf"}}},
        )
    )["reverse_delivery"]
    return {
        "oid": oid,
        "fl": fl,
        "open": open_return["id"],
        "rli": open_return["return_line_items"][0]["id"],
        "requested": requested["id"],
        "requested_rli": requested["return_line_items"][0]["id"],
        "declined": declined["id"],
        "rfo": rfo["id"],
        "rfo_line": rfo["line_items"][0]["id"],
        "delivery": delivery["id"],
        "amsterdam": amsterdam,
        # an id inside the order that is no return, RFO or delivery, and one of no order at all
        "bogus": (oid << CHILD_ID_BITS) | 999_999,
        "nowhere": (999_999 << CHILD_ID_BITS) | 1,
    }


def _line(fl: int, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"fulfillment_line_item_id": fl, "quantity": quantity, "return_reason": "defective", **extra}


def _cases(s: dict[str, Any]) -> list[tuple[str, str, str, Any, int, str | None]]:
    """(what, method, path, body, status, the field the errors name; None for a 404/400)."""
    oid, fl, ret, req = s["oid"], s["fl"], s["open"], s["requested"]
    one = {"return": {"return_line_items": [_line(fl)]}}
    refund = {"refund": {}}
    process = {"return": {"return_line_items": [{"id": s["rli"], "quantity": 1}], "refund": {}}}
    dispose_line = {
        "reverse_fulfillment_order_line_item_id": s["rfo_line"],
        "quantity": 1,
        "disposition_type": "restocked",
        "location_id": s["amsterdam"],
    }
    label = {"reverse_delivery": {"label": {"file_url": "https://labels.example.com/2.pdf"}}}
    cases: list[tuple[str, str, str, Any, int, str | None]] = []
    # ---- unknown ids: 404
    for bogus in ("bogus", "nowhere"):
        rid = s[bogus]
        cases += [
            (f"get {bogus} return", "GET", f"/returns/{rid}.json", None, 404, None),
            (f"{bogus} return's RFOs", "GET", f"/returns/{rid}/reverse_fulfillment_orders.json", None, 404, None),
            (f"approve {bogus}", "POST", f"/returns/{rid}/approve.json", {}, 404, None),
            (
                f"decline {bogus}",
                "POST",
                f"/returns/{rid}/decline.json",
                {"return": {"decline_reason": "other"}},
                404,
                None,
            ),
            (f"cancel {bogus}", "POST", f"/returns/{rid}/cancel.json", None, 404, None),
            (f"close {bogus}", "POST", f"/returns/{rid}/close.json", None, 404, None),
            (f"reopen {bogus}", "POST", f"/returns/{rid}/reopen.json", None, 404, None),
            (
                f"remove from {bogus}",
                "POST",
                f"/returns/{rid}/remove_line_items.json",
                {"return": {"return_line_items": [{"id": s["rli"], "quantity": 1}]}},
                404,
                None,
            ),
            (f"refund {bogus}", "POST", f"/returns/{rid}/refunds.json", refund, 404, None),
            (f"process {bogus}", "POST", f"/returns/{rid}/process.json", process, 404, None),
            (
                f"label on {bogus} RFO",
                "POST",
                f"/reverse_fulfillment_orders/{rid}/reverse_deliveries.json",
                label,
                404,
                None,
            ),
            (f"change {bogus} delivery", "PUT", f"/reverse_deliveries/{rid}.json", label, 404, None),
        ]
    cases += [
        ("returns of no order", "GET", "/orders/999999/returns.json", None, 404, None),
        ("returnable of no order", "GET", "/orders/999999/returnable_fulfillments.json", None, 404, None),
        ("calculate on no order", "POST", "/orders/999999/returns/calculate.json", one, 404, None),
        ("create on no order", "POST", "/orders/999999/returns.json", one, 404, None),
        ("request on no order", "POST", "/orders/999999/return_requests.json", one, 404, None),
        (
            "dispose a line of no order",
            "POST",
            "/reverse_fulfillment_orders/dispose.json",
            {"dispositions": [{**dispose_line, "reverse_fulfillment_order_line_item_id": s["nowhere"]}]},
            404,
            None,
        ),
        # ---- lists
        (
            "list by a status returns do not have",
            "GET",
            f"/orders/{oid}/returns.json?status=bogus",
            None,
            422,
            "status",
        ),
        ("list with a page_info made up", "GET", f"/orders/{oid}/returns.json?page_info=abc", None, 400, "page_info"),
        ("orders by an old return status", "GET", "/orders.json?return_status=in_return", None, 422, "return_status"),
        ("count by an unknown return status", "GET", "/orders/count.json?return_status=x", None, 422, "return_status"),
    ]
    # ---- what can be returned
    for name, path in (("create", "returns"), ("request", "return_requests"), ("calculate", "returns/calculate")):
        url = f"/orders/{oid}/{path}.json"
        cases += [
            (
                f"{name}: more than is returnable",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl, 2)]}},
                422,
                "return_line_items",
            ),
            (
                f"{name}: the same unit twice",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl), _line(fl)]}},
                422,
                "return_line_items",
            ),
            (
                f"{name}: a fulfillment line of another order",
                "POST",
                url,
                {"return": {"return_line_items": [_line(s["bogus"])]}},
                422,
                "return_line_items",
            ),
            (
                f"{name}: nothing to return",
                "POST",
                url,
                {"return": {"return_line_items": []}},
                422,
                "return_line_items",
            ),
            (f"{name}: no body", "POST", url, {}, 422, "return"),
            (
                f"{name}: negative quantity",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl, -1)]}},
                422,
                "return_line_items[0].quantity",
            ),
            (
                f"{name}: zero quantity",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl, 0)]}},
                422,
                "return_line_items[0].quantity",
            ),
            (
                f"{name}: restocking fee over 100 %",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl, restocking_fee={"percentage": 100.5})]}},
                422,
                "return_line_items[0].restocking_fee.percentage",
            ),
            (
                f"{name}: negative restocking fee",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl, restocking_fee={"percentage": -5})]}},
                422,
                "return_line_items[0].restocking_fee.percentage",
            ),
            (
                f"{name}: a reason Shopify does not have",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl, return_reason="bored")]}},
                422,
                "return_line_items[0].return_reason",
            ),
            (
                f"{name}: a reason note too long",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl, return_reason_note="x" * 256)]}},
                422,
                "return_line_items[0].return_reason_note",
            ),
            (
                f"{name}: an unknown key",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl, colour="red")]}},
                422,
                "return_line_items[0].colour",
            ),
            (
                f"{name}: negative return shipping fee",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl)], "return_shipping_fee": {"amount": "-1.00"}}},
                422,
                "return_shipping_fee.amount",
            ),
            (
                f"{name}: return shipping fee in another currency",
                "POST",
                url,
                {
                    "return": {
                        "return_line_items": [_line(fl)],
                        "return_shipping_fee": {"amount": "1", "currency": "USD"},
                    }
                },
                422,
                "return_shipping_fee",
            ),
            (
                f"{name}: a fee with more decimals than the currency",
                "POST",
                url,
                {"return": {"return_line_items": [_line(fl)], "return_shipping_fee": {"amount": "1.005"}}},
                422,
                "return_shipping_fee",
            ),
        ]
    create = f"/orders/{oid}/returns.json"
    cases += [
        (
            "create: exchange for a variant that does not exist",
            "POST",
            create,
            {
                "return": {
                    "return_line_items": [_line(fl)],
                    "exchange_line_items": [{"variant_id": 999999, "quantity": 1}],
                }
            },
            422,
            "exchange_line_items",
        ),
        (
            "create: exchange discount both a percentage and an amount",
            "POST",
            create,
            {
                "return": {
                    "return_line_items": [_line(fl)],
                    "exchange_line_items": [
                        {
                            "variant_id": 1,
                            "quantity": 1,
                            "applied_discount": {"value": {"percentage": 5, "amount": "1"}},
                        }
                    ],
                }
            },
            422,
            "exchange_line_items[0].applied_discount.value",
        ),
        (
            "create: negative exchange quantity",
            "POST",
            create,
            {"return": {"return_line_items": [_line(fl)], "exchange_line_items": [{"variant_id": 1, "quantity": -1}]}},
            422,
            "exchange_line_items[0].quantity",
        ),
        (
            "request: exchange items",
            "POST",
            f"/orders/{oid}/return_requests.json",
            {"return": {"return_line_items": [_line(fl)], "exchange_line_items": [{"variant_id": 1, "quantity": 1}]}},
            422,
            "exchange_line_items",
        ),
        # ---- wrong state
        ("approve an open return", "POST", f"/returns/{ret}/approve.json", None, 422, "base"),
        ("approve a declined return", "POST", f"/returns/{s['declined']}/approve.json", None, 422, "base"),
        (
            "decline an open return",
            "POST",
            f"/returns/{ret}/decline.json",
            {"return": {"decline_reason": "other"}},
            422,
            "base",
        ),
        ("reopen an open return", "POST", f"/returns/{ret}/reopen.json", None, 422, "base"),
        ("close a requested return", "POST", f"/returns/{req}/close.json", None, 422, "base"),
        ("cancel a declined return", "POST", f"/returns/{s['declined']}/cancel.json", None, 422, "base"),
        ("refund a requested return", "POST", f"/returns/{req}/refunds.json", refund, 422, "base"),
        (
            "process a requested return",
            "POST",
            f"/returns/{req}/process.json",
            {
                "return": {
                    "return_line_items": [
                        {"id": s["requested_rli"], "quantity": 1, "dispositions": [{"type": "missing", "quantity": 1}]}
                    ]
                }
            },
            422,
            "return_line_items",
        ),
        (
            "remove every unit of a return",
            "POST",
            f"/returns/{ret}/remove_line_items.json",
            {"return": {"return_line_items": [{"id": s["rli"], "quantity": 1}]}},
            422,
            "return_line_items",
        ),
        # ---- decline, remove, refund, process
        (
            "decline with a reason Shopify does not have",
            "POST",
            f"/returns/{req}/decline.json",
            {"return": {"decline_reason": "bored"}},
            422,
            "decline_reason",
        ),
        (
            "decline with a note over 500 characters",
            "POST",
            f"/returns/{req}/decline.json",
            {"return": {"decline_reason": "other", "decline_note": LONG}},
            422,
            "decline_note",
        ),
        ("decline without a reason", "POST", f"/returns/{req}/decline.json", {"return": {}}, 422, "decline_reason"),
        (
            "remove a line of another return",
            "POST",
            f"/returns/{ret}/remove_line_items.json",
            {"return": {"return_line_items": [{"id": s["requested_rli"], "quantity": 1}]}},
            422,
            "return_line_items",
        ),
        (
            "remove a negative quantity",
            "POST",
            f"/returns/{ret}/remove_line_items.json",
            {"return": {"return_line_items": [{"id": s["rli"], "quantity": -2}]}},
            422,
            "return_line_items[0].quantity",
        ),
        ("remove nothing", "POST", f"/returns/{ret}/remove_line_items.json", {"return": {}}, 422, "return_line_items"),
        (
            "refund more units than the return has",
            "POST",
            f"/returns/{ret}/refunds.json",
            {"refund": {"return_line_items": [{"id": s["rli"], "quantity": 2}]}},
            422,
            "return_line_items",
        ),
        (
            "refund a line of another return",
            "POST",
            f"/returns/{ret}/refunds.json",
            {"refund": {"return_line_items": [{"id": s["requested_rli"], "quantity": 1}]}},
            422,
            "return_line_items",
        ),
        (
            "refund a negative amount",
            "POST",
            f"/returns/{ret}/refunds.json",
            {"refund": {"transactions": [{"amount": "-5.00"}]}},
            422,
            "transactions[0].amount",
        ),
        (
            "refund more than was captured",
            "POST",
            f"/returns/{ret}/refunds.json",
            {"refund": {"transactions": [{"amount": "500.00"}]}},
            422,
            None,
        ),
        (
            "process: dispositions that do not add up",
            "POST",
            f"/returns/{ret}/process.json",
            {
                "return": {
                    "return_line_items": [
                        {"id": s["rli"], "quantity": 1, "dispositions": [{"type": "missing", "quantity": 2}]}
                    ]
                }
            },
            422,
            "return_line_items",
        ),
        (
            "process: a disposition Shopify does not have",
            "POST",
            f"/returns/{ret}/process.json",
            {
                "return": {
                    "return_line_items": [
                        {"id": s["rli"], "quantity": 1, "dispositions": [{"type": "burnt", "quantity": 1}]}
                    ]
                }
            },
            422,
            "return_line_items[0].dispositions[0].type",
        ),
        (
            "process: restocked without a location",
            "POST",
            f"/returns/{ret}/process.json",
            {
                "return": {
                    "return_line_items": [
                        {"id": s["rli"], "quantity": 1, "dispositions": [{"type": "restocked", "quantity": 1}]}
                    ],
                    "refund": {},
                }
            },
            422,
            "dispositions",
        ),
        (
            "process: neither dispositions nor refund",
            "POST",
            f"/returns/{ret}/process.json",
            {"return": {"return_line_items": [{"id": s["rli"], "quantity": 1}]}},
            422,
            "return_line_items",
        ),
        (
            "process: store credit",
            "POST",
            f"/returns/{ret}/process.json",
            {
                "return": {
                    "return_line_items": [{"id": s["rli"], "quantity": 1}],
                    "refund": {"store_credit": {"amount": "1"}},
                }
            },
            422,
            "refund.store_credit",
        ),
        # ---- labels, tracking and dispositions
        *[
            (
                f"a label at {url}",
                "POST",
                f"/reverse_fulfillment_orders/{s['rfo']}/reverse_deliveries.json",
                {"reverse_delivery": {"label": {"file_url": url}}},
                422,
                "label",
            )
            for url in ("ftp://labels.example.com/1.pdf", "javascript:alert(1)", "labels.example.com/1.pdf")
        ],
        (
            "tracking at an address that is not http(s)",
            "POST",
            f"/reverse_fulfillment_orders/{s['rfo']}/reverse_deliveries.json",
            {"reverse_delivery": {"tracking": {"number": "1", "url": "file:///etc/passwd"}}},
            422,
            "tracking",
        ),
        (
            "a delivery with neither label nor tracking",
            "POST",
            f"/reverse_fulfillment_orders/{s['rfo']}/reverse_deliveries.json",
            {"reverse_delivery": {}},
            422,
            "reverse_delivery",
        ),
        (
            "a delivery of more units than the RFO holds",
            "POST",
            f"/reverse_fulfillment_orders/{s['rfo']}/reverse_deliveries.json",
            {
                "reverse_delivery": {
                    **label["reverse_delivery"],
                    "line_items": [{"reverse_fulfillment_order_line_item_id": s["rfo_line"], "quantity": 5}],
                }
            },
            422,
            "line_items",
        ),
        (
            "change a label to one that is not http(s)",
            "PUT",
            f"/reverse_deliveries/{s['delivery']}.json",
            {"reverse_delivery": {"label": {"file_url": "data:text/html,hi"}}},
            422,
            "label",
        ),
        (
            "dispose nothing",
            "POST",
            "/reverse_fulfillment_orders/dispose.json",
            {"dispositions": []},
            422,
            "dispositions",
        ),
        (
            "dispose more than was returned",
            "POST",
            "/reverse_fulfillment_orders/dispose.json",
            {"dispositions": [{**dispose_line, "quantity": 2}]},
            422,
            "dispositions",
        ),
        (
            "dispose a negative quantity",
            "POST",
            "/reverse_fulfillment_orders/dispose.json",
            {"dispositions": [{**dispose_line, "quantity": -1}]},
            422,
            "dispositions[0].quantity",
        ),
        (
            "restock at a location that does not exist",
            "POST",
            "/reverse_fulfillment_orders/dispose.json",
            {"dispositions": [{**dispose_line, "location_id": 999999}]},
            422,
            "dispositions",
        ),
        (
            "a disposition type Shopify does not have",
            "POST",
            "/reverse_fulfillment_orders/dispose.json",
            {"dispositions": [{**dispose_line, "disposition_type": "burnt"}]},
            422,
            "dispositions[0].disposition_type",
        ),
        (
            "dispose a line that is no RFO line of the order",
            "POST",
            "/reverse_fulfillment_orders/dispose.json",
            {"dispositions": [{**dispose_line, "reverse_fulfillment_order_line_item_id": s["bogus"]}]},
            422,
            "dispositions",
        ),
    ]
    return cases


def test_every_refusal_names_the_field_and_changes_nothing(api: Api, shop: Shop, mug: int, amsterdam: int) -> None:
    s = _setup(api, shop, mug, amsterdam)
    before = shop.get(s["oid"])
    levels = stock(shop, mug, amsterdam)
    problems = []
    for what, method, path, body, status, field in _cases(s):
        answer = api.request(method, path, json=body)
        errors = answer.json().get("errors") if answer.headers.get("content-type") == "application/json" else None
        if answer.status_code != status:
            problems.append(f"{what}: {answer.status_code} {answer.text[:300]}")
        elif field is not None and not (isinstance(errors, dict) and field in errors):
            problems.append(f"{what}: errors do not name {field}: {errors}")
        elif status == 404 and errors != "Not Found":
            problems.append(f"{what}: {errors}")
        after = shop.get(s["oid"])
        if after != before:
            problems.append(f"{what}: the order changed")
            before = after
    assert stock(shop, mug, amsterdam) == levels
    assert not problems, "\n".join(problems)
