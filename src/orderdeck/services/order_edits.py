"""Order edit commands (domain/order_edits.py): begin, stage, preview, commit, abandon.

Staging writes only the edit (never the order): each change is checked at once by computing the
whole preview on copies, so a refused change leaves the edit as it was (the unit of work rolls
back). The commit is one command on the order like every other: the order and its stock locked,
the staged changes applied, the order saved with its timeline entry and outbox messages.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ..domain import order_edits as rules
from ..domain.errors import InvalidInput, NotFound, RuleViolation
from ..domain.inventory import Inventory
from ..domain.order import Order
from .changes import load_order, save_order
from .context import Command


def lifetime(cmd: Command) -> timedelta:
    return timedelta(hours=cmd.uow.shop.settings.order_edit_hours)


def _stock_items(order: Order, edit: rules.OrderEdit) -> set[int]:
    """Every inventory item the edit may move: the order's lines' and the added variants'."""
    items = {li.inventory_item_id for li in order.line_items if li.inventory_item_id is not None}
    if order.inventory_behaviour != "bypass":
        items |= {
            c.inventory_item_id for c in edit.added_items() if isinstance(c, rules.AddVariant) and c.inventory_item_id
        }
    return items


def _inventory(cmd: Command, order: Order, edit: rules.OrderEdit, *, lock: bool) -> Inventory:
    return cmd.uow.inventory.load(_stock_items(order, edit), lock=lock)


def _order(cmd: Command, order_id: int) -> Order:
    try:
        return cmd.uow.orders.get(order_id, for_update=False)
    except NotFound:
        raise NotFound(f"Order {order_id} was not found") from None


def get(cmd: Command, edit_id: int, *, for_update: bool = False) -> rules.OrderEdit:
    return cmd.uow.order_edits.get(edit_id, for_update=for_update)


def _require_catalogue(cmd: Command, edit: rules.OrderEdit) -> None:
    """Variants staged earlier must still be in the catalogue (a deleted product can't be sold)."""
    staged = [c for c in edit.added_items() if isinstance(c, rules.AddVariant)]
    found = cmd.uow.catalog.variants_by_id({c.variant_id for c in staged})
    for c in staged:
        if c.variant_id not in found:
            name = f"{c.title} - {c.variant_title}" if c.variant_title else c.title
            raise InvalidInput(
                f"{name} was deleted from the catalogue since it was staged: take it out of the edit",
                field="variant_id",
            )


def preview(cmd: Command, edit: rules.OrderEdit, order: Order | None = None) -> rules.CalculatedOrder:
    """The order as the edit would leave it (read only; raises when a staged change no longer
    can be made, e.g. the stock went or a staged variant was deleted)."""
    order = order or _order(cmd, edit.order_id)
    _require_catalogue(cmd, edit)
    return rules.calculate(
        order,
        edit,
        inventory=_inventory(cmd, order, edit, lock=False),
        locations=cmd.uow.catalog.active_location_ids(),
        now=cmd.now,
    )


def begin(cmd: Command, order_id: int) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    order = _order(cmd, order_id)
    rules.require_editable(order)
    edit = rules.begin(
        order,
        edit_id=cmd.uow.order_edits.next_id(order.id, cmd.now),
        author=cmd.author,
        now=cmd.now,
        lifetime=lifetime(cmd),
    )
    cmd.uow.order_edits.save(edit)
    return edit, preview(cmd, edit, order)


def _stage(cmd: Command, edit_id: int, make: object) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    """Stage one change (`make(order, edit)` builds it) and check the whole edit with it."""
    edit = get(cmd, edit_id, for_update=True)
    rules.require_open(edit, cmd.now)
    order = _order(cmd, edit.order_id)
    rules.require_editable(order)
    rules.require_unchanged(order, edit)
    change = make(order, edit)  # type: ignore[operator]
    if change is not None:
        rules.stage(edit, change, now=cmd.now)
    calculated = preview(cmd, edit, order)
    cmd.uow.order_edits.save(edit)
    return edit, calculated


