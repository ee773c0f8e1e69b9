"""The order list: filters over every status dimension, free-text search, sorting, keyset
pagination, counts, and the CSV export. Reads only; no locks.

Every filter is a condition on indexed columns of `orders` or a lookup in
`order_search_terms`; pages continue from the last row's sort key (keyset), never an OFFSET,
so page 1,000 costs what page 1 costs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)

from ..domain.errors import InvalidInput
from ..domain.fulfillment import SHIPMENT_STATUSES
from ..domain.stuck import REASONS
from . import counts
from .codec import with_overlay
from .csv_cells import SafeWriter
from .database import utc
from .tables import order_counts, order_documents, orders, shipments
from .tables import order_search_terms as terms

log = logging.getLogger(__name__)

STATUSES = ("open", "closed", "cancelled", "any")
FINANCIAL = (
    "any",
    "authorized",
    "pending",
    "paid",
    "partially_paid",
    "refunded",
    "voided",
    "partially_refunded",
    "unpaid",
    "expired",
    "outstanding",
)
# Shopify's list filter: unpaid = authorized + partially_paid (SHOPIFY-REST.md §3). Orderdeck's
# "outstanding" adds pending (the admin's Unpaid tab: payment still to come in any form).
UNPAID = ("authorized", "partially_paid")
OUTSTANDING = ("pending", *UNPAID)
FULFILLMENT = (
    "any",
    "shipped",
    "fulfilled",
    "partial",
    "unshipped",
    "unfulfilled",
    "on_hold",
    "scheduled",
    "in_progress",
    "request_declined",
    "restocked",
)
# Return statuses: Shopify's OrderReturnStatus values (domain.returns.ORDER_RETURN_STATUSES);
# "any" puts no condition on returns.
RETURN = (
    "any",
    "return_requested",
    "in_progress",
    "inspection_complete",
    "returned",
    "return_failed",
    "no_return",
)
STUCK = ("any", *REASONS)
SORTABLE = {
    "id": orders.c.id,
    "created_at": orders.c.created_at,
    "updated_at": orders.c.updated_at,
    "processed_at": orders.c.processed_at,
    "total_price": orders.c.total_price,
    "number": orders.c.number,
    "name": orders.c.number,
}


@dataclass
class OrderFilter:
    status: str = "open"
    financial_status: str = "any"
    fulfillment_status: str = "any"
    ids: list[int] = field(default_factory=list)
    since_id: int | None = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    updated_at_min: datetime | None = None
    updated_at_max: datetime | None = None
    processed_at_min: datetime | None = None
    processed_at_max: datetime | None = None
    tag: list[str] = field(default_factory=list)
    tag_not: list[str] = field(default_factory=list)
    source_name: str | None = None
    location_id: int | None = None
    customer_id: int | None = None
    email: str | None = None
    name: str | None = None
    test: bool | None = None
    q: str | None = None
    custom_status: str | None = None  # a stage's handle, or "none" for orders in no stage
    return_status: str = "any"
    # Orderdeck's: stuck orders (domain/stuck.py), "any" or one reason code.
    stuck: str | None = None
    # Orderdeck's: orders with a standing fulfillment whose current shipment status is this
    # (Shopify's values, or "none" for no carrier news yet), from the shipments rows.
    shipment_status: str | None = None

    def check(self) -> None:
        for name, value, allowed in (
            ("status", self.status, STATUSES),
            ("financial_status", self.financial_status, FINANCIAL),
            ("fulfillment_status", self.fulfillment_status, FULFILLMENT),
            ("return_status", self.return_status, RETURN),
        ):
            if value not in allowed:
                raise InvalidInput(f"{value!r} is not one of {', '.join(allowed)}", field=name)
        if self.stuck is not None and self.stuck not in STUCK:
            raise InvalidInput(f"{self.stuck!r} is not one of {', '.join(STUCK)}", field="stuck")
        if self.shipment_status:
            orders_with_status(self.shipment_status)  # refuses a value that is no shipment status


def orders_with_status(status: str) -> ColumnElement[bool]:
    """Orders with a standing fulfillment whose current shipment status is `status` (Shopify's
    value, or "none" for no carrier news yet): a range of the shipments rows' status index."""
    if status not in (*SHIPMENT_STATUSES, "none"):
        raise InvalidInput(f"must be one of {', '.join(SHIPMENT_STATUSES)} or none", field="shipment_status")
    c = shipments.c
    current = c.shipment_status.is_(None) if status == "none" else c.shipment_status == status
    return orders.c.id.in_(select(c.order_id).where(current, c.stage != "cancelled"))


