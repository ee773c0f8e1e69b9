"""The tags of each order as a JSON list in its narrow row (`orders.tag_list`, issue 16): bulk
tagging reads them there instead of reading every order's 5 KB document.

The column may be NULL ("not filled yet: read the document"), so adding it is instant and every
order reads right while it is filled. `orderdeck migrate` fills it first, a batch of orders per
transaction with a progress bar, so a run stopped halfway goes on where it stopped
(store/tag_lists.py, store/migrate.py); this migration fills whatever is left (every order when
Alembic runs it alone). Run again, it finds the column there and every order filled, and does
nothing.

Revision ID: 0030
Revises: 0029
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from orderdeck.store import tag_lists

    conn = op.get_bind()
    tag_lists.prepare(conn)
    tag_lists.fill_all(conn)


def downgrade() -> None:
    # Nothing else is kept only here: the document (or its overlay) holds the same tags.
    from orderdeck.store.documents import orders_have

    if orders_have(op.get_bind(), "tag_list"):
        op.execute("ALTER TABLE orders DROP COLUMN tag_list")
