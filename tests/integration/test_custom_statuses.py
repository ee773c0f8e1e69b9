"""Custom statuses (S5): the merchant's stages; setting them on one order or many, with notes
and a due date, on the timeline, in filters and counts, in automation, on the customer's page
and in their language when they are told; deleting a stage moves its orders."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck

from ..conftest import Api, Shop
from .conftest import Inbox

LINE = [{"title": "Engraved mug", "price": "30.00", "quantity": 1}]
IN_PRODUCTION = {"handle": "in_production", "names": {"en": "In production", "nl": "In productie"}, "color": "#1d4ed8"}
QUALITY = {"handle": "quality_check", "names": {"en": "Quality check"}, "customer_visible": False}


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


def stage(api: Api, values: dict[str, Any]) -> dict[str, Any]:
    return api.ok(api.post("/custom_statuses.json", {"custom_status": values}))["custom_status"]  # type: ignore[no-any-return]


def put_in(api: Api, order_id: int, **values: Any) -> Any:
    return api.post(f"/orders/{order_id}/custom_status.json", {"custom_status": values})


def test_stages_are_checked_listed_changed_in_order(api: Api) -> None:
    made = stage(api, IN_PRODUCTION)
    assert made["position"] == 1 and made["customer_visible"] is True and made["notify"] is False
    stage(api, QUALITY)
    assert [s["handle"] for s in api.ok(api.get("/custom_statuses.json"))["custom_statuses"]] == [
        "in_production",
        "quality_check",
    ]
    for wrong, field in (
        ({**IN_PRODUCTION}, "handle"),  # taken
        ({"handle": "Bad Handle", "names": {"en": "x"}}, "handle"),
        ({"handle": "x", "names": {"nl": "x"}}, "names"),
        ({"handle": "x", "names": {"en": "x", "pt": "y"}}, "names"),
        ({"handle": "x", "names": {"en": "x"}, "color": "blue"}, "color"),
    ):
        answer = api.post("/custom_statuses.json", {"custom_status": wrong})
        assert answer.status_code == 422 and field in answer.json()["errors"], answer.text
    renamed = api.ok(api.put(f"/custom_statuses/{made['id']}.json", {"custom_status": {"names": {"en": "Being made"}}}))
    assert renamed["custom_status"]["names"] == {"en": "Being made"}
    assert api.put(f"/custom_statuses/{made['id']}.json", {"custom_status": {"handle": "other"}}).status_code == 422


def test_setting_a_stage_with_notes_shows_on_the_order_timeline_filters_and_counts(api: Api, shop: Shop) -> None:
    stage(api, IN_PRODUCTION)
    stage(api, QUALITY)
    first, second, third = (shop.order(LINE) for _ in range(3))
    answer = api.ok(
        put_in(
            api,
            first["id"],
            handle="in_production",
            due_at="2026-12-04T12:00:00Z",
            public_note="Your engraving is being made",
            private_note="Use the thin font",
        )
    )
    shown = answer["order"]["custom_status"]
    assert shown["handle"] == "in_production" and shown["private_note"] == "Use the thin font"
    api.ok(put_in(api, second["id"], handle="quality_check"))
    [event] = api.ok(api.get(f"/orders/{first['id']}/events.json", params={"verb": "custom_status_changed"}))["events"]
    assert event["message"] == "Status set to In production."
    listed = api.ok(api.get("/orders.json", params={"custom_status": "in_production"}))["orders"]
    assert [o["id"] for o in listed] == [first["id"]]
    assert api.ok(api.get("/orders/count.json", params={"custom_status": "none"})) == {"count": 1}
    assert put_in(api, third["id"], handle="nope").status_code == 422
    # Moving on records where it came from.
    api.ok(put_in(api, first["id"], handle="quality_check"))
    events = api.ok(api.get(f"/orders/{first['id']}/events.json", params={"verb": "custom_status_changed"}))["events"]
    assert events[-1]["message"] == "Status set to Quality check (was in_production)."


def test_bulk_setting_by_filter(api: Api, shop: Shop) -> None:
    stage(api, IN_PRODUCTION)
    tagged = [shop.order(LINE, tags="engrave") for _ in range(3)]
    plain = shop.order(LINE)
    result = api.ok(
        api.post(
            "/orders/bulk/custom_status.json",
            {"filter": {"tag": "engrave"}, "custom_status": {"handle": "in_production"}},
        )
    )
    assert sorted(result["bulk_result"]["succeeded"]) == sorted(o["id"] for o in tagged)
    assert api.ok(api.get("/orders/count.json", params={"custom_status": "in_production"})) == {"count": 3}
    assert shop.get(plain["id"])["custom_status"] is None
    unknown = api.post("/orders/bulk/custom_status.json", {"ids": [plain["id"]], "custom_status": {"handle": "nope"}})
    assert unknown.status_code == 422


def test_deleting_a_stage_asks_where_its_orders_go(api: Api, shop: Shop) -> None:
    made = stage(api, IN_PRODUCTION)
    stage(api, QUALITY)
    order = shop.order(LINE)
    api.ok(put_in(api, order["id"], handle="in_production"))
    refused = api.delete(f"/custom_statuses/{made['id']}.json")
    assert refused.status_code == 422 and "move_to" in refused.json()["errors"]
    assert api.ok(api.delete(f"/custom_statuses/{made['id']}.json", params={"move_to": "quality_check"})) == {
        "moved": 1
    }
    assert shop.get(order["id"])["custom_status"]["handle"] == "quality_check"


def test_save_and_notify_tells_the_customer_in_their_language(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop
) -> None:
    stage(api, IN_PRODUCTION)
    stage(api, QUALITY)
    order = shop.order(LINE, customer_locale="nl")
    api.ok(put_in(api, order["id"], handle="quality_check", notify=True))  # internal: never told
    api.ok(put_in(api, order["id"], handle="in_production", notify=False, public_note="x"))  # saved without notifying
    api.ok(put_in(api, order["id"], handle="in_production", notify=True, public_note="Je gravure wordt gemaakt"))
    asyncio.run(Worker(mailing, run_jobs=False).drain())
    [mail] = inbox.messages
    assert "In productie" in mail["Subject"] and mail["Content-Language"] == "nl"
    assert "Je gravure wordt gemaakt" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_the_customer_sees_visible_stages_and_public_notes_only(api: Api, shop: Shop) -> None:
    stage(api, IN_PRODUCTION)
    stage(api, QUALITY)
    order = shop.order(LINE, customer_locale="nl")
    api.ok(put_in(api, order["id"], handle="quality_check", public_note="internal stage note", private_note="SECRET"))
    page = api.client.get(order["order_status_url"].split("http://shop.test")[1]).text
    assert "Quality check" not in page and "SECRET" not in page
    api.ok(
        put_in(
            api,
            order["id"],
            handle="in_production",
            public_note="Je gravure wordt gemaakt",
            private_note="SECRET",
            due_at="2026-12-04T12:00:00Z",
        )
    )
    page = api.client.get(order["order_status_url"].split("http://shop.test")[1]).text
    assert "In productie" in page and "Je gravure wordt gemaakt" in page and "4 december 2026" in page
    assert "SECRET" not in page


def test_an_automation_rule_sets_a_stage(deck: Orderdeck, api: Api, shop: Shop) -> None:
    stage(api, IN_PRODUCTION)
    rule = {
        "name": "Engraving goes to production",
        "enabled": True,
        "when": {"event": "orders/create"},
        "if": {"field": "line_items.sku", "op": "contains", "value": "ENGRAVE"},
        "then": [{"action": "set_custom_status", "handle": "in_production", "notify": False}],
    }
    api.ok(api.post("/automation_rules.json", {"automation_rule": rule}))
    engraved = shop.order([{"title": "Mug", "sku": "ENGRAVE", "price": "30.00", "quantity": 1}])
    plain = shop.order(LINE)
    asyncio.run(Worker(deck, run_jobs=False).drain())
    assert shop.get(engraved["id"])["custom_status"]["handle"] == "in_production"
    assert shop.get(plain["id"])["custom_status"] is None
    matching = {
        "name": "x",
        "when": {"event": "orders/create"},
        "if": {"field": "custom_status", "op": "eq", "value": "in_production"},
        "then": [{"action": "archive"}],
    }
    assert api.ok(api.post("/automation_rules/dry_run.json", {"automation_rule": matching}))["matched"] == 1


def test_a_stage_can_have_its_own_message(mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop) -> None:
    stage(api, IN_PRODUCTION)
    stage(api, {"handle": "shipped_soon", "names": {"en": "Shipping soon"}})
    saved = api.put(
        "/notification_templates/custom_status.in_production/en.json",
        {
            "notification_template": {
                "subject": "Your engraving has started, {{ customer.first_name | default: 'friend' }}"
            }
        },
    )
    assert saved.status_code == 200, saved.text
    listed = api.ok(api.get("/notification_templates.json"))["notification_templates"]
    assert {"name": "custom_status.in_production", "locale": "en", "customized": ["subject"]} in listed
    first, second = shop.order(LINE), shop.order(LINE)
    api.ok(put_in(api, first["id"], handle="in_production", notify=True))
    api.ok(put_in(api, second["id"], handle="shipped_soon", notify=True))
    asyncio.run(Worker(mailing, run_jobs=False).drain())
    subjects = {m["X-Orderdeck-Order-Id"]: m["Subject"] for m in inbox.messages}
    assert subjects[str(first["id"])] == "Your engraving has started, friend"
    assert "Shipping soon" in subjects[str(second["id"])]  # the other stage keeps the shared template
