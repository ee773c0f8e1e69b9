"""Migration 0027 moves every order's document and rendering from `orders` to `order_documents`
and fills the narrow row's new columns (and the shipments' delivered_at) from each document.
A database at 0026 with orders in it comes out with the same orders, the same export and the
same reports; running it again changes nothing; a run killed halfway (some batches committed)
leaves a database the version before still runs on, and the next run goes on from there.

Runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import orjson
import pytest
from alembic import command
from sqlalchemy import Connection, func, inspect, select, text

from orderdeck.services.context import Orderdeck
from orderdeck.store import document_move, reports
from orderdeck.store.migrate import alembic_config, current_revision, head_revision, migrate
from orderdeck.store.queries import CSV_COLUMNS, UNREADABLE, OrderFilter, export_csv
from orderdeck.store.tables import order_documents, orders, shipments
from tests.conftest import AUTHORIZE, SELL, Api, Shop


@pytest.fixture
def placed(deck: Orderdeck, api: Api, shop: Shop) -> list[dict[str, Any]]:
    """Seven orders: fulfilled and delivered, cancelled, partly refunded, plain ones."""
    here = shop.location()
    mug = shop.product("MUG-M", "10.00", {here: 100}, title="Mug")
    made = []
    for n in range(7):
        order = shop.order([{"variant_id": mug, "quantity": 1 + n % 3}], transactions=SELL if n % 2 else AUTHORIZE)
        made.append(order)
    shipment = shop.fulfil(made[1]["id"], tracking="TRACK-M1")
    api.ok(
        api.post(
            f"/orders/{made[1]['id']}/fulfillments/{shipment['id']}/events.json", {"event": {"status": "delivered"}}
        )
    )
    api.ok(api.post(f"/orders/{made[2]['id']}/cancel.json", {"reason": "fraud"}))
    shop.fulfil(made[3]["id"])
    return made


def at_0026(deck: Orderdeck) -> None:
    """Take the database back to 0026: the documents back in `orders`, no narrow columns."""
    with deck.db.writer.connect() as conn, conn.begin():
        config = alembic_config(deck.db.url)
        config.attributes["connection"] = conn
        command.downgrade(config, "0026")


def columns(deck: Orderdeck, table: str) -> set[str]:
    with deck.db.reader.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns(table)}


def snapshot(deck: Orderdeck, api: Api) -> dict[str, Any]:
    """What the merchant sees: every order's JSON, the export, the reports; and the stored rows."""
    with deck.unit_of_work(read_only=True) as uow:
        last = deck.clock().date() + timedelta(days=1)
        period = reports.Period(last - timedelta(days=29), last, "day", uow.shop.timezone)
        built = reports.build(uow.conn, period)
        summary = [
            tuple(r)
            for r in uow.conn.execute(
                select(orders.c.id, *(orders.c[n] for n in document_move.SUMMARY)).order_by(orders.c.id)
            )
        ]
        delivered = sorted(
            (r.fulfillment_id, str(r.delivered_at))
            for r in uow.conn.execute(select(shipments.c.fulfillment_id, shipments.c.delivered_at))
        )
    listed = api.ok(api.get("/orders.json?status=any&limit=250"))["orders"]
    return {
        "orders": {o["id"]: api.ok(api.get(f"/orders/{o['id']}.json"))["order"] for o in listed},
        "export": "".join(export_csv(deck.db.reader.connect, OrderFilter(status="any"))),
        "reports": (built.orders, built.cancel_reasons, built.lead_time, built.transit_time, built.payment_status),
        "summary": summary,
        "delivered": delivered,
    }


def test_an_0026_database_with_orders_comes_out_narrow_with_the_same_orders(
    deck: Orderdeck, api: Api, placed: list[dict[str, Any]]
) -> None:
    before = snapshot(deck, api)
    assert any(when != "None" for _, when in before["delivered"])
    at_0026(deck)
    assert {"document", "rendered", "rendered_for"} <= columns(deck, "orders")
    assert not set(document_move.SUMMARY) & columns(deck, "orders")
    assert "delivered_at" not in columns(deck, "shipments")

    migrate(deck.db)
    assert current_revision(deck.db) == head_revision()
    assert not {"document", "rendered", "rendered_for"} & columns(deck, "orders")
    with deck.db.reader.connect() as conn:
        moved = conn.execute(select(func.count()).select_from(order_documents)).scalar_one()
        rendered = conn.execute(select(func.count()).where(order_documents.c.rendered.is_not(None))).scalar_one()
    assert moved == len(placed) and rendered == len(placed)  # renderings moved, not dropped
    assert snapshot(deck, api) == before

    # Again: nothing to do, nothing changed.
    migrate(deck.db)
    assert snapshot(deck, api) == before


class Killed(Exception):
    """The process went away (here: after some batches were committed)."""


def test_a_run_killed_halfway_goes_on_where_it_stopped(deck: Orderdeck, api: Api, placed: list[dict[str, Any]]) -> None:
    before = snapshot(deck, api)
    at_0026(deck)
    batches = 0

    @contextmanager
    def transaction() -> Iterator[Connection]:
        nonlocal batches
        with deck.db.writer.begin() as conn:
            yield conn
            batches += 1
            if batches == 3:  # the count, one batch of two orders committed, the next killed before its commit
                raise Killed

    with deck.db.writer.begin() as conn:
        document_move.prepare(conn)
    with pytest.raises(Killed):
        document_move.move(transaction, batch=2)
    with deck.db.reader.connect() as conn:
        assert conn.execute(select(func.count()).select_from(order_documents)).scalar_one() == 2
        # Still 0026, and the documents still in `orders`: the version before runs on it as it was.
        assert conn.execute(text("SELECT count(*) FROM orders WHERE document IS NOT NULL")).scalar_one() == len(placed)
    assert current_revision(deck.db) == "0026"

    migrate(deck.db)
    assert current_revision(deck.db) == head_revision()
    assert snapshot(deck, api) == before


def test_an_order_whose_document_does_not_load_is_moved_and_marked_in_the_export(
    deck: Orderdeck, api: Api, placed: list[dict[str, Any]]
) -> None:
    at_0026(deck)
    bad = placed[4]
    with deck.db.writer.begin() as conn:
        document = orjson.loads(
            conn.execute(text("SELECT document FROM orders WHERE id = :id"), {"id": bad["id"]}).scalar_one()
        )
        document["line_items"][0]["quantity"] = "many"
        conn.execute(
            text("UPDATE orders SET document = :d, rendered = NULL WHERE id = :id"),
            {"d": orjson.dumps(document).decode(), "id": bad["id"]},
        )
    migrate(deck.db)
    with deck.db.reader.connect() as conn:
        kept = conn.execute(select(order_documents.c.document).where(order_documents.c.order_id == bad["id"]))
        assert orjson.loads(kept.scalar_one()) == document  # kept as it was, for repair-orders
    lines = "".join(export_csv(deck.db.reader.connect, OrderFilter(status="any"))).splitlines()
    assert len(lines) == len(placed) + 1
    marked = next(line for line in lines if line.startswith(bad["name"] + ","))
    assert UNREADABLE in marked
    assert lines[0].split(",") == list(CSV_COLUMNS)
