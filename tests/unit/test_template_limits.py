"""Notification templates render within limits, whoever renders them (preview, test send, the
worker): ranges, the lists and texts filters make, loop iterations in all, processor time."""

from __future__ import annotations

import pytest

from orderdeck.notify import engine
from orderdeck.notify.engine import TemplateProblem, render_part

CONTEXT = {"line_items": [{"title": "Mug", "quantity": 2}], "name": "#1001"}


def rendered(source: str, part: str = "text") -> str:
    return render_part(source, part, CONTEXT, "en", "EUR")


def refusal(source: str, part: str = "text") -> str:
    with pytest.raises(TemplateProblem) as refused:
        rendered(source, part)
    assert refused.value.field == part
    return refused.value.message


def test_a_range_joined_into_a_text_is_refused_where_it_is_written() -> None:
    message = refusal('{{ name }} {{ (1..10000000) | join: "," | size }}')
    assert message == "the range (1..10000000) has more than 10,000 numbers (line 1, column 15)"


@pytest.mark.parametrize(
    "source",
    [
        "{% assign numbers = (1..10000000) %}{{ numbers | last }}",
        "{{ (1..10000000) | sort | first }}",
        "{{ (1..20000) | reverse | first }}",
    ],
)
def test_ranges_longer_than_the_limit_are_refused_however_used(source: str) -> None:
    assert "has more than 10,000 numbers" in refusal(source)


def test_ranges_within_the_limit_render() -> None:
    assert rendered('{{ (1..5) | join: "," }}') == "1,2,3,4,5"
    assert rendered("{% for i in (1..3) %}{{ i }}{% endfor %}") == "123"


def test_a_list_a_filter_makes_is_limited() -> None:
    source = '{% assign many = (1..9000) | join: "," | split: "," %}{{ many | concat: many | size }}'
    assert "makes a list of more than 10,000 items" in refusal(source)


def test_loops_one_after_another_are_limited_in_all() -> None:
    source = "{% for i in (1..9999) %}{% endfor %}" * 6
    assert "loops more than 50,000 times in all" in refusal(source)


def test_nested_loops_keep_liquids_own_limit() -> None:
    assert "loop iteration limit" in refusal("{% for i in (1..200) %}{% for j in (1..200) %}{% endfor %}{% endfor %}")


def test_a_render_that_takes_too_long_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "RENDER_SECONDS", 0.0)
    message = refusal("{% for item in line_items %}{{ item.title | upcase }}{% endfor %}")
    assert message.startswith("takes longer than 0 s to render")


def test_the_default_templates_render_well_within_the_limits() -> None:
    from orderdeck.notify import templates
    from orderdeck.services.notifications import sample_context

    context = sample_context("en", "Shop")
    for name in templates.NAMES:
        done = engine.render(templates.defaults(name, "en"), context, "en", "EUR")
        assert done.subject
