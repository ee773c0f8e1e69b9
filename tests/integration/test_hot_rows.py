"""Placing orders with the hot rows held briefly (issue 16 step 1) and the per-process catalogue
(step 3), on SQLite and PostgreSQL.

Placement routes and reserves on a plain read of the stock levels and writes them last as
guarded moves relative to the rows; when a guard finds the units gone it does the placement
again on a locked read (services/orders.py `_reserve`). The catalogue, the active locations and
the fulfillment services are kept per process and dropped when the shop row's version moves
(store/process_cache.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from orderdeck.api.app import create_app
from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from orderdeck.store.inventory import InventoryRepository
from orderdeck.store.tables import inventory_levels
from tests.conftest import LOCAL, Api, make_token
from tests.integration.test_concurrency import Server, at_once, level

OUT_OF_STOCK = "Not enough stock of"


def second_deck(deck: Any) -> Any:
    """Another Orderdeck on the same database: what a second server process is."""
    return build(
        Settings(database_url=deck.settings.database_url, public_url="http://shop.test", allow_private_addresses=LOCAL)
    )


@pytest.fixture
def two_servers(deck: Any) -> Any:
    other = second_deck(deck)
    servers = [Server(deck), Server(other)]
    for s in servers:
        s.start()
    yield servers
    for s in servers:
        s.stop()
    other.db.dispose()


def three_hot_variants(server: Server, stock: int) -> tuple[int, list[int]]:
    with server.client() as c:
        location = server.ok(c.post("/locations.json", json={"location": {"name": "Amsterdam"}}))["location"]["id"]
        found = []
        for sku in ("HOT-1", "HOT-2", "HOT-3"):
            variant = {
                "sku": sku,
                "price": "5.00",
                "inventory_policy": "deny",
                "inventory_quantities": {str(location): stock},
            }
            product = server.ok(c.post("/products.json", json={"product": {"title": sku, "variants": [variant]}}))
            found.append(product["product"]["variants"][0]["id"])
    return location, found


def three_lines(variants: list[int]) -> dict[str, Any]:
    return {"order": {"email": "anna@example.nl", "line_items": [{"variant_id": v, "quantity": 1} for v in variants]}}


def test_the_last_units_of_three_hot_variants_go_to_exactly_as_many_orders(two_servers):
    """30 placements through two server processes at once for 6 units of each of 3 variants:
    6 are placed, 24 are refused for want of stock, nothing is oversold, names stay gap-free."""
    location, variants = three_hot_variants(two_servers[0], stock=6)

    responses = at_once(two_servers, 30, lambda c, _: c.post("/orders.json", json=three_lines(variants)))

    assert Counter(r.status_code for r in responses) == {201: 6, 422: 24}, [r.text for r in responses]
    for refused in (r for r in responses if r.status_code == 422):
        assert OUT_OF_STOCK in refused.text, refused.text
    numbers = sorted(r.json()["order"]["order_number"] for r in responses if r.status_code == 201)
    assert numbers == list(range(1001, 1007))
    for variant in variants:
        assert level(two_servers[0], variant, location) == {"available": 0, "committed": 6, "on_hand": 6}


def test_stock_adjustments_racing_placements_are_all_kept(two_servers):
    """Relative adjustments (adjust.json) and placements of the same level at once: every
    change is kept, so the level adds up exactly."""
    location, variants = three_hot_variants(two_servers[0], stock=100)
    adjust = {"location_id": location, "inventory_item_id": variants[0], "available_adjustment": 2}

    def call(c: Any, index: int) -> Any:
        if index % 2:
            return c.post("/inventory_levels/adjust.json", json=adjust)
        return c.post("/orders.json", json=three_lines(variants))

    responses = at_once(two_servers, 24, call)

    assert {r.status_code for r in responses} <= {200, 201}, [r.text for r in responses]
    assert level(two_servers[0], variants[0], location) == {"available": 100 + 24 - 12, "committed": 12, "on_hand": 124}
    assert level(two_servers[0], variants[1], location) == {"available": 88, "committed": 12, "on_hand": 100}


def test_stock_counts_racing_placements_keep_the_levels_adding_up(two_servers):
    """A stock count (set.json, an absolute value) racing placements: the count is the last
    word on available units; the units the placements committed stay committed, on hand is
    available + committed, and no order is placed on units the count took away."""
    location, variants = three_hot_variants(two_servers[0], stock=10)
    count = {"location_id": location, "inventory_item_id": variants[0], "available": 3}

    def call(c: Any, index: int) -> Any:
        if index % 4 == 3:
            return c.post("/inventory_levels/set.json", json=count)
        return c.post("/orders.json", json=three_lines(variants))

    responses = at_once(two_servers, 24, call)

    placed = sum(r.status_code == 201 for r in responses)
    assert Counter(r.status_code for r in responses) == {200: 6, 201: placed, 422: 18 - placed}
    first = level(two_servers[0], variants[0], location)
    assert first["committed"] == placed
    assert first["on_hand"] == first["available"] + first["committed"]
    assert 0 <= first["available"] <= 3
    assert level(two_servers[0], variants[1], location) == {
        "available": 10 - placed,
        "committed": placed,
        "on_hand": 10,
    }


# ---- losing the race, forced ------------------------------------------------------------------
@pytest.fixture
def taken_after_the_read(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stock another command takes between the placement's plain read and its write: after the
    unlocked read, the level of `what["level"]` is set to `what["available"]` (in the same
    transaction, before the placement's savepoint, as if another command had committed it)."""
    what: dict[str, Any] = {"level": None, "available": 0, "locked_reads": 0}
    original = InventoryRepository.load

    def load(self: InventoryRepository, item_ids: set[int], *, lock: bool = True, items: Any = None) -> Any:
        found = original(self, item_ids, lock=lock, items=items)
        if lock:
            what["locked_reads"] += 1
        elif what["level"] is not None:
            item, location = what["level"]
            self.conn.execute(
                update(inventory_levels)
                .where(inventory_levels.c.inventory_item_id == item, inventory_levels.c.location_id == location)
                .values(available=what["available"], on_hand=inventory_levels.c.committed + what["available"])
            )
        return found

    monkeypatch.setattr(InventoryRepository, "load", load)
    return what


