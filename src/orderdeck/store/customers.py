"""Customers, as far as orders need them: found by id or e-mail, created on first order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.errors import InvalidInput
from .tables import customers


@dataclass
class Customer:
    id: int
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    locale: str | None
    created_at: datetime
    updated_at: datetime


@cache
def _by_email() -> Any:
    """Every order with an e-mail address asks this: built once, with a bind parameter."""
    return select(customers).where(func.lower(customers.c.email) == bindparam("email"))


class Customers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, customer_id: int) -> Customer | None:
        row = self.conn.execute(select(customers).where(customers.c.id == customer_id)).one_or_none()
        return Customer(**row._mapping) if row else None

    def by_email(self, email: str) -> Customer | None:
        row = self.conn.execute(_by_email(), {"email": email.lower()}).one_or_none()
        return Customer(**row._mapping) if row else None

    def find_or_create(
        self,
        *,
        customer_id: int | None,
        email: str | None,
        phone: str | None,
        first_name: str | None,
        last_name: str | None,
        locale: str | None,
        now: datetime,
    ) -> Customer | None:
        if customer_id is not None:
            found = self.get(customer_id)
            if found is None:
                raise InvalidInput(f"customer {customer_id} does not exist", field="customer")
            return found
        if email:
            found = self.by_email(email)
            if found is not None:
                return found
        if not (email or phone or first_name or last_name):
            return None
        values: dict[str, Any] = {
            "email": email.lower() if email else None,
            "phone": phone,
            "first_name": first_name,
            "last_name": last_name,
            "locale": locale,
            "created_at": now,
            "updated_at": now,
        }
        # Two first orders from one new e-mail address may race: the unique e-mail decides.
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(customers).values(values).on_conflict_do_nothing().returning(customers.c.id)
        new_id = self.conn.execute(stmt).scalar_one_or_none()
        if new_id is None and email:
            return self.by_email(email)
        return Customer(id=new_id, **values)
