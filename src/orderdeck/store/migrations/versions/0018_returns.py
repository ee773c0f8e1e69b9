"""Returns (issue 13): the Returns list's and the return reports' tables, and an id on every
stored fulfillment line, which a return names.

`returns` and `return_lines` repeat what the admin's Returns list and the reports filter and
count by; `fulfilled_units` holds the units fulfilled per order line, what the return rate
divides by. No order stored before this revision has returns, so those tables start empty;
`fulfilled_units` is filled from every order here. Fulfillment lines stored without an id get
one from their order's own sequence (store.returns.backfill); lines that have one keep it, so
running it twice changes nothing.

Revision ID: 0018
Revises: 0017
"""

import logging

import sqlalchemy as sa
from alembic import op

from orderdeck.store.returns import backfill

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "returns",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("name", sa.String(48), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due", sa.String(16), nullable=False),
        sa.Column("total_quantity", sa.Integer, nullable=False),
        sa.Column("exchange", sa.Boolean, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("closed_at", Time),
        sa.PrimaryKeyConstraint("id", name="pk_returns"),
    )
    op.create_index("ix_returns_order_id", "returns", ["order_id"])
    op.create_index("ix_returns_status_id", "returns", ["status", "id"])
    op.create_index("ix_returns_due_id", "returns", ["due", "id"])
    op.create_table(
        "return_lines",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("return_id", Id, nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("line_item_id", Id, nullable=False),
        sa.Column("product_id", Id),
        sa.Column("variant_id", Id),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("sku", sa.String(255)),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_return_lines"),
    )
    op.create_index("ix_return_lines_return_id", "return_lines", ["return_id"])
    op.create_index("ix_return_lines_order_id", "return_lines", ["order_id"])
    op.create_index("ix_return_lines_created_at", "return_lines", ["created_at"])
    op.create_index("ix_return_lines_product_created_at", "return_lines", ["product_id", "created_at"])
    op.create_index("ix_return_lines_reason_created_at", "return_lines", ["reason", "created_at"])
    op.create_table(
        "fulfilled_units",
        sa.Column("order_id", Id, autoincrement=False, nullable=False),
        sa.Column("line_item_id", Id, autoincrement=False, nullable=False),
        sa.Column("product_id", Id),
        sa.Column("variant_id", Id),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "line_item_id", name="pk_fulfilled_units"),
    )
    report = backfill(op.get_bind())
    for order_id in report.unreadable:
        log.warning("order %s: its document does not load; run `orderdeck repair-orders`, then this again", order_id)
    log.info("%s of %s order(s) had fulfillment lines numbered", report.numbered, report.checked)


def downgrade() -> None:
    # The fulfillment line ids stay: older versions read documents with unknown fields as they are.
    op.drop_table("fulfilled_units")
    op.drop_table("return_lines")
    op.drop_table("returns")
