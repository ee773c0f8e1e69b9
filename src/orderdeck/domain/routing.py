"""Order routing: which location ships which line (ORDER-MODEL.md §3, "created by order routing").

Locations are tried in the merchant's priority order. One location that can ship the whole
order wins, so the customer gets one parcel; otherwise each line goes to the first location that
can ship it, and the order is split into one fulfillment order per location.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InsufficientInventory
from .inventory import Inventory


@dataclass(frozen=True)
class RoutedLine:
    key: int  # the caller's handle for the line (its position in the order)
    inventory_item_id: int | None
    quantity: int


def route(
    lines: list[RoutedLine],
    locations: list[int],
    inventory: Inventory,
    *,
    obey_policy: bool,
    preferred_location: int | None = None,
) -> dict[int, int]:
    """Map each line's key to a location id, or refuse when stock cannot cover a line."""
    if not locations:
        raise InsufficientInventory(
            "The shop has no active location to fulfill from; add one first", field="location_id"
        )
    order = list(locations)
    if preferred_location is not None and preferred_location in order:
        order.remove(preferred_location)
        order.insert(0, preferred_location)
    tracked = [line for line in lines if line.inventory_item_id is not None]
    # Two lines can be the same item: a location covers them only if it has stock for both.
    wanted: dict[int, int] = {}
    for line in tracked:
        assert line.inventory_item_id is not None
        wanted[line.inventory_item_id] = wanted.get(line.inventory_item_id, 0) + line.quantity

    def available(item_id: int, location: int) -> int:
        level = inventory.levels.get((item_id, location))
        return level.available if level is not None else -1

    for location in order:
        if all(available(item, location) >= qty for item, qty in wanted.items()):
            return {line.key: location for line in lines}

    assignment: dict[int, int] = {}
    taken: dict[tuple[int, int], int] = {}
    for line in tracked:
        item_id = line.inventory_item_id
        assert item_id is not None
        chosen = next(
            (loc for loc in order if available(item_id, loc) - taken.get((item_id, loc), 0) >= line.quantity), None
        )
        if chosen is None:
            item = inventory.items.get(item_id)
            may_oversell = not obey_policy or (item is not None and item.policy == "continue")
            if not may_oversell:
                total = sum(max(0, lvl.available) for (i, _), lvl in inventory.levels.items() if i == item_id)
                name = (
                    f"{item.title} (SKU {item.sku})" if item and item.sku else item.title if item else f"item {item_id}"
                )
                raise InsufficientInventory(
                    f"Not enough stock of {name}: {line.quantity} ordered, {total} available at any single location",
                    field="line_items",
                )
            chosen = next((loc for loc in order if inventory.stocks(item_id, loc)), order[0])
        taken[(item_id, chosen)] = taken.get((item_id, chosen), 0) + line.quantity
        assignment[line.key] = chosen
    home = next(iter(assignment.values()), order[0])
    for line in lines:
        assignment.setdefault(line.key, home)
    return assignment
