"""Settings: the index of every settings section, the shop's order-processing settings,
locations and custom statuses.

API tokens (`tokens.py`) and staff (`staff_pages.py`) are areas of their own under the same
/admin/settings prefix, using the form helpers here. Every form calls the
same service the REST API calls; a refused or malformed value re-renders the form with what was
typed, the message next to the field (422), and nothing changed.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from ...api.catalog import SettingsIn
from ...api.schemas import LocationIn
from ...domain.errors import OrderError
from ...domain.self_service import REASONS, WINDOW_FROM
from ...notify.engine import LOCALES
from ...notify.smtp import redacted
from ...services import catalog, custom_statuses
from ...services import settings as shop_settings
from ...services.shop_setup import LANGUAGES
from ...store.custom_statuses import CustomStatuses
from ...store.shop import CAPTURE_MODES
from ...store.tables import orders
from .access import Admin, Form, NotPermitted, refusal, require
from .pages import render

router = APIRouter(prefix="/settings")
M = TypeVar("M", bound=BaseModel)
Settings = Annotated[Admin, Depends(require("manage_settings"))]


# ---- form helpers shared by the settings modules ---------------------------------------------
class Problems(dict[str, str]):
    """What is wrong with a form, by field ("base" for the form as a whole)."""

    def add(self, exc: OrderError) -> Problems:
        self[exc.field] = refusal_sentence(exc.message)
        return self


def refusal_sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


# Pydantic's error types in the merchant's words; the limits themselves come from the same
# models the REST API validates with, so the two can never disagree.
def _said(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "Enter a whole number"
    if kind == "greater_than_equal":
        return f"Must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"Must be at most {ctx['le']}"
    if kind == "string_too_long":
        return f"Must be at most {ctx['max_length']} characters"
    if kind == "string_too_short":
        return f"Must be at least {ctx['min_length']} characters"
    if kind == "string_pattern_mismatch":
        return "Is not in the expected form"
    if kind == "literal_error":
        return "Is not one of the choices"
    return refusal_sentence(str(error.get("msg", "is not valid")))


def validated(model: type[M], values: dict[str, Any], problems: Problems) -> M | None:
    """The values checked against the API's model, or None with each problem at its field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "base"
            problems.setdefault(field, _said(error))
        return None


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def refused_form(admin: Admin, template: str, problems: Problems, **values: Any) -> Response:
    """The form again, as typed, with its problems: nothing was changed."""
    return render(admin, template, status=422, problems=problems, **values)


# ---- the index --------------------------------------------------------------------------------
SECTIONS = (
    (
        "/admin/settings/shop",
        "Shop",
        "Name, time zone, language, currency; capturing payments, archiving, fulfilling at sale, self-service, "
        "returns, mail, ShipStation.",
        "manage_settings",
    ),
    ("/admin/settings/locations", "Locations", "Where stock is kept and orders are fulfilled from.", "manage_settings"),
    (
        "/admin/settings/statuses",
        "Custom statuses",
        "Your own stages for orders, named in each language.",
        "manage_settings",
    ),
    (
        "/admin/settings/notifications",
        "Notification templates",
        "The e-mails and text messages customers and staff get, with a preview in each language.",
        "manage_settings",
    ),
    (
        "/admin/settings/carriers",
        "Carriers",
        "Carrier API accounts (DHL, GLS, UPS, DPD…) that shipments are tracked with.",
        "manage_settings",
    ),
    (
        "/admin/settings/fulfillment-services",
        "Fulfillment services",
        "3PL warehouses and dropship suppliers: their notifications, stock and tracking, automatic requests.",
        "manage_settings",
    ),
    (
        "/admin/settings/webhooks",
        "Webhooks",
        "Other systems told of order changes, with every delivery.",
        "manage_settings",
    ),
    (
        "/admin/settings/automation",
        "Automation",
        "Rules that act on orders by themselves, with their run log.",
        "manage_settings",
    ),
    ("/admin/settings/tokens", "API tokens", "Keys for apps and scripts that use the REST API.", "manage_settings"),
    ("/admin/settings/staff", "Staff", "Who may sign in to this admin and what each may do.", "manage_staff"),
)


