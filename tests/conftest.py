"""Shared fixtures: a fresh Orderdeck on SQLite and on PostgreSQL for every test.

SQLite: one migrated template file per session, copied for each test. PostgreSQL: a database
of its own per session (created and dropped here), emptied between tests. With CI=true the
PostgreSQL tests must run; locally they skip with a message when no server is reachable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Table, create_engine, delete, text
from sqlalchemy.pool import NullPool

from orderdeck.api.app import create_app
from orderdeck.api.auth import TokenCache
from orderdeck.bootstrap import build
from orderdeck.demo import DEMO_SHOP, ensure_demo_shop
from orderdeck.services.context import Orderdeck
from orderdeck.settings import Settings
from orderdeck.store.access import SCOPES, parse_scopes
from orderdeck.store.migrate import migrate
from orderdeck.store.shop import ShopSettings, create_shop
from orderdeck.store.tables import metadata

LOCAL = "127.0.0.1"  # ORDERDECK_ALLOW_PRIVATE_ADDRESSES of every Orderdeck the tests start
PG_ADMIN_URL = os.environ.get("ORDERDECK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
BASE = "/admin/api/2024-10"


class Clock:
    """A clock tests can move forward (authorization expiry, schedules)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)  # distinct, increasing timestamps
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(autouse=True, scope="session")
def quick_password_hashing() -> Iterator[None]:
    """Staff passwords are hashed with argon2id at its production cost (about 0.3 s a sign-in
    here, on purpose). Tests sign in hundreds of times and test nothing about that cost, so they
    hash with the smallest one; the browser tests' servers keep the real one."""
    from argon2 import PasswordHasher

    from orderdeck.services import staff

    quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    original = staff.hasher
    staff.hasher = lambda: quick  # type: ignore[assignment]
    staff._dummy_hash.cache_clear()
    yield
    staff.hasher = original  # type: ignore[assignment]
    staff._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    deck = build(Settings(database_url=f"sqlite:///{path}"))
    migrate(deck.db)
    ensure_demo_shop(deck.db)  # migrate makes no shop; the tests' is the demo's (EUR, Europe/Amsterdam)
    deck.db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not _postgres_reachable():
        if IN_CI:
            pytest.fail(f"CI=true but PostgreSQL is not reachable at {PG_ADMIN_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}; PostgreSQL tests skipped")
    name = f"orderdeck_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    deck = build(Settings(database_url=url))
    migrate(deck.db)
    ensure_demo_shop(deck.db)
    deck.db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


_pg_engines: dict[str, Any] = {}


def _empty_postgres(url: str) -> None:
    """Delete every row but the shop's (DELETE is much faster than TRUNCATE on tiny tables), and
    give the shop back its first values (a test may have changed them, or removed it)."""
    engine = _pg_engines.get(url)
    if engine is None:
        engine = _pg_engines[url] = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name != "shop":
                conn.execute(table.delete())
        reset = conn.execute(
            text(
                "UPDATE shop SET next_order_number = 1001, settings = :s, name = :name, currency = :currency, "
                "timezone = :timezone, primary_locale = :locale, email = NULL"
            ),
            {"s": orjson.dumps(asdict(ShopSettings())).decode(), **DEMO_SHOP},
        )
        if reset.rowcount == 0:
            create_shop(conn, now=datetime.now(UTC), **DEMO_SHOP)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deck(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, sqlite_template: Path, clock: Clock
) -> Iterator[Orderdeck]:
    if backend == "sqlite":
        path = tmp_path / "orderdeck.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        _empty_postgres(url)
    # The tests' receivers (webhooks, rules, mail) listen on 127.0.0.1: allowed, as an operator would.
    deck = build(Settings(database_url=url, public_url="http://shop.test", allow_private_addresses=LOCAL), clock=clock)
    yield deck
    deck.db.dispose()