def test_a_placement_that_loses_the_race_is_refused_as_a_locked_one_would_be(api, shop, taken_after_the_read):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", stock={amsterdam: 2}, title="Espresso mug")
    taken_after_the_read.update(level=(mug, amsterdam), available=1)

    refused = api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 2}]}})

    assert refused.status_code == 422, refused.text
    assert "Not enough stock of Espresso mug (SKU MUG-1): 2 ordered, 1 available" in refused.text
    assert taken_after_the_read["locked_reads"] == 1
    taken_after_the_read["level"] = None
    placed = api.ok(api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 1}]}}))
    assert placed["order"]["name"] == "#1001"  # the refused placement took no number


def test_a_placement_that_loses_the_race_goes_where_a_locked_one_would(api, shop, taken_after_the_read):
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG-1", stock={amsterdam: 3, utrecht: 5})
    taken_after_the_read.update(level=(mug, amsterdam), available=0)

    placed = api.ok(api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 2}]}}))

    assert taken_after_the_read["locked_reads"] == 1
    fos = api.ok(api.get(f"/orders/{placed['order']['id']}/fulfillment_orders.json"))["fulfillment_orders"]
    assert [fo["assigned_location_id"] for fo in fos] == [utrecht]
    levels = {
        lv["location_id"]: (lv["available"], lv["committed"], lv["on_hand"])
        for lv in api.ok(api.get(f"/inventory_levels.json?inventory_item_ids={mug}"))["inventory_levels"]
    }
    assert levels == {amsterdam: (0, 0, 0), utrecht: (3, 2, 5)}


def test_moves_written_before_a_guard_lost_are_undone(api, shop, taken_after_the_read):
    """The mug's level is written, the plate's guard finds its units gone: the placement goes
    to the next location, and the first location keeps none of the mug's move."""
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG-1", stock={amsterdam: 3, utrecht: 3})
    plate = shop.product("PLATE-1", stock={amsterdam: 2, utrecht: 2})
    taken_after_the_read.update(level=(plate, amsterdam), available=1)
    lines = [{"variant_id": mug, "quantity": 1}, {"variant_id": plate, "quantity": 2}]

    placed = api.ok(api.post("/orders.json", {"order": {"line_items": lines}}))

    assert taken_after_the_read["locked_reads"] == 1
    fos = api.ok(api.get(f"/orders/{placed['order']['id']}/fulfillment_orders.json"))["fulfillment_orders"]
    assert [fo["assigned_location_id"] for fo in fos] == [utrecht]
    levels = {
        (lv["inventory_item_id"], lv["location_id"]): (lv["available"], lv["committed"], lv["on_hand"])
        for lv in api.ok(api.get(f"/inventory_levels.json?inventory_item_ids={mug},{plate}"))["inventory_levels"]
    }
    assert levels == {
        (mug, amsterdam): (3, 0, 3),
        (mug, utrecht): (2, 1, 3),
        (plate, amsterdam): (1, 0, 1),
        (plate, utrecht): (0, 2, 2),
    }


