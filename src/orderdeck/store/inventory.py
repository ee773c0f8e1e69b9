"""Stock levels and the catalogue facts the inventory rules need, read for a command.

Two ways to read and write them:
- locked (`load`, `save`): the rows are read FOR UPDATE on PostgreSQL (SQLite has one writer
  anyway) and written back as absolute values; nobody else changes them meanwhile.
- unlocked (`load(lock=False)`, `move`): placing an order routes and reserves on a plain read
  and writes what it changed as moves relative to the rows (`available = available - 3`),
  guarded where the item may not be oversold (`… WHERE available - 3 >= 0`). The row locks are
  taken by that last write and held only until commit. A guarded move that finds fewer units
  than the read showed writes nothing and says so; the caller then does it all again locked.
Relative moves compose with locked writers: on PostgreSQL an UPDATE waits for a row lock and
applies to the row as its holder committed it; a FOR UPDATE read waits for the move's commit.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.inventory import Inventory, InventoryLevel, StockItem
from .tables import inventory_levels, products, variants

_il = inventory_levels.c


@cache
def _upsert(dialect_name: str) -> Any:
    """Write absolute values (the rows are locked, nobody else changed them); built once per
    dialect so SQLAlchemy compiles it once and runs it for any number of rows."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(inventory_levels)
    return stmt.on_conflict_do_update(
        index_elements=[_il.inventory_item_id, _il.location_id],
        set_={
            "available": stmt.excluded.available,
            "committed": stmt.excluded.committed,
            "on_hand": stmt.excluded.on_hand,
            "updated_at": stmt.excluded.updated_at,
        },
    )


@cache
def _add_moves(dialect_name: str) -> Any:
    """Levels the command connected (none when read): inserted, or added to a row another
    command connected meanwhile."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(inventory_levels)
    return stmt.on_conflict_do_update(
        index_elements=[_il.inventory_item_id, _il.location_id],
        set_={
            "available": _il.available + stmt.excluded.available,
            "committed": _il.committed + stmt.excluded.committed,
            "on_hand": _il.on_hand + stmt.excluded.on_hand,
            "updated_at": stmt.excluded.updated_at,
        },
    )


@cache
def _move(guarded: bool) -> Any:
    """One level's move relative to the row; guarded: only while available stays >= 0."""
    where = [_il.inventory_item_id == bindparam("item"), _il.location_id == bindparam("location")]
    if guarded:
        where.append(_il.available + bindparam("d_available") >= 0)
    return (
        update(inventory_levels)
        .where(*where)
        .values(
            available=_il.available + bindparam("d_available"),
            committed=_il.committed + bindparam("d_committed"),
            on_hand=_il.on_hand + bindparam("d_on_hand"),
            updated_at=bindparam("now"),
        )
    )


@cache
def _levels(locked: bool) -> Any:
    query = (
        select(inventory_levels)
        .where(_il.inventory_item_id.in_(bindparam("items", expanding=True)))
        .order_by(_il.inventory_item_id, _il.location_id)
    )
    return query.with_for_update() if locked else query


@cache
def _stock_items() -> Any:
    return (
        select(
            variants.c.id,
            variants.c.sku,
            variants.c.title,
            products.c.title.label("product_title"),
            variants.c.inventory_policy,
        )
        .join(products, products.c.id == variants.c.product_id)
        .where(variants.c.id.in_(bindparam("items", expanding=True)))
    )


def stock_item(variant_id: int, sku: str | None, title: str, product_title: str, policy: str) -> StockItem:
    # Refusals name the product as the merchant knows it ("Stoneware mug", or
    # "Stoneware mug - Blue"), not the variant's own "Default Title".
    name = product_title if title == "Default Title" else f"{product_title} - {title}"
    return StockItem(variant_id, sku, name, policy)


class InventoryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def load(self, item_ids: set[int], *, lock: bool = True, items: dict[int, StockItem] | None = None) -> Inventory:
        """Every level of these items (all locations); with `lock`, locked until the command
        commits. `items`: the items' catalogue facts when the caller has them already."""
        levels: dict[tuple[int, int], InventoryLevel] = {}
        if not item_ids:
            return Inventory({}, levels)
        wanted = sorted(item_ids)
        if items is None:
            items = {
                row.id: stock_item(row.id, row.sku, row.title, row.product_title, row.inventory_policy)
                for row in self.conn.execute(_stock_items(), {"items": wanted})
            }
        locked = lock and self.conn.dialect.name != "sqlite"
        as_read: dict[tuple[int, int], tuple[int, int, int]] = {}
        for row in self.conn.execute(_levels(locked), {"items": wanted}):
            key = (row.inventory_item_id, row.location_id)
            levels[key] = InventoryLevel(*key, row.available, row.committed, row.on_hand, row.updated_at)
            as_read[key] = (row.available, row.committed, row.on_hand)
        return Inventory(items, levels, as_read=as_read)

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
        self._written(inventory)

    def move(self, inventory: Inventory, now: datetime, *, guard: AbstractSet[int] = frozenset()) -> bool:
        """Write what changed since the read as moves relative to the rows, in one statement per
        kind (guarded, unguarded, newly connected) whatever the number of levels. Levels of the
        `guard` items whose available units go down are written only while they stay >= 0.

        False when a guarded level had fewer units than the move needs, or a level read is gone:
        then some of the moves may have been written, and the caller rolls back to before
        this call (a savepoint) and does the work again on a locked read."""
        guarded: list[dict[str, Any]] = []
        free: list[dict[str, Any]] = []
        connected: list[dict[str, Any]] = []
        for key in sorted(inventory.changed):
            lvl = inventory.levels[key]
            before = inventory.as_read.get(key)
            if before is None:
                connected.append(
                    {
                        "inventory_item_id": key[0],
                        "location_id": key[1],
                        "available": lvl.available,
                        "committed": lvl.committed,
                        "on_hand": lvl.on_hand,
                        "updated_at": now,
                    }
                )
                continue
            d_available, d_committed, d_on_hand = (
                lvl.available - before[0],
                lvl.committed - before[1],
                lvl.on_hand - before[2],
            )
            if not (d_available or d_committed or d_on_hand):
                continue
            row = {
                "item": key[0],
                "location": key[1],
                "d_available": d_available,
                "d_committed": d_committed,
                "d_on_hand": d_on_hand,
                "now": now,
            }
            (guarded if key[0] in guard and d_available < 0 else free).append(row)
        for rows, guarded_rows in ((guarded, True), (free, False)):
            if rows and self.conn.execute(_move(guarded_rows), rows).rowcount != len(rows):
                return False
        if connected:
            self.conn.execute(_add_moves(self.conn.dialect.name), connected)
        for key in inventory.changed:
            inventory.levels[key].updated_at = now
        self._written(inventory)
        return True

    @staticmethod
    def _written(inventory: Inventory) -> None:
        """What was written is the new baseline for a later move in the same command."""
        for key in inventory.changed:
            lvl = inventory.levels[key]
            inventory.as_read[key] = (lvl.available, lvl.committed, lvl.on_hand)
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
