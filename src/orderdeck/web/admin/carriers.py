"""Settings → Carriers: the carrier accounts Orderdeck polls tracking numbers with (through
karrio), added, changed and switched off by staff who may manage settings. A secret is never
shown back once saved: the form says it is set, and a box left blank keeps it. The rules are the
tracker service's (services/trackers.py); this module only shows them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import func, select
from starlette.datastructures import FormData

from ...domain.errors import OrderError
from ...services import trackers as service
from ...store.carrier_accounts import CarrierAccount, CarrierAccounts
from ...store.tables import trackers
from ...tracking import karrio_tracker as karrio
from .access import Admin, Form
from .pages import render
from .settings import Problems, Settings, text

router = APIRouter(prefix="/settings/carriers")
LABELS = {
    "consumer_key": "API key",
    "consumer_secret": "API secret",
    "client_id": "Client ID",
    "client_secret": "Client secret",
    "api_key": "API key",
    "secret_key": "Secret key",
    "site_id": "Site ID",
    "delis_id": "DELIS ID",
    "account_number": "Account number",
    "account_country_code": "Account country (two letters)",
    "message_language": "Message language",
}


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def _fields(carrier: str, account: CarrierAccount | None) -> list[dict[str, Any]]:
    """Each credential karrio takes for the carrier: required or not, secret or plain, set or not."""
    shown = service.shown(account) if account is not None else {"_set": []}
    return [
        {
            "name": name,
            "label": _label(name),
            "required": name in karrio.CARRIERS[carrier].required,
            "secret": not karrio.is_plain(carrier, name),
            "set": name in shown["_set"],
            "value": shown.get(name) or "",
        }
        for name in karrio.fields_of(carrier)
    ]


def _tracked(admin: Admin) -> dict[str, dict[str, int]]:
    """Trackers per carrier and state, for the list."""
    c = trackers.c
    with admin.app.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(c.carrier, c.state, func.count()).group_by(c.carrier, c.state))
        found: dict[str, dict[str, int]] = {}
        for carrier, state, count in rows:
            found.setdefault(carrier, {})[state] = int(count)
    return found


@router.get("", summary="Carrier accounts")
def carriers_page(admin: Settings) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        accounts = CarrierAccounts(uow.conn).all()
    return render(
        admin,
        "settings_carriers.html",
        accounts=accounts,
        carriers=karrio.CARRIERS,
        installed=karrio.installed(),
        tracked=_tracked(admin),
    )


def _form(
    admin: Admin,
    carrier: str | None,
    account: CarrierAccount | None,
    values: dict[str, Any],
    problems: Problems,
    status: int,
) -> Response:
    return render(
        admin,
        "settings_carrier.html",
        status=status,
        account=account,
        carrier=carrier,
        choices=[(name, karrio.CARRIERS[name].title) for name in karrio.installed()],
        fields=_fields(carrier, account) if carrier else [],
        values=values,
        problems=problems,
    )


@router.get("/new", summary="Add a carrier account")
def new_account(admin: Settings, carrier: str = "") -> Response:
    chosen = carrier if carrier in karrio.installed() else None
    values = {"name": karrio.CARRIERS[chosen].title.split(" (")[0] if chosen else "", "active": True}
    return _form(admin, chosen, None, values, Problems(), 200)


def _credentials(form: FormData, carrier: str) -> dict[str, str]:
    return {name: text(form, f"credential_{name}") for name in karrio.fields_of(carrier)}


@router.post("/new", summary="Add a carrier account")
def add_account(admin: Settings, form: Form) -> Response:
    carrier = text(form, "carrier")
    values: dict[str, Any] = {"name": text(form, "name"), "test_mode": "test_mode" in form, "active": True}
    if carrier not in karrio.installed():
        problems = Problems(carrier=f"Choose one of the carriers listed ({', '.join(karrio.installed())})")
        return _form(admin, None, None, values, problems, 422)
    credentials = _credentials(form, carrier)
    try:
        with admin.command() as cmd:
            account = service.add_account(
                cmd, carrier=carrier, name=values["name"], credentials=credentials, test_mode=values["test_mode"]
            )
    except OrderError as exc:
        # Secrets typed are not sent back into the page: staff type them again.
        plain = {k: v for k, v in credentials.items() if karrio.is_plain(carrier, k)}
        return _form(admin, carrier, None, {**values, **plain}, Problems().add(exc), 422)
    return admin.done("/admin/settings/carriers", f"Carrier account {account.name} added.")


@router.get("/{account_id:int}", summary="Change a carrier account")
def account_page(admin: Settings, account_id: int) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        account = CarrierAccounts(uow.conn).get(account_id)
    values = {"name": account.name, "test_mode": account.test_mode, "active": account.active}
    return _form(admin, account.carrier, account, values, Problems(), 200)


@router.post("/{account_id:int}", summary="Change or switch off a carrier account")
def change_account(admin: Settings, form: Form, account_id: int) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        account = CarrierAccounts(uow.conn).get(account_id)
    name, test_mode, active = text(form, "name"), "test_mode" in form, "active" in form
    values: dict[str, Any] = {"name": name, "test_mode": test_mode, "active": active}
    credentials = _credentials(form, account.carrier)
    try:
        with admin.command() as cmd:
            saved = service.change_account(
                cmd, account_id, name=name, credentials=credentials, test_mode=test_mode, active=active
            )
    except OrderError as exc:
        return _form(admin, account.carrier, account, values, Problems().add(exc), 422)
    state = "saved" if saved.active else "saved and switched off: its shipments are not polled"
    return admin.done("/admin/settings/carriers", f"Carrier account {saved.name} {state}.")