@router.get("", summary="Every settings section")
def index(admin: Annotated[Admin, Depends(require("view_orders"))]) -> Response:
    if not (admin.may("manage_settings") or admin.may("manage_staff")):
        raise NotPermitted("manage_settings")
    shown = [(url, title, about) for url, title, about, needs in SECTIONS if admin.may(needs)]
    return render(admin, "settings.html", sections=shown)


# ---- shop settings ---------------------------------------------------------------------------
CAPTURE_WORDS = {
    "checkout": "Automatically when the order is placed",
    "fulfillment": "Automatically when the order is fully fulfilled",
    "manual": "Manually (staff capture each payment)",
}
REASON_WORDS = {
    "changed_my_mind": "Changed their mind",
    "wrong_item": "Ordered the wrong item",
    "better_price": "Found a better price",
    "other": "Another reason",
}
# The shipment e-mails a shop can switch off, in the order a parcel meets them.
SHIPMENT_UPDATE_WORDS = [
    ("out_for_delivery", "Out for delivery"),
    ("ready_for_pickup", "Ready for pickup"),
    ("attempted_delivery", "Delivery attempted (the carrier found nobody)"),
    ("delivered", "Delivered"),
    ("failure", "Delivery failed (the carrier gives up)"),
]

WINDOW_WORDS = {"delivery": "Delivery", "fulfillment": "Fulfillment (when it shipped)"}
AUTO_REQUEST_WORDS = {
    "off": "Never (staff request fulfillment on the order page)",
    "on_payment": "When the order is paid",
    "on_authorization": "When the payment is authorized or paid",
}


def _shop_values(admin: Admin) -> dict[str, Any]:
    with admin.app.unit_of_work(read_only=True) as uow:
        shop = uow.shop
        has_orders = uow.conn.execute(orders.select().with_only_columns(orders.c.id).limit(1)).first() is not None
    s = shop.settings
    return {
        "values": {
            "name": shop.name,
            "iana_timezone": shop.timezone,
            "primary_locale": shop.primary_locale,
            "currency": shop.currency,
            "capture_mode": s.capture_mode,
            "authorization_period_days": s.authorization_period_days,
            "auto_archive": s.auto_archive,
            "auto_fulfill_channels": ", ".join(s.auto_fulfill_channels),
            "order_name_prefix": s.order_name_prefix,
            "stuck_after_days": s.stuck_after_days,
            "auto_request_fulfillment": s.auto_request_fulfillment,
            "request_accept_hours": s.request_accept_hours,
            "request_acknowledge_hours": s.request_acknowledge_hours,
            "cancellation_answer_hours": s.cancellation_answer_hours,
            "request_ship_days": s.request_ship_days,
            "retention_days": s.retention_days,
            "staff_email": s.staff_email or "",
            "self_service": s.self_service,
            "self_service_window_minutes": s.self_service_window_minutes,
            "self_service_reasons": s.self_service_reasons,
            "shipment_updates": s.shipment_updates,
            "returns_enabled": s.returns_enabled,
            "return_window_days": s.return_window_days,
            "return_window_from": s.return_window_from,
            "final_sale_tags": ", ".join(s.final_sale_tags),
            "returns_allow_exchanges": s.returns_allow_exchanges,
            "return_requests_need_approval": s.return_requests_need_approval,
            "return_shipping_fee": s.return_shipping_fee,
            "restocking_fee_percentage": f"{s.restocking_fee_percentage:g}",
            "return_instructions": s.return_instructions,
            "order_edit_hours": s.order_edit_hours,
            "customer_edits": s.customer_edits,
            "customer_edits_may_raise_total": s.customer_edits_may_raise_total,
            "payment_instructions": s.payment_instructions,
            "shipstation_username": s.shipstation_username,
        },
        "shipstation_password_set": bool(s.shipstation_password_hash),
        "shipstation_url": f"{admin.app.settings.public_url.rstrip('/')}/shipstation",
        "smtp_shown": redacted(s.smtp_url),
        "server_smtp": bool(admin.app.settings.smtp_url),
        "has_orders": has_orders,
        "capture_modes": [(m, CAPTURE_WORDS.get(m, m)) for m in CAPTURE_MODES],
        "reasons": [(r, REASON_WORDS.get(r, r)) for r in REASONS],
        "shipment_update_choices": SHIPMENT_UPDATE_WORDS,
        "window_froms": [(w, WINDOW_WORDS.get(w, w)) for w in WINDOW_FROM],
        "auto_request_choices": list(AUTO_REQUEST_WORDS.items()),
        "languages": list(LANGUAGES.items()),
        "time_zones": TIME_ZONES,
    }


