"""The migrations build exactly the schema the code describes (store/tables.py), on both
databases: a column or index added to one and not the other fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import metadata


def test_migrated_schema_matches_the_tables(deck: Orderdeck) -> None:
    with deck.db.writer.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
