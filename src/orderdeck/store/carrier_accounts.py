"""Carrier accounts: the credentials karrio polls a carrier's tracking API with (one row each)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from ..domain.errors import NotFound
from .database import utc
from .tables import carrier_accounts


@dataclass(frozen=True)
class CarrierAccount:
    id: int
    carrier: str  # karrio's carrier_name: dhl_universal, gls, ups, …
    name: str
    credentials: dict[str, Any]  # as karrio's Settings for the carrier takes them
    test_mode: bool
    active: bool
    created_at: datetime
    updated_at: datetime
    # Where the catch-up of shipments already on their way stands (None: nothing to catch up).
    catch_up_after_time: datetime | None = None
    catch_up_after_id: int | None = None

    @property
    def catch_up_after(self) -> tuple[datetime, int] | None:
        if self.catch_up_after_time is None or self.catch_up_after_id is None:
            return None
        return (self.catch_up_after_time, self.catch_up_after_id)


def _account(row: Any) -> CarrierAccount:
    values = dict(row._mapping)
    values["credentials"] = orjson.loads(values["credentials"])
    values["catch_up_after_time"] = utc(values["catch_up_after_time"])
    return CarrierAccount(**values)


class CarrierAccounts:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, *, carrier: str, name: str, credentials: dict[str, Any], test_mode: bool, now: datetime) -> int:
        values = {
            "carrier": carrier,
            "name": name,
            "credentials": orjson.dumps(credentials).decode(),
            "test_mode": test_mode,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        return int(
            self.conn.execute(insert(carrier_accounts).values(**values).returning(carrier_accounts.c.id)).scalar_one()
        )

    def find(self, account_id: int) -> CarrierAccount | None:
        row = self.conn.execute(select(carrier_accounts).where(carrier_accounts.c.id == account_id)).one_or_none()
        return _account(row) if row is not None else None

    def get(self, account_id: int) -> CarrierAccount:
        found = self.find(account_id)
        if found is None:
            raise NotFound(f"Carrier account {account_id} not found")
        return found

    def all(self) -> list[CarrierAccount]:
        rows = self.conn.execute(select(carrier_accounts).order_by(carrier_accounts.c.id))
        return [_account(row) for row in rows]

    def active_by_carrier(self) -> dict[str, CarrierAccount]:
        """Each carrier's account to poll with: its oldest active one."""
        rows = self.conn.execute(
            select(carrier_accounts).where(carrier_accounts.c.active.is_(True)).order_by(carrier_accounts.c.id)
        )
        found: dict[str, CarrierAccount] = {}
        for row in rows:
            found.setdefault(row.carrier, _account(row))
        return found

    def active_carriers(self) -> set[str]:
        query = select(carrier_accounts.c.carrier).where(carrier_accounts.c.active.is_(True)).distinct()
        return {str(c) for c in self.conn.execute(query).scalars()}

    def catching_up(self) -> list[CarrierAccount]:
        """Active accounts whose shipments already on their way are still being given trackers."""
        rows = self.conn.execute(
            select(carrier_accounts)
            .where(carrier_accounts.c.active.is_(True), carrier_accounts.c.catch_up_after_time.is_not(None))
            .order_by(carrier_accounts.c.id)
        )
        return [_account(row) for row in rows]

    def set_catch_up(self, account_id: int, after: tuple[datetime, int] | None) -> None:
        """Where the account's catch-up stands: the last shipment looked at, or None when done."""
        when, fulfillment_id = after if after is not None else (None, None)
        self.conn.execute(
            update(carrier_accounts)
            .where(carrier_accounts.c.id == account_id)
            .values(catch_up_after_time=when, catch_up_after_id=fulfillment_id)
        )

    def change(self, account_id: int, now: datetime, **values: Any) -> None:
        if "credentials" in values:
            values["credentials"] = orjson.dumps(values["credentials"]).decode()
        self.conn.execute(
            update(carrier_accounts).where(carrier_accounts.c.id == account_id).values(**values, updated_at=now)
        )
