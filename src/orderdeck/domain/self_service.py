"""What customers may do to their own order from its status page: cancel it, or correct its
shipping address, within the shop's window and only while it is safe to (S9.4); send shipped
items back, within the shop's return policy (issue 13)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from .errors import InvalidInput, RuleViolation
from .money import ZERO
from .order import Fulfillment, LineItem, Order
from .order_edits import editable_quantity, exchange_line_ids
from .returns import MAX_NOTE, RETURN_REASONS, fulfillment_line_items, returnable_quantities
from .statuses import financial_status

REASONS = ("changed_my_mind", "wrong_item", "better_price", "other")
CLOSED_PAYMENTS = ("refunded", "partially_refunded", "voided")


def refusal(order: Order, *, now: datetime, window: timedelta) -> str | None:
    """Why the customer may not change this order any more, in a few words; None when they may."""
    if order.cancelled_at is not None:
        return "cancelled"
    if order.closed_at is not None:
        return "archived"
    if now > order.processed_at + window:
        return "too_late"
    if any(order.fulfilled_quantity(li.id) > 0 for li in order.line_items):
        return "fulfilled"
    if any(h.reason == "high_risk_of_fraud" for fo in order.fulfillment_orders for h in fo.fulfillment_holds):
        return "on_hold"
    if financial_status(order) in CLOSED_PAYMENTS or any(t.expired_at for t in order.transactions):
        return "payment_closed"
    return None


# ---- returns from the status page (issue 13) -------------------------------------------------
# Shopify's return reasons a customer may pick ("unknown" is for staff who were not told).
CUSTOMER_RETURN_REASONS = tuple(r for r in RETURN_REASONS if r != "unknown")
WINDOW_FROM = ("delivery", "fulfillment")
# Why a fulfilled unit can't be sent back from the status page (the page words each one).
UNIT_REFUSALS = ("window_passed", "final_sale", "already_returned")


@dataclass(frozen=True)
class ReturnPolicy:
    """The shop's return policy (ShopSettings' return keys), as the rules read it."""

    enabled: bool = True
    window_days: int = 30
    window_from: str = "delivery"  # delivery | fulfillment
    final_sale_tags: frozenset[str] = frozenset()  # lower case
    allow_exchanges: bool = True
    need_approval: bool = True
    shipping_fee: Decimal = ZERO  # shop currency
    restocking_fee_percentage: Decimal = ZERO
    instructions: str = ""


@dataclass(frozen=True)
class ReturnableUnit:
    """One shipped line of the order as the customer's return form sees it."""

    fulfillment_line_item_id: int
    line_item_id: int
    product_id: int | None
    variant_id: int | None
    title: str
    variant_title: str | None
    shipped: int  # units on this fulfillment line
    returnable: int  # units the customer may send back now (0 when refused)
    refusal: str | None  # one of UNIT_REFUSALS when returnable is 0
    until: datetime  # when the window closes for these units


def tags_of(text: str | list[str] | None) -> set[str]:
    """Tags as Orderdeck stores them (a product's comma-separated text, an order's list), in
    lower case: tags are matched without regard to case, as in Shopify."""
    items = text.split(",") if isinstance(text, str) else (text or [])
    return {t.strip().lower() for t in items if t and t.strip()}


def window_opens(fulfillment: Fulfillment, window_from: str) -> datetime:
    """When the return window starts for units of this shipment: the carrier's latest
    `delivered` event when counting from delivery and there is one, else when it shipped."""
    if window_from == "delivery":
        delivered = [e.happened_at for e in fulfillment.events if e.status == "delivered"]
        if delivered:
            return max(delivered)
    return fulfillment.created_at


def is_final_sale(order: Order, line: LineItem, policy: ReturnPolicy, final_sale_products: set[int]) -> bool:
    """A unit is final sale when its product, or the order, carries one of the shop's
    final-sale tags (`final_sale_products`: the products of this order that carry one)."""
    if not policy.final_sale_tags:
        return False
    if tags_of(order.tags) & policy.final_sale_tags:
        return True
    return line.product_id is not None and line.product_id in final_sale_products


def returnable_units(
    order: Order, policy: ReturnPolicy, *, now: datetime, final_sale_products: set[int]
) -> list[ReturnableUnit]:
    """Every shipped line of the order with what the customer may still send back, and why
    not when nothing: the window has passed, it is final sale, or every unit is already
    returned (or refunded). Exchange items the customer got are lines like any other."""
    left = returnable_quantities(order)
    units = []
    for f, fl in fulfillment_line_items(order):
        line = order.line_item(fl.line_item_id)
        if fl.id == 0 or line is None:
            continue
        until = window_opens(f, policy.window_from) + timedelta(days=policy.window_days)
        refusal_: str | None = None
        if left.get(fl.id, 0) <= 0:
            refusal_ = "already_returned"
        elif is_final_sale(order, line, policy, final_sale_products):
            refusal_ = "final_sale"
        elif now > until:
            refusal_ = "window_passed"
        units.append(
            ReturnableUnit(
                fulfillment_line_item_id=fl.id,
                line_item_id=line.id,
                product_id=line.product_id,
                variant_id=line.variant_id,
                title=line.title,
                variant_title=line.variant_title,
                shipped=fl.quantity,
                returnable=0 if refusal_ else left.get(fl.id, 0),
                refusal=refusal_,
                until=until,
            )
        )
    return units


