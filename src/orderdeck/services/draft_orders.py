"""Draft order commands: create, change, delete, send the invoice, complete into an order. The
API and the admin both call these; each runs inside the caller's unit of work."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..domain import draft_orders as rules
from ..domain.contact import check_email
from ..domain.draft_orders import AppliedDiscount, DraftCustomer, DraftLineItem, DraftOrder, DraftShipping
from ..domain.errors import InvalidInput, NotFound
from ..domain.money import check_currency
from ..domain.order import Address, NoteAttribute, TaxLine
from ..domain.placement import normalise_tags
from ..notify.smtp import SmtpServer, mail_server
from ..resources.render import RenderContext, address, amount, ts
from ..store.draft_orders import DraftOrders
from ..store.outbox import OutboxMessage
from .context import Command
from .orders import NewCustomer, PlaceOrder, place_order

UNSET: Any = object()  # a field the request left out: unchanged on an update


@dataclass
class LineIn:
    quantity: int
    variant_id: int | None = None
    title: str | None = None
    price: str | None = None
    taxable: bool | None = None
    requires_shipping: bool | None = None
    sku: str | None = None
    grams: int | None = None
    properties: list[NoteAttribute] = field(default_factory=list)
    applied_discount: AppliedDiscount | None = None


@dataclass
class ShippingIn:
    title: str
    price: str
    handle: str | None = None


@dataclass
class DraftChanges:
    """What a create or update sends; UNSET leaves a field as it is."""

    line_items: list[LineIn] = UNSET
    email: str | None = UNSET
    customer_id: int | None = UNSET
    billing_address: Address | None = UNSET
    shipping_address: Address | None = UNSET
    customer_locale: str | None = UNSET
    note: str | None = UNSET
    note_attributes: list[NoteAttribute] = UNSET
    tags: str | list[str] | None = UNSET
    tax_exempt: bool = UNSET
    taxes_included: bool = UNSET
    tax_lines: list[TaxLine] = UNSET
    applied_discount: AppliedDiscount | None = UNSET
    shipping_line: ShippingIn | None = UNSET
    currency: str | None = UNSET


# ---- rendering -------------------------------------------------------------------------------
def invoice_url(draft: DraftOrder, ctx: RenderContext) -> str:
    """The customer's page for the draft: its invoice at /invoices/<token> while open; once
    completed, the page says so and links to the order's status page."""
    return f"{ctx.public_url.rstrip('/')}/invoices/{draft.token}"


def _discount(d: AppliedDiscount | None, off: Any, currency: str) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "title": d.title,
        "description": d.description,
        "value": str(d.value),
        "value_type": d.value_type,
        "amount": amount(off, currency),
    }


def render(draft: DraftOrder, ctx: RenderContext) -> dict[str, Any]:
    """The draft as Shopify's REST 2024-10 DraftOrder resource."""
    c = draft.currency
    t = rules.totals(draft)
    return {
        "id": draft.id,
        "admin_graphql_api_id": f"gid://shopify/DraftOrder/{draft.id}",
        "name": draft.name,
        "status": draft.status,
        "email": draft.email,
        "currency": c,
        "customer": (
            {
                "id": draft.customer.id,
                "email": draft.customer.email,
                "first_name": draft.customer.first_name,
                "last_name": draft.customer.last_name,
            }
            if draft.customer
            else None
        ),
        "customer_locale": draft.customer_locale,
        "billing_address": address(draft.billing_address),
        "shipping_address": address(draft.shipping_address),
        "line_items": [
            {
                "id": li.id,
                "variant_id": li.variant_id,
                "product_id": li.product_id,
                "title": li.title,
                "variant_title": li.variant_title,
                "name": f"{li.title} - {li.variant_title}" if li.variant_title else li.title,
                "sku": li.sku,
                "vendor": li.vendor,
                "quantity": li.quantity,
                "price": amount(li.price, c),
                "grams": li.grams,
                "taxable": li.taxable,
                "requires_shipping": li.requires_shipping,
                "custom": li.custom,
                "gift_card": False,
                "fulfillment_service": "manual",
                "properties": [{"name": p.name, "value": p.value} for p in li.properties],
                "applied_discount": _discount(li.applied_discount, rules.line_discount(li, c), c),
                "tax_lines": [],
                "admin_graphql_api_id": f"gid://shopify/DraftOrderLineItem/{li.id}",
            }
            for li in draft.line_items
        ],
        "applied_discount": _discount(draft.applied_discount, rules.order_discount(draft), c),
        "shipping_line": (
            {
                "title": draft.shipping_line.title,
                "custom": draft.shipping_line.custom,
                "handle": draft.shipping_line.handle,
                "price": amount(draft.shipping_line.price, c),
            }
            if draft.shipping_line
            else None
        ),
        "note": draft.note,
        "note_attributes": [{"name": a.name, "value": a.value} for a in draft.note_attributes],
        "tags": ", ".join(draft.tags),
        "tax_exempt": draft.tax_exempt,
        "tax_exemptions": [],
        "taxes_included": draft.taxes_included,
        "tax_lines": [
            {"title": x.title, "price": amount(x.price, c), "rate": float(x.rate)}
            for x in ([] if draft.tax_exempt else draft.tax_lines)
        ],
        "total_line_items_price": amount(t.total_line_items_price, c),
        "total_discounts": amount(t.total_discounts, c),
        "subtotal_price": amount(t.subtotal_price, c),
        "total_shipping_price": amount(t.shipping_price, c),
        "total_tax": amount(t.total_tax, c),
        "total_price": amount(t.total_price, c),
        "invoice_url": invoice_url(draft, ctx),
        "invoice_sent_at": ts(draft.invoice_sent_at, ctx),
        "order_id": draft.order_id,
        "completed_at": ts(draft.completed_at, ctx),
        "payment_terms": None,
        "source_name": draft.source_name,
        "created_at": ts(draft.created_at, ctx),
        "updated_at": ts(draft.updated_at, ctx),
    }


