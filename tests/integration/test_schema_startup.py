"""Only `orderdeck migrate` changes the schema, under a lock; servers and workers refuse to start
on a schema that is not theirs. Real processes, as an operator starts them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from orderdeck.store.migrate import SchemaNotCurrent, check_schema, head_revision, migrate
from tests.conftest import PG_ADMIN_URL

MIGRATORS = 3


def cli_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERDECK_")}
    env["ORDERDECK_DATABASE_URL"] = url
    env["COLUMNS"] = "400"  # rich wraps at the terminal's width; keep each message on one line
    return env


def start(args: list[str], url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orderdeck.cli", *args],
        env=cli_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = process.communicate(timeout=240)
    return process.returncode, output


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A database of its own with nothing in it."""
    pytest.importorskip("psycopg")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = f"orderdeck_fresh_{uuid.uuid4().hex[:10]}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return str(request.getfixturevalue("fresh_postgres"))


def revision_of(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def test_three_migrates_at_once_on_a_fresh_database_all_succeed(fresh_url: str) -> None:
    processes = [start(["migrate"], fresh_url) for _ in range(MIGRATORS)]
    results = [finish(p) for p in processes]

    assert [code for code, _ in results] == [0] * MIGRATORS, [out for _, out in results]
    assert all("Database ready" in out for _, out in results)
    assert revision_of(fresh_url) == [head_revision()]
    deck = build(Settings(database_url=fresh_url))
    try:
        check_schema(deck.db)
    finally:
        deck.db.dispose()


@pytest.mark.parametrize("command", [["worker", "--no-jobs"], ["serve", "--port", "1", "--no-worker"]])
def test_worker_and_server_refuse_an_unmigrated_database(fresh_url: str, command: list[str]) -> None:
    code, output = finish(start(command, fresh_url))

    assert code != 0
    assert "has no Orderdeck schema yet" in output, output
    assert "Run `orderdeck migrate`" in output, output
    assert "Traceback" not in output
    assert _tables(fresh_url) == []  # it created nothing, not even alembic_version


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_worker_refuses_an_old_schema_and_starts_after_migrate(fresh_url: str) -> None:
    deck = build(Settings(database_url=fresh_url))
    try:
        from alembic import command

        from orderdeck.store.migrate import alembic_config

        with deck.db.writer.connect() as conn:
            config = alembic_config(deck.db.url)
            config.attributes["connection"] = conn
            command.upgrade(config, "0005")
            conn.commit()
        with pytest.raises(SchemaNotCurrent, match=r"is at schema revision 0005; .* needs .*orderdeck migrate"):
            check_schema(deck.db)
    finally:
        deck.db.dispose()

    code, output = finish(start(["worker", "--no-jobs"], fresh_url))
    assert code != 0
    assert "is at schema revision 0005" in output and "Run `orderdeck migrate`" in output, output
    assert revision_of(fresh_url) == ["0005"]  # the worker did not migrate

    code, output = finish(start(["migrate"], fresh_url))
    assert code == 0, output
    assert revision_of(fresh_url) == [head_revision()]


def test_a_schema_newer_than_the_code_is_refused(fresh_url: str) -> None:
    deck = build(Settings(database_url=fresh_url))
    try:
        migrate(deck.db)
        with deck.db.writer.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaNotCurrent, match="does not know: a newer Orderdeck migrated it"):
            check_schema(deck.db)
    finally:
        deck.db.dispose()
    code, output = finish(start(["worker", "--no-jobs"], fresh_url))
    assert code != 0
    assert "a newer Orderdeck migrated it" in output, output
