"""The schema. One definition for SQLite and PostgreSQL; Alembic migrations are made from it.

An order is stored as one row: its facts as a JSON document (the aggregate, loaded and saved
whole under a row lock) beside the derived statuses and the fields lists filter and sort on,
each indexed. Search terms that an order has many of (tags, SKUs, tracking numbers, locations)
live in `order_search_terms`, one row per term.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite's rowid alias must be INTEGER
Money = Numeric(18, 4)
Time = DateTime(timezone=True)

shop = Table(
    "shop",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("domain", String(255), nullable=False),
    Column("email", String(255)),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("primary_locale", String(16), nullable=False),
    Column("settings", Text, nullable=False),  # JSON: capture mode, auto-archive, …
    Column("next_order_number", Integer, nullable=False),
    # Signs webhook deliveries (X-Shopify-Hmac-Sha256); made on first use unless
    # ORDERDECK_WEBHOOK_SECRET is set.
    Column("webhook_secret", String(64)),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

locations = Table(
    "locations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("address1", String(255)),
    Column("address2", String(255)),
    Column("city", String(255)),
    Column("zip", String(32)),
    Column("province", String(255)),
    Column("province_code", String(16)),
    Column("country_code", String(2)),
    Column("phone", String(64)),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("title", String(255), nullable=False),
    Column("vendor", String(255)),
    Column("product_type", String(255)),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("handle", String(255), index=True),
    Column("body_html", Text),
    Column("status", String(16), nullable=False, server_default="active"),  # active | draft | archived
    Column("tags", Text, nullable=False, server_default=""),
    Column("options", Text),  # JSON list of option names ("Color", "Size"), at most three
    Column("published_at", Time),
)

# A variant is also its own inventory item: inventory_item_id == variant id.
variants = Table(
    "variants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("title", String(255), nullable=False),
    Column("sku", String(255), index=True),
    Column("price", Money, nullable=False),
    Column("grams", Integer, nullable=False, server_default=text("0")),
    Column("taxable", Boolean, nullable=False, server_default=true()),
    Column("requires_shipping", Boolean, nullable=False, server_default=true()),
    Column("inventory_tracked", Boolean, nullable=False, server_default=true()),
    Column("inventory_policy", String(16), nullable=False, server_default="deny"),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("option1", String(255)),
    Column("option2", String(255)),
    Column("option3", String(255)),
    Column("compare_at_price", Money),
    Column("barcode", String(255)),
    # The variant's inventory item (the same id): what it costs, where it comes from.
    Column("cost", Money),
    Column("country_code_of_origin", String(2)),
    Column("harmonized_system_code", String(16)),
)

inventory_levels = Table(
    "inventory_levels",
    metadata,
    Column("inventory_item_id", Id, ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", Id, ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("available", Integer, nullable=False),
    Column("committed", Integer, nullable=False),
    Column("on_hand", Integer, nullable=False),
    Column("updated_at", Time, nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(255), unique=True),
    Column("phone", String(64)),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("locale", String(16)),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("number", Integer, nullable=False, unique=True),
    Column("name", String(32), nullable=False, unique=True),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("processed_at", Time, nullable=False),
    Column("closed_at", Time),
    Column("cancelled_at", Time),
    # "open" (neither archived nor cancelled), "closed" or "cancelled": the admin's order status.
    Column("order_status", String(16), nullable=False),
    Column("financial_status", String(32), nullable=False),
    Column("fulfillment_status", String(16)),  # REST: null | partial | fulfilled | restocked
    Column("display_fulfillment_status", String(32), nullable=False),
    Column("return_status", String(32), nullable=False),
    Column("email", String(255)),
    Column("phone", String(64)),
    Column("customer_id", Id, index=True),
    Column("customer_name", String(512)),
    Column("source_name", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_price", Money, nullable=False),
    Column("test", Boolean, nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("custom_status", String(64)),  # the merchant's stage (handle), for filters and counts
    Column("version", Integer, nullable=False),
    # The order at a glance, written with every save from the document (store/orders.
    # summary_columns) so that the CSV export is a streamed SELECT of this row and reports add up
    # its columns: no order document is read for either. The texts are the export's cells as it
    # prints them (amounts exactly as the order states them: "0" for no shipping, "1200" in
    # yen; times with the offset they were given with). They are all NULL only for an order
    # whose document did not load when migration 0027 moved it: the export marks that order as
    # unreadable, and `orderdeck repair-orders` fills them when it stores the document repaired.
    Column("placed_at_text", String(40)),  # "Created at": created_at as the document has it
    Column("email_as_written", String(255)),  # `email` above is lower-cased for lookups
    Column("customer_display_name", String(512)),  # the customer's name as shown, not lower-cased
    Column("subtotal_amount", String(32)),
    Column("shipping_amount", String(32)),
    Column("tax_amount", String(32)),
    Column("total_amount", String(32)),  # `total_price` above is the same as a number, for sums
    Column("discount_codes", Text),  # the codes, space-separated
    Column("tags", Text),  # as the order lists them, ", "-separated
    Column("line_summary", Text),  # "2x MUG-1; 1x Gift card": quantity and SKU (or title) of each line
    Column("tracking_numbers", Text),  # of the standing fulfillments, space-separated
    Column("cancelled_at_text", String(40)),
    Column("cancel_reason", String(32)),
    # When the first fulfillment that still stands was made (the lead-time report's end).
    Column("first_fulfilled_at", Time),
    # Top-level fields of the document that a set-based change (bulk archive, unarchive, tags:
    # store/bulk_updates.py) set after the document was written, as a JSON object laid over it
    # on every read (store/codec.decode_order): the change writes this small row and never the
    # 5 KB document beside it. NULL for an order saved since; the save writes the fields into the
    # document and clears this. While it is set, the stored rendering is out of date.
    Column("overlay", Text),
    # The order's tags as the JSON list the document holds (a tag may contain a comma, so the
    # ", "-joined `tags` above cannot be split back), written with every save and by bulk
    # tagging, which reads it instead of each 5 KB document (store/bulk_updates.py). NULL for an
    # order not filled yet by migration 0030 (store/tag_lists.py): read the document then.
    Column("tag_list", Text),
)

# The order's document (the aggregate as JSON, store/codec.py) and its rendering, one row per
# order beside `orders` and read by id only: a list, count, export or report walks the narrow
# `orders` rows and never these (a document and its rendering are most of an order's 20 KB).
# The order as the API renders it is written with every change so that lists answer without
# rendering; `rendered_for` names the render settings (time zone, public URL) it was made with,
# and a read with other settings renders afresh. Statements that change orders by the set
# (bulk archive, tags) clear `rendered` here for the orders they touch.
order_documents = Table(
    "order_documents",
    metadata,
    Column("order_id", Id, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
    Column("document", Text, nullable=False),
    Column("rendered", Text),
    Column("rendered_for", String(32)),
)
Index("ix_orders_status_id", orders.c.order_status, orders.c.id)
Index("ix_orders_financial_id", orders.c.financial_status, orders.c.id)
Index("ix_orders_display_fulfillment_id", orders.c.display_fulfillment_status, orders.c.id)
Index("ix_orders_fulfillment_id", orders.c.fulfillment_status, orders.c.id)
Index("ix_orders_return_id", orders.c.return_status, orders.c.id)  # the admin's return filter
# Customers are found by e-mail whatever its case (every order placed with an e-mail looks its
# customer up): without it PostgreSQL scans the whole table (45 ms at 200,000 customers).
Index("ix_customers_email_lower", func.lower(customers.c.email))
Index(
    "ix_orders_status_fin_ful_id",
    orders.c.order_status,
    orders.c.financial_status,
    orders.c.fulfillment_status,
    orders.c.id,
)
Index("ix_orders_created_at_id", orders.c.created_at, orders.c.id)
Index("ix_orders_updated_at_id", orders.c.updated_at, orders.c.id)
Index("ix_orders_email", orders.c.email)
Index("ix_orders_customer_name", orders.c.customer_name)
Index("ix_orders_source_id", orders.c.source_name, orders.c.id)
# The open-orders badge (S2.2) counts this partial index, never the whole table.
Index(
    "ix_orders_open_unfulfilled",
    orders.c.id,
    sqlite_where=text("order_status = 'open' AND display_fulfillment_status != 'fulfilled'"),
    postgresql_where=text("order_status = 'open' AND display_fulfillment_status != 'fulfilled'"),
)

# Status counts as deltas (see store/counts.py): the count of a filter on statuses is the sum of
# the deltas whose combination it matches.
order_counts = Table(
    "order_counts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_status", String(16), nullable=False),
    Column("closed", Boolean, nullable=False),
    Column("cancelled", Boolean, nullable=False),
    Column("financial_status", String(32), nullable=False),
    Column("fulfillment_status", String(16)),
    Column("display_fulfillment_status", String(32), nullable=False),
    Column("delta", Integer, nullable=False),
)

order_search_terms = Table(
    "order_search_terms",
    metadata,
    Column("order_id", Id, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # tag | sku | tracking | location | name (a word of the customer name)
    Column("term", String(255), nullable=False),
    UniqueConstraint("order_id", "kind", "term"),
)
Index(
    "ix_order_search_terms_lookup", order_search_terms.c.kind, order_search_terms.c.term, order_search_terms.c.order_id
)

timeline_events = Table(
    "timeline_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time),
    Column("verb", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("author_kind", String(16), nullable=False),
    Column("author_name", String(255), nullable=False),
    Column("author_ref", String(64)),
    Column("subject_id", Id),
    Column("arguments", Text, nullable=False),
    Column("is_comment", Boolean, nullable=False, server_default=false()),
)
Index("ix_timeline_events_order_id", timeline_events.c.order_id, timeline_events.c.id)
Index("ix_timeline_events_created_at", timeline_events.c.created_at, timeline_events.c.id)

# Everything that leaves the process goes here first, in the command's own transaction
# (DESIGN.md principle 2); workers deliver it at least once, each message with a stable id.
outbox = Table(
    "outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),  # webhook | notification | automation
    Column("topic", String(96), nullable=False),
    Column("order_id", Id),
    Column("subject_id", Id),
    Column("payload", Text, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("available_at", Time, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("delivered_at", Time),
)
# Per kind: each kind has its own consumer, and a kind nothing consumes yet must not slow the
# others' polling down.
Index(
    "ix_outbox_pending",
    outbox.c.kind,
    outbox.c.available_at,
    sqlite_where=text("delivered_at IS NULL"),
    postgresql_where=text("delivered_at IS NULL"),
)

# Webhooks (Shopify's contract): subscriptions, one delivery per event and subscription, and
# every attempt at it. The worker fans outbox messages out into deliveries (outbox/relay.py)
# and sends them (outbox/webhooks.py).
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("topic", String(96), nullable=False, index=True),
    Column("address", String(2048), nullable=False),
    Column("format", String(8), nullable=False),
    Column("fields", Text),  # JSON list of top-level fields the payload keeps; NULL: all
    Column("api_version", String(16), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    # Deliveries that ended failed in a row; a success resets it. At the limit the
    # subscription is disabled (disabled_at, disabled_reason) and its deliveries wait.
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("disabled_at", Time),
    Column("disabled_reason", Text),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),  # X-Shopify-Webhook-Id, the same on every retry
    Column("subscription_id", Id, nullable=False),
    Column("event_id", String(36), nullable=False),  # the outbox message: X-Shopify-Event-Id
    Column("topic", String(96), nullable=False),
    Column("order_id", Id),
    Column("body", Text, nullable=False),  # exactly what is signed and sent, on every attempt
    Column("triggered_at", Time, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # When a pending delivery is next due. A worker that claims it moves this forward by its
    # lease, so a delivery held by a worker that died becomes due again by itself.
    Column("next_attempt_at", Time, nullable=False),
    Column("delivered_at", Time),
    Column("last_status", Integer),
    Column("last_error", Text),
)
Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.next_attempt_at,
    sqlite_where=text("state = 'pending'"),
    postgresql_where=text("state = 'pending'"),
)
Index("ix_webhook_deliveries_subscription", webhook_deliveries.c.subscription_id, webhook_deliveries.c.created_at)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), nullable=False, index=True),
    Column("attempted_at", Time, nullable=False),
    Column("response_status", Integer),
    Column("latency_ms", Integer, nullable=False),
    Column("result", String(16), nullable=False),  # delivered | retry | failed
    Column("error", Text),
    Column("response_excerpt", Text),
    Column("worker", String(64), nullable=False),
)

# Time-based work (outbox/scheduler.py): one row per job; a worker runs a due job only after
# taking its lease with a compare-and-set UPDATE, so among many workers one runs each job.
scheduled_jobs = Table(
    "scheduled_jobs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("next_run_at", Time, nullable=False),
    Column("leased_until", Time),
    Column("leased_by", String(64)),
    Column("last_started_at", Time),
    Column("last_finished_at", Time),
    Column("last_result", Text),
    Column("last_error", Text),
)

# Automation rules (automation/): the rule as written, and every run of it on an order.
automation_rules = Table(
    "automation_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("trigger_event", String(96), index=True),  # the topic it listens to, if any
    Column("definition", Text, nullable=False),  # JSON: name, enabled, when, if, then
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("scheduled_at", Time),  # a scheduled rule's last pass over the open orders
)

automation_runs = Table(
    "automation_runs",
    metadata,
    # Derived from the triggering event (or schedule slot) and the rule: a trigger handed on
    # twice cannot start a second run.
    Column("id", String(36), primary_key=True),
    Column("rule_id", Id, nullable=False),
    Column("order_id", Id, nullable=False),
    Column("trigger", String(96), nullable=False),
    Column("depth", Integer, nullable=False),  # 0, or one more than the rule run that caused it
    # pending (due at due_at; a worker holding it moves due_at by its lease) | done | skipped | failed
    Column("state", String(16), nullable=False),
    Column("step", Integer, nullable=False),  # the next action to run
    Column("due_at", Time, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("finished_at", Time),
    Column("log", Text, nullable=False),  # JSON list: {action, result, error, at}
    Column("error", Text),
)
Index(
    "ix_automation_runs_due",
    automation_runs.c.due_at,
    sqlite_where=text("state = 'pending'"),
    postgresql_where=text("state = 'pending'"),
)
Index("ix_automation_runs_rule", automation_runs.c.rule_id, automation_runs.c.created_at)

# Merchants' own versions of notification templates, part by part (notify/templates.py);
# parts without a row use the default shipped with Orderdeck.
notification_templates = Table(
    "notification_templates",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("locale", String(8), primary_key=True),
    Column("part", String(8), primary_key=True),  # subject | html | text | sms
    Column("body", Text, nullable=False),
    Column("updated_at", Time, nullable=False),
)

# Order lookups (web/status.py), for rate limits every server process shares: one row per
# attempt, keyed by client address or by order number; rows older than the window are removed.
lookup_attempts = Table(
    "lookup_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(96), nullable=False),
    Column("at", Time, nullable=False),
    Index("ix_lookup_attempts_key_at", "key", "at"),
)

# Merchant-defined stages (S5): names per language, colour, order, whether customers see them
# and whether setting one tells the customer by default.
Index("ix_orders_custom_status_id", orders.c.custom_status, orders.c.id)

custom_statuses = Table(
    "custom_statuses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("handle", String(64), nullable=False, unique=True),
    Column("names", Text, nullable=False),  # JSON {locale: name}; "en" at least
    Column("color", String(7), nullable=False),
    Column("position", Integer, nullable=False),
    Column("customer_visible", Boolean, nullable=False),
    Column("notify", Boolean, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token_hint", String(8), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("revoked_at", Time),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("token_id", Id, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("method", String(8), nullable=False),
    Column("path", String(512), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", Time, nullable=False),
)

# What remains of a deleted order (S9.3): enough for an audit, nothing personal.
deleted_orders = Table(
    "deleted_orders",
    metadata,
    Column("order_id", Id, primary_key=True),
    Column("name", String(32), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("deleted_at", Time, nullable=False),
    Column("deleted_by", String(255), nullable=False),
    Column("source_name", String(64), nullable=False),
    Column("financial_status", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_price", Money, nullable=False),
    Column("test", Boolean, nullable=False),
    Column("cancelled", Boolean, nullable=False),
)

# The admin's people (web/admin): staff accounts, their signed-in sessions, the Orders page's
# saved views and the bulk work they start.
staff = Table(
    "staff",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(255), nullable=False, unique=True),  # stored lower-case
    Column("name", String(255), nullable=False),
    Column("password_hash", String(255), nullable=False),  # argon2id
    Column("owner", Boolean, nullable=False, server_default=false()),
    Column("permissions", Text, nullable=False),  # comma-separated; an owner holds them all
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_at", Time, nullable=False),
    Column("last_login_at", Time),
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the cookie's value
    Column("staff_id", Id, ForeignKey("staff.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("flash", Text),  # the message the next page shows once (JSON)
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
)

saved_views = Table(
    "saved_views",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False, unique=True),
    Column("query", Text, nullable=False),  # the Orders page's query string
    Column("position", Integer, nullable=False),
    Column("created_at", Time, nullable=False),
)

bulk_runs = Table(
    "bulk_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("action", String(40), nullable=False),
    Column("params", Text, nullable=False),  # JSON: what the action needs (tags, tracking, …)
    Column("order_ids", Text, nullable=False),  # JSON list, fixed when the run is asked for
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False, server_default=text("0")),
    Column("succeeded", Integer, nullable=False, server_default=text("0")),
    Column("refused", Text, nullable=False, server_default=text("'[]'")),  # JSON [{order_id, name, reason}]
    Column("state", String(16), nullable=False),  # queued | running | finished | failed
    Column("staff_id", Id),
    Column("staff_name", String(255), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("started_at", Time),
    Column("finished_at", Time),
    Column("error", Text),
    Index("ix_bulk_runs_state_id", "state", "id"),
)

# Returns (issue 13), kept beside the order document they come from (store/returns.py writes
# them with every save of an order that has returns): the admin's Returns list filters and pages
# through `returns`, the reports count `return_lines`. Every return is kept whatever its status;
# reports count only the live ones (requested, open, closed).
returns = Table(
    "returns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("order_id", Id, nullable=False, index=True),
    Column("name", String(48), nullable=False),  # "#1001-R1"
    Column("status", String(16), nullable=False),  # requested | open | declined | closed | canceled
    Column("due", String(16), nullable=False),  # domain.returns.what_is_due: the list's tabs
    Column("total_quantity", Integer, nullable=False),
    Column("exchange", Boolean, nullable=False),  # carries exchange items
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("closed_at", Time),
)
Index("ix_returns_status_id", returns.c.status, returns.c.id)
Index("ix_returns_due_id", returns.c.due, returns.c.id)

return_lines = Table(
    "return_lines",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),  # the return line item's id
    Column("return_id", Id, nullable=False, index=True),
    Column("order_id", Id, nullable=False, index=True),
    Column("status", String(16), nullable=False),  # the return's, so reports leave out dead ones
    Column("line_item_id", Id, nullable=False),
    Column("product_id", Id),
    Column("variant_id", Id),
    Column("title", String(255), nullable=False),
    Column("sku", String(255)),
    Column("reason", String(32), nullable=False),
    Column("quantity", Integer, nullable=False),  # units on the return now (removed ones not)
    Column("created_at", Time, nullable=False),  # the return's: reports group by it
)
Index("ix_return_lines_created_at", return_lines.c.created_at)
Index("ix_return_lines_product_created_at", return_lines.c.product_id, return_lines.c.created_at)
Index("ix_return_lines_reason_created_at", return_lines.c.reason, return_lines.c.created_at)

# Units fulfilled (by active fulfillments) per order line: what the return rate divides by,
# found per order by index like the other reports, never by reading order documents.
fulfilled_units = Table(
    "fulfilled_units",
    metadata,
    Column("order_id", Id, primary_key=True, autoincrement=False),
    Column("line_item_id", Id, primary_key=True, autoincrement=False),
    Column("product_id", Id),
    Column("variant_id", Id),
    Column("title", String(255), nullable=False),
    Column("quantity", Integer, nullable=False),
)

# Draft orders (issue 14): the draft as a JSON document (domain.draft_orders.DraftOrder) beside
# the columns its list filters on. The id is the draft's number: its name is "#D<id>".
draft_orders = Table(
    "draft_orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False),  # open | invoice_sent | completed
    Column("order_id", Id),  # the order completing it placed
    Column("token", String(32), nullable=False, unique=True),  # the invoice page's address
    Column("document", Text, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)
Index("ix_draft_orders_status_id", draft_orders.c.status, draft_orders.c.id)
Index("ix_draft_orders_updated_at", draft_orders.c.updated_at)

# Order edits (issue 14): an edit's staged changes as a JSON document (domain.order_edits.
# OrderEdit); committed and abandoned edits stay as the record of what changed and why.
order_edits = Table(
    "order_edits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, nullable=False),
    Column("status", String(16), nullable=False),  # open | committed | abandoned
    Column("document", Text, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
)
Index("ix_order_edits_order_id", order_edits.c.order_id, order_edits.c.id)

# Fulfillment services (issue 15): 3PL warehouses and dropship suppliers, each fulfilling from a
# location of its own (created with it, deactivated when it is deleted). `owner_token_id` is the
# API token that created it: Shopify's `scope=current_client`.
fulfillment_services = Table(
    "fulfillment_services",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("handle", String(255), nullable=False, unique=True),
    Column("email", String(255)),
    Column("callback_url", String(2000), nullable=False),
    Column("inventory_management", Boolean, nullable=False),
    Column("tracking_support", Boolean, nullable=False),
    Column("fulfillment_orders_opt_in", Boolean, nullable=False),
    Column("permits_sku_sharing", Boolean, nullable=False),
    Column("requires_shipping_method", Boolean, nullable=False),
    Column("format", String(8), nullable=False),
    Column("include_pending_stock", Boolean, nullable=False),
    Column("location_id", Id, ForeignKey("locations.id"), nullable=False, unique=True),
    Column("owner_token_id", Id),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    # When to send fulfillment requests by themselves: null follows the shop's setting
    # (`auto_request_fulfillment`), else "off", "on_payment" or "on_authorization".
    Column("auto_request", String(16)),
    # The last time Orderdeck polled fetch_stock / fetch_tracking_numbers, and the last error.
    Column("stock_synced_at", Time),
    Column("tracking_synced_at", Time),
    Column("sync_error", Text),
    Column("sync_error_at", Time),
)
Index("ix_fulfillment_services_owner_token_id", fulfillment_services.c.owner_token_id, fulfillment_services.c.id)

# Carrier tracking intake (issue 15): aggregators and carriers that call back with shipment
# events, each with the secret their calls are signed with (kept readable: it checks signatures).
tracking_sources = Table(
    "tracking_sources",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # aftership | generic
    Column("name", String(255), nullable=False),
    Column("secret", String(255), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("last_received_at", Time),
)

# Orderdeck's calls to fulfillment services (issue 15): each request or cancellation request
# posted to `{callback_url}/fulfillment_order_notification`, retried with back-off until the
# service answers 2xx. Written by the relay from the outbox, sent by the workers.
service_notifications = Table(
    "service_notifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("service_id", Id, nullable=False),
    Column("order_id", Id, nullable=False),
    Column("fulfillment_order_id", Id, nullable=False),
    Column("kind", String(32), nullable=False),  # fulfillment_request | cancellation_request
    # The merchant request (merchant_requests[].id) this notification announces: a newer request
    # on the same fulfillment order supersedes it.
    Column("request_id", Id),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | acknowledged | abandoned
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Time),
    Column("leased_until", Time),
    Column("leased_by", String(128)),
    Column("created_at", Time, nullable=False),
    Column("last_attempt_at", Time),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("acknowledged_at", Time),
)
Index("ix_service_notifications_due", service_notifications.c.state, service_notifications.c.next_attempt_at)
Index("ix_service_notifications_order", service_notifications.c.order_id)

# Carrier accounts (issue 15): the credentials karrio polls a carrier's tracking API with.
carrier_accounts = Table(
    "carrier_accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("carrier", String(64), nullable=False),  # karrio's carrier_name: dhl_parcel_de, ups, …
    Column("name", String(255), nullable=False),
    Column("credentials", Text, nullable=False),  # JSON, as karrio's settings for the carrier
    Column("test_mode", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    # Shipments already on their way when the account was added or switched on get trackers in
    # batches (services/trackers.catch_up): how far through the shipments (created_at,
    # fulfillment_id) that walk is; null when there is nothing left to catch up.
    Column("catch_up_after_time", Time),
    Column("catch_up_after_id", Id),
)

# Trackers (issue 15): one per tracking number of a fulfillment, polled through karrio on a
# cadence set by its state until delivered, failed or 90 days old.
trackers = Table(
    "trackers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, nullable=False),
    Column("fulfillment_id", Id, nullable=False),
    Column("tracking_number", String(255), nullable=False),
    Column("carrier", String(64), nullable=False),  # karrio's carrier_name
    Column("state", String(16), nullable=False),  # active | delivered | failed | retired | unsupported
    Column("shipment_status", String(32)),
    Column("next_check_at", Time),
    Column("checked_at", Time),
    Column("last_event_at", Time),
    Column("errors", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", Time, nullable=False),
    UniqueConstraint("fulfillment_id", "tracking_number"),
)
Index("ix_trackers_due", trackers.c.state, trackers.c.next_check_at)
Index("ix_trackers_order", trackers.c.order_id)  # an order's trackers, looked up each time it is saved

# Shipments (issue 15, S6.1): one row per fulfillment, written by save_order with the order, so
# the Shipments page and shipments.json list and count a million orders' shipments from here.
shipments = Table(
    "shipments",
    metadata,
    Column("fulfillment_id", Id, primary_key=True, autoincrement=False),
    Column("order_id", Id, nullable=False),
    Column("order_name", String(32), nullable=False),
    Column("customer_name", String(512)),
    Column("email", String(255)),
    Column("location_id", Id),
    Column("service", String(255)),  # the fulfillment service or shipping method
    Column("carrier", String(255)),
    Column("tracking_number", String(255)),
    Column("tracking_url", Text),
    Column("status", String(16), nullable=False),  # the fulfillment's: success | cancelled | …
    Column("shipment_status", String(32)),  # null until the carrier says something
    # The Shipments page's tab (store/shipments.STAGES), and the two times its time-bound tabs
    # range over: when the parcel is late (estimated delivery passed, or a delayed event) and
    # the carrier's last news; both null once delivered, failed or cancelled.
    Column("stage", String(24), nullable=False),
    Column("late_after", Time),
    Column("quiet_since", Time),
    Column("last_event_at", Time),
    Column("last_event_message", Text),
    Column("estimated_delivery_at", Time),
    # When Orderdeck first recorded the parcel delivered (the transit-time report's end).
    Column("delivered_at", Time),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)
Index("ix_shipments_status_id", shipments.c.shipment_status, shipments.c.fulfillment_id)
Index("ix_shipments_stage_id", shipments.c.stage, shipments.c.fulfillment_id)
# Delayed and No news: only parcels under way (partial), and covering the filters, so a tab's
# count under a carrier, location, service or dates reads this index alone, never the rows.
_TAB_FILTERS = (shipments.c.carrier, shipments.c.location_id, shipments.c.service, shipments.c.created_at)
Index(
    "ix_shipments_late",
    shipments.c.late_after,
    *_TAB_FILTERS,
    sqlite_where=text("late_after IS NOT NULL"),
    postgresql_where=text("late_after IS NOT NULL"),
)
Index(
    "ix_shipments_quiet",
    shipments.c.quiet_since,
    *_TAB_FILTERS,
    sqlite_where=text("quiet_since IS NOT NULL"),
    postgresql_where=text("quiet_since IS NOT NULL"),
)
Index("ix_shipments_carrier_id", shipments.c.carrier, shipments.c.fulfillment_id)
Index("ix_shipments_location_id", shipments.c.location_id, shipments.c.fulfillment_id)
Index("ix_shipments_service_id", shipments.c.service, shipments.c.fulfillment_id)
Index("ix_shipments_created_id", shipments.c.created_at, shipments.c.fulfillment_id)
# A filter within a tab (the carrier's parcels in transit, …): its list and the tab counts under
# the filter are one range of these, never a walk of one index checking the other's rows.
Index("ix_shipments_carrier_stage_id", shipments.c.carrier, shipments.c.stage, shipments.c.fulfillment_id)
Index("ix_shipments_location_stage_id", shipments.c.location_id, shipments.c.stage, shipments.c.fulfillment_id)
Index("ix_shipments_service_stage_id", shipments.c.service, shipments.c.stage, shipments.c.fulfillment_id)
Index("ix_shipments_stage_created", shipments.c.stage, shipments.c.created_at)
Index("ix_shipments_order", shipments.c.order_id)
