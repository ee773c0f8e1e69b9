"""E-mail to staff: the alerts the jobs raise (an authorization about to expire, a stuck order:
its subject names the reason when the alert carries one, domain/stuck.py)
and automation rules' `email_staff` action, from the `staff_alert` outbox rows.

Sent over SMTP as ORDERDECK_SMTP_URL says (`smtp://user:pass@host:587?starttls=1&from=…`, or
`smtps://…` for TLS from the start), to the shop's `staff_email` setting or else the shop's
e-mail. Without either, the alerts wait in the outbox (staff still see them on the timeline)
and are sent once both are set. At least once: a row is claimed with a lease, sent, then marked;
a failed send is tried again later with backoff, never dropped.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage

import orjson

from ..notify.smtp import SmtpServer, checked_by, mail_server
from ..services.context import Orderdeck

log = logging.getLogger("orderdeck.staff_mail")

LEASE = timedelta(minutes=2)
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))


def _compose(
    payload: dict[str, object], topic: str, shop_name: str, sender: str, to: str, public_url: str
) -> EmailMessage:
    name = payload.get("name") or f"order {payload.get('order_id')}"
    subject = payload.get("subject") or {
        "authorization_expiring": f"Payment authorization for {name} expires soon",
        "stuck": f"{name} is stuck: not fulfilled in time",
    }.get(topic, f"About {name}")
    message = EmailMessage()
    message["Subject"] = f"[{shop_name}] {subject}"
    message["From"] = sender
    message["To"] = to
    message["X-Orderdeck-Order-Id"] = str(payload.get("order_id"))
    message.set_content(
        f"{payload.get('message', '')}\n\nOrder: {name} (id {payload.get('order_id')})\n"
        f"Admin: {public_url}/admin/orders/{payload.get('order_id')}\n"
        f"API: {public_url}/admin/api/2024-10/orders/{payload.get('order_id')}.json\n"
    )
    return message


def send_due(app: Orderdeck, limit: int = 20) -> int:
    """Send due staff alerts. Returns how many were claimed (sent or put off)."""
    with app.unit_of_work() as uow:
        shop = uow.shop
        url = mail_server(app.settings.smtp_url, shop.settings.smtp_url)
        if not url:
            return 0
        server = SmtpServer.parse(url)
        to = shop.settings.staff_email or shop.email
        if not to:
            return 0
        rows = uow.outbox.claim("staff_alert", uow.now, LEASE, limit, skip_locked=not app.db.is_sqlite)
        if not rows:
            return 0
        uow.commit()
        sender = server.sender or shop.email or f"orderdeck@{shop.domain}"
        shop_name = shop.name
    for row in rows:
        message = _compose(orjson.loads(row.payload), row.topic, shop_name, sender, to, app.settings.public_url)
        try:
            server.send(message, checked_by(url, app.settings))
            outcome = {"delivered_at": app.clock(), "attempts": row.attempts + 1}
        except (OSError, smtplib.SMTPException) as exc:
            wait = BACKOFF[min(row.attempts, len(BACKOFF) - 1)]
            log.warning("staff e-mail %s not sent (%s); trying again in %s", row.id, exc, wait)
            outcome = {"available_at": app.clock() + wait, "attempts": row.attempts + 1}
        with app.unit_of_work() as uow:
            uow.outbox.settle(row.id, **outcome)
            uow.commit()
    return len(rows)
