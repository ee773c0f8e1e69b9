"""The rule grammar on its own, and docs/automation.md kept true to it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orderdeck.automation.grammar import ACTIONS, FIELDS, OPERATORS, matches, parse_rule
from orderdeck.domain.errors import InvalidInput

DOCS = (Path(__file__).parents[2] / "docs" / "automation.md").read_text()
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def facts(**values: object) -> dict[str, object]:
    return {"_now": NOW, "tags": "", "line_items": [], **values}


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_field_is_documented(name: str) -> None:
    assert f"| `{name}` |" in DOCS


@pytest.mark.parametrize("name", list(ACTIONS))
def test_every_action_is_documented(name: str) -> None:
    assert f"`{name}`" in DOCS


def test_every_operator_is_documented() -> None:
    for operators in OPERATORS.values():
        for op in operators:
            assert f"`{op}`" in DOCS


def condition(field: str, op: str, value: object = None) -> dict[str, object]:
    return {"field": field, "op": op, **({"value": value} if value is not None else {})}


@pytest.mark.parametrize(
    ("cond", "order", "expected"),
    [
        (condition("total_price", "gt", 1000), facts(total_price="1000.01"), True),
        (condition("total_price", "gt", 1000), facts(total_price="1000.00"), False),
        (condition("total_price", "lte", "99.5"), facts(total_price="99.50"), True),
        (condition("tags", "contains", "VIP"), facts(tags="vip, wholesale"), True),
        (condition("tags", "not_contains", "vip"), facts(tags="wholesale"), True),
        (condition("tags", "is_empty"), facts(tags=""), True),
        (condition("tags", "contains_any", ["a", "b"]), facts(tags="c, b"), True),
        (condition("shipping_country", "in", ["NL", "BE"]), facts(shipping_address={"country_code": "nl"}), True),
        (condition("shipping_country", "exists"), facts(shipping_address=None), False),
        (condition("line_items.sku", "contains", "MUG-1"), facts(line_items=[{"sku": "MUG-1", "quantity": 2}]), True),
        (condition("line_items.quantity", "gte", 3), facts(line_items=[{"quantity": 2}, {"quantity": 1}]), True),
        (condition("age_hours", "gt", 72), facts(processed_at="2026-11-27T11:00:00+00:00"), True),
        (condition("age_hours", "gt", 72), facts(processed_at="2026-11-27T13:00:00+00:00"), False),
        (condition("order_status", "eq", "cancelled"), facts(cancelled_at="2026-11-30T10:00:00+00:00"), True),
        (
            condition("note_attributes.gift", "eq", "yes"),
            facts(note_attributes=[{"name": "gift", "value": "Yes"}]),
            True,
        ),
        (condition("test", "eq", True), facts(test=False), False),
        (condition("email", "starts_with", "ANNA"), facts(email="anna@example.nl"), True),
        (condition("total_price", "ne", 5), facts(total_price=None), True),
    ],
)
def test_conditions_compare_as_a_merchant_expects(
    cond: dict[str, object], order: dict[str, object], expected: bool
) -> None:
    rule = parse_rule({"name": "r", "when": {"event": "orders/create"}, "if": cond, "then": [{"action": "archive"}]})
    assert matches(rule.conditions, order) is expected


def test_all_any_and_not_combine() -> None:
    tree = {
        "all": [
            {"any": [condition("tags", "contains", "a"), condition("tags", "contains", "b")]},
            {"not": condition("financial_status", "eq", "paid")},
        ]
    }
    rule = parse_rule({"name": "r", "when": {"event": "orders/create"}, "if": tree, "then": [{"action": "archive"}]})
    assert matches(rule.conditions, facts(tags="b", financial_status="pending"))
    assert not matches(rule.conditions, facts(tags="b", financial_status="paid"))
    assert not matches(rule.conditions, facts(tags="c", financial_status="pending"))


def test_a_saved_rule_reads_back_as_written() -> None:
    written = {
        "name": "Wait then archive",
        "enabled": True,
        "when": {"event": "orders/fulfilled", "after_hours": 1.5},
        "then": [{"action": "wait", "hours": 24}, {"action": "archive"}],
    }
    assert parse_rule(written).definition() == written


def test_nesting_too_deep_is_refused() -> None:
    tree: dict[str, object] = condition("tags", "is_empty")
    for _ in range(12):
        tree = {"not": tree}
    with pytest.raises(InvalidInput) as refused:
        parse_rule({"name": "r", "when": {"event": "orders/create"}, "if": tree, "then": [{"action": "archive"}]})
    assert "too deep" in refused.value.message