def _order_edit_policy(form: FormData) -> dict[str, Any]:
    """The Order editing section, when it is on the form (its boxes unticked mean off)."""
    if "order_edit_hours" not in form:
        return {}
    return {
        "order_edit_hours": text(form, "order_edit_hours"),
        "customer_edits": "customer_edits" in form,
        "customer_edits_may_raise_total": "customer_edits_may_raise_total" in form,
        "payment_instructions": text(form, "payment_instructions"),
    }


# Time zones offered while typing (any IANA name is taken): those of places people live in.
TIME_ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


STUCK_REQUEST_FIELDS = (
    "request_accept_hours",
    "request_acknowledge_hours",
    "cancellation_answer_hours",
    "request_ship_days",
)


@router.get("/shop", summary="Shop settings")
def shop_page(admin: Settings) -> Response:
    return render(admin, "settings_shop.html", problems=Problems(), **_shop_values(admin))


@router.post("/shop", summary="Save shop settings")
def save_shop(admin: Settings, form: Form) -> Response:
    typed: dict[str, Any] = {
        "capture_mode": text(form, "capture_mode"),
        "authorization_period_days": text(form, "authorization_period_days"),
        "auto_archive": "auto_archive" in form,
        "auto_fulfill_channels": text(form, "auto_fulfill_channels"),
        "order_name_prefix": form.get("order_name_prefix") or "",
        "stuck_after_days": text(form, "stuck_after_days"),
        "retention_days": text(form, "retention_days"),
        "staff_email": text(form, "staff_email"),
        "self_service": "self_service" in form,
        "self_service_window_minutes": text(form, "self_service_window_minutes"),
        "self_service_reasons": texts(form, "self_service_reasons"),
        "shipment_updates": texts(form, "shipment_updates"),
    }
    if "return_window_days" in form:  # the Returns section is on the form (its boxes unticked mean off)
        typed.update(
            {
                "returns_enabled": "returns_enabled" in form,
                "return_window_days": text(form, "return_window_days"),
                "return_window_from": text(form, "return_window_from"),
                "final_sale_tags": text(form, "final_sale_tags"),
                "returns_allow_exchanges": "returns_allow_exchanges" in form,
                "return_requests_need_approval": "return_requests_need_approval" in form,
                "return_shipping_fee": text(form, "return_shipping_fee") or "0",
                "restocking_fee_percentage": text(form, "restocking_fee_percentage") or "0",
                "return_instructions": text(form, "return_instructions"),
            }
        )
    typed.update(_order_edit_policy(form))
    if "auto_request_fulfillment" in form:
        typed["auto_request_fulfillment"] = text(form, "auto_request_fulfillment")
    if "request_accept_hours" in form:  # the stuck-requests fields are on the form
        for key in STUCK_REQUEST_FIELDS:
            typed[key] = text(form, key)
    if "shipstation_username" in form:  # the ShipStation section is on the form
        typed["shipstation_username"] = text(form, "shipstation_username")
    # The shop's own fields are changed only when the form has them (the currency's box is
    # not there once the shop has orders).
    typed.update(
        {key: text(form, key) for key in ("name", "iana_timezone", "primary_locale", "currency") if key in form}
    )
    changes = {
        **typed,
        "auto_fulfill_channels": [c.strip() for c in typed["auto_fulfill_channels"].split(",") if c.strip()],
        "staff_email": typed["staff_email"] or None,  # empty: alerts go to the shop's e-mail
    }
    if "final_sale_tags" in typed:
        changes["final_sale_tags"] = [t.strip() for t in typed["final_sale_tags"].split(",") if t.strip()]
    # The mail server's password is never shown back, so an empty box keeps the current one.
    if "smtp_clear" in form:
        changes["smtp_url"] = None
    elif text(form, "smtp_url"):
        changes["smtp_url"] = text(form, "smtp_url")
    # ShipStation's password is never shown back either: an empty box keeps the current one.
    if isinstance(form.get("shipstation_password"), str) and form.get("shipstation_password"):
        changes["shipstation_password"] = form.get("shipstation_password")
    problems = Problems()
    if "order_edit_hours" in changes:
        # The API's model takes only a number here (strict); the form sends text.
        raw = changes["order_edit_hours"]
        if raw.isdecimal() and len(raw) < 10:
            changes["order_edit_hours"] = int(raw)
        else:
            problems["order_edit_hours"] = "Enter a whole number"
    checked = validated(SettingsIn, changes, problems)
    if checked is not None and not problems:
        try:
            with admin.command() as cmd:
                zone_before = cmd.uow.shop.timezone
                shop_settings.update_settings(cmd, checked.model_dump(include=set(changes)))
                zone = cmd.uow.shop.timezone
        except OrderError as exc:
            problems.add(exc)
        else:
            if zone != zone_before:
                # Orders keep a rendering made in the old zone; reads redo it until rerender stores new ones.
                return admin.done(
                    "/admin/settings/shop",
                    f"Shop settings saved. Times are now shown in {zone}; run orderdeck rerender on the server "
                    "to keep order lists fast.",
                )
            return admin.done("/admin/settings/shop", "Shop settings saved.")
    page = _shop_values(admin)
    page["values"] = {**page["values"], **typed}
    return refused_form(admin, "settings_shop.html", problems, smtp_typed=text(form, "smtp_url"), **page)


