"""Sending SMS through a provider, as ORDERDECK_SMS_URL says:

- `twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com?from=+3197010000000`: Twilio's Messages API
  (and providers that copy it; `twilio+http://…` for one listening without TLS, such as a test
  double on 127.0.0.1);
- `file:///var/log/orderdeck/sms.jsonl`: one JSON line per message, for development.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import httpx


class SmsFailed(Exception):
    pass


class SmsProvider(Protocol):
    def send(self, to: str, body: str) -> str: ...  # returns the provider's message id


@dataclass(frozen=True)
class TwilioSms:
    base: str
    account: str
    token: str
    sender: str

    def send(self, to: str, body: str) -> str:
        try:
            reply = httpx.post(
                f"{self.base}/2010-04-01/Accounts/{self.account}/Messages.json",
                data={"To": to, "From": self.sender, "Body": body},
                auth=(self.account, self.token),
                timeout=httpx.Timeout(10.0, connect=3.0),
            )
        except httpx.HTTPError as exc:
            raise SmsFailed(f"the SMS provider could not be reached: {exc.__class__.__name__}") from None
        if not 200 <= reply.status_code < 300:
            raise SmsFailed(f"the SMS provider answered {reply.status_code}: {reply.text[:200]}")
        try:
            return str(reply.json().get("sid", ""))
        except ValueError:  # accepted, but not the JSON Twilio answers with: keep no id
            return ""


@dataclass(frozen=True)
class FileSms:
    path: Path

    def send(self, to: str, body: str) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"to": to, "body": body, "at": datetime.now(UTC).isoformat()}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return f"file:{self.path}"


def provider(url: str | None) -> SmsProvider | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileSms(Path(unquote(parts.path)))
    if parts.scheme in ("twilio", "twilio+http") and parts.hostname and parts.username and parts.password:
        sender = parse_qs(parts.query).get("from", [""])[0]
        if not sender:
            raise ValueError("ORDERDECK_SMS_URL needs ?from=<the sending number>")
        scheme = "http" if parts.scheme == "twilio+http" else "https"
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return TwilioSms(f"{scheme}://{host}", unquote(parts.username), unquote(parts.password), sender)
    raise ValueError("ORDERDECK_SMS_URL must be twilio://SID:TOKEN@host?from=+NUMBER or file:///path")
