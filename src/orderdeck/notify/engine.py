"""Rendering notification templates: Liquid (python-liquid), sandboxed and bounded.

Merchants edit these templates, so a template may be broken or hostile: saving one checks that
it parses and renders against a sample order, and every render (a preview, a test send, the
worker's) runs with the same limits: on loops, ranges, the lists and texts filters make, output
size, nesting and processor time. A failure says what is wrong and where (line and column).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.dates import format_date as babel_date
from babel.numbers import format_currency
from liquid import BoundTemplate, Environment, RenderContext, Token
from liquid.builtin.expressions.loop import LoopExpression
from liquid.builtin.expressions.primitive import RangeLiteral
from liquid.exceptions import LiquidError, ResourceLimitError

from ..domain.errors import InvalidInput

LOCALES = ("en", "nl", "de", "fi")
PARTS = ("subject", "html", "text", "sms")
MAX_SOURCE = 100_000  # characters in one template part
MAX_OUTPUT = {"subject": 1_000, "html": 500_000, "text": 200_000, "sms": 1_600}


MAX_ITEMS = 10_000  # numbers in a range; items in a list a filter takes or makes
MAX_TEXT = 500_000  # characters in a text a filter takes or makes
MAX_ITERATIONS = 50_000  # loop iterations in one render, all loops together
RENDER_SECONDS = 1.0  # processor time for one render (previews, test sends and the worker alike)


class TemplateLimit(ResourceLimitError):
    """A render that went past one of the limits above."""


class _Budget:
    """What one render has used: processor time (not wall-clock time: a busy machine does not
    make a template fail) and loop iterations, shared by every context of the render."""

    def __init__(self) -> None:
        self.deadline = time.thread_time() + RENDER_SECONDS
        self.iterations = 0

    def tick(self, token: Token | None = None) -> None:
        if time.thread_time() > self.deadline:
            raise TemplateLimit(f"takes longer than {RENDER_SECONDS:g} s to render; simplify it", token=token)

    def count(self, iterations: int) -> None:
        self.iterations += iterations
        if self.iterations > MAX_ITERATIONS:
            raise TemplateLimit(f"loops more than {MAX_ITERATIONS:,} times in all; loop over less", token=None)

    def paced(self, items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            self.tick()
            yield item


def _check_size(value: object, token: Token | None) -> None:
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise TemplateLimit(f"makes a text longer than {MAX_TEXT:,} characters", token=token)
    elif isinstance(value, (list, tuple, range, dict, set)) and len(value) > MAX_ITEMS:
        raise TemplateLimit(f"makes a list of more than {MAX_ITEMS:,} items", token=token)


class LimitedContext(RenderContext):
    """A render context that keeps to the budget: every loop step, filter and assignment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parent = kwargs.get("parent_context")
        self.budget: _Budget = parent.budget if isinstance(parent, LimitedContext) else _Budget()

    @contextmanager
    def loop(self, namespace: Mapping[str, object], forloop: Any) -> Iterator[RenderContext]:
        with super().loop(namespace, forloop) as context:  # Liquid's limit on nested loops first
            self.budget.count(forloop.length)
            forloop.it = self.budget.paced(forloop.it)
            yield context

    def filter(self, name: str, token: Token | None) -> Callable[..., object]:
        apply = super().filter(name, token)
        budget = self.budget

        def limited(*args: Any, **kwargs: Any) -> object:
            budget.tick(token)
            for value in args:
                _check_size(value, token)
            result = apply(*args, **kwargs)
            _check_size(result, token)
            return result

        return limited

    def assign(self, key: str, val: Any) -> None:
        self.budget.tick()
        super().assign(key, val)


class LimitedTemplate(BoundTemplate):
    context_class = LimitedContext


class BoundedRange(RangeLiteral):
    """A range literal, `(1..n)`, of at most MAX_ITEMS numbers: a range costs nothing until a
    filter such as join makes a list of it, so it is stopped where it is written."""

    __slots__ = ()

    def _make_range(self, start: Any, stop: Any) -> range:
        made = super()._make_range(start, stop)
        if len(made) > MAX_ITEMS:
            raise TemplateLimit(f"the range {self} has more than {MAX_ITEMS:,} numbers", token=self.token)
        return made


