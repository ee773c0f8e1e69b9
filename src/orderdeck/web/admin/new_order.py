"""Creating an order by hand (S9.3 manual orders): a phone or e-mail sale typed in by staff.

`GET /admin/orders/new` shows an empty form; `POST /admin/orders/new` either re-renders it
(find products, add a line, recalculate the totals) or places the order. The form becomes the
same REST body the API takes (`api.schemas.OrderIn`), read by the same converter
(`api.convert.place_order`) and placed by the same service (`services.orders.place_order`), with
source `manual` and the staff member as author, so it is an ordinary order afterwards.

The summary's totals come from placing the order for real inside a transaction that is then
rolled back: they are exactly what "Create order" will make, and nothing is kept. Pressing Enter
in a field never places the order; only the "Create order" button does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, or_, select
from starlette.datastructures import FormData

from ...api import convert, schemas
from ...domain.draft_orders import AppliedDiscount
from ...domain.errors import OrderError
from ...services import draft_orders as drafts
from ...services.context import Command
from ...services.orders import PlaceOrder, place_order
from ...services.staff import EMAIL
from ...store.catalog import Variant
from ...store.tables import products, variants
from ...store.uow import UnitOfWork
from .access import Admin, require
from .pages import ADDRESS_FIELDS, money, render

router = APIRouter()

ITEM_ROWS = 3  # empty product rows on a fresh form
CUSTOM_ROWS = 1
MAX_ROWS = 100
CATALOGUE_LIMIT = 300  # variants offered in each product list; "Find products" narrows it
# Manual payment methods: money collected outside Orderdeck. Each name is one the domain knows
# as manual (domain.payments.MANUAL_GATEWAYS), so such an order stays deletable and refundable
# by hand like any other manual payment.
METHODS = (
    ("bank_transfer", "Bank transfer"),
    ("cash_on_delivery", "Cash on delivery"),
    ("manual", "Other (collected outside Orderdeck)"),
)
LANGUAGES = (("", "The shop's language"), ("en", "English"), ("nl", "Dutch"), ("de", "German"), ("fi", "Finnish"))
SCALARS = (
    "find",
    "email",
    "first_name",
    "last_name",
    "phone",
    "customer_locale",
    *(f"shipping_{name}" for name, _ in ADDRESS_FIELDS),
    *(f"billing_{name}" for name, _ in ADDRESS_FIELDS),
    "shipping_title",
    "shipping_price",
    "discount_type",
    "discount_value",
    "discount_code",
    "note",
    "tags",
    "payment",
    "gateway",
)
CHECKBOXES = ("billing_same", "send_receipt")
FRESH = {
    "billing_same": "1",
    "send_receipt": "1",
    "payment": "pending",
    "gateway": "bank_transfer",
    "discount_type": "fixed_amount",
}


@dataclass
class Entered:
    """Everything the staff member typed, kept as typed so a re-rendered form loses nothing,
    and the message for each field that needs fixing."""

    values: dict[str, str]
    items: list[dict[str, str]]
    customs: list[dict[str, str]]
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "").strip()

    def on(self, name: str) -> bool:
        return bool(self.values.get(name))

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


def _fresh() -> Entered:
    return Entered(
        dict(FRESH),
        [{"variant": "", "quantity": "1"} for _ in range(ITEM_ROWS)],
        [{"title": "", "price": "", "quantity": "1", "taxable": "1"} for _ in range(CUSTOM_ROWS)],
    )


def _rows(form: FormData, name: str, default: int) -> int:
    raw = str(form.get(name) or "")
    return max(1, min(int(raw), MAX_ROWS)) if raw.isdecimal() and len(raw) < 6 else default


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:5000] if isinstance(value, str) else ""


def _read(form: FormData) -> Entered:
    values = {name: _text(form, name) for name in SCALARS}
    values.update({name: "1" if form.get(name) else "" for name in CHECKBOXES})
    items = [
        {"variant": _text(form, f"item-{i}-variant"), "quantity": _text(form, f"item-{i}-quantity")}
        for i in range(_rows(form, "item_rows", ITEM_ROWS))
    ]
    customs = [
        {
            "title": _text(form, f"custom-{i}-title"),
            "price": _text(form, f"custom-{i}-price"),
            "quantity": _text(form, f"custom-{i}-quantity"),
            "taxable": "1" if form.get(f"custom-{i}-taxable") else "",
        }
        for i in range(_rows(form, "custom_rows", CUSTOM_ROWS))
    ]
    return Entered(values, items, customs)


# ---- the form → the API's order body --------------------------------------------------------
def _amount(entered: Entered, name: str, raw: str) -> Decimal | None:
    """An amount as staff type it: "12.50" or "12,50", no currency sign needed."""
    text = raw.strip().replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        entered.fail(name, "Enter an amount as a number, such as 12.50")
        return None
    if not value.is_finite():
        entered.fail(name, "Enter an amount as a number, such as 12.50")
        return None
    if value < 0:
        entered.fail(name, "The amount cannot be negative")
        return None
    return value


def _quantity(entered: Entered, name: str, raw: str) -> int | None:
    text = raw.strip()
    try:
        value = int(text)
    except ValueError:
        entered.fail(name, "Enter a whole number of items, such as 1")
        return None
    if value <= 0:
        entered.fail(name, "The quantity must be at least 1")
        return None
    if value > 100_000:
        entered.fail(name, "The quantity can be at most 100000")
        return None
    return value


def _address(entered: Entered, prefix: str) -> dict[str, str] | None:
    found = {name: entered.get(f"{prefix}_{name}") for name, _ in ADDRESS_FIELDS}
    found = {k: v for k, v in found.items() if v}
    return found or None


@dataclass
class Draft:
    """The API body made from the form, and which form field each line of it came from."""

    body: dict[str, Any]
    line_fields: list[str]
    discount: tuple[str, Decimal] | None = None


def _draft(entered: Entered, catalogue: dict[int, Variant]) -> Draft:
    """The REST body (`schemas.OrderIn`) the form describes; problems go to `entered.errors`."""
    lines: list[dict[str, Any]] = []
    line_fields: list[str] = []
    for i, row in enumerate(entered.items):
        chosen = row["variant"].strip()
        if not chosen:
            continue
        if not chosen.isdecimal() or int(chosen) not in catalogue:
            entered.fail(f"item-{i}-variant", "This product is not in the catalogue (any more); choose another")
            continue
        quantity = _quantity(entered, f"item-{i}-quantity", row["quantity"])
        if quantity is not None:
            lines.append({"variant_id": int(chosen), "quantity": quantity})
            line_fields.append(f"item-{i}")
    for i, row in enumerate(entered.customs):
        title, price = row["title"].strip(), row["price"].strip()
        if not (title or price):
            continue
        if not title:
            entered.fail(f"custom-{i}-title", "Give the item a title")
        if not price:
            entered.fail(f"custom-{i}-price", "Enter the item's price (0 if it is free)")
        value = _amount(entered, f"custom-{i}-price", price) if price else None
        quantity = _quantity(entered, f"custom-{i}-quantity", row["quantity"])
        if title and value is not None and quantity is not None:
            lines.append({"title": title, "price": str(value), "quantity": quantity, "taxable": bool(row["taxable"])})
            line_fields.append(f"custom-{i}")
    if not lines and not any(k.startswith(("item-", "custom-")) for k in entered.errors):
        entered.fail("lines", "Add at least one product or custom item")

    body: dict[str, Any] = {"line_items": lines, "source_name": "manual"}
    email = entered.get("email")
    if email and not EMAIL.match(email):
        entered.fail("email", f"“{email}” is not an e-mail address")
    names = {"first_name": entered.get("first_name"), "last_name": entered.get("last_name")}
    phone = entered.get("phone")
    if email:
        body["email"] = email
    if phone:
        body["phone"] = phone
    if email or phone or any(names.values()):
        # Matched to an existing customer by e-mail, as the API does (services.orders).
        body["customer"] = {"email": email or None, "phone": phone or None, **{k: v or None for k, v in names.items()}}
    if entered.get("customer_locale"):
        body["customer_locale"] = entered.get("customer_locale")

    shipping = _address(entered, "shipping")
    billing = shipping if entered.on("billing_same") else _address(entered, "billing")
    if shipping:
        body["shipping_address"] = shipping
    if billing:
        body["billing_address"] = billing

    title, price = entered.get("shipping_title"), entered.get("shipping_price")
    if title and not price:
        entered.fail("shipping_price", "Enter the shipping price (0 for free shipping)")
    elif price:
        value = _amount(entered, "shipping_price", price)
        if value is not None:
            body["shipping_lines"] = [{"title": title or "Shipping", "price": str(value), "code": "manual"}]

    discount = None
    raw = entered.get("discount_value")
    kind = "percentage" if entered.get("discount_type") == "percentage" else "fixed_amount"
    if raw:
        value = _amount(entered, "discount_value", raw)
        if value is not None and value == 0:
            entered.fail("discount_value", "Leave the discount empty, or enter more than 0")
        elif value is not None and kind == "percentage" and value > 100:
            entered.fail("discount_value", "A percentage discount can be at most 100")
        elif value is not None:
            code = entered.get("discount_code") or "Manual discount"
            body["discount_codes"] = [{"code": code, "amount": str(value), "type": kind}]
            discount = (kind, value)
    elif entered.get("discount_code"):
        entered.fail("discount_value", "Enter the discount's amount or percentage")

    if entered.get("note"):
        body["note"] = entered.get("note")
    if entered.get("tags"):
        body["tags"] = entered.get("tags")
    if entered.on("send_receipt"):
        if not (email or phone):
            entered.fail("send_receipt", "There is no e-mail address or phone number to send the receipt to")
        body["send_receipt"] = True
    return Draft(body, line_fields, discount)


def _payment(entered: Entered, admin: Admin) -> tuple[list[dict[str, Any]], str]:
    """The transaction that says how the order is paid: a pending sale by the chosen manual
    method, or (with the permission to take payments) a successful one."""
    method = entered.get("gateway")
    if method not in dict(METHODS):
        entered.fail("gateway", "Choose how the customer pays")
        method = "manual"
    if entered.get("payment") == "paid":
        if not admin.may("refund"):
            entered.fail("payment", "Your account may not take payments; leave the payment pending")
        return [{"kind": "sale", "gateway": method, "status": "success"}], "paid"
    return [{"kind": "sale", "gateway": method, "status": "pending"}], "pending"


# Where a message about part of the API body belongs on the form.
API_TO_FORM = {
    "line_items": "lines",
    "discount_codes": "discount_value",
    "shipping_lines": "shipping_price",
    "transactions": "payment",
    "financial_status": "payment",
    "customer": "email",
    "location_id": "base",
    "currency": "base",
}


def _form_field(loc: tuple[Any, ...], draft: Draft) -> str:
    head = str(loc[0]) if loc else "base"
    if head == "line_items" and len(loc) >= 3 and isinstance(loc[1], int) and loc[1] < len(draft.line_fields):
        part = {"variant_id": "variant"}.get(str(loc[2]), str(loc[2]))
        return f"{draft.line_fields[loc[1]]}-{part if part in ('variant', 'title', 'price', 'quantity') else 'title'}"
    if head in ("shipping_address", "billing_address") and len(loc) >= 2:
        return f"{head.split('_')[0]}_{loc[1]}"
    if head == "shipping_lines" and len(loc) >= 3:
        return "shipping_title" if loc[2] == "title" else "shipping_price"
    if head == "discount_codes" and len(loc) >= 3:
        return "discount_code" if loc[2] == "code" else "discount_value"
    if head == "customer" and len(loc) >= 2:
        return str(loc[1])
    if head in SCALARS:
        return head
    return API_TO_FORM.get(head, "base")


def _to_place_order(draft: Draft, entered: Entered) -> PlaceOrder | None:
    try:
        order_in = schemas.OrderIn.model_validate(draft.body)
    except ValidationError as exc:
        for error in exc.errors():
            entered.fail(_form_field(tuple(error.get("loc", ())), draft), str(error.get("msg", "not valid")))
        return None
    return convert.place_order(order_in)


def _refused(entered: Entered, exc: OrderError) -> None:
    message = exc.message[:1].upper() + exc.message[1:]
    entered.fail(API_TO_FORM.get(exc.field, exc.field if exc.field in SCALARS else "base"), message)


def _place(cmd: Command, place: PlaceOrder, draft: Draft) -> dict[str, Any]:
    """Place the order in this command's transaction; the rendered order."""
    order: dict[str, Any] = orjson.loads(place_order(cmd, place))
    if draft.discount is not None and draft.discount[0] == "fixed_amount":
        # The domain caps a code at the subtotal; typed by hand, a bigger one is a mistake.
        subtotal = Decimal(order["total_line_items_price"])
        if draft.discount[1] > subtotal:
            raise _DiscountTooBig(f"The discount is more than the items' subtotal of {subtotal} {order['currency']}")
    return order


