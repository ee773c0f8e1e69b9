"""Stock moves keep on_hand = available + committed; routing picks locations (ORDER-MODEL.md §3)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from orderdeck.domain.errors import InsufficientInventory, InvalidInput
from orderdeck.domain.inventory import Inventory, InventoryLevel, StockItem
from orderdeck.domain.order import Author
from orderdeck.domain.placement import DraftLine, OrderDraft, build_order, reserve_stock
from orderdeck.domain.routing import RoutedLine, route

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STAFF = Author("staff", "Test staff")
AMS, BER, HEL = 1, 2, 3
MUG, APRON = 101, 102


def make_inventory(stock: dict[tuple[int, int], int], *, policy: str = "deny") -> Inventory:
    items = {
        MUG: StockItem(MUG, "MUG-1", "Stoneware mug", policy),
        APRON: StockItem(APRON, "APRON-1", "Linen apron", policy),
    }
    return Inventory(items, {key: InventoryLevel(key[0], key[1], qty, 0, qty) for key, qty in stock.items()})


def consistent(inv: Inventory) -> bool:
    return all(lvl.on_hand == lvl.available + lvl.committed for lvl in inv.levels.values())


def counts(inv: Inventory, item: int, location: int) -> tuple[int, int, int]:
    lvl = inv.levels[(item, location)]
    return lvl.available, lvl.committed, lvl.on_hand


# ---- inventory moves ------------------------------------------------------------------------------
def test_commit_reserves_units_without_taking_them_off_hand() -> None:
    inv = make_inventory({(MUG, AMS): 10})
    inv.commit(MUG, AMS, 3)
    assert counts(inv, MUG, AMS) == (7, 3, 10)
    assert consistent(inv)


def test_release_with_restock_makes_units_available_again() -> None:
    inv = make_inventory({(MUG, AMS): 10})
    inv.commit(MUG, AMS, 3)
    inv.release(MUG, AMS, 3, restock=True)
    assert counts(inv, MUG, AMS) == (10, 0, 10)
    assert consistent(inv)


def test_release_without_restock_writes_units_off() -> None:
    inv = make_inventory({(MUG, AMS): 10})
    inv.commit(MUG, AMS, 3)
    inv.release(MUG, AMS, 3, restock=False)
    assert counts(inv, MUG, AMS) == (7, 0, 7)
    assert consistent(inv)


def test_ship_takes_committed_units_off_hand() -> None:
    inv = make_inventory({(MUG, AMS): 10})
    inv.commit(MUG, AMS, 3)
    inv.ship(MUG, AMS, 2)
    assert counts(inv, MUG, AMS) == (7, 1, 8)
    assert consistent(inv)


def test_unship_puts_units_back_on_hand_reserved_for_the_order() -> None:
    inv = make_inventory({(MUG, AMS): 10})
    inv.commit(MUG, AMS, 3)
    inv.ship(MUG, AMS, 3)
    inv.unship(MUG, AMS, 3)
    assert counts(inv, MUG, AMS) == (7, 3, 10)
    assert consistent(inv)


def test_received_return_is_available_and_on_hand() -> None:
    inv = make_inventory({(MUG, AMS): 10})
    inv.commit(MUG, AMS, 2)
    inv.ship(MUG, AMS, 2)
    inv.receive_return(MUG, AMS, 1)
    assert counts(inv, MUG, AMS) == (9, 0, 9)
    assert consistent(inv)


def test_return_to_a_location_that_never_stocked_the_item_connects_it() -> None:
    inv = make_inventory({(MUG, AMS): 10})
    inv.receive_return(MUG, BER, 1)
    assert counts(inv, MUG, BER) == (1, 0, 1)
    assert consistent(inv)


def test_moving_a_reservation_moves_committed_units_between_locations() -> None:
    inv = make_inventory({(MUG, AMS): 10, (MUG, BER): 5})
    inv.commit(MUG, AMS, 3)
    inv.move_reservation(MUG, AMS, BER, 3)
    assert counts(inv, MUG, AMS) == (10, 0, 10)
    assert counts(inv, MUG, BER) == (2, 3, 5)
    assert consistent(inv)


def test_moving_a_reservation_to_a_location_short_of_stock_shows_the_shortfall() -> None:
    # Shopify refuses a move only where the item was never stocked (ORDER-MODEL.md §3, Move);
    # a shortfall at the destination shows as negative available there.
    inv = make_inventory({(MUG, AMS): 10, (MUG, BER): 1})
    inv.commit(MUG, AMS, 3)
    inv.move_reservation(MUG, AMS, BER, 3)
    assert counts(inv, MUG, AMS) == (10, 0, 10)
    assert counts(inv, MUG, BER) == (-2, 3, 1)
    assert consistent(inv)


def test_restocking_elsewhere_moves_units_to_the_other_location() -> None:
    inv = make_inventory({(MUG, AMS): 10, (MUG, BER): 5})
    inv.commit(MUG, AMS, 3)
    inv.restock_elsewhere(MUG, AMS, BER, 3)
    assert counts(inv, MUG, AMS) == (7, 0, 7)
    assert counts(inv, MUG, BER) == (8, 0, 8)
    assert consistent(inv)


def test_every_sequence_of_moves_keeps_on_hand_equal_to_available_plus_committed() -> None:
    inv = make_inventory({(MUG, AMS): 10, (MUG, BER): 10, (APRON, AMS): 4})
    inv.commit(MUG, AMS, 4)
    inv.commit(APRON, AMS, 4)
    inv.ship(MUG, AMS, 2)
    inv.unship(MUG, AMS, 1)
    inv.move_reservation(MUG, AMS, BER, 2)
    inv.release(APRON, AMS, 2, restock=True)
    inv.release(APRON, AMS, 1, restock=False)
    inv.restock_elsewhere(APRON, AMS, BER, 1)
    inv.receive_return(MUG, HEL, 1)
    assert consistent(inv)
    assert all(lvl.committed >= 0 for lvl in inv.levels.values())


def test_deny_policy_refuses_overselling_naming_the_sku() -> None:
    inv = make_inventory({(MUG, AMS): 2})
    with pytest.raises(InsufficientInventory) as refused:
        inv.commit(MUG, AMS, 3)
    assert "MUG-1" in refused.value.message
    assert counts(inv, MUG, AMS) == (2, 0, 2)


def test_deny_policy_refuses_an_item_not_stocked_at_the_location() -> None:
    inv = make_inventory({(MUG, AMS): 2})
    with pytest.raises(InsufficientInventory) as refused:
        inv.commit(MUG, BER, 1)
    assert "MUG-1" in refused.value.message
    assert (MUG, BER) not in inv.levels


def test_continue_policy_allows_overselling() -> None:
    inv = make_inventory({(MUG, AMS): 2}, policy="continue")
    inv.commit(MUG, AMS, 5)
    assert counts(inv, MUG, AMS) == (-3, 5, 2)
    assert consistent(inv)


def test_ignoring_the_policy_allows_overselling_a_deny_item() -> None:
    inv = make_inventory({(MUG, AMS): 2})
    inv.commit(MUG, AMS, 5, obey_policy=False)
    assert counts(inv, MUG, AMS) == (-3, 5, 2)
    assert consistent(inv)


# ---- routing --------------------------------------------------------------------------------------
def lines(*spec: tuple[int | None, int]) -> list[RoutedLine]:
    return [RoutedLine(i, item, qty) for i, (item, qty) in enumerate(spec)]


def test_routing_prefers_one_location_that_covers_everything() -> None:
    inv = make_inventory({(MUG, AMS): 5, (MUG, BER): 5, (APRON, BER): 5})
    plan = route(lines((MUG, 1), (APRON, 1)), [AMS, BER], inv, obey_policy=True)
    assert plan == {0: BER, 1: BER}


def test_routing_takes_the_first_location_by_priority_when_several_cover_everything() -> None:
    inv = make_inventory({(MUG, AMS): 5, (MUG, BER): 5})
    assert route(lines((MUG, 2)), [BER, AMS], inv, obey_policy=True) == {0: BER}
    assert route(lines((MUG, 2)), [AMS, BER], inv, obey_policy=True) == {0: AMS}


def test_routing_splits_when_no_location_covers_everything() -> None:
    inv = make_inventory({(MUG, AMS): 5, (APRON, BER): 5})
    plan = route(lines((MUG, 1), (APRON, 1)), [AMS, BER], inv, obey_policy=True)
    assert plan == {0: AMS, 1: BER}


def test_routing_skips_a_location_with_too_few_units() -> None:
    inv = make_inventory({(MUG, AMS): 1, (MUG, BER): 5})
    assert route(lines((MUG, 3)), [AMS, BER], inv, obey_policy=True) == {0: BER}


def test_routing_honours_the_preferred_pos_location() -> None:
    inv = make_inventory({(MUG, AMS): 5, (MUG, BER): 5})
    assert route(lines((MUG, 1)), [AMS, BER], inv, obey_policy=True, preferred_location=BER) == {0: BER}


def test_routing_ignores_a_preferred_location_that_cannot_cover() -> None:
    inv = make_inventory({(MUG, AMS): 5, (MUG, BER): 0})
    assert route(lines((MUG, 1)), [AMS, BER], inv, obey_policy=True, preferred_location=BER) == {0: AMS}


def test_routing_refuses_when_no_location_covers_a_line_under_deny() -> None:
    inv = make_inventory({(MUG, AMS): 2, (MUG, BER): 2})
    with pytest.raises(InsufficientInventory) as refused:
        route(lines((MUG, 3)), [AMS, BER], inv, obey_policy=True)
    assert "MUG-1" in refused.value.message


def test_routing_assigns_an_oversold_line_under_continue() -> None:
    inv = make_inventory({(MUG, BER): 1}, policy="continue")
    assert route(lines((MUG, 3)), [AMS, BER], inv, obey_policy=True) == {0: BER}


def test_routing_sends_untracked_lines_with_the_tracked_ones() -> None:
    inv = make_inventory({(MUG, BER): 5})
    plan = route(lines((MUG, 1), (None, 1)), [AMS, BER], inv, obey_policy=True)
    assert plan == {0: BER, 1: BER}


def test_routing_refuses_without_any_location() -> None:
    inv = make_inventory({(MUG, AMS): 5})
    with pytest.raises(InsufficientInventory):
        route(lines((MUG, 1)), [], inv, obey_policy=True)


# ---- routing through placement ----------------------------------------------------------------------
def place(draft_lines: list[DraftLine], inv: Inventory, locations: list[int], **kw):  # type: ignore[no-untyped-def]
    draft = OrderDraft(lines=draft_lines, currency="EUR", presentment_currency="EUR", **kw)
    return build_order(
        draft,
        order_id=9,
        number=1001,
        name="#1001",
        token="t",
        now=NOW,
        locations=locations,
        inventory=inv,
        author=STAFF,
    )


def mug(qty: int) -> DraftLine:
    return DraftLine(title="Stoneware mug", price=D("10.00"), quantity=qty, inventory_item_id=MUG, sku="MUG-1")


def apron(qty: int) -> DraftLine:
    return DraftLine(title="Linen apron", price=D("30.00"), quantity=qty, inventory_item_id=APRON, sku="APRON-1")


def test_placing_a_split_order_makes_one_fulfillment_order_per_location_and_reserves_there() -> None:
    inv = make_inventory({(MUG, AMS): 5, (APRON, BER): 5})
    order = place([mug(2), apron(1)], inv, [AMS, BER])
    assert sorted(fo.assigned_location_id for fo in order.fulfillment_orders) == [AMS, BER]
    assert counts(inv, MUG, AMS) == (3, 2, 5)
    assert counts(inv, APRON, BER) == (4, 1, 5)
    assert consistent(inv)


def test_placing_an_order_one_location_covers_makes_one_fulfillment_order() -> None:
    inv = make_inventory({(MUG, AMS): 5, (APRON, AMS): 5, (APRON, BER): 5})
    order = place([mug(2), apron(1)], inv, [AMS, BER])
    assert [fo.assigned_location_id for fo in order.fulfillment_orders] == [AMS]


def test_placing_a_pos_order_reserves_at_the_store_it_was_sold_in() -> None:
    inv = make_inventory({(MUG, AMS): 5, (MUG, BER): 5})
    order = place([mug(1)], inv, [AMS, BER], location_id=BER, source_name="pos")
    assert [fo.assigned_location_id for fo in order.fulfillment_orders] == [BER]
    assert counts(inv, MUG, BER) == (4, 1, 5)


def test_placing_an_order_beyond_stock_under_deny_is_refused_and_reserves_nothing() -> None:
    inv = make_inventory({(MUG, AMS): 1, (APRON, AMS): 5})
    with pytest.raises(InsufficientInventory) as refused:
        place([apron(1), mug(2)], inv, [AMS])
    assert "MUG-1" in refused.value.message
    assert counts(inv, APRON, AMS) == (5, 0, 5)
    assert counts(inv, MUG, AMS) == (1, 0, 1)


def test_placing_an_order_beyond_stock_under_continue_oversells() -> None:
    inv = make_inventory({(MUG, AMS): 1}, policy="continue")
    place([mug(3)], inv, [AMS])
    assert counts(inv, MUG, AMS) == (-2, 3, 1)


def test_placing_with_inventory_behaviour_bypass_reserves_nothing() -> None:
    inv = make_inventory({(MUG, AMS): 1})
    order = place([mug(3)], inv, [AMS], inventory_behaviour="bypass")
    assert counts(inv, MUG, AMS) == (1, 0, 1)
    assert order.line_items[0].inventory_item_id is None


def test_routing_counts_repeated_lines_of_one_item_together() -> None:
    # Two lines of the same mug (e.g. different engraving properties): 3 + 3 units.
    # Amsterdam has 5 (covers each line alone, not both); Berlin has 10 and covers the order.
    inv = make_inventory({(MUG, AMS): 5, (MUG, BER): 10})
    order = place([mug(3), mug(3)], inv, [AMS, BER])
    assert {fo.assigned_location_id for fo in order.fulfillment_orders} == {BER}
    assert counts(inv, MUG, AMS) == (5, 0, 5)
    assert counts(inv, MUG, BER) == (4, 6, 10)


# ---- reserving first, building after the number (services/orders.py places orders this way) -------------
@pytest.mark.parametrize(
    ("stock", "draft_lines", "behaviour"),
    [
        ({(MUG, AMS): 5, (APRON, BER): 5}, lambda: [mug(2), apron(1)], "decrement_obeying_policy"),
        ({(MUG, AMS): 1, (MUG, BER): 4}, lambda: [mug(1), mug(2)], "decrement_obeying_policy"),
        ({(MUG, BER): 1}, lambda: [mug(3)], "decrement_ignoring_policy"),
        ({(MUG, AMS): 0}, lambda: [mug(2), apron(1)], "bypass"),
    ],
)
def test_reserving_stock_then_building_on_the_plan_is_building_in_one_go(stock, draft_lines, behaviour) -> None:  # type: ignore[no-untyped-def]
    in_one_go, reserved_first = make_inventory(stock), make_inventory(stock)
    whole = place(draft_lines(), in_one_go, [AMS, BER, HEL], inventory_behaviour=behaviour)
    draft = OrderDraft(lines=draft_lines(), currency="EUR", presentment_currency="EUR", inventory_behaviour=behaviour)
    plan = reserve_stock(draft, locations=[AMS, BER, HEL], inventory=reserved_first)
    built = build_order(
        draft,
        order_id=9,
        number=1001,
        name="#1001",
        token="t",
        now=NOW,
        locations=[AMS, BER, HEL],
        inventory=reserved_first,
        author=STAFF,
        plan=plan,
    )
    assert built == whole
    assert reserved_first.levels == in_one_go.levels


def test_reserving_refuses_a_bad_draft_before_looking_at_stock() -> None:
    draft = OrderDraft(lines=[mug(0)], currency="EUR", presentment_currency="EUR")
    with pytest.raises(InvalidInput, match="quantity must be greater than 0"):
        reserve_stock(draft, locations=[AMS], inventory=make_inventory({}))


def test_only_items_that_may_not_be_oversold_are_guarded() -> None:
    assert make_inventory({}).may_not_oversell(obey_policy=True) == {MUG, APRON}
    assert make_inventory({}, policy="continue").may_not_oversell(obey_policy=True) == set()
    assert make_inventory({}).may_not_oversell(obey_policy=False) == set()