# ---- locations -------------------------------------------------------------------------------
LOCATION_TEXTS = ("name", "address1", "address2", "city", "zip", "province", "province_code", "country_code", "phone")


@router.get("/locations", summary="Locations")
def locations_page(admin: Settings) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        found = uow.catalog.locations()
    return render(admin, "settings_locations.html", locations=found)


def _location_form(admin: Admin, location: Any, values: dict[str, Any], problems: Problems, status: int) -> Response:
    return render(admin, "settings_location.html", status=status, location=location, values=values, problems=problems)


@router.get("/locations/new", summary="Add a location")
def new_location(admin: Settings) -> Response:
    return _location_form(admin, None, {"active": True}, Problems(), 200)


@router.get("/locations/{location_id:int}", summary="Change a location")
def location_page(admin: Settings, location_id: int) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        location = uow.catalog.location(location_id)
    values = {k: getattr(location, k) or "" for k in LOCATION_TEXTS}
    values.update(active=location.active, priority=location.priority)
    return _location_form(admin, location, values, Problems(), 200)


def _save_location(admin: Admin, form: FormData, location_id: int | None) -> Response:
    typed: dict[str, Any] = {k: text(form, k) for k in LOCATION_TEXTS}
    typed["active"] = "active" in form
    typed["priority"] = text(form, "priority")
    # An empty box clears the field (None), except the name, which the service requires.
    fields = {k: (v if v != "" or k == "name" else None) for k, v in typed.items()}
    if fields["priority"] is None:
        del fields["priority"]  # a new location goes last
    if fields.get("country_code"):
        fields["country_code"] = fields["country_code"].upper()
    problems = Problems()
    checked = validated(LocationIn, fields, problems)
    location = None
    if checked is not None:
        try:
            with admin.command() as cmd:
                values = checked.model_dump(include=set(fields))
                if location_id is None:
                    location = catalog.add_location(cmd, values)
                else:
                    location = catalog.update_location(cmd, location_id, values)
        except OrderError as exc:
            problems.add(exc)
        else:
            verb = "added" if location_id is None else "saved"
            return admin.done("/admin/settings/locations", f"Location {location.name} {verb}.")
    current = None
    if location_id is not None:
        with admin.app.unit_of_work(read_only=True) as uow:
            current = uow.catalog.location(location_id)
    return _location_form(admin, current, typed, problems, 422)


@router.post("/locations/new", summary="Add a location")
def add_location(admin: Settings, form: Form) -> Response:
    return _save_location(admin, form, None)


@router.post("/locations/{location_id:int}", summary="Change a location")
def change_location(admin: Settings, form: Form, location_id: int) -> Response:
    return _save_location(admin, form, location_id)


# ---- custom statuses (S5) --------------------------------------------------------------------
LANGUAGE_NAMES = {"en": "English", "nl": "Dutch", "de": "German", "fi": "Finnish"}


def _statuses_with_counts(admin: Admin) -> list[tuple[Any, int]]:
    with admin.app.unit_of_work(read_only=True) as uow:
        repo = CustomStatuses(uow.conn)
        return [(s, len(repo.order_ids_in(s.handle))) for s in repo.all()]


