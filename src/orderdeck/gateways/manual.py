"""The manual gateway: payments collected outside Orderdeck (bank transfer, cash on delivery).

Nothing is charged; a sale starts pending until staff mark the order as paid.
"""

from __future__ import annotations

from decimal import Decimal

from ..domain.payments import GatewayOutcome


class ManualGateway:
    name = "manual"
    online = False

    def authorize(self, amount: Decimal, currency: str, card_number: str | None) -> GatewayOutcome:
        return GatewayOutcome("success")

    def sale(self, amount: Decimal, currency: str, card_number: str | None) -> GatewayOutcome:
        return GatewayOutcome("pending", message="Awaiting payment by the customer")

    def capture(self, authorization: str | None, amount: Decimal, currency: str) -> GatewayOutcome:
        return GatewayOutcome("success")

    def void(self, authorization: str | None) -> GatewayOutcome:
        return GatewayOutcome("success")

    def refund(self, authorization: str | None, amount: Decimal, currency: str) -> GatewayOutcome:
        return GatewayOutcome("success", message="Refund to be paid out by the merchant")