def _bound_ranges(template: BoundTemplate) -> None:
    static = RenderContext(template)
    nodes = list(template.nodes)
    while nodes:
        node = nodes.pop()
        expressions = list(node.expressions())
        while expressions:
            expression = expressions.pop()
            if type(expression) is RangeLiteral:
                expression.__class__ = BoundedRange
            if isinstance(expression, LoopExpression):  # `for i in (1..n)` steps through it, within the loop limits
                expressions.extend(c for c in expression.children() if c is not expression.iterable)
            else:
                expressions.extend(expression.children())
        nodes.extend(node.children(static, include_partials=False))


class NotificationEnvironment(Environment):
    """Liquid with the limits that keep a merchant's template from hanging or flooding a worker:
    Liquid's own (nested loops, output, assigned values, nesting) and Orderdeck's (ranges, the
    lists and texts filters take and make, loop iterations in all, processor time)."""

    loop_iteration_limit = 10_000
    output_stream_limit = 500_000
    context_depth_limit = 30
    local_namespace_limit = 100_000
    template_class = LimitedTemplate

    def from_string(self, source: str, *args: Any, **kwargs: Any) -> BoundTemplate:
        template = super().from_string(source, *args, **kwargs)
        _bound_ranges(template)
        return template


def _money(locale: str, currency: str) -> Any:
    def money(value: object) -> str:
        if value is None or value == "":
            return ""
        try:
            amount = Decimal(str(value))
        except (InvalidOperation, ValueError):
            return str(value)
        return str(format_currency(amount, currency, locale=locale))

    return money


def _date(locale: str) -> Any:
    def date(value: object, form: str = "long") -> str:
        if not value:
            return ""
        try:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        return str(
            babel_date(moment, format=form if form in ("short", "medium", "long", "full") else "long", locale=locale)
        )

    return date


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str
    sms: str


class TemplateProblem(InvalidInput):
    """A template that does not parse or render: the message names the line and column."""


def _where(source: str, error: LiquidError) -> str:
    token = getattr(error, "token", None)
    index = getattr(token, "start_index", -1) if token is not None else -1
    if index is None or index < 0:
        lines = source.splitlines() or [""]
        return f"line {len(lines)}, column {len(lines[-1]) + 1}"
    before = source[:index]
    line = before.count("\n") + 1
    column = index - (before.rfind("\n") + 1) + 1
    return f"line {line}, column {column}"


def environment(locale: str, currency: str, *, html: bool) -> NotificationEnvironment:
    env = NotificationEnvironment(autoescape=html)
    env.add_filter("money", _money(locale, currency))
    env.add_filter("format_date", _date(locale))
    return env


def render_part(source: str, part: str, context: dict[str, Any], locale: str, currency: str) -> str:
    """Render one part; raise TemplateProblem (field = the part) with the place when it fails."""
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(f"is longer than {MAX_SOURCE:,} characters", field=part)
    env = environment(locale, currency, html=part == "html")
    try:
        out = env.from_string(source).render(**context)
    except LiquidError as exc:
        raise TemplateProblem(f"{exc.message} ({_where(source, exc)})", field=part) from None
    except RecursionError:
        raise TemplateProblem("nests too deep", field=part) from None
    if len(out) > MAX_OUTPUT[part]:
        raise TemplateProblem(f"renders more than {MAX_OUTPUT[part]:,} characters; shorten it", field=part)
    return out.strip() if part in ("subject", "sms") else out


def render(parts: dict[str, str], context: dict[str, Any], locale: str, currency: str) -> Rendered:
    done = {part: render_part(parts.get(part, ""), part, context, locale, currency) for part in PARTS}
    return Rendered(subject=" ".join(done["subject"].split()), html=done["html"], text=done["text"], sms=done["sms"])
