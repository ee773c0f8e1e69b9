"""The shop itself: creating it on the first day (`orderdeck init`) and changing its name,
currency, time zone and language later (the admin's shop settings, `PUT /shop/settings.json`).

`orderdeck migrate` only migrates; the shop row is made here, or by the demo (demo.py). A new
shop gets its first location from the shop's address, as Shopify does, so it takes orders at
once; the owner gets an admin account and an API token.
"""

from __future__ import annotations

import re
import secrets
import zoneinfo
from dataclasses import dataclass
from functools import cache
from typing import Any

from babel.numbers import list_currencies
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..countries import is_country
from ..domain.errors import InvalidInput, RuleViolation
from ..notify.engine import LOCALES
from ..store.access import SCOPES
from ..store.shop import create_shop, has_shop, load_shop, save_shop
from ..store.tables import orders
from .context import Command, Orderdeck

# The shop's own fields as GET /shop.json names them, and their columns.
SHOP_FIELDS = {"name": "name", "currency": "currency", "iana_timezone": "timezone", "primary_locale": "primary_locale"}
LANGUAGES = {"en": "English", "nl": "Nederlands", "de": "Deutsch", "fi": "Suomi"}
FIRST_LOCATION = "Shop location"  # Shopify's name for the location made from the shop's address


# ---- checking the values -------------------------------------------------------------------
def check_name(value: Any) -> str:
    name = str(value or "").strip()
    if not name:
        raise InvalidInput("can't be blank", field="name")
    if len(name) > 255:
        raise InvalidInput("must be at most 255 characters", field="name")
    return name


@cache
def _currencies() -> frozenset[str]:
    return frozenset(c for c in list_currencies() if re.fullmatch(r"[A-Z]{3}", c))


def check_currency(value: Any) -> str:
    code = str(value or "").strip().upper()
    if code not in _currencies():
        raise InvalidInput(
            f"{value!r} is not an ISO 4217 currency code; use three letters such as EUR, USD or GBP", field="currency"
        )
    return code


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(value: Any) -> str:
    zone = str(value or "").strip()
    if zone not in _zones():
        raise InvalidInput(
            f"{value!r} is not an IANA time zone; use a name such as Europe/Amsterdam or America/New_York",
            field="iana_timezone",
        )
    return zone


def check_language(value: Any) -> str:
    code = str(value or "").strip().lower()
    if code not in LOCALES:
        raise InvalidInput(
            f"{value!r} is not one of the languages Orderdeck speaks to customers: {', '.join(LOCALES)}",
            field="primary_locale",
        )
    return code


def check_country(value: Any, field: str = "country") -> str:
    code = str(value or "").strip().upper()
    if not is_country(code):
        raise InvalidInput(f"{value!r} is not a two-letter country code such as US, NL or DE", field=field)
    return code


# ---- changing the shop -----------------------------------------------------------------------
def _has_orders(cmd: Command) -> bool:
    return cmd.uow.conn.execute(select(orders.c.id).limit(1)).first() is not None


def update_shop(cmd: Command, changes: dict[str, Any]) -> None:
    """Change the shop's name, time zone, language and (while it has no orders) currency.
    Keys as GET /shop.json names them; nothing is changed when one is refused."""
    checks = {
        "name": check_name,
        "currency": check_currency,
        "iana_timezone": check_timezone,
        "primary_locale": check_language,
    }
    values = {SHOP_FIELDS[key]: checks[key](value) for key, value in changes.items()}
    current = cmd.uow.shop
    if values.get("currency", current.currency) == current.currency:
        values.pop("currency", None)
    if not values:
        return
    # The row is written before looking for orders: on PostgreSQL its lock makes a placement
    # that is taking an order number (which locks the same row) finish first, so it is seen.
    save_shop(cmd.uow.conn, values, cmd.now)
    if "currency" in values and _has_orders(cmd):
        raise RuleViolation(
            f"The currency cannot change once the shop has orders: every order keeps its amounts in "
            f"{current.currency}. Only a shop without orders can change it.",
            field="currency",
        )
    cmd.uow._shop = load_shop(cmd.uow.conn)  # the rest of the command sees the new values


