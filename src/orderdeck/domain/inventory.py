"""Stock per item and location, and the moves an order makes on it.

Each level keeps `on_hand = available + committed`: placing an order commits units, shipping
takes them off hand, cancelling or restocking puts them back. Where the item's policy is `deny`
(no overselling), `available` never goes below zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .errors import InsufficientInventory


@dataclass
class InventoryLevel:
    inventory_item_id: int
    location_id: int
    available: int
    committed: int
    on_hand: int
    updated_at: datetime | None = None  # when the stock last changed (set by the store)


@dataclass
class StockItem:
    """What the inventory rules need to know of a variant."""

    inventory_item_id: int
    sku: str | None
    title: str
    policy: str = "deny"  # deny | continue (overselling allowed)


@dataclass
class Inventory:
    """The levels one command touches, loaded (and locked) by the store beforehand."""

    items: dict[int, StockItem]
    levels: dict[tuple[int, int], InventoryLevel]
    changed: set[tuple[int, int]] = field(default_factory=set)
    # (available, committed, on_hand) of each level as the store read it: what changed since
    # is written as a move relative to the row, which composes with other commands' moves.
    as_read: dict[tuple[int, int], tuple[int, int, int]] = field(default_factory=dict)

    def level(self, item_id: int, location_id: int, *, connect: bool = False) -> InventoryLevel:
        key = (item_id, location_id)
        found = self.levels.get(key)
        if found is None:
            if not connect:
                raise InsufficientInventory(
                    f"{self._describe(item_id)} is not stocked at location {location_id}",
                    field="location_id",
                )
            found = InventoryLevel(item_id, location_id, 0, 0, 0)
            self.levels[key] = found
        self.changed.add(key)
        return found

    def stocks(self, item_id: int, location_id: int) -> bool:
        return (item_id, location_id) in self.levels

    def _describe(self, item_id: int) -> str:
        item = self.items.get(item_id)
        if item is None:
            return f"inventory item {item_id}"
        return f"{item.title} (SKU {item.sku})" if item.sku else item.title

    def _may_oversell(self, item_id: int, obey_policy: bool) -> bool:
        item = self.items.get(item_id)
        return not obey_policy or (item is not None and item.policy == "continue")

    def may_not_oversell(self, *, obey_policy: bool) -> set[int]:
        """The items whose available units must not go below zero in this command."""
        return {item for item in self.items if not self._may_oversell(item, obey_policy)}

    def commit(self, item_id: int, location_id: int, quantity: int, *, obey_policy: bool = True) -> None:
        """Reserve units for an order: they stay on hand but are no longer available."""
        level = self.level(item_id, location_id, connect=self._may_oversell(item_id, obey_policy))
        if level.available < quantity and not self._may_oversell(item_id, obey_policy):
            raise InsufficientInventory(
                f"Not enough stock of {self._describe(item_id)} at location {location_id}: "
                f"{quantity} needed, {max(level.available, 0)} available",
                field="line_items",
            )
        level.available -= quantity
        level.committed += quantity

    def release(self, item_id: int, location_id: int, quantity: int, *, restock: bool) -> None:
        """Give up a reservation. Restocked units become available again; units not restocked
        are written off (they leave on_hand), which is what "don't restock" means."""
        level = self.level(item_id, location_id)
        level.committed -= quantity
        if restock:
            level.available += quantity
        else:
            level.on_hand -= quantity

    def restock_elsewhere(self, item_id: int, from_location: int, to_location: int, quantity: int) -> None:
        """Cancel a reservation at one location and put the units back at another."""
        source = self.level(item_id, from_location)
        source.committed -= quantity
        source.on_hand -= quantity
        target = self.level(item_id, to_location, connect=True)
        target.available += quantity
        target.on_hand += quantity

    def ship(self, item_id: int, location_id: int, quantity: int) -> None:
        level = self.level(item_id, location_id)
        level.committed -= quantity
        level.on_hand -= quantity

    def unship(self, item_id: int, location_id: int, quantity: int) -> None:
        """A cancelled fulfillment: the units are back on hand and reserved for the order."""
        level = self.level(item_id, location_id, connect=True)
        level.committed += quantity
        level.on_hand += quantity

    def receive_return(self, item_id: int, location_id: int, quantity: int) -> None:
        level = self.level(item_id, location_id, connect=True)
        level.available += quantity
        level.on_hand += quantity

    def move_reservation(self, item_id: int, from_location: int, to_location: int, quantity: int) -> None:
        """A fulfillment order moved: the reservation follows it to the new location.

        A move is not refused for want of stock at the destination (Shopify refuses only where the
        item was never stocked): available may go below zero there, which shows the shortfall."""
        self.commit(item_id, to_location, quantity, obey_policy=False)
        source = self.level(item_id, from_location)
        source.committed -= quantity
        source.available += quantity
