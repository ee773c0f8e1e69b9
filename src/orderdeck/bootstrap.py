"""The composition root: the one place that wires settings, storage and gateways together."""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime

from .gateways import GatewayRegistry
from .services.context import Orderdeck, utc_now
from .settings import Settings
from .store.database import connect


def build(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = utc_now, pre_ping: bool = True
) -> Orderdeck:
    """`pre_ping=False`: pooled connections are not checked before use (store/database.py, for
    processes that retry what fails: the worker)."""
    settings = settings or Settings.from_env()
    db = connect(
        settings.database_url,
        pool_size=settings.pool_size,
        group_commit=settings.group_commit,
        read_url=settings.read_database_url,
        pre_ping=pre_ping,
    )
    return Orderdeck(settings=settings, db=db, gateways=GatewayRegistry(), clock=clock)


def create_api(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    """The ASGI application for `uvicorn orderdeck.bootstrap:create_api --factory`."""
    from .api.app import create_app
    from .store.migrate import SchemaNotCurrent, check_schema

    deck = build(settings)
    try:
        check_schema(deck.db)  # a server never migrates; `orderdeck migrate` does, under a lock
    except SchemaNotCurrent as exc:
        raise SystemExit(exc.message) from None
    app = create_app(deck, run_worker=deck.settings.embedded_worker)
    # What the process has built to start (modules, routes, the application: about 230,000
    # objects) lives as long as it does. Frozen, Python's full garbage collections stop walking
    # it: they walked it all at moments set by allocation counts, and a list at a million orders
    # that took 8-14 ms waited 150-570 ms for one such collection in its 100 requests.
    gc.freeze()
    return app
