"""What a server process keeps between commands of the rows that rarely change: the catalogue's
variants and the active locations, so placing an order does not read them again every time.

The shop row's `updated_at` is their version. Every change of a location, product or variant
sets it in the change's own transaction (`changed`), so the first command of any process that
reads the shop row after that commit sees a new version and drops what it kept. The version is
read once per transaction, with the shop row the command loads anyway (store/shop.py
`load_shop` notes it here), so the check costs no statement of its own.

A transaction that changed the catalogue reads past the cache for the rest of its life: it sees
its own uncommitted rows, which no other command may be given.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, case, select, update

from .tables import shop

_VERSION = select(shop.c.updated_at).where(shop.c.id == 1)
_SEEN = "orderdeck.cache_version"  # in Connection.info: (transaction, version) as last read
_CHANGED = object()  # the version of a transaction that changed what is cached

_caches: WeakKeyDictionary[Engine, tuple[Any, dict[str, Any]]] = WeakKeyDictionary()
_lock = threading.Lock()


def note_version(conn: Connection, version: Any) -> None:
    """The shop row was read in this transaction: its `updated_at` is the version of the cache."""
    seen = conn.info.get(_SEEN)
    tx = conn.get_transaction()
    if seen is not None and seen[0] is tx and seen[1] is _CHANGED:
        return
    conn.info[_SEEN] = (tx, version)


def cached(conn: Connection) -> dict[str, Any] | None:
    """The process's kept values for this database, checked against the version once per
    transaction; None where this transaction changed the catalogue (read the tables instead)."""
    tx = conn.get_transaction()
    seen = conn.info.get(_SEEN)
    if seen is not None and seen[0] is tx:
        version = seen[1]
    else:
        version = conn.execute(_VERSION).scalar_one_or_none()
        conn.info[_SEEN] = (tx, version)
    if version is _CHANGED or tx is None:
        return None
    with _lock:
        kept = _caches.get(conn.engine)
        if kept is None or kept[0] != version:
            # Read before the tables, so values loaded from here on are at least this new; one
            # newer still is caught by the next version read.
            kept = _caches[conn.engine] = (version, {})
        return kept[1]


def changed(conn: Connection, now: datetime) -> None:
    """A location, product or variant changed in this transaction: every process drops what it
    kept once this commits (the version moves), and this transaction stops using the cache."""
    # Moved even when `now` is the stamp already there (two changes in one microsecond, or a
    # test's clock): a version that did not move would leave other processes' copies in use.
    stamp = case((shop.c.updated_at == now, now + timedelta(microseconds=1)), else_=now)
    conn.execute(update(shop).where(shop.c.id == 1).values(updated_at=stamp))
    conn.info[_SEEN] = (conn.get_transaction(), _CHANGED)