# ---- the first day -------------------------------------------------------------------------
@dataclass
class NewShop:
    name: str
    currency: str
    timezone: str
    language: str
    address1: str
    city: str
    country: str
    owner_email: str
    zip: str | None = None
    address2: str | None = None
    province: str | None = None
    province_code: str | None = None
    phone: str | None = None
    owner_name: str = ""


@dataclass
class Initialised:
    shop_name: str
    location_name: str
    owner_email: str
    owner_password: str | None  # None: the owner had an account already, whose password stays
    api_token: str


class AlreadyInitialised(RuleViolation):
    pass


def _already(shop_row: Any) -> AlreadyInitialised:
    return AlreadyInitialised(
        f"This Orderdeck is set up already: it is the shop {shop_row.name!r} ({shop_row.currency}, "
        f"{shop_row.timezone}, {shop_row.primary_locale}). Nothing was changed. Change its name, time zone, "
        "language (and, while it has no orders, currency) in the admin at /admin/settings/shop (or with PUT "
        "/admin/api/2024-10/shop/settings.json); add locations at /admin/settings/locations.",
        field="base",
    )


def refuse_when_initialised(app: Orderdeck) -> None:
    """Raise AlreadyInitialised, saying where the settings are, when the database has a shop."""
    with app.unit_of_work(read_only=True) as uow:
        if has_shop(uow.conn):
            raise _already(uow.shop)


def initialise(app: Orderdeck, new: NewShop) -> Initialised:
    """Create the shop, its first location (the shop's address), the owner's account and an API
    token with every scope, in one transaction: all of it or, when something is refused, nothing.
    An owner who has an account already (`orderdeck staff create`) keeps it."""
    from ..domain.order import Author
    from . import catalog
    from .staff import add_staff

    name = check_name(new.name)
    currency = check_currency(new.currency)
    timezone = check_timezone(new.timezone)
    language = check_language(new.language)
    country = check_country(new.country)
    for field, value in (("address1", new.address1), ("city", new.city)):
        if not str(value or "").strip():
            raise InvalidInput("can't be blank", field=field)
    limits = {"address1": 255, "address2": 255, "city": 255, "zip": 32, "province": 255, "province_code": 16}
    for field, most in {**limits, "phone": 64}.items():
        if len(str(getattr(new, field) or "").strip()) > most:
            raise InvalidInput(f"must be at most {most} characters", field=field)
    refuse_when_initialised(app)
    password: str | None = secrets.token_urlsafe(12)
    try:
        with app.unit_of_work() as uow:
            existing = uow.staff.by_email(new.owner_email)
            if existing is not None:
                owner, password = existing[0], None
            else:
                owner = add_staff(
                    uow, email=new.owner_email, password=str(password), name=new.owner_name or "Owner", owner=True
                )
            create_shop(
                uow.conn,
                name=name,
                currency=currency,
                timezone=timezone,
                locale=language,
                email=owner.email,
                now=uow.now,
            )
            location = catalog.add_location(
                Command(app, uow, Author("system", "orderdeck init")),
                {
                    "name": FIRST_LOCATION,
                    "address1": new.address1.strip(),
                    "address2": _blank_is_none(new.address2),
                    "city": new.city.strip(),
                    "zip": _blank_is_none(new.zip),
                    "province": _blank_is_none(new.province),
                    "province_code": _blank_is_none(new.province_code),
                    "country_code": country,
                    "phone": _blank_is_none(new.phone),
                },
            )
            _, token = uow.tokens.create(f"{name} (orderdeck init)", frozenset(SCOPES), uow.now)
            uow.commit()
    except IntegrityError:  # another init made the shop between the look and the insert
        refuse_when_initialised(app)
        raise
    return Initialised(name, location.name, owner.email, password, token)


def _blank_is_none(value: str | None) -> str | None:
    return (value or "").strip() or None
