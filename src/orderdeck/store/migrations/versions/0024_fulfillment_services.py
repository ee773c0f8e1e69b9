"""Fulfillment services (issue 15): 3PL warehouses and dropship suppliers, each with a location.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fulfillment_services",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("handle", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255)),
        sa.Column("callback_url", sa.String(2000), nullable=False),
        sa.Column("inventory_management", sa.Boolean, nullable=False),
        sa.Column("tracking_support", sa.Boolean, nullable=False),
        sa.Column("fulfillment_orders_opt_in", sa.Boolean, nullable=False),
        sa.Column("permits_sku_sharing", sa.Boolean, nullable=False),
        sa.Column("requires_shipping_method", sa.Boolean, nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("include_pending_stock", sa.Boolean, nullable=False),
        sa.Column("location_id", Id, nullable=False),
        sa.Column("owner_token_id", Id),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fulfillment_services"),
        sa.UniqueConstraint("name", name="uq_fulfillment_services_name"),
        sa.UniqueConstraint("handle", name="uq_fulfillment_services_handle"),
        sa.UniqueConstraint("location_id", name="uq_fulfillment_services_location_id"),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name="fk_fulfillment_services_location_id_locations"
        ),
    )
    op.create_index("ix_fulfillment_services_owner_token_id", "fulfillment_services", ["owner_token_id", "id"])


def downgrade() -> None:
    op.drop_table("fulfillment_services")