class _DiscountTooBig(Exception):
    pass


# ---- saving as a draft order ------------------------------------------------------------------
def _draft_changes(cmd: Command, body: dict[str, Any], order_in: schemas.OrderIn) -> drafts.DraftChanges:
    """The form's order body as a draft order's fields (services/draft_orders.py): the same
    lines, customer, addresses, shipping and discount, with no payment and no stock taken."""
    changes = drafts.DraftChanges(
        line_items=[
            drafts.LineIn(quantity=line["quantity"], variant_id=line["variant_id"])
            if "variant_id" in line
            else drafts.LineIn(
                quantity=line["quantity"], title=line["title"], price=line["price"], taxable=line["taxable"]
            )
            for line in body["line_items"]
        ],
        email=order_in.email,
        customer_locale=order_in.customer_locale,
        shipping_address=convert.address(order_in.shipping_address),
        billing_address=convert.address(order_in.billing_address),
        note=order_in.note,
        tags=order_in.tags,
    )
    if order_in.customer is not None:
        # Matched to an existing customer by e-mail, or made, as placing the order would.
        c = order_in.customer
        found = cmd.uow.customers.find_or_create(
            customer_id=None,
            email=c.email,
            phone=c.phone,
            first_name=c.first_name,
            last_name=c.last_name,
            locale=order_in.customer_locale,
            now=cmd.now,
        )
        if found is not None:
            changes.customer_id = found.id
    for line in body.get("shipping_lines", []):
        changes.shipping_line = drafts.ShippingIn(line["title"], line["price"], None)
    for code in body.get("discount_codes", []):
        changes.applied_discount = AppliedDiscount(
            value=Decimal(code["amount"]), value_type=code["type"], title=code["code"]
        )
    return changes