def add_variant(
    cmd: Command,
    edit_id: int,
    *,
    variant_id: int,
    quantity: int,
    location_id: int | None = None,
    allow_duplicates: bool = False,
) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    rules.check_quantity(quantity, allow_zero=False)

    def make(order: Order, edit: rules.OrderEdit) -> rules.AddVariant:
        variant = cmd.uow.catalog.variants_by_id({variant_id}).get(variant_id)
        if variant is None:
            raise InvalidInput(f"variant {variant_id} does not exist", field="variant_id")
        if location_id is not None and location_id not in cmd.uow.catalog.active_location_ids():
            raise InvalidInput(f"location {location_id} is not an active location", field="location_id")
        if not allow_duplicates:
            on_order = any(li.variant_id == variant_id and li.quantity > 0 for li in order.line_items)
            staged = any(isinstance(c, rules.AddVariant) and c.variant_id == variant_id for c in edit.changes)
            if on_order or staged:
                raise RuleViolation(
                    f"{variant.product_title} is already on the order: change that line's quantity, "
                    "or send allow_duplicates to add another line",
                    field="variant_id",
                )
        return rules.AddVariant(
            id=edit.staged_id(),
            variant_id=variant.id,
            quantity=quantity,
            title=variant.product_title,
            price=variant.price,
            location_id=location_id,
            product_id=variant.product_id,
            variant_title=variant.title if variant.title != "Default Title" else None,
            sku=variant.sku,
            vendor=variant.vendor,
            grams=variant.grams,
            taxable=variant.taxable,
            requires_shipping=variant.requires_shipping,
            inventory_item_id=variant.id if variant.inventory_tracked else None,
        )

    return _stage(cmd, edit_id, make)


def add_custom_item(
    cmd: Command,
    edit_id: int,
    *,
    title: str,
    price: Decimal,
    quantity: int,
    taxable: bool = True,
    requires_shipping: bool = False,
) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    """`price` is in the order's presentment currency (what the customer pays in)."""
    clean = rules.check_title(title)
    rules.check_price(price)
    rules.check_quantity(quantity, allow_zero=False)

    def make(order: Order, edit: rules.OrderEdit) -> rules.AddCustomItem:
        return rules.AddCustomItem(
            id=edit.staged_id(),
            title=clean,
            price=order.shop_amount(price),
            quantity=quantity,
            taxable=taxable,
            requires_shipping=requires_shipping,
        )

    return _stage(cmd, edit_id, make)


def set_quantity(
    cmd: Command, edit_id: int, *, line_item_id: int, quantity: int, restock: bool = True
) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    rules.check_quantity(quantity, allow_zero=True)

    def make(order: Order, edit: rules.OrderEdit) -> rules.SetQuantity:
        if order.line_item(line_item_id) is None and edit.added(line_item_id) is None:
            raise InvalidInput(f"line item {line_item_id} is not on the order or in this edit", field="line_item_id")
        return rules.SetQuantity(line_item_id=line_item_id, quantity=quantity, restock=restock)

    return _stage(cmd, edit_id, make)


def _discount_maker(
    cmd: Command,
    *,
    discount_id: int | None,
    line_item_id: int | None,
    value: Decimal,
    value_type: str,
    description: str | None,
) -> object:
    rules.check_discount(value, value_type)
    if description is not None and description.strip():
        description = rules.check_title(description, field="description")
    else:
        description = None

    def make(order: Order, edit: rules.OrderEdit) -> rules.LineDiscount:
        target = line_item_id
        if discount_id is not None:
            existing = edit.discount(discount_id)
            if existing is None:
                raise InvalidInput(f"discount {discount_id} is not part of this edit", field="discount_application_id")
            target = existing.line_item_id
        assert target is not None
        line = order.line_item(target)
        if (line is None or line.quantity == 0) and edit.added(target) is None:
            raise InvalidInput(f"line item {target} is not on the order or in this edit", field="line_item_id")
        amount = order.shop_amount(value) if value_type == "fixed_amount" else value
        return rules.LineDiscount(
            id=discount_id if discount_id is not None else edit.staged_id(),
            line_item_id=target,
            value=amount,
            value_type=value_type,
            description=description,
        )

    return make


def add_discount(
    cmd: Command, edit_id: int, *, line_item_id: int, value: Decimal, value_type: str, description: str | None = None
) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    """A fixed amount (presentment currency, off each unit) or a percentage off one line."""
    return _stage(
        cmd,
        edit_id,
        _discount_maker(
            cmd,
            discount_id=None,
            line_item_id=line_item_id,
            value=value,
            value_type=value_type,
            description=description,
        ),
    )


def update_discount(
    cmd: Command, edit_id: int, discount_id: int, *, value: Decimal, value_type: str, description: str | None = None
) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    return _stage(
        cmd,
        edit_id,
        _discount_maker(
            cmd, discount_id=discount_id, line_item_id=None, value=value, value_type=value_type, description=description
        ),
    )


