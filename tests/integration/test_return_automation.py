"""Automation rules on returns: triggered by the return topics, reading the return the change was
about, approving or declining it as an ordinary command authored by the rule."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from sqlalchemy import select

from orderdeck.automation import actions
from orderdeck.automation.examples import APPROVE_SMALL_RETURN_REQUESTS, TELL_STAFF_ABOUT_DEFECTIVE_ITEMS
from orderdeck.domain import returns as rules
from orderdeck.domain.order import Author
from orderdeck.outbox.worker import Worker
from orderdeck.services import returns as commands
from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox
from tests.conftest import Api, Shop
from tests.integration.returns_steps import fulfillment_line_ids, run, shipped_order

CUSTOMER = Author(kind="customer", name="Customer", ref=None)


def work(deck: Orderdeck) -> None:
    asyncio.run(Worker(deck, run_jobs=False).drain())


def add_rule(api: Api, rule: dict[str, Any]) -> dict[str, Any]:
    return api.ok(api.post("/automation_rules.json", {"automation_rule": rule}))["automation_rule"]  # type: ignore[no-any-return]


def runs(api: Api, rule_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/automation_rules/{rule_id}/runs.json"))["runs"]  # type: ignore[no-any-return]


def request(deck: Orderdeck, order_id: int, reason: str, quantity: int = 1, line: int = 0) -> int:
    """A customer's return request for units of the order's `line`-th shipped line; its id."""
    fl = fulfillment_line_ids(deck, order_id)[line]
    wanted = rules.ReturnRequest(
        lines=[rules.ReturnLineRequest(fulfillment_line_item_id=fl, quantity=quantity, return_reason=reason)]
    )  # type: ignore[call-arg]
    _, ret = run(
        deck, lambda c: commands.start(c, order_id, commands.StartReturn(wanted, status="requested")), CUSTOMER
    )
    return ret.id


def returns_of(shop: Shop, order_id: int) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in shop.get(order_id)["returns"]}


def queued(deck: Orderdeck, kind: str, topic: str) -> list[dict[str, Any]]:
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(outbox.c.payload).where(outbox.c.kind == kind, outbox.c.topic == topic))
        return [orjson.loads(r.payload) for r in rows]


def test_a_rule_on_return_requests_approves_the_request_that_triggered_it(
    deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    rule = add_rule(api, APPROVE_SMALL_RETURN_REQUESTS)
    order = shipped_order(shop, mug, quantity=3)
    # Two requests before the worker runs: each run reads the request it was started by, so the
    # defective one stays for staff even though it is the newest when the first run acts.
    small = request(deck, order["id"], "size_too_small")
    defective = request(deck, order["id"], "defective")
    work(deck)

    found = returns_of(shop, order["id"])
    assert found[small]["status"] == "open"
    assert found[defective]["status"] == "requested"
    done = {r["state"]: r for r in runs(api, rule["id"])}
    assert set(done) == {"done", "skipped"}
    assert done["done"]["trigger"] == "returns/request"
    assert done["done"]["log"][0]["result"] == f"approved return {found[small]['name']}"
    approvals = api.ok(api.get(f"/orders/{order['id']}/events.json", params={"verb": "return_approved"}))["events"]
    assert [e["author"] for e in approvals] == ["Rule: Approve small return requests"]
    # Approved with a notice to the customer, as the rule's default says.
    assert [m["subject_id"] for m in queued(deck, "notification", "return_approved")] == [small]
    assert shop.get(order["id"])["return_status"] == "return_requested"  # the defective one waits


def test_a_request_worth_more_is_left_for_staff_and_defective_items_are_told_to_staff(
    deck: Orderdeck, api: Api, shop: Shop, amsterdam: int
) -> None:
    approve = add_rule(api, APPROVE_SMALL_RETURN_REQUESTS)
    tell = add_rule(api, TELL_STAFF_ABOUT_DEFECTIVE_ITEMS)
    lamp = shop.product("LAMP-1", price="80.00", stock={amsterdam: 5}, title="Lamp")
    order = shipped_order(shop, lamp, quantity=1)
    ret = request(deck, order["id"], "defective")
    work(deck)

    assert returns_of(shop, order["id"])[ret]["status"] == "requested"
    assert [r["state"] for r in runs(api, approve["id"])] == ["skipped"]
    assert [r["state"] for r in runs(api, tell["id"])] == ["done"]
    assert "defective-return" in shop.get(order["id"])["tags"]
    mails = queued(deck, "staff_alert", "automation_email")
    assert [(m["order_id"], m["subject"]) for m in mails] == [(order["id"], "A customer returns a defective item")]


def test_a_final_sale_item_is_left_for_staff(deck: Orderdeck, api: Api, shop: Shop, mug: int) -> None:
    shop.settings(final_sale_tags=["Final sale"])
    rule = add_rule(api, APPROVE_SMALL_RETURN_REQUESTS)
    sale = shipped_order(shop, mug, quantity=1, tags="final sale")
    usual = shipped_order(shop, mug, quantity=1)
    # Staff (or an app) may ask back what the status page would not offer a customer.
    on_sale = request(deck, sale["id"], "size_too_small")
    request(deck, usual["id"], "size_too_small")
    # A dry run finds the same: the usual order only, by the same policy.
    dry = api.ok(api.post("/automation_rules/dry_run.json", {"automation_rule": APPROVE_SMALL_RETURN_REQUESTS}))
    assert dry["orders"] == [{"id": usual["id"], "name": usual["name"]}]
    work(deck)

    assert returns_of(shop, sale["id"])[on_sale]["status"] == "requested"
    assert shop.get(usual["id"])["returns"][0]["status"] == "open"
    assert sorted(r["state"] for r in runs(api, rule["id"])) == ["done", "skipped"]


def test_a_rule_declines_the_request_with_the_reason_and_message(
    deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    rule = add_rule(
        api,
        {
            "name": "No returns of unwanted mugs",
            "enabled": True,
            "when": {"event": "returns/request"},
            "if": {
                "all": [
                    {"field": "return.reasons", "op": "contains", "value": "unwanted"},
                    {"field": "return.line_items.sku", "op": "contains", "value": "mug-1"},
                    {"field": "return_status", "op": "eq", "value": "return_requested"},
                ]
            },
            "then": [
                {
                    "action": "decline_return",
                    "reason": "other",
                    "message": "Mugs are only taken back when damaged.",
                    "notify_customer": False,
                },
            ],
        },
    )
    order = shipped_order(shop, mug, quantity=1)
    ret = request(deck, order["id"], "unwanted")
    work(deck)

    declined = returns_of(shop, order["id"])[ret]
    assert declined["status"] == "declined"
    assert declined["decline"] == {"reason": "other", "note": "Mugs are only taken back when damaged."}
    assert shop.get(order["id"])["return_status"] == "return_failed"
    assert [r["state"] for r in runs(api, rule["id"])] == ["done"]
    assert queued(deck, "notification", "return_declined") == []  # the rule said not to tell
    # Repeated (a worker that resumes the run, say), the action finds nothing to answer.
    step = {"action": "decline_return", "reason": "other"}
    again = run(deck, lambda c: actions.perform(c, order["id"], step, rule["name"], return_id=ret))
    assert again == f"return {declined['name']} is already declined"


def test_a_rules_own_change_to_a_return_does_not_trigger_it_again(
    deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    order = shipped_order(shop, mug, quantity=1)
    work(deck)  # the shipment's changes are handed on before the rule exists
    # Approving raises orders/updated, the very topic this rule listens to.
    rule = add_rule(
        api,
        {
            "name": "Approve whatever waits",
            "enabled": True,
            "when": {"event": "orders/updated"},
            "if": {"field": "return_status", "op": "eq", "value": "return_requested"},
            "then": [{"action": "approve_return", "notify_customer": False}, {"action": "add_tags", "tags": ["auto"]}],
        },
    )
    ret = request(deck, order["id"], "style")
    work(deck)

    assert returns_of(shop, order["id"])[ret]["status"] == "open"
    assert [(r["trigger"], r["state"], r["depth"]) for r in runs(api, rule["id"])] == [("orders/updated", "done", 0)]


def test_return_rules_are_checked_when_saved(api: Api) -> None:
    base = {"name": "R", "enabled": True, "when": {"event": "refunds/create"}}
    for change, where in (
        ({"if": {"field": "return.reasons", "op": "gt", "value": 1}}, "if.op"),
        ({"if": {"field": "return.total", "op": "lt", "value": "cheap"}}, "if.value"),
        ({"then": [{"action": "decline_return"}]}, "then[0].reason"),
        ({"then": [{"action": "decline_return", "reason": "too_late"}]}, "then[0].reason"),
        ({"then": [{"action": "decline_return", "reason": "other", "message": "x" * 501}]}, "then[0].message"),
        ({"then": [{"action": "approve_return", "notify_customer": "yes"}]}, "then[0].notify_customer"),
    ):
        rule = {**base, "then": [{"action": "approve_return"}], **change}
        answer = api.post("/automation_rules.json", {"automation_rule": rule})
        assert answer.status_code == 422, (change, answer.text)
        assert where in answer.json()["errors"], (change, answer.json())
    assert api.ok(api.get("/automation_rules.json"))["automation_rules"] == []
