"""Refunds on orders whose prices include tax, put right (issue 13).

Before this version a refunded unit of an order with `taxes_included` was worth its price *and*
its tax again (the tax is already in the price there), so the order's current total fell too far
and a refund of exactly a unit's price was recorded as refunded short by its tax (a
refund_discrepancy that made the customer seem to owe it). The worth is fixed in the code
(`Order.with_tax`); this walk replaces the discrepancies recorded by the old worth with the one
today's refund command records, by the same rule as 0017 (`domain.repairs.repair_old_order`),
with a `repaired` event on each order's timeline. Orders without such refunds are left as they
are; running it again changes nothing.

Revision ID: 0019
Revises: 0018
"""

import logging
from contextlib import nullcontext
from datetime import UTC, datetime

from alembic import op

from orderdeck.store.repair import repair_old_orders

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    conn = op.get_bind()
    report = repair_old_orders(lambda: nullcontext(conn), now=datetime.now(UTC))
    for order_id, name, what in report.repaired:
        log.info("order %s (%s): %s", order_id, name, what)
    log.info("%s of %s order(s) put right by today's rules", len(report.repaired), report.checked)


def downgrade() -> None:
    pass  # the repaired refunds are right for older versions too; they read them as they are
