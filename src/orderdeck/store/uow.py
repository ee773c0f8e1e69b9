"""The unit of work: one connection, one transaction, every repository a command needs.

`with UnitOfWork(db, now) as uow: …; uow.commit()` — leaving the block without commit rolls
everything back, so a refused command changes nothing at all.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType

from sqlalchemy import Connection, Engine

from .access import IdempotencyKeys, Tokens
from .catalog import Catalog
from .customers import Customers
from .database import Database
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

    def __enter__(self) -> UnitOfWork:
        self._lock = None if self._read_only else self.db.write_lock
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.conn: Connection = self._engine.connect()
            self._tx = self.conn.begin()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
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

    @property
    def shop(self) -> Shop:
        if self._shop is None:
            self._shop = load_shop(self.conn)
        return self._shop

    def commit(self) -> None:
        self._tx.commit()

    def rollback(self) -> None:
        if self._tx.is_active:
            self._tx.rollback()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.rollback()
        finally:
            self.conn.close()
            if self._lock is not None:
                self._lock.release()
