"""ShipStation's Custom Store endpoint (ShipStation's Custom Store development guide, v1) at /shipstation.

ShipStation calls the one URL the merchant gives it, with HTTP Basic authentication:
- `GET ?action=export&start_date=MM/dd/yyyy HH:mm&end_date=…&page=N`: the orders changed in that
  range (the shop's time zone) as `<Orders pages="P">` XML, PAGE_SIZE a page;
- `POST ?action=shipnotify&order_number=…&carrier=…&service=…&tracking_number=…` with a
  `<ShipNotice>`: the shipment ShipStation made, recorded as a fulfillment through the same command
  as the REST API's POST /fulfillments.json. The same notice twice (same order, same tracking
  number) ships once.

Answers are plain text or XML, never JSON: ShipStation shows the text of a refusal to the merchant.
The XML that comes in is parsed by defusedxml with DTDs refused, so no entity can expand or fetch.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from argon2.exceptions import InvalidHashError, VerificationError
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from ..domain.errors import OrderError
from ..domain.fulfillment import LineRequest, TrackingInfo
from ..domain.order import Address, Author, LineItem, Order
from ..domain.statuses import financial_status
from ..services import fulfillments
from ..services.changes import load_order
from ..services.context import Command, Orderdeck
from ..services.staff import hasher
from ..store.attempts import Attempts
from ..store.tables import orders

router = APIRouter(prefix="/shipstation", include_in_schema=False)

PAGE_SIZE = 100
WINDOW = timedelta(minutes=15)  # wrong passwords are counted over this long
ATTEMPTS = 10  # wrong passwords from one address within WINDOW before it must wait
SHIPSTATION = Author("api", "ShipStation")
DATE_IN = "%m/%d/%Y %H:%M"  # the guide's start_date and end_date
DATE_OUT = "%m/%d/%Y %I:%M %p"  # OrderDate and LastModified, as the guide's examples show them
PAID = frozenset({"paid", "partially_refunded", "authorized"})  # ready to ship (authorized: captured at shipping)
# Text the guide's examples wrap in CDATA (names, addresses, notes: anything a person typed).
CDATA = frozenset(
    {
        "OrderID",
        "OrderNumber",
        "OrderStatus",
        "ShippingMethod",
        "PaymentMethod",
        "CustomerNotes",
        "InternalNotes",
        "GiftMessage",
        "CustomField1",
        "CustomerCode",
        "Name",
        "Company",
        "Phone",
        "Email",
        "Address1",
        "Address2",
        "City",
        "State",
        "PostalCode",
        "Country",
        "SKU",
        "ImageUrl",
        "Location",
        "Value",
    }
)
# Characters XML 1.0 can't hold at all (not even in CDATA): left out of what is exported.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(status: int, message: str, **headers: str) -> Response:
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8", headers=headers)


# ---- who may call --------------------------------------------------------------------------------
def _refused(request: Request, app: Orderdeck) -> Response | None:
    """None when the Basic credentials are the shop's ShipStation ones; otherwise the answer.
    Failures are counted per client address (as staff sign-ins are): after ATTEMPTS within WINDOW
    the address gets 429 before any password is checked, so guessing is slow and costs no CPU."""
    with app.unit_of_work(read_only=True) as uow:
        settings = uow.shop.settings
    if not settings.shipstation_username or not settings.shipstation_password_hash:
        return _text(404, "Not Found")  # switched off: nothing here
    challenge = {"WWW-Authenticate": 'Basic realm="Orderdeck ShipStation", charset="UTF-8"'}
    wrong = "The ShipStation username or password is wrong (Settings > Shop > ShipStation)"
    username, password = _basic(request.headers.get("authorization", ""))
    if not username and not password:
        return _text(401, wrong, **challenge)
    key = f"shipstation-client:{request.client.host if request.client else 'unknown'}"[:96]
    with app.unit_of_work() as uow:
        since = uow.now - WINDOW
        attempts = Attempts(uow.conn)
        attempts.forget_before(since)
        stopped = attempts.count(key, since) >= ATTEMPTS
        uow.commit()
    if stopped:
        return _text(429, "Too many wrong passwords: wait 15 minutes", **{"Retry-After": str(WINDOW.seconds)})
    # The password is checked even when the username is wrong, so timing tells nothing.
    try:
        password_ok = hasher().verify(settings.shipstation_password_hash, password)
    except (VerificationError, InvalidHashError):
        password_ok = False
    username_ok = hmac.compare_digest(username.encode(), settings.shipstation_username.encode())
    if not (password_ok and username_ok):
        with app.unit_of_work() as uow:
            Attempts(uow.conn).record(key, uow.now)
            uow.commit()
        return _text(401, wrong, **challenge)
    return None


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, _, password = decoded.partition(":")
    return username, password


@router.api_route("", methods=["GET", "POST"])
async def shipstation(request: Request) -> Response:
    app: Orderdeck = request.app.state.orderdeck
    refusal = await _in_thread(_refused, request, app)  # argon2 takes CPU on purpose: off the event loop
    if refusal is not None:
        return refusal
    action = request.query_params.get("action", "").lower()
    if action == "export" and request.method == "GET":
        return await _in_thread(export, app, dict(request.query_params))
    if action == "shipnotify" and request.method == "POST":
        body = await request.body()
        return await _in_thread(ship_notify, app, dict(request.query_params), body)
    return _text(400, "Unknown action: send action=export (GET) or action=shipnotify (POST)")


async def _in_thread(work: Any, *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(work, *args)


# ---- export -------------------------------------------------------------------------------------
def _date(params: dict[str, str], name: str, zone: ZoneInfo) -> datetime:
    raw = params.get(name, "").strip()
    try:
        # In UTC, as the times are stored (SQLite compares them as text).
        return datetime.strptime(raw, DATE_IN).replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        raise ValueError(f"{name} must be a date and time like 01/23/2012 17:28 (MM/dd/yyyy HH:mm)") from None


def export(app: Orderdeck, params: dict[str, str]) -> Response:
    with app.unit_of_work(read_only=True) as uow:
        zone = ZoneInfo(uow.shop.timezone)
        try:
            start, end = _date(params, "start_date", zone), _date(params, "end_date", zone)
        except ValueError as exc:
            return _text(400, str(exc))
        page_text = params.get("page", "1").strip() or "1"
        if not (page_text.isascii() and page_text.isdecimal() and len(page_text) < 8 and int(page_text) >= 1):
            return _text(400, "page must be a whole number from 1")
        page = int(page_text)
        # The dates are minutes: the end's whole minute is in the range.
        ids = (
            uow.conn.execute(
                select(orders.c.id)
                .where(
                    orders.c.test.is_(False),
                    orders.c.updated_at >= start,
                    orders.c.updated_at < end + timedelta(minutes=1),
                )
                .order_by(orders.c.updated_at, orders.c.id)
            )
            .scalars()
            .all()
        )
        location_names = {loc.id: loc.name for loc in uow.catalog.locations()}
        # Which orders ShipStation gets is known only from each document; only the page's are kept.
        first = (page - 1) * PAGE_SIZE
        count = 0
        root = ET.Element("Orders")
        for order_id in ids:
            order = uow.orders.get(order_id, for_update=False)
            status, items = _what_to_ship(order)
            if status is None:
                continue
            if first <= count < first + PAGE_SIZE:
                root.append(_order_xml(order, status, items, zone, location_names))
            count += 1
    root.set("pages", str(max(1, -(-count // PAGE_SIZE))))
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + _serialize(root)
    return Response(body.encode("utf-8"), media_type="text/xml; charset=utf-8")


def _what_to_ship(order: Order) -> tuple[str | None, list[tuple[LineItem, int, int | None]]]:
    """The ShipStation status and the items (line, quantity, location id) of an order, or None
    when ShipStation has no business with it (nothing to ship now, and never shipped or cancelled).

    Orders with units to ship are unpaid, paid or on_hold (every fulfillment order still to do on
    hold or scheduled for later: shipnotify would be refused for them); the quantity is what is still to ship
    (removed, refunded and shipped units excluded). Orders that had something to ship and were
    then shipped in full or cancelled are exported too, as shipped or cancelled, so the copy
    ShipStation already has follows; their items are the shipped or the ordered units."""
    waiting: dict[int, tuple[int, int]] = {}
    held = True
    for fo in order.fulfillment_orders:
        if not fo.is_active or fo.remaining == 0:
            continue
        held = held and fo.status in ("on_hold", "scheduled")  # not to be shipped yet
        for line in fo.line_items:
            if line.fulfillable_quantity:
                count, _ = waiting.get(line.line_item_id, (0, 0))
                waiting[line.line_item_id] = (count + line.fulfillable_quantity, fo.assigned_location_id)
    shippable = [li for li in order.line_items if li.requires_shipping]
    if waiting and not order.is_cancelled:
        lines = [(li, *waiting[li.id]) for li in order.line_items if li.id in waiting]
        status = "on_hold" if held else ("paid" if financial_status(order) in PAID else "unpaid")
        return status, lines
    if order.is_cancelled and shippable:
        return "cancelled", [(li, li.quantity, None) for li in shippable if li.quantity]
    shipped = [(li, order.fulfilled_quantity(li.id), None) for li in shippable if order.fulfilled_quantity(li.id)]
    if shipped:
        return "shipped", shipped
    return None, []


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime(DATE_OUT)


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}" if amount.as_tuple().exponent >= -2 else str(amount)


def _name(address: Address | None) -> str:
    if address is None:
        return ""
    return " ".join(part for part in (address.first_name, address.last_name) if part)


def _add(parent: ET.Element, tag: str, value: Any = "") -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = "" if value is None else str(value)
    return child


def order_number(order: Order) -> str:
    """The order's name without '#' (#1001 → 1001); shipnotify takes it with or without."""
    return order.name.lstrip("#")


