"""Managing automation rules: saving (checked by the grammar), enabling, deleting, dry runs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .. import destinations
from ..automation.engine import matching_orders
from ..automation.grammar import Rule, parse_rule
from ..domain.errors import InvalidInput
from ..store.automation import Rules, StoredRule
from .context import Command, Orderdeck


def check_destinations(cmd: Command, rule: Rule) -> None:
    """An http_request to an address that is plainly not public is refused when saved (the
    worker checks every address again when it connects)."""
    allowed = destinations.of(cmd.app.settings)
    for index, step in enumerate(rule.actions):
        if step["action"] == "http_request":
            problem = allowed.refusal(urlsplit(step["url"]).hostname or "")
            if problem:
                raise InvalidInput(problem, field=f"then[{index}].url")


def create_rule(cmd: Command, raw: Any) -> StoredRule:
    rule = parse_rule(raw)
    check_destinations(cmd, rule)
    return Rules(cmd.uow.conn).add(rule.definition(), rule.trigger.event, cmd.now)


def replace_rule(cmd: Command, rule_id: int, raw: Any) -> StoredRule:
    """Change a rule. Fields left out keep their value, so `{"enabled": false}` is enough to
    switch one off."""
    rules = Rules(cmd.uow.conn)
    current = rules.get(rule_id)
    if not isinstance(raw, dict):
        raise InvalidInput("a rule is an object with name, when, if and then", field="base")
    merged = {**current.definition, **raw}
    merged.pop("id", None)
    rule = parse_rule(merged)
    check_destinations(cmd, rule)
    return rules.replace(rule_id, rule.definition(), rule.trigger.event, cmd.now)


def set_enabled(cmd: Command, rule_id: int, enabled: bool) -> StoredRule:
    return replace_rule(cmd, rule_id, {"enabled": enabled})


def delete_rule(cmd: Command, rule_id: int) -> None:
    Rules(cmd.uow.conn).remove(rule_id)


DRY_RUN_SCAN = 10_000


def dry_run(app: Orderdeck, rule: Rule, scan: int = DRY_RUN_SCAN) -> dict[str, Any]:
    """Which existing orders the rule's conditions match now, newest first (looking at no more
    than `scan` orders). Nothing is changed and no run is started."""
    looked, matched = matching_orders(app, rule, scan=scan, only_open=rule.trigger.every_hours is not None)
    return {
        "scanned": looked,
        "matched": len(matched),
        "orders": [{"id": order_id, "name": name} for order_id, name in matched[:250]],
    }
