"""What an automation rule may say, checked when it is saved: its trigger (**when**), its
conditions (**if**) and its actions (**then**). Plain Python, no I/O.

A rule, as JSON through the API or YAML through the CLI:

    name: Hold big orders from new customers
    enabled: true
    when: {event: orders/create}            # or {event: …, after_hours: 72}, or {every_hours: 1}
    if:
      all:
        - {field: total_price, op: gt, value: 1000}
        - {field: customer.orders_count, op: lte, value: 1}
    then:
      - {action: hold_fulfillment, reason: high_risk_of_fraud, notes: Over 1,000 from a new customer}
      - {action: add_tags, tags: [review]}

Every refusal names the place in the rule (`if.all[1].op`) and what would be right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..domain.cancellation import CANCEL_REASONS
from ..domain.errors import InvalidInput
from ..domain.fulfillment import HOLD_REASONS
from ..domain.returns import DECLINE_REASONS, MAX_NOTE
from ..domain.topics import TOPICS

# Rules act on orders: a draft order's topics are webhooks only (its order, once completed, raises
# orders/create like any other).
RULE_TOPICS = tuple(t for t in TOPICS if not t.startswith("draft_orders/"))

# ---- fields: what conditions can look at, read from the order as the API renders it ----------

Facts = dict[str, Any]  # the rendered order, plus `_now` and lazily added extras


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _path(*keys: str) -> Callable[[Facts], Any]:
    def read(facts: Facts) -> Any:
        value: Any = facts
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return read


def _tags(facts: Facts) -> list[str]:
    return [t.strip() for t in (facts.get("tags") or "").split(",") if t.strip()]


def _skus(facts: Facts) -> list[str]:
    return [li["sku"] for li in facts.get("line_items") or [] if li.get("sku")]


def _quantity(facts: Facts) -> int:
    return sum(int(li.get("quantity") or 0) for li in facts.get("line_items") or [])


def _current_quantity(facts: Facts) -> int:
    """Units on the order now: REST's `quantity` keeps what was ordered, an order edit or a
    refund changes `current_quantity`."""
    return sum(int(li.get("current_quantity", li.get("quantity")) or 0) for li in facts.get("line_items") or [])


def _order_status(facts: Facts) -> str:
    if facts.get("cancelled_at"):
        return "cancelled"
    return "archived" if facts.get("closed_at") else "open"


def _age_hours(facts: Facts) -> Decimal | None:
    placed = facts.get("processed_at") or facts.get("created_at")
    if not placed:
        return None
    elapsed = facts["_now"] - datetime.fromisoformat(placed)
    return Decimal(int(elapsed.total_seconds())) / 3600


def _shipment_statuses(facts: Facts) -> list[str]:
    return [f["shipment_status"] for f in facts.get("fulfillments") or [] if f.get("shipment_status")]


def the_return(facts: Facts) -> dict[str, Any] | None:
    """The return a condition reads: the one the triggering change was about (a request, an
    approval, a refund of it, …), else the order's newest return; None when it has none."""
    found = [r for r in facts.get("returns") or [] if isinstance(r, dict)]
    wanted = facts.get("_return_id")
    if wanted is not None:
        return next((r for r in found if r.get("id") == wanted), None)
    return max(found, key=lambda r: (str(r.get("created_at") or ""), r.get("id") or 0), default=None)


def mentions(conditions: dict[str, Any] | None, name: str) -> bool:
    """Whether the conditions read the field `name` (facts that cost a query are found only then)."""
    if conditions is None:
        return False
    for combinator in ("all", "any"):
        if combinator in conditions:
            return any(mentions(c, name) for c in conditions[combinator])
    if "not" in conditions:
        return mentions(conditions["not"], name)
    return bool(conditions.get("field") == name)


FINAL_SALE = "_return_final_sale"  # added to the facts by the engine when a rule reads it
STUCK = "_stuck"  # the order's standing stuck flags, added to the facts by the engine


def _stuck(key: str) -> Callable[[Facts], Any]:
    def read(facts: Facts) -> list[str]:
        return [f[key] for f in facts.get(STUCK) or [] if f.get(key)]

    return read


def _of_return(read: Callable[[dict[str, Any]], Any]) -> Callable[[Facts], Any]:
    def of(facts: Facts) -> Any:
        ret = the_return(facts)
        return None if ret is None else read(ret)

    return of


