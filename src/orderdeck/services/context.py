"""What every command runs with: the database, the clock, the gateways and who is acting."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property

from sqlalchemy import Engine

from ..domain.order import Author
from ..gateways import GatewayRegistry
from ..resources.render import RenderContext
from ..settings import Settings
from ..store.database import Database
from ..store.uow import UnitOfWork


def utc_now() -> datetime:
    return datetime.now(UTC)


# Whether what runs now may read from the read replica. Off unless api/replica.py switches it on
# for a request (a GET whose client's writes the replica has replayed), so workers, sweeps, the
# command line and every request that changes something read from the primary: what they read,
# they act on, and a replica lags.
replica_reads: ContextVar[bool] = ContextVar("replica_reads", default=False)


@dataclass
class Orderdeck:
    """The composition root's product (see bootstrap.py): everything a command needs."""

    settings: Settings
    db: Database
    gateways: GatewayRegistry
    clock: Callable[[], datetime] = utc_now

    def unit_of_work(self, *, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self._reading(), self.clock(), read_only=read_only)

    def read_engine(self) -> Engine:
        """Where a read outside a unit of work (an export's stream) goes."""
        return self._reading().reader

    def _reading(self) -> Database:
        """The database whose `reader` serves the reads that run now (see `replica_reads`)."""
        return self.db if replica_reads.get() else self._primary

    @cached_property
    def _primary(self) -> Database:
        """The database with reads going to the primary: itself, when there is no replica."""
        return self.db if self.db.read_url is None else replace(self.db, reader=self.db.writer, read_url=None)

    def render_context(self, uow: UnitOfWork) -> RenderContext:
        shop = uow.shop
        return RenderContext(timezone=shop.timezone, public_url=self.settings.public_url, shop_id=shop.id)


@dataclass
class Command:
    """One command's run: its unit of work, the app, and the author recorded on the timeline."""

    app: Orderdeck
    uow: UnitOfWork
    author: Author

    @property
    def now(self) -> datetime:
        return self.uow.now
