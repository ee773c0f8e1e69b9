"""Locations, products and stock levels: what orders are routed against."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ..domain.errors import InvalidInput, NotFound, RuleViolation
from ..domain.inventory import InventoryLevel
from ..store.catalog import VARIANT_COLUMNS, Location, Variant
from ..store.tables import inventory_levels
from .context import Command


def _known_country(fields: dict[str, Any]) -> dict[str, Any]:
    """The location's country code in capitals, refused unless it names a country (CLDR's list)."""
    code = fields.get("country_code")
    if code is None:
        return fields
    from ..countries import is_country

    if not is_country(str(code).strip().upper()):
        raise InvalidInput(f"{code!r} is not a two-letter country code such as US, NL or DE", field="country_code")
    return {**fields, "country_code": str(code).strip().upper()}


def add_location(cmd: Command, fields: dict[str, Any]) -> Location:
    return cmd.uow.catalog.add_location(_known_country(fields), cmd.now)


def update_location(cmd: Command, location_id: int, fields: dict[str, Any]) -> Location:
    fields = _known_country(fields)
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
    option1: str | None = None
    option2: str | None = None
    option3: str | None = None
    compare_at_price: Decimal | None = None
    barcode: str | None = None
    cost: Decimal | None = None

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k in VARIANT_COLUMNS}


PRODUCT_STATUSES = ("active", "draft", "archived")
MAX_VARIANTS = 100
_HANDLE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def add_product(
    cmd: Command,
    *,
    title: str,
    vendor: str | None,
    product_type: str | None,
    new_variants: list[NewVariant],
    details: dict[str, Any] | None = None,
) -> int:
    """A product with its variants and their stock. `details`: body_html, handle, status,
    tags, options (option names) and published_at, each as Shopify names it."""
    details = dict(details or {})
    if not title.strip():
        raise InvalidInput("can't be blank", field="title")
    if not new_variants:
        new_variants = [NewVariant()]
    options = _option_names(details.get("options") or [])
    rows = _complete_variants([v.row() for v in new_variants], options)
    active = set(cmd.uow.catalog.active_location_ids())
    for index, v in enumerate(new_variants):
        unknown = set(v.stock) - active
        if unknown:
            raise InvalidInput(
                f"location {sorted(unknown)[0]} does not exist or is not active", field=f"variants[{index}]"
            )
    details["options"] = options
    details["handle"] = _free_handle(cmd, details.get("handle"), title, None)
    details["tags"] = normal_tags(details.get("tags"))
    _check_status(details)
    if details["status"] == "active":
        details.setdefault("published_at", cmd.now)
    product_id = cmd.uow.catalog.add_product(title.strip(), vendor, product_type, rows, cmd.now, details)
    for variant, v in zip(cmd.uow.catalog.product_variants(product_id), new_variants, strict=True):
        for location_id, available in v.stock.items():
            cmd.uow.catalog.set_level(variant.id, location_id, available, cmd.now)
    return product_id


def update_product(
    cmd: Command, product_id: int, changes: dict[str, Any], variants: list[dict[str, Any]] | None
) -> None:
    """Change a product. With `variants`, the product's variants become that list, as in
    Shopify: a variant with an id is changed, one without is added, one left out is deleted
    (refused while units of it are committed to orders)."""
    product = cmd.uow.catalog.product(product_id, for_update=True)
    if "title" in changes and not (changes["title"] or "").strip():
        raise InvalidInput("can't be blank", field="title")
    options = _option_names(changes["options"]) if "options" in changes else product.options
    if "options" in changes:
        changes["options"] = options
    if "handle" in changes:
        changes["handle"] = _free_handle(cmd, changes["handle"], changes.get("title") or product.title, product_id)
    if "tags" in changes:
        changes["tags"] = normal_tags(changes["tags"])
    if "status" in changes:
        _check_status(changes)
        if changes["status"] == "active" and product.published_at is None:
            changes.setdefault("published_at", cmd.now)
    existing = {v.id: v for v in cmd.uow.catalog.product_variants(product_id)}
    if variants is None:
        wanted = [_row_of(v) for v in existing.values()]
    else:
        wanted = []
        for index, change in enumerate(variants):
            if change.get("id") is not None and change["id"] not in existing:
                raise InvalidInput(
                    f"variant {change['id']} is not a variant of this product", field=f"variants[{index}]"
                )
            base = (
                _row_of(existing[change["id"]]) if change.get("id") is not None else {"id": None, **NewVariant().row()}
            )
            wanted.append({**base, **_renaming(change, options)})
    if not wanted:
        raise InvalidInput("a product keeps at least one variant; delete the product instead", field="variants")
    rows = _complete_variants(wanted, options)
    gone = sorted(set(existing) - {row["id"] for row in rows if row.get("id")})
    _refuse_if_committed(cmd, gone, "delete these variants")
    catalog = cmd.uow.catalog
    catalog.update_product(product_id, changes, cmd.now)
    for variant_id in gone:
        catalog.delete_variant(variant_id, cmd.now)
    for row in rows:
        if row.get("id"):
            if _row_of(existing[row["id"]]) != row:
                catalog.update_variant(row["id"], row, cmd.now)
        else:
            catalog.add_variant(product_id, row, cmd.now)


def delete_product(cmd: Command, product_id: int) -> None:
    """Orders keep the copies of the lines they were placed with; stock still reserved for
    unshipped orders would be lost with the product, so that is refused."""
    cmd.uow.catalog.product(product_id, for_update=True)
    _refuse_if_committed(cmd, [v.id for v in cmd.uow.catalog.product_variants(product_id)], "delete this product")
    cmd.uow.catalog.delete_product(product_id, cmd.now)


def add_variant(cmd: Command, product_id: int, fields: dict[str, Any], stock: dict[int, int]) -> int:
    product = cmd.uow.catalog.product(product_id, for_update=True)
    existing = cmd.uow.catalog.product_variants(product_id)
    if len(existing) >= MAX_VARIANTS:
        raise RuleViolation(f"A product has at most {MAX_VARIANTS} variants", field="base")
    active = set(cmd.uow.catalog.active_location_ids())
    unknown = set(stock) - active
    if unknown:
        raise InvalidInput(
            f"location {sorted(unknown)[0]} does not exist or is not active", field="inventory_quantities"
        )
    rows = _complete_variants(
        [*(_row_of(v) for v in existing), {"id": None, **NewVariant().row(), **fields}], product.options
    )
    variant_id = cmd.uow.catalog.add_variant(product_id, rows[-1], cmd.now)
    for location_id, available in stock.items():
        cmd.uow.catalog.set_level(variant_id, location_id, available, cmd.now)
    cmd.uow.catalog.update_product(product_id, {}, cmd.now)
    return variant_id


def update_variant(cmd: Command, variant_id: int, fields: dict[str, Any], *, product_id: int | None = None) -> int:
    """Change one variant (of `product_id`, when the path names the product)."""
    variant = _variant(cmd, variant_id)
    if product_id is not None and variant.product_id != product_id:
        raise NotFound("Not Found")
    product = cmd.uow.catalog.product(variant.product_id, for_update=True)
    existing = cmd.uow.catalog.product_variants(variant.product_id)
    change = _renaming(fields, product.options)
    wanted = [{**_row_of(v), **change} if v.id == variant_id else _row_of(v) for v in existing]
    rows = _complete_variants(wanted, product.options)
    cmd.uow.catalog.update_variant(variant_id, next(r for r in rows if r["id"] == variant_id), cmd.now)
    return variant.product_id


def delete_variant(cmd: Command, product_id: int, variant_id: int) -> None:
    variant = _variant(cmd, variant_id)
    if variant.product_id != product_id:
        raise NotFound("Not Found")
    cmd.uow.catalog.product(product_id, for_update=True)
    if len(cmd.uow.catalog.product_variants(product_id)) == 1:
        raise RuleViolation("A product keeps at least one variant; delete the product instead", field="base")
    _refuse_if_committed(cmd, [variant_id], "delete this variant")
    cmd.uow.catalog.delete_variant(variant_id, cmd.now)


def normal_tags(raw: str | list[str] | None) -> str:
    """Shopify's tags: comma-separated, trimmed, each once, in alphabetical order."""
    parts = raw.split(",") if isinstance(raw, str) else (raw or [])
    unique = {p.strip().lower(): p.strip() for p in parts if p.strip()}
    return ", ".join(sorted(unique.values(), key=str.lower))


