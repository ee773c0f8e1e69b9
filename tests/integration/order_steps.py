"""Steps the order-model tests share (test_order_model_fixes.py, test_repair_old_orders.py):
stock levels, the sale to refund against, the open fulfillment order and shipping it, the
order list and count by filter, and running one migration's upgrade on the test database."""

from __future__ import annotations

import importlib
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations

from orderdeck.services.context import Orderdeck
from tests.conftest import Api, Shop


def stock(shop: Shop, variant: int, location: int) -> tuple[int, int, int]:
    """(available, committed, on_hand) of the variant at the location."""
    level = shop.level(variant, location)
    return level["available"], level["committed"], level["on_hand"]


def sale_id(api: Api, order_id: int) -> int:
    """The order's successful sale or capture: the parent a refund transaction names."""
    txns = api.ok(api.get(f"/orders/{order_id}/transactions.json"))["transactions"]
    return int(next(t["id"] for t in txns if t["kind"] in ("sale", "capture") and t["status"] == "success"))


def open_fo(shop: Shop, order_id: int) -> dict[str, Any]:
    """The order's one open (or in progress) fulfillment order."""
    found = [fo for fo in shop.fulfillment_orders(order_id) if fo["status"] in ("open", "in_progress")]
    assert len(found) == 1, found
    return found[0]


def ship(api: Api, fo: dict[str, Any], quantity: int | None = None) -> Any:
    """Fulfil the fulfillment order: all of it, or `quantity` units of its first line."""
    group: dict[str, Any] = {"fulfillment_order_id": fo["id"]}
    if quantity is not None:
        group["fulfillment_order_line_items"] = [{"id": fo["line_items"][0]["id"], "quantity": quantity}]
    return api.post("/fulfillments.json", {"fulfillment": {"line_items_by_fulfillment_order": [group]}})


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in {"status": "any", **params}.items())


def ids_listed(api: Api, **params: str) -> set[int]:
    """The ids GET orders.json lists with these filters (any status unless one is given)."""
    return {o["id"] for o in api.ok(api.get(f"/orders.json?{_query(params)}"))["orders"]}


def counted(api: Api, **params: str) -> int:
    """What GET orders/count.json answers with these filters (any status unless one is given)."""
    return int(api.ok(api.get(f"/orders/count.json?{_query(params)}"))["count"])


def run_migration(deck: Orderdeck, revision: str) -> None:
    """Run one migration's upgrade (e.g. "0017_old_orders_by_new_rules") in one transaction."""
    migration = importlib.import_module(f"orderdeck.store.migrations.versions.{revision}")
    with deck.unit_of_work() as uow:
        with Operations.context(MigrationContext.configure(uow.conn)):
            migration.upgrade()
        uow.commit()


def refund_unrestocked(
    api: Api, order: dict[str, Any], units: int = 1, amount: str | None = None, **body: Any
) -> dict[str, Any]:
    """Refund `units` of the order's first line without restock (and with `amount`, that much
    money back against its sale), with any other refund fields in `body`; the refund made."""
    line = {"line_item_id": order["line_items"][0]["id"], "quantity": units, "restock_type": "no_restock"}
    body["refund_line_items"] = [line]
    if amount is not None:
        body["transactions"] = [{"parent_id": sale_id(api, order["id"]), "amount": amount, "kind": "refund"}]
    made: dict[str, Any] = api.ok(api.post(f"/orders/{order['id']}/refunds.json", {"refund": body}))["refund"]
    return made