def _order_xml(
    order: Order,
    status: str,
    items: list[tuple[LineItem, int, int | None]],
    zone: ZoneInfo,
    location_names: dict[int, str],
) -> ET.Element:
    node = ET.Element("Order")
    _add(node, "OrderID", order.id)
    _add(node, "OrderNumber", order_number(order))
    _add(node, "OrderDate", _when(order.processed_at, zone))
    _add(node, "OrderStatus", status)
    _add(node, "LastModified", _when(order.updated_at, zone))
    _add(node, "ShippingMethod", ", ".join(s.title for s in order.shipping_lines))
    gateways = dict.fromkeys(t.gateway for t in order.transactions if t.status == "success")
    _add(node, "PaymentMethod", ", ".join(gateways))
    _add(node, "CurrencyCode", order.currency)
    _add(node, "OrderTotal", _money(order.current_total_price))
    _add(node, "TaxAmount", _money(order.total_tax))
    _add(node, "ShippingAmount", _money(order.total_shipping_price))
    _add(node, "CustomerNotes", order.note or "")
    _add(node, "InternalNotes", "")
    attributes = {a.name.strip().lower().replace(" ", "_"): a.value for a in order.note_attributes}
    gift_message = attributes.get("gift_message", "")
    _add(
        node, "Gift", "true" if gift_message or attributes.get("gift", "").lower() in ("true", "yes", "1") else "false"
    )
    _add(node, "GiftMessage", gift_message)
    _add(node, "CustomField1", ", ".join(order.tags))
    customer = _add(node, "Customer")
    customer.text = None
    email = order.email or (order.customer.email if order.customer else None) or ""
    _add(customer, "CustomerCode", email or (order.customer.id if order.customer else order.id))
    bill = order.billing_address or order.shipping_address
    bill_to = ET.SubElement(customer, "BillTo")
    _add(bill_to, "Name", _name(bill))
    _add(bill_to, "Company", bill.company if bill else "")
    _add(bill_to, "Phone", (bill.phone if bill else None) or order.phone or "")
    _add(bill_to, "Email", email)
    ship = order.shipping_address or Address()
    ship_to = ET.SubElement(customer, "ShipTo")
    _add(ship_to, "Name", _name(ship))
    _add(ship_to, "Company", ship.company)
    _add(ship_to, "Address1", ship.address1)
    _add(ship_to, "Address2", ship.address2)
    _add(ship_to, "City", ship.city)
    _add(ship_to, "State", ship.province_code or ship.province)
    _add(ship_to, "PostalCode", ship.zip)
    _add(ship_to, "Country", ship.country_code)
    _add(ship_to, "Phone", ship.phone or order.phone)
    listed = ET.SubElement(node, "Items")
    for line, quantity, location_id in items:
        item = ET.SubElement(listed, "Item")
        _add(item, "SKU", line.sku)
        _add(item, "Name", line.name)
        _add(item, "ImageUrl", "")
        _add(item, "Weight", line.grams)
        _add(item, "WeightUnits", "Grams")
        _add(item, "Quantity", quantity)
        _add(item, "UnitPrice", _money(line.price))
        _add(item, "Location", location_names.get(location_id, "") if location_id else "")
        options = ET.SubElement(item, "Options")
        for prop in line.properties:
            if prop.name.startswith("_"):  # hidden properties (Shopify's convention) stay hidden
                continue
            option = ET.SubElement(options, "Option")
            _add(option, "Name", prop.name)
            _add(option, "Value", prop.value)
        _add(item, "LineItemID", line.id)
    return node