def return_refusal(order: Order, policy: ReturnPolicy) -> str | None:
    """Why this order offers no return form at all (before looking at its units): `off` (the
    shop takes no returns from the status page), `cancelled`, `not_shipped`."""
    if not policy.enabled:
        return "off"
    if order.cancelled_at is not None:
        return "cancelled"
    if not fulfillment_line_items(order):
        return "not_shipped"
    return None


@dataclass(frozen=True)
class CustomerReturnLine:
    """What the customer asked for one shipped line on the form."""

    fulfillment_line_item_id: int
    quantity: int
    reason: str
    note: str = ""
    exchange_variant_id: int | None = None


def check_request(
    order: Order,
    policy: ReturnPolicy,
    lines: list[CustomerReturnLine],
    *,
    now: datetime,
    final_sale_products: set[int],
    exchange_variants: dict[int, set[int]],
) -> None:
    """Refuse what the policy does not allow, at the form field it concerns (`quantity_<id>`,
    `reason_<id>`, `note_<id>`, `exchange_<id>`; `base` for the form). `exchange_variants`: for
    each product of the order, the variants a customer may exchange to now (in stock).
    The return rules (domain/returns.py) check the rest once the request is made."""
    why = return_refusal(order, policy)
    if why is not None:
        raise RuleViolation(f"Returns can't be requested for this order ({why})", code=why)
    chosen = [line for line in lines if line.quantity != 0]
    if not chosen:
        raise InvalidInput("choose at least one item to return", field="base", code="nothing_chosen")
    units = {
        u.fulfillment_line_item_id: u
        for u in returnable_units(order, policy, now=now, final_sale_products=final_sale_products)
    }
    for line in chosen:
        at = line.fulfillment_line_item_id
        unit = units.get(at)
        if unit is None:
            raise InvalidInput("is not an item of this order that was shipped", field="base", code="unknown_item")
        if unit.refusal is not None:
            raise RuleViolation(
                f"{unit.title} can't be returned ({unit.refusal})", field=f"quantity_{at}", code=unit.refusal
            )
        if line.quantity < 0 or line.quantity > unit.returnable:
            raise InvalidInput(f"choose between 0 and {unit.returnable}", field=f"quantity_{at}", code="quantity")
        if line.reason not in CUSTOMER_RETURN_REASONS:
            raise InvalidInput("choose a reason", field=f"reason_{at}", code="reason")
        if line.reason == "other" and not line.note.strip():
            raise InvalidInput("tell us the reason", field=f"note_{at}", code="note_needed")
        if len(line.note) > MAX_NOTE["customer_note"]:
            raise InvalidInput(
                f"can be at most {MAX_NOTE['customer_note']} characters", field=f"note_{at}", code="note_too_long"
            )
        if line.exchange_variant_id is not None:
            if not policy.allow_exchanges:
                raise RuleViolation("this shop does not offer exchanges", field=f"exchange_{at}", code="no_exchanges")
            offered = exchange_variants.get(unit.product_id or 0, set()) - {unit.variant_id}
            if line.exchange_variant_id not in offered:
                raise RuleViolation(
                    "this variant can't be chosen (out of stock or not of this product)",
                    field=f"exchange_{at}",
                    code="exchange_unavailable",
                )


# ---- changing what was ordered from the status page (issue 14) -------------------------------
# Why the customer may not change the order's items; the page words each one.
EDIT_REFUSALS = ("off", "cancelled", "archived", "too_late", "on_hold", "payment_closed", "fulfilled")
# Fulfillment orders whose unfulfilled units still wait in the shop (in_progress: some of its
# units shipped) and were not handed to a fulfillment service (a request submitted or accepted).
# Only those units are the customer's to change.
WAITING_STATUSES = ("open", "in_progress", "scheduled", "on_hold")
WAITING_REQUESTS = ("unsubmitted", "rejected")


@dataclass(frozen=True)
class EditPolicy:
    """The shop's settings for customers changing items (ShopSettings' customer_edits keys)."""

    enabled: bool = False  # self_service and customer_edits both on
    may_raise_total: bool = False


