"""Shop settings, webhooks, automation rules and notification templates have scopes of their
own: a token with the order scopes (and every other Shopify scope) reaches none of them, and a
token with their scope does. The CLI's default token holds every scope; a stored token made
with the former default gets the new scopes when migrating, a narrower one does not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, select
from typer.testing import CliRunner

from orderdeck.cli import ALL_SCOPES
from orderdeck.services.context import Orderdeck
from orderdeck.store.access import SCOPES, parse_scopes
from orderdeck.store.migrate import alembic_config
from orderdeck.store.tables import api_tokens

from ..conftest import BASE, Api, Shop, make_token

OWN = {
    "settings": ("read_settings", "write_settings"),
    "webhooks": ("read_webhooks", "write_webhooks"),
    "rules": ("read_automation_rules", "write_automation_rules"),
    "templates": ("read_notification_templates", "write_notification_templates"),
}
NEW = {scope for pair in OWN.values() for scope in pair}
RULE = {
    "automation_rule": {
        "name": "Tag big orders",
        "enabled": True,
        "when": {"event": "orders/create"},
        "if": {"all": [{"field": "total_price", "op": "gt", "value": 1000}]},
        "then": [{"action": "hold_fulfillment", "reason": "high_risk_of_fraud"}],
    }
}

# (what, method, path, body, the scope it needs)
CALLS: list[tuple[str, str, str, Any, str]] = [
    ("settings", "PUT", "/shop/settings.json", {"settings": {"smtp_url": "smtp://evil.test:25"}}, "write_settings"),
    ("webhooks", "GET", "/webhooks.json", None, "read_webhooks"),
    ("webhooks", "GET", "/webhooks/count.json", None, "read_webhooks"),
    (
        "webhooks",
        "POST",
        "/webhooks.json",
        {"webhook": {"topic": "orders/create", "address": "https://hooks.example.com/x"}},
        "write_webhooks",
    ),
    ("rules", "GET", "/automation_rules.json", None, "read_automation_rules"),
    ("rules", "POST", "/automation_rules.json", RULE, "write_automation_rules"),
    ("templates", "GET", "/notification_templates.json", None, "read_notification_templates"),
    ("templates", "GET", "/notification_templates/order_confirmation/en.json", None, "read_notification_templates"),
    (
        "templates",
        "PUT",
        "/notification_templates/order_confirmation/en.json",
        {"notification_template": {"subject": "Pay to IBAN XX"}},
        "write_notification_templates",
    ),
    ("templates", "DELETE", "/notification_templates/order_confirmation/en.json", None, "write_notification_templates"),
]


def call(api: Api, token: str, method: str, path: str, body: Any) -> Any:
    return api.client.request(
        method, BASE + path, json=body, headers={"X-Shopify-Access-Token": token} if token else {}
    )


@pytest.fixture
def order_scopes_only(deck: Orderdeck) -> str:
    """Every scope but the new ones: what an order app (or a leaked order token) holds."""
    return make_token(deck, [s for s in SCOPES if s not in NEW], name="Order app")


@pytest.mark.parametrize("what,method,path,body,needed", CALLS, ids=[f"{c[1]} {c[2]}" for c in CALLS])
def test_the_order_scopes_do_not_reach_settings_webhooks_rules_or_templates(
    deck: Orderdeck, api: Api, order_scopes_only: str, what: str, method: str, path: str, body: Any, needed: str
) -> None:
    refused = call(api, order_scopes_only, method, path, body)
    assert refused.status_code == 403, refused.text
    assert refused.json() == {"errors": f"[API] This action requires merchant approval for {needed} scope."}
    allowed = call(api, make_token(deck, list(OWN[what]), name=what), method, path, body)
    assert allowed.status_code in (200, 201), allowed.text


def test_a_refused_settings_change_changes_nothing(api: Api, order_scopes_only: str) -> None:
    before = api.ok(api.get("/shop.json"))["shop"]["settings"]
    body = {"settings": {"smtp_url": "smtp://evil.test:25", "staff_email": "evil@evil.test"}}
    assert call(api, order_scopes_only, "PUT", "/shop/settings.json", body).status_code == 403
    assert api.ok(api.get("/shop.json"))["shop"]["settings"] == before


def test_shop_json_shows_the_settings_only_to_a_token_that_may_read_them(deck: Orderdeck, api: Api) -> None:
    reader = make_token(deck, ["read_orders"])
    shop = call(api, reader, "GET", "/shop.json", None).json()["shop"]
    assert "settings" not in shop and shop["currency"]
    both = make_token(deck, ["read_orders", "read_settings"])
    assert "staff_email" in call(api, both, "GET", "/shop.json", None).json()["shop"]["settings"]


def test_a_webhook_subscriptions_delivery_log_needs_read_webhooks(
    deck: Orderdeck, api: Api, order_scopes_only: str
) -> None:
    hook = api.ok(
        api.post("/webhooks.json", {"webhook": {"topic": "orders/create", "address": "https://hooks.example.com/x"}})
    )["webhook"]
    for path in (f"/webhooks/{hook['id']}.json", f"/webhooks/{hook['id']}/deliveries.json"):
        answer = call(api, order_scopes_only, "GET", path, None)
        assert answer.status_code == 403 and "read_webhooks" in answer.text
    for path in (f"/webhooks/{hook['id']}/disable.json", f"/webhooks/{hook['id']}/redeliver.json"):
        assert call(api, order_scopes_only, "POST", path, {}).status_code == 403
    assert call(api, order_scopes_only, "DELETE", f"/webhooks/{hook['id']}.json", None).status_code == 403
    assert api.ok(api.get(f"/webhooks/{hook['id']}.json"))["webhook"]["address"] == "https://hooks.example.com/x"


def test_rendering_a_template_against_a_real_order_needs_read_orders_too(deck: Orderdeck, api: Api, shop: Shop) -> None:
    product = shop.product("MUG", "12.50", stock={shop.location(): 5})
    order = shop.order([{"variant_id": product, "quantity": 1}], email="ann@example.com")
    templates_only = make_token(deck, ["write_notification_templates"])
    path = "/notification_templates/order_confirmation/en/preview.json"
    assert call(api, templates_only, "POST", path, {}).status_code == 200  # the sample order
    refused = call(api, templates_only, "POST", path, {"order_id": order["id"]})
    assert refused.status_code == 403 and "read_orders" in refused.text
    test_send = "/notification_templates/order_confirmation/en/test.json"
    assert call(api, templates_only, "POST", test_send, {"order_id": order["id"]}).status_code == 403
    both = make_token(deck, ["write_notification_templates", "read_orders"])
    assert call(api, both, "POST", path, {"order_id": order["id"]}).status_code == 200


def test_a_rules_dry_run_names_orders_so_it_needs_read_orders_too(deck: Orderdeck, api: Api) -> None:
    rules_only = make_token(deck, ["read_automation_rules"])
    refused = call(api, rules_only, "POST", "/automation_rules/dry_run.json", RULE)
    assert refused.status_code == 403 and "read_orders" in refused.text
    both = make_token(deck, ["read_automation_rules", "read_orders"])
    assert call(api, both, "POST", "/automation_rules/dry_run.json", RULE).status_code == 200


def test_writing_to_one_orders_customer_stays_an_order_action(deck: Orderdeck, api: Api, shop: Shop) -> None:
    product = shop.product("MUG", "12.50", stock={shop.location(): 5})
    order = shop.order([{"variant_id": product, "quantity": 1}], email="ann@example.com")
    writer = make_token(deck, ["write_orders"])
    body = {"message": {"subject": "Hello", "body": "Your mug ships today"}}
    assert call(api, writer, "POST", f"/orders/{order['id']}/messages.json", body).status_code == 202


def test_the_cli_token_and_the_quick_start_get_every_scope() -> None:
    assert parse_scopes(ALL_SCOPES) == frozenset(SCOPES)


def test_migrating_gives_the_new_scopes_to_former_everything_tokens_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0013")
    former_default = (
        "read_orders,write_orders,read_merchant_managed_fulfillment_orders,write_merchant_managed_fulfillment_orders,"
        "read_fulfillments,write_fulfillments,read_inventory,write_inventory,read_locations,write_locations,"
        "read_products,write_products,read_customers"
    )
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for name, scopes in (("Quick start", former_default), ("Warehouse", "read_orders,write_orders")):
            conn.execute(
                insert(api_tokens).values(
                    name=name, token_hash=name * 3, token_hint="abcd", scopes=scopes, created_at=now
                )
            )
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as conn:
        held = {row.name: set(row.scopes.split(",")) for row in conn.execute(select(api_tokens))}
    engine.dispose()
    assert held["Quick start"] == set(former_default.split(",")) | NEW
    assert held["Warehouse"] == {"read_orders", "write_orders"}


def test_the_cli_default_scopes_command_creates_a_token_that_reaches_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orderdeck.bootstrap import build
    from orderdeck.cli import app

    monkeypatch.setenv("ORDERDECK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    created = runner.invoke(app, ["token", "create", "--name", "Owner"])
    assert created.exit_code == 0, created.output
    deck = build()
    with deck.unit_of_work(read_only=True) as uow:
        token = uow.tokens.authenticate(created.output.strip())
    deck.db.dispose()
    assert token is not None and token.scopes == frozenset(SCOPES)
