"""Locations, products and variants: what orders are routed to and made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import fields as fields_of
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

import orjson
from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, update

from ..domain.errors import InvalidInput, NotFound
from . import process_cache
from .tables import inventory_levels, locations, products, variants


@dataclass
class Location:
    id: int
    name: str
    address1: str | None
    address2: str | None
    city: str | None
    zip: str | None
    province: str | None
    province_code: str | None
    country_code: str | None
    phone: str | None
    active: bool
    priority: int
    created_at: datetime
    updated_at: datetime


@dataclass
class Variant:
    id: int
    product_id: int
    product_title: str
    vendor: str | None
    title: str
    sku: str | None
    price: Decimal
    grams: int
    taxable: bool
    requires_shipping: bool
    inventory_tracked: bool
    inventory_policy: str
    option1: str | None = None
    option2: str | None = None
    option3: str | None = None
    compare_at_price: Decimal | None = None
    barcode: str | None = None
    cost: Decimal | None = None
    country_code_of_origin: str | None = None
    harmonized_system_code: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Product:
    id: int
    title: str
    body_html: str | None
    vendor: str | None
    product_type: str | None
    handle: str | None
    status: str
    tags: str
    options: list[str]  # option names ("Color", "Size"); empty: the one option "Title"
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass
class ProductFilter:
    """The product list's filters (GET products.json and products/count.json)."""

    ids: list[int] = field(default_factory=list)
    since_id: int | None = None
    title: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    handle: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    updated_at_min: datetime | None = None
    updated_at_max: datetime | None = None


# Columns a variant row is written with (its product, id and timestamps aside).
VARIANT_COLUMNS = (
    "title",
    "sku",
    "price",
    "grams",
    "taxable",
    "requires_shipping",
    "inventory_tracked",
    "inventory_policy",
    "option1",
    "option2",
    "option3",
    "compare_at_price",
    "barcode",
    "cost",
    "country_code_of_origin",
    "harmonized_system_code",
)
PRODUCT_COLUMNS = ("title", "body_html", "vendor", "product_type", "handle", "status", "tags", "published_at")


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


_Record = TypeVar("_Record", Variant, Product)


def _from_row(cls: type[_Record], m: Any, **converted: Any) -> _Record:
    """The record of the row's columns by the record's field names, `converted` ones as given."""
    return cls(**{f.name: converted[f.name] if f.name in converted else m[f.name] for f in fields_of(cls)})


def _variant(m: Any) -> Variant:
    return _from_row(
        Variant, m, price=Decimal(m["price"]), compare_at_price=_money(m["compare_at_price"]), cost=_money(m["cost"])
    )


def _product(m: Any) -> Product:
    return _from_row(Product, m, options=orjson.loads(m["options"]) if m["options"] else [])


def _where(flt: ProductFilter) -> list[ColumnElement[bool]]:
    c = products.c
    conditions: list[ColumnElement[bool]] = []
    if flt.ids:
        conditions.append(c.id.in_(flt.ids))
    if flt.since_id is not None:
        conditions.append(c.id > flt.since_id)
    for column, value in ((c.title, flt.title), (c.vendor, flt.vendor), (c.product_type, flt.product_type)):
        if value is not None:
            conditions.append(column == value)
    if flt.handle:
        conditions.append(c.handle.in_(flt.handle))
    if flt.status:
        conditions.append(c.status.in_(flt.status))
    for column, low, high in (
        (c.created_at, flt.created_at_min, flt.created_at_max),
        (c.updated_at, flt.updated_at_min, flt.updated_at_max),
    ):
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column <= high)
    return conditions


LOCATION_FIELDS = (
    "name",
    "address1",
    "address2",
    "city",
    "zip",
    "province",
    "province_code",
    "country_code",
    "phone",
    "active",
    "priority",
)


@cache
def _active_location_ids() -> Any:
    return select(locations.c.id).where(locations.c.active.is_(True)).order_by(locations.c.priority, locations.c.id)


