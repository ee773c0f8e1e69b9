"""Saved Orders views keep working after the Return filter took Shopify's values (issue 13).

The admin's Return filter used to say `in_return` for an order with a return under way; it now
takes Shopify's `OrderReturnStatus` values, where that is `in_progress`. A saved view's query
string holding the old value would otherwise be refused as an unknown filter.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

OLD, NEW = "return_status=in_return", "return_status=in_progress"


def upgrade() -> None:
    op.execute(
        sa.text("UPDATE saved_views SET query = replace(query, :old, :new) WHERE query LIKE :pattern").bindparams(
            old=OLD, new=NEW, pattern=f"%{OLD}%"
        )
    )


def downgrade() -> None:
    op.execute(
        sa.text("UPDATE saved_views SET query = replace(query, :new, :old) WHERE query LIKE :pattern").bindparams(
            old=OLD, new=NEW, pattern=f"%{NEW}%"
        )
    )
