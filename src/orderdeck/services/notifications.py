"""Notifications staff ask for: editing templates (checked before saving), previews, test
sends, resending a notification, and a free message to the customer."""

from __future__ import annotations

from typing import Any

import orjson

from ..domain.errors import InvalidInput, NotFound
from ..domain.order import DomainEvent, Order
from ..domain.statuses import total_outstanding
from ..notify import context as variables
from ..notify import engine, templates
from ..resources import render
from ..store.custom_statuses import CustomStatuses
from ..store.outbox import OutboxMessage
from ..store.uow import UnitOfWork
from .context import Command, Orderdeck
from .custom_statuses import HANDLE

SAMPLE_ORDER: dict[str, Any] = {
    "id": 1,
    "name": "#1001",
    "order_number": 1001,
    "processed_at": "2026-11-30T10:15:00+01:00",
    "email": "anna@example.nl",
    "phone": "+31612345678",
    "customer": {"first_name": "Anna", "last_name": "de Vries", "email": "anna@example.nl"},
    "currency": "EUR",
    "presentment_currency": "EUR",
    "order_status_url": "https://shop.example/orders/status/sample",
    "line_items": [
        {"id": 1, "title": "Espresso cup", "variant_title": "Blue", "sku": "CUP-B", "quantity": 2, "price": "12.50"},
        {
            "id": 2,
            "title": "Coffee beans 1 kg",
            "variant_title": None,
            "sku": "BEANS-1",
            "quantity": 1,
            "price": "24.00",
        },
    ],
    "subtotal_price": "49.00",
    "total_tax": "8.50",
    "total_discounts": "0.00",
    "total_price": "53.95",
    "total_outstanding": "0.00",
    "total_shipping_price_set": {"presentment_money": {"amount": "4.95", "currency_code": "EUR"}},
    "shipping_address": {
        "name": "Anna de Vries",
        "address1": "Keizersgracht 1",
        "city": "Amsterdam",
        "zip": "1015 CJ",
        "country": "Netherlands",
        "country_code": "NL",
    },
    "fulfillments": [
        {
            "id": 1,
            "tracking_company": "PostNL",
            "tracking_numbers": ["3SABCD0123456789"],
            "tracking_urls": ["https://postnl.nl/tracktrace/?B=3SABCD0123456789"],
            "shipment_status": "in_transit",
            "line_items": [{"id": 1, "title": "Espresso cup", "quantity": 2}],
        }
    ],
    "refunds": [
        {
            "id": 1,
            "note": "Damaged in transit",
            "transactions": [{"kind": "refund", "amount": "12.50"}],
            "refund_line_items": [{"quantity": 1, "line_item": {"title": "Espresso cup"}}],
        }
    ],
    "cancel_reason": None,
}
SAMPLE_ORDER["returns"] = [
    {
        "id": 1,
        "name": "#1001-R1",
        "status": "open",
        "requested_at": "2026-12-01T09:30:00+01:00",
        "return_line_items": [
            {
                "title": "Espresso cup - Blue",
                "line_item_id": 1,
                "quantity": 1,
                "return_reason": "color",
                "customer_note": "I'd rather have it in green.",
            }
        ],
        "exchange_line_items": [
            {"variant_id": 3, "quantity": 1, "line_item": {"title": "Espresso cup", "variant_title": "Green"}}
        ],
        "reverse_fulfillment_orders": [
            {
                "reverse_deliveries": [
                    {
                        "id": 2,
                        "label": {"public_file_url": "https://shop.example/labels/1001-R1.pdf"},
                        "tracking": {
                            "carrier_name": "PostNL",
                            "number": "3SRETURN0001",
                            "url": "https://postnl.nl/tracktrace/?B=3SRETURN0001",
                        },
                    }
                ]
            }
        ],
        "decline": {"reason": "other", "note": "This cup was engraved for you, so we can't take it back."},
        "total_fees_set": {"presentment_money": {"amount": "0.00", "currency_code": "EUR"}},
        "refund_ids": [1],
    }
]
SAMPLE_ORDER["custom_status"] = {
    "handle": "in_production",
    "public_note": "Your engraving is being made.",
    "due_at": "2026-12-04T12:00:00+01:00",
}
SAMPLE_MESSAGE = {"subject": "About your order", "body": "Your order ships tomorrow."}


