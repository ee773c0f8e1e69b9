"""Telling workers that a transaction committed work for them, so they wake instead of polling.

A command that writes outbox rows (and the relay, when it writes deliveries) marks its
connection with `announce`. Just before that transaction commits:
- PostgreSQL: `NOTIFY orderdeck_outbox` runs inside it. PostgreSQL delivers a notification only
  when (and if) its transaction commits, to every session that LISTENs, in any process; several
  in one transaction arrive as one.
- SQLite: the callbacks a worker in this process registered with `subscribe` are called. The
  commit has not happened yet when they run, but that is safe: a worker reads the outbox and the
  deliveries in write transactions (BEGIN IMMEDIATE), which cannot begin until this one has
  committed and let go of the write lock. Workers in other processes notice the commit by
  `PRAGMA data_version` (outbox/listener.py).
A transaction rolled back announces nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event, exc

CHANNEL = "orderdeck_outbox"
_PENDING = "orderdeck_wake_pending"  # in the connection's info: this transaction has news

_lock = threading.Lock()
_subscribers: dict[str, list[Callable[[], None]]] = {}  # database URL → callbacks


def announce(conn: Connection) -> None:
    """When the current transaction commits, wake the workers."""
    conn.info[_PENDING] = True


def subscribe(url: str, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` (from whichever thread commits) when a transaction of this process on the
    SQLite database at `url` announces news; returns the function that unsubscribes."""
    with _lock:
        _subscribers.setdefault(url, []).append(callback)

    def unsubscribe() -> None:
        with _lock:
            callbacks = _subscribers.get(url, [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                _subscribers.pop(url, None)

    return unsubscribe


def _url(conn: Connection) -> str:
    return conn.engine.url.render_as_string(hide_password=False)


@event.listens_for(Engine, "commit")
def _before_commit(conn: Connection) -> None:
    if not conn.info.pop(_PENDING, False):
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {CHANNEL}")
        return
    with _lock:
        callbacks = list(_subscribers.get(_url(conn), ()))
    for callback in callbacks:
        callback()


@event.listens_for(Engine, "rollback")
def _on_rollback(conn: Connection, *_: Any) -> None:
    # A connection cut mid-transaction (invalidated) refuses even its info; the rollback must
    # still report the original error, and a flag left behind costs one needless NOTIFY.
    with contextlib.suppress(exc.SQLAlchemyError):
        conn.info.pop(_PENDING, None)
