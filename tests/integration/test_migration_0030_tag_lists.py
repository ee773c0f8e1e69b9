"""Migration 0030: each order's tags as a JSON list in its narrow row (`orders.tag_list`), which
bulk tagging reads instead of the document (store/bulk_updates.rows_for_update).

Upgrading adds the column and fills it from each document (or the tags a bulk change laid over
it), a batch per transaction when `orderdeck migrate` runs it, so a stopped run goes on where
it stopped; run again, it does nothing. An order not filled yet (NULL) reads its document, so
bulk tagging gives the same orders at every moment of the fill. Downgrading drops the column:
the documents hold the same tags. Runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from alembic import command
from sqlalchemy import Connection, select, text, update

from orderdeck.domain.order import Author
from orderdeck.services import bulk_set, orders
from orderdeck.services.context import Orderdeck
from orderdeck.store import tag_lists
from orderdeck.store.migrate import alembic_config, current_revision, head_revision, migrate
from orderdeck.store.tables import orders as orders_table
from tests.conftest import SELL, Api, Shop, downgrade_to, orders_have_column

STAFF = Author("staff", "Tess Tags", "4")


def tag_lists_of(deck: Orderdeck, ids: list[int]) -> dict[int, Any]:
    """Each order's `tag_list`, decoded (None where it is not filled)."""
    with deck.db.reader.connect() as conn:
        rows = conn.execute(select(orders_table.c.id, orders_table.c.tag_list).where(orders_table.c.id.in_(ids)))
        return {r.id: orjson.loads(r.tag_list) if r.tag_list is not None else None for r in rows}


def answers(api: Api, ids: list[int]) -> dict[int, bytes]:
    return {i: api.get(f"/orders/{i}.json").content for i in ids}


def tag(deck: Orderdeck, ids: list[int], action: str, tags: list[str]) -> list[int]:
    add, remove = (tags, []) if action == "add_tags" else ([], tags)
    result = bulk_set.run(
        deck, STAFF, ids, action, tags=tags, step=lambda cmd, oid: orders.change_tags(cmd, oid, add=add, remove=remove)
    )
    assert result.refused == []
    return result.succeeded


def test_the_tag_lists_are_filled_from_the_documents_and_overlays_once_and_dropped_on_downgrade(
    deck: Orderdeck, api: Api, shop: Shop
) -> None:
    mug = shop.product("MUG-T", "10.00", {shop.location(): 100}, title="Mug")
    placed = [
        shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL, tags=tags)["id"]
        for tags in (["gift"], ["gift, wrapped", "vip"], [])  # a tag with a comma in it
    ]
    # The last order's tags only in its overlay (a bulk change since its save).
    tag(deck, placed[2:], "add_tags", ["rush"])
    expected = {placed[0]: ["gift"], placed[1]: ["gift, wrapped", "vip"], placed[2]: ["rush"]}
    assert tag_lists_of(deck, placed) == expected  # as every save and bulk change writes it
    before = answers(api, placed)

    downgrade_to(deck, "0029")
    assert not orders_have_column(deck, "tag_list")
    assert answers(api, placed) == before

    migrate(deck.db)
    assert current_revision(deck.db) == head_revision() and orders_have_column(deck, "tag_list")
    assert tag_lists_of(deck, placed) == expected
    assert answers(api, placed) == before

    # Run again over a database that has the column filled (as after a stopped run): nothing to do.
    with deck.db.writer.begin() as conn:
        conn.execute(update(orders_table).values(tag_list=None).where(orders_table.c.id == placed[0]))
        conn.execute(text("UPDATE alembic_version SET version_num = '0029'"))
    migrate(deck.db)
    assert current_revision(deck.db) == head_revision()
    assert tag_lists_of(deck, placed) == expected
    assert answers(api, placed) == before


def test_alembic_alone_fills_every_order_and_a_stopped_fill_goes_on_where_it_stopped(
    deck: Orderdeck, api: Api, shop: Shop
) -> None:
    mug = shop.product("MUG-U", "10.00", {shop.location(): 100}, title="Mug")
    placed = [shop.order([{"variant_id": mug, "quantity": 1}], tags=[f"t{i}"])["id"] for i in range(5)]
    expected = {oid: [f"t{i}"] for i, oid in enumerate(placed)}

    downgrade_to(deck, "0029")
    with deck.db.writer.connect() as conn, conn.begin():
        config = alembic_config(deck.db.url)
        config.attributes["connection"] = conn
        command.upgrade(config, "0030")
    assert tag_lists_of(deck, placed) == expected

    with deck.db.writer.begin() as conn:
        conn.execute(update(orders_table).values(tag_list=None).where(orders_table.c.id.in_(placed)))

    @contextmanager
    def transaction() -> Iterator[Connection]:
        with deck.db.writer.begin() as conn:
            yield conn

    # Two orders a batch, the second batch as far as a run stopped there got.
    with transaction() as conn:
        assert tag_lists.fill_batch(conn, 0, batch=2) == (placed[1], 2)
    assert tag_lists_of(deck, placed) == {**{oid: None for oid in placed}, **{o: expected[o] for o in placed[:2]}}
    assert tag_lists.fill(transaction, batch=2) == 3
    assert tag_lists_of(deck, placed) == expected
    assert tag_lists.fill(transaction, batch=2) == 0


def test_bulk_tagging_an_order_not_filled_yet_reads_its_document(deck: Orderdeck, api: Api, shop: Shop) -> None:
    mug = shop.product("MUG-V", "10.00", {shop.location(): 100}, title="Mug")
    placed = [shop.order([{"variant_id": mug, "quantity": 1}], tags=["a, b", "c"])["id"] for _ in range(2)]
    with deck.db.writer.begin() as conn:
        conn.execute(update(orders_table).values(tag_list=None).where(orders_table.c.id == placed[0]))

    assert tag(deck, placed, "remove_tags", ["c"]) == placed
    assert tag_lists_of(deck, placed) == {placed[0]: ["a, b"], placed[1]: ["a, b"]}
    assert [shop.get(oid)["tags"] for oid in placed] == ["a, b", "a, b"]
