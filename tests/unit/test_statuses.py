"""Every status derived from an order's facts (ORDER-MODEL.md §1 to §3, S1.2, S1.3, S7.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from orderdeck.domain import cancellation, lifecycle, payments, refunds
from orderdeck.domain import fulfillment as shipping
from orderdeck.domain.fulfillment import LineRequest, TrackingInfo
from orderdeck.domain.inventory import Inventory, InventoryLevel, StockItem
from orderdeck.domain.order import Author, Order
from orderdeck.domain.payments import GatewayOutcome
from orderdeck.domain.placement import DraftLine, DraftShippingLine, OrderDraft, build_order
from orderdeck.domain.statuses import (
    display_fulfillment_status,
    financial_status,
    fulfillment_status,
    qualifies_for_auto_archive,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STAFF = Author("staff", "Test staff")
AMS, BER = 1, 2
MUG, APRON = 101, 102


def _inventory(stock: dict[tuple[int, int], int]) -> Inventory:
    items = {
        MUG: StockItem(MUG, "MUG-1", "Stoneware mug"),
        APRON: StockItem(APRON, "APRON-1", "Linen apron"),
    }
    return Inventory(items, {key: InventoryLevel(key[0], key[1], qty, 0, qty) for key, qty in stock.items()})


def place(
    lines: tuple[tuple[int, int, str], ...] = ((MUG, 2, "10.00"),),
    *,
    shipping_price: str | None = None,
    stock: dict[tuple[int, int], int] | None = None,
    locations: tuple[int, ...] = (AMS,),
    presentment: str = "EUR",
    rate: D | None = None,
) -> tuple[Order, Inventory]:
    inv = _inventory(stock if stock is not None else {(MUG, AMS): 20, (APRON, AMS): 20})
    draft = OrderDraft(
        lines=[
            DraftLine(title=f"Item {item}", price=D(price), quantity=qty, inventory_item_id=item, sku=f"SKU-{item}")
            for item, qty, price in lines
        ],
        currency="EUR",
        presentment_currency=presentment,
        exchange_rate=rate,
        shipping_lines=[DraftShippingLine("PostNL", D(shipping_price))] if shipping_price else [],
        email="anna@example.com",
    )
    order = build_order(
        draft,
        order_id=7,
        number=1001,
        name="#1001",
        token="t",
        now=NOW,
        locations=list(locations),
        inventory=inv,
        author=STAFF,
    )
    return order, inv


def txn(order: Order, kind: str, amount: str, status: str = "success", parent: int | None = None, **kw):  # type: ignore[no-untyped-def]
    return payments.record_transaction(
        order,
        kind=kind,
        amount=D(amount),
        gateway=kw.pop("gateway", "bogus"),
        outcome=GatewayOutcome(status),
        now=NOW,
        author=STAFF,
        parent_id=parent,
        **kw,
    )


def fulfil(order: Order, inv: Inventory, quantities: dict[int, int] | None = None) -> None:
    """Fulfil every open FO in full, or only `quantities` (line item id → units)."""
    requests: dict[int, list[LineRequest] | None] = {}
    for fo in order.fulfillment_orders:
        if not fo.is_active or fo.remaining == 0:
            continue
        if quantities is None:
            requests[fo.id] = None
        else:
            wanted = [
                LineRequest(fol.id, quantities[fol.line_item_id])
                for fol in fo.line_items
                if quantities.get(fol.line_item_id)
            ]
            if wanted:
                requests[fo.id] = wanted
    for fo_id, req in requests.items():
        shipping.create_fulfillment(
            order, requests={fo_id: req}, tracking=TrackingInfo(), inventory=inv, author=STAFF, now=NOW
        )


def refund(
    order: Order,
    inv: Inventory,
    *,
    lines: list[tuple[int, int]] = (),  # type: ignore[assignment]
    restock_type: str = "no_restock",
    money: str | None = None,
) -> None:
    request = refunds.RefundRequest(
        lines=[
            refunds.RefundLineRequest(li, qty, restock_type, AMS if restock_type != "no_restock" else None)
            for li, qty in lines
        ]
    )
    calc = refunds.calculate(order, request, active_locations={AMS, BER})
    ids = []
    if money is not None:
        parent = payments.check_refund_transaction(order, None, D(money))
        ids.append(txn(order, "refund", money, parent=parent.id).id)
    refunds.apply_refund(order, calc, request, transaction_ids=ids, inventory=inv, author=STAFF, now=NOW, notify=False)


# ---- financial status ---------------------------------------------------------------------------
def test_unpaid_order_is_pending() -> None:
    order, _ = place()
    assert financial_status(order) == "pending"


def test_pending_manual_payment_keeps_order_pending() -> None:
    order, _ = place()
    txn(order, "sale", "20.00", status="pending", gateway="bank_transfer")
    assert financial_status(order) == "pending"


def test_failed_payment_keeps_order_pending() -> None:
    order, _ = place()
    txn(order, "sale", "20.00", status="failure")
    assert financial_status(order) == "pending"


def test_successful_authorization_makes_order_authorized() -> None:
    order, _ = place()
    txn(order, "authorization", "20.00")
    assert financial_status(order) == "authorized"


def test_capturing_less_than_the_total_is_partially_paid() -> None:
    order, _ = place()
    auth = txn(order, "authorization", "20.00")
    txn(order, "capture", "5.00", parent=auth.id)
    assert financial_status(order) == "partially_paid"


def test_sale_of_less_than_the_total_is_partially_paid() -> None:
    order, _ = place()
    txn(order, "sale", "19.99")
    assert financial_status(order) == "partially_paid"


def test_capturing_the_total_is_paid() -> None:
    order, _ = place(shipping_price="4.95")
    auth = txn(order, "authorization", "24.95")
    txn(order, "capture", "24.95", parent=auth.id)
    assert financial_status(order) == "paid"


def test_captures_adding_up_to_the_total_are_paid() -> None:
    order, _ = place()
    auth = txn(order, "authorization", "20.00")
    txn(order, "capture", "12.00", parent=auth.id)
    txn(order, "capture", "8.00", parent=auth.id)
    assert financial_status(order) == "paid"


def test_marked_as_paid_manual_order_is_paid() -> None:
    order, _ = place()
    outstanding = payments.check_mark_as_paid(order, None)
    txn(order, "sale", str(outstanding), gateway="manual")
    assert financial_status(order) == "paid"


def test_paid_in_presentment_currency_counts_against_presentment_total() -> None:
    order, _ = place(presentment="USD", rate=D("1.10"))  # EUR 20.00 = USD 22.00
    txn(order, "sale", "22.00")
    assert financial_status(order) == "paid"


def test_refunding_part_of_the_payment_is_partially_refunded() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    refund(order, inv, money="5.00")
    assert financial_status(order) == "partially_refunded"


def test_refunding_everything_paid_is_refunded() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    refund(order, inv, money="20.00")
    assert financial_status(order) == "refunded"


def test_refunds_across_several_captures_adding_up_to_all_paid_are_refunded() -> None:
    order, inv = place()
    txn(order, "sale", "12.00")
    txn(order, "sale", "8.00")
    refund(order, inv, money="12.00")
    assert financial_status(order) == "partially_refunded"
    refund(order, inv, money="8.00")
    assert financial_status(order) == "refunded"


def test_voided_authorization_is_voided() -> None:
    order, _ = place()
    auth = payments.check_void(order, txn(order, "authorization", "20.00").id)
    txn(order, "void", "0.00", parent=auth.id)
    assert financial_status(order) == "voided"


def test_authorization_expired_uncaptured_is_expired() -> None:
    order, _ = place()
    txn(order, "authorization", "20.00", authorization_period=timedelta(days=7))
    assert payments.expire_authorizations(order, NOW + timedelta(days=3)) == []
    assert financial_status(order) == "authorized"
    assert len(payments.expire_authorizations(order, NOW + timedelta(days=8))) == 1
    assert financial_status(order) == "expired"


def test_expired_authorization_can_no_longer_be_captured() -> None:
    order, _ = place()
    auth = txn(order, "authorization", "20.00", authorization_period=timedelta(days=7))
    payments.expire_authorizations(order, NOW + timedelta(days=8))
    with pytest.raises(Exception):  # noqa: B017 - RuleViolation or "no authorization left"
        payments.check_capture(order, auth.id, None, None)


def test_free_order_is_paid_from_the_start() -> None:
    order, _ = place(((MUG, 1, "0.00"),))
    assert order.total_price == 0
    assert financial_status(order) == "paid"


# ---- fulfillment status ---------------------------------------------------------------------------
def test_new_order_has_no_fulfillment_status_and_shows_unfulfilled() -> None:
    order, _ = place()
    assert fulfillment_status(order) is None
    assert display_fulfillment_status(order) == "unfulfilled"


def test_shipping_some_units_is_partial() -> None:
    order, inv = place()
    fulfil(order, inv, {order.line_items[0].id: 1})
    assert fulfillment_status(order) == "partial"
    assert display_fulfillment_status(order) == "partially_fulfilled"


def test_shipping_one_of_two_lines_is_partial() -> None:
    order, inv = place(((MUG, 1, "10.00"), (APRON, 1, "30.00")))
    fulfil(order, inv, {order.line_items[0].id: 1})
    assert fulfillment_status(order) == "partial"
    assert display_fulfillment_status(order) == "partially_fulfilled"


def test_shipping_everything_is_fulfilled() -> None:
    order, inv = place(((MUG, 1, "10.00"), (APRON, 2, "30.00")))
    fulfil(order, inv)
    assert fulfillment_status(order) == "fulfilled"
    assert display_fulfillment_status(order) == "fulfilled"


def test_shipping_everything_from_two_locations_is_fulfilled() -> None:
    order, inv = place(
        ((MUG, 1, "10.00"), (APRON, 1, "30.00")),
        stock={(MUG, AMS): 5, (APRON, BER): 5},
        locations=(AMS, BER),
    )
    assert len(order.fulfillment_orders) == 2
    fulfil(order, inv, {order.line_items[0].id: 1})
    assert fulfillment_status(order) == "partial"
    fulfil(order, inv)
    assert fulfillment_status(order) == "fulfilled"


def test_cancelling_a_fulfillment_makes_the_order_unfulfilled_again() -> None:
    order, inv = place()
    fulfil(order, inv)
    shipping.cancel_fulfillment(order, order.fulfillments[0], inventory=inv, author=STAFF, now=NOW)
    assert fulfillment_status(order) is None
    assert display_fulfillment_status(order) == "unfulfilled"


def test_cancelled_order_with_everything_restocked_is_restocked() -> None:
    order, inv = place()
    request = cancellation.CancelRequest(reason="customer", restock=True)
    cancellation.check_can_cancel(order, request, active_locations={AMS})
    cancellation.cancel(order, request, refund_transaction_ids=[], inventory=inv, author=STAFF, now=NOW)
    assert fulfillment_status(order) == "restocked"


def test_cancelled_order_without_restock_is_not_restocked() -> None:
    # REST: "restocked" means every line item was restocked and the order cancelled (ORDER-MODEL §3).
    order, inv = place()
    request = cancellation.CancelRequest(reason="customer", restock=False)
    cancellation.cancel(order, request, refund_transaction_ids=[], inventory=inv, author=STAFF, now=NOW)
    assert fulfillment_status(order) != "restocked"


def test_all_unfulfilled_items_on_hold_shows_on_hold() -> None:
    order, _ = place()
    fo = order.fulfillment_orders[0]
    shipping.hold(order, fo, reason="awaiting_payment", reason_notes=None, requests=None, author=STAFF, now=NOW)
    assert display_fulfillment_status(order) == "on_hold"
    assert fulfillment_status(order) is None


def test_hold_on_only_some_unfulfilled_items_does_not_show_on_hold() -> None:
    order, _ = place(
        ((MUG, 1, "10.00"), (APRON, 1, "30.00")), stock={(MUG, AMS): 5, (APRON, BER): 5}, locations=(AMS, BER)
    )
    fo = order.fulfillment_orders[0]
    shipping.hold(order, fo, reason="other", reason_notes="check address", requests=None, author=STAFF, now=NOW)
    assert display_fulfillment_status(order) == "unfulfilled"


def test_releasing_the_hold_shows_unfulfilled_again() -> None:
    order, _ = place()
    fo = order.fulfillment_orders[0]
    shipping.hold(order, fo, reason="awaiting_payment", reason_notes=None, requests=None, author=STAFF, now=NOW)
    shipping.release_hold(order, fo, hold_ids=None, author=STAFF, now=NOW)
    assert display_fulfillment_status(order) == "unfulfilled"


def test_all_unfulfilled_items_scheduled_shows_scheduled() -> None:
    order, _ = place()
    fo = order.fulfillment_orders[0]
    shipping.reschedule(order, fo, fulfill_at=NOW + timedelta(days=30), author=STAFF, now=NOW)
    assert display_fulfillment_status(order) == "scheduled"
    assert fulfillment_status(order) is None


def test_scheduled_order_opens_when_its_date_comes() -> None:
    order, _ = place()
    fo = order.fulfillment_orders[0]
    shipping.reschedule(order, fo, fulfill_at=NOW + timedelta(days=30), author=STAFF, now=NOW)
    assert shipping.open_due_fulfillment_orders(order, NOW + timedelta(days=1)) == []
    shipping.open_due_fulfillment_orders(order, NOW + timedelta(days=31))
    assert display_fulfillment_status(order) == "unfulfilled"


def test_fulfillment_order_in_progress_with_nothing_shipped_shows_in_progress() -> None:
    order, _ = place()
    order.fulfillment_orders[0].status = "in_progress"  # e.g. a request sent to a fulfillment service
    assert display_fulfillment_status(order) == "in_progress"
    assert fulfillment_status(order) is None


def test_rejected_fulfillment_request_shows_request_declined() -> None:
    order, _ = place()
    order.fulfillment_orders[0].request_status = "rejected"
    assert display_fulfillment_status(order) == "request_declined"


# ---- auto-archive (S7.4) -----------------------------------------------------------------------
def test_fulfilled_and_paid_order_qualifies_for_auto_archive() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    fulfil(order, inv)
    assert qualifies_for_auto_archive(order)


def test_partial_refund_does_not_stop_auto_archive() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    fulfil(order, inv)
    refund(order, inv, money="5.00")
    assert financial_status(order) == "partially_refunded"
    assert qualifies_for_auto_archive(order)


def test_partial_refund_of_a_line_does_not_stop_auto_archive() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    fulfil(order, inv)
    refund(order, inv, lines=[(order.line_items[0].id, 1)], restock_type="return", money="10.00")
    assert financial_status(order) == "partially_refunded"
    assert qualifies_for_auto_archive(order)


def test_fully_refunded_fulfilled_order_qualifies_for_auto_archive() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    fulfil(order, inv)
    refund(order, inv, money="20.00")
    assert qualifies_for_auto_archive(order)


def test_all_items_refunded_before_shipping_qualifies_for_auto_archive() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    refund(order, inv, lines=[(order.line_items[0].id, 2)], restock_type="cancel", money="20.00")
    assert financial_status(order) == "refunded"
    assert fulfillment_status(order) is None
    assert qualifies_for_auto_archive(order)


def test_paid_but_unfulfilled_order_does_not_qualify_for_auto_archive() -> None:
    order, _ = place()
    txn(order, "sale", "20.00")
    assert not qualifies_for_auto_archive(order)


def test_partially_fulfilled_paid_order_does_not_qualify_for_auto_archive() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    fulfil(order, inv, {order.line_items[0].id: 1})
    assert not qualifies_for_auto_archive(order)


def test_fulfilled_but_unpaid_order_does_not_qualify_for_auto_archive() -> None:
    order, inv = place()
    fulfil(order, inv)
    assert not qualifies_for_auto_archive(order)


def test_fulfilled_but_only_authorized_order_does_not_qualify_for_auto_archive() -> None:
    order, inv = place()
    txn(order, "authorization", "20.00")
    fulfil(order, inv)
    assert not qualifies_for_auto_archive(order)


def test_fulfilled_partially_paid_order_does_not_qualify_for_auto_archive() -> None:
    order, inv = place()
    txn(order, "sale", "10.00")
    fulfil(order, inv)
    assert not qualifies_for_auto_archive(order)


def test_archived_order_does_not_qualify_for_auto_archive_again() -> None:
    order, inv = place()
    txn(order, "sale", "20.00")
    fulfil(order, inv)
    assert lifecycle.auto_archive(order, now=NOW)
    assert order.is_closed
    assert not qualifies_for_auto_archive(order)
    assert not lifecycle.auto_archive(order, now=NOW)
