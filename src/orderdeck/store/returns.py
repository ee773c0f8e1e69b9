"""Returns as rows beside the order document: the admin's Returns list and the return reports.

The order document holds the facts; `returns`, `return_lines` and `fulfilled_units` repeat what
lists and reports filter, page and count by, written in the same transaction as the order
(services.changes.save_order), so they are never behind it. An order's rows are replaced
whole when it changes: an order has a handful of returns at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, insert, or_, select

from ..domain.errors import InvalidInput
from ..domain.order import Order
from ..domain.returns import DUE_STATES, RETURN_STATUSES, what_is_due
from .codec import BadDocument, decode_order, encode_order
from .database import utc
from .documents import document_source, store_document
from .tables import fulfilled_units, orders, return_lines, returns

PAGE = 50
MAX_PAGE = 250


def fulfilled_by_line(order: Order) -> dict[int, int]:
    """Units fulfilled now (cancelled fulfillments left out) per order line id."""
    found: dict[int, int] = {}
    for f in order.fulfillments:
        if f.is_active:
            for fl in f.line_items:
                found[fl.line_item_id] = found.get(fl.line_item_id, 0) + fl.quantity
    return {line_id: n for line_id, n in found.items() if n > 0}


@dataclass(frozen=True)
class ReturnsFilter:
    """The Returns list's filters: status (a return status), due (what is due next, one of
    domain.returns.DUE_STATES), search (a return's or its order's name, "#1001" or "1001-R2"),
    and the page: returns with an id below `before_id`, newest first."""

    status: str | None = None
    due: str | None = None
    search: str | None = None
    before_id: int | None = None
    limit: int = PAGE

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in RETURN_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(RETURN_STATUSES)}", field="status")
        if self.due is not None and self.due not in DUE_STATES:
            raise InvalidInput(f"due must be one of {', '.join(DUE_STATES)}", field="due")
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        if self.search is not None and len(self.search) > 64:
            raise InvalidInput("search may be at most 64 characters", field="search")


@dataclass(frozen=True)
class ReturnRow:
    id: int
    order_id: int
    order_name: str
    name: str
    status: str
    due: str
    total_quantity: int
    exchange: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass
class ReturnsPage:
    rows: list[ReturnRow] = field(default_factory=list)
    next_before_id: int | None = None  # the next page's `before_id`; None on the last page


def _search(text: str) -> ColumnElement[bool] | None:
    """A return's name ("#1001-R2") or every return of an order ("#1001"), "#" optional."""
    wanted = text.strip().upper()
    if not wanted:
        return None
    if not wanted.startswith("#"):
        wanted = "#" + wanted
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(func.upper(returns.c.name) == wanted, func.upper(returns.c.name).like(escaped + "-R%", escape="\\"))


class ReturnsRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def sync(self, order: Order, *, fulfilled_before: dict[int, int] | None = None) -> None:
        """Write the order's rows after it was saved. Its returns' rows are replaced when it
        has returns (returns never leave an order, so one without them had none before either);
        its fulfilled units when they changed from `fulfilled_before` (None: a new order)."""
        if order.returns:
            self._write_returns(order)
        fulfilled = fulfilled_by_line(order)
        if fulfilled != (fulfilled_before or {}):
            self.conn.execute(delete(fulfilled_units).where(fulfilled_units.c.order_id == order.id))
            if fulfilled:
                self.conn.execute(insert(fulfilled_units), fulfilled_rows(order, fulfilled))

    def _write_returns(self, order: Order) -> None:
        self._delete_returns(order.id)
        self.conn.execute(
            insert(returns),
            [
                {
                    "id": ret.id,
                    "order_id": order.id,
                    "name": ret.name,
                    "status": ret.status,
                    "due": what_is_due(ret),
                    "total_quantity": ret.total_quantity,
                    "exchange": any(ex.quantity - ex.removed_quantity > 0 for ex in ret.exchange_line_items),
                    "created_at": utc(ret.created_at),
                    "updated_at": utc(ret.updated_at),
                    "closed_at": utc(ret.closed_at),
                }
                for ret in order.returns
            ],
        )
        lines = []
        for ret in order.returns:
            for rli in ret.return_line_items:
                item = order.line_item(rli.line_item_id)
                lines.append(
                    {
                        "id": rli.id,
                        "return_id": ret.id,
                        "order_id": order.id,
                        "status": ret.status,
                        "line_item_id": rli.line_item_id,
                        "product_id": item.product_id if item else None,
                        "variant_id": item.variant_id if item else None,
                        "title": (item.title if item else "")[:255],
                        "sku": item.sku[:255] if item and item.sku else None,
                        "reason": rli.return_reason,
                        "quantity": rli.current_quantity,
                        "created_at": utc(ret.created_at),
                    }
                )
        if lines:
            self.conn.execute(insert(return_lines), lines)

    def _delete_returns(self, order_id: int) -> None:
        self.conn.execute(delete(return_lines).where(return_lines.c.order_id == order_id))
        self.conn.execute(delete(returns).where(returns.c.order_id == order_id))

    def delete_for_order(self, order_id: int) -> None:
        """An order deleted for good takes its returns and fulfilled units with it."""
        self._delete_returns(order_id)
        self.conn.execute(delete(fulfilled_units).where(fulfilled_units.c.order_id == order_id))

    def _conditions(self, wanted: ReturnsFilter, *, with_due: bool = True) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if wanted.status is not None:
            found.append(returns.c.status == wanted.status)
        if with_due and wanted.due is not None:
            found.append(returns.c.due == wanted.due)
        if wanted.search is not None:
            matched = _search(wanted.search)
            if matched is not None:
                found.append(matched)
        return found

    def list(self, wanted: ReturnsFilter) -> ReturnsPage:
        """One page of the Returns list, newest first (by id, which grows with time)."""
        conditions = self._conditions(wanted)
        if wanted.before_id is not None:
            conditions.append(returns.c.id < wanted.before_id)
        query = (
            select(returns, orders.c.name.label("order_name"))
            .select_from(returns.join(orders, orders.c.id == returns.c.order_id))
            .where(*conditions)
            .order_by(returns.c.id.desc())
            .limit(wanted.limit + 1)
        )
        rows = [_return_row(r) for r in self.conn.execute(query).mappings()]
        page = ReturnsPage(rows[: wanted.limit])
        if len(rows) > wanted.limit:
            page.next_before_id = page.rows[-1].id
        return page

    def count_by_due(self, wanted: ReturnsFilter) -> dict[str, int]:
        """How many returns each tab of the list holds: the filter's status and search, every
        due state (those with none at 0)."""
        query = select(returns.c.due, func.count()).where(*self._conditions(wanted, with_due=False))
        counted = {due: 0 for due in DUE_STATES}
        for due, n in self.conn.execute(query.group_by(returns.c.due)):
            counted[due] = int(n)
        return counted


