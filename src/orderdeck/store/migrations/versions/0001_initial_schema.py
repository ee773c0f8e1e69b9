"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:58:19.197605
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_hint", sa.String(length=8), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("email", name=op.f("uq_customers_email")),
    )
    op.create_table(
        "deleted_orders",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_by", sa.String(length=255), nullable=False),
        sa.Column("source_name", sa.String(length=64), nullable=False),
        sa.Column("financial_status", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_deleted_orders")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("token_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("address1", sa.String(length=255), nullable=True),
        sa.Column("address2", sa.String(length=255), nullable=True),
        sa.Column("city", sa.String(length=255), nullable=True),
        sa.Column("zip", sa.String(length=32), nullable=True),
        sa.Column("province", sa.String(length=255), nullable=True),
        sa.Column("province_code", sa.String(length=16), nullable=True),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("name", name=op.f("uq_locations_name")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_status", sa.String(length=16), nullable=False),
        sa.Column("financial_status", sa.String(length=32), nullable=False),
        sa.Column("fulfillment_status", sa.String(length=16), nullable=True),
        sa.Column("display_fulfillment_status", sa.String(length=32), nullable=False),
        sa.Column("return_status", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("customer_name", sa.String(length=512), nullable=True),
        sa.Column("source_name", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("name", name=op.f("uq_orders_name")),
        sa.UniqueConstraint("number", name=op.f("uq_orders_number")),
        sa.UniqueConstraint("token", name=op.f("uq_orders_token")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_orders_display_fulfillment_id", ["display_fulfillment_status", "id"], unique=False)
        batch_op.create_index("ix_orders_email", ["email"], unique=False)
        batch_op.create_index("ix_orders_financial_id", ["financial_status", "id"], unique=False)
        batch_op.create_index(
            "ix_orders_open_unfulfilled",
            ["id"],
            unique=False,
            sqlite_where=sa.text("order_status = 'open' AND display_fulfillment_status != 'fulfilled'"),
            postgresql_where=sa.text("order_status = 'open' AND display_fulfillment_status != 'fulfilled'"),
        )
        batch_op.create_index("ix_orders_source_id", ["source_name", "id"], unique=False)
        batch_op.create_index(
            "ix_orders_status_fin_ful_id",
            ["order_status", "financial_status", "display_fulfillment_status", "id"],
            unique=False,
        )
        batch_op.create_index("ix_orders_status_id", ["order_status", "id"], unique=False)
        batch_op.create_index("ix_orders_updated_at_id", ["updated_at", "id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=96), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending",
            ["available_at"],
            unique=False,
            sqlite_where=sa.text("delivered_at IS NULL"),
            postgresql_where=sa.text("delivered_at IS NULL"),
        )

    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("vendor", sa.String(length=255), nullable=True),
        sa.Column("product_type", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    op.create_table(
        "shop",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("primary_locale", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("next_order_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop")),
    )
    op.create_table(
        "order_search_terms",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("term", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_search_terms_order_id_orders"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("order_id", "kind", "term", name=op.f("uq_order_search_terms_order_id_kind_term")),
    )
    with op.batch_alter_table("order_search_terms", schema=None) as batch_op:
        batch_op.create_index("ix_order_search_terms_lookup", ["kind", "term", "order_id"], unique=False)

    op.create_table(
        "timeline_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verb", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("author_kind", sa.String(length=16), nullable=False),
        sa.Column("author_name", sa.String(length=255), nullable=False),
        sa.Column("author_ref", sa.String(length=64), nullable=True),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("is_comment", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_timeline_events_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_events")),
    )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.create_index("ix_timeline_events_created_at", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_timeline_events_order_id", ["order_id", "id"], unique=False)

    op.create_table(
        "variants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("grams", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("taxable", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("requires_shipping", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("inventory_tracked", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("inventory_policy", sa.String(length=16), server_default="deny", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_variants_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variants")),
    )
    with op.batch_alter_table("variants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_variants_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_variants_sku"), ["sku"], unique=False)

    op.create_table(
        "inventory_levels",
        sa.Column("inventory_item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("committed", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inventory_item_id"],
            ["variants.id"],
            name=op.f("fk_inventory_levels_inventory_item_id_variants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_inventory_levels_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("inventory_item_id", "location_id", name=op.f("pk_inventory_levels")),
    )
    with op.batch_alter_table("inventory_levels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_levels_location_id"), ["location_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inventory_levels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_levels_location_id"))

    op.drop_table("inventory_levels")
    with op.batch_alter_table("variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_variants_sku"))
        batch_op.drop_index(batch_op.f("ix_variants_product_id"))

    op.drop_table("variants")
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_events_order_id")
        batch_op.drop_index("ix_timeline_events_created_at")

    op.drop_table("timeline_events")
    with op.batch_alter_table("order_search_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_order_search_terms_lookup")

    op.drop_table("order_search_terms")
    op.drop_table("shop")
    op.drop_table("products")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending",
            sqlite_where=sa.text("delivered_at IS NULL"),
            postgresql_where=sa.text("delivered_at IS NULL"),
        )

    op.drop_table("outbox")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_updated_at_id")
        batch_op.drop_index("ix_orders_status_id")
        batch_op.drop_index("ix_orders_status_fin_ful_id")
        batch_op.drop_index("ix_orders_source_id")
        batch_op.drop_index(
            "ix_orders_open_unfulfilled",
            sqlite_where=sa.text("order_status = 'open' AND display_fulfillment_status != 'fulfilled'"),
            postgresql_where=sa.text("order_status = 'open' AND display_fulfillment_status != 'fulfilled'"),
        )
        batch_op.drop_index("ix_orders_financial_id")
        batch_op.drop_index("ix_orders_email")
        batch_op.drop_index("ix_orders_display_fulfillment_id")
        batch_op.drop_index(batch_op.f("ix_orders_customer_id"))
        batch_op.drop_index("ix_orders_created_at_id")

    op.drop_table("orders")
    op.drop_table("locations")
    op.drop_table("idempotency_keys")
    op.drop_table("deleted_orders")
    op.drop_table("customers")
    op.drop_table("api_tokens")
