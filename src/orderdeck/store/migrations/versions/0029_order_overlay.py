"""The overlay column of `orders` (issue 16): a set-based bulk change (archive, unarchive, tags)
writes the document fields it changes there instead of rewriting each order's document.

Adding a column that may be NULL and has no default changes only the table's definition, on
SQLite and PostgreSQL alike: instant and in constant memory at any number of orders, and no
order is read or written. Every existing order starts without an overlay (its document is
whole). Run again, it finds the column there and does nothing.

Revision ID: 0029
Revises: 0028
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def _has_overlay() -> bool:
    from orderdeck.store.documents import orders_have

    return orders_have(op.get_bind(), "overlay")


def upgrade() -> None:
    if not _has_overlay():
        op.execute("ALTER TABLE orders ADD COLUMN overlay TEXT")


def downgrade() -> None:
    # The overlaid fields go back into the documents first: without the column nobody reads them.
    conn = op.get_bind()
    if not _has_overlay():
        return
    from orderdeck.store.bulk_updates import fold_overlays

    fold_overlays(conn)
    op.execute("ALTER TABLE orders DROP COLUMN overlay")
