"""Kept status counts, bulk work in batches, and the demo loader's worker processes."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from rich.console import Console
from sqlalchemy import func, select

from orderdeck.demo import load_demo
from orderdeck.services import bulk
from orderdeck.store import counts
from orderdeck.store.migrate import alembic_config
from orderdeck.store.tables import order_counts, orders
from tests.conftest import AUTHORIZE, SELL


@pytest.fixture
def amsterdam(shop: Any) -> int:
    return shop.location("Amsterdam")


@pytest.fixture
def mug(shop: Any, amsterdam: int) -> int:
    return shop.product("MUG-1", price="12.50", stock={amsterdam: 500}, title="Delft mug")


def count(api: Any, query: str) -> int:
    return int(api.ok(api.get(f"/orders/count.json?{query}"))["count"])


def counted_by_scan(deck: Any, *where: Any) -> int:
    with deck.unit_of_work(read_only=True) as uow:
        return int(uow.conn.execute(select(func.count()).select_from(orders).where(*where)).scalar_one())


def test_bulk_archive_over_several_batches_refuses_only_the_orders_it_must(shop, api, mug, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH", 3)
    placed = [shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)["id"] for _ in range(8)]
    already = [placed[1], placed[5]]
    for order_id in already:
        api.ok(api.post(f"/orders/{order_id}/close.json"))

    result = api.ok(api.post("/orders/bulk/close.json", {"ids": placed}))["bulk_result"]

    assert sorted(result["succeeded"]) == sorted(set(placed) - set(already))
    assert sorted(r["id"] for r in result["refused"]) == sorted(already)
    assert count(api, "status=closed") == 8
    assert count(api, "status=open") == 0
    assert api.ok(api.get("/orders/open_count.json"))["count"] == 0
    # Each order archived in a batch got its own timeline event, as if archived alone.
    for order_id in result["succeeded"]:
        events = api.ok(api.get(f"/orders/{order_id}/events.json"))["events"]
        assert [e["verb"] for e in events].count("closed") == 1, events


def test_counts_follow_payment_fulfilment_cancellation_and_deletion(shop, api, mug, deck):
    paid = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    authorized = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    doomed = shop.order([{"variant_id": mug, "quantity": 1}])
    assert count(api, "status=open&financial_status=paid&fulfillment_status=unshipped") == 1
    assert count(api, "status=any&financial_status=authorized") == 1
    assert api.ok(api.get("/orders/open_count.json"))["count"] == 3

    shop.fulfil(paid["id"], tracking="1Z999")
    shop.capture(authorized["id"])
    api.ok(api.post(f"/orders/{doomed['id']}/cancel.json", {"reason": "customer"}))
    assert count(api, "status=open&financial_status=paid&fulfillment_status=unshipped") == 1
    assert count(api, "status=any&fulfillment_status=shipped") == 1
    assert count(api, "status=cancelled") == 1
    assert count(api, "status=any") == 3

    api.ok(api.delete(f"/orders/{doomed['id']}.json"))
    assert count(api, "status=any") == 2
    assert count(api, "status=cancelled") == 0
    assert count(api, "status=any") == counted_by_scan(deck)


def test_a_count_with_more_than_statuses_still_counts_the_rows(shop, api, mug):
    shop.order([{"variant_id": mug, "quantity": 1}], tags="vip")
    shop.order([{"variant_id": mug, "quantity": 1}])
    assert count(api, "status=any&tag=vip") == 1
    assert count(api, "status=any") == 2


def test_folding_the_counts_keeps_every_total(shop, api, mug, deck, monkeypatch):
    monkeypatch.setattr(counts, "FOLD_EVERY", 2)
    for n in range(7):
        order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL if n % 2 else AUTHORIZE)
        if n % 3 == 0:
            api.ok(api.post(f"/orders/{order['id']}/close.json"))
    with deck.unit_of_work() as uow:
        counts.fold(uow.conn)
        uow.commit()
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(func.count()).select_from(order_counts)).scalar_one()
    assert rows <= 4  # one row per status combination once folded
    assert count(api, "status=any") == 7
    assert count(api, "status=closed") == 3
    assert count(api, "status=open&financial_status=paid") == counted_by_scan(
        deck, orders.c.order_status == "open", orders.c.financial_status == "paid"
    )


def test_the_migration_seeds_the_counts_from_the_orders_already_there(shop, api, mug, deck):
    for _ in range(3):
        shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    api.ok(api.post(f"/orders/{shop.order([{'variant_id': mug, 'quantity': 1}])['id']}/close.json"))
    config = alembic_config(deck.db.url)
    with deck.db.writer.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
        command.upgrade(config, "head")
        conn.commit()
    assert count(api, "status=any") == 4
    assert count(api, "status=open&financial_status=paid") == 3
    assert count(api, "status=closed") == 1


def _statuses(deck: Any) -> list[tuple[Any, ...]]:
    with deck.unit_of_work(read_only=True) as uow:
        return [
            tuple(row)
            for row in uow.conn.execute(
                select(
                    orders.c.number, orders.c.order_status, orders.c.financial_status, orders.c.total_price
                ).order_by(orders.c.number)
            )
        ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_demo_is_the_same_whichever_process_makes_each_batch(deck, tmp_path):
    from orderdeck.bootstrap import build
    from orderdeck.settings import Settings
    from orderdeck.store.migrate import migrate

    quiet = Console(quiet=True)
    load_demo(deck, count=250, batch=100, workers=1, console=quiet)
    other = build(Settings(database_url=f"sqlite:///{tmp_path / 'other.db'}"), clock=deck.clock)
    migrate(other.db)
    load_demo(other, count=250, batch=100, workers=2, console=quiet)
    try:
        assert _statuses(deck) == _statuses(other)
        # The kept counts agree with the rows the loader wrote.
        for where in ((), (orders.c.order_status == "open",), (orders.c.financial_status == "paid",)):
            assert counted_by_scan(other, *where) == counted_by_scan(deck, *where)
        with other.unit_of_work(read_only=True) as uow:
            total = uow.conn.execute(select(func.sum(order_counts.c.delta))).scalar_one()
        assert total == 250
    finally:
        other.db.dispose()
