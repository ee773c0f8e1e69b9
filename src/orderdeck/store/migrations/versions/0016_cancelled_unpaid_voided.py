"""Cancelled orders that were still waiting for their payment read `voided`, as Shopify's do.

Cancelling voids what was still to be paid (ORDER-MODEL.md §1), a pending manual payment included;
older versions left such orders `pending`, so they filled the pending and unpaid lists. A
cancelled order stored as `pending` captured nothing and has no open authorization, so under
today's rule it is `voided`: its status column and the kept status counts change with it, and
its stored rendering is dropped (reads render it afresh; `orderdeck rerender` stores it again).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    orders = sa.table(
        "orders",
        sa.column("financial_status", sa.String),
        sa.column("cancelled_at", sa.DateTime),
        sa.column("rendered", sa.Text),
        sa.column("rendered_for", sa.String),
    )
    counts = sa.table(
        "order_counts",
        sa.column("financial_status", sa.String),
        sa.column("cancelled", sa.Boolean),
    )
    op.execute(
        sa.update(orders)
        .where(orders.c.cancelled_at.is_not(None), orders.c.financial_status == "pending")
        .values(financial_status="voided", rendered=None, rendered_for=None)
    )
    op.execute(
        sa.update(counts)
        .where(counts.c.cancelled.is_(True), counts.c.financial_status == "pending")
        .values(financial_status="voided")
    )


def downgrade() -> None:
    pass  # an older version derives "pending" again the next time it saves such an order
