"""Locations, products and variants: what orders are routed to and made of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from ..domain.errors import InvalidInput, NotFound
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
        return [loc.id for loc in self.locations(active_only=True)]

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
        return self.location(new_id)

    def update_location(self, location_id: int, fields: dict[str, Any], now: datetime) -> Location:
        self.location(location_id)
        values = {k: fields[k] for k in LOCATION_FIELDS if k in fields}
        if values:
            self.conn.execute(update(locations).where(locations.c.id == location_id).values(**values, updated_at=now))
        return self.location(location_id)

    # ---- products and variants ---------------------------------------------------------
    def add_product(
        self,
        title: str,
        vendor: str | None,
        product_type: str | None,
        variant_rows: list[dict[str, Any]],
        now: datetime,
    ) -> int:
        product_id = self.conn.execute(
            insert(products)
            .values(title=title, vendor=vendor, product_type=product_type, created_at=now, updated_at=now)
            .returning(products.c.id)
        ).scalar_one()
        for row in variant_rows:
            self.conn.execute(
                insert(variants).values(
                    product_id=product_id,
                    created_at=now,
                    updated_at=now,
                    **{
                        k: row[k]
                        for k in (
                            "title",
                            "sku",
                            "price",
                            "grams",
                            "taxable",
                            "requires_shipping",
                            "inventory_tracked",
                            "inventory_policy",
                        )
                        if k in row
                    },
                )
            )
        return int(product_id)

    def variants_by_id(self, variant_ids: set[int]) -> dict[int, Variant]:
        if not variant_ids:
            return {}
        query = (
            select(variants, products.c.title.label("product_title"), products.c.vendor)
            .join(products, products.c.id == variants.c.product_id)
            .where(variants.c.id.in_(sorted(variant_ids)))
        )
        found = {}
        for row in self.conn.execute(query):
            m = row._mapping
            found[m["id"]] = Variant(
                id=m["id"],
                product_id=m["product_id"],
                product_title=m["product_title"],
                vendor=m["vendor"],
                title=m["title"],
                sku=m["sku"],
                price=Decimal(m["price"]),
                grams=m["grams"],
                taxable=m["taxable"],
                requires_shipping=m["requires_shipping"],
                inventory_tracked=m["inventory_tracked"],
                inventory_policy=m["inventory_policy"],
            )
        return found

    def product_variants(self, product_id: int) -> list[Variant]:
        ids = {r.id for r in self.conn.execute(select(variants.c.id).where(variants.c.product_id == product_id))}
        if not ids:
            raise NotFound("Not Found")
        return sorted(self.variants_by_id(ids).values(), key=lambda v: v.id)

    def products_page(
        self, *, since_id: int, limit: int
    ) -> list[tuple[int, str, str | None, str | None, datetime, datetime]]:
        rows = self.conn.execute(select(products).where(products.c.id > since_id).order_by(products.c.id).limit(limit))
        return [(r.id, r.title, r.vendor, r.product_type, r.created_at, r.updated_at) for r in rows]

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
                .values(available=available, on_hand=available + existing.committed, updated_at=now)
            )
