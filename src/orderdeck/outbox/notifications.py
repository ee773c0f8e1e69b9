"""Sending customer notifications: the outbox's `notification` rows, rendered in the order's
language and sent by e-mail (SMTP), or by SMS when the order has a phone and no e-mail.

At least once: a row is claimed with a lease, rendered and sent, then marked; a send that fails
is tried again with backoff and, after MAX_ATTEMPTS, recorded as failed on the order's
timeline, where every sent message appears too. Nothing is dropped silently: a message that
cannot be sent (no address, a template that fails on this order) says so on the timeline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import msgspec
import orjson
from markupsafe import Markup

from ..destinations import RefusedDestination
from ..domain.contact import check_email, check_phone
from ..domain.errors import InvalidInput, NotFound
from ..domain.order import SYSTEM, DomainEvent, Order
from ..domain.statuses import balance
from ..notify import engine, templates
from ..notify.sms import SmsFailed, provider
from ..notify.smtp import SmtpServer, checked_by, mail_server
from ..services.context import Orderdeck
from ..services.draft_orders import invoice_context
from ..services.notifications import order_context, personalised
from ..store.uow import UnitOfWork

log = logging.getLogger("orderdeck.notifications")

LEASE = timedelta(minutes=2)
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
TITLES = {name: name.replace("_", " ").capitalize() for name in templates.NAMES}


@dataclass(frozen=True)
class Message:
    """A notification rendered and addressed, ready to send."""

    order_id: int | None  # None: a draft order's invoice, which has no order yet
    template: str
    locale: str
    channel: str  # email | sms
    to: str
    rendered: engine.Rendered
    html_page: str


class CannotSend(Exception):
    """Final: sending again would not help (no address, a template that fails on this order)."""


def prepare(app: Orderdeck, payload: dict[str, Any]) -> Message:
    """Render a notification for its order, in the order's language, and address it."""
    name = payload["template"]
    if "draft_order_id" in payload:
        return _prepare_invoice(app, payload)
    with app.unit_of_work(read_only=True) as uow:
        try:
            order = uow.orders.get(payload["order_id"], for_update=False)
        except NotFound:
            raise CannotSend("the order was deleted") from None
        shop = uow.shop
        values, locale = order_context(
            app,
            uow,
            order,
            payload.get("locale"),
            subject_id=payload.get("subject_id"),
            message=payload.get("message"),
            **(_edit_values(uow, order, payload.get("subject_id")) if name == "order_edited" else {}),
        )
        # A custom status is told with that stage's own template when the merchant wrote one.
        chosen = (
            f"{templates.STAGE}{order.custom_status.handle}"
            if name == "custom_status" and order.custom_status
            else name
        )
        parts = templates.parts_for(uow.conn, chosen, locale)
    currency = values["currency"] or shop.currency
    try:
        if payload.get("liquid") and values["message"]:
            # A message composed for many customers: personalised for this one first.
            values["message"] = personalised(values["message"], values, locale, currency)
        done = engine.render(parts, values, locale, currency)
    except engine.TemplateProblem as exc:
        raise CannotSend(f"the {locale} {name} template's {exc.field} failed: {exc.message}") from None
    page = (
        engine.environment(locale, currency, html=True)
        .from_string(templates.layout())
        .render(**values, subject=done.subject, content=Markup(done.html))
    )
    sms = provider(app.settings.sms_url)
    to = payload.get("to") or order.email
    if to and mail_server(app.settings.smtp_url, shop.settings.smtp_url):
        return Message(order.id, name, locale, "email", _reachable(check_email, to), done, page)
    if order.phone and sms is not None and not payload.get("to"):
        return Message(order.id, name, locale, "sms", _reachable(check_phone, order.phone), done, page)
    if not to and not order.phone:
        raise CannotSend("the order has no e-mail address or phone number")
    raise CannotSend("no way to reach the customer is set up (ORDERDECK_SMTP_URL, ORDERDECK_SMS_URL)")


def _edit_values(uow: UnitOfWork, order: Order, edit_id: int | None) -> dict[str, Any]:
    """The "order edited" message's edit (its subject): what it changed, and the refund the shop
    owes now (presentment currency) when the edit lowered the total below what was paid."""
    owed = -balance(order)
    values: dict[str, Any] = {"suggested_refund": f"{owed:.2f}" if owed > 0 else None}
    # A subject that is no edit (a message resent without one): the order as it is, no changes listed.
    with contextlib.suppress(NotFound):
        if edit_id is not None:
            values["order_edit"] = msgspec.to_builtins(uow.order_edits.get(edit_id, for_update=False))
    return values


