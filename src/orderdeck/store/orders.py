"""Loading and saving orders: one narrow row per order (what lists, counts, exports and reports
read), locked for the length of a command, and one row of its document and rendering in
`order_documents`, read by id."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from ..domain.errors import NotFound
from ..domain.order import Order
from ..domain.statuses import DerivedStatuses, derive_statuses
from . import counts
from .codec import decode_order, encode_order, with_overlay
from .database import utc
from .returns import ReturnsRepository
from .shipments import ShipmentsRepository
from .tables import deleted_orders, order_documents, order_search_terms, orders


def order_status(order: Order) -> str:
    if order.is_cancelled:
        return "cancelled"
    return "closed" if order.is_closed else "open"


REQUEST_TERMS = ("submitted", "accepted", "cancellation_requested")


def search_terms(order: Order) -> set[tuple[str, str]]:
    """What the free-text search and the tag/location filters look an order up by."""
    terms: set[tuple[str, str]] = {("tag", t.lower()[:255]) for t in order.tags}
    terms |= {("sku", li.sku.lower()[:255]) for li in order.line_items if li.sku}
    terms |= {("tracking", n.lower()[:255]) for f in order.fulfillments for n in f.tracking_numbers}
    terms |= {("location", str(fo.assigned_location_id)) for fo in order.fulfillment_orders}
    # Stuck orders (domain/stuck.py): each standing reason, and "any" for the Stuck list; and the
    # requests still with a service, which the stuck-order sweep looks its candidates up by.
    terms |= {("stuck", flag.reason) for flag in order.stuck} | ({("stuck", "any")} if order.stuck else set())
    terms |= {
        ("request", fo.request_status)
        for fo in order.fulfillment_orders
        if fo.is_active and fo.request_status in REQUEST_TERMS
    }
    # Each word of the customer's name, so "Jansen" finds "Anna Jansen" through an index.
    customer = order.customer
    billing = order.billing_address or order.shipping_address
    full_name = customer.name if customer and customer.name else billing.name if billing else ""
    terms |= {("name", word[:255]) for word in full_name.lower().split() if len(word) > 1}
    return terms


def status_columns(order: Order, statuses: DerivedStatuses | None = None) -> dict[str, Any]:
    """The columns an order is filtered and counted by."""
    statuses = statuses or derive_statuses(order)
    return {
        "closed_at": utc(order.closed_at),
        "cancelled_at": utc(order.cancelled_at),
        "order_status": order_status(order),
        "financial_status": statuses.financial_status,
        "fulfillment_status": statuses.fulfillment_status,
        "display_fulfillment_status": statuses.display_fulfillment_status,
        "return_status": statuses.return_status,
    }


def _text(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else value


def summary_columns(order: Order) -> dict[str, Any]:
    """What the CSV export prints and reports add up, from the document, as the row keeps it
    (tables.orders): each text exactly the cell the export writes; and the tags as a JSON list,
    which bulk tagging reads (`tag_list`)."""
    fulfilled = [f.created_at for f in order.fulfillments if f.is_active]
    return {
        "placed_at_text": order.created_at.isoformat(),
        "email_as_written": order.email or "",
        "customer_display_name": order.customer.name if order.customer else "",
        "subtotal_amount": str(order.subtotal_price),
        "shipping_amount": str(order.total_shipping_price),
        "tax_amount": str(order.total_tax),
        "total_amount": str(order.total_price),
        "discount_codes": " ".join(d.code for d in order.discount_codes),
        "tags": ", ".join(order.tags),
        "line_summary": "; ".join(f"{li.quantity}x {li.sku or li.name}" for li in order.line_items),
        "tracking_numbers": " ".join(n for f in order.fulfillments if f.is_active for n in f.tracking_numbers),
        "cancelled_at_text": order.cancelled_at.isoformat() if order.cancelled_at else "",
        "cancel_reason": order.cancel_reason or "",
        "first_fulfilled_at": utc(min(fulfilled)) if fulfilled else None,
        "tag_list": msgspec.json.encode(order.tags).decode(),
    }


def _row(order: Order) -> dict[str, Any]:
    """The order's narrow row (tables.orders)."""
    customer = order.customer
    billing = order.billing_address or order.shipping_address
    customer_name = customer.name if customer and customer.name else billing.name if billing else None
    return {
        "id": order.id,
        "number": order.number,
        "name": order.name,
        "created_at": utc(order.created_at),
        "updated_at": utc(order.updated_at),
        "processed_at": utc(order.processed_at),
        **status_columns(order),
        "email": order.email.lower() if order.email else None,
        "phone": order.phone,
        "customer_id": customer.id if customer else None,
        "customer_name": customer_name.lower() if customer_name else None,
        "source_name": order.source_name,
        "currency": order.currency,
        "total_price": order.total_price,
        "test": order.test,
        "token": order.token,
        "custom_status": order.custom_status.handle if order.custom_status else None,
        "version": order.version,
        **summary_columns(order),
    }


def document_row(order: Order, rendered: bytes | None = None, rendered_for: str | None = None) -> dict[str, Any]:
    """The order's row in `order_documents`: its document, and its rendering if one is given."""
    return {
        "order_id": order.id,
        "document": encode_order(order),
        "rendered": rendered.decode() if rendered is not None else None,
        "rendered_for": rendered_for if rendered is not None else None,
    }


@cache
def _rewrite_order() -> Any:
    """The UPDATE of a whole order row, built once with bind parameters: building it from each
    order's values made SQLAlchemy construct it and work out its cache key every time (a third
    of a bulk archive's time)."""
    columns = [c.name for c in orders.c if c.name not in ("id", "overlay")]
    # The document written beside it holds every field: no overlay is left to lay over it.
    return (
        update(orders)
        .where(orders.c.id == bindparam("order_id"))
        .values({**{c: bindparam(c) for c in columns}, "overlay": None})
    )


