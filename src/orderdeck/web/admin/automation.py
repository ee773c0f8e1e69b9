"""Settings → Automation: the shop's automation rules (when → if → then), each with a dry run and
its run log.

A rule is written as text (YAML, the shape `orderdeck rules export` writes; JSON is YAML too) and
checked by the rule grammar (`automation/grammar.py`) when it is saved: a wrong rule is refused
with the place in it and the fix, shown at the text, and nothing is saved. A dry run shows which
recent orders the rule would match and what it would do to them, changing nothing. The
example rules are offered as starting points.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response
from sqlalchemy import select

from ...automation.examples import EXAMPLES
from ...automation.grammar import Rule, parse_rule
from ...domain.errors import InvalidInput, NotFound, OrderError
from ...services import automation
from ...store.automation import Rules, Runs, StoredRule
from ...store.tables import orders
from .access import Admin, require
from .pages import render

router = APIRouter()
Settings = Annotated[Admin, Depends(require("manage_settings"))]
Text = Annotated[str, Form()]
RUNS_PAGE = 25
DRY_RUN_SCAN = 1_000  # the newest orders a dry run from the admin looks at: quick, and "recent"
BLANK = {
    "name": "",
    "enabled": False,
    "when": {"event": "orders/create"},
    "if": {"field": "total_price", "op": "gt", "value": 100},
    "then": [{"action": "add_tags", "tags": ["big-order"]}],
}


def as_text(definition: dict[str, Any]) -> str:
    return str(yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None))


def _example(index: int) -> dict[str, Any]:
    # Offered switched off: a rule starts acting once staff have seen its dry run and enable it.
    return {**copy.deepcopy(EXAMPLES[index]), "enabled": False}


def read_rule(text: str) -> dict[str, Any]:
    """The rule as written: YAML (or JSON); a text that does not read names its line and column."""
    if not text.strip():
        raise InvalidInput("write the rule: name, enabled, when, if and then", field="rule")
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "is not valid YAML"
        raise InvalidInput(f"cannot be read: {problem}{where}", field="rule") from None
    if not isinstance(loaded, dict):
        raise InvalidInput("must be one rule with name, enabled, when, if and then", field="rule")
    return loaded


def trigger_words(when: dict[str, Any]) -> str:
    if "every_hours" in when:
        return f"Every {when['every_hours']} h, over open orders"
    if "after_hours" in when:
        return f"{when['after_hours']} h after {when.get('event')}"
    return f"After {when.get('event')}"


def action_words(step: dict[str, Any]) -> str:
    """An action in a line: its name in words, then what it is given."""
    name = str(step.get("action", "")).replace("_", " ").capitalize()
    given = []
    for key, value in step.items():
        if key == "action":
            continue
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        given.append(f"{key.replace('_', ' ')}: {shown}")
    return f"{name} ({'; '.join(given)})" if given else name


def _names(conn: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {row.id: row.name for row in conn.execute(select(orders.c.id, orders.c.name).where(orders.c.id.in_(ids)))}


def _dry_run(admin: Admin, rule: Rule) -> dict[str, Any]:
    found = automation.dry_run(admin.app, rule, DRY_RUN_SCAN)
    return {**found, "actions": [action_words(a) for a in rule.actions], "only_open": bool(rule.trigger.every_hours)}


@router.get("/settings/automation", summary="The automation rules")
def list_rules(admin: Settings) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        rules = Rules(uow.conn).list()
        runs = Runs(uow.conn)
        last = {r.id: next(iter(runs.of_rule(r.id, before=None, limit=1)), None) for r in rules}
    rows = [{"rule": r, "trigger": trigger_words(r.definition["when"]), "last": last[r.id]} for r in rules]
    return render(admin, "automation.html", rows=rows)


def _form_page(
    admin: Admin,
    rule: StoredRule | None,
    text: str,
    *,
    error: str | None = None,
    dry_run: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    return render(
        admin,
        "automation_form.html",
        status=status,
        rule=rule,
        text=text,
        error=error,
        dry_run=dry_run,
        examples=[(i, e["name"]) for i, e in enumerate(EXAMPLES)],
    )


def _refusal(exc: OrderError) -> str:
    """Where in the rule it is wrong, then what would be right."""
    return exc.message if exc.field in ("rule", "base") else f"{exc.field}: {exc.message}"


@router.get("/settings/automation/new", summary="Write a new rule (or start from an example)")
def new_rule(admin: Settings, example: int | None = None) -> Response:
    start = _example(example) if example is not None and 0 <= example < len(EXAMPLES) else BLANK
    return _form_page(admin, None, as_text(start))


def _check_or_dry_run(admin: Admin, rule: StoredRule | None, text: str, raw: dict[str, Any]) -> Response:
    try:
        parsed = parse_rule({"enabled": False, **raw})
    except OrderError as exc:
        return _form_page(admin, rule, text, error=_refusal(exc), status=422)
    return _form_page(admin, rule, text, dry_run=_dry_run(admin, parsed))


@router.post("/settings/automation", summary="Save a new rule, or dry-run it first")
def create_rule(admin: Settings, rule: Text = "", do: Text = "save") -> Response:
    text = rule.replace("\r\n", "\n")
    try:
        raw = read_rule(text)
        if do == "dry_run":
            return _check_or_dry_run(admin, None, text, raw)
        with admin.command() as cmd:
            made = automation.create_rule(cmd, raw)
    except OrderError as exc:
        return _form_page(admin, None, text, error=_refusal(exc), status=422)
    state = "on" if made.enabled else "off (enable it when its dry run looks right)"
    return admin.done(f"/admin/settings/automation/{made.id}", f"Saved the rule “{made.name}”; it is {state}.")


def _rule_page(admin: Admin, rule_id: int, before: str, dry_run: bool) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        stored = Rules(uow.conn).get(rule_id)
        runs = Runs(uow.conn)
        after = None
        if before:
            try:
                last = runs.get(before)
            except NotFound:
                before = ""
            else:
                after = (last.created_at, last.id) if last.rule_id == rule_id else None
        found = runs.of_rule(rule_id, before=after, limit=RUNS_PAGE + 1)
        names = _names(uow.conn, {r.order_id for r in found})
    more = len(found) > RUNS_PAGE
    found = found[:RUNS_PAGE]
    base = f"/admin/settings/automation/{rule_id}"
    parsed = parse_rule(stored.definition)
    return render(
        admin,
        "automation_show.html",
        rule=stored,
        text=as_text(stored.definition),
        trigger=trigger_words(stored.definition["when"]),
        actions=[action_words(a) for a in parsed.actions],
        runs=found,
        order_names=names,
        dry_run=_dry_run(admin, parsed) if dry_run else None,
        newer_url=base if before else None,
        older_url=f"{base}?before={found[-1].id}" if more else None,
    )


@router.get("/settings/automation/{rule_id}", summary="A rule, its dry run and its run log")
def show_rule(admin: Settings, rule_id: int, before: str = "") -> Response:
    return _rule_page(admin, rule_id, before, dry_run=False)


@router.get("/settings/automation/{rule_id}/dry-run", summary="Which recent orders the saved rule would match")
def dry_run_rule(admin: Settings, rule_id: int) -> Response:
    return _rule_page(admin, rule_id, "", dry_run=True)


@router.get("/settings/automation/{rule_id}/edit", summary="Change a rule")
def edit_rule(admin: Settings, rule_id: int) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        stored = Rules(uow.conn).get(rule_id)
    return _form_page(admin, stored, as_text(stored.definition))


@router.post("/settings/automation/{rule_id}", summary="Save a changed rule, or dry-run it first")
def update_rule(admin: Settings, rule_id: int, rule: Text = "", do: Text = "save") -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        stored = Rules(uow.conn).get(rule_id)
    text = rule.replace("\r\n", "\n")
    try:
        # The text is the whole rule: a part left out of it is gone, not kept from before.
        raw = {"if": None, "enabled": False, **read_rule(text)}
        if do == "dry_run":
            return _check_or_dry_run(admin, stored, text, raw)
        with admin.command() as cmd:
            saved = automation.replace_rule(cmd, rule_id, raw)
    except NotFound:
        raise
    except OrderError as exc:
        return _form_page(admin, stored, text, error=_refusal(exc), status=422)
    return admin.done(f"/admin/settings/automation/{rule_id}", f"Saved the rule “{saved.name}”.")


def _switch(admin: Admin, rule_id: int, enabled: bool, back: str) -> Response:
    try:
        with admin.command() as cmd:
            rule = automation.set_enabled(cmd, rule_id, enabled)
    except NotFound:
        raise
    except OrderError as exc:
        return admin.done(back, _refusal(exc), kind="error")
    words = "on: it runs from now on" if enabled else "off: runs that have not started their actions stop"
    return admin.done(back, f"The rule “{rule.name}” is {words}.")


def _back(rule_id: int, to: str) -> str:
    return "/admin/settings/automation" if to == "list" else f"/admin/settings/automation/{rule_id}"


@router.post("/settings/automation/{rule_id}/enable", summary="Switch a rule on")
def enable_rule(admin: Settings, rule_id: int, back: Text = "") -> Response:
    return _switch(admin, rule_id, True, _back(rule_id, back))


@router.post("/settings/automation/{rule_id}/disable", summary="Switch a rule off")
def disable_rule(admin: Settings, rule_id: int, back: Text = "") -> Response:
    return _switch(admin, rule_id, False, _back(rule_id, back))


@router.post("/settings/automation/{rule_id}/delete", summary="Delete a rule and its run log")
def delete_rule(admin: Settings, rule_id: int) -> Response:
    return admin.act(
        lambda cmd: automation.delete_rule(cmd, rule_id),
        back="/admin/settings/automation",
        success="Deleted the rule and its run log.",
    )