def _prepare_invoice(app: Orderdeck, payload: dict[str, Any]) -> Message:
    """A draft order's invoice (services/draft_orders.send_invoice): e-mail only, to the address
    staff chose; a subject staff wrote replaces the template's."""
    name = payload["template"]
    with app.unit_of_work(read_only=True) as uow:
        try:
            values, locale, to = invoice_context(app, uow, payload)
        except NotFound:
            raise CannotSend("the draft order was deleted") from None
        shop = uow.shop
        parts = templates.parts_for(uow.conn, name, locale)
        if not mail_server(app.settings.smtp_url, shop.settings.smtp_url):
            raise CannotSend("no mail server is set up (ORDERDECK_SMTP_URL)")
    currency = values["currency"] or shop.currency
    try:
        done = engine.render(parts, values, locale, currency)
    except engine.TemplateProblem as exc:
        raise CannotSend(f"the {locale} {name} template's {exc.field} failed: {exc.message}") from None
    if payload.get("subject"):
        done = dataclasses.replace(done, subject=payload["subject"])
    page = (
        engine.environment(locale, currency, html=True)
        .from_string(templates.layout())
        .render(**values, subject=done.subject, content=Markup(done.html))
    )
    return Message(None, name, locale, "email", _reachable(check_email, to), done, page)


def _reachable(check: Any, address: str) -> str:
    """An address stored before input was checked (a line break in an e-mail, say) fails every
    send the same way: say so once, on the timeline, instead of retrying it for hours."""
    try:
        return str(check(address))
    except InvalidInput as exc:
        raise CannotSend(f"{address!r} {exc.message}; correct it on the order and resend") from None


def email(message: Message, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.rendered.subject
    mail["From"] = sender
    mail["To"] = message.to
    if message.order_id is not None:
        mail["X-Orderdeck-Order-Id"] = str(message.order_id)
    mail["X-Orderdeck-Template"] = message.template
    mail.set_content(message.rendered.text)
    mail.add_alternative(message.html_page, subtype="html")
    mail["Content-Language"] = message.locale  # after the content, which resets Content-* headers
    return mail


def send(app: Orderdeck, message: Message, sender: str, smtp_url: str | None) -> None:
    if message.channel == "email":
        assert smtp_url is not None
        try:
            SmtpServer.parse(smtp_url).send(email(message, sender), checked_by(smtp_url, app.settings))
        except RefusedDestination as exc:  # the shop's mail server setting must change: no retrying
            raise CannotSend(f"the shop's mail server was not contacted: {exc}") from None
    else:
        sms = provider(app.settings.sms_url)
        assert sms is not None
        sms.send(message.to, message.rendered.sms)


def send_due(app: Orderdeck, limit: int = 20) -> int:
    """Send due notifications. Returns how many were claimed."""
    with app.unit_of_work() as uow:
        smtp_url = mail_server(app.settings.smtp_url, uow.shop.settings.smtp_url)
        if not smtp_url and not app.settings.sms_url:
            return 0  # they wait until a way to send is set up
        rows = uow.outbox.claim("notification", uow.now, LEASE, limit, skip_locked=not app.db.is_sqlite)
        if not rows:
            return 0
        shop = uow.shop
        uow.commit()
    sender = (SmtpServer.parse(smtp_url).sender if smtp_url else None) or (shop.email or f"orders@{shop.domain}")
    for row in rows:
        _one(app, row, sender, smtp_url)
    return len(rows)


def _one(app: Orderdeck, row: Any, sender: str, smtp_url: str | None) -> None:
    payload = orjson.loads(row.payload)
    title = TITLES.get(payload.get("template"), payload.get("template"))
    outcome: dict[str, Any]
    event: DomainEvent | None
    try:
        message = prepare(app, payload)
        send(app, message, sender, smtp_url)
        outcome = {"delivered_at": app.clock()}
        what = "e-mail" if message.channel == "email" else "SMS"
        event = DomainEvent(
            verb="notification_sent",
            author=SYSTEM,
            message=f"{title} {what} sent to {message.to} ({message.locale}).",
            arguments={"template": message.template, "channel": message.channel, "locale": message.locale},
        )
    except CannotSend as exc:
        outcome = {"delivered_at": app.clock()}
        event = DomainEvent(
            verb="notification_failed",
            author=SYSTEM,
            message=f"{title} not sent: {exc}.",
            arguments={"template": payload.get("template")},
        )
    except Exception as exc:  # the mail server, the SMS provider, or anything else: try again later
        if not isinstance(exc, (OSError, smtplib.SMTPException, SmsFailed)):
            log.exception("notification %s failed unexpectedly", row.id)
        attempts = row.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            outcome = {"delivered_at": app.clock()}
            event = DomainEvent(
                verb="notification_failed",
                author=SYSTEM,
                message=f"{title} not sent after {attempts} attempts: {exc}.",
                arguments={"template": payload.get("template")},
            )
        else:
            wait = BACKOFF[attempts - 1]
            log.warning("notification %s not sent (%s); trying again in %s", row.id, exc, wait)
            outcome = {"available_at": app.clock() + wait}
            event = None
    with app.unit_of_work() as uow:
        uow.outbox.settle(row.id, attempts=row.attempts + 1, **outcome)
        if event is not None and row.order_id is not None and payload.get("template") is not None:
            try:
                uow.orders.get(row.order_id, for_update=False)
                uow.timeline.append(row.order_id, [event], uow.now)
            except NotFound:
                pass  # deleted meanwhile: no timeline to write on
        uow.commit()
