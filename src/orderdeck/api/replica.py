"""Reads from the read replica, with read-your-writes (ORDERDECK_READ_DATABASE_URL, PostgreSQL).

With a replica configured, a GET or HEAD may read from it (lists, reports, exports, counts,
pages: every read-only unit of work it opens; services/context.py), but only once the replica
has replayed everything the client may have seen committed:
- A request that may change something (any other method) reads and writes on the primary. Its
  answer carries the primary's WAL position after it (`pg_current_wal_lsn()`, asked once the
  handler has committed), as the `X-Orderdeck-Lsn` header and the `orderdeck_lsn` cookie. A
  browser sends the cookie back by itself, so an admin page after POST-redirect-GET waits for
  its own change; an API client may send either back.
- A GET carrying a position reads from the replica once `pg_last_wal_replay_lsn()` there has
  reached it. A GET carrying none is given the primary's current position (one cheap query of
  the primary) so that a client that keeps no cookies still reads its own writes, and everyone
  else's committed before its request.
- The replica is waited for up to `WAIT` seconds; if it has not caught up by then (it is
  lagging, or unreachable), the request reads from the primary instead. A replica URL that names
  a server not in recovery (`pg_last_wal_replay_lsn()` is NULL: a primary) is read at once.
"""

from __future__ import annotations

import asyncio
import re
import time
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..services.context import Orderdeck, replica_reads
from ..store.database import Database

COOKIE = "orderdeck_lsn"
HEADER = "x-orderdeck-lsn"
SAFE = frozenset({"GET", "HEAD"})
WAIT = 0.25  # seconds a read waits for the replica before it reads from the primary
STEP = 0.005  # seconds between two looks at the replica's position
COOKIE_MAX_AGE = 300  # seconds: long after that, any replica has replayed it
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")


def lsn_value(text: str) -> int | None:
    """A WAL position ("16/B374D848") as a number; None for anything else."""
    if not _LSN.match(text):
        return None
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def primary_position(db: Database) -> str:
    with db.writer.connect() as conn:
        return str(conn.exec_driver_sql("SELECT pg_current_wal_lsn()").scalar_one())


def replica_position(db: Database) -> int | None:
    """How far the replica has replayed; None when it is not replaying (it is a primary)."""
    with db.reader.connect() as conn:
        replayed = conn.exec_driver_sql("SELECT pg_last_wal_replay_lsn()").scalar_one()
    return None if replayed is None else lsn_value(str(replayed))


async def replica_has(db: Database, position: int) -> bool:
    """Whether the replica has replayed `position`, waiting up to WAIT for it."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            replayed = await asyncio.to_thread(replica_position, db)
        except Exception:  # the replica is away: the primary answers meanwhile
            return False
        if replayed is None or replayed >= position:
            return True
        if time.monotonic() + STEP > deadline:
            return False
        await asyncio.sleep(STEP)


def _carried(scope: Scope) -> int | None:
    """The position the request carries (header first, then cookie), if a valid one."""
    cookie = b""
    for name, value in scope.get("headers") or []:
        if name == HEADER.encode():
            return lsn_value(value.decode("latin-1").strip())
        if name == b"cookie":
            cookie = value
    if cookie:
        morsel = SimpleCookie(cookie.decode("latin-1")).get(COOKIE)
        if morsel is not None:
            return lsn_value(morsel.value)
    return None


class ReadYourWrites:
    """The ASGI middleware that decides, per request, whether its reads may use the replica."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deck: Orderdeck | None = scope["app"].state.orderdeck if scope["type"] == "http" else None
        if deck is None or deck.db.read_url is None:
            await self.app(scope, receive, send)
            return
        db = deck.db
        if scope["method"] in SAFE:
            position = _carried(scope)
            if position is None:
                position = lsn_value(await asyncio.to_thread(primary_position, db))
            allowed = position is not None and await replica_has(db, position)
            token = replica_reads.set(allowed)
            try:
                await self.app(scope, receive, send)
            finally:
                replica_reads.reset(token)
            return

        async def with_position(message: Message) -> None:
            if message["type"] == "http.response.start":
                try:
                    at = (await asyncio.to_thread(primary_position, db)).encode()
                except Exception:  # the primary went away after answering: the reads that follow ask it
                    at = b""
                if at:
                    cookie = b"%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax" % (
                        COOKIE.encode(),
                        at,
                        COOKIE_MAX_AGE,
                    )
                    extra = [(HEADER.encode(), at), (b"set-cookie", cookie)]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_position)
