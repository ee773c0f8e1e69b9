"""Settings → Notifications: the customer notification templates, every one in every language.

Staff see which templates they changed, edit a template's four parts (subject, HTML, text, SMS)
with a preview that follows their typing (against the sample order or one of their orders),
save (each part checked first; a broken one is refused with its line and column and nothing is
saved), go back to the default, and send themselves a test. The rules and the rendering are the
notification service's (`services/notifications.py`); this module only shows them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from ...domain.errors import InvalidInput, NotFound, OrderError
from ...notify import engine, templates
from ...notify.smtp import mail_server
from ...services import notifications
from ...store.custom_statuses import CustomStatuses
from ...store.tables import orders
from .access import Admin, require
from .pages import NO_STORE, render

router = APIRouter()
Settings = Annotated[Admin, Depends(require("manage_settings"))]
Text = Annotated[str, Form()]

LANGUAGES = {"en": "English", "nl": "Dutch", "de": "German", "fi": "Finnish"}
PART_WORDS = {"subject": "subject", "html": "HTML", "text": "plain text", "sms": "SMS"}  # in a sentence
PART_LABELS = {"subject": "Subject", "html": "HTML e-mail body", "text": "Plain-text e-mail body", "sms": "SMS"}
# When each template goes out, in the merchant's words (docs/notifications.md).
SENT_WHEN = {
    "order_confirmation": "An order is placed with a receipt asked for",
    "order_edited": "Staff send it after changing an order",
    "order_invoice": "Staff send an invoice",
    "draft_order_invoice": "Staff send a draft order's invoice",
    "order_cancelled": "An order is cancelled and the customer told",
    "refund": "A refund is made and the customer told",
    "shipping_confirmation": "Items are shipped and the customer told",
    "shipping_update": "Tracking changes and the customer is told",
    "out_for_delivery": "The carrier says it is out for delivery",
    "delivered": "The carrier says it was delivered",
    "ready_for_pickup": "The carrier says it is ready for pickup",
    "attempted_delivery": "The carrier says it tried to deliver and could not",
    "delivery_failed": "The carrier says the shipment failed (returned to sender, cancelled, invalid number)",
    "return_requested": "A customer asks to return items from their order status page",
    "return_approved": "A return is approved (or created open) and the customer told",
    "return_label": "A return label or tracking is added and the customer told",
    "return_declined": "A return request is declined and the customer told",
    "return_refunded": "A return is refunded and the customer told",
    "exchange_shipped": "Items sent in exchange for a return are shipped and the customer told",
    "custom_message": "Staff write to the customer",
    "custom_status": "An order moves to a stage customers see, with notify",
    "order_lookup": "A customer asks for the link to their order",
}


def title_of(name: str, stages: dict[str, str] | None = None) -> str:
    if name.startswith(templates.STAGE):
        handle = name.removeprefix(templates.STAGE)
        return f"Custom status: {(stages or {}).get(handle, handle)}"
    return name.replace("_", " ").capitalize()


def _stage_names(admin: Admin) -> dict[str, str]:
    with admin.app.unit_of_work(read_only=True) as uow:
        return {s.handle: s.name("en") for s in CustomStatuses(uow.conn).all()}


def _url(name: str, locale: str, order: str = "") -> str:
    return f"/admin/settings/notifications/{name}/{locale}" + (f"?order={order}" if order else "")


def _plain(text: str) -> str:
    """Browsers send textareas with CRLF line ends; templates are kept with LF."""
    return text.replace("\r\n", "\n")


def _order_id(admin: Admin, number: str) -> int | None:
    """The order a preview or test is made with: by its number (#1001 or 1001), or None for the sample."""
    text = number.strip().lstrip("#").strip()
    if not text:
        return None
    if not text.isdecimal() or len(text) > 12:
        raise InvalidInput("must be an order number such as 1001", field="order")
    with admin.app.unit_of_work(read_only=True) as uow:
        found = uow.conn.execute(select(orders.c.id).where(orders.c.number == int(text))).scalar_one_or_none()
    if found is None:
        raise InvalidInput(f"there is no order #{text}", field="order")
    return int(found)


def _preview(admin: Admin, name: str, locale: str, order: str, parts: dict[str, str] | None) -> dict[str, Any]:
    """The preview and the problem that stopped it (keyed by field), for the page or the script."""
    try:
        shown = notifications.preview(admin.app, name, locale, _order_id(admin, order), parts)
    except (InvalidInput, NotFound) as exc:
        return {"preview": None, "errors": {getattr(exc, "field", "base") or "base": exc.message}}
    return {"preview": shown, "errors": {}}


@router.get("/settings/notifications", summary="Every notification template in every language")
def list_templates(admin: Settings) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        stages = {s.handle: s.name("en") for s in CustomStatuses(uow.conn).all()}
        names = [*templates.NAMES, *(f"{templates.STAGE}{handle}" for handle in stages)]
        rows = [
            {
                "name": name,
                "title": title_of(name, stages),
                "sent_when": SENT_WHEN.get(templates.base_name(name), ""),
                "languages": [
                    (locale, sorted(templates.customized(uow.conn, name, locale))) for locale in engine.LOCALES
                ],
            }
            for name in names
        ]
    return render(admin, "notifications.html", rows=rows, languages=LANGUAGES, part_words=PART_WORDS)


def _edit_page(
    admin: Admin,
    name: str,
    locale: str,
    *,
    parts: dict[str, str] | None = None,
    order: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    notifications.check_template(name, locale)
    with admin.app.unit_of_work(read_only=True) as uow:
        saved = templates.parts_for(uow.conn, name, locale)
        custom = templates.customized(uow.conn, name, locale)
        customised_in = {code: bool(templates.customized(uow.conn, name, code)) for code in engine.LOCALES}
        shop = uow.shop
    shown_parts = {**saved, **(parts or {})}
    errors = dict(errors or {})
    preview = _preview(admin, name, locale, order, shown_parts)
    for field, message in preview["errors"].items():
        errors.setdefault(field, message)
    stage = name.startswith(templates.STAGE)
    return render(
        admin,
        "notifications_edit.html",
        status=status,
        name=name,
        locale=locale,
        title=title_of(name, _stage_names(admin) if stage else None),
        sent_when=SENT_WHEN.get(templates.base_name(name), ""),
        languages=LANGUAGES,
        customised_in=customised_in,
        parts=shown_parts,
        part_labels=PART_LABELS,
        part_words=PART_WORDS,
        preview_labels={
            "subject": "Subject: ",
            "html": "HTML: ",
            "text": "Plain text: ",
            "sms": "SMS: ",
            "order": "Order: ",
        },
        custom=sorted(custom),
        order=order,
        errors=errors,
        preview=preview["preview"],
        stage=stage,
        test_to=admin.staff.email,
        mail_ready=bool(mail_server(admin.app.settings.smtp_url, shop.settings.smtp_url)),
        url=_url(name, locale),
    )


@router.get("/settings/notifications/{name}/{locale}", summary="Edit one template in one language")
def edit_template(admin: Settings, name: str, locale: str, order: str = "") -> Response:
    return _edit_page(admin, name, locale, order=order)


def _typed(subject: Text = "", html: Text = "", text: Text = "", sms: Text = "") -> dict[str, str]:
    """The template's parts as typed in the editor: the same fields whether saved or previewed."""
    return {"subject": _plain(subject), "html": _plain(html), "text": _plain(text), "sms": _plain(sms)}


Typed = Annotated[dict[str, str], Depends(_typed)]


@router.post("/settings/notifications/{name}/{locale}", summary="Save the template, or preview it as typed")
def save_template(
    admin: Settings,
    name: str,
    locale: str,
    typed: Typed,
    order: Text = "",
    do: Text = "save",
) -> Response:
    notifications.check_template(name, locale)
    if do == "preview":
        return _edit_page(admin, name, locale, parts=typed, order=order)
    with admin.app.unit_of_work(read_only=True) as uow:
        current = templates.parts_for(uow.conn, name, locale)
    # Only the parts staff changed become theirs; the others stay as they were (default or not).
    changed = {part: source for part, source in typed.items() if source != current[part]}
    if not changed:
        return admin.done(_url(name, locale, order), "Nothing was changed.", kind="info")
    try:
        with admin.command() as cmd:
            notifications.save_template(cmd, name, locale, changed)
    except OrderError as exc:
        return _edit_page(admin, name, locale, parts=typed, order=order, errors={exc.field: exc.message}, status=422)
    words = ", ".join(PART_WORDS[p] for p in changed)
    return admin.done(_url(name, locale, order), f"Saved the {LANGUAGES[locale]} {title_of(name)} ({words}).")


@router.post("/settings/notifications/{name}/{locale}/preview", summary="The preview as staff type (for the script)")
def preview_template(
    admin: Settings,
    name: str,
    locale: str,
    typed: Typed,
    order: Text = "",
) -> Response:
    notifications.check_template(name, locale)
    found = _preview(admin, name, locale, order, typed)
    return JSONResponse(found, status_code=422 if found["errors"] else 200, headers=NO_STORE)


@router.post("/settings/notifications/{name}/{locale}/revert", summary="Go back to Orderdeck's default")
def revert_template(admin: Settings, name: str, locale: str) -> Response:
    notifications.check_template(name, locale)
    return admin.act(
        lambda cmd: templates.revert(cmd.uow.conn, name, locale),
        back=_url(name, locale),
        success=f"The {LANGUAGES[locale]} {title_of(name)} is Orderdeck's default again.",
    )


@router.post("/settings/notifications/{name}/{locale}/test", summary="Send the saved template to yourself")
def test_send(admin: Settings, name: str, locale: str, order: Text = "") -> Response:
    notifications.check_template(name, locale)
    back = _url(name, locale, order)
    try:
        order_id = _order_id(admin, order)
    except InvalidInput as exc:
        return admin.done(back, f"Order: {exc.message}", kind="error")
    if order_id is None:
        return admin.done(back, "Order: give the number of an order to send the test for.", kind="error")
    to = admin.staff.email
    return admin.act(
        lambda cmd: notifications.queue(cmd, order_id, name, to=to, locale=locale),
        back=back,
        success=f"A test of the {LANGUAGES[locale]} {title_of(name)} for order #{order.strip().lstrip('#')} "
        f"is on its way to {to}.",
    )
