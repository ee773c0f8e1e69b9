"""Shipments as rows beside the order document: the admin's Shipments page and shipments.json.

One row per fulfillment, carrying what the list shows, filters and counts by (carrier, tracking
number and link, shipment status, the last event, the estimated delivery, the order and its
customer), written by services.changes.save_order in the order's own transaction, so the list
never decodes an order document and is never behind the order. An order's rows are replaced
whole when it changes: an order has a handful of fulfillments at most.

Each row carries its tab (`stage`) and the two times the time-bound tabs range over, so every tab
is one index range: `late_after` (estimated delivery, or the delayed event's time) for Delayed,
`quiet_since` (the carrier's last news, or the shipment's creation) for No news for N days. Both
are null once the shipment is delivered, failed or cancelled, so those ranges hold only
shipments still under way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, inspect, select, true

from ..domain.errors import InvalidInput
from ..domain.fulfillment import SHIPMENT_STATUSES
from ..domain.order import Fulfillment, FulfillmentEvent, Order
from ..tracking import carrier_name, link, tracking_url
from .codec import BadDocument, decode_order
from .csv_cells import SafeWriter
from .database import utc
from .documents import document_source
from .queries import BadCursor
from .tables import orders, shipments

PAGE = 50
MAX_PAGE = 250
DEFAULT_NO_NEWS_DAYS = 3
MAX_NO_NEWS_DAYS = 365

# The tab each shipment status belongs to (None: no carrier news yet). Delayed and No news are
# not stages: they are times (late_after, quiet_since) and overlap the stages.
STAGE_OF: dict[str | None, str] = {
    None: "label",
    "label_purchased": "label",
    "label_printed": "label",
    "confirmed": "label",
    "carrier_picked_up": "in_transit",
    "in_transit": "in_transit",
    "delayed": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "ready_for_pickup": "ready_for_pickup",
    "attempted_delivery": "attempted",
    "delivered": "delivered",
    "picked_up": "delivered",
    "failure": "failed",
}
assert set(STAGE_OF) - {None} == set(SHIPMENT_STATUSES)
STAGES = ("label", "in_transit", "out_for_delivery", "ready_for_pickup", "attempted", "delivered", "failed")
FINISHED = ("delivered", "failed", "cancelled")
# The tabs: the stages, then the two time-bound ones.
TABS = (*STAGES, "delayed", "no_news")
# Which fulfillments: those standing (the default), the cancelled ones, or both.
FULFILLMENT_STATUSES = ("active", "cancelled", "any")


def _latest(events: list[FulfillmentEvent]) -> FulfillmentEvent | None:
    # As the domain decides the shipment status: the latest by when it happened.
    return max(events, key=lambda e: (e.happened_at, e.id)) if events else None


def _estimate(events: list[FulfillmentEvent]) -> datetime | None:
    """The carrier's newest estimate: a later event without one does not take it back."""
    dated = [e for e in events if e.estimated_delivery_at is not None]
    newest = _latest(dated)
    return newest.estimated_delivery_at if newest else None


def _customer_name(order: Order) -> str | None:
    customer = order.customer
    address = order.billing_address or order.shipping_address
    name = customer.name if customer and customer.name else address.name if address else None
    return name[:512] if name else None


def shipment_row(order: Order, f: Fulfillment) -> dict[str, Any]:
    """The Shipments row of one fulfillment of an order."""
    number = f.tracking_numbers[0] if f.tracking_numbers else None
    url = f.tracking_urls[0] if f.tracking_urls else (tracking_url(f.tracking_company, number) if number else None)
    latest = _latest(f.events)
    estimate = _estimate(f.events)
    stage = STAGE_OF.get(f.shipment_status, "in_transit") if f.is_active else "cancelled"
    news = latest.happened_at if latest else f.created_at
    under_way = stage not in FINISHED
    delivered = [e.created_at for e in f.events if e.status == "delivered"]  # when Orderdeck heard it
    late = (news if f.shipment_status == "delayed" else estimate) if under_way else None
    return {
        "fulfillment_id": f.id,
        "order_id": order.id,
        "order_name": order.name[:32],
        "customer_name": _customer_name(order),
        "email": order.email[:255] if order.email else None,
        "location_id": f.location_id,
        "service": f.service[:255] if f.service else None,
        "carrier": (carrier_name(f.tracking_company) or "")[:255] or None,
        "tracking_number": number[:255] if number else None,
        "tracking_url": link(url),
        "status": f.status,
        "shipment_status": f.shipment_status,
        "stage": stage,
        "late_after": utc(late),
        "quiet_since": utc(news) if under_way else None,
        "last_event_at": utc(latest.happened_at) if latest else None,
        "last_event_message": latest.message if latest else None,
        "estimated_delivery_at": utc(estimate),
        "delivered_at": utc(min(delivered)) if delivered else None,
        "created_at": utc(f.created_at),
        "updated_at": utc(f.updated_at),
    }