def _variant(cmd: Command, variant_id: int) -> Variant:
    found = cmd.uow.catalog.variants_by_id({variant_id})
    if variant_id not in found:
        raise NotFound("Not Found")
    return found[variant_id]


def _renaming(change: dict[str, Any], options: list[str]) -> dict[str, Any]:
    """A product without options of its own has one, "Title": a new title is its new value."""
    if not options and change.get("title") and "option1" not in change:
        return {**change, "option1": change["title"]}
    return change


def _row_of(variant: Variant) -> dict[str, Any]:
    return {"id": variant.id, **{k: getattr(variant, k) for k in VARIANT_COLUMNS}}


def _check_status(details: dict[str, Any]) -> None:
    details.setdefault("status", "active")
    if details["status"] not in PRODUCT_STATUSES:
        raise InvalidInput(f"must be one of {', '.join(PRODUCT_STATUSES)}", field="status")


def _option_names(raw: list[Any]) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(o, str | dict) for o in raw):
        raise InvalidInput('send options as a list of names or of {"name": …}', field="options")
    names = [(o if isinstance(o, str) else o.get("name") or "").strip() for o in raw]
    if len(names) > 3:
        raise InvalidInput("a product has at most three options", field="options")
    if any(not n for n in names):
        raise InvalidInput("an option needs a name", field="options")
    if len({n.lower() for n in names}) != len(names):
        raise InvalidInput("option names must differ", field="options")
    return [] if names == ["Title"] else names