def order_context(
    app: Orderdeck, uow: UnitOfWork, order: Order, locale: str | None = None, **extra: Any
) -> tuple[dict[str, Any], str]:
    """The template variables for one order, and the language: the one given, else the order's.
    The one place a notification's view of an order is made (sending, previews)."""
    ctx = app.render_context(uow)
    rendered = render.order(order, ctx)
    shop = uow.shop
    locale = locale or variables.locale_of(rendered, shop.primary_locale)
    stage = CustomStatuses(uow.conn).by_handle(order.custom_status.handle) if order.custom_status else None
    # Exchange items of a return not approved yet are no order lines: the catalogue names them.
    asked = {ex.variant_id for r in order.returns for ex in r.exchange_line_items if ex.line_item_id is None}
    variants = uow.catalog.variants_by_id(asked)
    values = variables.build(
        rendered,
        shop={
            "name": shop.name,
            "email": shop.email,
            "url": app.settings.public_url,
            "payment_instructions": shop.settings.payment_instructions,
        },
        locale=locale,
        transactions=[render.transaction(order, t, ctx) for t in order.transactions],
        outstanding=str(total_outstanding(order)),
        custom_status_name=stage.name(locale) if stage else None,
        return_instructions=shop.settings.return_instructions,
        exchange_titles={
            v.id: v.product_title if v.title == "Default Title" else f"{v.product_title} - {v.title}"
            for v in variants.values()
        },
        **extra,
    )
    return values, locale


def check_template(name: str, locale: str) -> None:
    stage = name.removeprefix(templates.STAGE) if name.startswith(templates.STAGE) else None
    if stage is not None and HANDLE.match(stage):
        name = "custom_status"
    if name not in templates.NAMES:
        raise NotFound(f"No notification template named {name}; the templates are: {', '.join(templates.NAMES)}")
    if locale not in engine.LOCALES:
        raise NotFound(f"No notification templates in {locale}; the languages are: {', '.join(engine.LOCALES)}")


def sample_context(locale: str, shop_name: str) -> dict[str, Any]:
    return variables.build(
        SAMPLE_ORDER,
        shop={"name": shop_name, "email": "shop@example.com", "url": "https://shop.example"},
        locale=locale,
        message=SAMPLE_MESSAGE,
        transactions=[{"kind": "sale", "status": "success", "amount": "53.95", "gateway": "manual"}],
        custom_status_name="In production",
        return_instructions="Pack the items in their box and take the parcel to any PostNL point.",
    )


def save_template(cmd: Command, name: str, locale: str, parts: dict[str, Any]) -> dict[str, str]:
    """Save the merchant's version of some parts, after rendering each against a sample order:
    a part that does not parse or render is refused with its line and column, and nothing is saved."""
    check_template(name, locale)
    if not parts:
        raise InvalidInput("send at least one of subject, html, text, sms", field="notification_template")
    context = sample_context(locale, cmd.uow.shop.name)
    for part, source in parts.items():
        if part not in engine.PARTS:
            raise InvalidInput(f"unknown part; the parts are {', '.join(engine.PARTS)}", field=part)
        if not isinstance(source, str) or (part == "subject" and not source.strip()):
            raise InvalidInput("must be a text (the subject can't be blank)", field=part)
        engine.render_part(source, part, context, locale, "EUR")
    templates.save(cmd.uow.conn, name, locale, parts, cmd.now)
    return templates.parts_for(cmd.uow.conn, name, locale)


