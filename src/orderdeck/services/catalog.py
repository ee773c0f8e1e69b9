"""Locations, products and stock levels: what orders are routed against."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ..domain.errors import InvalidInput, NotFound, RuleViolation
from ..domain.inventory import InventoryLevel
from ..store.catalog import Location
from ..store.tables import inventory_levels
from .context import Command


def add_location(cmd: Command, fields: dict[str, Any]) -> Location:
    return cmd.uow.catalog.add_location(fields, cmd.now)


def update_location(cmd: Command, location_id: int, fields: dict[str, Any]) -> Location:
    if fields.get("active") is False:
        others = [loc for loc in cmd.uow.catalog.active_location_ids() if loc != location_id]
        if not others:
            raise RuleViolation("The last active location cannot be deactivated", field="active")
    return cmd.uow.catalog.update_location(location_id, fields, cmd.now)


@dataclass
class NewVariant:
    title: str = "Default Title"
    sku: str | None = None
    price: Decimal = Decimal(0)
    grams: int = 0
    taxable: bool = True
    requires_shipping: bool = True
    inventory_tracked: bool = True
    inventory_policy: str = "deny"
    stock: dict[int, int] = field(default_factory=dict)  # location id → available


def add_product(
    cmd: Command, *, title: str, vendor: str | None, product_type: str | None, new_variants: list[NewVariant]
) -> int:
    if not title.strip():
        raise InvalidInput("can't be blank", field="title")
    if not new_variants:
        new_variants = [NewVariant()]
    active = set(cmd.uow.catalog.active_location_ids())
    for v in new_variants:
        if v.inventory_policy not in ("deny", "continue"):
            raise InvalidInput("inventory_policy must be deny or continue", field="variants")
        if v.price < 0:
            raise InvalidInput("price must not be negative", field="variants")
        unknown = set(v.stock) - active
        if unknown:
            raise InvalidInput(f"location {sorted(unknown)[0]} does not exist or is not active", field="variants")
    product_id = cmd.uow.catalog.add_product(title, vendor, product_type, [v.__dict__ for v in new_variants], cmd.now)
    for variant, v in zip(cmd.uow.catalog.product_variants(product_id), new_variants, strict=True):
        for location_id, available in v.stock.items():
            cmd.uow.catalog.set_level(variant.id, location_id, available, cmd.now)
    return product_id


def _level(cmd: Command, item_id: int, location_id: int) -> InventoryLevel | None:
    found = cmd.uow.inventory.levels([(item_id, location_id)])
    return found[0] if found else None


def _check_pair(cmd: Command, item_id: int, location_id: int) -> None:
    if not cmd.uow.catalog.variants_by_id({item_id}):
        raise NotFound(f"inventory item {item_id} does not exist", field="inventory_item_id")
    cmd.uow.catalog.location(location_id)


def set_available(cmd: Command, item_id: int, location_id: int, available: int) -> InventoryLevel:
    _check_pair(cmd, item_id, location_id)
    inventory = cmd.uow.inventory.load({item_id})
    level = inventory.level(item_id, location_id, connect=True)
    level.on_hand += available - level.available
    level.available = available
    cmd.uow.inventory.save(inventory, cmd.now)
    return level


def adjust_available(cmd: Command, item_id: int, location_id: int, adjustment: int) -> InventoryLevel:
    _check_pair(cmd, item_id, location_id)
    inventory = cmd.uow.inventory.load({item_id})
    if not inventory.stocks(item_id, location_id):
        raise RuleViolation("The item is not stocked at that location; connect it first", field="location_id")
    level = inventory.level(item_id, location_id)
    level.available += adjustment
    level.on_hand += adjustment
    cmd.uow.inventory.save(inventory, cmd.now)
    return level


def connect(cmd: Command, item_id: int, location_id: int) -> InventoryLevel:
    _check_pair(cmd, item_id, location_id)
    inventory = cmd.uow.inventory.load({item_id})
    level = inventory.level(item_id, location_id, connect=True)
    cmd.uow.inventory.save(inventory, cmd.now)
    return level


def disconnect(cmd: Command, item_id: int, location_id: int) -> None:
    level = _level(cmd, item_id, location_id)
    if level is None:
        raise NotFound("Not Found")
    if level.committed:
        raise RuleViolation(f"{level.committed} units here are committed to orders; move or fulfil them first")
    cmd.uow.conn.execute(
        inventory_levels.delete().where(
            inventory_levels.c.inventory_item_id == item_id, inventory_levels.c.location_id == location_id
        )
    )


def levels(
    cmd: Command, *, item_ids: list[int], location_ids: list[int], after: tuple[int, int] | None, limit: int
) -> list[InventoryLevel]:
    query = (
        select(inventory_levels)
        .order_by(inventory_levels.c.inventory_item_id, inventory_levels.c.location_id)
        .limit(limit)
    )
    if item_ids:
        query = query.where(inventory_levels.c.inventory_item_id.in_(item_ids))
    if location_ids:
        query = query.where(inventory_levels.c.location_id.in_(location_ids))
    if after:
        query = query.where(
            (inventory_levels.c.inventory_item_id > after[0])
            | ((inventory_levels.c.inventory_item_id == after[0]) & (inventory_levels.c.location_id > after[1]))
        )
    return [
        InventoryLevel(r.inventory_item_id, r.location_id, r.available, r.committed, r.on_hand, r.updated_at)
        for r in cmd.uow.conn.execute(query)
    ]