def _complete_variants(rows: list[dict[str, Any]], options: list[str]) -> list[dict[str, Any]]:
    """Each variant's option values and title, checked: a value for every option the product
    has (the first one defaults to the variant's title), none beyond them, no two variants alike."""
    count = max(len(options), 1)
    seen: set[tuple[str, ...]] = set()
    done = []
    for index, given in enumerate(rows):
        row = dict(given)
        where = f"variants[{index}]"
        if row.get("option1") is None:
            row["option1"] = row.get("title") or "Default Title"
        values = [row.get(f"option{n}") for n in (1, 2, 3)]
        for n in range(count, 3):
            if values[n] is not None:
                raise InvalidInput(f"option{n + 1} is set but the product has only {count} option(s)", field=where)
        missing = [options[n] for n in range(count) if values[n] is None]
        if missing:
            raise InvalidInput(f"needs a value for the option {missing[0]}", field=where)
        key = tuple(str(v) for v in values[:count])
        if key in seen:
            raise InvalidInput(f"The variant '{' / '.join(key)}' already exists.", field="base")
        seen.add(key)
        row["title"] = " / ".join(key)
        if row.get("inventory_policy") not in ("deny", "continue"):
            raise InvalidInput("inventory_policy must be deny or continue", field=where)
        for money in ("price", "compare_at_price", "cost"):
            if row.get(money) is not None and row[money] < 0:
                raise InvalidInput(f"{money} must not be negative", field=where)
        done.append(row)
    if len(done) > MAX_VARIANTS:
        raise InvalidInput(f"a product has at most {MAX_VARIANTS} variants", field="variants")
    return done


def _free_handle(cmd: Command, wanted: str | None, title: str, product_id: int | None) -> str:
    """The handle asked for (refused when another product has it), or one made from the
    title, numbered when taken ("mug", "mug-1", …)."""
    catalog = cmd.uow.catalog
    if wanted:
        if not _HANDLE.match(wanted):
            raise InvalidInput("may hold only lowercase letters, digits and single hyphens", field="handle")
        if catalog.handle_taken(wanted, other_than=product_id):
            raise InvalidInput("has already been taken", field="handle")
        return wanted
    words = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    base = "-".join(re.findall(r"[a-z0-9]+", words))[:200] or "product"
    handle, n = base, 0
    while catalog.handle_taken(handle, other_than=product_id):
        n += 1
        handle = f"{base}-{n}"
    return handle


def _refuse_if_committed(cmd: Command, item_ids: list[int], action: str) -> None:
    committed = cmd.uow.catalog.committed_units(item_ids)
    if committed:
        raise RuleViolation(
            f"Cannot {action}: {committed} unit(s) are committed to orders not yet shipped; "
            "fulfill or cancel those orders first",
            field="base",
        )


def update_inventory_item(cmd: Command, item_id: int, fields: dict[str, Any]) -> None:
    """An inventory item is its variant's stock-keeping side: SKU, tracking, cost, origin."""
    columns = {
        "sku": "sku",
        "tracked": "inventory_tracked",
        "cost": "cost",
        "requires_shipping": "requires_shipping",
        "country_code_of_origin": "country_code_of_origin",
        "harmonized_system_code": "harmonized_system_code",
    }
    _variant(cmd, item_id)
    values = {columns[k]: v for k, v in fields.items() if k in columns}
    if values.get("country_code_of_origin"):
        values["country_code_of_origin"] = values["country_code_of_origin"].upper()
    if values.get("cost") is not None and values["cost"] < 0:
        raise InvalidInput("must not be negative", field="cost")
    cmd.uow.catalog.update_variant(item_id, values, cmd.now)


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


def set_on_hand(cmd: Command, item_id: int, location_id: int, on_hand: int) -> InventoryLevel:
    """Set the units physically at the location (what a fulfillment service reports it holds).
    Committed units stay committed and are part of that figure, so available = on_hand - committed.
    Available may go below zero: the location holds fewer units than orders are waiting for, and the
    shortfall is shown rather than hidden (as when a reservation moves to a location short of stock)."""
    _check_pair(cmd, item_id, location_id)
    inventory = cmd.uow.inventory.load({item_id})
    level = inventory.level(item_id, location_id, connect=True)
    level.on_hand = on_hand
    level.available = on_hand - level.committed
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
        raise RuleViolation(f"{level.committed} units here are committed to orders; move or fulfill them first")
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
