"""Placement (discounts, tags), child ids, deleting, editing and cancelling (S3.5, S9.1, S9.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import msgspec
import pytest

from orderdeck.domain import fulfillment as shipping
from orderdeck.domain import payments
from orderdeck.domain.cancellation import CancelRequest, RestockChoice, cancel, check_can_cancel
from orderdeck.domain.errors import InvalidInput, OrderError, RuleViolation
from orderdeck.domain.fulfillment import TrackingInfo
from orderdeck.domain.inventory import Inventory, InventoryLevel, StockItem
from orderdeck.domain.lifecycle import close, deletion_refusal, edit, reopen
from orderdeck.domain.order import Address, Author, DiscountCode, FulfillmentEvent, Order, order_id_of
from orderdeck.domain.payments import GatewayOutcome
from orderdeck.domain.placement import DraftLine, DraftShippingLine, OrderDraft, build_order, normalise_tags
from orderdeck.domain.statuses import financial_status

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STAFF = Author("staff", "Test staff")
AMS, BER = 1, 2
MUG, APRON = 101, 102
ORDER_ID = 4242


def make_inventory() -> Inventory:
    items = {MUG: StockItem(MUG, "MUG-1", "Stoneware mug"), APRON: StockItem(APRON, "APRON-1", "Linen apron")}
    stock = {(MUG, AMS): 20, (APRON, AMS): 20, (MUG, BER): 20}
    return Inventory(items, {k: InventoryLevel(k[0], k[1], q, 0, q) for k, q in stock.items()})


def place(
    lines: list[tuple[int, int, str]] | None = None,
    *,
    codes: list[DiscountCode] | None = None,
    shipping_price: str | None = None,
    order_id: int = ORDER_ID,
    **kw: object,
) -> tuple[Order, Inventory]:
    inv = make_inventory()
    spec = lines or [(MUG, 2, "10.00")]
    draft = OrderDraft(
        lines=[
            DraftLine(title=f"Item {i}", price=D(p), quantity=q, inventory_item_id=i, sku=f"SKU-{i}")
            for i, q, p in spec
        ],
        currency="EUR",
        presentment_currency="EUR",
        discount_codes=codes or [],
        shipping_lines=[DraftShippingLine("PostNL", D(shipping_price))] if shipping_price else [],
        **kw,  # type: ignore[arg-type]
    )
    order = build_order(
        draft,
        order_id=order_id,
        number=1001,
        name="#1001",
        token="t",
        now=NOW,
        locations=[AMS, BER],
        inventory=inv,
        author=STAFF,
    )
    return order, inv


def pay(order: Order, kind: str, amount: str, *, gateway: str = "bogus", status: str = "success", parent=None):  # type: ignore[no-untyped-def]
    return payments.record_transaction(
        order,
        kind=kind,
        amount=D(amount),
        gateway=gateway,
        outcome=GatewayOutcome(status),
        now=NOW,
        author=STAFF,
        parent_id=parent,
    )


def fulfil_all(order: Order, inv: Inventory) -> None:
    for fo in list(order.fulfillment_orders):
        if fo.is_active and fo.remaining:
            shipping.create_fulfillment(
                order, requests={fo.id: None}, tracking=TrackingInfo(), inventory=inv, author=STAFF, now=NOW
            )


def snapshot(order: Order, inv: Inventory) -> tuple[bytes, dict]:
    return msgspec.json.encode(order), {k: (v.available, v.committed, v.on_hand) for k, v in inv.levels.items()}


# ---- discount codes --------------------------------------------------------------------------------
def test_fixed_amount_code_is_spread_over_lines_by_their_value() -> None:
    order, _ = place(
        [(MUG, 3, "10.00"), (APRON, 1, "10.00")], codes=[DiscountCode("TENOFF", D("10.00"), "fixed_amount")]
    )
    assert [li.total_discount for li in order.line_items] == [D("7.50"), D("2.50")]
    assert order.total_discounts == D("10.00")
    assert order.subtotal_price == D("30.00")
    app = order.discount_applications[0]
    assert (app.code, app.value_type, app.target_type) == ("TENOFF", "fixed_amount", "line_item")


def test_fixed_amount_code_larger_than_the_order_is_capped_at_the_subtotal() -> None:
    order, _ = place([(MUG, 1, "8.00")], codes=[DiscountCode("BIG", D("50.00"), "fixed_amount")])
    assert order.total_discounts == D("8.00")
    assert order.total_price == D("0.00")


def test_percentage_code_takes_that_share_and_allocations_add_up() -> None:
    order, _ = place(
        [(MUG, 1, "9.99"), (APRON, 1, "13.33"), (MUG, 1, "10.01")],
        codes=[DiscountCode("SAVE15", D("15"), "percentage")],
    )
    # 15 % of 33.33 = 4.9995 → 5.00
    assert order.total_discounts == D("5.00")
    assert sum(li.total_discount for li in order.line_items) == D("5.00")
    assert order.discount_applications[0].value_type == "percentage"


def test_percentage_code_above_hundred_is_refused() -> None:
    with pytest.raises(InvalidInput):
        place(codes=[DiscountCode("FREE", D("150"), "percentage")])


def test_shipping_code_discounts_shipping_not_the_items() -> None:
    order, _ = place(shipping_price="6.95", codes=[DiscountCode("SHIP5", D("5.00"), "shipping")])
    assert all(li.total_discount == 0 for li in order.line_items)
    assert order.shipping_lines[0].discounted_price == D("1.95")
    assert order.total_price == D("21.95")
    assert order.discount_applications[0].target_type == "shipping_line"


def test_shipping_code_is_capped_at_the_shipping_price() -> None:
    order, _ = place(shipping_price="4.95", codes=[DiscountCode("FREESHIP", D("10.00"), "shipping")])
    assert order.total_shipping_price == D("0.00")
    assert order.total_price == D("20.00")


def test_two_codes_each_get_their_own_application_index() -> None:
    order, _ = place(
        shipping_price="5.00",
        codes=[DiscountCode("TEN", D("10"), "percentage"), DiscountCode("SHIP", D("5.00"), "shipping")],
    )
    assert order.line_items[0].discount_allocations[0].discount_application_index == 0
    assert order.shipping_lines[0].discount_allocations[0].discount_application_index == 1
    assert order.total_price == D("18.00")


# ---- tags ------------------------------------------------------------------------------------------
def test_tags_from_a_comma_string_are_split_and_trimmed() -> None:
    assert normalise_tags("  gift , vip,wholesale ") == ["gift", "vip", "wholesale"]


def test_duplicate_tags_are_dropped_case_insensitively_keeping_the_first_spelling() -> None:
    assert normalise_tags("VIP, gift, vip, Gift") == ["VIP", "gift"]


def test_empty_tags_are_dropped() -> None:
    assert normalise_tags(" , ,gift,,") == ["gift"]
    assert normalise_tags(None) == []
    assert normalise_tags("") == []


def test_tags_given_as_a_list_are_normalised_too() -> None:
    assert normalise_tags([" a ", "A", "b"]) == ["a", "b"]


def test_overlong_tag_is_refused() -> None:
    with pytest.raises(InvalidInput):
        normalise_tags("x" * 256)


def test_placed_order_carries_normalised_tags() -> None:
    order, _ = place(tags=["priority", " Priority ", "gift"])
    assert order.tags == ["priority", "gift"]


# ---- child ids ------------------------------------------------------------------------------------
@pytest.mark.parametrize("order_id", [1, ORDER_ID, 2**40 + 17])
def test_child_ids_decode_to_their_order_id(order_id: int) -> None:
    order, inv = place([(MUG, 1, "10.00"), (APRON, 1, "5.00")], order_id=order_id, shipping_price="3.00")
    pay(order, "sale", "18.00")
    fulfil_all(order, inv)
    ids = (
        [li.id for li in order.line_items]
        + [s.id for s in order.shipping_lines]
        + [fo.id for fo in order.fulfillment_orders]
        + [fol.id for fo in order.fulfillment_orders for fol in fo.line_items]
        + [f.id for f in order.fulfillments]
        + [t.id for t in order.transactions]
    )
    assert len(set(ids)) == len(ids)
    assert all(order_id_of(i) == order_id for i in ids)
    assert all(i != order_id for i in ids)


# ---- deletion (S9.3) ----------------------------------------------------------------------------------
def test_open_order_cannot_be_deleted() -> None:
    order, _ = place()
    pay(order, "sale", "20.00", gateway="manual")
    refusal = deletion_refusal(order)
    assert refusal is not None and "archived or cancelled" in refusal


def test_archived_manually_paid_order_can_be_deleted() -> None:
    order, _ = place()
    pay(order, "sale", "20.00", gateway="bank_transfer")
    close(order, author=STAFF, now=NOW)
    assert deletion_refusal(order) is None


def test_cancelled_unpaid_order_can_be_deleted() -> None:
    order, inv = place()
    cancel(order, CancelRequest(reason="customer"), refund_transaction_ids=[], inventory=inv, author=STAFF, now=NOW)
    assert deletion_refusal(order) is None


def test_order_paid_through_an_online_gateway_cannot_be_deleted() -> None:
    order, _ = place()
    pay(order, "sale", "20.00", gateway="stripe")
    close(order, author=STAFF, now=NOW)
    refusal = deletion_refusal(order)
    assert refusal is not None and "online gateway" in refusal and "stripe" in refusal


def test_order_paid_with_a_gift_card_cannot_be_deleted() -> None:
    order, _ = place()
    pay(order, "sale", "20.00", gateway="gift_card")
    close(order, author=STAFF, now=NOW)
    refusal = deletion_refusal(order)
    assert refusal is not None and "gift card" in refusal


def test_point_of_sale_order_cannot_be_deleted() -> None:
    order, _ = place(source_name="pos")
    close(order, author=STAFF, now=NOW)
    refusal = deletion_refusal(order)
    assert refusal is not None and "point of sale" in refusal


def test_order_with_an_unvoided_shipping_label_cannot_be_deleted_until_the_fulfillment_is_cancelled() -> None:
    order, inv = place()
    pay(order, "sale", "20.00", gateway="manual")
    fulfil_all(order, inv)
    order.fulfillments[0].events.append(
        FulfillmentEvent(id=order.child_id(), status="label_purchased", happened_at=NOW, created_at=NOW)
    )
    close(order, author=STAFF, now=NOW)
    refusal = deletion_refusal(order)
    assert refusal is not None and "label" in refusal
    reopen(order, author=STAFF, now=NOW)
    shipping.cancel_fulfillment(order, order.fulfillments[0], inventory=inv, author=STAFF, now=NOW)
    close(order, author=STAFF, now=NOW)
    assert deletion_refusal(order) is None


def test_failed_online_payment_does_not_block_deleting() -> None:
    order, _ = place()
    pay(order, "sale", "20.00", gateway="stripe", status="failure")
    close(order, author=STAFF, now=NOW)
    assert deletion_refusal(order) is None


def test_order_paid_through_the_bogus_gateway_cannot_be_deleted_even_as_a_test_order() -> None:
    # Issue #2, Delete: the bogus gateway counts as online, and online payments block deletion.
    order, _ = place(test=True)
    payments.record_transaction(
        order,
        kind="sale",
        amount=D("20.00"),
        gateway="bogus",
        outcome=GatewayOutcome("success"),
        now=NOW,
        author=STAFF,
        test=True,
    )
    close(order, author=STAFF, now=NOW)
    refusal = deletion_refusal(order)
    assert refusal is not None and "online gateway" in refusal


# ---- editing (S3.5) ---------------------------------------------------------------------------------
def test_edit_records_only_the_fields_that_changed() -> None:
    order, _ = place(email="anna@example.com", tags=["gift"])
    order.events.clear()
    changed = edit(
        order,
        {"email": "anna@example.com", "note": "Leave at the door", "tags": "gift, vip"},
        author=STAFF,
        now=NOW,
    )
    assert changed == ["note", "tags"]
    assert order.note == "Leave at the door"
    assert order.tags == ["gift", "vip"]
    assert [e.verb for e in order.events] == ["update"]
    assert order.events[0].arguments["fields"] == ["note", "tags"]


def test_edit_without_real_changes_changes_and_records_nothing() -> None:
    order, _ = place(email="anna@example.com", tags=["gift"])
    order.events.clear()
    before = order.updated_at
    assert edit(order, {"email": "anna@example.com", "tags": " gift , "}, author=STAFF, now=NOW.replace(hour=12)) == []
    assert order.events == []
    assert order.updated_at == before


def test_edit_can_fix_a_typo_in_the_shipping_address() -> None:
    order, _ = place(shipping_address=Address(address1="Damrak 1", city="Amsterdm", country_code="NL"))
    changed = edit(
        order,
        {"shipping_address": {"address1": "Damrak 1", "city": "Amsterdam", "country_code": "NL"}},
        author=STAFF,
        now=NOW,
    )
    assert changed == ["shipping_address"]
    assert order.shipping_address is not None and order.shipping_address.city == "Amsterdam"


def test_edit_refuses_the_billing_address() -> None:
    # S3.5 / ORDER-MODEL §5: the billing address cannot be edited after placement.
    billing = Address(address1="Damrak 1", city="Amsterdam", country_code="NL")
    order, _ = place(billing_address=billing)
    with pytest.raises(OrderError):
        edit(order, {"billing_address": {"address1": "Elsewhere 2", "city": "Utrecht"}}, author=STAFF, now=NOW)
    assert order.billing_address == billing


def test_edit_refuses_fields_that_are_not_editable() -> None:
    order, _ = place()
    with pytest.raises(OrderError):
        edit(order, {"currency": "USD"}, author=STAFF, now=NOW)
    assert order.currency == "EUR"


# ---- cancelling (S9.1) ------------------------------------------------------------------------------
def test_cannot_cancel_order_with_fulfilled_items() -> None:
    order, inv = place()
    fulfil_all(order, inv)
    before = snapshot(order, inv)
    with pytest.raises(RuleViolation) as refused:
        check_can_cancel(order, CancelRequest(reason="customer"), active_locations={AMS, BER})
    assert "fulfilled" in refused.value.message
    assert snapshot(order, inv) == before


def test_cannot_cancel_order_with_a_pending_authorization() -> None:
    order, inv = place()
    pay(order, "authorization", "20.00", status="pending")
    before = snapshot(order, inv)
    with pytest.raises(RuleViolation) as refused:
        check_can_cancel(order, CancelRequest(reason="customer"), active_locations={AMS, BER})
    assert "pending" in refused.value.message
    assert snapshot(order, inv) == before


def test_cannot_cancel_an_order_twice() -> None:
    order, inv = place()
    cancel(order, CancelRequest(reason="customer"), refund_transaction_ids=[], inventory=inv, author=STAFF, now=NOW)
    before = snapshot(order, inv)
    with pytest.raises(RuleViolation):
        check_can_cancel(order, CancelRequest(reason="customer"), active_locations={AMS, BER})
    assert snapshot(order, inv) == before


def test_unknown_cancel_reason_is_refused() -> None:
    order, _ = place()
    with pytest.raises(InvalidInput):
        check_can_cancel(order, CancelRequest(reason="bored"), active_locations={AMS})


def test_restocking_to_an_inactive_location_is_refused() -> None:
    order, _ = place()
    request = CancelRequest(reason="inventory", restock_choices=[RestockChoice(order.line_items[0].id, 2, 99)])
    with pytest.raises(RuleViolation):
        check_can_cancel(order, request, active_locations={AMS, BER})


def test_cancelling_with_restock_puts_reserved_units_back() -> None:
    order, inv = place()
    cancel(
        order,
        CancelRequest(reason="customer", restock=True),
        refund_transaction_ids=[],
        inventory=inv,
        author=STAFF,
        now=NOW,
    )
    lvl = inv.levels[(MUG, AMS)]
    assert (lvl.available, lvl.committed, lvl.on_hand) == (20, 0, 20)
    assert order.is_cancelled and order.cancel_reason == "customer"
    assert all(not fo.is_active for fo in order.fulfillment_orders)
    assert order.current_total_price == 0


def test_cancelling_without_restock_writes_reserved_units_off() -> None:
    order, inv = place()
    cancel(
        order,
        CancelRequest(reason="fraud", restock=False),
        refund_transaction_ids=[],
        inventory=inv,
        author=STAFF,
        now=NOW,
    )
    lvl = inv.levels[(MUG, AMS)]
    assert (lvl.available, lvl.committed, lvl.on_hand) == (18, 0, 18)


def test_cancelling_a_paid_order_with_a_full_refund_makes_it_refunded() -> None:
    order, inv = place()
    sale = pay(order, "sale", "20.00")
    refund_txn = pay(order, "refund", "20.00", parent=sale.id)
    cancel(
        order,
        CancelRequest(reason="customer"),
        refund_transaction_ids=[refund_txn.id],
        inventory=inv,
        author=STAFF,
        now=NOW,
    )
    assert financial_status(order) == "refunded"


def test_cancelling_an_authorized_order_after_voiding_makes_it_voided() -> None:
    order, inv = place()
    auth = pay(order, "authorization", "20.00")
    pay(order, "void", "0.00", parent=auth.id)
    check_can_cancel(order, CancelRequest(reason="declined"), active_locations={AMS})
    cancel(order, CancelRequest(reason="declined"), refund_transaction_ids=[], inventory=inv, author=STAFF, now=NOW)
    assert financial_status(order) == "voided"


def test_cancelled_order_cannot_be_fulfilled() -> None:
    order, inv = place()
    cancel(order, CancelRequest(reason="customer"), refund_transaction_ids=[], inventory=inv, author=STAFF, now=NOW)
    with pytest.raises(RuleViolation):
        fulfil_all_including_inactive(order, inv)


def fulfil_all_including_inactive(order: Order, inv: Inventory) -> None:
    fo = order.fulfillment_orders[0]
    shipping.create_fulfillment(
        order, requests={fo.id: None}, tracking=TrackingInfo(), inventory=inv, author=STAFF, now=NOW
    )


# ---- archive / reopen -------------------------------------------------------------------------------
def test_archiving_twice_is_refused() -> None:
    order, _ = place()
    close(order, author=STAFF, now=NOW)
    with pytest.raises(RuleViolation):
        close(order, author=STAFF, now=NOW)


def test_reopening_an_open_order_is_refused() -> None:
    order, _ = place()
    with pytest.raises(RuleViolation):
        reopen(order, author=STAFF, now=NOW)
