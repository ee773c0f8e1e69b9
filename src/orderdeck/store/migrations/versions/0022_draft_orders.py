"""Draft orders (issue 14): orders staff prepare, invoice and complete later.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "draft_orders",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("order_id", Id),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_draft_orders"),
        sa.UniqueConstraint("token", name="uq_draft_orders_token"),
    )
    op.create_index("ix_draft_orders_status_id", "draft_orders", ["status", "id"])
    op.create_index("ix_draft_orders_updated_at", "draft_orders", ["updated_at"])


def downgrade() -> None:
    op.drop_table("draft_orders")
