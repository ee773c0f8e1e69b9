"""Shopify's Bogus Gateway, for tests and demos: the card number decides the outcome.

As in Shopify: "1" succeeds, "2" is declined, "3" fails with a processing error. Real test
card numbers work too (4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined). The
authorization key is derived from the amount and card, so the same input always gives the same
answer.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from ..domain.payments import GatewayOutcome

SUCCEEDS = {"1", "4242424242424242", "5555555555554444", "378282246310005"}
DECLINED = {"2", "4000000000000002"}
ERRORS = {"3", "4000000000000119"}
COMPANIES = {"4": "Visa", "5": "Mastercard", "3": "American Express"}


def _mask(number: str) -> str:
    return f"•••• •••• •••• {number[-4:]}" if len(number) >= 4 else f"•••• {number}"


class BogusGateway:
    name = "bogus"
    online = True

    def _charge(self, amount: Decimal, currency: str, card_number: str | None) -> GatewayOutcome:
        number = "".join(ch for ch in (card_number or "1") if ch.isdigit())
        masked = _mask(number)
        company = COMPANIES.get(number[0], "Bogus") if len(number) > 1 else "Bogus"
        key = hashlib.sha256(f"{number}:{amount}:{currency}".encode()).hexdigest()[:12]
        common = {"credit_card_number": masked, "credit_card_company": company}
        if number in DECLINED:
            return GatewayOutcome(
                "failure",
                error_code="card_declined",
                message="Your card was declined",
                receipt={"testcase": True},
                **common,
            )
        if number in ERRORS:
            return GatewayOutcome(
                "error",
                error_code="processing_error",
                message="Bogus gateway: forced processing error",
                receipt={"testcase": True},
                **common,
            )
        if number not in SUCCEEDS:
            return GatewayOutcome(
                "failure",
                error_code="invalid_number",
                message="Bogus gateway: use card 1 (success), 2 (decline) or 3 (error)",
                receipt={"testcase": True},
                **common,
            )
        return GatewayOutcome("success", authorization=key, receipt={"testcase": True, "authorization": key}, **common)

    def authorize(self, amount: Decimal, currency: str, card_number: str | None) -> GatewayOutcome:
        return self._charge(amount, currency, card_number)

    def sale(self, amount: Decimal, currency: str, card_number: str | None) -> GatewayOutcome:
        return self._charge(amount, currency, card_number)

    def capture(self, authorization: str | None, amount: Decimal, currency: str) -> GatewayOutcome:
        return GatewayOutcome("success", authorization=authorization, receipt={"testcase": True})

    def void(self, authorization: str | None) -> GatewayOutcome:
        return GatewayOutcome("success", authorization=authorization, receipt={"testcase": True})

    def refund(self, authorization: str | None, amount: Decimal, currency: str) -> GatewayOutcome:
        return GatewayOutcome("success", authorization=authorization, receipt={"testcase": True})