def test_a_placement_that_wins_never_reads_under_lock(api, shop, taken_after_the_read):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", stock={amsterdam: 3})

    api.ok(api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 3}]}}))
    refused = api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 1}]}})

    # The winner wrote on its plain read; the refusal was checked again under lock.
    assert refused.status_code == 422 and OUT_OF_STOCK in refused.text
    assert taken_after_the_read["locked_reads"] == 1


def test_items_that_may_be_oversold_are_not_guarded(api, shop):
    amsterdam = shop.location("Amsterdam")
    preorder = shop.product("PRE-1", stock={amsterdam: 1}, policy="continue")

    api.ok(api.post("/orders.json", {"order": {"line_items": [{"variant_id": preorder, "quantity": 3}]}}))

    found = api.ok(api.get(f"/inventory_levels.json?inventory_item_ids={preorder}"))["inventory_levels"][0]
    assert (found["available"], found["committed"], found["on_hand"]) == (-2, 3, 1)


# ---- the catalogue kept per process ------------------------------------------------------------
def test_a_catalogue_change_made_by_another_process_is_seen_by_the_next_order(deck, api, shop):
    """Two Database objects on one database (two server processes): what one changes in the
    catalogue or the locations, the other's next placement sees, though it kept them."""
    amsterdam = shop.location("Amsterdam")
    shop.location("Utrecht")  # the last active location cannot be deactivated
    mug = shop.product("MUG-1", price="10.00", stock={amsterdam: 10})
    plate = shop.product("PLATE-1", price="4.00", stock={amsterdam: 10})
    other = second_deck(deck)
    try:
        with TestClient(create_app(other), raise_server_exceptions=False) as client:
            elsewhere = Api(client, make_token(other))

            def place(variant: int, **fields: Any) -> Any:
                body = {"order": {"line_items": [{"variant_id": variant, "quantity": 1}], **fields}}
                return elsewhere.post("/orders.json", body)

            first = elsewhere.ok(place(mug))["order"]
            assert first["line_items"][0]["price"] == "10.00"

            api.ok(api.put(f"/variants/{mug}.json", {"variant": {"id": mug, "price": "12.50"}}))
            assert elsewhere.ok(place(mug))["order"]["line_items"][0]["price"] == "12.50"

            api.ok(api.put(f"/locations/{amsterdam}.json", {"location": {"active": False}}))
            refused = place(mug, location_id=amsterdam)
            assert refused.status_code == 422 and "not active" in refused.text, refused.text

            api.ok(api.put(f"/locations/{amsterdam}.json", {"location": {"active": True}}))
            assert elsewhere.ok(place(plate, location_id=amsterdam))["order"]["line_items"][0]["price"] == "4.00"
    finally:
        other.db.dispose()


def test_a_deleted_variant_is_not_ordered_from_another_process_s_copy(deck, api, shop):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", stock={amsterdam: 10})
    other = second_deck(deck)
    try:
        with TestClient(create_app(other), raise_server_exceptions=False) as client:
            elsewhere = Api(client, make_token(other))
            body = {"order": {"line_items": [{"variant_id": mug, "quantity": 1}]}}
            order = elsewhere.ok(elsewhere.post("/orders.json", body))["order"]
            api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"restock": True}))
            product = api.ok(api.get(f"/variants/{mug}.json"))["variant"]["product_id"]
            api.ok(api.delete(f"/products/{product}.json"))

            refused = elsewhere.post("/orders.json", body)

            assert refused.status_code == 422 and f"variant {mug} does not exist" in refused.text, refused.text
    finally:
        other.db.dispose()