def _return_reasons(ret: dict[str, Any]) -> list[str]:
    return [li["return_reason"] for li in ret.get("return_line_items") or [] if li.get("return_reason")]


def _return_skus(ret: dict[str, Any]) -> list[str]:
    return [li["sku"] for li in ret.get("return_line_items") or [] if li.get("sku")]


def _return_total(ret: dict[str, Any]) -> Decimal:
    """What the returned units were sold for (after discounts, shop currency)."""
    return sum(
        (
            _number(_path("subtotal_set", "shop_money", "amount")(li)) or Decimal(0)
            for li in ret.get("return_line_items") or []
        ),
        Decimal(0),
    )


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # number | text | list | boolean
    read: Callable[[Facts], Any]
    about: str


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("total_price", "number", _path("total_price"), "order total in the shop currency"),
        Field("subtotal_price", "number", _path("subtotal_price"), "total of the lines after discounts"),
        Field("total_discounts", "number", _path("total_discounts"), "discounts"),
        Field("total_outstanding", "number", _path("total_outstanding"), "amount still to be paid"),
        Field("currency", "text", _path("currency"), "shop currency"),
        Field("presentment_currency", "text", _path("presentment_currency"), "the customer's currency"),
        Field("order_status", "text", _order_status, "open, archived or cancelled"),
        Field("financial_status", "text", _path("financial_status"), "payment status (REST)"),
        Field("fulfillment_status", "text", _path("fulfillment_status"), "null, partial, fulfilled, restocked"),
        Field(
            "display_fulfillment_status",
            "text",
            _path("display_fulfillment_status"),
            "unfulfilled, partially_fulfilled, fulfilled, on_hold, scheduled, …",
        ),
        Field("shipment_status", "list", _shipment_statuses, "carrier statuses of the fulfillments (delivered, …)"),
        Field("tags", "list", _tags, "the order's tags"),
        Field("source_name", "text", _path("source_name"), "sales channel: web, pos, api, manual, …"),
        Field("email", "text", _path("email"), "customer e-mail on the order"),
        Field("customer_locale", "text", _path("customer_locale"), "customer's language"),
        Field("shipping_country", "text", _path("shipping_address", "country_code"), "two-letter country code"),
        Field("billing_country", "text", _path("billing_address", "country_code"), "two-letter country code"),
        Field("line_items.sku", "list", _skus, "SKUs of the lines"),
        Field("line_items.quantity", "number", _quantity, "units ordered in all"),
        Field(
            "line_items.current_quantity", "number", _current_quantity, "units on the order now (after edits, refunds)"
        ),
        Field("customer.orders_count", "number", _path("_customer_orders_count"), "orders this customer has placed"),
        Field("age_hours", "number", _age_hours, "hours since the order was placed"),
        Field("test", "boolean", _path("test"), "a test order"),
        Field("custom_status", "text", _path("custom_status", "handle"), "the merchant's stage (its handle)"),
        Field(
            "stuck.reason",
            "list",
            _stuck("reason"),
            "why the order is stuck: request_rejected, request_not_accepted, closed_incomplete, … (empty: not stuck)",
        ),
        Field("stuck.service", "list", _stuck("service"), "the fulfillment services the order is stuck with"),
        Field(
            "return_status",
            "text",
            _path("return_status"),
            "no_return, return_requested, in_progress, inspection_complete, returned, return_failed",
        ),
        Field(
            "return.status",
            "text",
            _of_return(_path("status")),
            "the return's status: requested, open, declined, closed, canceled",
        ),
        Field("return.reasons", "list", _of_return(_return_reasons), "the return reasons of the return's items"),
        Field("return.total_quantity", "number", _of_return(_path("total_quantity")), "units on the return"),
        Field("return.total", "number", _of_return(_return_total), "what the returned units sold for"),
        Field("return.line_items.sku", "list", _of_return(_return_skus), "SKUs of the returned items"),
        Field(
            "return.final_sale",
            "boolean",
            _path(FINAL_SALE),
            "an item of the return is final sale (the return policy's final-sale tags)",
        ),
        Field(
            "return.exchange",
            "boolean",
            _of_return(lambda r: bool(r.get("exchange_line_items"))),
            "the customer wants other items in exchange",
        ),
    )
}
NOTE_ATTRIBUTE = "note_attributes."  # note_attributes.<name>: text