def _save_draft(admin: Admin, entered: Entered, draft: Draft, existing: Any) -> Response:
    if entered.errors:
        return _page(admin, entered, status=422, existing=existing)
    try:
        order_in = schemas.OrderIn.model_validate(draft.body)
    except ValidationError as exc:
        for error in exc.errors():
            entered.fail(_form_field(tuple(error.get("loc", ())), draft), str(error.get("msg", "not valid")))
        return _page(admin, entered, status=422, existing=existing)
    try:
        with admin.command() as cmd:
            saved = drafts.create(cmd, _draft_changes(cmd, draft.body, order_in))
    except OrderError as exc:
        _refused(entered, exc)
        return _page(admin, entered, status=422, existing=existing)
    return admin.done(f"/admin/drafts/{saved.id}", f"Draft {saved.name} saved")


# ---- the catalogue ----------------------------------------------------------------------------
def _catalogue(uow: UnitOfWork, find: str, chosen: set[int]) -> dict[int, Variant]:
    """Variants to offer (those matching `find`, by title or SKU) plus every one already chosen.

    A read of the catalogue tables only; orders are changed through the service."""
    query = select(variants.c.id).join(products, products.c.id == variants.c.product_id)
    if find:
        like = f"%{find.lower()}%"
        query = query.where(
            or_(
                func.lower(products.c.title).like(like),
                func.lower(variants.c.title).like(like),
                func.lower(variants.c.sku).like(like),
            )
        )
    ids = {row.id for row in uow.conn.execute(query.order_by(products.c.title, variants.c.id).limit(CATALOGUE_LIMIT))}
    found = uow.catalog.variants_by_id(ids | chosen)
    return dict(sorted(found.items(), key=lambda kv: (kv[1].product_title.lower(), kv[1].id)))


