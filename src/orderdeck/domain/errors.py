"""Typed refusals. Each carries a machine-readable code and a sentence a merchant can act on.

The API turns `NotFound` into 404, `Forbidden` into 403 and every other `OrderError` into 422
with Shopify's error shape; the field (when there is one) becomes the key of that shape.
"""

from __future__ import annotations


class OrderError(Exception):
    """A command was refused; nothing was changed."""

    code = "invalid"

    def __init__(self, message: str, *, field: str = "base", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(OrderError):
    code = "invalid"


class RuleViolation(OrderError):
    """The input is well formed but the order's state does not allow the command."""

    code = "not_allowed"


class NotFound(OrderError):
    code = "not_found"


class Forbidden(OrderError):
    code = "forbidden"


class InsufficientInventory(RuleViolation):
    code = "insufficient_inventory"
