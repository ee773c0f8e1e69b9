"""Automation rules and their runs.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "automation_rules",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("trigger_event", sa.String(96)),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("scheduled_at", Time),
        sa.PrimaryKeyConstraint("id", name="pk_automation_rules"),
    )
    op.create_index("ix_automation_rules_trigger_event", "automation_rules", ["trigger_event"])
    op.create_table(
        "automation_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("rule_id", Id, nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("trigger", sa.String(96), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("finished_at", Time),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_automation_runs"),
    )
    op.create_index(
        "ix_automation_runs_due",
        "automation_runs",
        ["due_at"],
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index("ix_automation_runs_rule", "automation_runs", ["rule_id", "created_at"])


def downgrade() -> None:
    op.drop_table("automation_runs")
    op.drop_table("automation_rules")