# ---- the commands ----------------------------------------------------------------------------
def _repo(cmd: Command) -> DraftOrders:
    return DraftOrders(cmd.uow.conn)


def _tell(cmd: Command, draft: DraftOrder, topic: str) -> None:
    """The draft_orders/* webhook, with the draft as it is now (for delete: its id alone, as Shopify)."""
    payload = {"id": draft.id} if topic == "draft_orders/delete" else render(draft, cmd.app.render_context(cmd.uow))
    cmd.uow.outbox.put([OutboxMessage("webhook", topic, orjson.dumps(payload).decode())], cmd.now)


def _lines(cmd: Command, draft: DraftOrder, wanted: list[LineIn]) -> list[DraftLineItem]:
    variants = cmd.uow.catalog.variants_by_id({w.variant_id for w in wanted if w.variant_id is not None})
    lines: list[DraftLineItem] = []
    for index, w in enumerate(wanted):
        where = f"line_items[{index}]"
        discount = (
            rules.check_discount(w.applied_discount, f"{where}.applied_discount", draft.currency)
            if w.applied_discount
            else None
        )
        if w.variant_id is not None:
            v = variants.get(w.variant_id)
            if v is None:
                raise InvalidInput(f"{where}.variant_id: variant {w.variant_id} does not exist", field="line_items")
            price = v.price if w.price is None else rules.parse_amount(w.price, f"{where}.price", draft.currency)
            lines.append(
                DraftLineItem(
                    id=index + 1,
                    title=w.title or v.product_title,
                    price=price,
                    quantity=w.quantity,
                    variant_id=v.id,
                    product_id=v.product_id,
                    variant_title=v.title if v.title != "Default Title" else None,
                    sku=v.sku,
                    vendor=v.vendor,
                    grams=v.grams,
                    taxable=v.taxable,
                    requires_shipping=v.requires_shipping,
                    inventory_tracked=v.inventory_tracked,
                    properties=list(w.properties),
                    applied_discount=discount,
                )
            )
            continue
        if not (w.title or "").strip():
            raise InvalidInput(f"{where}: a custom item needs a title (or send variant_id)", field="line_items")
        if w.price is None:
            raise InvalidInput(f"{where}: a custom item needs a price", field="line_items")
        lines.append(
            DraftLineItem(
                id=index + 1,
                title=(w.title or "").strip(),
                price=rules.parse_amount(w.price, f"{where}.price", draft.currency),
                quantity=w.quantity,
                sku=w.sku,
                grams=w.grams or 0,
                taxable=True if w.taxable is None else w.taxable,
                requires_shipping=True if w.requires_shipping is None else w.requires_shipping,
                properties=list(w.properties),
                applied_discount=discount,
            )
        )
    return lines


