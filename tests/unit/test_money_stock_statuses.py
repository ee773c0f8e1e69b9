"""Issue 12, "Money, stock and statuses", at the domain level: what refunds do to fulfillable
units and stock, refund discrepancies, unarchiving, cancelled orders' payment status, partial
addresses and the currency of amounts (ORDER-MODEL.md §1 to §4, SHOPIFY-REST.md §3 to §6)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from orderdeck.domain import cancellation, lifecycle, payments
from orderdeck.domain import fulfillment as shipping
from orderdeck.domain.errors import InvalidInput, RuleViolation
from orderdeck.domain.order import Address, Order
from orderdeck.domain.statuses import (
    display_fulfillment_status,
    financial_status,
    fulfillment_status,
    qualifies_for_auto_archive,
    total_outstanding,
)
from tests.unit.test_statuses import AMS, BER, MUG, NOW, STAFF, fulfil, place, refund, txn


def level(inv, item: int = MUG, location: int = AMS) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    lv = inv.levels[(item, location)]
    return lv.available, lv.committed, lv.on_hand


def line_id(order: Order) -> int:
    return order.line_items[0].id


# ---- units refunded without restock ------------------------------------------------------------
@pytest.mark.parametrize(
    ("shipped", "refunded", "still_to_ship"),
    [
        (0, 1, 2),  # 3 ordered: the refunded unit never ships
        (1, 1, 2),  # the refund counts against the shipped unit first
        (2, 1, 1),
        (1, 2, 1),
        (0, 3, 0),
        (3, 1, 0),
    ],
)
def test_fulfillable_is_quantity_less_the_larger_of_refunded_and_fulfilled(
    shipped: int, refunded: int, still_to_ship: int
) -> None:
    order, inv = place(((MUG, 3, "10.00"),))
    txn(order, "sale", "30.00")
    if shipped:
        fulfil(order, inv, {line_id(order): shipped})
    refund(order, inv, lines=[(line_id(order), refunded)], money=f"{10 * refunded}.00")
    assert order.fulfillable_quantity(line_id(order)) == still_to_ship
    assert order.units_to_ship(order.line_items[0]) == still_to_ship
    available, committed, on_hand = level(inv)
    assert committed == still_to_ship  # nothing stays reserved for units that will not ship
    assert available == 17  # written off, not back to available
    assert on_hand == available + committed


def test_a_no_restock_refund_lets_the_kept_units_fulfil_and_archive_the_order() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    refund(order, inv, lines=[(line_id(order), 1)], money="10.00")
    fulfil(order, inv)
    assert fulfillment_status(order) == "fulfilled"
    assert display_fulfillment_status(order) == "fulfilled"
    assert qualifies_for_auto_archive(order)
    assert not lifecycle.is_stuck(order, now=NOW + timedelta(days=30), after=timedelta(days=3))
    assert level(inv) == (18, 0, 18)


def test_a_held_fulfillment_order_emptied_by_a_refund_closes_without_its_hold() -> None:
    order, inv = place(((MUG, 1, "10.00"),))
    fo = order.fulfillment_orders[0]
    shipping.hold(order, fo, reason="other", reason_notes=None, requests=None, author=STAFF, now=NOW)
    refund(order, inv, lines=[(line_id(order), 1)])
    assert fo.status == "closed"
    assert fo.fulfillment_holds == []
    assert display_fulfillment_status(order) == "unfulfilled"


def test_undoing_a_shipment_returns_only_units_still_owed() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    fulfil(order, inv)
    refund(order, inv, lines=[(line_id(order), 1)], money="10.00")  # one parcel lost
    assert level(inv) == (18, 0, 18)
    shipping.cancel_fulfillment(order, order.fulfillments[0], inventory=inv, author=STAFF, now=NOW)
    assert order.fulfillable_quantity(line_id(order)) == 1
    assert level(inv) == (18, 1, 19)


def test_everything_refunded_counts_a_cancel_refund_once() -> None:
    """A refund of type cancel is both a refund and a removal: counting it twice made half an
    order look wholly refunded (and auto-archived it)."""
    order, inv = place()
    refund(order, inv, lines=[(line_id(order), 1)], restock_type="cancel")
    assert order.current_quantity(order.line_items[0]) == 1
    assert not qualifies_for_auto_archive(order)


# ---- refund discrepancies ----------------------------------------------------------------------
def test_a_goodwill_refund_is_a_discrepancy_not_a_debt() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    refund(order, inv, money="5.00")
    (adjustment,) = order.refunds[0].order_adjustments
    assert (adjustment.kind, adjustment.amount, adjustment.presentment_amount) == (
        "refund_discrepancy",
        D("5.00"),
        D("5.00"),
    )
    assert total_outstanding(order) == 0
    assert financial_status(order) == "partially_refunded"
    with pytest.raises(RuleViolation, match="already paid"):
        payments.check_mark_as_paid(order, None)


@pytest.mark.parametrize(("money", "stored"), [("7.00", "-3.00"), ("12.00", "2.00"), ("0.00", "-10.00")])
def test_money_short_of_or_beyond_the_line_is_recorded_and_nothing_is_owed(money: str, stored: str) -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    refund(order, inv, lines=[(line_id(order), 1)], money=money if money != "0.00" else None)
    assert [a.amount for a in order.refunds[0].order_adjustments] == [D(stored)]
    assert total_outstanding(order) == 0
    assert order.current_total_price == D("10.00")


def test_no_discrepancy_where_nothing_could_be_refunded() -> None:
    order, inv = place()
    refund(order, inv, lines=[(line_id(order), 1)], restock_type="cancel")
    assert order.refunds[0].order_adjustments == []
    assert total_outstanding(order) == D("10.00")


def test_a_discrepancy_in_another_currency_leaves_no_rounding_cent() -> None:
    order, inv = place(presentment="USD", rate=D("1.5"))
    txn(order, "sale", "30.00")
    refund(order, inv, money="0.01")
    assert order.refunds[0].order_adjustments[0].presentment_amount == D("0.01")
    assert total_outstanding(order) == 0


# ---- unarchiving -------------------------------------------------------------------------------
def test_an_unarchived_order_stays_open_until_a_change_makes_it_due_again() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    fulfil(order, inv)
    assert lifecycle.auto_archive(order, now=NOW)
    lifecycle.reopen(order, author=STAFF, now=NOW)
    assert not qualifies_for_auto_archive(order)
    assert not lifecycle.auto_archive(order, now=NOW)
    lifecycle.edit(order, {"note": "call first"}, author=STAFF, now=NOW)
    assert not qualifies_for_auto_archive(order)
    refund(order, inv, money="1.00")
    assert qualifies_for_auto_archive(order)


# ---- cancelled orders' payment status ----------------------------------------------------------
def test_cancelling_an_unpaid_order_voids_it() -> None:
    order, inv = place()
    txn(order, "sale", "20.00", status="pending", gateway="bank_transfer")
    assert financial_status(order) == "pending"
    cancellation.cancel(
        order, cancellation.CancelRequest(), refund_transaction_ids=[], inventory=inv, author=STAFF, now=NOW
    )
    assert financial_status(order) == "voided"
    assert total_outstanding(order) == 0


def test_a_cancelled_free_order_stays_paid() -> None:
    order, inv = place(((MUG, 1, "0.00"),))
    cancellation.cancel(
        order, cancellation.CancelRequest(), refund_transaction_ids=[], inventory=inv, author=STAFF, now=NOW
    )
    assert financial_status(order) == "paid"


# ---- fulfillment order cancel ------------------------------------------------------------------
def test_a_cancelled_fulfillment_order_is_closed_and_replaced() -> None:
    order, _ = place()
    fo = order.fulfillment_orders[0]
    replacement = shipping.cancel_fulfillment_order(order, fo, author=STAFF, now=NOW)
    assert fo.status == "closed"
    assert replacement.status == "open"
    assert replacement.remaining == 2


def test_a_whole_move_closes_the_original_and_moves_the_work_to_a_new_one() -> None:
    order, inv = place(stock={(MUG, AMS): 20, (MUG, BER): 20}, locations=(AMS, BER))
    fo = order.fulfillment_orders[0]
    moved, remaining = shipping.move(
        order,
        fo,
        new_location_id=BER,
        active_locations={AMS, BER},
        requests=None,
        inventory=inv,
        author=STAFF,
        now=NOW,
    )
    assert (fo.status, fo.assigned_location_id, fo.remaining) == ("closed", AMS, 0)
    assert (moved.status, moved.assigned_location_id, moved.remaining) == ("open", BER, 2)
    assert remaining is None
    assert level(inv, MUG, BER) == (18, 2, 20)


# ---- partial addresses --------------------------------------------------------------------------
def test_a_partial_shipping_address_changes_only_what_is_sent() -> None:
    order, _ = place()
    order.shipping_address = Address(first_name="Anna", address1="Keizersgracht 1", city="Amsterdam", zip="1015")
    changed = lifecycle.edit(order, {"shipping_address": {"address1": "Prinsengracht 2"}}, author=STAFF, now=NOW)
    assert changed == ["shipping_address"]
    assert order.shipping_address == Address(
        first_name="Anna", address1="Prinsengracht 2", city="Amsterdam", zip="1015"
    )
    with pytest.raises(InvalidInput, match="colour"):
        lifecycle.edit(order, {"shipping_address": {"colour": "red"}}, author=STAFF, now=NOW)


# ---- currency of amounts ------------------------------------------------------------------------
def test_an_amount_on_a_multi_currency_order_needs_its_currency() -> None:
    order, _ = place(presentment="USD", rate=D("1.10"))
    with pytest.raises(InvalidInput, match="USD") as refused:
        payments.require_currency_with_amount(order, None)
    assert refused.value.field == "currency"
    with pytest.raises(InvalidInput):
        payments.require_currency_with_amount(order, "EUR")
    payments.require_currency_with_amount(order, "usd")
    same, _ = place()
    payments.require_currency_with_amount(same, None)
