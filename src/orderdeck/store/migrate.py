"""Bringing a database to the current schema with Alembic (the shop row is made by `orderdeck init`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from .. import __version__
from . import document_move, tag_lists
from .batched import Transaction
from .database import Database

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# The advisory lock `orderdeck migrate` holds on PostgreSQL (any constant; the counts' fold uses 4242001).
MIGRATE_LOCK = 4242012


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this Orderdeck was written for."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def current_revision(db: Database) -> str | None:
    """The revision the database is at; None for a database Orderdeck never migrated. Asked of
    the primary: a read replica may not have replayed the latest migration yet."""
    with db.writer.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(db: Database) -> None:
    """Refuse to run on a schema older or newer than this code's. Servers and workers call this at
    start; only `orderdeck migrate` changes the schema (under a lock: several processes starting
    together must not all migrate)."""
    where = make_url(db.url).render_as_string(hide_password=True)
    head = head_revision()
    current = current_revision(db)
    if current == head:
        return
    if current is None:
        raise SchemaNotCurrent(
            f"The database {where} has no Orderdeck schema yet. Run `orderdeck migrate` first, then start again."
        )
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}
    if current not in known:
        raise SchemaNotCurrent(
            f"The database {where} is at schema revision {current}, which this Orderdeck ({__version__}, newest "
            f"revision {head}) does not know: a newer Orderdeck migrated it. Run that newer version of Orderdeck."
        )
    raise SchemaNotCurrent(
        f"The database {where} is at schema revision {current}; this Orderdeck ({__version__}) needs {head}. "
        "Run `orderdeck migrate` once, then start again."
    )


def migrate(db: Database) -> None:
    """Upgrade to the newest schema (safe to run again). It makes no shop: `orderdeck init`
    creates a real one (services/shop_setup.py), the demo its own (demo.ensure_demo_shop).

    Everything happens in one transaction that first takes a lock, so several migrations started
    together run one after the other and the later ones find nothing to do: on PostgreSQL an
    advisory lock (DDL is transactional there); on SQLite the writer's BEGIN IMMEDIATE, the
    database file's write lock, held until the commit. The exception is the long move of
    revision 0027 from 0026, done first a batch per transaction (each under the same lock) so
    that a run stopped halfway goes on where it stopped (store/document_move.py), and the fill
    of revision 0030 from 0029, done the same way (store/tag_lists.py)."""
    if current_revision(db) == "0026":
        _move_documents(db)
    if current_revision(db) == "0029":
        _fill_tag_lists(db)
    with db.writer.connect() as conn, conn.begin():
        locked = (
            conn.dialect.name != "postgresql"
            or conn.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": MIGRATE_LOCK}).scalar_one()
        )
        if not locked:
            log.warning("Another migration of this database is running; waiting for it to finish")
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATE_LOCK})
        config = alembic_config(db.url)
        config.attributes["connection"] = conn  # already in a transaction: Alembic runs in ours
        command.upgrade(config, "head")


def _locked_transaction(db: Database) -> Transaction:
    """A transaction under the migration's lock, a batch of a long migration in each."""

    @contextmanager
    def transaction() -> Iterator[Connection]:
        with db.writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATE_LOCK})
            yield conn

    return transaction


def _fill_tag_lists(db: Database) -> None:
    transaction = _locked_transaction(db)
    with transaction() as conn:
        tag_lists.prepare(conn)
    tag_lists.fill(transaction)


def _move_documents(db: Database) -> None:
    transaction = _locked_transaction(db)
    with transaction() as conn:
        if not document_move.to_move(conn):
            return
        document_move.prepare(conn)
    document_move.move(transaction)
