"""What every command runs with: the database, the clock, the gateways and who is acting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..domain.order import Author
from ..gateways import GatewayRegistry
from ..resources.render import RenderContext
from ..settings import Settings
from ..store.database import Database
from ..store.uow import UnitOfWork


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Orderdeck:
    """The composition root's product (see bootstrap.py): everything a command needs."""

    settings: Settings
    db: Database
    gateways: GatewayRegistry
    clock: Callable[[], datetime] = utc_now

    def unit_of_work(self, *, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self.db, self.clock(), read_only=read_only)

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
