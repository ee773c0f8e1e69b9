"""What the schemathesis run found, each pinned by a plain test on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


@pytest.mark.parametrize("key", ["auto_archive", "authorization_period_days", "auto_fulfill_channels", "capture_mode"])
def test_a_setting_sent_as_null_is_refused_and_nothing_changes(api: Api, key: str) -> None:
    """A null was stored as it came: GET /shop.json then answered "auto_archive": null where its
    schema (and every reader) expects a flag."""
    before = api.ok(api.get("/shop.json"))["shop"]["settings"]
    response = api.put("/shop/settings.json", {"settings": {"order_name_prefix": "X", key: None}})
    assert response.status_code == 422, response.text
    assert response.json() == {"errors": {key: ["can't be null; leave the field out to keep its value"]}}
    assert api.ok(api.get("/shop.json"))["shop"]["settings"] == before


@pytest.mark.parametrize("key", ["staff_email", "smtp_url"])
def test_the_settings_that_may_be_unset_take_null(api: Api, key: str) -> None:
    answer: dict[str, Any] = api.ok(api.put("/shop/settings.json", {"settings": {key: None}}))
    assert answer["settings"][key] is None
