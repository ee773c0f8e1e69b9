"""Index the orders list by the REST fulfillment status (what the API filters on).

The three-status index now ends in `fulfillment_status` (null | partial | fulfilled |
restocked) instead of the display status, so "open, unfulfilled, paid" is one index range in
id order; `fulfillment_status` alone gets its (status, id) index like the other dimensions.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_orders_status_fin_ful_id", table_name="orders")
    op.create_index(
        "ix_orders_status_fin_ful_id", "orders", ["order_status", "financial_status", "fulfillment_status", "id"]
    )
    op.create_index("ix_orders_fulfillment_id", "orders", ["fulfillment_status", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_fulfillment_id", table_name="orders")
    op.drop_index("ix_orders_status_fin_ful_id", table_name="orders")
    op.create_index(
        "ix_orders_status_fin_ful_id",
        "orders",
        ["order_status", "financial_status", "display_fulfillment_status", "id"],
    )