OPERATORS: dict[str, tuple[str, ...]] = {
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "exists"),
    "text": ("eq", "ne", "in", "not_in", "contains", "starts_with", "exists"),
    "list": ("contains", "not_contains", "contains_any", "is_empty", "is_not_empty"),
    "boolean": ("eq", "ne"),
}
NO_VALUE = {"exists", "is_empty", "is_not_empty"}


def field_of(name: str) -> Field | None:
    if name.startswith(NOTE_ATTRIBUTE) and len(name) > len(NOTE_ATTRIBUTE):
        key = name[len(NOTE_ATTRIBUTE) :]

        def read(facts: Facts) -> Any:
            return next((a.get("value") for a in facts.get("note_attributes") or [] if a.get("name") == key), None)

        return Field(name, "text", read, f"the note attribute {key}")
    return FIELDS.get(name)


# ---- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    type: str  # text | tags | bool | number | choice | url | json
    required: bool = False
    choices: tuple[str, ...] = ()


ACTIONS: dict[str, dict[str, Param]] = {
    "add_tags": {"tags": Param("tags", required=True)},
    "remove_tags": {"tags": Param("tags", required=True)},
    "hold_fulfillment": {"reason": Param("choice", required=True, choices=HOLD_REASONS), "notes": Param("text")},
    "release_holds": {},
    "capture_payment": {},
    "mark_as_paid": {},
    "cancel": {
        "reason": Param("choice", choices=CANCEL_REASONS),
        "refund": Param("bool"),
        "restock": Param("bool"),
        "notify_customer": Param("bool"),
        "staff_note": Param("text"),
    },
    "archive": {},
    "unarchive": {},
    "add_comment": {"message": Param("text", required=True)},
    "email_staff": {"subject": Param("text", required=True), "message": Param("text", required=True)},
    "http_request": {
        "url": Param("url", required=True),
        "method": Param("choice", choices=("POST", "PUT")),
        "body": Param("json"),
    },
    "set_custom_status": {"handle": Param("text", required=True), "notify": Param("bool")},
    "approve_return": {"notify_customer": Param("bool")},
    "decline_return": {
        "reason": Param("choice", required=True, choices=DECLINE_REASONS),
        "message": Param("text"),
        "notify_customer": Param("bool"),
    },
    "wait": {"hours": Param("number", required=True)},
}


# ---- the rule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    event: str | None = None  # a topic: run after each change that raises it
    after_hours: Decimal | None = None  # … this long after the event
    every_hours: Decimal | None = None  # or on a schedule, over open orders


@dataclass(frozen=True)
class Rule:
    name: str
    enabled: bool
    trigger: Trigger
    conditions: dict[str, Any] | None
    actions: list[dict[str, Any]] = field(default_factory=list)

    def definition(self) -> dict[str, Any]:
        """The rule as it is stored, exported and shown: the same shape it was written in."""
        when: dict[str, Any] = {}
        if self.trigger.event is not None:
            when["event"] = self.trigger.event
        if self.trigger.after_hours is not None:
            when["after_hours"] = _plain(self.trigger.after_hours)
        if self.trigger.every_hours is not None:
            when["every_hours"] = _plain(self.trigger.every_hours)
        rule: dict[str, Any] = {"name": self.name, "enabled": self.enabled, "when": when}
        if self.conditions is not None:
            rule["if"] = self.conditions
        rule["then"] = self.actions
        return rule


def _plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _fail(where: str, message: str) -> InvalidInput:
    return InvalidInput(message, field=where)


def _positive_hours(value: Any, where: str, most: int) -> Decimal:
    hours = _number(value)
    if hours is None or hours <= 0 or hours > most:
        raise _fail(where, f"must be a number of hours above 0 and at most {most}")
    return hours