def _has_term(kind: str, term: str) -> ColumnElement[bool]:
    return exists().where(terms.c.order_id == orders.c.id, terms.c.kind == kind, terms.c.term == term)


def _order_number(text: str) -> int | None:
    digits = text.lstrip("#").strip()
    # orders.number is an INTEGER (32 bits on PostgreSQL, which refuses a larger value outright)
    return int(digits) if digits.isdecimal() and len(digits) < 12 and int(digits) < 2**31 else None


def _status_conditions(f: OrderFilter, c: Any, *, closed: Any, cancelled: Any) -> list[ColumnElement[bool]]:
    """The status dimensions of a filter, on `orders` or on the status counts (same column names)."""
    where: list[ColumnElement[bool]] = []
    if f.status == "open":
        where.append(c.order_status == "open")
    elif f.status == "closed":
        where.append(closed)
    elif f.status == "cancelled":
        where.append(cancelled)
    if f.financial_status == "unpaid":
        where.append(c.financial_status.in_(UNPAID))
    elif f.financial_status == "outstanding":
        where.append(c.financial_status.in_(OUTSTANDING))
    elif f.financial_status != "any":
        where.append(c.financial_status == f.financial_status)
    fs = f.fulfillment_status
    if fs in ("shipped", "fulfilled"):
        where.append(c.fulfillment_status == "fulfilled")
    elif fs == "partial":
        where.append(c.fulfillment_status == "partial")
    elif fs == "unshipped":
        where.append(c.fulfillment_status.is_(None))
    elif fs == "unfulfilled":
        where.append(or_(c.fulfillment_status.is_(None), c.fulfillment_status == "partial"))
    elif fs == "restocked":
        where.append(c.fulfillment_status == "restocked")
    elif fs != "any":
        where.append(c.display_fulfillment_status == fs)
    return where


def _fixed_to_null(f: OrderFilter) -> list[Any]:
    """The indexed column the filter holds at NULL ("unshipped": no fulfillment status), to name
    before `id` in the ORDER BY. PostgreSQL does not count `IS NULL` as fixing a column when it
    matches an ORDER BY to an index, so under "open, unshipped, paid" it cannot read
    ix_orders_status_fin_ful_id in id order: it walks the newest orders reading each row (57
    pages for 51 orders at a million), or, with the generic plan of a prepared statement, reads
    all 136,000 matches and sorts them (376 ms). Named first (the same order: every row kept is
    NULL there), the index is read in order: 8 pages, either plan. SQLite needs no help (it
    takes IS NULL as fixing the column)."""
    return [orders.c.fulfillment_status] if f.fulfillment_status == "unshipped" else []


def _range_before_walk(conn: Connection, f: OrderFilter, desc: bool) -> bool:
    """Whether a page by id under a range of creation times should read the range first and
    sort its ids (`ORDER BY id + 0`, which no index gives in order) rather than walk the ids
    from the newest (or oldest) order until the range's first orders turn up.

    Ids follow creation times, so the walk passes every order made after the range (before it,
    oldest first), reading each row; PostgreSQL's plan assumes a range's orders are spread over
    all ids and takes the walk even for a day four weeks back (381 ms at a million orders, 14,000
    pages, against 6.6 ms reading that day from ix_orders_created_at_id and sorting its 8,300
    ids). Reading the range costs as many orders as it holds, the walk as many as lie beyond it,
    so whichever span of time is shorter wins: "the last 30 days" still walks (nothing lies
    beyond it), a past day or week reads its range. The oldest and newest creation times (the
    edges of ix_orders_created_at_id, one statement) decide; the page is the same either way,
    only the path to it differs."""
    low, high = utc(f.created_at_min), utc(f.created_at_max)
    if (high if desc else low) is None:
        return False  # the walk meets the range's orders at once
    edges = conn.execute(select(func.min(orders.c.created_at), func.max(orders.c.created_at))).one()
    oldest, newest = utc(edges[0]), utc(edges[1])  # typed as the column: datetimes on both databases
    if oldest is None or newest is None:
        return False
    first, last = max(low or oldest, oldest), min(high or newest, newest)
    beyond = newest - last if desc else first - oldest
    return last - first < beyond