class Catalog:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ---- locations ---------------------------------------------------------------------
    def locations(self, *, active_only: bool = False) -> list[Location]:
        query = select(locations).order_by(locations.c.priority, locations.c.id)
        if active_only:
            query = query.where(locations.c.active.is_(True))
        return [Location(**row._mapping) for row in self.conn.execute(query)]

    def location(self, location_id: int) -> Location:
        row = self.conn.execute(select(locations).where(locations.c.id == location_id)).one_or_none()
        if row is None:
            raise NotFound("Not Found")
        return Location(**row._mapping)

    def active_location_ids(self) -> list[int]:
        """In the merchant's priority order; kept per process (store/process_cache.py)."""
        kept = process_cache.cached(self.conn)
        if kept is not None and "active_locations" in kept:
            return list(kept["active_locations"])
        found = [row.id for row in self.conn.execute(_active_location_ids())]
        if kept is not None:
            kept["active_locations"] = found
        return list(found)

    def add_location(self, fields: dict[str, Any], now: datetime) -> Location:
        name = (fields.get("name") or "").strip()
        if not name:
            raise InvalidInput("can't be blank", field="name")
        if self.conn.execute(select(locations.c.id).where(locations.c.name == name)).first():
            raise InvalidInput(f"a location named {name!r} exists already", field="name")
        values = {k: fields[k] for k in LOCATION_FIELDS if k in fields}
        values.setdefault(
            "priority", self.conn.execute(select(func.coalesce(func.max(locations.c.priority), -1) + 1)).scalar_one()
        )
        values.setdefault("active", True)
        new_id = self.conn.execute(
            insert(locations).values(**values, created_at=now, updated_at=now).returning(locations.c.id)
        ).scalar_one()
        process_cache.changed(self.conn, now)
        return self.location(new_id)

    def update_location(self, location_id: int, fields: dict[str, Any], now: datetime) -> Location:
        self.location(location_id)
        values = {k: fields[k] for k in LOCATION_FIELDS if k in fields}
        if "name" in values:
            values["name"] = name = (values["name"] or "").strip()
            if not name:
                raise InvalidInput("can't be blank", field="name")
            taken = select(locations.c.id).where(locations.c.name == name, locations.c.id != location_id)
            if self.conn.execute(taken).first():
                raise InvalidInput(f"a location named {name!r} exists already", field="name")
        if values:
            self.conn.execute(update(locations).where(locations.c.id == location_id).values(**values, updated_at=now))
            process_cache.changed(self.conn, now)
        return self.location(location_id)

    # ---- products and variants ---------------------------------------------------------
    def add_product(
        self,
        title: str,
        vendor: str | None,
        product_type: str | None,
        variant_rows: list[dict[str, Any]],
        now: datetime,
        extra: dict[str, Any] | None = None,
    ) -> int:
        values = {k: v for k, v in (extra or {}).items() if k in PRODUCT_COLUMNS}
        if "options" in (extra or {}):
            values["options"] = orjson.dumps((extra or {})["options"]).decode()
        product_id = self.conn.execute(
            insert(products)
            .values(title=title, vendor=vendor, product_type=product_type, created_at=now, updated_at=now, **values)
            .returning(products.c.id)
        ).scalar_one()
        for row in variant_rows:
            self.add_variant(product_id, row, now)
        process_cache.changed(self.conn, now)
        return int(product_id)

    def add_variant(self, product_id: int, row: dict[str, Any], now: datetime) -> int:
        values = {k: row[k] for k in VARIANT_COLUMNS if k in row}
        new_id = self.conn.execute(
            insert(variants)
            .values(product_id=product_id, created_at=now, updated_at=now, **values)
            .returning(variants.c.id)
        ).scalar_one()
        process_cache.changed(self.conn, now)
        return int(new_id)

    def product(self, product_id: int, *, for_update: bool = False) -> Product:
        query = select(products).where(products.c.id == product_id)
        if for_update and self.conn.dialect.name != "sqlite":
            query = query.with_for_update()
        row = self.conn.execute(query).one_or_none()
        if row is None:
            raise NotFound("Not Found")
        return _product(row._mapping)

    def products_matching(
        self, flt: ProductFilter, *, after_id: int = 0, before_id: int | None = None, limit: int
    ) -> list[Product]:
        """Oldest first; with `before_id` (a previous page) the `limit` products just before it."""
        conditions = _where(flt)
        if before_id is not None:
            conditions.append(products.c.id < before_id)
            query = select(products).where(*conditions).order_by(products.c.id.desc()).limit(limit)
            return [_product(r._mapping) for r in reversed(list(self.conn.execute(query)))]
        conditions.append(products.c.id > after_id)
        query = select(products).where(*conditions).order_by(products.c.id).limit(limit)
        return [_product(r._mapping) for r in self.conn.execute(query)]

    def count_products(self, flt: ProductFilter) -> int:
        query = select(func.count()).select_from(products).where(*_where(flt))
        return int(self.conn.execute(query).scalar_one())

    def handle_taken(self, handle: str, *, other_than: int | None = None) -> bool:
        query = select(products.c.id).where(products.c.handle == handle)
        if other_than is not None:
            query = query.where(products.c.id != other_than)
        return self.conn.execute(query.limit(1)).first() is not None

    def update_product(self, product_id: int, fields: dict[str, Any], now: datetime) -> None:
        values = {k: fields[k] for k in PRODUCT_COLUMNS if k in fields}
        if "options" in fields:
            values["options"] = orjson.dumps(fields["options"]).decode()
        self.conn.execute(update(products).where(products.c.id == product_id).values(**values, updated_at=now))
        process_cache.changed(self.conn, now)

    def delete_product(self, product_id: int, now: datetime) -> None:
        """The product, its variants and their stock levels. Orders keep their own copies of
        the lines they were placed with, so they stay as they are."""
        ids = [r.id for r in self.conn.execute(select(variants.c.id).where(variants.c.product_id == product_id))]
        self._delete_variants(ids, now)
        self.conn.execute(delete(products).where(products.c.id == product_id))

    def update_variant(self, variant_id: int, fields: dict[str, Any], now: datetime) -> None:
        values = {k: fields[k] for k in VARIANT_COLUMNS if k in fields}
        self.conn.execute(update(variants).where(variants.c.id == variant_id).values(**values, updated_at=now))
        process_cache.changed(self.conn, now)

    def delete_variant(self, variant_id: int, now: datetime) -> None:
        self._delete_variants([variant_id], now)

    def _delete_variants(self, ids: list[int], now: datetime) -> None:
        # Deleted explicitly rather than left to ON DELETE CASCADE: SQLite enforces foreign
        # keys only where the connection turned them on.
        if ids:
            self.conn.execute(delete(inventory_levels).where(inventory_levels.c.inventory_item_id.in_(ids)))
            self.conn.execute(delete(variants).where(variants.c.id.in_(ids)))
        process_cache.changed(self.conn, now)

    def committed_units(self, item_ids: list[int]) -> int:
        """Units of these items reserved for orders that have not shipped them yet."""
        if not item_ids:
            return 0
        query = select(func.coalesce(func.sum(inventory_levels.c.committed), 0)).where(
            inventory_levels.c.inventory_item_id.in_(item_ids)
        )
        return int(self.conn.execute(query).scalar_one())

    def available_by_item(self, item_ids: list[int]) -> dict[int, int]:
        """Available units over every location, per inventory item (a variant's inventory_quantity)."""
        if not item_ids:
            return {}
        query = (
            select(inventory_levels.c.inventory_item_id, func.sum(inventory_levels.c.available))
            .where(inventory_levels.c.inventory_item_id.in_(item_ids))
            .group_by(inventory_levels.c.inventory_item_id)
        )
        return {int(item): int(total) for item, total in self.conn.execute(query)}

    def _variant_query(self) -> Any:
        return select(variants, products.c.title.label("product_title"), products.c.vendor).join(
            products, products.c.id == variants.c.product_id
        )

    def variants_by_id(self, variant_ids: set[int]) -> dict[int, Variant]:
        """The variants with their product's title and vendor (what order lines are filled
        from); kept per process (store/process_cache.py), so a placement of variants ordered
        before reads none. Callers treat them as read-only."""
        if not variant_ids:
            return {}
        kept = process_cache.cached(self.conn)
        known: dict[int, Variant] = kept.setdefault("variants", {}) if kept is not None else {}
        found = {vid: known[vid] for vid in variant_ids if vid in known}
        missing = sorted(variant_ids - set(found))
        if missing:
            query = self._variant_query().where(variants.c.id.in_(missing))
            for row in self.conn.execute(query):
                found[row.id] = known[row.id] = _variant(row._mapping)
        return found

    def variants_of(self, product_ids: list[int]) -> dict[int, list[Variant]]:
        """Each product's variants in their order (by id), for a page of products in one query."""
        found: dict[int, list[Variant]] = {pid: [] for pid in product_ids}
        if not product_ids:
            return found
        query = self._variant_query().where(variants.c.product_id.in_(product_ids)).order_by(variants.c.id)
        for row in self.conn.execute(query):
            found[row.product_id].append(_variant(row._mapping))
        return found

    def product_variants(self, product_id: int) -> list[Variant]:
        found = self.variants_of([product_id])[product_id]
        if not found:
            raise NotFound("Not Found")
        return found

    def set_level(self, item_id: int, location_id: int, available: int, now: datetime) -> None:
        """Set available stock (a stock count), keeping what is committed to orders."""
        existing = self.conn.execute(
            select(inventory_levels).where(
                inventory_levels.c.inventory_item_id == item_id, inventory_levels.c.location_id == location_id
            )
        ).one_or_none()
        if existing is None:
            self.conn.execute(
                insert(inventory_levels).values(
                    inventory_item_id=item_id,
                    location_id=location_id,
                    available=available,
                    committed=0,
                    on_hand=available,
                    updated_at=now,
                )
            )
        else:
            self.conn.execute(
                update(inventory_levels)
                .where(inventory_levels.c.inventory_item_id == item_id, inventory_levels.c.location_id == location_id)
                # committed as the row holds it when written, not as read: a placement may
                # have committed units in between (it writes relative moves, store/inventory.py).
                .values(available=available, on_hand=inventory_levels.c.committed + available, updated_at=now)
            )
