"""The unit of work: one command's transaction, every repository a command needs.

`with UnitOfWork(db, now) as uow: …; uow.commit()` — leaving the block without commit rolls
everything back, so a refused command changes nothing at all. `commit()` returns once the change
is durable. With group commit (the default, `store/group_commit.py`) the command runs inside a
savepoint of its process's shared write transaction and `commit()` returns after that
transaction's COMMIT; without it, each command has a connection and a transaction of its own.
Read-only units of work always have their own connection and are never batched.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType

from sqlalchemy import Connection, Engine

from .access import IdempotencyKeys, Tokens
from .catalog import Catalog
from .customers import Customers
from .database import Database
from .group_commit import Member
from .inventory import InventoryRepository
from .order_edits import OrderEdits
from .orders import OrderRepository
from .outbox import Outbox
from .returns import ReturnsRepository
from .shipments import ShipmentsRepository
from .shop import Shop, load_shop
from .staff import StaffRepository
from .timeline import Timeline


class UnitOfWork:
    def __init__(self, db: Database, now: datetime, *, read_only: bool = False) -> None:
        self._engine: Engine = db.reader if read_only else db.writer
        self._read_only = read_only
        self.db = db
        self.now = now
        self._shop: Shop | None = None
        self._member: Member | None = None

    def __enter__(self) -> UnitOfWork:
        if not self._read_only and self.db.commits is not None:
            self._member = self.db.commits.enter()
            self.conn: Connection = self._member.conn
            self._lock = None
        else:
            self._enter_alone()
        self.orders = OrderRepository(self.conn)
        self.inventory = InventoryRepository(self.conn)
        self.catalog = Catalog(self.conn)
        self.customers = Customers(self.conn)
        self.timeline = Timeline(self.conn)
        self.outbox = Outbox(self.conn)
        self.tokens = Tokens(self.conn)
        self.idempotency = IdempotencyKeys(self.conn)
        self.staff = StaffRepository(self.conn)
        self.returns = ReturnsRepository(self.conn)
        self.shipments = ShipmentsRepository(self.conn)
        self.order_edits = OrderEdits(self.conn)
        return self

    def _enter_alone(self) -> None:
        self._lock = None if self._read_only else self.db.write_lock
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.conn = self._engine.connect()
            self._tx = self.conn.begin()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    @property
    def shop(self) -> Shop:
        if self._shop is None:
            self._shop = load_shop(self.conn)
        return self._shop

    def commit(self) -> None:
        """Make the change durable; returns after the COMMIT that holds it (raises CommitFailed,
        with nothing written, when that COMMIT fails)."""
        if self._member is not None:
            self._member.commit()
        else:
            self._tx.commit()

    def rollback(self) -> None:
        if self._member is not None:
            self._member.rollback()
        elif self._tx.is_active:
            self._tx.rollback()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._member is not None:
            self._member.leave()  # after a commit: nothing left to do
            return
        try:
            self.rollback()
        finally:
            self.conn.close()
            if self._lock is not None:
                self._lock.release()
