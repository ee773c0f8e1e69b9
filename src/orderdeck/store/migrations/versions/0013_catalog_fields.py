"""Products and variants in Shopify's shape: a product's handle, description, status, tags
and option names; a variant's option values, compare-at price and barcode; its inventory
item's cost, origin and HS code (a variant is its own inventory item).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Money = sa.Numeric(18, 4)
Time = sa.DateTime(timezone=True)

PRODUCT_COLUMNS = (
    ("handle", sa.String(255), {}),
    ("body_html", sa.Text(), {}),
    ("status", sa.String(16), {"nullable": False, "server_default": "active"}),
    ("tags", sa.Text(), {"nullable": False, "server_default": ""}),
    ("options", sa.Text(), {}),
    ("published_at", Time, {}),
)
VARIANT_COLUMNS = (
    ("option1", sa.String(255), {}),
    ("option2", sa.String(255), {}),
    ("option3", sa.String(255), {}),
    ("compare_at_price", Money, {}),
    ("barcode", sa.String(255), {}),
    ("cost", Money, {}),
    ("country_code_of_origin", sa.String(2), {}),
    ("harmonized_system_code", sa.String(16), {}),
)


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        for name, kind, extra in PRODUCT_COLUMNS:
            batch.add_column(sa.Column(name, kind, **extra))
    op.create_index("ix_products_handle", "products", ["handle"])
    # Products made before this: a handle from their id (unique, as handles are), and published
    # when they were made (they were on sale all along).
    op.execute("UPDATE products SET handle = 'product-' || CAST(id AS VARCHAR(20)) WHERE handle IS NULL")
    op.execute("UPDATE products SET published_at = created_at WHERE published_at IS NULL AND status = 'active'")
    with op.batch_alter_table("variants") as batch:
        for name, kind, extra in VARIANT_COLUMNS:
            batch.add_column(sa.Column(name, kind, **extra))


def downgrade() -> None:
    with op.batch_alter_table("variants") as batch:
        for name, _, _ in reversed(VARIANT_COLUMNS):
            batch.drop_column(name)
    op.drop_index("ix_products_handle", table_name="products")
    with op.batch_alter_table("products") as batch:
        for name, _, _ in reversed(PRODUCT_COLUMNS):
            batch.drop_column(name)
