"""Automation rules (`automation_rules.json`, Orderdeck's own resource, in Shopify's conventions):
create, list, change, enable/disable, delete, dry run, and each rule's run log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from ..automation.grammar import parse_rule
from ..domain.errors import InvalidInput, NotFound
from ..resources.render import RenderContext, ts
from ..services import automation
from ..services.context import Command
from ..store.access import ApiToken
from ..store.automation import Rules, Run, Runs, StoredRule
from .auth import check_scope, require
from .errors import ApiError
from .responses import app_of, json, link_header, run_command

router = APIRouter(tags=["automation"])
# Their own scopes: a rule can e-mail or call any address (docs/api.md, "Scopes").
read = require("read_automation_rules")
write = require("write_automation_rules")
BAD_PAGE_INFO = "Invalid value; use the Link header of the previous page"

RuleBody = Annotated[
    dict[str, Any],
    Body(
        examples=[
            {
                "automation_rule": {
                    "name": "Hold big orders from new customers",
                    "enabled": True,
                    "when": {"event": "orders/create"},
                    "if": {
                        "all": [
                            {"field": "total_price", "op": "gt", "value": 1000},
                            {"field": "customer.orders_count", "op": "lte", "value": 1},
                        ]
                    },
                    "then": [{"action": "hold_fulfillment", "reason": "high_risk_of_fraud"}],
                }
            }
        ]
    ),
]


def rule_json(rule: StoredRule, ctx: RenderContext) -> dict[str, Any]:
    return {
        "id": rule.id,
        **rule.definition,
        "created_at": ts(rule.created_at, ctx),
        "updated_at": ts(rule.updated_at, ctx),
    }


def run_json(run: Run, ctx: RenderContext) -> dict[str, Any]:
    return {
        "id": run.id,
        "rule_id": run.rule_id,
        "order_id": run.order_id,
        "trigger": run.trigger,
        "depth": run.depth,
        "state": run.state,
        "next_step": run.step,
        "due_at": ts(run.due_at, ctx) if run.state == "pending" else None,
        "created_at": ts(run.created_at, ctx),
        "finished_at": ts(run.finished_at, ctx),
        "error": run.error,
        "log": run.log,
    }


def _envelope(body: dict[str, Any]) -> Any:
    if set(body) != {"automation_rule"}:
        raise InvalidInput('send the rule as {"automation_rule": {…}}', field="automation_rule")
    if not isinstance(body["automation_rule"], dict):
        raise InvalidInput('send the rule as an object: {"automation_rule": {…}}', field="automation_rule")
    return body["automation_rule"]


def _answer(cmd: Command, rule: StoredRule) -> dict[str, Any]:
    return {"automation_rule": rule_json(rule, cmd.app.render_context(cmd.uow))}


@router.get("/automation_rules.json", summary="List automation rules")
def list_rules(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    page_info: str | None = None,
) -> Response:
    if page_info is not None and not page_info.isdecimal():
        raise ApiError(400, {"page_info": [BAD_PAGE_INFO]})
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        found = Rules(uow.conn).list(after_id=int(page_info) if page_info else None, limit=limit + 1)
        ctx = app.render_context(uow)
    more = len(found) > limit
    found = found[:limit]
    headers = link_header(request, limit, str(found[-1].id) if more else None, None)
    return json({"automation_rules": [rule_json(r, ctx) for r in found]}, headers=headers)


@router.post("/automation_rules.json", status_code=201, summary="Create a rule (checked before it is saved)")
def create_rule(request: Request, body: RuleBody, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(
        request, token, body, lambda cmd: _answer(cmd, automation.create_rule(cmd, _envelope(body))), status=201
    )


@router.post("/automation_rules/dry_run.json", summary="Which orders a rule would match now, before saving it")
def dry_run_new(
    request: Request,
    body: RuleBody,
    token: Annotated[ApiToken, Depends(read)],
    scan: Annotated[int, Query(ge=1, le=100_000)] = automation.DRY_RUN_SCAN,
) -> Response:
    check_scope(token, "read_orders")  # it names the orders that match
    rule = parse_rule({"enabled": False, **_envelope(body)})
    return json(automation.dry_run(app_of(request), rule, scan))


@router.get("/automation_rules/{rule_id}.json", summary="One rule")
def get_rule(request: Request, rule_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        return json({"automation_rule": rule_json(Rules(uow.conn).get(rule_id), app.render_context(uow))})


@router.put("/automation_rules/{rule_id}.json", summary="Change a rule (fields left out keep their value)")
def update_rule(request: Request, rule_id: int, body: RuleBody, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(
        request, token, body, lambda cmd: _answer(cmd, automation.replace_rule(cmd, rule_id, _envelope(body)))
    )


@router.post("/automation_rules/{rule_id}/enable.json", summary="Switch a rule on")
def enable_rule(request: Request, rule_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(request, token, None, lambda cmd: _answer(cmd, automation.set_enabled(cmd, rule_id, True)))


@router.post("/automation_rules/{rule_id}/disable.json", summary="Switch a rule off (runs not yet started stop)")
def disable_rule(request: Request, rule_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(request, token, None, lambda cmd: _answer(cmd, automation.set_enabled(cmd, rule_id, False)))


@router.delete("/automation_rules/{rule_id}.json", summary="Delete a rule and its run log")
def delete_rule(request: Request, rule_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        automation.delete_rule(cmd, rule_id)
        return {}

    return run_command(request, token, None, work)


@router.get("/automation_rules/{rule_id}/dry_run.json", summary="Which existing orders a saved rule would match now")
def dry_run_saved(
    request: Request,
    rule_id: int,
    token: Annotated[ApiToken, Depends(read)],
    scan: Annotated[int, Query(ge=1, le=100_000)] = automation.DRY_RUN_SCAN,
) -> Response:
    check_scope(token, "read_orders")  # it names the orders that match
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        stored = Rules(uow.conn).get(rule_id)
    return json(automation.dry_run(app, parse_rule(stored.definition), scan))


@router.get("/automation_rules/{rule_id}/runs.json", summary="A rule's runs, newest first")
def list_runs(
    request: Request,
    rule_id: int,
    token: Annotated[ApiToken, Depends(read)],
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    page_info: str | None = None,
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        Rules(uow.conn).get(rule_id)
        runs = Runs(uow.conn)
        before = None
        if page_info is not None:
            try:
                last = runs.get(page_info)
            except NotFound:
                raise ApiError(400, {"page_info": [BAD_PAGE_INFO]}) from None
            before = (last.created_at, last.id)
        found = runs.of_rule(rule_id, before=before, limit=limit + 1)
        ctx = app.render_context(uow)
    more = len(found) > limit
    found = found[:limit]
    headers = link_header(request, limit, found[-1].id if more else None, None)
    return json({"runs": [run_json(r, ctx) for r in found]}, headers=headers)
