"""API tokens (stored as SHA-256 hashes, shown once) and idempotency keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, text, update

from ..domain.errors import InvalidInput
from .tables import api_tokens, idempotency_keys

# Shopify's access scope names for what Orderdeck serves, then Orderdeck's own for what Shopify
# configures elsewhere (its admin, Flow) and Orderdeck serves over the API: the shop's settings
# (mail server, staff address), automation rules and notification templates. Webhooks have their
# own scopes too. read_orders/write_orders reach none of these (docs/api.md, "Scopes").
SCOPES = (
    "read_orders",
    "write_orders",
    "read_all_orders",
    "read_fulfillments",
    "write_fulfillments",
    "read_merchant_managed_fulfillment_orders",
    "write_merchant_managed_fulfillment_orders",
    "read_assigned_fulfillment_orders",
    "write_assigned_fulfillment_orders",
    "read_inventory",
    "write_inventory",
    "read_locations",
    "write_locations",
    "read_products",
    "write_products",
    "read_customers",
    "write_customers",
    "read_returns",
    "write_returns",
    "read_draft_orders",
    "write_draft_orders",
    "read_order_edits",
    "write_order_edits",
    "read_webhooks",
    "write_webhooks",
    "read_settings",
    "write_settings",
    "read_automation_rules",
    "write_automation_rules",
    "read_notification_templates",
    "write_notification_templates",
)
TOKEN_PREFIX = "odk_"


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        # A write scope implies its read scope, as in Shopify.
        return scope in self.scopes or scope.replace("read_", "write_", 1) in self.scopes


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(raw: str | list[str]) -> frozenset[str]:
    parts = raw.split(",") if isinstance(raw, str) else raw
    scopes = frozenset(p.strip() for p in parts if p.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise InvalidInput(f"unknown scope {unknown[0]}; known scopes: {', '.join(SCOPES)}", field="scopes")
    if not scopes:
        raise InvalidInput("name at least one scope", field="scopes")
    return scopes


class Tokens:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, name: str, scopes: frozenset[str], now: datetime) -> tuple[ApiToken, str]:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = self.conn.execute(
            insert(api_tokens)
            .values(
                name=name,
                token_hash=hash_token(secret),
                token_hint=secret[-4:],
                scopes=",".join(sorted(scopes)),
                created_at=now,
            )
            .returning(api_tokens.c.id)
        ).scalar_one()
        return ApiToken(token_id, name, scopes), secret

    def authenticate(self, secret: str) -> ApiToken | None:
        row = self.conn.execute(
            select(api_tokens).where(api_tokens.c.token_hash == hash_token(secret), api_tokens.c.revoked_at.is_(None))
        ).one_or_none()
        if row is None:
            return None
        return ApiToken(row.id, row.name, frozenset(row.scopes.split(",")))

    def revoke(self, token_id: int, now: datetime) -> bool:
        return bool(
            self.conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now)).rowcount
        )


def claim_lock_id(token_id: int, key: str) -> int:
    """A signed 64-bit advisory lock id for a token's key (a collision only makes two keys queue)."""
    digest = hashlib.sha256(f"idempotency:{token_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: str


class IdempotencyKeys:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def claim(self, token_id: int, key: str) -> None:
        """Make every other request with this token and key wait here until this transaction
        ends, so that the one after it finds this one's answer (`find`) instead of running the
        command a second time against what the first one changed. PostgreSQL: a transaction-level
        advisory lock on a hash of token and key, which holds across processes and machines.
        SQLite needs nothing: the transaction began with BEGIN IMMEDIATE, so it already holds the
        database's only write lock."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": claim_lock_id(token_id, key)})

    def find(self, token_id: int, key: str) -> StoredResponse | None:
        row = self.conn.execute(
            select(idempotency_keys).where(idempotency_keys.c.token_id == token_id, idempotency_keys.c.key == key)
        ).one_or_none()
        return StoredResponse(row.request_hash, row.status_code, row.response) if row else None

    def remember(
        self,
        token_id: int,
        key: str,
        *,
        method: str,
        path: str,
        request_hash: str,
        status_code: int,
        body: str,
        now: datetime,
    ) -> None:
        """Stored in the command's own transaction: a key whose command committed always has
        its answer, and two racing requests with one key cannot both commit."""
        self.conn.execute(
            insert(idempotency_keys).values(
                token_id=token_id,
                key=key,
                method=method,
                path=path,
                request_hash=request_hash,
                status_code=status_code,
                response=body,
                created_at=now,
            )
        )
