"""Orders an older version's rules left wrong, put right by today's (issue 12's order-model fixes).

Units refunded without restock before they shipped used to stay on their fulfillment orders: the
order stayed partially fulfilled for ever, was never auto-archived and kept their stock
committed. They come off the fulfillment orders now, their reserved stock written off at their
location (on_hand and committed down). Refunds whose money differed from what their items and
shipping were worth (a goodwill refund, 7.00 back for a 10.00 line) recorded no
refund_discrepancy, so the customer seemed to owe the difference; they get the adjustment
today's refund command records. Each repaired order's status columns, counts and search terms
are recomputed, a `repaired` event on its timeline says what was put right, and its stored
rendering is dropped (reads render it afresh). Orders now due for auto-archiving are archived by
the hourly sweep. `orderdeck repair-orders` does the same; both change nothing a second time.

Revision ID: 0017
Revises: 0016
"""

import logging
from contextlib import nullcontext
from datetime import UTC, datetime

from alembic import op

from orderdeck.store.repair import repair_old_orders

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    conn = op.get_bind()
    report = repair_old_orders(lambda: nullcontext(conn), now=datetime.now(UTC))
    for order_id, name, what in report.repaired:
        log.info("order %s (%s): %s", order_id, name, what)
    for order_id, item_id, location_id in report.stock_not_found:
        log.warning(
            "order %s: item %s is no longer stocked at location %s; no reserved stock was written off there",
            order_id,
            item_id,
            location_id,
        )
    log.info("%s of %s order(s) put right by today's rules", len(report.repaired), report.checked)


def downgrade() -> None:
    pass  # the repaired orders are right for older versions too; they read them as they are
