"""Draft orders' own rules (domain/draft_orders.py): discounts, totals, what may change, and
the OrderDraft completing a draft places."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orderdeck.domain import draft_orders as rules
from orderdeck.domain.draft_orders import AppliedDiscount, DraftLineItem, DraftOrder, DraftShipping
from orderdeck.domain.errors import InvalidInput, RuleViolation
from orderdeck.domain.order import TaxLine

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def draft(**fields: object) -> DraftOrder:
    return DraftOrder(id=7, currency="EUR", created_at=NOW, updated_at=NOW, token="0" * 32, **fields)  # type: ignore[arg-type]


def line(price: str, quantity: int, discount: AppliedDiscount | None = None, id_: int = 1) -> DraftLineItem:
    return DraftLineItem(id=id_, title="Mug", price=Decimal(price), quantity=quantity, applied_discount=discount)


def test_a_fixed_line_discount_is_per_unit_and_never_more_than_the_line() -> None:
    assert rules.line_discount(line("10.00", 3, AppliedDiscount(Decimal("2.00"), "fixed_amount")), "EUR") == Decimal(
        "6.00"
    )
    assert rules.line_discount(line("10.00", 1, AppliedDiscount(Decimal("15.00"), "fixed_amount")), "EUR") == Decimal(
        "10.00"
    )
    assert rules.line_discount(line("9.99", 1, AppliedDiscount(Decimal("33"), "percentage")), "EUR") == Decimal("3.30")


def test_totals_take_the_drafts_discount_after_the_lines_and_add_shipping_and_tax() -> None:
    d = draft(
        line_items=[line("10.00", 2, AppliedDiscount(Decimal("10"), "percentage")), line("5.00", 1, id_=2)],
        applied_discount=AppliedDiscount(Decimal("50"), "percentage"),
        shipping_line=DraftShipping("PostNL", Decimal("4.95")),
        tax_lines=[TaxLine("VAT", Decimal("2.10"), Decimal("0.21"))],
    )
    t = rules.totals(d)
    assert (t.total_line_items_price, t.total_discounts, t.subtotal_price) == (
        Decimal("25.00"),
        Decimal("13.50"),
        Decimal("11.50"),
    )
    assert t.total_price == Decimal("18.55")
    d.taxes_included = True
    assert rules.totals(d).total_price == Decimal("16.45")
    d.tax_exempt = True
    assert rules.totals(d).total_tax == 0


def test_the_order_draft_carries_every_discount_as_manual_allocations_that_add_up() -> None:
    d = draft(
        line_items=[line("10.00", 1, AppliedDiscount(Decimal("1.00"), "fixed_amount")), line("3.33", 3, id_=2)],
        applied_discount=AppliedDiscount(Decimal("5.00"), "fixed_amount", title="Sorry"),
    )
    placed = rules.order_draft(d)
    assert placed.source_name == "shopify_draft_order"
    assert [a.type for a in placed.discount_applications] == ["manual", "manual"]
    allocated = sum(a.amount for li in placed.lines for a in li.discount_allocations)
    assert allocated == rules.totals(d).total_discounts == Decimal("6.00")


def test_checks_and_what_a_completed_draft_refuses() -> None:
    with pytest.raises(InvalidInput) as bad:
        rules.check_discount(AppliedDiscount(Decimal("101"), "percentage"), "applied_discount", "EUR")
    assert bad.value.field == "applied_discount"
    with pytest.raises(InvalidInput):
        rules.check(draft(line_items=[line("1.00", 0)]))
    with pytest.raises(InvalidInput):
        rules.completable(draft())
    done = draft(line_items=[line("1.00", 1)], status="completed", order_id=1001)
    for rule in (rules.editable, rules.completable, rules.deletable):
        with pytest.raises(RuleViolation):
            rule(done)
