"""Customers acting on their own order from its status page: cancelling and correcting the
shipping address, changing the items not yet shipped (another quantity, size or colour, as an
order edit), and asking to send items back (optionally for another variant). The same
commands staff use, authored by the customer; staff are told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import select

from ..domain import order_edits as order_edit_rules
from ..domain import returns as return_rules
from ..domain import self_service
from ..domain.cancellation import CancelRequest
from ..domain.errors import InsufficientInventory, InvalidInput, RuleViolation
from ..domain.order import Author, Order, Return
from ..store.catalog import Variant
from ..store.outbox import OutboxMessage
from ..store.shop import ShopSettings
from ..store.tables import products
from ..store.uow import UnitOfWork
from . import order_edits
from . import returns as return_commands
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


# ---- returns -------------------------------------------------------------------------------------
def return_policy(settings: ShopSettings) -> self_service.ReturnPolicy:
    return self_service.ReturnPolicy(
        enabled=settings.returns_enabled,
        window_days=settings.return_window_days,
        window_from=settings.return_window_from,
        final_sale_tags=frozenset(self_service.tags_of(settings.final_sale_tags)),
        allow_exchanges=settings.returns_allow_exchanges,
        need_approval=settings.return_requests_need_approval,
        shipping_fee=Decimal(settings.return_shipping_fee or "0"),
        restocking_fee_percentage=Decimal(str(settings.restocking_fee_percentage or 0)),
        instructions=settings.return_instructions,
    )


def final_sale_products(uow: UnitOfWork, order: Order, policy: self_service.ReturnPolicy) -> set[int]:
    """The order's products that carry one of the shop's final-sale tags (as they are tagged
    now: a product tagged final sale after the order was placed is final sale too)."""
    ids = sorted({li.product_id for li in order.line_items if li.product_id is not None})
    if not policy.final_sale_tags or not ids:
        return set()
    rows = uow.conn.execute(select(products.c.id, products.c.tags).where(products.c.id.in_(ids)))
    return {row.id for row in rows if self_service.tags_of(row.tags) & policy.final_sale_tags}


def _in_stock(variant: Variant, available: dict[int, int]) -> bool:
    if not variant.inventory_tracked or variant.inventory_policy == "continue":
        return True
    return available.get(variant.id, 0) > 0


def exchange_choices(uow: UnitOfWork, product_ids: set[int]) -> dict[int, list[Variant]]:
    """For each product, the variants a customer may exchange to now: those in stock (or sold
    without counting stock)."""
    found = uow.catalog.variants_of(sorted(product_ids))
    tracked = [v.id for variants in found.values() for v in variants if v.inventory_tracked]
    available = uow.catalog.available_by_item(tracked)
    return {pid: [v for v in variants if _in_stock(v, available)] for pid, variants in found.items()}


@dataclass(frozen=True)
class ReturnOptions:
    """What the status page's return form offers for one order."""

    policy: self_service.ReturnPolicy
    units: list[self_service.ReturnableUnit]
    exchanges: dict[int, list[Variant]]  # product id -> variants offered (none when exchanges are off)

    @property
    def any_returnable(self) -> bool:
        return any(u.returnable > 0 for u in self.units)


def return_options(uow: UnitOfWork, order: Order) -> ReturnOptions | None:
    """The return form for this order, or None when the shop takes no returns for it."""
    policy = return_policy(uow.shop.settings)
    if self_service.return_refusal(order, policy) is not None:
        return None
    units = self_service.returnable_units(
        order, policy, now=uow.now, final_sale_products=final_sale_products(uow, order, policy)
    )
    offered: dict[int, list[Variant]] = {}
    if policy.allow_exchanges:
        wanted = {u.product_id for u in units if u.returnable > 0 and u.product_id is not None}
        choices = exchange_choices(uow, wanted)
        offered = {
            pid: [v for v in variants if v.id not in {u.variant_id for u in units if u.product_id == pid}]
            for pid, variants in choices.items()
        }
    return ReturnOptions(policy=policy, units=units, exchanges=offered)