def _serialize(element: ET.Element) -> str:
    """The tree as text, with people's text in CDATA as the guide shows it (ElementTree has no
    CDATA of its own): a `]]>` inside is split over two sections."""
    parts: list[str] = []

    def write(node: ET.Element) -> None:
        attributes = "".join(f' {k}="{_escape(v)}"' for k, v in node.attrib.items())
        children = list(node)
        text = _NOT_XML.sub("", node.text or "")
        parts.append(f"<{node.tag}{attributes}>")
        if children:
            for child in children:
                write(child)
        elif text and node.tag in CDATA:
            parts.append("<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>")
        else:
            parts.append(_escape(text))
        parts.append(f"</{node.tag}>")

    write(element)
    return "".join(parts)


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ---- shipnotify ---------------------------------------------------------------------------------
class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _field(root: ET.Element, path: str) -> str:
    found = root.find(path)
    return (found.text or "").strip() if found is not None else ""


def ship_notify(app: Orderdeck, params: dict[str, str], body: bytes) -> Response:
    try:
        notice = _parse(body)
        with app.unit_of_work() as uow:
            cmd = Command(app, uow, SHIPSTATION)
            answer = _ship(cmd, params, notice)
            uow.commit()
    except Refused as exc:
        return _text(exc.status, exc.message)
    except OrderError as exc:
        field = f" ({exc.field})" if getattr(exc, "field", None) not in (None, "base") else ""
        return _text(422, f"The shipment was not recorded: {exc.message}{field}")
    return _text(200, answer)


