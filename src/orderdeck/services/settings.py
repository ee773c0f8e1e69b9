"""Changing the shop's order-processing settings."""

from __future__ import annotations

from typing import Any

from .. import destinations
from ..domain.errors import InvalidInput
from ..store.shop import CAPTURE_MODES, ShopSettings, save_settings
from .context import Command

NULLABLE = frozenset({"staff_email", "smtp_url"})  # unset: the shop's e-mail, ORDERDECK_SMTP_URL


def update_settings(cmd: Command, changes: dict[str, Any]) -> ShopSettings:
    """Change the order-processing settings, and the shop's own name, time zone, language and
    currency when `changes` names them (shop_setup.update_shop checks those)."""
    from .shop_setup import SHOP_FIELDS, update_shop

    own = {key: changes[key] for key in changes if key in SHOP_FIELDS}
    if own:
        update_shop(cmd, own)
        changes = {key: value for key, value in changes.items() if key not in SHOP_FIELDS}
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
    settings = cmd.uow.shop.settings
    for key, value in changes.items():
        setattr(settings, key, value)
    save_settings(cmd.uow.conn, settings, cmd.now)
    return settings
