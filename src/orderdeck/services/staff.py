"""Staff accounts: adding people, signing in, permissions, passwords (argon2id).

Signing in costs the same whether or not the address exists (a dummy hash is checked), so the
login form does not tell which addresses have accounts.
"""

from __future__ import annotations

import re
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..domain.errors import InvalidInput, NotFound, RuleViolation
from ..store.staff import PERMISSIONS, StaffMember
from ..store.uow import UnitOfWork
from .context import Orderdeck

MIN_PASSWORD = 10
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@cache
def hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return hasher().hash("not anybody's password")


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must be at least {MIN_PASSWORD} characters long", field="password")
    if len(password) > 1024:
        raise InvalidInput("the password must be at most 1024 characters long", field="password")
    return password


def check_permissions(values: list[str] | frozenset[str]) -> frozenset[str]:
    """Known permissions only; any permission at all brings view_orders, as every other one works
    on orders one can see."""
    unknown = sorted(set(values) - set(PERMISSIONS))
    if unknown:
        raise InvalidInput(f"unknown permission {unknown[0]}; known: {', '.join(PERMISSIONS)}", field="permissions")
    chosen = frozenset(values)
    return chosen | {"view_orders"} if chosen else chosen


def add_staff(
    uow: UnitOfWork,
    *,
    email: str,
    password: str,
    name: str | None = None,
    owner: bool = False,
    permissions: list[str] | frozenset[str] = ("view_orders",),  # type: ignore[assignment]
) -> StaffMember:
    address = email.strip().lower()
    if not EMAIL.match(address):
        raise InvalidInput(f"{email!r} is not an e-mail address", field="email")
    if uow.staff.by_email(address) is not None:
        raise InvalidInput(f"{address} already has an account", field="email")
    chosen = check_permissions(list(permissions))
    return uow.staff.add(
        email=address,
        name=(name or "").strip() or address.split("@")[0],
        password_hash=hasher().hash(check_password(password)),
        owner=owner,
        permissions=frozenset(PERMISSIONS) if owner else chosen,
        now=uow.now,
    )


def sign_in(app: Orderdeck, email: str, password: str) -> str | None:
    """A new session's token, or None when the address or password is wrong (same cost either way).

    The password is checked (argon2id: a third of a second of CPU on purpose) with no transaction
    open: the staff row is read in a read transaction that ends first, and the session is then
    written in a short one. Hashing inside the write transaction held SQLite's only write lock
    meanwhile, so a few dozen wrong passwords stalled every other write for seconds."""
    with app.unit_of_work(read_only=True) as uow:
        found = uow.staff.by_email(email)
    stored = found[1] if found else _dummy_hash()
    try:
        hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if found is None or not found[0].active:
        return None
    member, stored_hash = found
    rehashed = hasher().hash(password) if hasher().check_needs_rehash(stored_hash) else None
    with app.unit_of_work() as uow:
        # Unchanged since it was read? A password changed or an account switched off meanwhile
        # wins over the password just checked.
        now = uow.staff.by_email(email)
        if now is None or now[0].id != member.id or not now[0].active or now[1] != stored_hash:
            return None
        if rehashed is not None:
            uow.staff.change(member.id, password_hash=rehashed)
        token = uow.staff.start_session(member.id, uow.now)
        uow.commit()
        return token


def _existing(uow: UnitOfWork, staff_id: int) -> StaffMember:
    member = uow.staff.get(staff_id)
    if member is None:
        raise NotFound(f"there is no staff member {staff_id}")
    return member


def _keep_an_owner(uow: UnitOfWork, member: StaffMember) -> None:
    if member.owner and member.active and uow.staff.count_owners() <= 1:
        raise RuleViolation("the shop must keep at least one active owner; make someone else owner first")


def change_staff(
    uow: UnitOfWork,
    staff_id: int,
    *,
    name: str | None = None,
    owner: bool | None = None,
    permissions: list[str] | None = None,
    active: bool | None = None,
) -> StaffMember:
    member = _existing(uow, staff_id)
    values: dict[str, object] = {}
    if name is not None:
        if not name.strip():
            raise InvalidInput("the name cannot be empty", field="name")
        values["name"] = name.strip()
    if (owner is False and member.owner) or (active is False and member.active):
        _keep_an_owner(uow, member)
    if owner is not None:
        values["owner"] = owner
    if permissions is not None:
        values["permissions"] = check_permissions(permissions)
    if owner:
        values["permissions"] = frozenset(PERMISSIONS)
    if active is not None:
        values["active"] = active
        if not active:
            uow.staff.end_sessions_of(staff_id)
    if values:
        uow.staff.change(staff_id, **values)
    return _existing(uow, staff_id)


def set_password(uow: UnitOfWork, staff_id: int, password: str) -> None:
    _existing(uow, staff_id)
    uow.staff.change(staff_id, password_hash=hasher().hash(check_password(password)))
    uow.staff.end_sessions_of(staff_id)  # a new password signs out every other browser
