"""Migration 0029: the `overlay` column of `orders`, where bulk archive, unarchive and tags write
the document fields they change (store/bulk_updates.py).

Upgrading only adds the column (every order starts with its document whole) and does nothing
when it is there already; downgrading writes each overlay into its document first, so the
version before reads the same orders. Runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from orderdeck.domain.order import Author
from orderdeck.services import bulk_set, orders
from orderdeck.services.context import Orderdeck
from orderdeck.store.codec import decode_order
from orderdeck.store.migrate import current_revision, head_revision, migrate
from orderdeck.store.tables import order_documents
from orderdeck.store.tables import orders as orders_table
from tests.conftest import SELL, Api, Shop, downgrade_to, orders_have_column

STAFF = Author("staff", "Mia Migrate", "3")


def seen(deck: Orderdeck, api: Api, ids: list[int]) -> dict[str, Any]:
    """The orders as the API answers them, and as their documents alone say (no overlay)."""
    with deck.db.reader.connect() as conn:
        documents = dict(
            conn.execute(
                select(order_documents.c.order_id, order_documents.c.document).where(
                    order_documents.c.order_id.in_(ids)
                )
            ).all()
        )
    return {
        "answers": {i: api.get(f"/orders/{i}.json").content for i in ids},
        "documents": {i: decode_order(d) for i, d in documents.items()},
    }


def test_downgrade_folds_the_overlays_into_the_documents_and_upgrade_adds_the_column_once(
    deck: Orderdeck, api: Api, shop: Shop
) -> None:
    mug = shop.product("MUG-O", "10.00", {shop.location(): 100}, title="Mug")
    ids = [shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)["id"] for _ in range(3)]
    bulk_set.run(deck, STAFF, ids[:2], "archive", step=orders.close_order)
    bulk_set.run(
        deck,
        STAFF,
        ids[1:],
        "add_tags",
        tags=["vip"],
        step=lambda cmd, oid: orders.change_tags(cmd, oid, add=["vip"], remove=[]),
    )
    with deck.db.reader.connect() as conn:
        overlaid = conn.execute(
            select(func.count()).where(orders_table.c.overlay.is_not(None), orders_table.c.id.in_(ids))
        ).scalar_one()
    # The second order's messages from the archive were still held, so its tag went through its
    # whole command, which saved it whole.
    assert overlaid == 2
    before = seen(deck, api, ids)
    assert before["documents"][ids[0]].closed_at is None  # the archive is in the overlay only

    downgrade_to(deck, "0028")
    assert not orders_have_column(deck, "overlay")
    with deck.db.reader.connect() as conn:
        folded = {
            r.order_id: decode_order(r.document)
            for r in conn.execute(select(order_documents.c.order_id, order_documents.c.document))
        }
    assert folded[ids[0]].closed_at is not None and folded[ids[0]].tags == []
    assert folded[ids[1]].closed_at is not None and folded[ids[1]].tags == ["vip"]
    assert folded[ids[2]].closed_at is None and folded[ids[2]].tags == ["vip"]

    migrate(deck.db)
    assert current_revision(deck.db) == head_revision() and orders_have_column(deck, "overlay")
    after = seen(deck, api, ids)
    assert after["answers"] == before["answers"]

    # Run again over a database that has the column (as after a stopped run): nothing to do.
    with deck.db.writer.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0028'"))
    migrate(deck.db)
    assert current_revision(deck.db) == head_revision()
    assert seen(deck, api, ids)["answers"] == before["answers"]
