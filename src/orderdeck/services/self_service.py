"""Customers acting on their own order from its status page: cancelling and correcting the
shipping address. The same commands staff use, authored by the customer; staff are told."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from ..domain import self_service
from ..domain.cancellation import CancelRequest
from ..domain.errors import InvalidInput, RuleViolation
from ..domain.order import Author, Order
from ..store.outbox import OutboxMessage
from ..store.shop import ShopSettings
from .cancellation import cancel_order
from .context import Command
from .orders import edit_order

CUSTOMER = Author(kind="customer", name="Customer")
ADDRESS_FIELDS = ("first_name", "last_name", "address1", "address2", "zip", "city", "phone")


def refusal(settings: ShopSettings, order: Order, now: datetime) -> str | None:
    """Why the customer may not change the order now (the shop's policy, then the rules)."""
    if not settings.self_service:
        return "off"
    return self_service.refusal(order, now=now, window=timedelta(minutes=settings.self_service_window_minutes))


def _check(cmd: Command, order_id: int) -> Order:
    order = cmd.uow.orders.get(order_id, for_update=True)
    why = refusal(cmd.uow.shop.settings, order, cmd.now)
    if why is not None:
        raise RuleViolation(f"This order can no longer be changed here ({why})", field="base")
    return order


def _tell_staff(cmd: Command, order_id: int, topic: str, message: str) -> None:
    order = cmd.uow.orders.get(order_id, for_update=False)
    payload = {"order_id": order_id, "name": order.name, "subject": f"{order.name}: {message}", "message": message}
    cmd.uow.outbox.put([OutboxMessage("staff_alert", topic, orjson.dumps(payload).decode(), order_id)], cmd.now)


def cancel(cmd: Command, order_id: int, reason: str) -> bytes:
    """Cancel as the customer: refund to the original payment, restock to the original location,
    the cancellation e-mail to the customer, an e-mail to staff."""
    _check(cmd, order_id)
    if reason not in cmd.uow.shop.settings.self_service_reasons:
        raise InvalidInput("choose one of the reasons offered", field="reason")
    request = CancelRequest(
        reason="customer",
        refund=True,
        restock=True,
        notify_customer=True,
        staff_note=f"Cancelled by the customer on the order status page ({reason.replace('_', ' ')}).",
    )
    rendered = cancel_order(cmd, order_id, request)
    _tell_staff(cmd, order_id, "customer_cancelled", f"the customer cancelled the order ({reason.replace('_', ' ')})")
    return rendered


def correct_address(cmd: Command, order_id: int, fields: dict[str, Any]) -> bytes:
    """Correct the shipping address (not its country: shipping and tax were priced for it)."""
    order = _check(cmd, order_id)
    if order.shipping_address is None:
        raise RuleViolation("This order has no shipping address to correct", field="base")
    changes = {k: (str(v).strip() or None) for k, v in fields.items() if k in ADDRESS_FIELDS}
    for required in ("address1", "city"):
        if not changes.get(required):
            raise InvalidInput("can't be blank", field=required)
    if any(len(v or "") > 255 for v in changes.values()):
        raise InvalidInput("is longer than 255 characters", field="address1")
    address = {**{k: v for k, v in _as_dict(order.shipping_address).items()}, **changes}
    rendered = edit_order(cmd, order_id, {"shipping_address": address})
    _tell_staff(cmd, order_id, "customer_changed_address", "the customer corrected the shipping address")
    return rendered


def _as_dict(address: Any) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(address)
