"""Staff accounts and their sessions.

A session's cookie holds a random token; the database keeps only its SHA-256, so a copy of the
database signs nobody in. Each session carries its own CSRF token and the one-time message
("flash") the next page shows after a form was sent.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from .tables import staff, staff_sessions

# What a staff member may be allowed to do; an owner may do all of it.
PERMISSIONS = {
    "view_orders": "View orders",
    "manage_orders": "Manage orders (fulfill, archive, tag, cancel, create, message customers)",
    "refund": "Capture, void and refund payments",
    "delete_orders": "Delete orders",
    "manage_settings": "Manage settings (shop, locations, statuses, templates, webhooks, rules, API tokens)",
    "manage_staff": "Manage staff accounts",
}
SESSION_LIFETIME = timedelta(days=14)


@dataclass(frozen=True)
class StaffMember:
    id: int
    email: str
    name: str
    owner: bool
    permissions: frozenset[str]
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    def may(self, permission: str) -> bool:
        return self.owner or permission in self.permissions


@dataclass(frozen=True)
class Session:
    staff: StaffMember
    csrf_token: str
    flash: dict[str, Any] | None


def _member(row: Any) -> StaffMember:
    return StaffMember(
        id=row.id,
        email=row.email,
        name=row.name,
        owner=bool(row.owner),
        permissions=frozenset(p for p in row.permissions.split(",") if p),
        active=bool(row.active),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_COLUMNS = [c for c in staff.c if c.name != "password_hash"]


class StaffRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self, *, email: str, name: str, password_hash: str, owner: bool, permissions: frozenset[str], now: datetime
    ) -> StaffMember:
        staff_id = self.conn.execute(
            insert(staff).values(
                email=email,
                name=name,
                password_hash=password_hash,
                owner=owner,
                permissions=",".join(sorted(permissions)),
                active=True,
                created_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        found = self.get(int(staff_id))
        assert found is not None
        return found

    def get(self, staff_id: int) -> StaffMember | None:
        row = self.conn.execute(select(*_COLUMNS).where(staff.c.id == staff_id)).first()
        return _member(row) if row else None

    def by_email(self, email: str) -> tuple[StaffMember, str] | None:
        """The member with this e-mail address and their password hash."""
        row = self.conn.execute(select(staff).where(staff.c.email == email.strip().lower())).first()
        return (_member(row), row.password_hash) if row else None

    def all(self) -> list[StaffMember]:
        return [_member(r) for r in self.conn.execute(select(*_COLUMNS).order_by(staff.c.id))]

    def count_owners(self) -> int:
        return len(self.conn.execute(select(staff.c.id).where(staff.c.owner, staff.c.active)).all())

    def change(self, staff_id: int, **values: Any) -> None:
        if "permissions" in values:
            values["permissions"] = ",".join(sorted(values["permissions"]))
        self.conn.execute(update(staff).where(staff.c.id == staff_id).values(**values))

    # Sessions

    def start_session(self, staff_id: int, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        self.conn.execute(
            insert(staff_sessions).values(
                token_hash=_hash(token),
                staff_id=staff_id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
        self.conn.execute(update(staff).where(staff.c.id == staff_id).values(last_login_at=now))
        return token

    def session(self, token: str, now: datetime) -> Session | None:
        row = self.conn.execute(
            select(staff_sessions.c.csrf_token, staff_sessions.c.flash, *_COLUMNS)
            .join(staff, staff.c.id == staff_sessions.c.staff_id)
            .where(staff_sessions.c.token_hash == _hash(token), staff_sessions.c.expires_at > now, staff.c.active)
        ).first()
        if row is None:
            return None
        return Session(_member(row), row.csrf_token, orjson.loads(row.flash) if row.flash else None)

    def set_flash(self, token: str, flash: dict[str, Any] | None) -> None:
        self.conn.execute(
            update(staff_sessions)
            .where(staff_sessions.c.token_hash == _hash(token))
            .values(flash=orjson.dumps(flash).decode() if flash else None)
        )

    def end_session(self, token: str) -> None:
        self.conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == _hash(token)))

    def end_sessions_of(self, staff_id: int) -> None:
        self.conn.execute(delete(staff_sessions).where(staff_sessions.c.staff_id == staff_id))

    def forget_expired_sessions(self, now: datetime) -> int:
        return self.conn.execute(delete(staff_sessions).where(staff_sessions.c.expires_at <= now)).rowcount
