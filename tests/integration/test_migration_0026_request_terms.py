"""Migration 0026 gives orders saved before this issue's search terms the `request` terms the
stuck-order sweep finds their requests by: in the pass that fills the shipments table, every
order whose fulfillment orders were ever requested from a service gets its search terms
rewritten from its document. Its downgrade takes those new kinds away again.

Runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import delete, select

from orderdeck.outbox import scheduler
from orderdeck.services.context import Orderdeck
from orderdeck.store.migrate import alembic_config
from orderdeck.store.tables import order_search_terms
from tests.conftest import Api, Clock, Shop
from tests.integration.service_steps import Service, answer, create_service, request_fulfillment, stocked_order


def terms(deck: Orderdeck, order: dict[str, Any]) -> set[tuple[str, str]]:
    t = order_search_terms.c
    with deck.unit_of_work(read_only=True) as uow:
        return {(r.kind, r.term) for r in uow.conn.execute(select(t.kind, t.term).where(t.order_id == order["id"]))}


def test_migration_0026_writes_the_request_terms_old_orders_lack(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock
) -> None:
    shop.settings(request_accept_hours=4, request_ship_days=0, request_acknowledge_hours=0)
    jupiter = create_service(api, "Jupiter Fulfillment", Service().url)
    submitted = stocked_order(shop, jupiter["location_id"], "MUG-1")
    request_fulfillment(api, shop, submitted)
    accepted = stocked_order(shop, jupiter["location_id"], "MUG-2")
    answer(api, request_fulfillment(api, shop, accepted), "fulfillment_request/accept")
    plain = stocked_order(shop, jupiter["location_id"], "MUG-3")  # never requested: left alone
    expected = {o["id"]: terms(deck, o) for o in (submitted, accepted, plain)}
    assert ("request", "submitted") in expected[submitted["id"]]
    assert ("request", "accepted") in expected[accepted["id"]]

    # As stored before this issue: the orders lack the request terms.
    with deck.unit_of_work() as uow:
        uow.conn.execute(delete(order_search_terms).where(order_search_terms.c.kind == "request"))
        uow.commit()

    with deck.db.writer.connect() as conn, conn.begin():
        config = alembic_config(deck.db.url)
        config.attributes["connection"] = conn
        command.downgrade(config, "0025")
        kinds = set(conn.execute(select(order_search_terms.c.kind).distinct()).scalars())
        assert not kinds & {"request", "stuck"}
        command.upgrade(config, "head")

    assert {o["id"]: terms(deck, o) for o in (submitted, accepted, plain)} == expected

    # The stuck sweep now finds the old request that was never accepted.
    clock.advance(hours=5)
    scheduler.run_now(deck, "stuck-orders", "test")
    [flag] = shop.get(submitted["id"])["stuck"]
    assert flag["reason"] == "request_not_accepted"
    assert shop.get(accepted["id"])["stuck"] == []