def _chosen(entered: Entered) -> set[int]:
    chosen = (row["variant"].strip() for row in entered.items)
    return {int(v) for v in chosen if v.isdecimal() and len(v) < 19}


def variant_label(v: Variant, currency: str) -> str:
    parts = [v.product_title + (f" — {v.title}" if v.title and v.title != "Default Title" else "")]
    if v.sku:
        parts.append(f"SKU {v.sku}")
    parts.append(money(v.price, currency))
    return " · ".join(parts)


# ---- routes -----------------------------------------------------------------------------------
def _page(
    admin: Admin, entered: Entered, *, summary: dict[str, Any] | None = None, status: int = 200, existing: Any = None
) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        catalogue = _catalogue(uow, entered.get("find"), _chosen(entered))
        currency = uow.shop.currency
        has_location = bool(uow.catalog.active_location_ids())
    lines = [
        (
            " — ".join(filter(None, (li["title"], li.get("variant_title")))),
            li["quantity"],
            Decimal(li["price"]) * li["quantity"],
        )
        for li in (summary or {}).get("line_items", [])
    ]
    options = [("", "Choose a product…")] + [(str(i), variant_label(v, currency)) for i, v in catalogue.items()]
    return render(
        admin,
        "new_order.html",
        status=status,
        entered=entered,
        errors=entered.errors,
        options=options,
        currency=currency,
        summary=summary,
        summary_lines=lines,
        existing=existing,
        has_location=has_location,
        address_fields=ADDRESS_FIELDS,
        methods=METHODS,
        languages=LANGUAGES,
        may_take_payments=admin.may("refund"),
    )


