"""The `orderdeck` command line against a fresh SQLite file (no PostgreSQL, no shared fixtures)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from orderdeck.bootstrap import build
from orderdeck.cli import app
from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import inventory_levels, order_documents, orders

runner = CliRunner()


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("ORDERDECK_DATABASE_URL", f"sqlite:///{path}")
    return path


@pytest.fixture
def deck(db_file: Path) -> Iterator[Orderdeck]:
    """An Orderdeck on the same file the CLI uses, for checking what the commands did."""
    built = build()
    yield built
    built.db.dispose()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def order_count(deck: Orderdeck) -> int:
    with deck.unit_of_work(read_only=True) as uow:
        return uow.conn.execute(select(func.count()).select_from(orders)).scalar_one()


def test_migrate_creates_the_database(db_file: Path) -> None:
    result = invoke("migrate")
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
    assert db_file.exists()


def test_migrate_twice_is_harmless(db_file: Path, deck: Orderdeck) -> None:
    assert invoke("migrate").exit_code == 0
    second = invoke("migrate")
    assert second.exit_code == 0, second.output
    assert order_count(deck) == 0


def test_created_token_authenticates_with_its_scopes(db_file: Path, deck: Orderdeck) -> None:
    assert invoke("migrate").exit_code == 0
    result = invoke("token", "create", "--name", "Warehouse app", "--scopes", "read_orders")
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1].strip()
    with deck.unit_of_work(read_only=True) as uow:
        token = uow.tokens.authenticate(secret)
        assert uow.tokens.authenticate(secret + "x") is None
    assert token is not None
    assert token.name == "Warehouse app"
    assert token.scopes == frozenset({"read_orders"})
    assert token.allows("read_orders")
    assert not token.allows("write_orders")


def test_token_with_an_unknown_scope_fails_with_a_clear_message(db_file: Path, deck: Orderdeck) -> None:
    assert invoke("migrate").exit_code == 0
    result = invoke("token", "create", "--name", "X", "--scopes", "read_orders,read_everything")
    assert result.exit_code != 0
    # The merchant must see which scope is wrong, not a traceback.
    assert "read_everything" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_demo_creates_orders_in_several_statuses_with_consistent_stock(db_file: Path, deck: Orderdeck) -> None:
    result = invoke("demo", "--orders", "60")
    assert result.exit_code == 0, result.output
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(orders.c.financial_status, orders.c.display_fulfillment_status)).all()
        levels = uow.conn.execute(select(inventory_levels)).all()
    assert len(rows) == 60
    assert len({r.financial_status for r in rows}) > 1
    assert len({r.display_fulfillment_status for r in rows}) > 1
    assert levels
    bad = [(lvl.inventory_item_id, lvl.location_id) for lvl in levels if lvl.on_hand != lvl.available + lvl.committed]
    assert bad == []


def test_the_demo_shop_comes_with_the_three_example_rules_once(db_file: Path, deck: Orderdeck) -> None:
    from orderdeck.automation.examples import EXAMPLES
    from orderdeck.store.automation import Rules

    assert invoke("demo", "--orders", "5").exit_code == 0
    assert invoke("demo", "--orders", "5").exit_code == 0
    with deck.unit_of_work(read_only=True) as uow:
        rules = Rules(uow.conn).list()
    assert [r.name for r in rules] == [e["name"] for e in EXAMPLES]
    assert all(r.enabled for r in rules)


def test_demo_if_empty_adds_nothing_to_a_shop_with_orders(db_file: Path, deck: Orderdeck) -> None:
    assert invoke("demo", "--orders", "5").exit_code == 0
    before = order_count(deck)
    result = invoke("demo", "--orders", "10", "--if-empty")
    assert result.exit_code == 0, result.output
    assert order_count(deck) == before == 5


def test_demo_if_empty_fills_an_empty_shop(db_file: Path, deck: Orderdeck) -> None:
    assert invoke("migrate").exit_code == 0
    result = invoke("demo", "--orders", "3", "--if-empty")
    assert result.exit_code == 0, result.output
    assert order_count(deck) == 3


def _count_in(output: str) -> int:
    found = re.search(r"(\d+) order\(s\) changed", output)
    assert found, output
    return int(found.group(1))


def test_expire_authorizations_runs_and_prints_a_count(db_file: Path) -> None:
    assert invoke("demo", "--orders", "20").exit_code == 0
    result = invoke("expire-authorizations")
    assert result.exit_code == 0, result.output
    assert _count_in(result.output) >= 0


def test_auto_archive_runs_prints_a_count_and_leaves_nothing_to_archive(db_file: Path, deck: Orderdeck) -> None:
    assert invoke("demo", "--orders", "30").exit_code == 0
    first = invoke("auto-archive")
    assert first.exit_code == 0, first.output
    assert _count_in(first.output) >= 0
    again = invoke("auto-archive")
    assert again.exit_code == 0, again.output
    assert _count_in(again.output) == 0


def test_open_scheduled_runs_and_prints_a_count(db_file: Path) -> None:
    assert invoke("migrate").exit_code == 0
    result = invoke("open-scheduled")
    assert result.exit_code == 0, result.output
    assert _count_in(result.output) == 0


def test_rerender_stores_renderings_made_with_the_new_public_url(
    db_file: Path, deck: Orderdeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("demo", "--orders", "12").exit_code == 0
    monkeypatch.setenv("ORDERDECK_PUBLIC_URL", "https://shop.example.com")
    result = invoke("rerender")
    assert result.exit_code == 0, result.output
    assert "12 order(s) rendered afresh" in result.output
    with deck.unit_of_work(read_only=True) as uow:
        stored = uow.conn.execute(select(order_documents.c.rendered)).scalars().all()
    assert all('"order_status_url":"https://shop.example.com/orders/status/' in r for r in stored)
    # Nothing is stale any more, so a second run has nothing to do.
    assert "0 order(s) rendered afresh" in invoke("rerender").output


def _sign_in(deck: Orderdeck, email: str, password: str) -> bool:
    from orderdeck.services.staff import sign_in

    return sign_in(deck, email, password) is not None


def test_staff_create_makes_an_owner_who_can_sign_in(db_file: Path, deck: Orderdeck) -> None:
    assert invoke("migrate").exit_code == 0
    result = invoke("staff", "create", "--email", "Boss@Shop.test", "--password", "a long passphrase", "--owner")
    assert result.exit_code == 0, result.output
    assert "boss@shop.test" in result.output and "owner" in result.output
    assert _sign_in(deck, "boss@shop.test", "a long passphrase")
    assert not _sign_in(deck, "boss@shop.test", "a wrong passphrase")
    listed = invoke("staff", "list")
    assert "boss@shop.test" in listed.output and "owner" in listed.output


def test_staff_create_refuses_a_short_password_and_a_taken_address(db_file: Path, deck: Orderdeck) -> None:
    assert invoke("migrate").exit_code == 0
    short = invoke("staff", "create", "--email", "a@shop.test", "--password", "short")
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    assert invoke("staff", "create", "--email", "a@shop.test", "--password", "long enough!").exit_code == 0
    again = invoke("staff", "create", "--email", "a@shop.test", "--password", "long enough!")
    assert again.exit_code != 0 and "already has an account" in again.output


def test_staff_password_sets_a_new_one(db_file: Path, deck: Orderdeck) -> None:
    assert invoke("migrate").exit_code == 0
    invoke("staff", "create", "--email", "a@shop.test", "--password", "first password", "--owner")
    result = runner.invoke(
        app, ["staff", "password", "--email", "a@shop.test"], input="second password\nsecond password\n"
    )
    assert result.exit_code == 0, result.output
    assert _sign_in(deck, "a@shop.test", "second password")
    assert not _sign_in(deck, "a@shop.test", "first password")


def test_the_demo_prints_its_owners_login_once(db_file: Path, deck: Orderdeck) -> None:
    first = invoke("demo", "--orders", "3")
    assert first.exit_code == 0, first.output
    found = re.search(r"e-mail (\S+)\s+password (\S+)", first.output)
    assert found, first.output
    assert "/admin" in first.output
    assert _sign_in(deck, found.group(1), found.group(2))
    second = invoke("demo", "--orders", "3", "--if-empty")
    assert "password" not in second.output  # the account exists; its password is not shown again


def test_the_demo_shop_shows_returns_in_every_state(db_file: Path, deck: Orderdeck) -> None:
    """A new user sees the Returns list and the return badges filled: returns asked for, declined,
    waiting for the parcel, received (one with an exchange) and refunded, made by the return
    commands, with the fulfilled units the return rate counts against."""
    from sqlalchemy import func, select

    from orderdeck.store.tables import fulfilled_units, returns

    assert invoke("demo", "--orders", "400").exit_code == 0
    with deck.unit_of_work(read_only=True) as uow:
        states = {(r.status, r.due) for r in uow.conn.execute(select(returns.c.status, returns.c.due))}
        exchanges = uow.conn.execute(select(func.count()).where(returns.c.exchange.is_(True))).scalar_one()
        units = uow.conn.execute(select(func.sum(fulfilled_units.c.quantity))).scalar_one()
    assert {
        ("requested", "to_approve"),
        ("declined", "nothing"),
        ("open", "awaiting_parcel"),
        ("open", "to_refund"),
        ("closed", "nothing"),
    } <= states
    assert exchanges >= 1
    assert units and units > 0
