"""Index the customer name, which the free-text search looks up by prefix.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_customer_name", "orders", ["customer_name"])


def downgrade() -> None:
    op.drop_index("ix_orders_customer_name", table_name="orders")
