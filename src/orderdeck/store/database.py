"""Engines for SQLite (the embedded default) and PostgreSQL (at scale).

SQLite allows one writer at a time. Commands open their transaction with BEGIN IMMEDIATE so
concurrent writers queue on the busy timeout instead of failing mid-transaction when a read
lock cannot be upgraded; reads use a second engine with ordinary deferred transactions, which
WAL lets run beside a writer. Commits are durable (synchronous=FULL).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from .group_commit import GroupCommit


def normalise_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The pysqlite driver's own transaction handling is switched off so that the
    # "begin" hooks below decide how each transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> Engine:
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=pool_size, max_overflow=pool_size
    )
    event.listen(engine, "connect", _sqlite_pragmas)

    def begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    event.listen(engine, "begin", begin)
    return engine


@dataclass
class Database:
    url: str
    writer: Engine  # commands: one transaction each
    reader: Engine  # lists and reads
    # SQLite has one writer at a time. Threads of one process queue here for it, in order,
    # instead of polling the busy timeout (whose growing sleeps made the slowest requests wait
    # hundreds of milliseconds); other processes still meet at the busy timeout.
    write_lock: threading.Lock | None = None
    # Group commit (store/group_commit.py): the process's commands share write transactions,
    # taking turns at `write_lock`. None: each command has its own connection and transaction.
    commits: GroupCommit | None = None
    # PostgreSQL: a streaming replica (ORDERDECK_READ_DATABASE_URL) that `reader` reads from;
    # services/context.py says which reads may use it.
    read_url: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.writer.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def connect(
    url: str,
    *,
    pool_size: int = 10,
    group_commit: bool | None = None,
    read_url: str | None = None,
    pre_ping: bool = True,
) -> Database:
    """`group_commit` None: on for SQLite, off for PostgreSQL (docs/architecture.md, "Group commit").

    `pre_ping` (PostgreSQL): check each pooled connection with a round trip before handing it
    out, so a request after a restart or a cut gets a live one instead of an error. A process
    that retries whatever fails anyway (`orderdeck worker`) turns it off and saves the round
    trip on each of its many short transactions: a dead connection then fails its transaction,
    which rolls back, SQLAlchemy discards it with every connection pooled before it, and the
    retry gets a fresh one."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        if read_url:
            raise ValueError("ORDERDECK_READ_DATABASE_URL: a read replica needs PostgreSQL; SQLite has none")
        db = Database(
            url=url,
            writer=_sqlite_engine(url, immediate=True, pool_size=pool_size),
            reader=_sqlite_engine(url, immediate=False, pool_size=pool_size),
            write_lock=threading.Lock(),
        )
        group_commit = True if group_commit is None else group_commit
    else:
        group_commit = bool(group_commit)
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping)
        reader = engine
        if read_url:
            read_url = normalise_url(read_url)
            reader = create_engine(read_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping)
        db = Database(
            url=url,
            writer=engine,
            reader=reader,
            read_url=read_url or None,
            write_lock=threading.Lock() if group_commit else None,
        )
    if group_commit:
        assert db.write_lock is not None
        db.commits = GroupCommit(db.writer, db.write_lock)
    return db


def utc(value: datetime | None) -> datetime | None:
    """Times go into the database in UTC: SQLite keeps no offset, so mixing offsets there would
    make range filters wrong by hours. A time without an offset is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
