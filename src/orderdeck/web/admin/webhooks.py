"""Settings → Webhooks: the shop's webhook subscriptions, each with its delivery log.

Staff subscribe an address to a topic, change or delete a subscription, pause and resume it, read
each delivery's attempts (status codes, errors, the receiver's answer), and send deliveries again
(one, or every failed one). The rules (valid addresses, one subscription per topic and address)
are the webhook service's (`services/webhooks.py`); the page shows where deliveries are signed
and how receivers check the signature.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response
from sqlalchemy import select

from ...domain.errors import NotFound, OrderError
from ...domain.topics import TOPICS
from ...services import webhooks
from ...store.tables import orders
from ...store.webhooks import Deliveries, Subscription, Subscriptions, webhook_secret
from .access import Admin, refusal, require
from .pages import render

router = APIRouter()
Settings = Annotated[Admin, Depends(require("manage_settings"))]
Text = Annotated[str, Form()]
PAGE = 25
STATES = ("pending", "delivered", "failed")


def _fields(text: str) -> list[str] | None:
    """The fields box: names separated by commas or spaces; empty sends the whole payload."""
    names = [n.strip() for n in text.replace(",", " ").split() if n.strip()]
    return names or None


def _secret_hint(admin: Admin) -> dict[str, str]:
    """Where the signing secret comes from and its last four characters (never the secret)."""
    configured = admin.app.settings.webhook_secret
    with admin.app.unit_of_work() as uow:
        secret = webhook_secret(uow.conn, configured)  # made on first use, as the worker would
        uow.commit()
    return {
        "ending": secret[-4:],
        "source": "ORDERDECK_WEBHOOK_SECRET" if configured else "made by Orderdeck and kept in its database",
    }


def _form_page(
    admin: Admin,
    subscription: Subscription | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        admin,
        "webhooks_form.html",
        status=status,
        subscription=subscription,
        values=values,
        errors=errors or {},
        topics=TOPICS,
    )


@router.get("/settings/webhooks", summary="The webhook subscriptions")
def list_webhooks(admin: Settings) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        found = Subscriptions(uow.conn).list()
    return render(admin, "webhooks.html", subscriptions=found, secret=_secret_hint(admin))


@router.get("/settings/webhooks/new", summary="Subscribe an address to a topic")
def new_webhook(admin: Settings) -> Response:
    return _form_page(admin, None, {"topic": "orders/create", "address": "", "fields": "", "format": "json"})


@router.post("/settings/webhooks", summary="Create a subscription")
def create_webhook(
    admin: Settings, topic: Text = "", address: Text = "", fields: Text = "", format: Text = "json"
) -> Response:
    values = {"topic": topic, "address": address, "fields": fields, "format": format}
    try:
        with admin.command() as cmd:
            made = webhooks.subscribe(cmd, topic, address, _fields(fields), format or None)
    except OrderError as exc:
        return _form_page(admin, None, values, {exc.field: exc.message}, status=422)
    return admin.done(f"/admin/settings/webhooks/{made.id}", f"Subscribed {made.address} to {made.topic}.")


def _delivery_page(admin: Admin, subscription_id: int, state: str, before: str) -> dict[str, Any]:
    with admin.app.unit_of_work(read_only=True) as uow:
        subscription = Subscriptions(uow.conn).get(subscription_id)
        deliveries = Deliveries(uow.conn)
        after = None
        if before:
            try:
                last = deliveries.get(before, subscription_id)
            except NotFound:
                before = ""  # a stale link: start from the newest again
            else:
                after = (last.created_at, last.id)
        found = deliveries.list(subscription_id, state=state or None, before=after, limit=PAGE + 1)
        failed = deliveries.list(subscription_id, state="failed", limit=1)
        order_names = _order_names(uow.conn, {d.order_id for d in found if d.order_id})
    more = len(found) > PAGE
    found = found[:PAGE]
    base = f"/admin/settings/webhooks/{subscription_id}"
    keep = {"state": state} if state else {}
    return {
        "subscription": subscription,
        "deliveries": found,
        "order_names": order_names,
        "any_failed": bool(failed),
        "state": state,
        "newer_url": (f"{base}?{urlencode(keep)}" if keep else base) if before else None,
        "older_url": f"{base}?{urlencode({**keep, 'before': found[-1].id})}" if more else None,
    }


def _order_names(conn: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(orders.c.id, orders.c.name).where(orders.c.id.in_(ids)))
    return {row.id: row.name for row in rows}


@router.get("/settings/webhooks/{subscription_id}", summary="A subscription and its delivery log")
def show_webhook(admin: Settings, subscription_id: int, state: str = "", before: str = "") -> Response:
    state = state if state in STATES else ""
    values = _delivery_page(admin, subscription_id, state, before)
    return render(admin, "webhooks_show.html", states=STATES, secret=_secret_hint(admin), **values)


@router.get("/settings/webhooks/{subscription_id}/edit", summary="Change a subscription")
def edit_webhook(admin: Settings, subscription_id: int) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        found = Subscriptions(uow.conn).get(subscription_id)
    values = {"topic": found.topic, "address": found.address, "fields": ", ".join(found.fields or []), "format": "json"}
    return _form_page(admin, found, values)


@router.post("/settings/webhooks/{subscription_id}", summary="Save a changed subscription")
def update_webhook(
    admin: Settings,
    subscription_id: int,
    topic: Text = "",
    address: Text = "",
    fields: Text = "",
    format: Text = "json",
) -> Response:
    values = {"topic": topic, "address": address, "fields": fields, "format": format}
    changes = {"topic": topic, "address": address, "fields": _fields(fields), "format": format or None}
    try:
        with admin.command() as cmd:
            webhooks.change(cmd, subscription_id, changes)
    except NotFound:
        raise
    except OrderError as exc:
        with admin.app.unit_of_work(read_only=True) as uow:
            found = Subscriptions(uow.conn).get(subscription_id)
        return _form_page(admin, found, values, {exc.field: exc.message}, status=422)
    return admin.done(f"/admin/settings/webhooks/{subscription_id}", "Saved the webhook.")


@router.post("/settings/webhooks/{subscription_id}/delete", summary="Unsubscribe")
def delete_webhook(admin: Settings, subscription_id: int) -> Response:
    return admin.act(
        lambda cmd: webhooks.unsubscribe(cmd, subscription_id),
        back="/admin/settings/webhooks",
        success="Deleted the webhook and its delivery log.",
    )


@router.post("/settings/webhooks/{subscription_id}/enable", summary="Resume deliveries")
def enable_webhook(admin: Settings, subscription_id: int) -> Response:
    return admin.act(
        lambda cmd: webhooks.enable(cmd, subscription_id),
        back=f"/admin/settings/webhooks/{subscription_id}",
        success="Enabled: deliveries that waited are sent from now on.",
    )


@router.post("/settings/webhooks/{subscription_id}/disable", summary="Pause deliveries")
def disable_webhook(admin: Settings, subscription_id: int) -> Response:
    return admin.act(
        lambda cmd: webhooks.disable(cmd, subscription_id, None),
        back=f"/admin/settings/webhooks/{subscription_id}",
        success="Disabled: deliveries wait until you enable it again.",
    )


@router.post("/settings/webhooks/{subscription_id}/redeliver", summary="Send deliveries again")
def redeliver(admin: Settings, subscription_id: int, delivery_id: Text = "", state: Text = "") -> Response:
    ids = [delivery_id] if delivery_id else None
    page = f"/admin/settings/webhooks/{subscription_id}"
    back = page + (f"/deliveries/{delivery_id}" if delivery_id else "")
    with admin.app.unit_of_work(read_only=True) as uow:
        Subscriptions(uow.conn).get(subscription_id)  # no such webhook: the not-found page
    try:
        with admin.command() as cmd:
            sent = webhooks.redeliver(cmd, subscription_id, ids, state or None)
    except NotFound as exc:
        return admin.done(page, refusal(exc), kind="error")  # that delivery is not in this log
    except OrderError as exc:
        return admin.done(back, refusal(exc), kind="error")
    if not sent:
        return admin.done(back, "There was nothing to send again.", kind="info")
    what = "the delivery" if ids else f"{sent} deliver{'y' if sent == 1 else 'ies'}"
    return admin.done(back, f"Sending {what} again; the log shows each new attempt.")


@router.get("/settings/webhooks/{subscription_id}/deliveries/{delivery_id}", summary="One delivery and its attempts")
def show_delivery(admin: Settings, subscription_id: int, delivery_id: str) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        subscription = Subscriptions(uow.conn).get(subscription_id)
        deliveries = Deliveries(uow.conn)
        delivery = deliveries.get(delivery_id, subscription_id)
        attempts = deliveries.attempts([delivery.id])[delivery.id]
        names = _order_names(uow.conn, {delivery.order_id} if delivery.order_id else set())
    return render(
        admin,
        "webhooks_delivery.html",
        subscription=subscription,
        delivery=delivery,
        attempts=list(reversed(attempts)),
        order_name=names.get(delivery.order_id or 0),
        body_excerpt=delivery.body[:4000],
        body_cut=len(delivery.body) > 4000,
    )
