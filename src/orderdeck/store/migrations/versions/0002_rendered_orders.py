"""Keep each order's rendered JSON beside its document, so lists answer without rendering.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("rendered", sa.Text(), nullable=True))
        batch.add_column(sa.Column("rendered_for", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("rendered_for")
        batch.drop_column("rendered")
