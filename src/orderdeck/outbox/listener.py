"""What wakes a waiting worker when a transaction committed work for it (store/wakeup.py).

- PostgreSQL: a connection of its own (application_name `orderdeck-listener`) that LISTENs on
  `orderdeck_outbox`, asynchronously in the worker's event loop. When it is cut (the server
  restarted, an operator ended it, the network dropped) the worker polls as before until it is
  back, and wakes once on reconnecting: what committed meanwhile sent no notification it heard.
  A quiet connection is checked with `SELECT 1` every `check_every` seconds, so a dead network
  path is noticed without waiting for TCP.
- SQLite: commits announced in this process (a worker inside `orderdeck serve`) call back at
  once; commits by other processes are noticed by `PRAGMA data_version`, which changes when
  another connection commits, read every `watch_every` seconds on a connection of its own.
  Reading it takes no lock and no query of the outbox.

`healthy` says whether the worker may rely on being woken (and poll only now and then, against
a notification lost some way nobody foresaw) or must poll as it did before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from ..store import wakeup
from ..store.database import Database

log = logging.getLogger("orderdeck.worker")

APPLICATION_NAME = "orderdeck-listener"


class Listener:
    def __init__(
        self,
        db: Database,
        wake: Callable[[], None],
        *,
        reconnect_after: float = 1.0,
        check_every: float = 30.0,
        watch_every: float = 0.05,
    ) -> None:
        self.db = db
        self.wake = wake  # called in the event loop
        self.reconnect_after = reconnect_after
        self.check_every = check_every
        self.watch_every = watch_every
        self.healthy = False
        self.connections = 0  # listening connections opened so far (PostgreSQL)

    async def run(self) -> None:
        """Until cancelled."""
        try:
            if self.db.is_sqlite:
                await self._watch_sqlite()
            else:
                await self._listen_postgres()
        finally:
            self.healthy = False

    # ---- PostgreSQL -------------------------------------------------------------------------------------

    def _conninfo(self) -> str:
        return make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def _listen_postgres(self) -> None:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo(), autocommit=True, application_name=APPLICATION_NAME
                )
            except (psycopg.Error, OSError) as exc:
                log.warning("could not listen for outbox news (%s); polling until it can", exc)
                await asyncio.sleep(self.reconnect_after)
                continue
            try:
                async with conn:
                    await conn.execute(f"LISTEN {wakeup.CHANNEL}")
                    self.connections += 1
                    self.healthy = True
                    self.wake()  # what committed while nobody listened
                    while True:
                        async for _ in conn.notifies(timeout=self.check_every):
                            self.wake()
                        await conn.execute("SELECT 1")  # quiet: is the connection still there?
            except (psycopg.Error, OSError) as exc:
                log.warning("the outbox listener's connection was lost (%s); polling until it is back", exc)
            finally:
                self.healthy = False
            await asyncio.sleep(self.reconnect_after)

    # ---- SQLite -----------------------------------------------------------------------------------------

    async def _watch_sqlite(self) -> None:
        loop = asyncio.get_running_loop()

        def from_any_thread() -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
                loop.call_soon_threadsafe(self.wake)

        unsubscribe = wakeup.subscribe(self.db.writer.url.render_as_string(hide_password=False), from_any_thread)
        path = make_url(self.db.url).database
        watcher = None if not path or path == ":memory:" else sqlite3.connect(path, check_same_thread=False)
        try:
            if watcher is None:  # in memory: no other process can write to it
                self.healthy = True
                await asyncio.Event().wait()
                return
            read = watcher.execute
            last = await asyncio.to_thread(lambda: read("PRAGMA data_version").fetchone()[0])
            self.healthy = True
            while True:
                await asyncio.sleep(self.watch_every)
                version = await asyncio.to_thread(lambda: read("PRAGMA data_version").fetchone()[0])
                if version != last:
                    last = version
                    self.wake()
        finally:
            unsubscribe()
            if watcher is not None:
                watcher.close()