def _apply(cmd: Command, draft: DraftOrder, ch: DraftChanges) -> None:
    if ch.currency is not UNSET and ch.currency is not None and check_currency(ch.currency) != draft.currency:
        raise InvalidInput(f"draft orders are kept in the shop currency {draft.currency}", field="currency")
    if ch.line_items is not UNSET:
        draft.line_items = _lines(cmd, draft, ch.line_items or [])
    if ch.email is not UNSET:
        draft.email = str(check_email(ch.email)) if ch.email else None
    if ch.customer_id is not UNSET:
        if ch.customer_id is None:
            draft.customer = None
        else:
            found = cmd.uow.customers.find_or_create(
                customer_id=ch.customer_id,
                email=None,
                phone=None,
                first_name=None,
                last_name=None,
                locale=None,
                now=cmd.now,
            )
            assert found is not None  # an unknown id is refused by find_or_create
            draft.customer = DraftCustomer(found.id, found.email, found.first_name, found.last_name)
            draft.email = draft.email or found.email
            draft.customer_locale = draft.customer_locale or found.locale
    if ch.customer_locale is not UNSET:
        draft.customer_locale = ch.customer_locale
    if ch.billing_address is not UNSET:
        draft.billing_address = ch.billing_address
    if ch.shipping_address is not UNSET:
        draft.shipping_address = ch.shipping_address
    if ch.note is not UNSET:
        if ch.note is not None and len(ch.note) > 5000:
            raise InvalidInput("note may be at most 5,000 characters", field="note")
        draft.note = ch.note
    if ch.note_attributes is not UNSET:
        draft.note_attributes = list(ch.note_attributes)
    if ch.tags is not UNSET:
        draft.tags = normalise_tags(ch.tags)
    if ch.tax_exempt is not UNSET:
        draft.tax_exempt = bool(ch.tax_exempt)
    if ch.taxes_included is not UNSET:
        draft.taxes_included = bool(ch.taxes_included)
    if ch.tax_lines is not UNSET:
        draft.tax_lines = [
            TaxLine(t.title, rules.parse_amount(t.price, f"tax_lines[{i}].price", draft.currency), t.rate)
            for i, t in enumerate(ch.tax_lines)
        ]
    if ch.applied_discount is not UNSET:
        draft.applied_discount = (
            rules.check_discount(ch.applied_discount, "applied_discount", draft.currency)
            if ch.applied_discount
            else None
        )
    if ch.shipping_line is not UNSET:
        s = ch.shipping_line
        draft.shipping_line = (
            DraftShipping(s.title.strip(), rules.parse_amount(s.price, "shipping_line.price", draft.currency), s.handle)
            if s
            else None
        )
    rules.check(draft)


def create(cmd: Command, changes: DraftChanges, *, source_name: str = "orderdeck_admin") -> DraftOrder:
    repo = _repo(cmd)
    currency = cmd.uow.shop.currency
    draft = DraftOrder(
        id=0,
        currency=currency,
        created_at=cmd.now,
        updated_at=cmd.now,
        token=secrets.token_hex(16),
        source_name=source_name,
    )
    _apply(cmd, draft, changes)
    draft.id = repo.next_id(cmd.now, draft.token)
    repo.save(draft)
    _tell(cmd, draft, "draft_orders/create")
    return draft


def get(cmd: Command, draft_id: int) -> DraftOrder:
    return _repo(cmd).get(draft_id)


def update(cmd: Command, draft_id: int, changes: DraftChanges) -> DraftOrder:
    repo = _repo(cmd)
    draft = repo.get(draft_id)
    rules.editable(draft)
    _apply(cmd, draft, changes)
    draft.updated_at = cmd.now
    repo.save(draft)
    _tell(cmd, draft, "draft_orders/update")
    return draft


def delete(cmd: Command, draft_id: int) -> None:
    repo = _repo(cmd)
    draft = repo.get(draft_id)
    rules.deletable(draft)
    repo.delete(draft_id)
    _tell(cmd, draft, "draft_orders/delete")


@dataclass
class Invoice:
    to: str | None = None
    subject: str | None = None
    custom_message: str | None = None


