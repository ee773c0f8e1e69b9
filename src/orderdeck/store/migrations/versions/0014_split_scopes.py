"""API scopes of their own for shop settings, webhooks, automation rules and notification
templates, which read_orders/write_orders used to reach. A stored token that holds everything
`orderdeck token create` granted by default until now (FORMER_DEFAULT) was made as an
"everything" token (the quick start's, the owner's): it gets the new scopes too, so it keeps
working. Narrower tokens do not: an app given read_orders,write_orders can no longer change the
mail server or the webhooks; give it the new scopes if it needs them.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FORMER_DEFAULT = frozenset(
    [
        "read_orders",
        "write_orders",
        "read_merchant_managed_fulfillment_orders",
        "write_merchant_managed_fulfillment_orders",
        "read_fulfillments",
        "write_fulfillments",
        "read_inventory",
        "write_inventory",
        "read_locations",
        "write_locations",
        "read_products",
        "write_products",
        "read_customers",
    ]
)
NEW = (
    "read_webhooks",
    "write_webhooks",
    "read_settings",
    "write_settings",
    "read_automation_rules",
    "write_automation_rules",
    "read_notification_templates",
    "write_notification_templates",
)

tokens = sa.table("api_tokens", sa.column("id", sa.BigInteger), sa.column("scopes", sa.Text))


def upgrade() -> None:
    conn = op.get_bind()
    for token_id, scopes in conn.execute(sa.select(tokens.c.id, tokens.c.scopes)).all():
        held = {s for s in scopes.split(",") if s}
        if held >= FORMER_DEFAULT:
            conn.execute(
                tokens.update().where(tokens.c.id == token_id).values(scopes=",".join(sorted(held | set(NEW))))
            )


def downgrade() -> None:
    conn = op.get_bind()
    for token_id, scopes in conn.execute(sa.select(tokens.c.id, tokens.c.scopes)).all():
        kept = [s for s in scopes.split(",") if s and s not in NEW[2:]]
        conn.execute(tokens.update().where(tokens.c.id == token_id).values(scopes=",".join(kept) or "read_orders"))