@router.get("/statuses", summary="Custom statuses")
def statuses_page(admin: Settings) -> Response:
    return render(admin, "settings_statuses.html", statuses=_statuses_with_counts(admin), languages=LANGUAGE_NAMES)


def _status_form(admin: Admin, status: Any, values: dict[str, Any], problems: Problems, code: int) -> Response:
    others: list[Any] = []
    in_it = 0
    if status is not None:
        for other, count in _statuses_with_counts(admin):
            if other.id == status.id:
                in_it = count
            else:
                others.append(other)
    return render(
        admin,
        "settings_status.html",
        status=code,
        stage=status,
        values=values,
        problems=problems,
        languages=[(code_, LANGUAGE_NAMES.get(code_, code_)) for code_ in LOCALES],
        others=others,
        orders_in_it=in_it,
    )


@router.get("/statuses/new", summary="Add a custom status")
def new_status(admin: Settings) -> Response:
    values = {"color": "#6b7280", "customer_visible": True, "notify": False}
    return _status_form(admin, None, values, Problems(), 200)


@router.get("/statuses/{status_id:int}", summary="Change a custom status")
def status_page(admin: Settings, status_id: int) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        status = CustomStatuses(uow.conn).get(status_id)
    values: dict[str, Any] = {f"name_{code}": status.names.get(code, "") for code in LOCALES}
    values.update(
        handle=status.handle,
        color=status.color,
        position=status.position,
        customer_visible=status.customer_visible,
        notify=status.notify,
    )
    return _status_form(admin, status, values, Problems(), 200)


def _save_status(admin: Admin, form: FormData, status_id: int | None) -> Response:
    typed: dict[str, Any] = {f"name_{code}": text(form, f"name_{code}") for code in LOCALES}
    typed.update(
        handle=text(form, "handle"),
        color=text(form, "color"),
        position=text(form, "position"),
        customer_visible="customer_visible" in form,
        notify="notify" in form,
    )
    values: dict[str, Any] = {
        "names": {code: typed[f"name_{code}"] for code in LOCALES if typed[f"name_{code}"]},
        "color": typed["color"],
        "customer_visible": typed["customer_visible"],
        "notify": typed["notify"],
    }
    if status_id is None:
        values["handle"] = typed["handle"]
    problems = Problems()
    if typed["position"]:
        try:
            values["position"] = int(typed["position"])
        except ValueError:
            problems["position"] = "Enter a whole number"
    current = None
    if not problems:
        try:
            with admin.command() as cmd:
                if status_id is None:
                    saved = custom_statuses.create(cmd, values)
                else:
                    saved = custom_statuses.change(cmd, status_id, values)
        except OrderError as exc:
            problems.add(exc)
        else:
            verb = "added" if status_id is None else "saved"
            return admin.done("/admin/settings/statuses", f"Custom status {saved.name('en')} {verb}.")
    if status_id is not None:
        with admin.app.unit_of_work(read_only=True) as uow:
            current = CustomStatuses(uow.conn).get(status_id)
        typed["handle"] = current.handle
    if "names" in problems:
        problems.setdefault("name_en", problems.pop("names"))
    return _status_form(admin, current, typed, problems, 422)


@router.post("/statuses/new", summary="Add a custom status")
def add_status(admin: Settings, form: Form) -> Response:
    return _save_status(admin, form, None)


@router.post("/statuses/{status_id:int}", summary="Change a custom status")
def change_status(admin: Settings, form: Form, status_id: int) -> Response:
    return _save_status(admin, form, status_id)


@router.post("/statuses/{status_id:int}/delete", summary="Delete a custom status, moving its orders")
def delete_status(admin: Settings, form: Form, status_id: int) -> Response:
    move_to = text(form, "move_to") or None  # nothing chosen: the service asks where its orders go
    with admin.app.unit_of_work(read_only=True) as uow:
        status = CustomStatuses(uow.conn).get(status_id)
    try:
        with admin.command() as cmd:
            moved = custom_statuses.delete(cmd, status_id, move_to)
    except OrderError as exc:
        return admin.done(f"/admin/settings/statuses/{status_id}", refusal(exc), kind="error")
    where = (
        ""
        if not moved
        else f" {moved} order(s) moved " + ("out of any custom status." if move_to == "none" else f"to {move_to}.")
    )
    return admin.done("/admin/settings/statuses", f"Custom status {status.name('en')} deleted.{where}")
