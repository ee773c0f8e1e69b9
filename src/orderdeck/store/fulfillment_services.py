"""Fulfillment services: one row each, beside the location it fulfills from (store/catalog.py)."""

from __future__ import annotations

from dataclasses import fields as fields_of
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from ..domain.errors import NotFound
from ..domain.fulfillment_services import FulfillmentService
from . import process_cache
from .codec import decode_order
from .tables import fulfillment_services, order_documents, order_search_terms, orders

# The columns a change may write (the id, handle, location, owner and creation time stay).
CHANGEABLE = (
    "name",
    "email",
    "callback_url",
    "inventory_management",
    "tracking_support",
    "fulfillment_orders_opt_in",
    "permits_sku_sharing",
    "requires_shipping_method",
    "format",
    "include_pending_stock",
    "auto_request",
)


def _service(row: Any) -> FulfillmentService:
    m = row._mapping
    return FulfillmentService(**{f.name: m[f.name] for f in fields_of(FulfillmentService)})


@cache
def _all_services() -> Any:
    return select(fulfillment_services).order_by(fulfillment_services.c.id)


class FulfillmentServices:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, values: dict[str, Any]) -> int:
        new_id = self.conn.execute(
            insert(fulfillment_services).values(**values).returning(fulfillment_services.c.id)
        ).scalar_one()
        self._changed(values)
        return int(new_id)

    def _changed(self, values: dict[str, Any]) -> None:
        # Every placement asks which locations are services' (services/auto_requests.py): the
        # list is kept per process and versioned like the catalogue (store/process_cache.py).
        process_cache.changed(self.conn, values.get("updated_at") or datetime.now(UTC))

    def get(self, service_id: int, *, for_update: bool = False) -> FulfillmentService:
        query = select(fulfillment_services).where(fulfillment_services.c.id == service_id)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).one_or_none()
        if row is None:
            raise NotFound("Not Found")
        return _service(row)

    def all(self, *, owner_token_id: int | None = None) -> list[FulfillmentService]:
        """Oldest first; with an owner, only the services that token created. Every service is
        kept per process (store/process_cache.py); callers treat them as read-only."""
        if owner_token_id is not None:
            query = select(fulfillment_services).order_by(fulfillment_services.c.id)
            query = query.where(fulfillment_services.c.owner_token_id == owner_token_id)
            return [_service(row) for row in self.conn.execute(query)]
        kept = process_cache.cached(self.conn)
        if kept is not None and "fulfillment_services" in kept:
            return list(kept["fulfillment_services"])
        found = [_service(row) for row in self.conn.execute(_all_services())]
        if kept is not None:
            kept["fulfillment_services"] = found
        return list(found)

    def name_taken(self, name: str, *, other_than: int | None = None) -> bool:
        # Names are told apart regardless of case: "Mars Fulfillment" and "mars fulfillment" would
        # be one service to a merchant reading the locations list.
        query = select(fulfillment_services.c.id, fulfillment_services.c.name)
        return any(row.name.lower() == name.lower() and row.id != other_than for row in self.conn.execute(query))

    def handles(self) -> set[str]:
        return {row.handle for row in self.conn.execute(select(fulfillment_services.c.handle))}

    def update(self, service_id: int, values: dict[str, Any]) -> None:
        changed = {k: v for k, v in values.items() if k in CHANGEABLE or k == "updated_at"}
        self.conn.execute(update(fulfillment_services).where(fulfillment_services.c.id == service_id).values(**changed))
        self._changed(values)

    def delete(self, service_id: int) -> None:
        self.conn.execute(delete(fulfillment_services).where(fulfillment_services.c.id == service_id))
        self._changed({})

    def open_orders_at(self, location_id: int) -> list[str]:
        """The names of orders with a fulfillment order still to do (open, in progress, scheduled
        or on hold) assigned to the location. Candidates come from the location search terms of
        orders neither cancelled nor wholly fulfilled; their documents decide."""
        query = (
            select(orders.c.name, order_documents.c.document, orders.c.overlay)
            .select_from(orders.join(order_documents, order_documents.c.order_id == orders.c.id))
            .join(order_search_terms, order_search_terms.c.order_id == orders.c.id)
            .where(
                order_search_terms.c.kind == "location",
                order_search_terms.c.term == str(location_id),
                orders.c.cancelled_at.is_(None),
                or_(orders.c.fulfillment_status.is_(None), orders.c.fulfillment_status != "fulfilled"),
            )
            .order_by(orders.c.id)
        )
        found = []
        for row in self.conn.execute(query):
            order = decode_order(row.document, row.overlay)
            if any(fo.is_active and fo.assigned_location_id == location_id for fo in order.fulfillment_orders):
                found.append(row.name)
        return found