def conditions(f: OrderFilter) -> list[ColumnElement[bool]]:
    f.check()
    c = orders.c
    where = _status_conditions(f, c, closed=c.closed_at.is_not(None), cancelled=c.cancelled_at.is_not(None))
    if f.ids:
        where.append(c.id.in_(f.ids))
    if f.since_id is not None:
        where.append(c.id > f.since_id)
    for column, low, high in (
        (c.created_at, f.created_at_min, f.created_at_max),
        (c.updated_at, f.updated_at_min, f.updated_at_max),
        (c.processed_at, f.processed_at_min, f.processed_at_max),
    ):
        if low is not None:
            where.append(column >= utc(low))
        if high is not None:
            where.append(column <= utc(high))
    for tag in f.tag:
        where.append(_has_term("tag", tag.strip().lower()))
    for tag in f.tag_not:
        where.append(~_has_term("tag", tag.strip().lower()))
    if f.source_name:
        where.append(c.source_name == f.source_name)
    if f.custom_status == "none":
        where.append(c.custom_status.is_(None))
    elif f.custom_status:
        where.append(c.custom_status == f.custom_status)
    if f.return_status != "any":
        where.append(c.return_status == f.return_status)  # ix_orders_return_id
    if f.location_id is not None:
        where.append(_has_term("location", str(f.location_id)))
    if f.stuck is not None:
        where.append(_has_term("stuck", f.stuck))
    if f.shipment_status:
        where.append(orders_with_status(f.shipment_status))
    if f.customer_id is not None:
        where.append(c.customer_id == f.customer_id)
    if f.email:
        where.append(c.email == f.email.strip().lower())
    if f.name:
        number = _order_number(f.name)
        where.append(c.number == number if number is not None else c.name == f.name)
    if f.test is not None:
        where.append(c.test.is_(f.test))
    if f.q and f.q.strip():
        where.append(_search(f.q.strip().lower()))
    return where


def _search(q: str) -> ColumnElement[bool]:
    """Free text: order name or number, e-mail, customer name, SKU or tracking number.

    Each way of matching is its own indexed lookup and the order ids are united, rather than one
    OR over the table (which no index can serve). Prefixes are ranges (`>= q`, `< q + U+FFFF`)
    so that SQLite and PostgreSQL both use the index, whatever the collation."""
    c = orders.c
    end = q + "\uffff"
    lookups = [
        select(c.id).where(c.email >= q, c.email < end),
        select(c.id).where(c.customer_name >= q, c.customer_name < end),
        select(terms.c.order_id).where(terms.c.kind.in_(("sku", "tracking", "name")), terms.c.term == q),
    ]
    number = _order_number(q)
    if number is not None:
        lookups.insert(0, select(c.id).where(c.number == number))
    return c.id.in_(union_all(*lookups))


class BadCursor(InvalidInput):
    """A page_info Orderdeck did not make (Shopify answers these with 400)."""

    def __init__(self) -> None:
        super().__init__("Invalid value.", field="page_info")


def cursor_key(secret: str) -> bytes:
    """The key page_info is signed with: derived from the shop's webhook signing secret (kept in
    the shop row, or ORDERDECK_WEBHOOK_SECRET), so every server process signs and checks alike."""
    return hmac.new(secret.encode(), b"orderdeck page_info v1", hashlib.sha256).digest()


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class Cursor:
    """What page_info carries: the filters, the sort and the last row's key. It is base64 JSON
    followed by `.` and an HMAC of it, so a page_info changed by hand is refused (400) instead
    of reaching a query with values no filter would have accepted."""

    filter: dict[str, Any]
    sort: str
    descending: bool
    last_value: Any
    last_id: int
    direction: str = "next"  # next | previous

    def encode(self, key: bytes) -> str:
        payload = base64.urlsafe_b64encode(orjson.dumps(asdict(self), default=str)).decode().rstrip("=")
        return f"{payload}.{_mac(key, payload)}"

    @classmethod
    def decode(cls, token: str, key: bytes) -> Cursor:
        payload, _, mac = token.rpartition(".")
        expected = _mac(key, payload)
        if not payload or not hmac.compare_digest(mac.encode("utf-8", "replace"), expected.encode()):
            raise BadCursor
        try:
            raw = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            cursor = cls(**raw)
            cursor.filter = {k: v for k, v in cursor.filter.items() if k in {f.name for f in fields(OrderFilter)}}
            if cursor.sort not in SORTABLE or cursor.direction not in ("next", "previous"):
                raise ValueError(cursor.sort)
            return cursor
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise BadCursor from None

    def order_filter(self) -> OrderFilter:
        values = dict(self.filter)
        for key in (
            "created_at_min",
            "created_at_max",
            "updated_at_min",
            "updated_at_max",
            "processed_at_min",
            "processed_at_max",
        ):
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        return OrderFilter(**values)


def parse_sort(raw: str | None) -> tuple[str, bool]:
    """`order=created_at desc` (Shopify's form); default newest first."""
    if not raw:
        return "id", True
    parts = raw.replace("+", " ").split()
    column = parts[0].lower() if parts else ""
    if column not in SORTABLE or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise InvalidInput(f"sort by one of {', '.join(SORTABLE)} followed by asc or desc", field="order")
    return column, len(parts) == 1 or parts[1].lower() == "desc"


