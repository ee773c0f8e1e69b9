"""The key order-list cursors (page_info) are signed with."""

from __future__ import annotations

from sqlalchemy import select

from ..store.queries import cursor_key
from ..store.tables import shop
from ..store.uow import UnitOfWork
from ..store.webhooks import webhook_secret
from .context import Orderdeck


def page_info_key(app: Orderdeck, uow: UnitOfWork) -> bytes:
    """Derived from the webhook signing secret, read in the caller's unit of work. A shop that
    has none yet gets one, committed at once in a transaction of its own (a read's transaction
    never commits), so the next request and every other process find the same one."""
    secret = app.settings.webhook_secret
    if not secret:
        secret = uow.conn.execute(select(shop.c.webhook_secret).where(shop.c.id == 1)).scalar()
    if not secret:
        with app.unit_of_work() as writer:
            secret = webhook_secret(writer.conn, None)
            writer.commit()
    return cursor_key(secret)
