"""Carrier tracking intake (issue 15): the aggregators and carriers that push shipment events.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tracking_sources",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("last_received_at", Time),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_sources"),
    )


def downgrade() -> None:
    op.drop_table("tracking_sources")
