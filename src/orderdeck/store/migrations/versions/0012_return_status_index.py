"""The admin's Orders page filters by return status: an index like the other status columns'.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_return_id", "orders", ["return_status", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_return_id", table_name="orders")
