"""A template that would exhaust the worker is refused when saved and when previewed (a preview
needs no more than read access), with the limit it went past and the place: 422, nothing saved."""

from __future__ import annotations

import pytest

from ..conftest import Api

HOSTILE = '{{ (1..10000000) | join: "," | size }}'


def test_saving_a_template_past_the_limits_is_refused_and_saves_nothing(api: Api) -> None:
    answer = api.put("/notification_templates/refund/en.json", {"notification_template": {"text": HOSTILE}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"]["text"] == [
        "the range (1..10000000) has more than 10,000 numbers (line 1, column 4)"
    ]
    assert api.ok(api.get("/notification_templates/refund/en.json"))["notification_template"]["customized"] == []


@pytest.mark.parametrize(
    ("source", "says"),
    [
        (HOSTILE, "has more than 10,000 numbers"),
        ("{% for i in (1..9999) %}{% endfor %}" * 6, "loops more than 50,000 times in all"),
    ],
)
def test_previewing_a_template_past_the_limits_is_refused(api: Api, source: str, says: str) -> None:
    answer = api.post("/notification_templates/refund/en/preview.json", {"notification_template": {"text": source}})
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["errors"]["text"][0]
