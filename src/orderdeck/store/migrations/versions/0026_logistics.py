"""Logistics connected (issue 15): automatic requests and polling state on fulfillment services,
the notifications Orderdeck posts to them, carrier accounts and trackers for karrio, and one
row per shipment for the Shipments page, filled here from every stored order (each document
read once, in batches: store.shipments.backfill; safe to run again). In the same pass, orders
whose fulfillment orders were ever requested from a service get their search terms rewritten,
so the stuck-order sweep finds their requests by the `request` terms this issue added.

Revision ID: 0026
Revises: 0025
"""

import logging

import sqlalchemy as sa
from alembic import op

from orderdeck.domain.order import Order
from orderdeck.store.orders import search_terms
from orderdeck.store.shipments import backfill as shipments_backfill

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Time = sa.DateTime(timezone=True)

order_search_terms = sa.table(
    "order_search_terms", sa.column("order_id", Id), sa.column("kind", sa.String), sa.column("term", sa.String)
)
# The search-term kinds this issue added (store/orders.search_terms): requests still with a
# service, and stuck flags. Earlier code neither writes nor reads them.
NEW_TERM_KINDS = ("request", "stuck")


def rewrite_request_terms(conn: sa.Connection, batch: list[Order]) -> None:
    """The search terms of the batch's orders that were ever requested from a service, written
    again whole from the document (orders saved before the `request` terms existed lack them)."""
    requested = [o for o in batch if any(fo.request_status != "unsubmitted" for fo in o.fulfillment_orders)]
    if not requested:
        return
    conn.execute(order_search_terms.delete().where(order_search_terms.c.order_id.in_([o.id for o in requested])))
    rows = [{"order_id": o.id, "kind": k, "term": t} for o in requested for k, t in sorted(search_terms(o))]
    if rows:
        conn.execute(order_search_terms.insert(), rows)


def upgrade() -> None:
    with op.batch_alter_table("fulfillment_services") as batch:
        batch.add_column(sa.Column("auto_request", sa.String(16)))
        batch.add_column(sa.Column("stock_synced_at", Time))
        batch.add_column(sa.Column("tracking_synced_at", Time))
        batch.add_column(sa.Column("sync_error", sa.Text))
        batch.add_column(sa.Column("sync_error_at", Time))
    op.create_table(
        "service_notifications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("service_id", Id, nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("fulfillment_order_id", Id, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("request_id", Id),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Time),
        sa.Column("leased_until", Time),
        sa.Column("leased_by", sa.String(128)),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("last_attempt_at", Time),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("acknowledged_at", Time),
        sa.PrimaryKeyConstraint("id", name="pk_service_notifications"),
    )
    op.create_index("ix_service_notifications_due", "service_notifications", ["state", "next_attempt_at"])
    op.create_index("ix_service_notifications_order", "service_notifications", ["order_id"])
    op.create_table(
        "carrier_accounts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("credentials", sa.Text, nullable=False),
        sa.Column("test_mode", sa.Boolean, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("catch_up_after_time", Time),
        sa.Column("catch_up_after_id", Id),
        sa.PrimaryKeyConstraint("id", name="pk_carrier_accounts"),
    )
    op.create_table(
        "trackers",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("fulfillment_id", Id, nullable=False),
        sa.Column("tracking_number", sa.String(255), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("shipment_status", sa.String(32)),
        sa.Column("next_check_at", Time),
        sa.Column("checked_at", Time),
        sa.Column("last_event_at", Time),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trackers"),
        sa.UniqueConstraint("fulfillment_id", "tracking_number", name="uq_trackers_fulfillment_id_tracking_number"),
    )
    op.create_index("ix_trackers_due", "trackers", ["state", "next_check_at"])
    op.create_index("ix_trackers_order", "trackers", ["order_id"])
    op.create_table(
        "shipments",
        sa.Column("fulfillment_id", Id, autoincrement=False, nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("order_name", sa.String(32), nullable=False),
        sa.Column("customer_name", sa.String(512)),
        sa.Column("email", sa.String(255)),
        sa.Column("location_id", Id),
        sa.Column("service", sa.String(255)),
        sa.Column("carrier", sa.String(255)),
        sa.Column("tracking_number", sa.String(255)),
        sa.Column("tracking_url", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("shipment_status", sa.String(32)),
        sa.Column("stage", sa.String(24), nullable=False),
        sa.Column("late_after", Time),
        sa.Column("quiet_since", Time),
        sa.Column("last_event_at", Time),
        sa.Column("last_event_message", sa.Text),
        sa.Column("estimated_delivery_at", Time),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("fulfillment_id", name="pk_shipments"),
    )
    op.create_index("ix_shipments_status_id", "shipments", ["shipment_status", "fulfillment_id"])
    op.create_index("ix_shipments_stage_id", "shipments", ["stage", "fulfillment_id"])
    for name, column in (("ix_shipments_late", "late_after"), ("ix_shipments_quiet", "quiet_since")):
        under_way = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name,
            "shipments",
            [column, "carrier", "location_id", "service", "created_at"],
            sqlite_where=under_way,
            postgresql_where=under_way,
        )
    op.create_index("ix_shipments_carrier_id", "shipments", ["carrier", "fulfillment_id"])
    op.create_index("ix_shipments_location_id", "shipments", ["location_id", "fulfillment_id"])
    op.create_index("ix_shipments_service_id", "shipments", ["service", "fulfillment_id"])
    op.create_index("ix_shipments_created_id", "shipments", ["created_at", "fulfillment_id"])
    op.create_index("ix_shipments_carrier_stage_id", "shipments", ["carrier", "stage", "fulfillment_id"])
    op.create_index("ix_shipments_location_stage_id", "shipments", ["location_id", "stage", "fulfillment_id"])
    op.create_index("ix_shipments_service_stage_id", "shipments", ["service", "stage", "fulfillment_id"])
    op.create_index("ix_shipments_stage_created", "shipments", ["stage", "created_at"])
    op.create_index("ix_shipments_order", "shipments", ["order_id"])
    # Every stored order's fulfillments get their rows here, read from the documents in batches.
    # Requested orders get their search terms rewritten in the same pass (rewrite_request_terms).
    shipments_report = shipments_backfill(op.get_bind(), also=rewrite_request_terms)
    for order_id in shipments_report.unreadable:
        log.warning("order %s: its document does not load; run `orderdeck repair-orders`, then this again", order_id)
    log.info("%s shipment row(s) written for %s order(s)", shipments_report.written, shipments_report.checked)


def downgrade() -> None:
    # The earlier code knows no such terms: they would only go stale under it (upgrading again
    # writes them anew).
    op.execute(order_search_terms.delete().where(order_search_terms.c.kind.in_(NEW_TERM_KINDS)))
    op.drop_table("shipments")
    op.drop_table("trackers")
    op.drop_table("carrier_accounts")
    op.drop_table("service_notifications")
    with op.batch_alter_table("fulfillment_services") as batch:
        for name in ("sync_error_at", "sync_error", "tracking_synced_at", "stock_synced_at", "auto_request"):
            batch.drop_column(name)
