"""Custom statuses: the merchant's stages, and the stage each order is in.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custom_statuses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True, nullable=False),
        sa.Column("handle", sa.String(64), nullable=False),
        sa.Column("names", sa.Text, nullable=False),
        sa.Column("color", sa.String(7), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("customer_visible", sa.Boolean, nullable=False),
        sa.Column("notify", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_custom_statuses"),
        sa.UniqueConstraint("handle", name="uq_custom_statuses_handle"),
    )
    # A plain ADD COLUMN on both databases: the orders table is not rebuilt, however large.
    op.add_column("orders", sa.Column("custom_status", sa.String(64)))
    op.create_index("ix_orders_custom_status_id", "orders", ["custom_status", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_custom_status_id", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("custom_status")
    op.drop_table("custom_statuses")
