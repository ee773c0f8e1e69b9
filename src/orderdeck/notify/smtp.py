"""Sending e-mail over SMTP, as ORDERDECK_SMTP_URL says."""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from .. import destinations
from ..destinations import Destinations
from ..settings import Settings

TIMEOUT = 10.0


def mail_server(configured: str | None, shop_setting: str | None) -> str | None:
    """The SMTP URL in force: the shop's own setting, else ORDERDECK_SMTP_URL."""
    return shop_setting or configured


def checked_by(url: str, settings: Settings) -> Destinations | None:
    """ORDERDECK_SMTP_URL is the operator's and trusted; a mail server staff typed into the
    shop's settings may only be reached where webhooks may (destinations.py)."""
    return None if url == settings.smtp_url else destinations.of(settings)


class _CheckedSMTP(smtplib.SMTP):
    """smtplib's client, connecting only to an address the destinations allow."""

    def __init__(self, allowed: Destinations, host: str, port: int, **kwargs: object) -> None:
        self.allowed = allowed
        super().__init__(host, port, **kwargs)  # type: ignore[arg-type]

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self.allowed.connect(host, port, timeout)


class _CheckedSMTPSSL(smtplib.SMTP_SSL, _CheckedSMTP):
    """TLS from the first byte over a checked connection (SMTP_SSL wraps what _CheckedSMTP opens)."""

    def __init__(self, allowed: Destinations, host: str, port: int, **kwargs: object) -> None:
        self.allowed = allowed
        smtplib.SMTP_SSL.__init__(self, host, port, **kwargs)  # type: ignore[arg-type]


def redacted(url: str | None) -> str | None:
    """The URL with its password hidden, for showing settings back."""
    if not url:
        return url
    parts = urlsplit(url)
    if not parts.password:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool  # TLS from the first byte (smtps://)
    starttls: bool
    user: str | None
    password: str | None
    sender: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "ORDERDECK_SMTP_URL must look like smtp://user:pass@host:587?starttls=1&from=shop@example.com"
            )
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            tls=parts.scheme == "smtps",
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=query.get("from", [None])[0],
        )

    def send(self, message: EmailMessage, allowed: Destinations | None = None) -> None:
        """Send over a connection to the server; to an address `allowed` permits, when given."""
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if allowed is not None and self.tls:
            client = _CheckedSMTPSSL(allowed, self.host, self.port, timeout=TIMEOUT, context=context)
        elif allowed is not None:
            client = _CheckedSMTP(allowed, self.host, self.port, timeout=TIMEOUT)
        elif self.tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
        with client:
            if self.starttls:
                client.starttls(context=context)
            if self.user:
                client.login(self.user, self.password or "")
            client.send_message(message)
