"""The ShipStation section of the admin's shop settings: the URL to give ShipStation, the
username and a password that is stored hashed, never shown, and kept when its box is left empty."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from ..conftest import Api
from .conftest import AdminClient

PASSWORD = "correct horse battery"
# The rest of the shop form, as the page sends it.
FORM = [
    ("capture_mode", "manual"),
    ("authorization_period_days", "7"),
    ("auto_fulfill_channels", "pos"),
    ("order_name_prefix", "#"),
    ("stuck_after_days", "5"),
    ("retention_days", "30"),
    ("self_service_window_minutes", "150"),
]


def _export(admin_app: TestClient, username: str, password: str) -> int:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    answer = admin_app.get(
        "/shipstation",
        params={"action": "export", "start_date": "11/01/2026 00:00", "end_date": "11/30/2026 23:59"},
        headers={"Authorization": f"Basic {token}"},
    )
    return answer.status_code


def test_shipstation_is_connected_from_the_shop_settings(owner: AdminClient, admin_app: TestClient, api: Api) -> None:
    page = owner.page("/admin/settings/shop")
    assert "ShipStation" in page.text and "<code>http://shop.test/shipstation</code>" in page.text
    assert _export(admin_app, "ss", PASSWORD) == 404  # off until credentials are set

    saved = owner.post(
        "/admin/settings/shop", [*FORM, ("shipstation_username", "ss"), ("shipstation_password", PASSWORD)]
    )
    assert owner.flash(saved) == "success: Shop settings saved."
    assert _export(admin_app, "ss", PASSWORD) == 200
    page = owner.page("/admin/settings/shop")
    assert PASSWORD not in page.text and "argon2" not in page.text
    assert "ShipStation signs in as <code>ss</code>" in page.text

    # An empty password box keeps the password; the username can change.
    saved = owner.post("/admin/settings/shop", [*FORM, ("shipstation_username", "ss2"), ("shipstation_password", "")])
    assert owner.flash(saved) == "success: Shop settings saved."
    assert _export(admin_app, "ss2", PASSWORD) == 200
    assert api.ok(api.get("/shop.json"))["shop"]["settings"]["shipstation_password_set"] is True


def test_a_short_password_is_refused_next_to_its_box(owner: AdminClient, admin_app: TestClient) -> None:
    refused = owner.post(
        "/admin/settings/shop", [*FORM, ("shipstation_username", "ss"), ("shipstation_password", "short")]
    )
    assert refused.status_code == 422
    assert 'id="e-shipstation_password"' in refused.text and "12 to 200 characters" in refused.text
    assert _export(admin_app, "ss", "short") == 404  # nothing changed: still off