def parse_trigger(when: Any) -> Trigger:
    if not isinstance(when, dict):
        raise _fail("when", "must say when the rule runs: {event: orders/create} or {every_hours: 1}")
    unknown = set(when) - {"event", "after_hours", "every_hours"}
    if unknown:
        raise _fail("when", f"unknown key {sorted(unknown)[0]!r}; use event, after_hours or every_hours")
    event, after, every = when.get("event"), when.get("after_hours"), when.get("every_hours")
    if event is None and every is None:
        raise _fail("when", "needs an event (a webhook topic such as orders/create) or every_hours")
    if event is not None and every is not None:
        raise _fail("when", "takes an event or every_hours, not both")
    if event is not None and event not in RULE_TOPICS:
        raise _fail("when.event", f"{event!r} is not an event; use one of: {', '.join(RULE_TOPICS)}")
    if after is not None and event is None:
        raise _fail("when.after_hours", "needs an event to count from")
    return Trigger(
        event=event,
        after_hours=_positive_hours(after, "when.after_hours", 24 * 365) if after is not None else None,
        every_hours=_positive_hours(every, "when.every_hours", 24 * 31) if every is not None else None,
    )


def check_conditions(node: Any, where: str = "if", depth: int = 0) -> dict[str, Any]:
    if depth > 10:
        raise _fail(where, "nests too deep (at most 10 levels)")
    if not isinstance(node, dict) or len(node) == 0:
        raise _fail(where, "must be a condition {field, op, value} or one of {all: […]}, {any: […]}, {not: …}")
    if set(node) <= {"all"} or set(node) <= {"any"}:
        ((combinator, parts),) = node.items()
        if not isinstance(parts, list) or not parts:
            raise _fail(f"{where}.{combinator}", "must be a non-empty list of conditions")
        return {combinator: [check_conditions(p, f"{where}.{combinator}[{i}]", depth + 1) for i, p in enumerate(parts)]}
    if set(node) == {"not"}:
        return {"not": check_conditions(node["not"], f"{where}.not", depth + 1)}
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        raise _fail(where, f"unknown key {sorted(unknown)[0]!r}; a condition has field, op and value")
    name = node.get("field")
    found = field_of(name) if isinstance(name, str) else None
    if found is None:
        raise _fail(
            f"{where}.field",
            f"unknown field {name!r}; use one of: {', '.join(FIELDS)}, or note_attributes.<name>",
        )
    op = node.get("op")
    allowed = OPERATORS[found.type]
    if op not in allowed:
        raise _fail(f"{where}.op", f"{op!r} does not apply to {name} ({found.type}); use one of: {', '.join(allowed)}")
    if op in NO_VALUE:
        if "value" in node:
            raise _fail(f"{where}.value", f"{op} takes no value")
        return {"field": name, "op": op}
    if "value" not in node:
        raise _fail(f"{where}.value", f"{op} needs a value")
    return {"field": name, "op": op, "value": _check_value(found, op, node["value"], f"{where}.value")}


