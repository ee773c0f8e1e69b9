"""Rendering notification templates: Liquid (python-liquid), sandboxed and bounded.

Merchants edit these templates, so a template may be broken or hostile: saving one checks that
it parses and renders against a sample order, and every render runs with limits on loop
iterations, output size and nesting. A failure says what is wrong and where (line and column).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.dates import format_date as babel_date
from babel.numbers import format_currency
from liquid import Environment
from liquid.exceptions import LiquidError

from ..domain.errors import InvalidInput

LOCALES = ("en", "nl", "de", "fi")
PARTS = ("subject", "html", "text", "sms")
MAX_SOURCE = 100_000  # characters in one template part
MAX_OUTPUT = {"subject": 1_000, "html": 500_000, "text": 200_000, "sms": 1_600}


class NotificationEnvironment(Environment):
    """Liquid with the limits that keep a merchant's template from hanging or flooding a worker."""

    loop_iteration_limit = 10_000
    output_stream_limit = 500_000
    context_depth_limit = 30
    local_namespace_limit = 100_000


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
