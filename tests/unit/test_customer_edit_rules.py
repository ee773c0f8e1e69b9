"""The rules for customers changing their own order's items (domain/self_service.py, issue 14)
on orders built in memory: when the shop and the order allow it, which units are still the
customer's to change, and what a choice on the form may ask."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from orderdeck.domain import fulfillment as shipping
from orderdeck.domain import self_service as rules
from orderdeck.domain.errors import OrderError
from orderdeck.domain.fulfillment import LineRequest, TrackingInfo
from orderdeck.domain.inventory import Inventory
from orderdeck.domain.order import Hold, Order
from tests.unit.test_domain_commands import APRON, MUG, NOW, STAFF, fulfil_all, pay, place

WINDOW = timedelta(hours=2)
ON = rules.EditPolicy(enabled=True)
RAISING = rules.EditPolicy(enabled=True, may_raise_total=True)


def paid(mugs: int = 3) -> tuple[Order, Inventory]:
    """A paid order of mugs and one apron, both catalogue variants."""
    order, inv = place([(MUG, mugs, "10.00"), (APRON, 1, "20.00")])
    for line in order.line_items:
        line.variant_id, line.product_id = line.inventory_item_id, line.inventory_item_id
    pay(order, "sale", str(order.total_price))
    return order, inv


def ship(order: Order, inv: Inventory, units: int) -> None:
    """`units` mugs fulfilled."""
    fo = order.fulfillment_orders[0]
    fol = fo.line_for(order.line_items[0].id)
    assert fol is not None
    shipping.create_fulfillment(
        order,
        requests={fo.id: [LineRequest(fol.id, units)]},
        tracking=TrackingInfo(),
        inventory=inv,
        author=STAFF,
        now=NOW,
    )


def refusal(order: Order, policy: rules.EditPolicy = ON, *, later: timedelta = timedelta()) -> str | None:
    return rules.edit_refusal(order, now=NOW + later, window=WINDOW, policy=policy)


def test_an_open_paid_order_may_be_changed_within_the_window_and_not_after() -> None:
    order, _ = paid()
    assert refusal(order) is None
    assert refusal(order, later=WINDOW) is None
    assert refusal(order, later=WINDOW + timedelta(seconds=1)) == "too_late"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("policy_off", "off"),
        ("cancelled", "cancelled"),
        ("archived", "archived"),
        ("fraud_hold", "on_hold"),
    ],
)
def test_the_shop_or_the_orders_state_refuses_every_change(change: str, why: str) -> None:
    order, _ = paid()
    policy = ON
    if change == "policy_off":
        policy = rules.EditPolicy(enabled=False, may_raise_total=True)
    elif change == "cancelled":
        order.cancelled_at = NOW
    elif change == "archived":
        order.closed_at = NOW
    else:
        order.fulfillment_orders[0].fulfillment_holds.append(Hold(1, "high_risk_of_fraud", None, NOW))
    assert refusal(order, policy) == why
    with pytest.raises(OrderError) as refused:
        rules.check_edit(
            order, policy, [rules.EditChoice(order.line_items[0].id, 1)], now=NOW, window=WINDOW, switches={}
        )
    assert refused.value.code == why and refused.value.field == "base"


def test_shipped_units_stay_and_the_rest_may_change() -> None:
    order, inv = paid(mugs=3)
    ship(order, inv, 1)
    assert refusal(order) is None  # unlike cancelling: two mugs and the apron are still in the shop
    mugs, apron = rules.editable_lines(order)
    assert (mugs.quantity, mugs.editable, mugs.fixed) == (3, 2, 1)
    assert (apron.quantity, apron.editable, apron.fixed) == (1, 1, 0)


def test_units_handed_to_a_fulfillment_service_are_not_the_customers_to_change() -> None:
    order, _ = paid()
    for fo in order.fulfillment_orders:
        fo.request_status = "accepted"
    assert rules.editable_lines(order) == []
    assert refusal(order) == "fulfilled"


def test_an_order_shipped_in_full_is_refused_as_fulfilled() -> None:
    order, inv = paid()
    fulfil_all(order, inv)
    assert refusal(order) == "fulfilled"


def _check(order: Order, policy: rules.EditPolicy, *choices: rules.EditChoice, switches=None):  # type: ignore[no-untyped-def]
    return rules.check_edit(order, policy, list(choices), now=NOW, window=WINDOW, switches=switches or {})


def test_a_choice_that_changes_nothing_is_refused_and_only_changes_are_returned() -> None:
    order, _ = paid(mugs=2)
    mug, apron = (line.id for line in order.line_items)
    with pytest.raises(OrderError) as refused:
        _check(order, ON, rules.EditChoice(mug, 2), rules.EditChoice(apron, 1))
    assert refused.value.code == "nothing_changed"
    assert _check(order, ON, rules.EditChoice(mug, 1), rules.EditChoice(apron, 1)) == [rules.EditChoice(mug, 1)]


def test_more_units_only_when_the_shop_lets_customers_raise_the_total() -> None:
    order, _ = paid(mugs=2)
    mug = order.line_items[0].id
    with pytest.raises(OrderError) as refused:
        _check(order, ON, rules.EditChoice(mug, 3))
    assert (refused.value.code, refused.value.field) == ("no_more_units", f"quantity_{mug}")
    assert _check(order, RAISING, rules.EditChoice(mug, 3)) == [rules.EditChoice(mug, 3)]
    with pytest.raises(OrderError):
        _check(order, RAISING, rules.EditChoice(mug, 2 + rules.MAX_EXTRA_UNITS + 1))
    with pytest.raises(OrderError) as negative:
        _check(order, RAISING, rules.EditChoice(mug, -1))
    assert negative.value.code == "quantity"


def test_a_switch_must_be_to_a_variant_offered_for_that_line() -> None:
    order, _ = paid(mugs=2)
    mug = order.line_items[0].id
    other = 999
    with pytest.raises(OrderError) as refused:
        _check(order, ON, rules.EditChoice(mug, 2, other))
    assert (refused.value.code, refused.value.field) == ("variant_unavailable", f"variant_{mug}")
    assert _check(order, ON, rules.EditChoice(mug, 2, other), switches={mug: {other}}) == [
        rules.EditChoice(mug, 2, other)
    ]
    # Switching none of the units is taking them off; choosing the line's own variant is no switch.
    assert _check(order, ON, rules.EditChoice(mug, 0, other), switches={mug: {other}}) == [rules.EditChoice(mug, 0)]
    assert _check(order, ON, rules.EditChoice(mug, 1, MUG)) == [rules.EditChoice(mug, 1)]


def test_a_line_with_nothing_left_to_change_is_refused_at_its_field() -> None:
    order, inv = paid(mugs=1)
    ship(order, inv, 1)
    mug = order.line_items[0].id
    with pytest.raises(OrderError) as refused:
        _check(order, ON, rules.EditChoice(mug, 0))
    assert (refused.value.code, refused.value.field) == ("line_fixed", f"quantity_{mug}")


def test_a_higher_total_is_refused_unless_the_shop_allows_it() -> None:
    assert rules.total_refusal(D("60.00"), D("60.00"), ON) is None
    assert rules.total_refusal(D("60.00"), D("35.00"), ON) is None
    assert rules.total_refusal(D("60.00"), D("60.01"), ON) == "raises_total"
    assert rules.total_refusal(D("60.00"), D("85.00"), RAISING) is None
