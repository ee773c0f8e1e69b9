"""Keep order counts by status (store/counts.py), seeded from the orders already there.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True, nullable=False),
        sa.Column("order_status", sa.String(16), nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("cancelled", sa.Boolean, nullable=False),
        sa.Column("financial_status", sa.String(32), nullable=False),
        sa.Column("fulfillment_status", sa.String(16)),
        sa.Column("display_fulfillment_status", sa.String(32), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_counts"),
    )
    op.execute(
        """
        INSERT INTO order_counts (order_status, closed, cancelled, financial_status, fulfillment_status,
                                  display_fulfillment_status, delta)
        SELECT order_status, closed_at IS NOT NULL, cancelled_at IS NOT NULL, financial_status,
               fulfillment_status, display_fulfillment_status, count(*)
        FROM orders
        GROUP BY order_status, closed_at IS NOT NULL, cancelled_at IS NOT NULL, financial_status,
                 fulfillment_status, display_fulfillment_status
        """
    )


def downgrade() -> None:
    op.drop_table("order_counts")
