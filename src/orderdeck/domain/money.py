"""Money: decimal amounts rounded to the minor unit of their currency.

An order keeps the shop's currency and the customer's presentment currency side by side
(S3.4). Amounts are recorded in the shop currency; the presentment amount of any field is that
amount times the order's fixed exchange rate, rounded to the presentment currency's minor unit.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import get_currency_precision, list_currencies

from .errors import InvalidInput

ZERO = Decimal("0")
# Amounts have at most 14 digits before the point (the API's Amount: 18 digits, 4 of them
# decimals); a larger one is a typo or an attack, and could not be rounded or stored.
MAX_AMOUNT = Decimal(10) ** 14
_KNOWN_CURRENCIES = frozenset(list_currencies())


def check_currency(code: str, *, field: str = "currency") -> str:
    code = (code or "").upper()
    if code not in _KNOWN_CURRENCIES:
        raise InvalidInput(f"{code or 'an empty value'} is not an ISO 4217 currency code", field=field)
    return code


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit (cents for EUR, none for JPY)."""
    exponent = Decimal(1).scaleb(-get_currency_precision(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def parse_amount(value: object, currency: str, *, field: str, allow_zero: bool = True) -> Decimal:
    """Read an amount sent as a number or a string; refuse negatives and junk with a clear error."""
    if isinstance(value, bool) or value is None:
        raise InvalidInput('must be an amount such as "19.99"', field=field)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        shown = str(value)[:40]
        raise InvalidInput(f'{shown!r} is not an amount; send a number such as "19.99"', field=field) from None
    if not amount.is_finite():
        raise InvalidInput("must be a finite amount", field=field)
    if amount < 0:
        raise InvalidInput("must not be negative", field=field)
    if amount >= MAX_AMOUNT:
        raise InvalidInput(f"must be less than {MAX_AMOUNT:,}", field=field)
    if amount == 0 and not allow_zero:
        raise InvalidInput("must be greater than 0", field=field)
    rounded = round_money(amount, currency)
    if rounded != amount.normalize() and rounded != amount:
        raise InvalidInput(f"{str(value)[:40]} has more decimals than {currency} allows", field=field)
    return rounded


def allocate(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """Split `total` across `weights` so the parts add up exactly (largest remainder first).

    Used to spread an order-level discount or refund over lines without losing a cent.
    """
    if not weights:
        return []
    weight_sum = sum(weights, ZERO)
    if weight_sum == 0:
        parts = [ZERO] * len(weights)
        parts[0] = total
        return parts
    raw = [total * w / weight_sum for w in weights]
    exponent = Decimal(1).scaleb(-get_currency_precision(currency))
    parts = [r.quantize(exponent, rounding=ROUND_HALF_EVEN) for r in raw]
    remainder = total - sum(parts, ZERO)
    step = exponent if remainder > 0 else -exponent
    order = sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=remainder > 0)
    i = 0
    while remainder != 0 and order:
        parts[order[i % len(order)]] += step
        remainder -= step
        i += 1
    return parts
