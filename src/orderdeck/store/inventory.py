"""Stock levels and the catalogue facts the inventory rules need, locked for a command."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.inventory import Inventory, InventoryLevel, StockItem
from .tables import inventory_levels, products, variants


@cache
def _upsert(dialect_name: str) -> Any:
    """Write absolute values (the rows are locked, nobody else changed them); built once per
    dialect so SQLAlchemy compiles it once and runs it for any number of rows."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(inventory_levels)
    return stmt.on_conflict_do_update(
        index_elements=[inventory_levels.c.inventory_item_id, inventory_levels.c.location_id],
        set_={
            "available": stmt.excluded.available,
            "committed": stmt.excluded.committed,
            "on_hand": stmt.excluded.on_hand,
            "updated_at": stmt.excluded.updated_at,
        },
    )


class InventoryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def load(self, item_ids: set[int], *, lock: bool = True) -> Inventory:
        """Every level of these items (all locations), locked until the command commits."""
        items: dict[int, StockItem] = {}
        levels: dict[tuple[int, int], InventoryLevel] = {}
        if not item_ids:
            return Inventory(items, levels)
        for row in self.conn.execute(
            select(
                variants.c.id,
                variants.c.sku,
                variants.c.title,
                products.c.title.label("product_title"),
                variants.c.inventory_policy,
            )
            .join(products, products.c.id == variants.c.product_id)
            .where(variants.c.id.in_(sorted(item_ids)))
        ):
            # Refusals name the product as the merchant knows it ("Stoneware mug", or
            # "Stoneware mug - Blue"), not the variant's own "Default Title".
            title = row.product_title if row.title == "Default Title" else f"{row.product_title} - {row.title}"
            items[row.id] = StockItem(row.id, row.sku, title, row.inventory_policy)
        query = (
            select(inventory_levels)
            .where(inventory_levels.c.inventory_item_id.in_(sorted(item_ids)))
            .order_by(inventory_levels.c.inventory_item_id, inventory_levels.c.location_id)
        )
        if lock and self.conn.dialect.name != "sqlite":
            query = query.with_for_update()
        for row in self.conn.execute(query):
            levels[(row.inventory_item_id, row.location_id)] = InventoryLevel(
                row.inventory_item_id, row.location_id, row.available, row.committed, row.on_hand, row.updated_at
            )
        return Inventory(items, levels)

    def save(self, inventory: Inventory, now: datetime) -> None:
        """Write the changed levels in one statement (an upsert of absolute values: the rows
        are locked, so nobody else changed them meanwhile)."""
        if not inventory.changed:
            return
        for key in inventory.changed:
            inventory.levels[key].updated_at = now
        rows = [
            {
                "inventory_item_id": lvl.inventory_item_id,
                "location_id": lvl.location_id,
                "available": lvl.available,
                "committed": lvl.committed,
                "on_hand": lvl.on_hand,
                "updated_at": now,
            }
            for key in sorted(inventory.changed)
            for lvl in [inventory.levels[key]]
        ]
        self.conn.execute(_upsert(self.conn.dialect.name), rows)
        inventory.changed.clear()

    def levels(self, pairs: list[tuple[int, int]]) -> list[InventoryLevel]:
        if not pairs:
            return []
        cond = or_(
            *[
                and_(inventory_levels.c.inventory_item_id == i, inventory_levels.c.location_id == loc)
                for i, loc in pairs
            ]
        )
        return [
            InventoryLevel(r.inventory_item_id, r.location_id, r.available, r.committed, r.on_hand, r.updated_at)
            for r in self.conn.execute(select(inventory_levels).where(cond))
        ]