def shipment_rows(order: Order) -> list[dict[str, Any]]:
    return [shipment_row(order, f) for f in order.fulfillments]


def _comparable(row: Any) -> dict[str, Any]:
    """A row as stored compares equal to the same row about to be written (SQLite hands times
    back without their offset)."""
    return {k: (_aware(v) if isinstance(v, datetime) else v) for k, v in dict(row).items()}


@dataclass(frozen=True)
class ShipmentFilter:
    """Which shipments: a tab (a stage, `delayed` or `no_news`), Shopify's `shipment_status`
    (the exact value; "none" for no news yet), `delayed`, the carrier, the fulfillment's
    location and service, when it was created, chosen `ids`, and the fulfillments' own status
    (standing ones unless asked). `no_news_days` is N of the No news tab."""

    tab: str | None = None
    shipment_status: str | None = None
    delayed: bool | None = None
    carrier: str | None = None
    location_id: int | None = None
    service: str | None = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    no_news_days: int = DEFAULT_NO_NEWS_DAYS
    status: str = "active"
    ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.tab is not None and self.tab not in TABS:
            raise InvalidInput(f"must be one of {', '.join(TABS)}", field="tab")
        if self.shipment_status is not None and self.shipment_status not in (*SHIPMENT_STATUSES, "none"):
            raise InvalidInput(f"must be one of {', '.join(SHIPMENT_STATUSES)} or none", field="shipment_status")
        if self.status not in FULFILLMENT_STATUSES:
            raise InvalidInput(f"must be one of {', '.join(FULFILLMENT_STATUSES)}", field="status")
        if not 1 <= self.no_news_days <= MAX_NO_NEWS_DAYS:
            raise InvalidInput(f"must be a whole number of days from 1 to {MAX_NO_NEWS_DAYS}", field="no_news_days")
        for name in ("carrier", "service"):
            value = getattr(self, name)
            if value is not None and len(value) > 255:
                raise InvalidInput("may be at most 255 characters", field=name)
        if self.location_id is not None and not 0 < self.location_id < 2**63:
            raise InvalidInput("is not a location id", field="location_id")
        if (
            self.created_at_min is not None
            and self.created_at_max is not None
            and utc(self.created_at_min) > utc(self.created_at_max)  # type: ignore[operator]
        ):
            raise InvalidInput("must not be after created_at_max", field="created_at_min")

    def state(self) -> dict[str, Any]:
        """The filter as JSON-able values (what a cursor carries)."""
        return {
            k: (v.isoformat() if isinstance(v, datetime) else list(v) if k == "ids" else v)
            for k, v in asdict(self).items()
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ShipmentFilter:
        values = dict(state)
        for key in ("created_at_min", "created_at_max"):
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        values["ids"] = tuple(values.get("ids") or ())
        return cls(**values)


def conditions(f: ShipmentFilter, now: datetime, *, with_tab: bool = True) -> list[ColumnElement[bool]]:
    c = shipments.c
    where: list[ColumnElement[bool]] = []
    tab = f.tab if with_tab else None
    # A tab holds standing shipments only (a stage other than cancelled; late_after and
    # quiet_since are null on cancelled ones), so with one the "active" condition is left out:
    # the tab's index alone then answers, and a count never reads the rows.
    if f.status == "active" and tab is None:
        where.append(c.stage != "cancelled")
    elif f.status == "cancelled":
        where.append(c.stage == "cancelled")
    if tab is not None:
        where.append(_tab(tab, now, f.no_news_days))
    if f.shipment_status == "none":
        where.append(c.shipment_status.is_(None))
    elif f.shipment_status is not None:
        where.append(c.shipment_status == f.shipment_status)
    if f.delayed is True:
        where.append(c.late_after <= utc(now))
    elif f.delayed is False:
        where.append(c.late_after.is_(None) | (c.late_after > utc(now)))
    # Delayed and No news hold the parcels in trouble, few beside a carrier's or a location's
    # hundreds of thousands: their own time index answers, the filter checked on its rows. The
    # filter's column is wrapped so no database walks the filter's index instead.
    timed = tab in ("delayed", "no_news")
    carrier, location, service = (
        (func.coalesce(c.carrier, ""), func.coalesce(c.location_id, 0), func.coalesce(c.service, ""))
        if timed
        else (c.carrier, c.location_id, c.service)
    )
    if f.carrier:
        where.append(carrier == (carrier_name(f.carrier) or f.carrier))
    if f.location_id is not None:
        where.append(location == f.location_id)
    if f.service:
        where.append(service == f.service.strip())
    if f.created_at_min is not None:
        where.append(c.created_at >= utc(f.created_at_min))
    if f.created_at_max is not None:
        where.append(c.created_at <= utc(f.created_at_max))
    if f.ids:
        where.append(c.fulfillment_id.in_(f.ids))
    return where


def _tab(tab: str, now: datetime, no_news_days: int) -> ColumnElement[bool]:
    c = shipments.c
    if tab == "delayed":
        return c.late_after <= utc(now)
    if tab == "no_news":
        return c.quiet_since <= utc(now - timedelta(days=no_news_days))
    return c.stage == tab


# ---- cursors ------------------------------------------------------------------------------------
def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, b"shipments:" + payload.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class ShipmentCursor:
    """A page's address: the filter, the last shipment's id and the way. Base64 JSON with an
    HMAC (signed with the orders' page_info key), so a changed one is refused, not run."""

    filter: ShipmentFilter
    last_id: int
    direction: str = "next"  # next | previous

    def encode(self, key: bytes) -> str:
        raw = {"filter": self.filter.state(), "last_id": self.last_id, "direction": self.direction}
        payload = base64.urlsafe_b64encode(orjson.dumps(raw)).decode().rstrip("=")
        return f"{payload}.{_mac(key, payload)}"

    @classmethod
    def decode(cls, token: str, key: bytes) -> ShipmentCursor:
        payload, _, mac = token.rpartition(".")
        if not payload or len(token) > 4000:
            raise BadCursor
        if not hmac.compare_digest(mac.encode("utf-8", "replace"), _mac(key, payload).encode()):
            raise BadCursor
        try:
            raw = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            found = cls(ShipmentFilter.from_state(raw["filter"]), int(raw["last_id"]), str(raw["direction"]))
        except (ValueError, TypeError, KeyError, InvalidInput, orjson.JSONDecodeError):
            raise BadCursor from None
        if found.direction not in ("next", "previous"):
            raise BadCursor
        return found


# ---- reading ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShipmentRow:
    fulfillment_id: int
    order_id: int
    order_name: str
    customer_name: str | None
    email: str | None
    location_id: int | None
    service: str | None
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    status: str
    shipment_status: str | None
    stage: str
    late_after: datetime | None
    quiet_since: datetime | None
    last_event_at: datetime | None
    last_event_message: str | None
    estimated_delivery_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None  # the transit-time report's; the page does not show it

    def delayed(self, now: datetime) -> bool:
        return self.late_after is not None and self.late_after <= now


@dataclass
class ShipmentsPage:
    rows: list[ShipmentRow] = field(default_factory=list)
    next: ShipmentCursor | None = None
    previous: ShipmentCursor | None = None


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands times back without their offset; they were stored in UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _row(r: Any) -> ShipmentRow:
    values = dict(r)
    for key in (
        "late_after",
        "quiet_since",
        "last_event_at",
        "estimated_delivery_at",
        "created_at",
        "updated_at",
        "delivered_at",
    ):
        values[key] = _aware(values[key])
    return ShipmentRow(**values)


class ShipmentsRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def sync(self, order: Order, *, had_any: bool = True) -> None:
        """Bring the order's rows in line after it was saved (`had_any`: it may have had rows
        before; a new order has none). Only rows that differ are written: most changes to an
        order (a payment, a tag, a note) leave its shipments as they were, and each row written
        costs an entry in every one of the table's indexes."""
        rows = {row["fulfillment_id"]: row for row in shipment_rows(order)}
        stored: dict[int, dict[str, Any]] = {}
        if had_any:
            found = self.conn.execute(select(shipments).where(shipments.c.order_id == order.id)).mappings()
            stored = {r["fulfillment_id"]: _comparable(r) for r in found}
        changed = [fid for fid, row in rows.items() if fid in stored and stored[fid] != _comparable(row)]
        gone = [fid for fid in stored if fid not in rows]
        if changed or gone:
            self.conn.execute(delete(shipments).where(shipments.c.fulfillment_id.in_(changed + gone)))
        new = [row for fid, row in rows.items() if fid not in stored or fid in changed]
        if new:
            self.conn.execute(insert(shipments), new)

    def delete_for_order(self, order_id: int) -> None:
        """An order deleted for good takes its shipments with it."""
        self.conn.execute(delete(shipments).where(shipments.c.order_id == order_id))

    def list_page(
        self, wanted: ShipmentFilter, now: datetime, *, limit: int = PAGE, after: ShipmentCursor | None = None
    ) -> ShipmentsPage:
        """One page, newest first (fulfillment ids grow with time); keyset pages, never OFFSET."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"must be between 1 and {MAX_PAGE}", field="limit")
        backwards = after is not None and after.direction == "previous"
        # The page's ids first, the rows after: a tab's index then answers the first step alone
        # (SQLite's indexes carry the id), and a sort, where one is needed, moves ids, not rows.
        ids = list(self.conn.execute(list_query(wanted, now, limit=limit, after=after)).scalars())
        by_id: dict[int, ShipmentRow] = {}
        if ids:
            found = self.conn.execute(select(shipments).where(shipments.c.fulfillment_id.in_(ids))).mappings()
            by_id = {r["fulfillment_id"]: _row(r) for r in found}
        rows = [by_id[i] for i in ids if i in by_id]
        more = len(rows) > limit
        rows = rows[:limit]
        if backwards:
            rows.reverse()
        page = ShipmentsPage(rows)
        if rows and (more or backwards):
            page.next = ShipmentCursor(wanted, rows[-1].fulfillment_id, "next")
        if rows and ((after is not None and not backwards) or (backwards and more)):
            page.previous = ShipmentCursor(wanted, rows[0].fulfillment_id, "previous")
        return page

    def count(self, wanted: ShipmentFilter, now: datetime, *, at_most: int | None = None) -> int:
        """How many shipments the filter selects. With `at_most`, counting stops after that many
        and answers at_most + 1 ("more than"): a page's tab counts never walk a million rows."""
        return int(self.conn.execute(count_query(wanted, now, at_most=at_most)).scalar_one())

    def count_tabs(self, wanted: ShipmentFilter, now: datetime, *, at_most: int) -> dict[str | None, int]:
        """Each tab's count under the filter's other conditions (None: every tab, "All"), each a
        range of one index, stopping at `at_most` + 1."""
        found: dict[str | None, int] = {}
        for tab in (None, *TABS):
            found[tab] = self.count(with_tab(wanted, tab), now, at_most=at_most)
        return found

    def order_ids(self, wanted: ShipmentFilter, now: datetime, *, limit: int) -> list[tuple[int, int]]:
        """(order id, newest selected fulfillment id) of the orders the filter's shipments
        belong to, at most `limit` orders, newest shipment first."""
        c = shipments.c
        query = (
            select(c.order_id, func.max(c.fulfillment_id).label("fulfillment_id"))
            .where(and_(true(), *conditions(wanted, now)))
            .group_by(c.order_id)
            .order_by(func.max(c.fulfillment_id).desc())
            .limit(limit)
        )
        return [(r.order_id, r.fulfillment_id) for r in self.conn.execute(query)]


def list_query(wanted: ShipmentFilter, now: datetime, *, limit: int, after: ShipmentCursor | None = None) -> Any:
    """A page's ids: `limit` + 1 of them (the one more says there is a next page), newest
    first, or oldest first after a cursor going back."""
    c = shipments.c
    where = conditions(wanted, now)
    backwards = after is not None and after.direction == "previous"
    if after is not None:
        where.append(c.fulfillment_id > after.last_id if backwards else c.fulfillment_id < after.last_id)
    order = c.fulfillment_id.asc() if backwards else c.fulfillment_id.desc()
    return select(c.fulfillment_id).where(and_(true(), *where)).order_by(order).limit(limit + 1)


def count_query(wanted: ShipmentFilter, now: datetime, *, at_most: int | None = None) -> Any:
    matching = select(shipments.c.fulfillment_id).where(and_(true(), *conditions(wanted, now)))
    if at_most is not None:
        matching = matching.limit(at_most + 1)
    return select(func.count()).select_from(matching.subquery())


def with_tab(wanted: ShipmentFilter, tab: str | None) -> ShipmentFilter:
    values = asdict(wanted)
    values["tab"] = tab
    values["ids"] = tuple(values["ids"])
    return ShipmentFilter(**values)


# ---- CSV ----------------------------------------------------------------------------------------
CSV_COLUMNS = (
    "Order",
    "Customer",
    "Email",
    "Fulfillment id",
    "Carrier",
    "Tracking number",
    "Tracking URL",
    "Service",
    "Location id",
    "Shipment status",
    "Delayed",
    "Last event",
    "Last event at",
    "Estimated delivery",
    "Shipped at",
    "Fulfillment status",
)


def export_csv(conn_factory: Any, wanted: ShipmentFilter, now: datetime, *, batch: int = 1000) -> Iterator[str]:
    """Every matching shipment as CSV, streamed a batch at a time (memory stays flat however
    many), each batch read on a connection of its own; no cell can become a formula."""
    c = shipments.c
    where = conditions(wanted, now)
    buffer = io.StringIO()
    writer = SafeWriter(buffer)  # names, messages and tracking numbers come from outside
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    last: int | None = None
    while True:
        page = where + ([c.fulfillment_id < last] if last is not None else [])
        query = select(shipments).where(and_(true(), *page)).order_by(c.fulfillment_id.desc()).limit(batch)
        with conn_factory() as conn:
            rows = [_row(r) for r in conn.execute(query).mappings()]
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for r in rows:
            writer.writerow(
                (
                    r.order_name,
                    r.customer_name or "",
                    r.email or "",
                    str(r.fulfillment_id),
                    r.carrier or "",
                    r.tracking_number or "",
                    r.tracking_url or "",
                    r.service or "",
                    str(r.location_id) if r.location_id is not None else "",
                    r.shipment_status or ("cancelled" if r.stage == "cancelled" else "no news yet"),
                    "yes" if r.delayed(now) else "no",
                    r.last_event_message or "",
                    r.last_event_at.isoformat() if r.last_event_at else "",
                    r.estimated_delivery_at.isoformat() if r.estimated_delivery_at else "",
                    r.created_at.isoformat(),
                    r.status,
                )
            )
        yield buffer.getvalue()
        last = rows[-1].fulfillment_id


# ---- filling the table for orders stored before it existed (migration 0026) ----------------------
@dataclass
class BackfillReport:
    checked: int = 0
    written: int = 0
    unreadable: list[int] = field(default_factory=list)


def backfill(
    conn: Connection, *, batch: int = 500, also: Callable[[Connection, list[Order]], None] | None = None
) -> BackfillReport:
    """Write every stored order's shipment rows, walking the orders by id `batch` at a time so
    memory stays bounded. Rows are replaced, so running it again changes nothing. Orders whose
    document does not load are left out and listed (`orderdeck repair-orders` deals with them).
    `also` gets each batch's decoded orders, so a migration that needs every document reads
    each once."""
    report = BackfillReport()
    source, document, overlay = document_source(conn)
    # Migration 0026 runs this before 0027 added `delivered_at`: rows carry the columns there are.
    present = {c["name"] for c in inspect(conn).get_columns("shipments")}
    last = 0
    while True:
        query = (
            select(orders.c.id, document.label("document"), overlay.label("overlay"))
            .select_from(source)
            .where(orders.c.id > last)
            .order_by(orders.c.id)
            .limit(batch)
        )
        found = conn.execute(query).all()
        if not found:
            return report
        last = found[-1].id
        report.checked += len(found)
        rows: list[dict[str, Any]] = []
        decoded: list[Order] = []
        for row in found:
            try:
                decoded.append(decode_order(row.document, row.overlay))
            except BadDocument:
                report.unreadable.append(row.id)
                continue
            rows += [{k: v for k, v in r.items() if k in present} for r in shipment_rows(decoded[-1])]
        if also is not None:
            also(conn, decoded)
        conn.execute(delete(shipments).where(shipments.c.order_id.in_([r.id for r in found])))
        if rows:
            conn.execute(insert(shipments), rows)
            report.written += len(rows)