@cache
def _rewrite_document() -> Any:
    """The UPDATE of an order's document and rendering, built once like `_rewrite_order`."""
    c = order_documents.c
    return (
        update(order_documents)
        .where(c.order_id == bindparam("id"))
        .values(document=bindparam("document"), rendered=bindparam("rendered"), rendered_for=bindparam("rendered_for"))
    )


def load_many(conn: Connection, ids: Iterable[int], *, chunk: int = 500) -> dict[int, Order]:
    """The orders with these ids that are still there, unlocked, as a command loads one (each
    document with its overlay laid over it), a statement per `chunk` ids."""
    wanted = sorted(set(ids))
    found: dict[int, Order] = {}
    for start in range(0, len(wanted), chunk):
        rows = conn.execute(
            select(orders.c.id, order_documents.c.document, orders.c.overlay)
            .select_from(orders.join(order_documents, order_documents.c.order_id == orders.c.id))
            .where(orders.c.id.in_(wanted[start : start + chunk]))
        )
        found.update((row.id, decode_order(row.document, row.overlay)) for row in rows)
    return found


class OrderRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, order_id: int, *, for_update: bool = True) -> Order:
        query = (
            select(order_documents.c.document, orders.c.overlay)
            .select_from(orders.join(order_documents, order_documents.c.order_id == orders.c.id))
            .where(orders.c.id == order_id)
        )
        if for_update and self.conn.dialect.name != "sqlite":
            # Both rows locked: the narrow row is what every command (and a bulk statement) takes,
            # and a read that waited for it must see the document as the command before left it
            # (PostgreSQL re-reads after the wait only the rows it locked).
            query = query.with_for_update()
        row = self.conn.execute(query).one_or_none()
        if row is None:
            raise NotFound("Not Found")
        return decode_order(row.document, row.overlay)

    def add(self, order: Order, *, rendered: bytes | None = None, rendered_for: str | None = None) -> None:
        row = _row(order)
        self.conn.execute(insert(orders), row)
        self.conn.execute(insert(order_documents), document_row(order, rendered, rendered_for))
        counts.record(self.conn, [(counts.key_of(row), 1)])
        terms = search_terms(order)
        if terms:
            self.conn.execute(
                insert(order_search_terms), [{"order_id": order.id, "kind": k, "term": t} for k, t in sorted(terms)]
            )

    def save(
        self,
        order: Order,
        *,
        previous_terms: set[tuple[str, str]],
        previous_count_key: counts.Key,
        rendered: bytes | None = None,
        rendered_for: str | None = None,
    ) -> None:
        order.version += 1
        row = _row(order)
        self.conn.execute(_rewrite_order(), {**row, "order_id": row["id"]})
        stored = document_row(order, rendered, rendered_for)
        self.conn.execute(_rewrite_document(), {**stored, "id": order.id})
        self.record_changes(order, row, previous_terms=previous_terms, previous_count_key=previous_count_key)

    def record_changes(
        self,
        order: Order,
        row: dict[str, Any],
        *,
        previous_terms: set[tuple[str, str]],
        previous_count_key: counts.Key,
    ) -> None:
        """The status counts and search terms of an order just saved as `row`, moved on from
        what they were."""
        key = counts.key_of(row)
        if key != previous_count_key:
            counts.record(self.conn, [(previous_count_key, -1), (key, 1)])
        terms = search_terms(order)
        gone, new = previous_terms - terms, terms - previous_terms
        for kind, term in gone:
            self.conn.execute(
                delete(order_search_terms).where(
                    order_search_terms.c.order_id == order.id,
                    order_search_terms.c.kind == kind,
                    order_search_terms.c.term == term,
                )
            )
        if new:
            self.conn.execute(
                insert(order_search_terms), [{"order_id": order.id, "kind": k, "term": t} for k, t in sorted(new)]
            )

    def stored_rendering(self, order_id: int) -> tuple[str, str | None, str | None]:
        """(document with its overlay laid over it, rendered JSON, the settings it was rendered
        with) without locking; no rendering while an overlay makes it out of date."""
        c = order_documents.c
        row = self.conn.execute(
            select(c.document, c.rendered, c.rendered_for, orders.c.overlay)
            .select_from(orders.join(order_documents, c.order_id == orders.c.id))
            .where(orders.c.id == order_id)
        ).one_or_none()
        if row is None:
            raise NotFound("Not Found")
        if row.overlay is not None:
            return with_overlay(row.document, row.overlay), None, None
        return row.document, row.rendered, row.rendered_for

    def delete(
        self, order: Order, *, financial_status: str, count_key: counts.Key, deleted_by: str, now: datetime
    ) -> None:
        """Delete for good, keeping an audit line with no personal data."""
        counts.record(self.conn, [(count_key, -1)])
        self.conn.execute(
            insert(deleted_orders).values(
                order_id=order.id,
                name=order.name,
                created_at=order.created_at,
                deleted_at=now,
                deleted_by=deleted_by,
                source_name=order.source_name,
                financial_status=financial_status,
                currency=order.currency,
                total_price=Decimal(order.total_price),
                test=order.test,
                cancelled=order.is_cancelled,
            )
        )
        self.conn.execute(delete(order_search_terms).where(order_search_terms.c.order_id == order.id))
        ReturnsRepository(self.conn).delete_for_order(order.id)
        ShipmentsRepository(self.conn).delete_for_order(order.id)
        self.conn.execute(delete(order_documents).where(order_documents.c.order_id == order.id))
        self.conn.execute(delete(orders).where(orders.c.id == order.id))
