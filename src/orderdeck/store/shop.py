"""The shop row: its settings and the counter that names orders #1001, #1002, … without gaps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from . import process_cache
from .tables import shop

CAPTURE_MODES = ("checkout", "fulfillment", "manual")


@dataclass
class ShopSettings:
    capture_mode: str = "manual"  # when authorizations are captured: checkout | fulfillment | manual
    authorization_period_days: int = 7
    auto_archive: bool = False
    auto_fulfill_channels: list[str] = field(default_factory=lambda: ["pos"])
    order_name_prefix: str = "#"
    stuck_after_days: int = 5  # open orders unfulfilled this long are tagged stuck (0: never)
    # When fulfillment requests go to fulfillment services by themselves (S7.1, domain/auto_requests.py):
    # off | on_payment (paid) | on_authorization (authorized or paid); a service's auto_request overrides it.
    auto_request_fulfillment: str = "off"
    # Requests to fulfillment services that wait too long are stuck (S8.3, domain/stuck.py); 0: never.
    request_accept_hours: int = 24  # submitted and not accepted
    request_acknowledge_hours: int = 2  # the service never acknowledged the notification
    cancellation_answer_hours: int = 24  # a cancellation request unanswered
    request_ship_days: int = 3  # accepted and nothing shipped
    staff_email: str | None = None  # where staff alerts go; the shop's e-mail when unset
    smtp_url: str | None = None  # the shop's mail server; ORDERDECK_SMTP_URL when unset
    retention_days: int = 30  # handled outbox messages and finished deliveries are kept this long
    # Customers cancelling or correcting the shipping address from the status page (S9.4).
    self_service: bool = False
    self_service_window_minutes: int = 150
    self_service_reasons: list[str] = field(
        default_factory=lambda: ["changed_my_mind", "wrong_item", "better_price", "other"]
    )
    # The return policy: what customers may send back from the status page (issue 13;
    # domain/self_service.py applies it, services/settings.py checks it).
    returns_enabled: bool = True
    return_window_days: int = 30  # 0-365, counted from return_window_from
    return_window_from: str = "delivery"  # delivery (the carrier's delivered event, else shipping) | fulfillment
    final_sale_tags: list[str] = field(default_factory=list)  # product or order tags that make items final sale
    returns_allow_exchanges: bool = True
    return_requests_need_approval: bool = True  # false: a customer's request is open (approved) at once
    return_shipping_fee: str = "0.00"  # shop currency, taken off each return's refund
    restocking_fee_percentage: float = 0.0  # of each returned item's worth
    return_instructions: str = ""  # shown to the customer with the approval and the label
    # Order edits (issue 14): how long a begun edit may stay open before it expires, and what
    # customers may change themselves from the status page (within the self-service window).
    order_edit_hours: int = 24  # 1-720
    # How customers pay what is left to pay (bank transfer details, a payment link): in payment
    # requests, and on the status page while something is owed.
    payment_instructions: str = ""
    customer_edits: bool = True  # quantities, removals, another size or colour at the same price
    customer_edits_may_raise_total: bool = False  # allow changes that leave something to pay
    # ShipStation's Custom Store connection (web/shipstation.py): the Basic credentials the merchant
    # types into ShipStation. Only an argon2 hash of the password is kept; no username: switched off.
    shipstation_username: str = ""
    shipstation_password_hash: str = ""
    # The carrier's news the customer is e-mailed about (issue 15): Shopify's shipment statuses,
    # each with its template (domain/fulfillment.py SHIPMENT_NOTIFICATIONS). Staff switch any off.
    shipment_updates: list[str] = field(
        default_factory=lambda: ["out_for_delivery", "delivered", "ready_for_pickup", "attempted_delivery", "failure"]
    )


@dataclass
class Shop:
    id: int
    name: str
    domain: str
    email: str | None
    currency: str
    timezone: str
    primary_locale: str
    settings: ShopSettings


NO_SHOP = (
    "This database has no shop yet: create yours with `orderdeck init` (it asks for the name, currency, "
    "time zone, language and address), or a demo shop with `orderdeck demo`"
)


class NoShop(RuntimeError):
    """The database is migrated but nobody has created the shop yet."""

    def __init__(self) -> None:
        super().__init__(NO_SHOP)


def has_shop(conn: Connection) -> bool:
    return conn.execute(select(shop.c.id).where(shop.c.id == 1)).first() is not None


def create_shop(
    conn: Connection,
    *,
    name: str,
    currency: str,
    timezone: str,
    locale: str,
    now: datetime,
    email: str | None = None,
    domain: str = "orderdeck.local",
) -> None:
    """The shop row (there is one per database), with default settings and orders from #1001.
    Callers check the values (services/settings.py) and that there is no shop yet."""
    conn.execute(
        insert(shop).values(
            id=1,
            name=name,
            domain=domain,
            email=email,
            currency=currency,
            timezone=timezone,
            primary_locale=locale,
            settings=orjson.dumps(asdict(ShopSettings())).decode(),
            next_order_number=1001,
            created_at=now,
            updated_at=now,
        )
    )


def save_shop(conn: Connection, values: dict[str, str], now: datetime) -> None:
    """Change the shop's own fields: name, currency, timezone, primary_locale (checked by the caller)."""
    conn.execute(update(shop).where(shop.c.id == 1).values(**values, updated_at=now))


@cache
def _load_shop() -> Any:
    return select(shop).where(shop.c.id == 1)


def load_shop(conn: Connection) -> Shop:
    row = conn.execute(_load_shop()).mappings().one_or_none()
    if row is None:
        raise NoShop
    # The row's updated_at versions what the process keeps of the catalogue: noted for free.
    process_cache.note_version(conn, row["updated_at"])
    known = ShopSettings.__dataclass_fields__
    raw = {k: v for k, v in orjson.loads(row["settings"]).items() if k in known}
    return Shop(
        id=row["id"],
        name=row["name"],
        domain=row["domain"],
        email=row["email"],
        currency=row["currency"],
        timezone=row["timezone"],
        primary_locale=row["primary_locale"],
        settings=ShopSettings(**raw),
    )


def save_settings(conn: Connection, settings: ShopSettings, now: datetime) -> None:
    conn.execute(
        update(shop).where(shop.c.id == 1).values(settings=orjson.dumps(asdict(settings)).decode(), updated_at=now)
    )


@cache
def _take_order_number() -> Any:
    return (
        update(shop)
        .where(shop.c.id == 1)
        .values(next_order_number=shop.c.next_order_number + 1)
        .returning(shop.c.next_order_number - 1)
    )


def take_order_number(conn: Connection) -> int:
    """The next order number, taken inside the command's transaction: a rolled-back order gives
    its number back, so names stay gap-free. The row lock this takes is held until commit, so
    placing an order takes it last, just before its inserts (services/orders.py)."""
    return int(conn.execute(_take_order_number()).scalar_one())
