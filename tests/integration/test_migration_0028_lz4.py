"""Migration 0028: PostgreSQL compresses order documents and renderings with LZ4 (issue 16).

PostgreSQL only: SQLite does not compress values, and 0028 leaves it as it was."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from orderdeck.services.context import Orderdeck


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_documents_and_renderings_are_written_with_lz4(deck: Orderdeck, backend: str) -> None:
    with deck.db.writer.begin() as conn:
        methods = dict(
            conn.execute(
                text(
                    "SELECT attname, attcompression FROM pg_attribute "
                    "WHERE attrelid = 'order_documents'::regclass AND attname IN ('document', 'rendered')"
                )
            ).all()
        )
        # A value long enough to be compressed, written as any order's document is.
        conn.execute(text("CREATE TEMPORARY TABLE probe (LIKE order_documents INCLUDING COMPRESSION)"))
        conn.execute(text("INSERT INTO probe (order_id, document) VALUES (1, repeat('{\"line\": 1}', 2000))"))
        written = conn.execute(text("SELECT pg_column_compression(document) FROM probe")).scalar_one()
    assert methods == {"document": "l", "rendered": "l"}
    assert written == "lz4"
