"""Order lookup attempts, for rate limits shared by every server process.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lookup_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(96), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lookup_attempts"),
    )
    op.create_index("ix_lookup_attempts_key_at", "lookup_attempts", ["key", "at"])


def downgrade() -> None:
    op.drop_table("lookup_attempts")