def _check_value(f: Field, op: str, value: Any, where: str) -> Any:
    if op in ("in", "not_in", "contains_any"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise _fail(where, f"{op} needs a non-empty list of texts")
        return value
    if f.type == "number":
        if _number(value) is None:
            raise _fail(where, f"{f.name} is a number; give a number, not {value!r}")
        return value
    if f.type == "boolean":
        if not isinstance(value, bool):
            raise _fail(where, f"{f.name} is true or false, not {value!r}")
        return value
    if not isinstance(value, str):
        raise _fail(where, f"{f.name} needs a text here, not {value!r}")
    return value


def check_action(step: Any, where: str) -> dict[str, Any]:
    if not isinstance(step, dict) or not isinstance(step.get("action"), str):
        raise _fail(where, "must be an action such as {action: add_tags, tags: [review]}")
    name = step["action"]
    params = ACTIONS.get(name)
    if params is None:
        raise _fail(f"{where}.action", f"unknown action {name!r}; use one of: {', '.join(ACTIONS)}")
    unknown = set(step) - {"action"} - set(params)
    if unknown:
        known = ", ".join(params) or "nothing"
        raise _fail(where, f"{name} takes no {sorted(unknown)[0]!r}; it takes {known}")
    checked: dict[str, Any] = {"action": name}
    for key, param in params.items():
        if key not in step:
            if param.required:
                raise _fail(f"{where}.{key}", f"{name} needs {key}")
            continue
        checked[key] = _check_param(step[key], param, f"{where}.{key}")
    if name == "wait":
        checked["hours"] = _plain(_positive_hours(step["hours"], f"{where}.hours", 24 * 365))
    if name == "decline_return" and len(checked.get("message", "")) > MAX_NOTE["decline_note"]:
        # The customer reads it in the decline e-mail; a return keeps no longer note.
        raise _fail(f"{where}.message", f"must be at most {MAX_NOTE['decline_note']} characters")
    return checked


def _check_param(value: Any, param: Param, where: str) -> Any:
    if param.type == "tags":
        if isinstance(value, str):
            value = [t for t in (s.strip() for s in value.split(",")) if t]
        if not isinstance(value, list) or not value or not all(isinstance(t, str) and t.strip() for t in value):
            raise _fail(where, "must be a list of tags")
        return [t.strip() for t in value]
    if param.type == "bool":
        if not isinstance(value, bool):
            raise _fail(where, "must be true or false")
        return value
    if param.type == "choice":
        if value not in param.choices:
            raise _fail(where, f"must be one of: {', '.join(param.choices)}")
        return value
    if param.type == "url":
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise _fail(where, "must be an http:// or https:// URL")
        return value
    if param.type == "number":
        if _number(value) is None:
            raise _fail(where, "must be a number")
        return value
    if param.type == "json":
        return value
    if not isinstance(value, str) or not value.strip() or len(value) > 5000:
        raise _fail(where, "must be a text of 1 to 5,000 characters")
    return value


def parse_rule(raw: Any) -> Rule:
    """Check a rule as written and return it; refuse it with the place and the fix otherwise."""
    if not isinstance(raw, dict):
        raise _fail("base", "a rule is an object with name, when, if and then")
    unknown = set(raw) - {"name", "enabled", "when", "if", "then", "id"}
    if unknown:
        raise _fail(sorted(unknown)[0], "unknown key; a rule has name, enabled, when, if and then")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise _fail("name", "must be a text of 1 to 255 characters")
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise _fail("enabled", "must be true or false")
    trigger = parse_trigger(raw.get("when"))
    conditions = check_conditions(raw["if"]) if raw.get("if") is not None else None
    actions = raw.get("then")
    if not isinstance(actions, list) or not actions:
        raise _fail("then", "must be a non-empty list of actions")
    if len(actions) > 20:
        raise _fail("then", "takes at most 20 actions")
    checked = [check_action(step, f"then[{i}]") for i, step in enumerate(actions)]
    if checked[-1]["action"] == "wait":
        raise _fail(f"then[{len(checked) - 1}]", "a rule cannot end with wait; add the action to wait for")
    return Rule(name=name.strip(), enabled=enabled, trigger=trigger, conditions=conditions, actions=checked)


# ---- evaluating -------------------------------------------------------------------------------


def matches(conditions: dict[str, Any] | None, facts: Facts) -> bool:
    if conditions is None:
        return True
    if "all" in conditions:
        return all(matches(c, facts) for c in conditions["all"])
    if "any" in conditions:
        return any(matches(c, facts) for c in conditions["any"])
    if "not" in conditions:
        return not matches(conditions["not"], facts)
    f = field_of(conditions["field"])
    assert f is not None  # checked on save
    return _compare(f, conditions["op"], f.read(facts), conditions.get("value"))


def _compare(f: Field, op: str, actual: Any, expected: Any) -> bool:
    if op == "exists":
        return actual is not None and actual != ""
    if f.type == "list":
        items = {str(a).lower() for a in actual or []}
        if op == "is_empty":
            return not items
        if op == "is_not_empty":
            return bool(items)
        if op == "contains":
            return str(expected).lower() in items
        if op == "not_contains":
            return str(expected).lower() not in items
        return bool(items & {str(e).lower() for e in expected})  # contains_any
    if f.type == "number":
        a, e = _number(actual), _number(expected)
        if a is None or e is None:
            return op == "ne"
        return {"eq": a == e, "ne": a != e, "gt": a > e, "gte": a >= e, "lt": a < e, "lte": a <= e}[op]
    if f.type == "boolean":
        return (actual is expected) if op == "eq" else (actual is not expected)
    text = "" if actual is None else str(actual)
    if op == "eq":
        return text.lower() == str(expected).lower()
    if op == "ne":
        return text.lower() != str(expected).lower()
    if op == "in":
        return text.lower() in {e.lower() for e in expected}
    if op == "not_in":
        return text.lower() not in {e.lower() for e in expected}
    if op == "contains":
        return str(expected).lower() in text.lower()
    return text.lower().startswith(str(expected).lower())  # starts_with
