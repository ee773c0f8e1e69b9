"""Upgrading a shop from the oldest released schema (0001) to the newest.

`data/schema_0001.json` holds every row (but the outbox) of a shop whose six orders were placed,
paid, fulfilled, cancelled and archived through the API of the release that had schema 0001
(commit 34a780e), as that version stored them; `data/make_schema_0001.py` made it. The test
builds a database at revision 0001, puts those rows in, runs `migrate` to the head, and checks
through today's API that the old orders are found, listed, counted and shown as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import DateTime, MetaData, Numeric, func, select, text

from orderdeck.bootstrap import build
from orderdeck.services.context import Orderdeck
from orderdeck.settings import Settings
from orderdeck.store.migrate import alembic_config, check_schema, migrate
from orderdeck.store.tables import order_search_terms
from tests.conftest import Api, app_for, make_token
from tests.integration.test_schema_startup import fresh_postgres  # noqa: F401  (a fixture)

OLD = json.loads((Path(__file__).parent / "data" / "schema_0001.json").read_text())


def _value(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, DateTime):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(column.type, Numeric):
        return Decimal(value)
    return value


def build_0001(url: str) -> Orderdeck:
    """A database at revision 0001 holding the old shop's rows, then migrated to the head."""
    deck = build(Settings(database_url=url, public_url="http://shop.test"))
    with deck.db.writer.connect() as conn:
        config = alembic_config(deck.db.url)
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.commit()
    with deck.db.writer.begin() as conn:
        old = MetaData()
        old.reflect(conn)
        for table in old.sorted_tables:
            rows = OLD["tables"].get(table.name, [])
            if rows:
                conn.execute(table.insert(), [{k: _value(table.c[k], v) for k, v in row.items()} for row in rows])
        if conn.dialect.name == "postgresql":
            for table in old.sorted_tables:
                if "id" in table.c and table.c.id.autoincrement is True:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )
    migrate(deck.db)
    check_schema(deck.db)
    return deck


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Orderdeck]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = str(request.getfixturevalue("fresh_postgres"))
    deck = build_0001(url)
    yield deck
    deck.db.dispose()


@pytest.fixture
def old_api(upgraded: Orderdeck) -> Iterator[Api]:
    with TestClient(app_for(upgraded), raise_server_exceptions=False) as client:
        yield Api(client, make_token(upgraded))


def names(api: Api, query: str) -> list[str]:
    found = api.ok(api.get(f"/orders.json?status=any&fields=name&{query}"))["orders"]
    return sorted(o["name"] for o in found)


def count(api: Api, query: str) -> int:
    return int(api.ok(api.get(f"/orders/count.json?{query}"))["count"])


def test_old_orders_are_found_by_a_word_of_the_customers_name(old_api: Api) -> None:
    assert names(old_api, "q=jansen") == ["#1001", "#1006"]  # the customer's name
    assert names(old_api, "q=Vries") == ["#1002"]
    assert names(old_api, "q=peters") == ["#1003"]  # no customer: the billing name
    assert names(old_api, "q=bakker") == ["#1005"]  # no customer nor billing: the shipping name
    assert names(old_api, "q=dana") == ["#1004"]
    # What 0001 already indexed still works.
    assert names(old_api, "q=vase-red") == ["#1002", "#1005"]
    assert names(old_api, "tag=vip") == ["#1003"]


def test_every_old_order_has_its_name_terms(upgraded: Orderdeck) -> None:
    with upgraded.unit_of_work(read_only=True) as uow:
        having = uow.conn.execute(
            select(func.count(func.distinct(order_search_terms.c.order_id))).where(order_search_terms.c.kind == "name")
        ).scalar_one()
    assert having == len(OLD["tables"]["orders"])


def test_old_orders_list_count_and_show_their_statuses(old_api: Api) -> None:
    assert names(old_api, "status=open") == ["#1001", "#1002", "#1003", "#1005"]
    assert names(old_api, "status=closed") == ["#1006"]
    assert names(old_api, "status=cancelled") == ["#1004"]
    assert names(old_api, "financial_status=paid") == ["#1002", "#1005", "#1006"]
    assert names(old_api, "fulfillment_status=shipped") == ["#1002"]
    assert count(old_api, "status=any") == 6
    assert count(old_api, "status=open") == 4
    assert count(old_api, "financial_status=paid&status=any") == 3
    assert count(old_api, "financial_status=authorized") == 1
    for name, (financial, fulfillment) in OLD["statuses"].items():
        order = old_api.ok(old_api.get(f"/orders/{name[1:]}.json"))["order"]
        assert (order["financial_status"], order["fulfillment_status"]) == (financial, fulfillment), name


def test_old_orders_take_commands_and_numbering_goes_on(old_api: Api) -> None:
    captured = old_api.ok(old_api.post("/orders/1003/transactions.json", {"transaction": {"kind": "capture"}}))
    assert captured["transaction"]["status"] == "success"
    assert old_api.ok(old_api.get("/orders/1003.json"))["order"]["financial_status"] == "paid"
    variant = OLD["tables"]["variants"][0]["id"]
    placed = old_api.ok(
        old_api.post(
            "/orders.json",
            {"order": {"email": "fleur@example.nl", "line_items": [{"variant_id": variant, "quantity": 1}]}},
        )
    )
    assert placed["order"]["name"] == "#1007"
    assert count(old_api, "status=any") == 7
    assert count(old_api, "financial_status=paid&status=any") == 4
