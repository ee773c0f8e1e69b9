"""When the database cannot be reached every page and the API answer 503 with Retry-After (no
traceback), and once it is back the next request works without restarting anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from orderdeck.api.unavailable import database_unavailable
from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from tests.conftest import BASE, PG_ADMIN_URL, Api, Shop, app_for

KEY = {"Idempotency-Key": "outage-1"}


def assert_api_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()["errors"]
    assert isinstance(errors, str) and "Idempotency-Key" in errors
    assert "Traceback" not in response.text


def assert_page_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.headers["content-type"].startswith("text/html")
    assert "Try again in a moment" in response.text
    assert "Traceback" not in response.text


class Outage:
    """Makes the test's PostgreSQL database refuse connections and drops the ones it has, as a
    database restart or failover does; `end` lets connections in again."""

    def __init__(self, url: str) -> None:
        self.name = make_url(url).database
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def terminate(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self.name},
            )

    def start(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
        self.terminate()

    def end(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))


# A server that drops connections is PostgreSQL's case (SQLite's is below): these tests run on
# PostgreSQL only, instead of skipping their SQLite half.
ON_POSTGRES = pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])


@pytest.fixture
def outage(deck: Any) -> Iterator[Outage]:
    cut = Outage(deck.db.url)
    yield cut
    cut.end()
    cut.admin.dispose()


@ON_POSTGRES
def test_a_lost_database_answers_503_everywhere_and_the_next_request_after_it_works(
    outage: Outage, api: Api, shop: Shop, client: TestClient
) -> None:
    location = shop.location()
    variant = shop.product("OUT-1", stock={location: 5})
    order = shop.order([{"variant_id": variant, "quantity": 1}])
    body = {"order": {"email": "anna@example.nl", "line_items": [{"variant_id": variant, "quantity": 1}]}}

    outage.start()
    assert_api_unavailable(api.get("/orders.json"))
    assert_api_unavailable(api.post("/orders.json", body, headers=KEY))
    health = client.get("/healthz")
    assert health.status_code == 503 and health.headers["Retry-After"] == "5"
    client.cookies.set("orderdeck_admin", "x" * 43)  # a session to look up
    admin = client.get("/admin/orders", headers={"Accept": "text/html"})
    assert_page_unavailable(admin)
    assert "Orderdeck" in admin.text
    status_page = client.get(f"/orders/status/{'0' * 32}", headers={"Accept": "text/html"})
    assert_page_unavailable(status_page)
    outage.end()

    # Back: the pool's dead connections are noticed and replaced (pool_pre_ping); the retry with
    # the same key places the order once.
    assert api.ok(api.get(f"/orders/{order['id']}.json"))["order"]["id"] == order["id"]
    placed = api.post("/orders.json", body, headers=KEY)
    assert placed.status_code == 201, placed.text
    again = api.post("/orders.json", body, headers=KEY)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.ok(api.get("/orders/count.json?status=any"))["count"] == 2


@ON_POSTGRES
def test_connections_dropped_between_requests_are_replaced_unnoticed(outage: Outage, api: Api, shop: Shop) -> None:
    shop.location()
    outage.terminate()
    assert api.ok(api.get("/locations.json"))["locations"]
    outage.terminate()
    assert api.ok(api.post("/locations.json", {"location": {"name": "Utrecht"}}))


def test_an_sqlite_file_that_cannot_be_opened_answers_503(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory" / "orderdeck.db"
    deck = build(Settings(database_url=f"sqlite:///{missing}"))
    try:
        with TestClient(app_for(deck), raise_server_exceptions=False) as client:
            assert_api_unavailable(client.get(BASE + "/orders.json", headers={"X-Shopify-Access-Token": "odk_x"}))
            assert_page_unavailable(
                client.get("/orders/lookup?number=1001&contact=a@b.nl", headers={"Accept": "text/html"})
            )
    finally:
        deck.db.dispose()


def test_only_unreachable_databases_count_as_unavailable() -> None:
    import sqlite3

    locked = OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
    no_table = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: orders"))
    duplicate = IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert database_unavailable(locked)
    assert not database_unavailable(no_table)
    assert not database_unavailable(duplicate)
    assert not database_unavailable(ValueError("x"))
