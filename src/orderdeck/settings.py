"""Settings from the environment. Everything has a default that works on one machine."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///orderdeck.db"
    # PostgreSQL: a streaming replica for lists, reports and exports (docs/operations.md)
    read_database_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"  # where customers' order status links point
    max_body_bytes: int = 2 * 1024 * 1024
    pool_size: int = 10
    # Commands waiting to write share one transaction and one fsync (store/group_commit.py);
    # ORDERDECK_GROUP_COMMIT=off gives each command its own transaction (for comparison).
    group_commit: bool | None = None
    webhook_secret: str | None = None  # signs webhooks; when unset, one is made and stored
    embedded_worker: bool = True  # `orderdeck serve` runs a worker in-process (--no-worker: off)
    smtp_url: str | None = None  # smtp://user:pass@host:587?starttls=1&from=shop@example.com
    sms_url: str | None = None  # twilio://SID:TOKEN@api.twilio.com?from=+NUMBER or file:///path
    # Hosts and networks on the operator's own network that webhooks, rules and a shop's mail
    # server may reach (comma-separated: 127.0.0.1,10.0.0.0/8,hooks.internal); see destinations.py
    allow_private_addresses: str = ""
    # For tests, benchmarks and demos: every carrier API call karrio makes goes to this base URL
    # (the local carrier server) instead of the carrier's. Unset in production.
    carrier_api_url: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        from .destinations import Destinations

        allowed = os.environ.get("ORDERDECK_ALLOW_PRIVATE_ADDRESSES", "")
        Destinations.parse(allowed)  # a mistyped entry stops the start, naming it
        return cls(
            database_url=os.environ.get("ORDERDECK_DATABASE_URL", cls.database_url),
            read_database_url=os.environ.get("ORDERDECK_READ_DATABASE_URL") or None,
            public_url=os.environ.get("ORDERDECK_PUBLIC_URL", cls.public_url),
            max_body_bytes=int(os.environ.get("ORDERDECK_MAX_BODY_BYTES", cls.max_body_bytes)),
            pool_size=int(os.environ.get("ORDERDECK_POOL_SIZE", cls.pool_size)),
            group_commit=_on_off(os.environ.get("ORDERDECK_GROUP_COMMIT")),
            webhook_secret=os.environ.get("ORDERDECK_WEBHOOK_SECRET") or None,
            smtp_url=os.environ.get("ORDERDECK_SMTP_URL") or None,
            sms_url=os.environ.get("ORDERDECK_SMS_URL") or None,
            allow_private_addresses=allowed,
            carrier_api_url=os.environ.get("ORDERDECK_CARRIER_API_URL") or None,
            embedded_worker=os.environ.get("ORDERDECK_WORKER", "1").lower() not in ("0", "false", "no", "off"),
        )


def _on_off(value: str | None) -> bool | None:
    """ORDERDECK_GROUP_COMMIT: unset (or "auto") lets the database decide (on for SQLite, off for
    PostgreSQL); on/off forces it. Anything else stops the start, naming the variable."""
    if value is None or value.strip().lower() in ("", "auto"):
        return None
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"ORDERDECK_GROUP_COMMIT={value!r}: use on, off or auto")
