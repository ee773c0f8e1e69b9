"""Which templates exist, their defaults (files shipped with Orderdeck, per language) and the
merchant's own versions (the `notification_templates` table), which take precedence part by part."""

from __future__ import annotations

from functools import cache
from importlib import resources

from sqlalchemy import Connection, delete, insert, select

from ..store.tables import notification_templates
from .engine import LOCALES, PARTS

# Template names: the notifications commands ask for (the `notify` of a domain event) and
# the ones staff send by hand.
NAMES = (
    "order_confirmation",
    "order_edited",
    "order_invoice",
    "draft_order_invoice",
    "order_cancelled",
    "refund",
    "shipping_confirmation",
    "shipping_update",
    "out_for_delivery",
    "delivered",
    "ready_for_pickup",
    "attempted_delivery",
    "delivery_failed",
    "return_requested",
    "return_approved",
    "return_label",
    "return_declined",
    "return_refunded",
    "exchange_shipped",
    "custom_message",
    "custom_status",
    "order_lookup",
)


@cache
def default_part(name: str, locale: str, part: str) -> str:
    folder = resources.files("orderdeck.notify") / "templates" / locale
    return (folder / f"{name}.{part}.liquid").read_text(encoding="utf-8")


@cache
def layout() -> str:
    return (resources.files("orderdeck.notify") / "templates" / "layout.html").read_text(encoding="utf-8")


STAGE = "custom_status."  # custom_status.<handle>: one stage's own version of custom_status


def base_name(name: str) -> str:
    """A stage's template starts from the custom_status template."""
    return "custom_status" if name.startswith(STAGE) else name


def defaults(name: str, locale: str) -> dict[str, str]:
    return {part: default_part(base_name(name), locale, part) for part in PARTS}


def customized(conn: Connection, name: str, locale: str) -> dict[str, str]:
    t = notification_templates.c
    rows = conn.execute(select(t.part, t.body).where(t.name == name, t.locale == locale))
    return {row.part: row.body for row in rows}


def parts_for(conn: Connection, name: str, locale: str) -> dict[str, str]:
    """What is sent: the merchant's version of each part where there is one, else the default.
    For one stage (custom_status.<handle>): its own parts, else the merchant's custom_status,
    else the default."""
    if name.startswith(STAGE):
        return {
            **defaults(name, locale),
            **customized(conn, "custom_status", locale),
            **customized(conn, name, locale),
        }
    return {**defaults(name, locale), **customized(conn, name, locale)}


def save(conn: Connection, name: str, locale: str, parts: dict[str, str], now: object) -> None:
    t = notification_templates.c
    conn.execute(delete(notification_templates).where(t.name == name, t.locale == locale, t.part.in_(list(parts))))
    conn.execute(
        insert(notification_templates),
        [
            {"name": name, "locale": locale, "part": part, "body": body, "updated_at": now}
            for part, body in parts.items()
        ],
    )


def revert(conn: Connection, name: str, locale: str) -> None:
    t = notification_templates.c
    conn.execute(delete(notification_templates).where(t.name == name, t.locale == locale))


__all__ = ["LOCALES", "NAMES", "PARTS", "customized", "defaults", "layout", "parts_for", "revert", "save"]