def _return_row(r: Any) -> ReturnRow:
    return ReturnRow(
        id=r["id"],
        order_id=r["order_id"],
        order_name=r["order_name"],
        name=r["name"],
        status=r["status"],
        due=r["due"],
        total_quantity=r["total_quantity"],
        exchange=bool(r["exchange"]),
        created_at=_aware(r["created_at"]),
        updated_at=_aware(r["updated_at"]),
        closed_at=_aware(r["closed_at"]) if r["closed_at"] is not None else None,
    )


def _aware(moment: datetime) -> datetime:
    """SQLite hands times back without their offset; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def fulfilled_rows(order: Order, fulfilled: dict[int, int]) -> list[dict[str, Any]]:
    rows = []
    for line_id, quantity in sorted(fulfilled.items()):
        item = order.line_item(line_id)
        rows.append(
            {
                "order_id": order.id,
                "line_item_id": line_id,
                "product_id": item.product_id if item else None,
                "variant_id": item.variant_id if item else None,
                "title": (item.title if item else "")[:255],
                "quantity": quantity,
            }
        )
    return rows


@dataclass
class BackfillReport:
    checked: int = 0
    numbered: int = 0  # orders whose fulfillment lines got ids
    unreadable: list[int] = field(default_factory=list)  # order ids whose document does not load


def backfill(conn: Connection, *, batch: int = 500) -> BackfillReport:
    """For orders stored before returns existed (migration 0018): give every fulfillment line
    without an id (0) one from its order's own sequence, as a return names fulfillment lines by
    id, and write the order's fulfilled units. Walks the orders by id, `batch` at a time, so
    memory stays bounded; lines that have an id keep it and the units rows are rewritten, so
    running it again changes nothing. Orders whose document does not load are left alone and
    listed (`orderdeck repair-orders` deals with them)."""
    report = BackfillReport()
    source, document, overlay = document_source(conn)
    last = 0
    while True:
        query = (
            select(orders.c.id, document.label("document"), overlay.label("overlay"))
            .select_from(source)
            .where(orders.c.id > last)
            .order_by(orders.c.id)
            .limit(batch)
        )
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        rows = conn.execute(query).all()
        if not rows:
            return report
        last = rows[-1].id
        report.checked += len(rows)
        units: list[dict[str, Any]] = []
        for row in rows:
            try:
                order = decode_order(row.document, row.overlay)
            except BadDocument:
                report.unreadable.append(row.id)
                continue
            if _number_fulfillment_lines(order):
                report.numbered += 1
                store_document(conn, order.id, encode_order(order))
            units += fulfilled_rows(order, fulfilled_by_line(order))
        conn.execute(delete(fulfilled_units).where(fulfilled_units.c.order_id.in_([row.id for row in rows])))
        if units:
            conn.execute(insert(fulfilled_units), units)


def _number_fulfillment_lines(order: Order) -> bool:
    numbered = False
    for f in order.fulfillments:
        for fl in f.line_items:
            if fl.id == 0:
                fl.id = order.child_id()
                numbered = True
    return numbered
