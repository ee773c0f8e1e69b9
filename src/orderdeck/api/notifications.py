"""Notification templates (`notification_templates.json`, Orderdeck's resource) and sending
notifications by hand: resend one for an order, or write to the customer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ..notify import engine, templates
from ..services import notifications
from ..services.context import Command
from ..store.access import ApiToken
from ..store.custom_statuses import CustomStatuses
from .auth import check_scope, require
from .errors import ApiError
from .responses import app_of, json, run_command
from .schemas import Short, Strict, Text

router = APIRouter(tags=["notifications"])
# The templates have their own scopes (what every customer is sent); writing to one order's
# customer is an order action.
read_templates = require("read_notification_templates")
write_templates = require("write_notification_templates")
write = require("write_orders")


class TemplateIn(Strict):
    subject: Short | None = None
    html: str | None = None
    text: str | None = None
    sms: str | None = None


class TemplateEnvelope(Strict):
    notification_template: TemplateIn


class PreviewIn(Strict):
    order_id: int | None = None
    notification_template: TemplateIn | None = None  # parts not saved yet, to preview as you type


class TestSendIn(Strict):
    order_id: int


class ResendIn(Strict):
    template: Short


class ResendEnvelope(Strict):
    notification: ResendIn


class MessageIn(Strict):
    subject: Short
    body: Text


class MessageEnvelope(Strict):
    message: MessageIn


def template_json(name: str, locale: str, parts: dict[str, str], custom: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "locale": locale,
        **{part: parts[part] for part in engine.PARTS},
        "customized": sorted(custom),
    }


@router.get(
    "/notification_templates.json", summary="Every notification template and language, and which are customized"
)
def list_templates(request: Request, token: Annotated[ApiToken, Depends(read_templates)]) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        stages = [f"{templates.STAGE}{s.handle}" for s in CustomStatuses(uow.conn).all()]
        found = [
            {"name": name, "locale": locale, "customized": sorted(templates.customized(uow.conn, name, locale))}
            for name in (*templates.NAMES, *stages)
            for locale in engine.LOCALES
        ]
    return json({"notification_templates": found})


@router.get("/notification_templates/{name}/{locale}.json", summary="One template in one language, all its parts")
def get_template(
    request: Request, name: str, locale: str, token: Annotated[ApiToken, Depends(read_templates)]
) -> Response:
    notifications.check_template(name, locale)
    with app_of(request).unit_of_work(read_only=True) as uow:
        parts = templates.parts_for(uow.conn, name, locale)
        custom = templates.customized(uow.conn, name, locale)
    return json({"notification_template": template_json(name, locale, parts, custom)})


@router.put(
    "/notification_templates/{name}/{locale}.json",
    summary="Save your version of some parts (each checked against a sample order first)",
)
def save_template(
    request: Request,
    name: str,
    locale: str,
    body: TemplateEnvelope,
    token: Annotated[ApiToken, Depends(write_templates)],
) -> Response:
    parts = body.notification_template.model_dump(exclude_none=True)

    def work(cmd: Command) -> dict[str, Any]:
        saved = notifications.save_template(cmd, name, locale, parts)
        return {
            "notification_template": template_json(
                name, locale, saved, templates.customized(cmd.uow.conn, name, locale)
            )
        }

    return run_command(request, token, body, work)


@router.delete("/notification_templates/{name}/{locale}.json", summary="Go back to Orderdeck's default")
def revert_template(
    request: Request, name: str, locale: str, token: Annotated[ApiToken, Depends(write_templates)]
) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        notifications.check_template(name, locale)
        templates.revert(cmd.uow.conn, name, locale)
        return {"notification_template": template_json(name, locale, templates.defaults(name, locale), {})}

    return run_command(request, token, None, work)


@router.post("/notification_templates/{name}/{locale}/preview.json", summary="Render against a real order or a sample")
def preview(
    request: Request, name: str, locale: str, body: PreviewIn, token: Annotated[ApiToken, Depends(read_templates)]
) -> Response:
    if body.order_id is not None:
        check_scope(token, "read_orders")  # a real order's details, as they would be sent
    parts = body.notification_template.model_dump(exclude_none=True) if body.notification_template else None
    return json({"preview": notifications.preview(app_of(request), name, locale, body.order_id, parts)})


@router.post("/notification_templates/{name}/{locale}/test.json", summary="Send it for an order to the staff address")
def test_send(
    request: Request, name: str, locale: str, body: TestSendIn, token: Annotated[ApiToken, Depends(write_templates)]
) -> Response:
    check_scope(token, "read_orders")  # mails a real order's details

    def work(cmd: Command) -> dict[str, Any]:
        notifications.check_template(name, locale)
        shop = cmd.uow.shop
        to = shop.settings.staff_email or shop.email
        if not to:
            raise ApiError(422, {"staff_email": ["is not set; set it in the shop settings to receive test sends"]})
        notifications.queue(cmd, body.order_id, name, to=to, locale=locale)
        return {"queued": {"template": name, "locale": locale, "to": to}}

    return run_command(request, token, body, work, status=202)


@router.post("/orders/{order_id}/notifications.json", status_code=202, summary="Send a notification again (Orderdeck)")
def resend(
    request: Request, order_id: int, body: ResendEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        notifications.queue(cmd, order_id, body.notification.template)
        return {"queued": {"template": body.notification.template}}

    return run_command(request, token, body, work, status=202)


@router.post("/orders/{order_id}/messages.json", status_code=202, summary="Write to the customer (Orderdeck)")
def contact(
    request: Request, order_id: int, body: MessageEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        notifications.contact_customer(cmd, order_id, body.message.subject, body.message.body)
        return {"queued": {"template": "custom_message"}}

    return run_command(request, token, body, work, status=202)
