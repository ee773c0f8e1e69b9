"""Changing the shop's order-processing settings."""

from __future__ import annotations

from typing import Any

from .. import destinations
from ..domain.errors import InvalidInput
from ..domain.money import parse_amount
from ..domain.self_service import WINDOW_FROM
from ..store.shop import CAPTURE_MODES, ShopSettings, save_settings
from .context import Command

NULLABLE = frozenset({"staff_email", "smtp_url"})  # unset: the shop's e-mail, ORDERDECK_SMTP_URL
MAX_TAGS = 50  # final-sale tags
MAX_INSTRUCTIONS = 2000  # characters of return instructions


def _return_policy(changes: dict[str, Any], currency: str) -> dict[str, Any]:
    """The return policy's keys checked and in their stored form (the others pass unchanged)."""
    checked = dict(changes)
    days = changes.get("return_window_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365):
        raise InvalidInput("must be a whole number of days from 0 to 365", field="return_window_days")
    if "return_window_from" in changes and changes["return_window_from"] not in WINDOW_FROM:
        raise InvalidInput(f"must be one of {', '.join(WINDOW_FROM)}", field="return_window_from")
    if "final_sale_tags" in changes:
        tags = changes["final_sale_tags"]
        if not isinstance(tags, list) or any(not isinstance(t, str) for t in tags):
            raise InvalidInput("must be a list of tags", field="final_sale_tags")
        cleaned = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        if len(cleaned) > MAX_TAGS or any(len(t) > 255 or "," in t for t in cleaned):
            raise InvalidInput(
                f"at most {MAX_TAGS} tags of up to 255 characters, without commas", field="final_sale_tags"
            )
        checked["final_sale_tags"] = cleaned
    if "return_shipping_fee" in changes:
        fee = parse_amount(changes["return_shipping_fee"], currency, field="return_shipping_fee")
        checked["return_shipping_fee"] = str(fee)
    if "restocking_fee_percentage" in changes:
        value = changes["restocking_fee_percentage"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise InvalidInput("must be a percentage from 0 to 100", field="restocking_fee_percentage")
        checked["restocking_fee_percentage"] = float(value)
    if "payment_instructions" in changes:
        text = changes["payment_instructions"]
        if not isinstance(text, str) or len(text) > MAX_INSTRUCTIONS:
            raise InvalidInput(f"must be a text of at most {MAX_INSTRUCTIONS} characters", field="payment_instructions")
        checked["payment_instructions"] = text.strip()
    if "return_instructions" in changes:
        text = changes["return_instructions"]
        if not isinstance(text, str) or len(text) > MAX_INSTRUCTIONS:
            raise InvalidInput(f"must be a text of at most {MAX_INSTRUCTIONS} characters", field="return_instructions")
        checked["return_instructions"] = text.strip()
    hours = changes.get("order_edit_hours")
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 720):
        raise InvalidInput("must be a whole number of hours from 1 to 720", field="order_edit_hours")
    for flag in (
        "returns_enabled",
        "returns_allow_exchanges",
        "return_requests_need_approval",
        "customer_edits",
        "customer_edits_may_raise_total",
    ):
        if flag in changes and not isinstance(changes[flag], bool):
            raise InvalidInput("must be true or false", field=flag)
    return checked


def _shipstation(changes: dict[str, Any], settings: ShopSettings) -> dict[str, Any]:
    """ShipStation's username and password taken out of the changes and put in their stored form
    (the password only as its argon2 hash). An empty username switches the endpoint off and
    forgets the password; a username needs a password, given now or kept from before."""
    from .staff import hasher

    rest = {key: value for key, value in changes.items() if not key.startswith("shipstation_")}
    if "shipstation_username" not in changes and "shipstation_password" not in changes:
        return rest
    username = changes.get("shipstation_username", settings.shipstation_username)
    password = changes.get("shipstation_password")
    if username is not None and not isinstance(username, str):
        raise InvalidInput("must be a text", field="shipstation_username")
    username = (username or "").strip()
    if not username:
        if password:
            raise InvalidInput("give a username with the password", field="shipstation_username")
        return {**rest, "shipstation_username": "", "shipstation_password_hash": ""}
    if len(username) > 100 or ":" in username or any(ord(c) < 32 for c in username):
        # Basic authentication ends the username at the first colon.
        raise InvalidInput("must be at most 100 characters, without a colon", field="shipstation_username")
    stored = {**rest, "shipstation_username": username}
    if password:
        if not isinstance(password, str) or not 12 <= len(password) <= 200:
            raise InvalidInput("must be 12 to 200 characters", field="shipstation_password")
        stored["shipstation_password_hash"] = hasher().hash(password)
    elif not settings.shipstation_password_hash:
        raise InvalidInput("set a password for ShipStation with the username", field="shipstation_password")
    return stored


def update_settings(cmd: Command, changes: dict[str, Any]) -> ShopSettings:
    """Change the order-processing settings, and the shop's own name, time zone, language and
    currency when `changes` names them (shop_setup.update_shop checks those)."""
    from .shop_setup import SHOP_FIELDS, update_shop

    own = {key: changes[key] for key in changes if key in SHOP_FIELDS}
    if own:
        update_shop(cmd, own)
        changes = {key: value for key, value in changes.items() if key not in SHOP_FIELDS}
    changes = _shipstation(changes, cmd.uow.shop.settings)
    nulls = sorted(key for key, value in changes.items() if value is None and key not in NULLABLE)
    if nulls:
        # Stored, a null would stand where every reader expects a number, a flag or a list.
        raise InvalidInput("can't be null; leave the field out to keep its value", field=nulls[0])
    if "capture_mode" in changes and changes["capture_mode"] not in CAPTURE_MODES:
        raise InvalidInput(f"must be one of {', '.join(CAPTURE_MODES)}", field="capture_mode")
    channels = changes.get("auto_fulfill_channels")
    if channels is not None and any(not str(c).strip() for c in channels):
        raise InvalidInput("sales channel names cannot be blank", field="auto_fulfill_channels")
    if changes.get("smtp_url"):
        from ..notify.smtp import SmtpServer

        try:
            server = SmtpServer.parse(changes["smtp_url"])
        except ValueError as exc:
            raise InvalidInput(str(exc).replace("ORDERDECK_SMTP_URL ", ""), field="smtp_url") from None
        # The shop's own mail server is checked again on connecting (unlike ORDERDECK_SMTP_URL).
        problem = destinations.of(cmd.app.settings).refusal(server.host)
        if problem:
            raise InvalidInput(problem, field="smtp_url")
    changes = _return_policy(changes, cmd.uow.shop.currency)
    settings = cmd.uow.shop.settings
    for key, value in changes.items():
        setattr(settings, key, value)
    save_settings(cmd.uow.conn, settings, cmd.now)
    return settings
