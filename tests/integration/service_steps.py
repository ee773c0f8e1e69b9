"""Steps the fulfillment service tests share: the 3PL app that owns a service, with its own token
(test_fulfillment_requests.py, test_stuck_requests.py, tests/admin/test_stuck_pages.py); a real
HTTP service on 127.0.0.1 (`Service`; the `service` and `jupiter` fixtures are in conftest.py)
that records the calls Orderdeck makes to it, and the steps of a request to it (test_service_notifications.py,
test_service_polling.py, test_cancel_with_service_work.py, test_service_notification_retention.py,
test_migration_0026_request_terms.py, tests/admin/test_fulfillment_services_pages.py)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from orderdeck.store.service_notifications import Notification, ServiceNotifications
from tests.conftest import Api, Shop, make_token
from tests.integration.local_server import LocalServer
from tests.integration.order_steps import open_fo

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


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Service(LocalServer):
    """A fulfillment service's callback endpoints. `script` holds what the notification endpoint
    answers next (a status, or ("slow", seconds)); when empty, 200. `stock` and `tracking` are
    what fetch_stock and fetch_tracking_numbers answer: a JSON-able value, (status, raw bytes) or
    ("slow", seconds)."""

    calls: list[Call] = field(default_factory=list)
    script: list[Any] = field(default_factory=list)
    stock: Any = field(default_factory=dict)
    tracking: Any = field(default_factory=lambda: {"tracking_numbers": {}, "success": True})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/od/"

    @property
    def notifications(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST"]

    def start(self) -> Service:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _note(self, body: bytes) -> Call:
                parts = urlsplit(self.path)
                call = Call(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                service.calls.append(call)
                return call

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self._note(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                step = service.script.pop(0) if service.script else 200
                if isinstance(step, tuple):
                    time.sleep(step[1])
                    step = 200
                self._answer(step, b"{}" if step < 300 else b'{"error":"warehouse system down"}')

            def do_GET(self) -> None:
                call = self._note(b"")
                answer = service.stock if call.path.startswith("/od/fetch_stock") else service.tracking
                if isinstance(answer, tuple) and answer[0] == "slow":
                    time.sleep(answer[1])
                    self._answer(200, b"{}")
                elif isinstance(answer, tuple):
                    self._answer(answer[0], answer[1])
                else:
                    self._answer(200, orjson.dumps(answer))

            def log_message(self, *args: Any) -> None:
                pass

        self.serve(Handler)
        return self


def create_service(api: Api, name: str, url: str, **fields: Any) -> dict[str, Any]:
    body = {"fulfillment_service": {"name": name, "callback_url": url, **fields}}
    return api.ok(api.post("/fulfillment_services.json", body))["fulfillment_service"]  # type: ignore[no-any-return]


def stocked_order(shop: Shop, location_id: int, sku: str = "MUG-1") -> dict[str, Any]:
    mug = shop.product(sku, price="12.50", stock={location_id: 10}, title="Delft mug")
    return shop.order([{"variant_id": mug, "quantity": 2}])


def request_fulfillment(api: Api, shop: Shop, order: dict[str, Any]) -> dict[str, Any]:
    fo = open_fo(shop, order["id"])
    answer = api.ok(api.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request.json", {"fulfillment_request": {}}))
    return answer["submitted_fulfillment_order"]  # type: ignore[no-any-return]


def answer(api: Api, fo: dict[str, Any], action: str, key: str = "fulfillment_request") -> dict[str, Any]:
    return api.ok(api.post(f"/fulfillment_orders/{fo['id']}/{action}.json", {key: {"message": "ok"}}))[  # type: ignore[no-any-return]
        "fulfillment_order"
    ]


def work(deck: Orderdeck) -> None:
    asyncio.run(Worker(deck, run_jobs=False).drain())


def notifications(deck: Orderdeck, order_id: int) -> list[Notification]:
    with deck.unit_of_work(read_only=True) as uow:
        return ServiceNotifications(uow.conn).of_order(order_id)