def request_return(cmd: Command, order_id: int, lines: list[self_service.CustomerReturnLine]) -> Return:
    """The customer asks to send items back: checked against the shop's policy, then the same
    return command staff use, `requested` (staff approve or decline it) or `open` at once when
    the shop does not review requests; the customer is e-mailed, staff are told."""
    order = cmd.uow.orders.get(order_id, for_update=True)
    policy = return_policy(cmd.uow.shop.settings)
    finals = final_sale_products(cmd.uow, order, policy)
    product_of = {li.id: li.product_id for li in order.line_items}
    wanted = {pid for pid in product_of.values() if pid is not None}
    choices = exchange_choices(cmd.uow, wanted) if any(line.exchange_variant_id for line in lines) else {}
    self_service.check_request(
        order,
        policy,
        lines,
        now=cmd.now,
        final_sale_products=finals,
        exchange_variants={pid: {v.id for v in variants} for pid, variants in choices.items()},
    )
    chosen = [line for line in lines if line.quantity > 0]
    fee = policy.restocking_fee_percentage or None
    request = return_rules.ReturnRequest(
        lines=[
            return_rules.ReturnLineRequest(
                fulfillment_line_item_id=line.fulfillment_line_item_id,
                quantity=line.quantity,
                return_reason=line.reason,
                return_reason_note=line.note.strip() if line.reason == "other" else "",
                customer_note=line.note.strip() or None,
                restocking_fee_percentage=fee,
            )
            for line in chosen
        ],
        exchanges=return_commands.exchange_variants(
            cmd,
            [
                (line.exchange_variant_id, line.quantity, None, None, None)
                for line in chosen
                if line.exchange_variant_id
            ],
        ),
        shipping_fee=order.presentment(policy.shipping_fee) if policy.shipping_fee else None,
    )
    status = "requested" if policy.need_approval else "open"
    _, ret = return_commands.start(
        cmd,
        order_id,
        return_commands.StartReturn(request, status=status, notify=True, allow_exchanges=policy.allow_exchanges),
    )
    units = ret.total_quantity
    what = "asked to return" if status == "requested" else "is returning"
    _tell_staff(
        cmd,
        order_id,
        "customer_requested_return",
        f"the customer {what} {units} item{'s' if units != 1 else ''} ({ret.name})",
    )
    return ret


# ---- changing the items (issue 14) -------------------------------------------------------------
def edit_policy(settings: ShopSettings) -> self_service.EditPolicy:
    return self_service.EditPolicy(
        enabled=settings.self_service and settings.customer_edits,
        may_raise_total=settings.customer_edits_may_raise_total,
    )


def _edit_window(settings: ShopSettings) -> timedelta:
    return timedelta(minutes=settings.self_service_window_minutes)


@dataclass(frozen=True)
class EditOptions:
    """What the status page's "Change items" form offers for one order."""

    policy: self_service.EditPolicy
    lines: list[self_service.EditableLine]
    switches: dict[int, list[Variant]]  # line id -> the variants it may become (same product and price, in stock)


def switch_choices(uow: UnitOfWork, lines: list[self_service.EditableLine]) -> dict[int, list[Variant]]:
    """For each line, the other variants of its product at the same price, in stock (or sold
    without counting stock): a size or colour the customer may switch to."""
    offered = exchange_choices(uow, {line.product_id for line in lines if line.product_id is not None})
    return {
        line.line_item_id: [
            v for v in offered.get(line.product_id or 0, []) if v.id != line.variant_id and v.price == line.price
        ]
        for line in lines
    }


def edit_options(uow: UnitOfWork, order: Order) -> EditOptions | None:
    """The "Change items" form for this order, or None when the customer may not change it."""
    settings = uow.shop.settings
    policy = edit_policy(settings)
    if self_service.edit_refusal(order, now=uow.now, window=_edit_window(settings), policy=policy) is not None:
        return None
    lines = self_service.editable_lines(order)
    return EditOptions(policy=policy, lines=lines, switches=switch_choices(uow, lines))


