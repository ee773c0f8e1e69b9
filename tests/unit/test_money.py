"""Money: rounding to each currency's minor unit, reading amounts, splitting without losing a cent."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from orderdeck.domain.errors import InvalidInput
from orderdeck.domain.money import allocate, check_currency, parse_amount, round_money


# ---- round_money -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("amount", "expected"),
    [("2.345", "2.35"), ("2.344", "2.34"), ("0.005", "0.01"), ("19.9", "19.90"), ("7", "7.00")],
)
def test_euro_amounts_round_to_cents(amount: str, expected: str) -> None:
    rounded = round_money(D(amount), "EUR")
    assert rounded == D(expected)
    assert rounded.as_tuple().exponent == -2


@pytest.mark.parametrize(("amount", "expected"), [("1234.5", "1235"), ("1234.4", "1234"), ("99.99", "100")])
def test_yen_amounts_round_to_whole_yen(amount: str, expected: str) -> None:
    rounded = round_money(D(amount), "JPY")
    assert rounded == D(expected)
    assert rounded.as_tuple().exponent == 0


def test_half_cents_round_away_from_zero_not_to_even() -> None:
    # Merchants expect 0.125 → 0.13 (commercial rounding), not banker's 0.12.
    assert round_money(D("0.125"), "EUR") == D("0.13")
    assert round_money(D("2.5"), "JPY") == D("3")


def test_unknown_currency_code_is_refused_with_its_name() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_currency("EURO")
    assert "EURO" in refused.value.message


def test_currency_code_is_accepted_in_lower_case() -> None:
    assert check_currency("eur") == "EUR"


# ---- parse_amount ----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [("19.99", "19.99"), (19.99, "19.99"), (5, "5.00"), ("0", "0.00")])
def test_amount_parses_from_number_or_string(value: object, expected: str) -> None:
    assert parse_amount(value, "EUR", field="amount") == D(expected)


def test_amount_in_yen_has_no_decimals() -> None:
    assert parse_amount("1500", "JPY", field="amount") == D("1500")
    assert parse_amount("1500.00", "JPY", field="amount") == D("1500")


@pytest.mark.parametrize("value", ["-1", "-0.01", -5])
def test_negative_amount_is_refused(value: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_amount(value, "EUR", field="amount")
    assert refused.value.field == "amount"
    assert "negative" in refused.value.message


@pytest.mark.parametrize("value", ["abc", "", "12,50", "1.2.3", None, True, "NaN", "Infinity", [1]])
def test_junk_amount_is_refused(value: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_amount(value, "EUR", field="price")
    assert refused.value.field == "price"


@pytest.mark.parametrize(("value", "currency"), [("19.999", "EUR"), ("0.001", "EUR"), ("100.5", "JPY")])
def test_amount_with_more_decimals_than_the_currency_allows_is_refused(value: str, currency: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_amount(value, currency, field="amount")
    assert currency in refused.value.message


def test_zero_amount_is_refused_when_not_allowed() -> None:
    with pytest.raises(InvalidInput):
        parse_amount("0.00", "EUR", field="amount", allow_zero=False)


# ---- allocate --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("total", "weights", "currency"),
    [
        ("10.00", ["1", "1", "1"], "EUR"),
        ("0.01", ["1", "1", "1"], "EUR"),
        ("100.00", ["33.33", "33.33", "33.34"], "EUR"),
        ("7.77", ["19.99", "5.01", "0.50", "120.00"], "EUR"),
        ("1000", ["1", "1", "1"], "JPY"),
        ("-5.00", ["3", "3", "3"], "EUR"),
    ],
)
def test_allocation_parts_add_up_to_the_total_exactly(total: str, weights: list[str], currency: str) -> None:
    parts = allocate(D(total), [D(w) for w in weights], currency)
    assert sum(parts) == D(total)
    assert len(parts) == len(weights)
    minor = D("1") if currency == "JPY" else D("0.01")
    assert all(p == p.quantize(minor) for p in parts)


def test_allocation_follows_the_weights() -> None:
    assert allocate(D("10.00"), [D("30"), D("10")], "EUR") == [D("7.50"), D("2.50")]


def test_allocation_differs_by_at_most_one_minor_unit_between_equal_weights() -> None:
    parts = allocate(D("10.00"), [D("1")] * 3, "EUR")
    assert max(parts) - min(parts) == D("0.01")


def test_allocation_over_zero_weights_still_accounts_for_the_total() -> None:
    parts = allocate(D("5.00"), [D("0"), D("0")], "EUR")
    assert sum(parts) == D("5.00")


def test_allocation_over_nothing_is_empty() -> None:
    assert allocate(D("5.00"), [], "EUR") == []
