"""The return rules (domain/returns.py) and the balance (statuses.balance) on orders built in
memory: what can be returned, the order's return status over several returns, receiving units
all or nothing, and who owes whom while a return is open."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from orderdeck.domain import returns as rules
from orderdeck.domain.errors import OrderError, RuleViolation
from orderdeck.domain.inventory import Inventory
from orderdeck.domain.order import Order, Return
from orderdeck.domain.statuses import balance, return_status
from tests.unit.test_domain_commands import AMS, APRON, BER, MUG, NOW, STAFF, fulfil_all, pay, place, snapshot


def shipped(quantity: int = 3, price: str = "10.00") -> tuple[Order, Inventory, int]:
    """A paid order of `quantity` mugs, shipped; returns it, its stock and its fulfillment line."""
    order, inv = place([(MUG, quantity, price)])
    pay(order, "sale", str(D(price) * quantity))
    fulfil_all(order, inv)
    return order, inv, order.fulfillments[0].line_items[0].id


def start(order: Order, inv: Inventory, fl: int, quantity: int, status: str = "open", fee: D | None = None) -> Return:
    request = rules.ReturnRequest([rules.ReturnLineRequest(fl, quantity, "unwanted", restocking_fee_percentage=fee)])
    return rules.start_return(order, request, status=status, author=STAFF, now=NOW, inventory=inv, locations=[AMS])


def receive(order: Order, inv: Inventory, *requests: rules.DispositionRequest) -> None:
    rules.dispose(order, list(requests), inventory=inv, active_locations={AMS, BER}, author=STAFF, now=NOW)


def line_of(ret: Return) -> int:
    return ret.reverse_fulfillment_orders[0].line_items[0].id


# ---- what can be returned --------------------------------------------------------------------------
def test_units_in_a_live_return_cannot_be_returned_again_until_it_is_declined_or_cancelled() -> None:
    order, inv, fl = shipped(3)
    asked = start(order, inv, fl, 2, status="requested")
    assert rules.returnable_quantities(order) == {fl: 1}
    with pytest.raises(RuleViolation):
        start(order, inv, fl, 2)
    rules.decline(order, asked, reason="final_sale", note=None, author=STAFF, now=NOW, notify=False)
    assert rules.returnable_quantities(order) == {fl: 3}
    opened = start(order, inv, fl, 3)
    assert rules.returnable_quantities(order) == {fl: 0}
    rules.cancel(order, opened, author=STAFF, now=NOW, inventory=inv)
    assert rules.returnable_quantities(order) == {fl: 3}


def test_a_refused_return_changes_nothing() -> None:
    order, inv, fl = shipped(2)
    before = snapshot(order, inv)
    for quantity, reason in ((3, "unwanted"), (0, "unwanted"), (1, "worn_once")):
        request = rules.ReturnRequest([rules.ReturnLineRequest(fl, quantity, reason)])
        with pytest.raises(OrderError):
            rules.start_return(order, request, status="open", author=STAFF, now=NOW, inventory=inv, locations=[AMS])
        assert snapshot(order, inv) == before


# ---- receiving -------------------------------------------------------------------------------------
def test_receiving_is_all_or_nothing_and_restocks_where_staff_say() -> None:
    order, inv, fl = shipped(3)
    ret = start(order, inv, fl, 3)
    line = line_of(ret)
    before = snapshot(order, inv)
    with pytest.raises(RuleViolation):  # the second asks for more than is still to come
        receive(
            order,
            inv,
            rules.DispositionRequest(line, 2, "restocked", BER),
            rules.DispositionRequest(line, 2, "not_restocked"),
        )
    assert snapshot(order, inv) == before
    receive(order, inv, rules.DispositionRequest(line, 2, "restocked", BER))
    level = inv.levels[(MUG, BER)]
    assert (level.available, level.committed, level.on_hand) == (22, 0, 22)
    assert return_status(order) == "in_progress"
    receive(order, inv, rules.DispositionRequest(line, 1, "not_restocked"))
    assert return_status(order) == "inspection_complete"
    assert inv.levels[(MUG, AMS)].on_hand == 17  # shipped from Amsterdam, not put back there
    with pytest.raises(RuleViolation):
        receive(order, inv, rules.DispositionRequest(line, 1, "restocked", AMS))


def test_restocking_where_the_item_was_never_stocked_starts_a_level_there() -> None:
    order, inv = place([(APRON, 1, "20.00")])
    pay(order, "sale", "20.00")
    fulfil_all(order, inv)
    ret = start(order, inv, order.fulfillments[0].line_items[0].id, 1)
    receive(order, inv, rules.DispositionRequest(line_of(ret), 1, "restocked", BER))
    level = inv.levels[(APRON, BER)]
    assert (level.available, level.on_hand) == (1, 1)


def test_a_return_with_units_received_cannot_be_cancelled() -> None:
    order, inv, fl = shipped(2)
    ret = start(order, inv, fl, 2)
    receive(order, inv, rules.DispositionRequest(line_of(ret), 1, "missing"))
    before = snapshot(order, inv)
    with pytest.raises(RuleViolation):
        rules.cancel(order, ret, author=STAFF, now=NOW, inventory=inv)
    assert snapshot(order, inv) == before


def test_lines_cannot_be_removed_once_received_nor_leave_the_return_empty() -> None:
    order, inv, fl = shipped(3)
    ret = start(order, inv, fl, 2)
    rli = ret.return_line_items[0].id
    before = snapshot(order, inv)
    with pytest.raises(RuleViolation):  # nothing would be left to return: cancel it instead
        rules.remove_lines(order, ret, return_lines=[(rli, 2)], exchange_lines=[], author=STAFF, now=NOW, inventory=inv)
    assert snapshot(order, inv) == before
    receive(order, inv, rules.DispositionRequest(line_of(ret), 1, "not_restocked"))
    before = snapshot(order, inv)
    with pytest.raises(OrderError):  # one of the two is back already
        rules.remove_lines(order, ret, return_lines=[(rli, 2)], exchange_lines=[], author=STAFF, now=NOW, inventory=inv)
    assert snapshot(order, inv) == before
    rules.remove_lines(order, ret, return_lines=[(rli, 1)], exchange_lines=[], author=STAFF, now=NOW, inventory=inv)
    assert ret.total_quantity == 1
    assert ret.reverse_fulfillment_orders[0].line_items[0].total_quantity == 1
    assert rules.returnable_quantities(order) == {fl: 2}
    assert return_status(order) == "inspection_complete"  # the unit left on the return is back


# ---- the order's return status ---------------------------------------------------------------------
def test_the_order_shows_its_highest_priority_return() -> None:
    order, inv, fl = shipped(5)
    assert return_status(order) == "no_return"
    first = start(order, inv, fl, 1)
    rules.close(order, first, author=STAFF, now=NOW)
    assert return_status(order) == "returned"
    second = start(order, inv, fl, 1, status="requested")
    rules.decline(order, second, reason="other", note=None, author=STAFF, now=NOW, notify=False)
    assert return_status(order) == "return_failed"  # a failed return outranks a returned one
    third = start(order, inv, fl, 1)
    receive(order, inv, rules.DispositionRequest(line_of(third), 1, "restocked", AMS))
    assert return_status(order) == "inspection_complete"
    fourth = start(order, inv, fl, 1)
    assert return_status(order) == "in_progress"
    start(order, inv, fl, 1, status="requested")
    assert return_status(order) == "return_requested"
    assert [r.status for r in order.returns] == ["closed", "declined", "open", "open", "requested"]
    assert fourth.status == "open"


def test_a_return_whose_every_unit_is_missing_failed_and_only_cancelled_returns_are_none() -> None:
    order, inv, fl = shipped(2)
    lost = start(order, inv, fl, 1)
    receive(order, inv, rules.DispositionRequest(line_of(lost), 1, "missing"))
    assert return_status(order) == "return_failed"
    other, inv2, fl2 = shipped(2)
    gone = start(other, inv2, fl2, 1)
    rules.cancel(other, gone, author=STAFF, now=NOW, inventory=inv2)
    assert return_status(other) == "no_return"


# ---- who owes whom ---------------------------------------------------------------------------------
def test_an_approved_return_owes_its_worth_less_the_fees_and_a_request_owes_nothing() -> None:
    order, inv, fl = shipped(3)
    assert balance(order) == 0
    asked = start(order, inv, fl, 2, status="requested", fee=D(10))
    assert balance(order) == 0  # not approved: nothing is owed yet
    rules.approve(order, asked, [], author=STAFF, now=NOW, inventory=inv, locations=[AMS], notify=False)
    assert balance(order) == D("-18.00")  # 20.00 back less a 10 % restocking fee
    rules.close(order, asked, author=STAFF, now=NOW)
    assert balance(order) == D("-18.00")  # closing by hand does not settle the money
    rules.reopen(order, asked, author=STAFF, now=NOW)
    assert asked.status == "open"
    assert asked.reverse_fulfillment_orders[0].status == "open"


def test_an_exchange_for_a_dearer_item_puts_the_difference_on_the_customer_and_commits_its_stock() -> None:
    order, inv, fl = shipped(1)
    apron = rules.ExchangeVariant(APRON, None, "Linen apron", None, D("25.00"), inventory_item_id=APRON)
    request = rules.ReturnRequest(
        [rules.ReturnLineRequest(fl, 1, "size_too_small")], exchanges=[rules.ExchangeLineRequest(apron, 1)]
    )
    ret = rules.start_return(order, request, status="open", author=STAFF, now=NOW, inventory=inv, locations=[AMS])
    assert balance(order) == D("15.00")
    level = inv.levels[(APRON, AMS)]
    assert (level.available, level.committed, level.on_hand) == (19, 1, 20)
    [held] = rules.exchange_fulfillment_orders(order, ret)
    assert held.status == "on_hold"
    rules.cancel(order, ret, author=STAFF, now=NOW, inventory=inv)
    assert (level.available, level.committed, level.on_hand) == (20, 0, 20)
    assert balance(order) == 0
    assert not rules.exchange_fulfillment_orders(order, ret)


def test_an_exchange_no_location_can_ship_is_refused_before_anything_changes() -> None:
    order, inv, fl = shipped(1)
    apron = rules.ExchangeVariant(APRON, None, "Linen apron", None, D("25.00"), inventory_item_id=APRON)
    request = rules.ReturnRequest(
        [rules.ReturnLineRequest(fl, 1, "size_too_small")], exchanges=[rules.ExchangeLineRequest(apron, 500)]
    )
    before = snapshot(order, inv)
    with pytest.raises(OrderError) as refused:
        rules.start_return(order, request, status="open", author=STAFF, now=NOW, inventory=inv, locations=[AMS])
    assert refused.value.field == "exchange_line_items"
    assert snapshot(order, inv) == before
    # Asked for by the customer, then approved when stock still cannot cover it: refused whole.
    asked = rules.start_return(
        order, request, status="requested", author=STAFF, now=NOW, inventory=inv, locations=[AMS]
    )
    order.events.clear()
    before = snapshot(order, inv)
    with pytest.raises(OrderError):
        rules.approve(
            order, asked, request.exchanges, author=STAFF, now=NOW, inventory=inv, locations=[AMS], notify=False
        )
    assert snapshot(order, inv) == before