def _stage_edit(
    cmd: Command, order_id: int, choices: list[self_service.EditChoice]
) -> tuple[order_edit_rules.OrderEdit, order_edit_rules.CalculatedOrder]:
    """Check the choices against the shop's policy and stage them as an order edit: a line's
    units kept or taken off (restocked), a switched line's units added as the other variant
    (with the discount its units had). Refused, it raises at the field; the caller's unit of work
    rolls everything back."""
    order = cmd.uow.orders.get(order_id, for_update=False)
    settings = cmd.uow.shop.settings
    policy = edit_policy(settings)
    lines = {line.line_item_id: line for line in self_service.editable_lines(order)}
    offered = switch_choices(cmd.uow, list(lines.values()))
    changed = self_service.check_edit(
        order,
        policy,
        choices,
        now=cmd.now,
        window=_edit_window(settings),
        switches={at: {v.id for v in variants} for at, variants in offered.items()},
    )
    edit, calculated = order_edits.begin(cmd, order_id)
    for choice in changed:
        line = lines[choice.line_item_id]
        kept = 0 if choice.variant_id is not None else choice.quantity
        field = f"quantity_{line.line_item_id}"
        try:
            if line.fixed + kept != line.quantity:
                edit, calculated = order_edits.set_quantity(
                    cmd, edit.id, line_item_id=line.line_item_id, quantity=line.fixed + kept, restock=True
                )
            if choice.variant_id is None:
                continue
            field = f"variant_{line.line_item_id}"
            edit, calculated = order_edits.add_variant(
                cmd, edit.id, variant_id=choice.variant_id, quantity=choice.quantity, allow_duplicates=True
            )
        except InsufficientInventory as exc:
            raise InsufficientInventory(exc.message, field=field, code="insufficient_inventory") from None
        ordered = order.line_item(line.line_item_id)
        if ordered is not None and ordered.total_discount > 0 and ordered.quantity:
            # The same price means the same price paid: the switched units take with them the
            # exact discount they leave behind (shop currency, no rounding on the way).
            carried = order_edit_rules.discount_taken_off(order, ordered, line.fixed + kept)
            if carried > 0:
                edit, calculated = order_edits.carry_discount(
                    cmd,
                    edit.id,
                    line_item_id=edit.added_items()[-1].id,
                    amount=carried,
                    description=f"Discount of {ordered.name}",
                )
    outcome = calculated.outcome
    assert outcome is not None  # check_edit returned only choices that change something
    why = self_service.total_refusal(outcome.total_before, outcome.total_after, policy)
    if why is not None:
        raise RuleViolation("This change would raise the order's total", field="base", code=why)
    return edit, calculated


def preview_edit(
    cmd: Command, order_id: int, choices: list[self_service.EditChoice]
) -> order_edit_rules.CalculatedOrder:
    """The order as the customer's choices would leave it ("review your change"). Call it in a
    unit of work that is not committed: the staged edit is thrown away with it."""
    _, calculated = _stage_edit(cmd, order_id, choices)
    return calculated


def edit_items(
    cmd: Command,
    order_id: int,
    choices: list[self_service.EditChoice],
    *,
    reviewed_total: str,
    reviewed_version: int | None = None,
) -> order_edit_rules.OrderEdit:
    """Make the change the customer reviewed: the same staging, committed as the customer with
    the "order edited" e-mail; staff are told. `reviewed_total` is the new total the customer
    saw (presentment currency) and `reviewed_version` the order's version then: when the order
    changed since (staff shipped it, or the page was sent twice) or the change would now come
    to another total (a price changed), nothing is made and they review it again."""
    changed = RuleViolation("The order or a price changed since the review", field="base", code="changed_meanwhile")
    current = cmd.uow.orders.get(order_id, for_update=False)
    if reviewed_version is not None and current.version != reviewed_version:
        raise changed
    edit, calculated = _stage_edit(cmd, order_id, choices)
    if f"{calculated.edited.presentment(calculated.edited.total_price):.2f}" != reviewed_total:
        raise changed
    order, edit, _ = order_edits.commit(cmd, edit.id, notify_customer=True)
    outcome = edit.outcome
    assert outcome is not None
    money = ""
    if outcome.balance_after > 0:
        money = f"; {outcome.balance_after:.2f} {order.presentment_currency} is left to collect"
    elif outcome.balance_after < 0:
        money = f"; {-outcome.balance_after:.2f} {order.presentment_currency} can be refunded"
    described = order_edit_rules.describe(order, outcome)
    _tell_staff(cmd, order_id, "customer_edited", f"the customer changed the items ({described}){money}")
    return edit
