"""Automation rules through the API and the worker: checked on save, run after commit, every run
logged on the rule and the order's timeline, loops stopped, waits kept, dry runs, YAML."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from orderdeck.automation import engine
from orderdeck.automation.examples import (
    ARCHIVE_14_DAYS_AFTER_DELIVERY,
    HOLD_BIG_ORDERS_FROM_NEW_CUSTOMERS,
    UNFULFILLED_AFTER_3_DAYS,
)
from orderdeck.cli import app as cli
from orderdeck.outbox import scheduler
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from orderdeck.store.automation import Runs
from orderdeck.store.tables import outbox

from ..conftest import Api, Clock, Shop
from .test_webhooks import Receiver

BIG = [{"title": "Espresso machine", "price": "1250.00", "quantity": 1}]
SMALL = [{"title": "Mug", "price": "12.50", "quantity": 1}]

HOLD_BIG_FROM_NEW = HOLD_BIG_ORDERS_FROM_NEW_CUSTOMERS
UNFULFILLED_3_DAYS = UNFULFILLED_AFTER_3_DAYS
ARCHIVE_AFTER_DELIVERY = ARCHIVE_14_DAYS_AFTER_DELIVERY


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


def work(deck: Orderdeck) -> None:
    asyncio.run(Worker(deck, run_jobs=False).drain())


def add_rule(api: Api, rule: dict[str, Any]) -> dict[str, Any]:
    return api.ok(api.post("/automation_rules.json", {"automation_rule": rule}))["automation_rule"]  # type: ignore[no-any-return]


def runs(api: Api, rule_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/automation_rules/{rule_id}/runs.json"))["runs"]  # type: ignore[no-any-return]


def timeline(api: Api, order_id: int, verb: str) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order_id}/events.json", params={"verb": verb}))["events"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        ({"if": {"field": "colour", "op": "eq", "value": "red"}}, "if.field", "unknown field 'colour'"),
        ({"if": {"all": [{"field": "total_price", "op": "contains", "value": "1"}]}}, "if.all[0].op", "does not apply"),
        ({"if": {"field": "total_price", "op": "gt", "value": "lots"}}, "if.value", "is a number"),
        ({"if": {"field": "test", "op": "eq", "value": "yes"}}, "if.value", "true or false"),
        ({"then": [{"action": "launch_rocket"}]}, "then[0].action", "unknown action 'launch_rocket'"),
        ({"then": [{"action": "add_tags"}]}, "then[0].tags", "add_tags needs tags"),
        ({"then": [{"action": "hold_fulfillment", "reason": "bored"}]}, "then[0].reason", "must be one of"),
        ({"then": []}, "then", "non-empty list"),
        ({"then": [{"action": "add_tags", "tags": ["x"]}, {"action": "wait", "hours": 2}]}, "then[1]", "end with wait"),
        ({"when": {"event": "orders/exploded"}}, "when.event", "is not an event"),
        ({"when": {"after_hours": 3}}, "when", "needs an event"),
        ({"colour": "red"}, "colour", "unknown key"),
    ],
)
def test_a_wrong_rule_is_refused_with_the_place_and_the_fix(
    api: Api, change: dict[str, Any], where: str, says: str
) -> None:
    answer = api.post("/automation_rules.json", {"automation_rule": {**HOLD_BIG_FROM_NEW, **change}})
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert where in errors, errors
    assert says in errors[where][0]
    assert api.ok(api.get("/automation_rules.json"))["automation_rules"] == []


def test_holding_big_orders_from_new_customers(deck: Orderdeck, api: Api, shop: Shop) -> None:
    rule = add_rule(api, HOLD_BIG_FROM_NEW)
    assert rule["when"] == {"event": "orders/create"} and rule["enabled"] is True
    big = shop.order(BIG, email="new@example.com")
    small = shop.order(SMALL, email="small@example.com")
    work(deck)

    held = shop.fulfillment_orders(big["id"])
    assert {fo["status"] for fo in held} == {"on_hold"}
    assert "review" in shop.get(big["id"])["tags"]
    assert {fo["status"] for fo in shop.fulfillment_orders(small["id"])} == {"open"}
    summary = timeline(api, big["id"], "automation_run")
    assert len(summary) == 1 and "Hold big orders from new customers" in summary[0]["message"]
    assert summary[0]["author"] == "Rule: Hold big orders from new customers"
    # The actions themselves are on the timeline under the rule's name.
    hold_events = [
        e
        for e in api.ok(api.get(f"/orders/{big['id']}/events.json"))["events"]
        if e["verb"] == "fulfillment_order_placed_on_hold"
    ]
    assert hold_events and hold_events[0]["author"] == "Rule: Hold big orders from new customers"

    by_order = {r["order_id"]: r for r in runs(api, rule["id"])}
    assert by_order[big["id"]]["state"] == "done"
    assert [step["action"] for step in by_order[big["id"]]["log"]] == ["hold_fulfillment", "add_tags"]
    assert by_order[small["id"]]["state"] == "skipped"
    assert timeline(api, small["id"], "automation_run") == []


def test_a_returning_customer_is_not_held(deck: Orderdeck, api: Api, shop: Shop) -> None:
    shop.order(SMALL, email="regular@example.com")
    add_rule(api, HOLD_BIG_FROM_NEW)
    big = shop.order(BIG, email="regular@example.com")
    work(deck)
    assert {fo["status"] for fo in shop.fulfillment_orders(big["id"])} == {"open"}


def test_tagging_orders_still_unfulfilled_three_days_later(deck: Orderdeck, api: Api, shop: Shop, clock: Clock) -> None:
    add_rule(api, UNFULFILLED_3_DAYS)
    waiting = shop.order(SMALL)
    shipped = shop.order(SMALL)
    shop.fulfil(shipped["id"])
    work(deck)
    assert "unfulfilled-3-days" not in shop.get(waiting["id"])["tags"]
    clock.advance(hours=73)
    work(deck)
    assert "unfulfilled-3-days" in shop.get(waiting["id"])["tags"]
    assert "unfulfilled-3-days" not in shop.get(shipped["id"])["tags"]
    with deck.unit_of_work(read_only=True) as uow:
        alerts = list(uow.conn.execute(select(outbox.c.order_id).where(outbox.c.topic == "automation_email")).scalars())
    assert alerts == [waiting["id"]]


def test_archiving_fourteen_days_after_delivery(deck: Orderdeck, api: Api, shop: Shop, clock: Clock) -> None:
    rule = add_rule(api, ARCHIVE_AFTER_DELIVERY)
    order = shop.order(SMALL)
    fulfillment = shop.fulfil(order["id"], tracking="1Z999AA10123456784")
    api.ok(
        api.post(
            f"/orders/{order['id']}/fulfillments/{fulfillment['id']}/events.json", {"event": {"status": "delivered"}}
        )
    )
    work(deck)
    [run] = runs(api, rule["id"])
    assert run["state"] == "pending" and run["log"][0]["result"] == "waiting 336 h"
    clock.advance(days=13)
    work(deck)
    assert shop.get(order["id"])["closed_at"] is None
    clock.advance(days=1, minutes=1)
    work(deck)
    assert shop.get(order["id"])["closed_at"] is not None
    assert runs(api, rule["id"])[0]["state"] == "done"


def test_a_rule_never_retriggers_itself_and_chains_stop_at_the_depth_limit(
    deck: Orderdeck, api: Api, shop: Shop
) -> None:
    own = add_rule(
        api,
        {
            "name": "Tag updates",
            "enabled": True,
            "when": {"event": "orders/updated"},
            "then": [{"action": "add_comment", "message": "seen an update"}],
        },
    )
    ping = add_rule(
        api,
        {
            "name": "Ping",
            "enabled": True,
            "when": {"event": "orders/updated"},
            "then": [{"action": "add_tags", "tags": ["ping"]}, {"action": "remove_tags", "tags": ["pong"]}],
        },
    )
    pong = add_rule(
        api,
        {
            "name": "Pong",
            "enabled": True,
            "when": {"event": "orders/updated"},
            "then": [{"action": "add_tags", "tags": ["pong"]}, {"action": "remove_tags", "tags": ["ping"]}],
        },
    )
    order = shop.order(SMALL)
    api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"id": order["id"], "note": "gift wrap"}}))
    work(deck)

    all_runs = runs(api, ping["id"]) + runs(api, pong["id"])
    assert max(r["depth"] for r in all_runs) == engine.MAX_DEPTH
    stopped = [r for r in all_runs if r["state"] == "skipped" and r["error"]]
    assert stopped and "limit is 3" in stopped[0]["error"]
    # Comments change nothing that raises orders/updated; the comment rule ran once per trigger
    # from the others and never for its own change.
    assert all(r["trigger"] == "orders/updated" for r in runs(api, own["id"]))
    assert len(runs(api, own["id"])) <= 1 + len(all_runs)


def test_an_action_that_is_refused_stops_the_run_and_says_why(deck: Orderdeck, api: Api, shop: Shop) -> None:
    rule = add_rule(
        api,
        {
            "name": "Paid means archive",
            "enabled": True,
            "when": {"event": "orders/create"},
            "then": [
                {"action": "mark_as_paid"},
                {"action": "cancel", "reason": "other"},
                {"action": "add_tags", "tags": ["x"]},
            ],
        },
    )
    order = shop.order(SMALL)
    shop.fulfil(order["id"])  # fulfilled before the worker runs: cancelling is refused
    work(deck)
    [run] = runs(api, rule["id"])
    assert run["state"] == "failed" and run["error"].startswith("cancel: ")
    assert [s["action"] for s in run["log"]] == ["mark_as_paid", "cancel"]
    assert shop.get(order["id"])["financial_status"] == "paid"  # the step before stays done
    assert "x" not in shop.get(order["id"])["tags"]
    [summary] = timeline(api, order["id"], "automation_run")
    assert "stopped" in summary["message"]


def test_a_resumed_run_does_not_repeat_a_finished_action(deck: Orderdeck, api: Api, shop: Shop) -> None:
    rule = add_rule(
        api,
        {
            "name": "Comment",
            "enabled": True,
            "when": {"event": "orders/create"},
            "then": [{"action": "add_comment", "message": "Checked by the rule"}],
        },
    )
    order = shop.order(SMALL)
    work(deck)
    with deck.unit_of_work(read_only=True) as uow:
        [run] = Runs(uow.conn).of_rule(rule["id"], before=None, limit=5)
    engine.carry_out(deck, run)  # a second worker with the old state of the run
    assert len(timeline(api, order["id"], "comment")) == 1


def test_http_request_action_posts_the_order(deck: Orderdeck, api: Api, shop: Shop) -> None:
    receiver = Receiver().start()
    try:
        add_rule(
            api,
            {
                "name": "Tell the ERP",
                "enabled": True,
                "when": {"event": "orders/paid"},
                "then": [{"action": "http_request", "url": receiver.url}],
            },
        )
        order = shop.order(SMALL, transactions=[{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}])
        work(deck)
        [got] = receiver.got
        assert got.json["order"]["id"] == order["id"]
        assert got.headers["X-Orderdeck-Rule"] == "Tell the ERP"
    finally:
        receiver.stop()


def test_dry_run_shows_which_orders_would_match(api: Api, shop: Shop) -> None:
    big = shop.order(BIG, email="a@example.com")
    shop.order(SMALL, email="b@example.com")
    answer = api.ok(api.post("/automation_rules/dry_run.json", {"automation_rule": HOLD_BIG_FROM_NEW}))
    assert answer["matched"] == 1 and answer["scanned"] == 2
    assert answer["orders"] == [{"id": big["id"], "name": big["name"]}]
    saved = add_rule(api, {**HOLD_BIG_FROM_NEW, "enabled": False})
    assert api.ok(api.get(f"/automation_rules/{saved['id']}/dry_run.json"))["matched"] == 1
    bad = api.post("/automation_rules/dry_run.json", {"automation_rule": {**HOLD_BIG_FROM_NEW, "then": "x"}})
    assert bad.status_code == 422


def test_disabled_rules_do_not_run_and_rules_can_be_changed_and_deleted(deck: Orderdeck, api: Api, shop: Shop) -> None:
    rule = add_rule(api, HOLD_BIG_FROM_NEW)
    assert api.ok(api.post(f"/automation_rules/{rule['id']}/disable.json"))["automation_rule"]["enabled"] is False
    order = shop.order(BIG, email="new@example.com")
    work(deck)
    assert {fo["status"] for fo in shop.fulfillment_orders(order["id"])} == {"open"}
    changed = api.ok(api.put(f"/automation_rules/{rule['id']}.json", {"automation_rule": {"name": "Renamed"}}))
    assert changed["automation_rule"]["name"] == "Renamed" and changed["automation_rule"]["then"] == rule["then"]
    wrong = api.put(f"/automation_rules/{rule['id']}.json", {"automation_rule": {"when": {"event": "nope"}}})
    assert wrong.status_code == 422
    assert api.ok(api.get(f"/automation_rules/{rule['id']}.json"))["automation_rule"]["name"] == "Renamed"
    assert api.ok(api.delete(f"/automation_rules/{rule['id']}.json")) == {}
    assert api.get(f"/automation_rules/{rule['id']}.json").status_code == 404


def test_a_scheduled_rule_runs_over_the_open_orders_it_matches(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock
) -> None:
    add_rule(
        api,
        {
            "name": "Hourly big",
            "enabled": True,
            "when": {"every_hours": 1},
            "if": {"field": "total_price", "op": "gte", "value": 1000},
            "then": [{"action": "add_tags", "tags": ["big"]}],
        },
    )
    big = shop.order(BIG)
    small = shop.order(SMALL)
    assert scheduler.run_now(deck, "automation-schedules", "test") == "1 automation run(s) started by scheduled rules"
    work(deck)
    assert "big" in shop.get(big["id"])["tags"] and "big" not in shop.get(small["id"])["tags"]
    assert scheduler.run_now(deck, "automation-schedules", "test").startswith("0 ")  # not due again yet
    clock.advance(minutes=61)
    assert scheduler.run_now(deck, "automation-schedules", "test").startswith("1 ")


def test_rules_export_and_import_as_yaml(
    deck: Orderdeck, api: Api, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERDECK_DATABASE_URL", deck.db.url)
    add_rule(api, HOLD_BIG_FROM_NEW)
    runner = CliRunner()
    exported = runner.invoke(cli, ["rules", "export"])
    assert exported.exit_code == 0, exported.output
    assert "name: Hold big orders from new customers" in exported.output and "op: gt" in exported.output

    source = tmp_path / "rules.yaml"
    source.write_text(
        exported.output.replace("value: 1000", "value: 2000")
        + (
            "- name: Archive 14 days after delivery\n  enabled: false\n  when: {event: fulfillment_events/create}\n"
            "  if: {field: shipment_status, op: contains, value: delivered}\n"
            "  then:\n  - {action: wait, hours: 336}\n  - {action: archive}\n"
        )
    )
    imported = runner.invoke(cli, ["rules", "import", str(source)])
    assert imported.exit_code == 0, imported.output
    assert "1 rule(s) created, 1 replaced" in imported.output
    listed = api.ok(api.get("/automation_rules.json"))["automation_rules"]
    assert [r["name"] for r in listed] == ["Hold big orders from new customers", "Archive 14 days after delivery"]
    assert listed[0]["if"]["all"][0]["value"] == 2000

    broken = tmp_path / "broken.yaml"
    broken.write_text("- name: Bad\n  when: {event: orders/create}\n  then:\n  - {action: fly}\n")
    refused = runner.invoke(cli, ["rules", "import", str(broken)])
    assert refused.exit_code == 2
    assert "then[0].action" in refused.output and "Nothing was imported" in refused.output
    assert len(api.ok(api.get("/automation_rules.json"))["automation_rules"]) == 2


def test_a_stopping_worker_gives_back_the_runs_it_has_not_started(deck: Orderdeck, api: Api, shop: Shop) -> None:
    rule = add_rule(api, {**HOLD_BIG_FROM_NEW, "if": None})
    for _ in range(3):
        shop.order(SMALL)
    from orderdeck.outbox.relay import relay

    relay(deck)
    asked: list[int] = []

    def stop_after_one() -> bool:
        asked.append(1)
        return len(asked) > 1

    assert engine.run_due(deck, stop_after_one) == 3
    with deck.unit_of_work(read_only=True) as uow:
        left = [r for r in Runs(uow.conn).of_rule(rule["id"], before=None, limit=10) if r.state == "pending"]
        now = uow.now
    assert len(left) == 2 and all(r.due_at <= now for r in left)  # due again at once, not after a lease
