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
            "The shop has no active location to fulfil from; add one first", field="location_id"
        )
    order = list(locations)
    if preferred_location is not None and preferred_location in order:
        order.remove(preferred_location)
        order.insert(0, preferred_location)
    tracked = [line for line in lines if line.inventory_item_id is not None]

    def covers(location: int, line: RoutedLine) -> bool:
        assert line.inventory_item_id is not None
        level = inventory.levels.get((line.inventory_item_id, location))
        return level is not None and level.available >= line.quantity

    for location in order:
        if all(covers(location, line) for line in tracked):
            return {line.key: location for line in lines}

    assignment: dict[int, int] = {}
    for line in tracked:
        assert line.inventory_item_id is not None
        chosen = next((loc for loc in order if covers(loc, line)), None)
        if chosen is None:
            item = inventory.items.get(line.inventory_item_id)
            may_oversell = not obey_policy or (item is not None and item.policy == "continue")
            if not may_oversell:
                available = sum(
                    max(0, lvl.available) for (i, _), lvl in inventory.levels.items() if i == line.inventory_item_id
                )
                name = (
                    f"{item.title} (SKU {item.sku})"
                    if item and item.sku
                    else item.title
                    if item
                    else f"item {line.inventory_item_id}"
                )
                raise InsufficientInventory(
                    f"Not enough stock of {name}: {line.quantity} ordered, {available} available "
                    "at any single location",
                    field="line_items",
                )
            chosen = next((loc for loc in order if inventory.stocks(line.inventory_item_id, loc)), order[0])
        assignment[line.key] = chosen
    home = next(iter(assignment.values()), order[0])
    for line in lines:
        assignment.setdefault(line.key, home)
    return assignment