def _parse(body: bytes) -> ET.Element:
    if not body.strip():
        raise Refused(400, "The body is empty: send the ShipNotice XML")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Refused(400, "The ShipNotice may not have a DTD or entities") from None
    except ET.ParseError as exc:
        raise Refused(400, f"The ShipNotice is not well-formed XML: {exc}") from None
    if root.tag != "ShipNotice":
        raise Refused(400, f"Expected a <ShipNotice> document, got <{root.tag}>")
    return root


def _find_order(cmd: Command, params: dict[str, str], notice: ET.Element) -> int:
    order_id = _field(notice, "OrderID")
    if order_id.isascii() and order_id.isdecimal() and len(order_id) < 20:
        found = cmd.uow.conn.execute(select(orders.c.id).where(orders.c.id == int(order_id))).scalar()
        if found is not None:
            return int(found)
    number = (params.get("order_number") or _field(notice, "OrderNumber")).strip()
    if not number:
        raise Refused(400, "Name the order: order_number in the URL, or OrderNumber or OrderID in the ShipNotice")
    names = {number, "#" + number.lstrip("#")}
    found = cmd.uow.conn.execute(select(orders.c.id).where(orders.c.name.in_(names))).scalar()
    if found is None and number.lstrip("#").isascii() and number.lstrip("#").isdecimal() and len(number) < 12:
        found = cmd.uow.conn.execute(select(orders.c.id).where(orders.c.number == int(number.lstrip("#")))).scalar()
    if found is None:
        raise Refused(404, f"No order {number} in this shop")
    return int(found)


