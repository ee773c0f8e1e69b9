"""Orders an older version's rules left wrong are put right on upgrade (migration 0017) and by
`orderdeck repair-orders`: units refunded without restock that stayed on their fulfillment orders
with their stock committed, and refunds without the refund_discrepancy that keeps a goodwill
refund from being owed. Each order is first stored as the version before 15cdab4 left it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from orderdeck.cli import app as cli
from orderdeck.domain.order import Order
from orderdeck.services import sweeps
from orderdeck.services.context import Orderdeck
from orderdeck.store import counts
from orderdeck.store.codec import decode_order
from orderdeck.store.migrate import migrate as migrate_to_head
from orderdeck.store.orders import search_terms, status_columns
from orderdeck.store.repair import repair_old_orders
from orderdeck.store.tables import inventory_levels, order_documents, orders
from tests.conftest import SELL, Api, Shop
from tests.integration.order_steps import (
    counted,
    ids_listed,
    open_fo,
    refund_unrestocked,
    run_migration,
    sale_id,
    ship,
    stock,
)
from tests.integration.test_migration_0027_narrow_rows import at_0026


def refund(api: Api, order_id: int, **body: Any) -> Any:
    return api.ok(api.post(f"/orders/{order_id}/refunds.json", {"refund": body}))


def stored_order(deck: Orderdeck, order_id: int) -> Order:
    with deck.unit_of_work(read_only=True) as uow:
        return uow.orders.get(order_id, for_update=False)


def store_as_old_version_left_it(deck: Orderdeck, order_id: int, change: Callable[[Order], None]) -> None:
    """Store the order changed as the older version would have stored it: its status columns,
    counts and terms as it derived them, no stored rendering."""
    with deck.unit_of_work() as uow:
        order = uow.orders.get(order_id)
        terms, key = search_terms(order), counts.key_of(status_columns(order))
        change(order)
        uow.orders.save(order, previous_terms=terms, previous_count_key=key, rendered=None)
        uow.commit()


def give_back_stock(deck: Orderdeck, variant: int, location: int, units: int) -> None:
    """The reserved units an older version never wrote off: committed and on hand again."""
    with deck.db.writer.begin() as conn:
        level = inventory_levels.c
        conn.execute(
            update(inventory_levels)
            .where(level.inventory_item_id == variant, level.location_id == location)
            .values(committed=level.committed + units, on_hand=level.on_hand + units)
        )


def without_discrepancies(order: Order) -> None:
    for r in order.refunds:
        r.order_adjustments = [a for a in r.order_adjustments if a.kind != "refund_discrepancy"]


def migrate(deck: Orderdeck) -> None:
    run_migration(deck, "0017_old_orders_by_new_rules")


def versions(deck: Orderdeck) -> dict[int, int]:
    with deck.db.reader.connect() as conn:
        return {row.id: row.version for row in conn.execute(select(orders.c.id, orders.c.version))}


def rendered(deck: Orderdeck, order_id: int) -> str | None:
    with deck.db.reader.connect() as conn:
        return conn.execute(
            select(order_documents.c.rendered).where(order_documents.c.order_id == order_id)
        ).scalar_one()  # type: ignore[no-any-return]


def stuck_order(api: Api, shop: Shop, deck: Orderdeck, mug: int, amsterdam: int) -> dict[str, Any]:
    """Two mugs, one refunded without restock before anything shipped, stored as the version
    before 15cdab4 left it (the refunded mug still on the fulfillment order, its stock committed),
    then the other one shipped: the order stays partially fulfilled for ever."""
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    before = copy.deepcopy(stored_order(deck, order["id"]).fulfillment_orders)
    refund_unrestocked(api, order, amount="12.50")

    def old(o: Order) -> None:
        o.fulfillment_orders = before

    store_as_old_version_left_it(deck, order["id"], old)
    give_back_stock(deck, mug, amsterdam, 1)
    api.ok(ship(api, open_fo(shop, order["id"]), 1))
    return order


def test_migration_takes_refunded_unfulfilled_units_off_fulfillment_orders(
    api: Api, shop: Shop, deck: Orderdeck, mug: int, amsterdam: int
) -> None:
    shop.settings(auto_archive=True)
    order = stuck_order(api, shop, deck, mug, amsterdam)
    oid = order["id"]
    assert open_fo(shop, oid)["line_items"][0]["fulfillable_quantity"] == 1  # the old state
    assert stock(shop, mug, amsterdam) == (48, 1, 49)
    assert shop.get(oid)["fulfillment_status"] == "partial"
    assert counted(api, fulfillment_status="partial") == 1
    sweeps.auto_archive(deck)
    assert shop.get(oid)["closed_at"] is None  # stuck: never archived

    migrate(deck)

    assert [fo for fo in shop.fulfillment_orders(oid) if fo["status"] in ("open", "in_progress")] == []
    assert stock(shop, mug, amsterdam) == (48, 0, 48)  # written off, not back to available
    after = shop.get(oid)
    assert after["fulfillment_status"] == "fulfilled"
    assert after["line_items"][0]["fulfillable_quantity"] == 0
    assert ids_listed(api, fulfillment_status="partial") == set() and counted(api, fulfillment_status="partial") == 0
    assert ids_listed(api, fulfillment_status="shipped") == {oid} and counted(api, fulfillment_status="shipped") == 1
    events = api.ok(api.get(f"/orders/{oid}/events.json"))["events"]
    assert any("1 refunded unfulfilled unit taken off the fulfillment orders" in e["description"] for e in events)
    sweeps.auto_archive(deck)
    assert shop.get(oid)["closed_at"] is not None  # no longer stuck

    again = versions(deck)
    migrate(deck)
    assert versions(deck) == again  # nothing changed the second time


def test_repair_leaves_the_units_still_to_ship_and_shipping_them_fulfils_the_order(
    api: Api, shop: Shop, deck: Orderdeck, mug: int, amsterdam: int
) -> None:
    """Three mugs: one shipped, one refunded without restock, one still to ship."""
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=SELL)
    oid = order["id"]
    api.ok(ship(api, open_fo(shop, oid), 1))
    before = copy.deepcopy(stored_order(deck, oid).fulfillment_orders)
    refund_unrestocked(api, order, units=2)

    def old(o: Order) -> None:
        o.fulfillment_orders = before

    store_as_old_version_left_it(deck, oid, old)
    give_back_stock(deck, mug, amsterdam, 1)
    assert open_fo(shop, oid)["line_items"][0]["fulfillable_quantity"] == 2
    assert stock(shop, mug, amsterdam) == (47, 2, 49)

    report = repair_old_orders(deck.db.writer.begin, now=datetime.now(UTC))

    assert [(r[0], r[1]) for r in report.repaired] == [(oid, order["name"])]
    assert rendered(deck, oid) is None  # rendered afresh
    fo = open_fo(shop, oid)
    assert fo["line_items"][0]["fulfillable_quantity"] == 1
    assert stock(shop, mug, amsterdam) == (47, 1, 48)
    api.ok(ship(api, fo))
    assert shop.get(oid)["fulfillment_status"] == "fulfilled"
    level = shop.level(mug, amsterdam)
    assert (level["available"], level["committed"], level["on_hand"]) == (47, 0, 47)
    assert level["on_hand"] == level["available"] + level["committed"]
    assert repair_old_orders(deck.db.writer.begin, now=datetime.now(UTC)).repaired == []


def test_a_goodwill_refund_is_no_longer_owed_after_the_repair(
    api: Api, shop: Shop, deck: Orderdeck, mug: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refund of money alone (goodwill) used to raise total_outstanding by its amount."""
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    oid = order["id"]
    refund(api, oid, transactions=[{"parent_id": sale_id(api, oid), "amount": "5.00", "kind": "refund"}])
    assert shop.get(oid)["total_outstanding"] == "0.00"  # today's rules
    store_as_old_version_left_it(deck, oid, without_discrepancies)
    assert shop.get(oid)["total_outstanding"] == "5.00"  # as the older version left it
    monkeypatch.setenv("ORDERDECK_DATABASE_URL", deck.db.url)
    runner = CliRunner()

    dry = runner.invoke(cli, ["repair-orders", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{order['name']} (id {oid}) would be repaired" in dry.output
    assert shop.get(oid)["total_outstanding"] == "5.00"

    done = runner.invoke(cli, ["repair-orders"])
    assert done.exit_code == 0, done.output
    assert f"{order['name']} (id {oid}) repaired" in done.output and "1 refund discrepancy recorded" in done.output
    after = shop.get(oid)
    assert after["total_outstanding"] == "0.00"
    assert after["financial_status"] == "partially_refunded"
    refunds = api.ok(api.get(f"/orders/{oid}/refunds.json"))["refunds"]
    adjustments = [a for r in refunds for a in r["order_adjustments"] if a["kind"] == "refund_discrepancy"]
    assert len(adjustments) == 1
    assert counted(api, financial_status="partially_refunded") == 1

    second = runner.invoke(cli, ["repair-orders"])
    assert second.exit_code == 0, second.output
    assert "repaired:" not in second.output
    assert "1 order(s) checked, 0 repaired" in second.output


def test_orders_refunded_by_todays_rules_are_left_as_they_are(
    api: Api, shop: Shop, deck: Orderdeck, mug: int, amsterdam: int
) -> None:
    """The repair works out each refund's discrepancy as the refund command does: refunds made
    today (exact, short, goodwill, items without money, shipped then refunded) need nothing."""
    exact = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    refund_unrestocked(api, exact, amount="12.50")
    short = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    api.ok(ship(api, open_fo(shop, short["id"]), 1))
    refund_unrestocked(api, short, units=2, amount="7.00")
    goodwill = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    for amount in ("2.00", "3.00"):
        refund(
            api,
            goodwill["id"],
            transactions=[{"parent_id": sale_id(api, goodwill["id"]), "amount": amount, "kind": "refund"}],
        )
    unpaid = shop.order([{"variant_id": mug, "quantity": 2}])
    refund_unrestocked(api, unpaid)
    levels = stock(shop, mug, amsterdam)
    seen = versions(deck)

    report = repair_old_orders(deck.db.writer.begin, now=datetime.now(UTC))

    assert report.repaired == [] and report.checked == 4
    assert versions(deck) == seen
    assert stock(shop, mug, amsterdam) == levels


def test_dry_run_and_migration_in_one_transaction_report_the_same(
    api: Api, shop: Shop, deck: Orderdeck, mug: int, amsterdam: int
) -> None:
    order = stuck_order(api, shop, deck, mug, amsterdam)
    seen = versions(deck)
    dry = repair_old_orders(deck.db.writer.begin, now=datetime.now(UTC), dry_run=True)
    assert [r[0] for r in dry.repaired] == [order["id"]]
    assert versions(deck) == seen and stock(shop, mug, amsterdam) == (48, 1, 49)
    with deck.db.writer.begin() as conn:
        done = repair_old_orders(lambda: nullcontext(conn), now=datetime.now(UTC), batch=1)
    assert done.repaired == dry.repaired
    assert stock(shop, mug, amsterdam) == (48, 0, 48)


def test_the_repair_runs_on_the_layout_before_0027_as_migrations_0017_and_0019_do(
    api: Api, shop: Shop, deck: Orderdeck, mug: int, amsterdam: int
) -> None:
    """0017 and 0019 run the repair before 0027 moved the documents out of `orders`: it reads
    them there and writes the repaired order back there; 0027 then moves it as it is."""
    order = stuck_order(api, shop, deck, mug, amsterdam)
    at_0026(deck)
    with deck.db.writer.begin() as conn:
        done = repair_old_orders(lambda: nullcontext(conn), now=datetime.now(UTC))
        stored = conn.execute(text("SELECT document, rendered FROM orders WHERE id = :id"), {"id": order["id"]}).one()
    assert [r[0] for r in done.repaired] == [order["id"]]
    assert stored.rendered is None
    assert [fo for fo in decode_order(stored.document).fulfillment_orders if fo.status in ("open", "in_progress")] == []
    migrate_to_head(deck.db)
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"
    assert stock(shop, mug, amsterdam) == (48, 0, 48)
    assert ids_listed(api, fulfillment_status="shipped") == {order["id"]}


def test_units_an_older_version_put_back_when_a_shipment_was_cancelled_come_off_again(
    api: Api, shop: Shop, deck: Orderdeck, mug: int, amsterdam: int
) -> None:
    """Both mugs shipped, one refunded without restock (the parcel was lost), then the shipment
    cancelled: the older version put both back on a fulfillment order with their stock committed;
    only the kept mug is still to ship."""
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    oid = order["id"]
    fulfillment = api.ok(ship(api, open_fo(shop, oid)))["fulfillment"]
    refund_unrestocked(api, order)
    api.ok(api.post(f"/orders/{oid}/fulfillments/{fulfillment['id']}/cancel.json"))
    assert open_fo(shop, oid)["line_items"][0]["fulfillable_quantity"] == 1  # today's rules
    assert stock(shop, mug, amsterdam) == (48, 1, 49)

    def old(o: Order) -> None:  # what the older cancel_fulfillment put back
        fol = next(fo for fo in o.fulfillment_orders if fo.is_active).line_items[0]
        fol.quantity += 1
        fol.fulfillable_quantity += 1

    store_as_old_version_left_it(deck, oid, old)
    give_back_stock(deck, mug, amsterdam, 1)
    assert open_fo(shop, oid)["line_items"][0]["fulfillable_quantity"] == 2

    migrate(deck)

    fo = open_fo(shop, oid)
    assert fo["line_items"][0]["fulfillable_quantity"] == 1
    assert stock(shop, mug, amsterdam) == (48, 1, 49)
    api.ok(ship(api, fo))
    assert shop.get(oid)["fulfillment_status"] == "fulfilled"
    assert stock(shop, mug, amsterdam) == (48, 0, 48)


def test_the_discrepancies_recorded_are_those_the_refund_command_records(
    api: Api, shop: Shop, deck: Orderdeck, mug: int
) -> None:
    """Stripped of its refund_discrepancy adjustments, an order refunded today gets the same ones
    back from the repair, on a multi-currency order too (USD customer, EUR shop)."""
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}], presentment_currency="USD", exchange_rate="1.10", transactions=SELL
    )
    oid = order["id"]
    refund_unrestocked(api, order, amount="10.00", currency="USD")
    goodwill = [{"parent_id": sale_id(api, oid), "amount": "1.00", "kind": "refund"}]
    refund(api, oid, currency="USD", transactions=goodwill)

    def discrepancies() -> list[tuple[str, str]]:
        refunds = api.ok(api.get(f"/orders/{oid}/refunds.json"))["refunds"]
        return [
            (a["amount"], a["amount_set"]["presentment_money"]["amount"])
            for r in refunds
            for a in r["order_adjustments"]
            if a["kind"] == "refund_discrepancy"
        ]

    today = discrepancies()
    assert len(today) == 2
    outstanding = shop.get(oid)["total_outstanding"]
    store_as_old_version_left_it(deck, oid, without_discrepancies)
    assert discrepancies() == []

    report = repair_old_orders(deck.db.writer.begin, now=datetime.now(UTC))

    assert [r[0] for r in report.repaired] == [oid]
    assert discrepancies() == today
    assert shop.get(oid)["total_outstanding"] == outstanding