def preview(
    app: Orderdeck, name: str, locale: str, order_id: int | None, parts: dict[str, str] | None
) -> dict[str, Any]:
    """The template (saved, or the parts given) rendered against a real order, or the sample."""
    check_template(name, locale)
    with app.unit_of_work(read_only=True) as uow:
        saved = templates.parts_for(uow.conn, name, locale)
        shop = uow.shop
        if order_id is not None:
            order = uow.orders.get(order_id, for_update=False)
            values, _ = order_context(app, uow, order, locale, message=SAMPLE_MESSAGE)
        else:
            values = sample_context(locale, shop.name)
    currency = values["currency"] or shop.currency
    done = engine.render({**saved, **(parts or {})}, values, locale, currency)
    return {"subject": done.subject, "html": done.html, "text": done.text, "sms": done.sms}


def queue(cmd: Command, order_id: int, name: str, **extra: Any) -> None:
    """Ask the worker to send a notification for an order (resend, test send, free message)."""
    if name not in templates.NAMES:
        raise InvalidInput(f"unknown template; use one of: {', '.join(templates.NAMES)}", field="template")
    if name == "draft_order_invoice":
        raise InvalidInput("a draft order's invoice is sent from the draft (send_invoice)", field="template")
    cmd.uow.orders.get(order_id, for_update=False)  # 404 for an unknown order
    if "to" not in extra:  # a test send goes to staff, not to the customer: not the order's history
        message = extra.get("message") or {}
        what = (
            f"a message to the customer, “{message.get('subject', '')}”"
            if name == "custom_message"
            else f"the {name.replace('_', ' ')} notification to the customer"
        )
        asked = DomainEvent("notification_requested", f"{cmd.author.name} asked to send {what}.", cmd.author)
        cmd.uow.timeline.append(order_id, [asked], cmd.now)
    payload = {"order_id": order_id, "template": name, **extra}
    cmd.uow.outbox.put([OutboxMessage("notification", name, orjson.dumps(payload).decode(), order_id)], cmd.now)


def contact_customer(cmd: Command, order_id: int, subject: Any, body: Any) -> None:
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 255:
        raise InvalidInput("must be a text of 1 to 255 characters", field="subject")
    if not isinstance(body, str) or not body.strip() or len(body) > 10_000:
        raise InvalidInput("must be a text of 1 to 10,000 characters", field="body")
    queue(cmd, order_id, "custom_message", message={"subject": subject.strip(), "body": body.strip()})


def check_message(subject: str, body: str, locale: str, shop_name: str) -> None:
    """A message to many customers is Liquid too: refuse it, with the place, before queueing."""
    context = sample_context(locale, shop_name)
    engine.render_part(subject, "subject", context, locale, "EUR")
    try:
        engine.render_part(body, "text", context, locale, "EUR")
    except engine.TemplateProblem as exc:
        raise engine.TemplateProblem(exc.message, field="body") from None


def personalised(message: dict[str, str], values: dict[str, Any], locale: str, currency: str) -> dict[str, str]:
    """A composed message rendered for one order's customer."""
    return {
        "subject": engine.render_part(message["subject"], "subject", values, locale, currency),
        "body": engine.render_part(message["body"], "text", values, locale, currency),
    }


def queue_many(app: Orderdeck, order_ids: list[int], message: dict[str, str]) -> int:
    """One custom_message per order, in batches of 1,000 outbox rows a transaction."""
    queued = 0
    for start in range(0, len(order_ids), 1000):
        with app.unit_of_work() as uow:
            rows = [
                OutboxMessage(
                    "notification",
                    "custom_message",
                    orjson.dumps(
                        {"order_id": oid, "template": "custom_message", "message": message, "liquid": True}
                    ).decode(),
                    oid,
                )
                for oid in order_ids[start : start + 1000]
            ]
            uow.outbox.put(rows, uow.now)
            uow.commit()
            queued += len(rows)
    return queued


def preview_message(app: Orderdeck, message: dict[str, str], order_id: int | None) -> dict[str, str]:
    with app.unit_of_work(read_only=True) as uow:
        shop = uow.shop
        if order_id is None:
            locale = variables.locale_of({}, shop.primary_locale)
            values = sample_context(locale, shop.name)
        else:
            values, locale = order_context(app, uow, uow.orders.get(order_id, for_update=False))
    return personalised(message, values, locale, values["currency"] or shop.currency)