def _ship(cmd: Command, params: dict[str, str], notice: ET.Element) -> str:
    order_id = _find_order(cmd, params, notice)
    order = load_order(cmd, order_id).order  # locked: a second notice waits for the first
    tracking_number = (params.get("tracking_number") or _field(notice, "TrackingNumber")).strip()
    carrier = (params.get("carrier") or _field(notice, "Carrier")).strip()
    service = (params.get("service") or _field(notice, "Service")).strip()
    if tracking_number and any(f.is_active and tracking_number in f.tracking_numbers for f in order.fulfillments):
        return f"Order {order.name} already shipped with tracking number {tracking_number}; nothing changed"
    if order.is_cancelled:
        raise Refused(422, f"Order {order.name} is cancelled: nothing to ship")
    by_location = _requests(order, notice)
    if not by_location:
        raise Refused(422, f"Order {order.name} has nothing left to ship")
    notify = _field(notice, "NotifyCustomer").lower() in ("true", "1", "yes")
    tracking = TrackingInfo(company=carrier or None, numbers=(tracking_number,) if tracking_number else ())
    message = "Shipped with ShipStation" + (f": {carrier} {service}".rstrip() if carrier or service else "") + "."
    made = []
    for requests in by_location.values():
        _, fulfillment = fulfillments.create_fulfillment(
            cmd,
            requests=requests,
            tracking=tracking,
            notify_customer=notify,
            message=message,
            origin_address=None,
        )
        made.append(fulfillment.name)
    return f"Order {order.name} shipped: {', '.join(made)}"


def _requests(order: Order, notice: ET.Element) -> dict[int, dict[int, list[LineRequest] | None]]:
    """The units to ship, by location and fulfillment order: the notice's items, or everything
    still to ship when it lists none. More units than are left to ship are capped (ShipStation's
    copy may predate a refund); an item that is not on the order is refused."""
    ready = [fo for fo in order.fulfillment_orders if fo.status in ("open", "in_progress") and fo.remaining]
    by_location: dict[int, dict[int, list[LineRequest] | None]] = {}
    items = notice.findall("Items/Item")
    if not items:
        for fo in ready:
            by_location.setdefault(fo.assigned_location_id, {})[fo.id] = None
        return by_location
    wanted: dict[int, int] = {}
    for item in items:
        line = _line_of(order, item, wanted)
        quantity_text = _field(item, "Quantity") or "0"
        if not (quantity_text.isascii() and quantity_text.isdecimal()) or len(quantity_text) > 9:
            raise Refused(400, f"Item {_field(item, 'SKU') or line.id}: Quantity must be a whole number")
        wanted[line.id] = wanted.get(line.id, 0) + int(quantity_text)
    for fo in ready:
        for fo_line in fo.line_items:
            take = min(wanted.get(fo_line.line_item_id, 0), fo_line.fulfillable_quantity)
            if take:
                wanted[fo_line.line_item_id] -= take
                requests = by_location.setdefault(fo.assigned_location_id, {}).setdefault(fo.id, [])
                assert requests is not None
                requests.append(LineRequest(fulfillment_order_line_id=fo_line.id, quantity=take))
    return by_location


def _line_of(order: Order, item: ET.Element, wanted: dict[int, int]) -> LineItem:
    line_item_id = _field(item, "LineItemID")
    if line_item_id.isascii() and line_item_id.isdecimal() and len(line_item_id) < 20:
        line = order.line_item(int(line_item_id))
        if line is not None:
            return line
    sku = _field(item, "SKU")
    if sku:
        # Of the lines with this SKU, the first with units still to ship and none claimed yet.
        matching = [li for li in order.line_items if li.sku == sku]
        for line in matching:
            if order.fulfillable_quantity(line.id) > wanted.get(line.id, 0):
                return line
        if matching:
            return matching[0]
    named = sku or line_item_id or _field(item, "Name")
    raise Refused(422, f"Item {named or '(no SKU or LineItemID)'} is not on order {order.name}")
