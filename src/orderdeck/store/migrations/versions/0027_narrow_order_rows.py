"""A narrow order row (issue 16): each order's document and rendering move from `orders` to
their own table, `order_documents`, and `orders` gets what lists, the CSV export and reports
read (the export's cells, the cancel reason, when the first standing fulfillment was made),
filled from each document; shipment rows get when the parcel was first recorded delivered.

The move is store/document_move.py's: `orderdeck migrate` runs it before this revision a batch
per transaction, so a run killed halfway goes on where it stopped; here the rest is moved (all
of it when Alembic runs this alone) and then the old columns are dropped. Safe to run again.
On SQLite the space the documents took in `orders` is reused by new rows; `VACUUM` gives it
back to the disk (docs/operations.md).

Revision ID: 0027
Revises: 0026
"""

from contextlib import nullcontext

import sqlalchemy as sa
from alembic import op

from orderdeck.store import document_move

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if not document_move.to_move(conn):
        return  # already narrow
    document_move.prepare(conn)
    document_move.move(lambda: nullcontext(conn))
    document_move.drop_moved_columns(conn)


def downgrade() -> None:
    conn = op.get_bind()
    for name in document_move.MOVED:
        kind = "TEXT" if name != "rendered_for" else "VARCHAR(32)"
        conn.execute(sa.text(f"ALTER TABLE orders ADD COLUMN {name} {kind}"))
    conn.execute(
        sa.text(
            "UPDATE orders SET "
            + ", ".join(
                f"{name} = (SELECT d.{name} FROM order_documents d WHERE d.order_id = orders.id)"
                for name in document_move.MOVED
            )
        )
    )
    op.drop_table("order_documents")
    for name in document_move.SUMMARY:
        conn.execute(sa.text(f"ALTER TABLE orders DROP COLUMN {name}"))
    conn.execute(sa.text("ALTER TABLE shipments DROP COLUMN delivered_at"))