class Api:
    """A thin client for the Admin API with a token that holds every scope."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"X-Shopify-Access-Token": token}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, BASE + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def ok(self, response: Any) -> Any:
        assert 200 <= response.status_code < 300, f"{response.status_code}: {response.text}"
        return response.json()


def make_token(deck: Orderdeck, scopes: list[str] | None = None, name: str = "Test suite") -> str:
    with deck.unit_of_work() as uow:
        _, secret = uow.tokens.create(name, parse_scopes(scopes or list(SCOPES)), uow.now)
        uow.commit()
    return secret


@contextlib.contextmanager
def bare_tables(request: pytest.FixtureRequest, *tables: Table) -> Iterator[Connection]:
    """A connection that sees only these tables, empty, for tests that load rows straight into
    them (the reports' property tests): on SQLite (`request.param`) a database in memory with
    just them; on PostgreSQL the test database's own, migrated tables, emptied inside a
    transaction that is rolled back, so nothing is left behind for the other tests."""
    if request.param == "sqlite":
        engine = create_engine("sqlite://")
        with engine.connect() as connection:
            for table in tables:
                table.create(connection)
            yield connection
    else:
        engine = create_engine(request.getfixturevalue("postgres_url"))
        with engine.connect() as connection, connection.begin() as outer:
            for table in reversed(tables):  # those that refer to others first
                connection.execute(delete(table))
            yield connection
            outer.rollback()
    engine.dispose()


def downgrade_to(deck: Orderdeck, revision: str) -> None:
    """Take the deck's database down to an earlier schema revision, as `alembic downgrade` would
    (the migration tests then upgrade it again)."""
    from alembic import command

    from orderdeck.store.migrate import alembic_config

    with deck.db.writer.connect() as conn, conn.begin():
        config = alembic_config(deck.db.url)
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def orders_have_column(deck: Orderdeck, name: str) -> bool:
    """Whether the `orders` table has this column (a migration adds or drops it)."""
    from orderdeck.store.documents import orders_have

    with deck.db.reader.connect() as conn:
        return orders_have(conn, name)


_shared_app: list[FastAPI] = []


def app_for(deck: Orderdeck) -> FastAPI:
    """The application serving this test's Orderdeck. Building FastAPI's routes costs more than
    most tests (about half a second, with the first request), so the suite builds them once and
    gives each test the same routes over its own database and an empty token cache; the routes
    keep nothing else (api/app.py reads the Orderdeck from app.state on every request)."""
    if not _shared_app:
        _shared_app.append(create_app(deck))
    app = _shared_app[0]
    app.state.orderdeck = deck
    app.state.token_cache = TokenCache()
    return app


@pytest.fixture
def client(deck: Orderdeck) -> Iterator[TestClient]:
    with TestClient(app_for(deck), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api(deck: Orderdeck, client: TestClient) -> Api:
    return Api(client, make_token(deck))


class Shop:
    """Builders for what tests need: locations, products with stock, orders."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def location(self, name: str = "Amsterdam", **fields: Any) -> int:
        body = self.api.ok(self.api.post("/locations.json", {"location": {"name": name, **fields}}))
        return int(body["location"]["id"])

    def settings(self, **values: Any) -> None:
        self.api.ok(self.api.put("/shop/settings.json", {"settings": values}))

    def product(
        self,
        sku: str,
        price: str = "10.00",
        stock: dict[int, int] | None = None,
        policy: str = "deny",
        title: str | None = None,
    ) -> int:
        variant = {
            "sku": sku,
            "price": price,
            "inventory_policy": policy,
            "inventory_quantities": {str(k): v for k, v in (stock or {}).items()},
        }
        body = self.api.ok(
            self.api.post("/products.json", {"product": {"title": title or f"Product {sku}", "variants": [variant]}})
        )
        return int(body["product"]["variants"][0]["id"])

    def level(self, variant_id: int, location_id: int) -> dict[str, int]:
        levels = self.api.ok(self.api.get(f"/inventory_levels.json?inventory_item_ids={variant_id}"))[
            "inventory_levels"
        ]
        found = [lv for lv in levels if lv["location_id"] == location_id]
        return found[0] if found else {"available": 0, "committed": 0, "on_hand": 0}

    def order(self, lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        body = {"order": {"email": "anna@example.nl", "line_items": lines, **fields}}
        return self.api.ok(self.api.post("/orders.json", body))["order"]  # type: ignore[no-any-return]

    def get(self, order_id: int) -> dict[str, Any]:
        return self.api.ok(self.api.get(f"/orders/{order_id}.json"))["order"]  # type: ignore[no-any-return]

    def fulfillment_orders(self, order_id: int) -> list[dict[str, Any]]:
        return self.api.ok(self.api.get(f"/orders/{order_id}/fulfillment_orders.json"))["fulfillment_orders"]  # type: ignore[no-any-return]

    def fulfil(self, order_id: int, tracking: str | None = None, **extra: Any) -> dict[str, Any]:
        groups = [
            {"fulfillment_order_id": fo["id"]}
            for fo in self.fulfillment_orders(order_id)
            if fo["status"] in ("open", "in_progress")
        ]
        body: dict[str, Any] = {"line_items_by_fulfillment_order": groups[:1], **extra}
        if tracking:
            body["tracking_info"] = {"number": tracking}
        return self.api.ok(self.api.post("/fulfillments.json", {"fulfillment": body}))["fulfillment"]  # type: ignore[no-any-return]

    def capture(self, order_id: int, amount: str | None = None) -> dict[str, Any]:
        txn: dict[str, Any] = {"kind": "capture"}
        if amount:
            txn["amount"] = amount
        return self.api.ok(self.api.post(f"/orders/{order_id}/transactions.json", {"transaction": txn}))["transaction"]  # type: ignore[no-any-return]


@pytest.fixture
def shop(api: Api) -> Shop:
    return Shop(api)


AUTHORIZE = [{"kind": "authorization", "gateway": "bogus", "credit_card": {"number": "1"}}]
SELL = [{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}]