@dataclass
class StoredOrder:
    document: str | None  # None when the stored rendering serves (see `list_orders`' fresh_for)
    rendered: str | None
    rendered_for: str | None


@dataclass
class Page:
    orders: list[StoredOrder]
    next: Cursor | None
    previous: Cursor | None


def _coerce_key(sort: str, value: Any) -> Any:
    if sort in ("created_at", "updated_at", "processed_at") and isinstance(value, str):
        return datetime.fromisoformat(value)
    if sort == "total_price" and value is not None:
        return Decimal(str(value))
    return value


def list_orders(
    conn: Connection,
    f: OrderFilter,
    *,
    sort: str,
    descending: bool,
    limit: int,
    after: Cursor | None = None,
    fresh_for: str | None = None,
) -> Page:
    """A page of orders. With `fresh_for` (the render settings' fingerprint), an order whose
    stored rendering was made with those settings comes without its document, which then need
    not be read at all."""
    column = SORTABLE[sort]
    order_id: Any = orders.c.id
    source: Any = orders
    if sort == "id" and f.tag:
        # A tag filter is walked from the tag's own index, newest first, so a page reads the
        # orders of that page and not every order until enough carry the tag.
        tagged = terms.alias("tagged")
        where = conditions(replace(f, tag=f.tag[1:]))
        where += [tagged.c.kind == "tag", tagged.c.term == f.tag[0].strip().lower()]
        source = tagged.join(orders, orders.c.id == tagged.c.order_id)
        order_id = column = tagged.c.order_id
    else:
        where = conditions(f)
    backwards = after is not None and after.direction == "previous"
    # Walking backwards is walking the opposite way, then reversing the rows.
    desc = descending != backwards
    if after is not None:
        key = _coerce_key(sort, after.last_value)
        if sort == "id":
            where.append(order_id < after.last_id if desc else order_id > after.last_id)
        elif desc:
            where.append(or_(column < key, and_(column == key, orders.c.id < after.last_id)))
        else:
            where.append(or_(column > key, and_(column == key, orders.c.id > after.last_id)))
    ordering = [column.desc(), orders.c.id.desc()] if desc else [column.asc(), orders.c.id.asc()]
    if sort == "id":
        ordering = ordering[:1]
        if source is orders:
            # The same order (every row the filter keeps is NULL there), in a shape PostgreSQL can
            # read from an index ending in (…, that column, id) without sorting the matches.
            ordering = [(c.desc() if desc else c.asc()) for c in _fixed_to_null(f)] + ordering
            if _range_before_walk(conn, f, desc):
                unindexed = orders.c.id + literal_column("0")
                ordering = [unindexed.desc() if desc else unindexed.asc()]
    # The page's keys first, the documents after: a sort or a scan then carries ids and keys,
    # never the orders' documents, however many rows it passes over.
    query = (
        select(order_id.label("id"), column.label("sort_key"))
        .select_from(source)
        .where(and_(true(), *where))
        .order_by(*ordering)
        .limit(limit + 1)
    )
    rows = list(conn.execute(query))
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    filter_state = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(f).items()}

    def cursor(row: Any, direction: str) -> Cursor:
        value = row.sort_key
        value = value.isoformat() if isinstance(value, datetime) else (str(value) if sort == "total_price" else value)
        return Cursor(filter_state, sort, descending, value, row.id, direction)

    has_next = more if not backwards else True
    has_previous = (after is not None and not backwards) or (backwards and more)
    stored = _stored_orders(conn, [row.id for row in rows], fresh_for)
    return Page(
        orders=[stored[row.id] for row in rows],
        next=cursor(rows[-1], "next") if rows and has_next else None,
        previous=cursor(rows[0], "previous") if rows and has_previous else None,
    )


def _stored_orders(conn: Connection, ids: list[int], fresh_for: str | None) -> dict[int, StoredOrder]:
    if not ids:
        return {}
    c = order_documents.c
    # An overlay (a set-based change since the rendering) makes the stored rendering out of date.
    current = and_(c.rendered_for == fresh_for, orders.c.overlay.is_(None))
    document = c.document if fresh_for is None else case((current, null()), else_=c.document)
    query = (
        select(c.order_id, document.label("document"), c.rendered, c.rendered_for, orders.c.overlay)
        .select_from(orders.join(order_documents, c.order_id == orders.c.id))
        .where(c.order_id.in_(ids))
    )
    found: dict[int, StoredOrder] = {}
    for row in conn.execute(query):
        if row.overlay is None:
            found[row.order_id] = StoredOrder(row.document, row.rendered, row.rendered_for)
        else:
            found[row.order_id] = StoredOrder(with_overlay(row.document, row.overlay), None, None)
    return found