def send_invoice(cmd: Command, draft_id: int, invoice: Invoice) -> tuple[DraftOrder, dict[str, Any]]:
    """Queue the draft_order_invoice e-mail (sent by the outbox like every notification) and mark
    the draft invoice_sent. Returns the draft and the invoice as Shopify echoes it."""
    repo = _repo(cmd)
    draft = repo.get(draft_id)
    rules.editable(draft)
    if not draft.line_items:
        raise InvalidInput("add at least one line item before sending the invoice", field="line_items")
    to = invoice.to or draft.email
    if not to:
        raise InvalidInput("the draft has no e-mail address; send one as draft_order_invoice.to", field="to")
    to = str(check_email(to))
    if invoice.subject is not None and (not invoice.subject.strip() or len(invoice.subject) > 255):
        raise InvalidInput("subject must be 1 to 255 characters", field="subject")
    if invoice.custom_message is not None and len(invoice.custom_message) > 5000:
        raise InvalidInput("custom_message may be at most 5,000 characters", field="custom_message")
    draft.status = "invoice_sent"
    draft.invoice_sent_at = draft.updated_at = cmd.now
    repo.save(draft)
    payload = {
        "draft_order_id": draft.id,
        "template": "draft_order_invoice",
        "to": to,
        "subject": invoice.subject,
        "custom_message": invoice.custom_message,
    }
    cmd.uow.outbox.put([OutboxMessage("notification", "draft_order_invoice", orjson.dumps(payload).decode())], cmd.now)
    _tell(cmd, draft, "draft_orders/update")
    # The address the outbox sends from (outbox/notifications.send_due): the mail server's, else the shop's.
    shop = cmd.uow.shop
    smtp_url = mail_server(cmd.app.settings.smtp_url, shop.settings.smtp_url)
    sender = (SmtpServer.parse(smtp_url).sender if smtp_url else None) or shop.email or f"orders@{shop.domain}"
    echoed = {
        "to": to,
        "from": sender,
        "bcc": [],
        "subject": invoice.subject or f"Draft Order {draft.name}",
        "custom_message": invoice.custom_message or "",
    }
    return draft, echoed


def complete(cmd: Command, draft_id: int, *, payment_pending: bool = False) -> DraftOrder:
    """Place the draft as an ordinary order in this same transaction: stock reserved under each
    product's oversell policy, marked paid with a manual sale unless the payment is pending."""
    repo = _repo(cmd)
    draft = repo.get(draft_id)
    rules.completable(draft)
    customer = (
        NewCustomer(
            id=draft.customer.id,
            email=draft.customer.email,
            first_name=draft.customer.first_name,
            last_name=draft.customer.last_name,
        )
        if draft.customer
        else None
    )
    request = PlaceOrder(
        draft=rules.order_draft(draft),
        customer=customer,
        financial_status=None if payment_pending else "paid",
    )
    placed = orjson.loads(place_order(cmd, request))
    draft.order_id = int(placed["id"])
    draft.status = "completed"
    draft.completed_at = draft.updated_at = cmd.now
    repo.save(draft)
    _tell(cmd, draft, "draft_orders/update")
    return draft


def load(app: Any, draft_id: int) -> tuple[DraftOrder, RenderContext]:
    with app.unit_of_work(read_only=True) as uow:
        try:
            return DraftOrders(uow.conn).get(draft_id, for_update=False), app.render_context(uow)
        except NotFound:
            raise NotFound("Not Found") from None


def invoice_context(app: Any, uow: Any, payload: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """The draft_order_invoice e-mail's template variables (the order notifications' names, from
    the draft, so merchants write it like the others), its language and its address. The draft
    has no order yet: its totals are what is due and its invoice page is the link."""
    from ..notify import context as variables

    draft = DraftOrders(uow.conn).get(int(payload["draft_order_id"]), for_update=False)
    ctx = app.render_context(uow)
    rendered = render(draft, ctx)
    rendered["shipping_address"] = rendered["shipping_address"] or None
    shop = uow.shop
    locale = variables.locale_of({"customer_locale": draft.customer_locale}, shop.primary_locale)
    values = variables.build(
        {**rendered, "customer": rendered["customer"] or {}, "order_status_url": rendered["invoice_url"]},
        shop={"name": shop.name, "email": shop.email, "url": app.settings.public_url},
        locale=locale,
        outstanding=rendered["total_price"],
    )
    values["shipping_price"] = rendered["total_shipping_price"]
    values["invoice_url"] = rendered["invoice_url"]
    values["custom_message"] = payload.get("custom_message") or ""
    return values, locale, str(payload["to"])
