"""Automation rules triggered by an order edit (`when: {event: orders/edited}`): they run after a
commit, read the order as the edit left it, and never run for an edit that was only staged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orderdeck.automation.grammar import RULE_TOPICS, matches, parse_rule
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from tests.conftest import Api, Shop

COLLECT_AFTER_AN_EDIT: dict[str, Any] = {
    "name": "Collect what an edit added",
    "enabled": True,
    "when": {"event": "orders/edited"},
    "if": {"field": "total_outstanding", "op": "gt", "value": 0},
    "then": [{"action": "add_tags", "tags": ["collect-balance"]}],
}
SMALL_AFTER_AN_EDIT: dict[str, Any] = {
    "name": "Tag orders an edit made small",
    "enabled": True,
    "when": {"event": "orders/edited"},
    "if": {"field": "line_items.current_quantity", "op": "lte", "value": 1},
    "then": [{"action": "add_tags", "tags": ["small-now"]}],
}


@pytest.fixture
def cap(shop: Shop, amsterdam: int) -> int:
    return shop.product("CAP-1", price="20.00", stock={amsterdam: 10}, title="Cap")


def work(deck: Orderdeck) -> None:
    asyncio.run(Worker(deck, run_jobs=False).drain())


def tags(shop: Shop, order_id: int) -> set[str]:
    return {t.strip() for t in shop.get(order_id)["tags"].split(",") if t.strip()}


def edit(api: Api, order_id: int, what: str, body: dict[str, Any]) -> int:
    edit_id = int(api.ok(api.post(f"/orders/{order_id}/order_edits.json"))["order_edit"]["id"])
    api.ok(api.post(f"/order_edits/{edit_id}/{what}.json", body))
    return edit_id


def test_orders_edited_is_an_event_rules_can_wait_for() -> None:
    assert "orders/edited" in RULE_TOPICS
    rule = parse_rule(SMALL_AFTER_AN_EDIT)
    assert rule.trigger.event == "orders/edited"
    # line_items.quantity is what was ordered; current_quantity what is on the order now.
    facts = {"_now": None, "tags": "", "line_items": [{"quantity": 2, "current_quantity": 1}]}
    assert matches(rule.conditions, facts)
    assert not matches(
        parse_rule({**SMALL_AFTER_AN_EDIT, "if": {"field": "line_items.quantity", "op": "lte", "value": 1}}).conditions,
        facts,
    )


def test_a_rule_runs_after_a_committed_edit_on_the_order_it_left(
    deck: Orderdeck, api: Api, shop: Shop, mug: int, cap: int
) -> None:
    for rule in (COLLECT_AFTER_AN_EDIT, SMALL_AFTER_AN_EDIT):
        api.ok(api.post("/automation_rules.json", {"automation_rule": rule}))
    paid = [{"kind": "sale", "status": "success"}]
    raised = shop.order([{"variant_id": mug, "quantity": 1}], transactions=paid)
    lowered = shop.order([{"variant_id": mug, "quantity": 2}], transactions=paid)
    staged_only = shop.order([{"variant_id": mug, "quantity": 1}], transactions=paid)

    committed = edit(api, raised["id"], "add_variant", {"variant_id": cap, "quantity": 1})
    api.ok(api.post(f"/order_edits/{committed}/commit.json"))
    committed = edit(
        api, lowered["id"], "set_quantity", {"line_item_id": lowered["line_items"][0]["id"], "quantity": 1}
    )
    api.ok(api.post(f"/order_edits/{committed}/commit.json"))
    edit(api, staged_only["id"], "add_variant", {"variant_id": cap, "quantity": 1})  # never committed
    work(deck)

    assert tags(shop, raised["id"]) == {"collect-balance"}  # 20.00 more to pay
    assert tags(shop, lowered["id"]) == {"small-now"}  # one mug left, overpaid: nothing to collect
    assert tags(shop, staged_only["id"]) == set()
