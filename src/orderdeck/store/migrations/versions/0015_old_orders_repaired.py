"""Old orders put right: the search terms an older version never wrote, and documents that do
not load because of a null where the order has a default.

Orders saved before the `name` search terms existed (0001's orders, for one) were never found by
a word of the customer's name: saving an order writes only the terms that changed, so they never
got them. Every order's terms are computed afresh and the missing ones added. Documents holding
`null` for a field without one (`PUT /orders/{id}.json` with `"buyer_accepts_marketing": null`
stored them) are stored with the field's default; documents that still do not load are logged
and left for `orderdeck repair-orders` to report.

Revision ID: 0015
Revises: 0014
"""

import logging
from contextlib import nullcontext

from alembic import op

from orderdeck.store.repair import fill_missing_search_terms, repair_documents

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    conn = op.get_bind()
    report = repair_documents(lambda: nullcontext(conn))
    for order_id, name, problem in report.repaired:
        log.info("order %s (%s): stored with defaults for its bad values (%s)", order_id, name, problem)
    for order_id, name, problem in report.unreadable:
        log.error("order %s (%s): its document does not load and was left as it is: %s", order_id, name, problem)
    added = fill_missing_search_terms(conn)
    log.info("%s search term(s) added to old orders", added)


def downgrade() -> None:
    pass  # the terms and repairs are right for every older version too
