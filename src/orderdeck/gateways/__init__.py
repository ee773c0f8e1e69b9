"""Payment gateways behind one interface.

The engine asks a gateway to authorize, sell, capture, void or refund and records what it
answered (`GatewayOutcome`). `manual` covers payments collected outside Orderdeck (bank transfer,
cash on delivery); `bogus` is Shopify's deterministic test gateway. A real provider is one more
class with these five methods, registered by name in `GatewayRegistry`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from ..domain.payments import GatewayOutcome, is_manual_gateway
from .bogus import BogusGateway
from .manual import ManualGateway


class Gateway(Protocol):
    name: str
    online: bool

    def authorize(self, amount: Decimal, currency: str, card_number: str | None) -> GatewayOutcome: ...

    def sale(self, amount: Decimal, currency: str, card_number: str | None) -> GatewayOutcome: ...

    def capture(self, authorization: str | None, amount: Decimal, currency: str) -> GatewayOutcome: ...

    def void(self, authorization: str | None) -> GatewayOutcome: ...

    def refund(self, authorization: str | None, amount: Decimal, currency: str) -> GatewayOutcome: ...


class GatewayRegistry:
    def __init__(self, gateways: list[Gateway] | None = None) -> None:
        self._by_name: dict[str, Gateway] = {}
        for gateway in gateways or [ManualGateway(), BogusGateway()]:
            self._by_name[gateway.name] = gateway

    def processes(self, name: str) -> Gateway | None:
        """The gateway that really moves money under this name; None for payments that an
        outside system (a storefront's own checkout) reports as already done."""
        return self._by_name.get(name.strip().lower())

    def for_follow_up(self, name: str) -> Gateway:
        """Captures, voids and refunds go back to the gateway of the original payment; manual
        payment methods are settled outside, so the manual gateway records them."""
        found = self.processes(name)
        if found is not None:
            return found
        return self._by_name["manual"] if is_manual_gateway(name) else _External(name)


class _External:
    """A gateway Orderdeck does not talk to (the storefront charged the card itself): follow-up
    actions are recorded as done, since the system that owns the payment reports them."""

    online = True

    def __init__(self, name: str) -> None:
        self.name = name

    def authorize(self, amount: Decimal, currency: str, card_number: str | None) -> GatewayOutcome:
        return GatewayOutcome("success")

    def sale(self, amount: Decimal, currency: str, card_number: str | None) -> GatewayOutcome:
        return GatewayOutcome("success")

    def capture(self, authorization: str | None, amount: Decimal, currency: str) -> GatewayOutcome:
        return GatewayOutcome("success", authorization=authorization)

    def void(self, authorization: str | None) -> GatewayOutcome:
        return GatewayOutcome("success", authorization=authorization)

    def refund(self, authorization: str | None, amount: Decimal, currency: str) -> GatewayOutcome:
        return GatewayOutcome("success", authorization=authorization)


__all__ = ["BogusGateway", "Gateway", "GatewayRegistry", "ManualGateway"]