@router.get("/orders/new", summary="The form to create an order by hand")
def new_order_form(admin: Annotated[Admin, Depends(require("manage_orders"))]) -> Response:
    return _page(admin, _fresh())


@router.post("/orders/new", summary="Recalculate, add lines, or create the order")
async def new_order(request: Request, admin: Annotated[Admin, Depends(require("manage_orders"))]) -> Response:
    form = await request.form()
    entered = _read(form)
    action = str(form.get("action") or "recalculate")
    if action == "add_item":
        entered.items.append({"variant": "", "quantity": "1"})
    elif action == "add_custom":
        entered.customs.append({"title": "", "price": "", "quantity": "1", "taxable": "1"})
    with admin.app.unit_of_work(read_only=True) as uow:
        catalogue = uow.catalog.variants_by_id(_chosen(entered))
        existing = uow.customers.by_email(entered.get("email")) if EMAIL.match(entered.get("email")) else None
    draft = _draft(entered, catalogue)
    if action == "save_draft":
        return _save_draft(admin, entered, draft, existing)
    transactions, paid = _payment(entered, admin)
    place = None if entered.errors else _to_place_order(draft, entered)
    summary = None
    if place is not None:
        # The totals: the order placed in a transaction that is rolled back (nothing is kept).
        try:
            with admin.app.unit_of_work() as uow:
                summary = _place(Command(admin.app, uow, admin.author), place, draft)
        except OrderError as exc:
            _refused(entered, exc)
        except _DiscountTooBig as exc:
            entered.fail("discount_value", str(exc))
    if action != "create":
        # Adding a line or finding products shows problems only once the staff member asks.
        if action in ("add_item", "add_custom", "find"):
            entered.errors.clear()
        return _page(admin, entered, summary=summary, status=422 if entered.errors else 200, existing=existing)
    if entered.errors or summary is None:
        return _page(admin, entered, summary=summary, status=422, existing=existing)

    # A free order (a replacement, a gift) has nothing to pay, so no payment is recorded.
    if Decimal(summary["total_price"]) > 0:
        draft.body["transactions"] = transactions
        draft.body["financial_status"] = paid
    place = _to_place_order(draft, entered)
    if place is None:
        return _page(admin, entered, summary=summary, status=422, existing=existing)
    try:
        with admin.command() as cmd:
            order = _place(cmd, place, draft)
    except OrderError as exc:
        _refused(entered, exc)
        return _page(admin, entered, summary=summary, status=422, existing=existing)
    except _DiscountTooBig as exc:
        entered.fail("discount_value", str(exc))
        return _page(admin, entered, summary=summary, status=422, existing=existing)
    return admin.done(f"/admin/orders/{order['id']}", f"Order {order['name']} created")
