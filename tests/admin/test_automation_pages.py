"""Settings → Automation: the rules list, writing a rule as text (from scratch or an example),
refusals from the rule grammar shown at the text with nothing saved, enable/disable, dry runs
that change nothing, and the run log after the worker has run a rule."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

import pytest

from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck

from ..conftest import Api, Shop
from .conftest import AdminClient, make_staff

BIG = [{"title": "Espresso machine", "price": "1250.00", "quantity": 1}]
SMALL = [{"title": "Mug", "price": "12.50", "quantity": 1}]
TAG_BIG = """name: Tag big orders
enabled: true
when: {event: orders/create}
if: {field: total_price, op: gt, value: 1000}
then:
- {action: add_tags, tags: [big]}
"""


def rules(api: Api) -> list[dict[str, Any]]:
    return api.ok(api.get("/automation_rules.json"))["automation_rules"]  # type: ignore[no-any-return]


def create(owner: AdminClient, text: str) -> int:
    owner.page("/admin/settings/automation/new")
    answer = owner.post("/admin/settings/automation", {"rule": text, "do": "save"})
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].rsplit("/", 1)[1])


def field_error(page: str) -> str:
    found = re.search(r'<p class="field-error" id="e-rule" role="alert">(.*?)</p>', page, re.S)
    assert found, page
    return html.unescape(found.group(1))


def test_writing_a_rule_as_text(owner: AdminClient, api: Api) -> None:
    assert "No rules yet" in owner.page("/admin/settings/automation").text
    owner.page("/admin/settings/automation/new")
    answer = owner.post("/admin/settings/automation", {"rule": TAG_BIG.replace("\n", "\r\n"), "do": "save"})
    assert owner.flash(answer) == "success: Saved the rule “Tag big orders”; it is on."
    [made] = rules(api)
    assert made["when"] == {"event": "orders/create"} and made["then"] == [{"action": "add_tags", "tags": ["big"]}]
    listed = owner.page("/admin/settings/automation").text
    assert "Tag big orders" in listed and "After orders/create" in listed
    assert 'title="State: Enabled"' in listed and "Never" in listed


def test_the_examples_are_offered_switched_off(owner: AdminClient, api: Api) -> None:
    new = owner.page("/admin/settings/automation/new").text
    assert 'href="/admin/settings/automation/new?example=0">Hold big orders from new customers</a>' in new
    example = owner.page("/admin/settings/automation/new?example=2").text
    text = html.unescape(re.search(r'<textarea id="f-rule"[^>]*>(.*?)</textarea>', example, re.S).group(1))  # type: ignore[union-attr]
    assert text.startswith("name: Archive 14 days after delivery\nenabled: false\n")
    answer = owner.post("/admin/settings/automation", {"rule": text})
    assert "it is off (enable it when its dry run looks right)" in owner.flash(answer)
    assert rules(api)[0]["enabled"] is False


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: x\nwhen: {event: orders/create\nthen: []", "cannot be read: "),
        ("just words", "must be one rule with name, enabled, when, if and then"),
        (TAG_BIG.replace("op: gt", "op: contains"), "if.op: 'contains' does not apply to total_price (number)"),
        (TAG_BIG.replace("add_tags", "add_tag"), "then[0].action: unknown action 'add_tag'"),
        (TAG_BIG.replace("orders/create", "orders/created"), "when.event: 'orders/created' is not an event"),
    ],
)
def test_a_wrong_rule_is_refused_at_the_text_and_nothing_saved(
    owner: AdminClient, api: Api, text: str, says: str
) -> None:
    owner.page("/admin/settings/automation/new")
    answer = owner.post("/admin/settings/automation", {"rule": text, "do": "save"})
    assert answer.status_code == 422
    assert says in field_error(answer.text)
    assert 'aria-invalid="true"' in answer.text and html.escape(text, quote=False) in answer.text  # kept
    assert rules(api) == []


def test_yaml_that_does_not_read_names_the_line_and_column(owner: AdminClient) -> None:
    owner.page("/admin/settings/automation/new")
    answer = owner.post("/admin/settings/automation", {"rule": "name: x\nwhen: {event: orders/create\nthen: []"})
    assert re.search(r"\(line \d+, column \d+\)", field_error(answer.text))


def test_enable_and_disable_change_the_rules_state(owner: AdminClient, api: Api) -> None:
    rule = create(owner, TAG_BIG.replace("enabled: true", "enabled: false"))
    listed = owner.page("/admin/settings/automation").text
    assert 'aria-label="Enable Tag big orders"' in listed
    answer = owner.post(f"/admin/settings/automation/{rule}/enable", {"back": "list"})
    assert answer.headers["location"] == "/admin/settings/automation"
    assert owner.flash(answer) == "success: The rule “Tag big orders” is on: it runs from now on."
    assert rules(api)[0]["enabled"] is True
    assert 'aria-label="Disable Tag big orders"' in owner.page("/admin/settings/automation").text
    answer = owner.post(f"/admin/settings/automation/{rule}/disable")
    assert answer.headers["location"] == f"/admin/settings/automation/{rule}"
    assert "is off" in owner.flash(answer)
    assert rules(api)[0]["enabled"] is False


def test_editing_keeps_what_is_written_and_only_that(owner: AdminClient, api: Api) -> None:
    rule = create(owner, TAG_BIG)
    form = owner.page(f"/admin/settings/automation/{rule}/edit").text
    assert "name: Tag big orders" in form
    without_conditions = "\n".join(line for line in TAG_BIG.splitlines() if not line.startswith("if:"))
    bad = owner.post(f"/admin/settings/automation/{rule}", {"rule": without_conditions.replace("big]", "big")})
    assert bad.status_code == 422 and "cannot be read" in field_error(bad.text)
    assert rules(api)[0]["if"] == {"field": "total_price", "op": "gt", "value": 1000}
    saved = owner.post(f"/admin/settings/automation/{rule}", {"rule": without_conditions})
    assert owner.flash(saved) == "success: Saved the rule “Tag big orders”."
    assert "if" not in rules(api)[0]  # taken out of the text, gone from the rule


def test_a_dry_run_shows_the_matching_orders_and_the_actions_and_changes_nothing(
    owner: AdminClient, api: Api, shop: Shop
) -> None:
    shop.location()
    big = shop.order(BIG)
    small = shop.order(SMALL)
    owner.page("/admin/settings/automation/new")
    unsaved = owner.post("/admin/settings/automation", {"rule": TAG_BIG, "do": "dry_run"})
    assert unsaved.status_code == 200
    assert "Of the 2 newest orders, <strong>1</strong> matches the conditions now." in unsaved.text
    assert f'<a href="/admin/orders/{big["id"]}">{big["name"]}</a>' in unsaved.text
    assert small["name"] + "</a>" not in unsaved.text
    assert "<li>Add tags (tags: big)</li>" in unsaved.text
    assert rules(api) == []  # a dry run saves nothing
    rule = create(owner, TAG_BIG)
    saved = owner.page(f"/admin/settings/automation/{rule}/dry-run").text
    assert f'<a href="/admin/orders/{big["id"]}">{big["name"]}</a>' in saved
    assert shop.get(big["id"])["tags"] == ""  # …and changes no order


def test_the_run_log_after_the_worker_ran_the_rule(owner: AdminClient, deck: Orderdeck, api: Api, shop: Shop) -> None:
    shop.location()
    rule = create(owner, TAG_BIG)
    big = shop.order(BIG)
    shop.order(SMALL)
    asyncio.run(Worker(deck, run_jobs=False).drain())
    page = owner.page(f"/admin/settings/automation/{rule}").text
    log = page[page.index('id="runs-title"') :]
    assert log.count('title="Run: Done"') == 1 and log.count('title="Run: Skipped"') == 1
    assert f'<a href="/admin/orders/{big["id"]}">{big["name"]}</a>' in log
    assert "add_tags: tags now big" in log
    listed = owner.page("/admin/settings/automation").text
    assert "Never" not in listed and ('title="Run: Done"' in listed or 'title="Run: Skipped"' in listed)


def test_deleting_a_rule(owner: AdminClient, api: Api) -> None:
    rule = create(owner, TAG_BIG)
    answer = owner.post(f"/admin/settings/automation/{rule}/delete")
    assert owner.flash(answer) == "success: Deleted the rule and its run log."
    assert rules(api) == []
    owner.page(f"/admin/settings/automation/{rule}", expect=404)


def test_staff_without_manage_settings_are_refused(owner: AdminClient, deck: Orderdeck, api: Api) -> None:
    rule = create(owner, TAG_BIG)
    make_staff(deck, "clerk@shop.test", permissions=("view_orders", "manage_orders"))
    owner.post("/admin/logout")
    clerk = AdminClient(owner.client)
    assert clerk.sign_in("clerk@shop.test").status_code == 303
    clerk.page("/admin/settings/automation", expect=403)
    assert clerk.post(f"/admin/settings/automation/{rule}/disable").status_code == 403
    assert rules(api)[0]["enabled"] is True
