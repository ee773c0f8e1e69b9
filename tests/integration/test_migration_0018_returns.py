"""Migration 0018 on orders stored before returns existed: each fulfillment line gets an id from
its order's own sequence (a return names fulfillment lines by id), the order's fulfilled units
are written for the return rate, and running it again changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select

from orderdeck.domain import returns as rules
from orderdeck.domain.order import Order
from orderdeck.services import returns as commands
from orderdeck.services.context import Orderdeck
from orderdeck.store import counts
from orderdeck.store.migrate import alembic_config
from orderdeck.store.orders import search_terms, status_columns
from orderdeck.store.returns import backfill
from orderdeck.store.saved_views import SavedViews
from orderdeck.store.tables import fulfilled_units
from tests.conftest import Shop
from tests.integration.order_steps import run_migration
from tests.integration.returns_steps import fulfillment_line_ids, run


def stored(deck: Orderdeck, order_id: int) -> Order:
    with deck.unit_of_work(read_only=True) as uow:
        return uow.orders.get(order_id, for_update=False)


def store_as_before_returns(deck: Orderdeck, order_id: int) -> None:
    """The order as a version before returns stored it: fulfillment lines without ids."""
    with deck.unit_of_work() as uow:
        order = uow.orders.get(order_id)
        terms, key = search_terms(order), counts.key_of(status_columns(order))
        order.next_child_seq -= sum(len(f.line_items) for f in order.fulfillments)
        for f in order.fulfillments:
            for fl in f.line_items:
                fl.id = 0
        uow.orders.save(order, previous_terms=terms, previous_count_key=key, rendered=None)
        uow.commit()


def migrate_from_0017(deck: Orderdeck) -> None:
    """Back to 0017 (0018's tables gone), then 0018's upgrade as `orderdeck migrate` runs it."""
    with deck.db.writer.connect() as conn, conn.begin():
        config = alembic_config(deck.db.url)
        config.attributes["connection"] = conn
        command.downgrade(config, "0017")
        command.upgrade(config, "0018")
        command.upgrade(config, "head")


def units(deck: Orderdeck) -> set[tuple[int, int, int]]:
    with deck.db.reader.connect() as conn:
        query = select(fulfilled_units.c.order_id, fulfilled_units.c.line_item_id, fulfilled_units.c.quantity)
        return {tuple(r) for r in conn.execute(query)}  # type: ignore[misc]


def test_old_fulfillment_lines_get_ids_from_their_order_and_keep_them(
    deck: Orderdeck, shop: Shop, mug: int, amsterdam: int
) -> None:
    vase = shop.product("VASE-1", price="30.00", stock={amsterdam: 20}, title="Tulip vase")
    sold = [{"kind": "sale", "status": "success"}]
    two_lines = shop.order([{"variant_id": mug, "quantity": 2}, {"variant_id": vase, "quantity": 1}], transactions=sold)
    shop.fulfil(two_lines["id"])
    twice = shop.order([{"variant_id": mug, "quantity": 3}], transactions=sold)
    fo = shop.fulfillment_orders(twice["id"])[0]
    line = {"id": fo["line_items"][0]["id"], "quantity": 1}
    for _ in range(2):
        group = {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": [line]}
        body = {"fulfillment": {"line_items_by_fulfillment_order": [group]}}
        shop.api.ok(shop.api.post("/fulfillments.json", body))
    unfulfilled = shop.order([{"variant_id": mug, "quantity": 1}], transactions=sold)
    for order in (two_lines, twice, unfulfilled):
        store_as_before_returns(deck, order["id"])
    assert fulfillment_line_ids(deck, two_lines["id"]) == [0, 0]
    seq_before = stored(deck, two_lines["id"]).next_child_seq

    migrate_from_0017(deck)

    migrated = stored(deck, two_lines["id"])
    ids = [fl.id for f in migrated.fulfillments for fl in f.line_items]
    assert len(set(ids)) == 2 and all(i >> 20 == two_lines["id"] for i in ids), ids
    assert migrated.next_child_seq == seq_before + 2
    assert len(set(fulfillment_line_ids(deck, twice["id"]))) == 2
    assert stored(deck, unfulfilled["id"]).fulfillments == []
    mug_line, vase_line = (li["id"] for li in two_lines["line_items"])
    assert units(deck) == {
        (two_lines["id"], mug_line, 2),
        (two_lines["id"], vase_line, 1),
        (twice["id"], twice["line_items"][0]["id"], 2),
    }

    # A second run (the migration again, or the same walk in small batches) changes nothing.
    before = {o["id"]: stored(deck, o["id"]) for o in (two_lines, twice)}
    migrate_from_0017(deck)
    with deck.db.writer.begin() as conn:
        report = backfill(conn, batch=1)
    assert (report.checked, report.numbered, report.unreadable) == (3, 0, [])
    assert {o["id"]: stored(deck, o["id"]) for o in (two_lines, twice)} == before
    assert len(units(deck)) == 3

    # The numbered lines are what a return names.
    fl = fulfillment_line_ids(deck, two_lines["id"])[0]
    request = rules.ReturnRequest(
        lines=[rules.ReturnLineRequest(fulfillment_line_item_id=fl, quantity=1, return_reason="defective")]
    )  # type: ignore[call-arg]
    _, ret = run(deck, lambda c: commands.start(c, two_lines["id"], commands.StartReturn(request, status="open")))
    assert ret.return_line_items[0].fulfillment_line_item_id == fl


def test_a_saved_view_of_the_old_return_filter_keeps_working(deck: Orderdeck) -> None:
    """Migration 0021: a view saved with the admin's old `in_return` reads Shopify's `in_progress`."""
    with deck.unit_of_work() as uow:
        views = SavedViews(uow.conn)
        views.add("Being returned", "status=any&return_status=in_return&tag=vip", datetime.now(UTC))
        views.add("Archived", "status=closed", datetime.now(UTC))
        uow.commit()
    run_migration(deck, "0021_saved_views_return_filter")
    with deck.unit_of_work(read_only=True) as uow:
        queries = {v.name: v.query for v in SavedViews(uow.conn).all()}
    assert queries == {"Being returned": "status=any&return_status=in_progress&tag=vip", "Archived": "status=closed"}