def order_ids(conn: Connection, f: OrderFilter, *, limit: int) -> list[int]:
    """The ids of the orders a filter selects, oldest first, at most `limit` of them."""
    query = select(orders.c.id).where(and_(true(), *conditions(f))).order_by(orders.c.id).limit(limit)
    return list(conn.execute(query).scalars())


def count_orders(conn: Connection, f: OrderFilter, *, at_most: int | None = None) -> int:
    """How many orders the filter selects. With `at_most`, a count that would have to walk more
    than that many rows stops there and answers at_most + 1 ("more than at_most"): a page that
    shows a count cannot wait for a tag on 100,000 orders to be counted one by one."""
    f.check()
    only_statuses = OrderFilter(
        status=f.status, financial_status=f.financial_status, fulfillment_status=f.fulfillment_status
    )
    if f == only_statuses:
        # The common counts (tabs, the badge) come from the kept status counts, not a scan.
        k = order_counts.c
        return counts.count(conn, _status_conditions(f, k, closed=k.closed.is_(True), cancelled=k.cancelled.is_(True)))
    matching = select(orders.c.id).where(and_(true(), *conditions(f)))
    if at_most is not None:
        matching = matching.limit(at_most + 1)
    return conn.execute(select(func.count()).select_from(matching.subquery())).scalar_one()


def open_orders_badge(conn: Connection) -> int:
    """S2.2: open orders still waiting to be fulfilled."""
    k = order_counts.c
    return counts.count(conn, [k.order_status == "open", k.display_fulfillment_status != "fulfilled"])


CSV_COLUMNS = (
    "Name",
    "Created at",
    "Email",
    "Customer",
    "Financial status",
    "Fulfillment status",
    "Order status",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount codes",
    "Tags",
    "Source",
    "Line items",
    "Tracking numbers",
    "Cancelled at",
    "Cancel reason",
)


UNREADABLE = "(this order's stored document does not load; run `orderdeck repair-orders`)"


def export_csv(conn_factory: Any, f: OrderFilter, *, batch: int = 5000) -> Iterator[str]:
    """Stream the filtered orders as CSV, a batch at a time: memory stays flat however many.

    Every cell comes from the order's narrow row (tables.orders), where each save keeps the
    export's cells as it prints them: no order document is read. The SELECT gives each row's
    cells in the file's order (an archived order's status worded as the admin words it), so a
    batch is written by the csv module in one call: at a million orders Python's time per
    order is the export's time."""
    where = conditions(f)
    c = orders.c
    query = (
        select(
            c.name,
            c.placed_at_text,
            c.email_as_written,
            c.customer_display_name,
            c.financial_status,
            c.display_fulfillment_status,
            case((c.order_status == "closed", "archived"), else_=c.order_status),
            c.currency,
            c.subtotal_amount,
            c.shipping_amount,
            c.tax_amount,
            c.total_amount,
            c.discount_codes,
            c.tags,
            c.source_name,
            c.line_summary,
            c.tracking_numbers,
            c.cancelled_at_text,
            c.cancel_reason,
            c.id,  # last, for the next batch: not a cell
        )
        .order_by(c.id)
        .limit(batch)
    )
    cells = itemgetter(slice(0, len(CSV_COLUMNS)))
    placed = itemgetter(CSV_COLUMNS.index("Created at"))
    buffer = io.StringIO()
    writer = SafeWriter(buffer)  # names, notes, tags and SKUs are never formulas to a spreadsheet
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    last = 0
    while True:
        with conn_factory() as conn:
            rows = conn.execute(query.where(and_(true(), c.id > last, *where))).all()
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        if None in map(placed, rows):  # an order whose document did not load (migration 0027)
            writer.writerows([_unreadable_marker(row) if placed(row) is None else cells(row) for row in rows])
        else:
            writer.writerows(list(map(cells, rows)))
        yield buffer.getvalue()
        last = rows[-1][-1]


def _unreadable_marker(row: Any) -> list[str]:
    """The line of an order whose document did not load when it was moved (migration 0027): one
    unreadable order must not end the export; its line says so, the rest follow."""
    name, order_id = row[0], row[-1]
    log.error("CSV export: order %s (%s) left out: its document does not load", order_id, name)
    marker = [name] + [""] * (len(CSV_COLUMNS) - 1)
    marker[CSV_COLUMNS.index("Line items")] = UNREADABLE
    return marker
