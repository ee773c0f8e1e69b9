"""The admin: staff accounts, sessions, saved views on the Orders page, bulk runs.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("owner", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("permissions", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("last_login_at", Time),
        sa.PrimaryKeyConstraint("id", name="pk_staff"),
        sa.UniqueConstraint("email", name="uq_staff_email"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("staff_id", Id, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("flash", sa.Text),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_staff_sessions"),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name="fk_staff_sessions_staff_id_staff", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_staff_sessions_staff_id", "staff_sessions", ["staff_id"])
    op.create_table(
        "saved_views",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_saved_views"),
        sa.UniqueConstraint("name", name="uq_saved_views_name"),
    )
    op.create_table(
        "bulk_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("order_ids", sa.Text, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("succeeded", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("refused", sa.Text, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("staff_id", Id),
        sa.Column("staff_name", sa.String(255), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("started_at", Time),
        sa.Column("finished_at", Time),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_bulk_runs"),
    )
    op.create_index("ix_bulk_runs_state_id", "bulk_runs", ["state", "id"])


def downgrade() -> None:
    op.drop_table("bulk_runs")
    op.drop_table("saved_views")
    op.drop_index("ix_staff_sessions_staff_id", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff")