@dataclass(frozen=True)
class EditableLine:
    """One line of the order as the customer's edit form sees it."""

    line_item_id: int
    product_id: int | None
    variant_id: int
    title: str
    variant_title: str | None
    price: Decimal  # per unit before discounts, shop currency: what a switch must cost the same as
    quantity: int  # units on the order now
    editable: int  # of those, units the customer may take off or switch (still waiting in the shop)

    @property
    def fixed(self) -> int:
        """Units that stay whatever the customer chooses (shipped or on their way)."""
        return self.quantity - self.editable

    @property
    def name(self) -> str:
        return f"{self.title} - {self.variant_title}" if self.variant_title else self.title


@dataclass(frozen=True)
class EditChoice:
    """What the customer chose for one line: how many of its editable units to keep, and of
    which variant (None: the line's own)."""

    line_item_id: int
    quantity: int
    variant_id: int | None = None


def _waiting_units(order: Order, line: LineItem) -> int:
    return sum(
        fol.fulfillable_quantity
        for fo in order.fulfillment_orders
        if fo.status in WAITING_STATUSES and fo.request_status in WAITING_REQUESTS
        for fol in fo.line_items
        if fol.line_item_id == line.id
    )


def editable_lines(order: Order) -> list[EditableLine]:
    """The catalogue lines with units the customer may still change: not fulfilled, not refunded,
    not handed to a fulfillment service, not an exchange item of a return (the return owns those)."""
    held = exchange_line_ids(order)
    found = []
    for line in order.line_items:
        if line.variant_id is None or line.id in held:
            continue
        current = order.current_quantity(line)
        editable = min(editable_quantity(order, line), _waiting_units(order, line), current)
        if current <= 0 or editable <= 0:
            continue
        found.append(
            EditableLine(
                line_item_id=line.id,
                product_id=line.product_id,
                variant_id=line.variant_id,
                title=line.title,
                variant_title=line.variant_title,
                price=line.price,
                quantity=current,
                editable=editable,
            )
        )
    return found


def edit_refusal(order: Order, *, now: datetime, window: timedelta, policy: EditPolicy) -> str | None:
    """Why the customer may not change the order's items now (one of EDIT_REFUSALS); None when
    they may. Unlike cancelling, some units having shipped does not stop it: the rest may change."""
    if not policy.enabled:
        return "off"
    if order.cancelled_at is not None:
        return "cancelled"
    if order.closed_at is not None:
        return "archived"
    if now > order.processed_at + window:
        return "too_late"
    if any(h.reason == "high_risk_of_fraud" for fo in order.fulfillment_orders for h in fo.fulfillment_holds):
        return "on_hold"
    if financial_status(order) in CLOSED_PAYMENTS or any(t.expired_at for t in order.transactions):
        return "payment_closed"
    if not editable_lines(order):
        return "fulfilled"
    return None


MAX_EXTRA_UNITS = 10  # more of a line than it had, when the shop lets customers raise the total


def check_edit(
    order: Order,
    policy: EditPolicy,
    choices: list[EditChoice],
    *,
    now: datetime,
    window: timedelta,
    switches: dict[int, set[int]],
) -> list[EditChoice]:
    """Refuse what the shop does not let the customer change, at the form field it concerns
    (`quantity_<line id>`, `variant_<line id>`; `base` for the form), and return the choices
    that change something. `switches`: for each editable line, the variants it may become now
    (same product, same price, in stock). The order edit rules check the rest when staged."""
    why = edit_refusal(order, now=now, window=window, policy=policy)
    if why is not None:
        raise RuleViolation(f"This order's items can't be changed here ({why})", field="base", code=why)
    lines = {line.line_item_id: line for line in editable_lines(order)}
    changed = []
    for choice in choices:
        line = lines.get(choice.line_item_id)
        at = choice.line_item_id
        if line is None:
            raise RuleViolation(
                "this item can't be changed any more (it is on its way)", field=f"quantity_{at}", code="line_fixed"
            )
        most = line.editable + (MAX_EXTRA_UNITS if policy.may_raise_total else 0)
        if choice.quantity < 0 or choice.quantity > most:
            code = "no_more_units" if choice.quantity > line.editable else "quantity"
            raise InvalidInput(f"choose between 0 and {most}", field=f"quantity_{at}", code=code)
        switched = choice.variant_id is not None and choice.variant_id != line.variant_id
        if switched and choice.variant_id not in switches.get(at, set()):
            raise RuleViolation(
                "this variant can't be chosen (another product or price, or out of stock)",
                field=f"variant_{at}",
                code="variant_unavailable",
            )
        if switched and choice.quantity > 0:
            changed.append(EditChoice(at, choice.quantity, choice.variant_id))
        elif choice.quantity != line.editable:
            changed.append(EditChoice(at, choice.quantity))
    if not changed:
        raise InvalidInput("change a quantity or choose another option first", field="base", code="nothing_changed")
    return changed


def total_refusal(total_before: Decimal, total_after: Decimal, policy: EditPolicy) -> str | None:
    """`raises_total` when the change leaves the customer more to pay and the shop does not let
    customers do that themselves."""
    if total_after > total_before and not policy.may_raise_total:
        return "raises_total"
    return None