def carry_discount(
    cmd: Command, edit_id: int, *, line_item_id: int, amount: Decimal, description: str | None = None
) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    """Give a line the whole discount `amount` (shop currency, exact): what units switched to
    another variant had, so a like-for-like switch costs the customer nothing (status page)."""

    def make(order: Order, edit: rules.OrderEdit) -> rules.LineDiscount:
        return rules.LineDiscount(
            id=edit.staged_id(),
            line_item_id=line_item_id,
            value=amount,
            value_type="fixed_amount",
            description=description,
            allocation_method="across",
        )

    return _stage(cmd, edit_id, make)


def remove_discount(cmd: Command, edit_id: int, discount_id: int) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    def make(order: Order, edit: rules.OrderEdit) -> None:
        rules.remove_discount(edit, discount_id, now=cmd.now)

    return _stage(cmd, edit_id, make)


def add_shipping_line(
    cmd: Command, edit_id: int, *, title: str, price: Decimal
) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    clean = rules.check_title(title)
    rules.check_price(price)
    return _stage(
        cmd,
        edit_id,
        lambda order, edit: rules.AddShippingLine(id=edit.staged_id(), title=clean, price=order.shop_amount(price)),
    )


def update_shipping_line(
    cmd: Command, edit_id: int, shipping_line_id: int, *, title: str | None, price: Decimal | None
) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    if price is not None:
        rules.check_price(price)

    def make(order: Order, edit: rules.OrderEdit) -> rules.UpdateShippingLine:
        staged = next(
            (c for c in edit.changes if isinstance(c, rules.AddShippingLine) and c.id == shipping_line_id), None
        )
        found = next((s for s in order.shipping_lines if s.id == shipping_line_id), None)
        if staged is None and found is None:
            raise InvalidInput(
                f"shipping line {shipping_line_id} is not on the order or in this edit", field="shipping_line_id"
            )
        current_title = staged.title if staged else found.title  # type: ignore[union-attr]
        current_price = staged.price if staged else found.price  # type: ignore[union-attr]
        return rules.UpdateShippingLine(
            shipping_line_id=shipping_line_id,
            title=rules.check_title(title) if title is not None else current_title,
            price=order.shop_amount(price) if price is not None else current_price,
        )

    return _stage(cmd, edit_id, make)


def remove_shipping_line(
    cmd: Command, edit_id: int, shipping_line_id: int
) -> tuple[rules.OrderEdit, rules.CalculatedOrder]:
    def make(order: Order, edit: rules.OrderEdit) -> rules.RemoveShippingLine:
        if shipping_line_id < rules.STAGED_ID_BASE and not any(s.id == shipping_line_id for s in order.shipping_lines):
            raise InvalidInput(f"shipping line {shipping_line_id} is not on the order", field="shipping_line_id")
        return rules.RemoveShippingLine(shipping_line_id=shipping_line_id)

    return _stage(cmd, edit_id, make)


def commit(
    cmd: Command, edit_id: int, *, notify_customer: bool = False, staff_note: str | None = None
) -> tuple[Order, rules.OrderEdit, bytes]:
    """Apply the edit to the order in one transaction; returns the order and its rendering."""
    edit = get(cmd, edit_id, for_update=True)
    rules.require_open(edit, cmd.now)
    loaded = load_order(cmd, edit.order_id)
    order = loaded.order
    _require_catalogue(cmd, edit)
    inventory = _inventory(cmd, order, edit, lock=True)
    rules.commit(
        order,
        edit,
        inventory=inventory,
        locations=cmd.uow.catalog.active_location_ids(),
        now=cmd.now,
        author=cmd.author,
        notify_customer=notify_customer,
        staff_note=staff_note,
    )
    cmd.uow.inventory.save(inventory, cmd.now)
    cmd.uow.order_edits.save(edit)
    rendered = save_order(cmd, order, loaded)
    return order, edit, rendered


def abandon(cmd: Command, edit_id: int) -> rules.OrderEdit:
    edit = get(cmd, edit_id, for_update=True)
    rules.abandon(edit, now=cmd.now)
    cmd.uow.order_edits.save(edit)
    return edit


def open_edit_of(cmd: Command, order_id: int, *, abandon_stale: bool = False) -> rules.OrderEdit | None:
    """The newest edit of the order still open and unexpired, if any (the admin resumes it)."""
    version = _order(cmd, order_id).version
    for edit in cmd.uow.order_edits.of_order(order_id, status="open", limit=5):
        if edit.is_expired(cmd.now):
            continue
        if edit.base_version != version and not edit.changes:
            # Begun before the order last changed and nothing staged: nothing is lost by
            # starting afresh, which is better than offering an edit that can't be committed.
            if abandon_stale:
                rules.abandon(edit, now=cmd.now)
                cmd.uow.order_edits.save(edit)
            continue
        return edit
    return None
