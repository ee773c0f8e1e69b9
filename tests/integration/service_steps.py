"""Steps the fulfillment service tests share (test_fulfillment_requests.py, test_stuck_requests.py,
tests/admin/test_stuck_pages.py): the 3PL app that owns a service, with its own token."""

from __future__ import annotations

from typing import Any

from orderdeck.services.context import Orderdeck
from tests.conftest import Api, make_token

SERVICE_SCOPES = [
    "read_fulfillments",
    "write_fulfillments",
    "read_assigned_fulfillment_orders",
    "write_assigned_fulfillment_orders",
]


def service_app(deck: Orderdeck, client: Any, name: str, callback_url: str, scopes: list[str] = SERVICE_SCOPES) -> Api:
    """The app `"<first word of name> app"` and the fulfillment service `name` it creates; the
    service's location is on the app as `location_id`."""
    app = Api(client, make_token(deck, scopes, name=f"{name.split()[0]} app"))
    body = {"fulfillment_service": {"name": name, "callback_url": callback_url}}
    response = app.post("/fulfillment_services.json", body)
    assert response.status_code == 201, response.text
    app.location_id = response.json()["fulfillment_service"]["location_id"]  # type: ignore[attr-defined]
    return app
