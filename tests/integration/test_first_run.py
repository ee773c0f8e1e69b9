"""A newcomer's first day: `orderdeck migrate` only migrates, `orderdeck init` makes a real shop
that takes orders at once (first location from the shop's address, owner, API token), a second
init is refused, and the shop's name, time zone, language and (until the first order) currency
change later. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from orderdeck import cli
from orderdeck.bootstrap import build
from orderdeck.services.context import Orderdeck
from orderdeck.services.staff import sign_in
from orderdeck.settings import Settings
from orderdeck.store.tables import api_tokens, locations, shop, staff
from tests.admin.conftest import AdminClient
from tests.conftest import BASE, Api, app_for

runner = CliRunner()
FULL = [
    "init",
    "--name",
    "Hudson Goods",
    "--currency",
    "usd",
    "--timezone",
    "America/New_York",
    "--language",
    "en",
    "--address1",
    "350 Fifth Avenue",
    "--city",
    "New York",
    "--zip",
    "10118",
    "--province",
    "New York",
    "--province-code",
    "NY",
    "--country",
    "US",
    "--owner-email",
    "Jo@Hudson.test",
]


@pytest.fixture
def bare(deck: Orderdeck, monkeypatch: pytest.MonkeyPatch) -> Orderdeck:
    """A migrated database without a shop (as `orderdeck migrate` leaves it), the command line
    pointed at it. The next test's PostgreSQL fixture makes the tests' shop again."""
    with deck.unit_of_work() as uow:
        uow.conn.execute(delete(shop))
        uow.commit()
    monkeypatch.setenv("ORDERDECK_DATABASE_URL", deck.db.url)
    monkeypatch.setenv("ORDERDECK_PUBLIC_URL", "http://shop.test")
    return deck


def invoke(*args: str, **kwargs: Any) -> Any:
    return runner.invoke(cli.app, list(args), **kwargs)


def _count(deck: Orderdeck, table: Any) -> int:
    with deck.unit_of_work(read_only=True) as uow:
        return int(uow.conn.execute(select(func.count()).select_from(table)).scalar_one())


def _printed(output: str) -> tuple[str, str]:
    login = re.search(r"e-mail (\S+)\s+password (\S+)", output)
    token = re.search(r"API token \(shown once\): (\S+)", output)
    assert login and token, output
    return login.group(2), token.group(1)


# ---- migrate ---------------------------------------------------------------------------------
def test_migrate_makes_no_shop_and_says_how_to_make_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERDECK_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    result = invoke("migrate")
    assert result.exit_code == 0, result.output
    assert "No shop yet" in result.output and "init" in result.output and "demo" in result.output
    deck = build(Settings(database_url=f"sqlite:///{tmp_path / 'new.db'}"))
    try:
        assert _count(deck, shop) == 0
    finally:
        deck.db.dispose()


def test_migrate_refuses_the_shop_options_it_used_to_ignore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERDECK_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    result = invoke("migrate", "--shop-name", "Mine", "--currency", "USD")
    assert result.exit_code == 2
    assert "orderdeck init" in result.output and "/admin/settings/shop" in result.output
    assert not (tmp_path / "new.db").exists()  # refused before touching anything


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["worker", "--no-jobs"]])
def test_serve_and_worker_without_a_shop_say_to_run_init(bare: Orderdeck, command: list[str]) -> None:
    result = invoke(*command)
    assert result.exit_code == 3, result.output
    assert "orderdeck init" in result.output


def test_the_api_without_a_shop_answers_503_saying_what_to_do(bare: Orderdeck) -> None:
    with bare.unit_of_work() as uow:
        _, token = uow.tokens.create("t", frozenset({"read_orders"}), uow.now)
        uow.commit()
    with TestClient(app_for(bare), raise_server_exceptions=False) as client:
        answer = client.get(BASE + "/shop.json", headers={"X-Shopify-Access-Token": token})
    assert answer.status_code == 503
    assert "orderdeck init" in answer.json()["errors"]


# ---- init ------------------------------------------------------------------------------------
def test_init_makes_a_shop_that_takes_orders_at_once(bare: Orderdeck) -> None:
    result = invoke(*FULL)
    assert result.exit_code == 0, result.output
    password, token = _printed(result.output)
    assert "http://shop.test/admin" in result.output
    assert sign_in(bare, "jo@hudson.test", password) is not None
    with bare.unit_of_work(read_only=True) as uow:
        made = uow.shop
        owner = uow.staff.by_email("jo@hudson.test")
    assert (made.name, made.currency, made.timezone, made.primary_locale) == (
        "Hudson Goods",
        "USD",
        "America/New_York",
        "en",
    )
    assert made.email == "jo@hudson.test"
    assert owner is not None and owner[0].owner

    with TestClient(app_for(bare), raise_server_exceptions=False) as client:
        api = Api(client, token)
        (location,) = api.ok(api.get("/locations.json"))["locations"]
        assert location["name"] == "Shop location"
        assert (location["address1"], location["city"], location["zip"]) == ("350 Fifth Avenue", "New York", "10118")
        assert (location["province_code"], location["country_code"]) == ("NY", "US")
        assert location["country_name"] == "United States"
        order = api.ok(
            api.post("/orders.json", {"order": {"line_items": [{"title": "Tote", "price": "12.00", "quantity": 1}]}})
        )["order"]
        assert order["currency"] == "USD" and order["name"] == "#1001"
        assert order["created_at"].endswith(("-05:00", "-04:00"))  # New York time


def test_a_second_init_is_refused_and_points_to_the_settings(bare: Orderdeck) -> None:
    assert invoke(*FULL).exit_code == 0
    tokens = _count(bare, api_tokens)
    again = invoke(*[a if a != "Hudson Goods" else "Other name" for a in FULL])
    assert again.exit_code == 1
    assert "set up already" in again.output and "/admin/settings/shop" in again.output
    assert "Hudson Goods" in again.output and "Nothing was changed" in again.output
    with bare.unit_of_work(read_only=True) as uow:
        assert uow.shop.name == "Hudson Goods"
    assert _count(bare, api_tokens) == tokens and _count(bare, staff) == 1 and _count(bare, locations) == 1


def test_init_without_a_terminal_names_what_is_missing(bare: Orderdeck) -> None:
    result = invoke("init", "--name", "Half a shop", "--city", "Utrecht")
    assert result.exit_code == 2
    for option in ("--currency", "--timezone", "--address1", "--country", "--owner-email"):
        assert option in result.output
    assert "--name" not in result.output.split("Missing", 1)[1].split(".")[0]
    assert "in a terminal" in result.output
    assert _count(bare, shop) == 0


def test_init_asks_for_what_is_missing_in_a_terminal(bare: Orderdeck, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    answers = "\n".join(["EUR", "Europe/Amsterdam", "nl", "Oudegracht 1", "3511 AA", "NL", "anna@winkel.test"])
    result = invoke("init", "--name", "Winkel", "--city", "Utrecht", input=answers + "\n")
    assert result.exit_code == 0, result.output
    assert "Currency" in result.output and "Time zone" in result.output
    with bare.unit_of_work(read_only=True) as uow:
        made = uow.shop
        (place,) = uow.catalog.locations()
    assert (made.name, made.currency, made.timezone, made.primary_locale) == ("Winkel", "EUR", "Europe/Amsterdam", "nl")
    assert (place.address1, place.city, place.zip, place.country_code) == ("Oudegracht 1", "Utrecht", "3511 AA", "NL")


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--currency", "EURO", "--currency: 'EURO' is not an ISO 4217 currency code"),
        ("--timezone", "Mars/Olympus", "--timezone: 'Mars/Olympus' is not an IANA time zone"),
        ("--language", "tlh", "--language: 'tlh' is not one of the languages"),
        ("--country", "ZZ", "--country: 'ZZ' is not a two-letter country code"),
        ("--owner-email", "jo", "--owner-email: 'jo' is not an e-mail address"),
        ("--name", "  ", "--name: can't be blank"),
        ("--zip", "1" * 40, "--zip: must be at most 32 characters"),
    ],
)
def test_init_refuses_a_wrong_value_and_creates_nothing(bare: Orderdeck, option: str, value: str, said: str) -> None:
    args = list(FULL)
    args[args.index(option) + 1] = value
    result = invoke(*args)
    assert result.exit_code == 2
    assert said in " ".join(result.output.split()), result.output
    assert "Nothing was created" in result.output
    assert (_count(bare, shop), _count(bare, staff), _count(bare, locations), _count(bare, api_tokens)) == (0, 0, 0, 0)


def test_init_keeps_an_owner_made_before_it(bare: Orderdeck) -> None:
    assert (
        invoke("staff", "create", "--email", "jo@hudson.test", "--password", "a long passphrase", "--owner").exit_code
        == 0
    )
    result = invoke(*FULL)
    assert result.exit_code == 0, result.output
    assert "your existing password" in result.output
    assert sign_in(bare, "jo@hudson.test", "a long passphrase") is not None


# ---- changing the shop later -------------------------------------------------------------------
def test_name_time_zone_and_language_change_through_the_api(api: Api) -> None:
    answer = api.ok(
        api.put(
            "/shop/settings.json",
            {"settings": {"name": "Studio Vaas", "iana_timezone": "Europe/Helsinki", "primary_locale": "fi"}},
        )
    )
    assert answer["settings"]["name"] == "Studio Vaas" and answer["settings"]["primary_locale"] == "fi"
    shown = api.ok(api.get("/shop.json"))["shop"]
    assert (shown["name"], shown["iana_timezone"], shown["primary_locale"]) == ("Studio Vaas", "Europe/Helsinki", "fi")


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("iana_timezone", "Europe/Atlantis", "is not an IANA time zone"),
        ("primary_locale", "xx", "is not one of the languages"),
        ("name", "", "can't be blank"),
        ("currency", "EURO", "is not an ISO 4217 currency code"),
    ],
)
def test_a_wrong_shop_value_is_refused_and_nothing_changes(api: Api, field: str, value: str, said: str) -> None:
    answer = api.put("/shop/settings.json", {"settings": {"capture_mode": "checkout", "name": "Renamed", field: value}})
    assert answer.status_code == 422
    assert said in answer.json()["errors"][field][0]
    shown = api.ok(api.get("/shop.json"))["shop"]
    assert shown["name"] == "Orderdeck demo shop" and shown["settings"]["capture_mode"] == "manual"


def test_the_currency_changes_only_while_the_shop_has_no_orders(api: Api) -> None:
    assert api.ok(api.put("/shop/settings.json", {"settings": {"currency": "usd"}}))["settings"]["currency"] == "USD"
    api.ok(api.post("/locations.json", {"location": {"name": "Depot", "country_code": "US"}}))
    api.ok(api.post("/orders.json", {"order": {"line_items": [{"title": "Mug", "price": "5.00", "quantity": 1}]}}))
    refused = api.put("/shop/settings.json", {"settings": {"currency": "EUR", "name": "Renamed"}})
    assert refused.status_code == 422
    assert "cannot change once the shop has orders" in refused.json()["errors"]["currency"][0]
    shown = api.ok(api.get("/shop.json"))["shop"]
    assert (shown["currency"], shown["name"]) == ("USD", "Orderdeck demo shop")
    # The same currency again is no change, so it is not refused.
    assert api.ok(api.put("/shop/settings.json", {"settings": {"currency": "USD", "name": "Renamed"}}))


def test_the_admin_changes_name_time_zone_and_language(deck: Orderdeck, api: Api, admin_app: TestClient) -> None:
    from tests.admin.conftest import OWNER_EMAIL, make_staff

    make_staff(deck, OWNER_EMAIL, owner=True)
    owner = AdminClient(admin_app)
    assert owner.sign_in(OWNER_EMAIL).status_code == 303
    page = owner.page("/admin/settings/shop")
    assert 'name="currency"' in page.text and 'value="Europe/Amsterdam"' in page.text
    form = {
        "name": "Studio Vaas",
        "iana_timezone": "America/Chicago",
        "primary_locale": "de",
        "currency": "GBP",
        "capture_mode": "manual",
        "authorization_period_days": "7",
        "stuck_after_days": "5",
        "retention_days": "30",
        "self_service_window_minutes": "150",
    }
    saved = owner.flash(owner.post("/admin/settings/shop", form))
    assert saved.startswith("success: Shop settings saved. Times are now shown in America/Chicago")
    assert "orderdeck rerender" in saved
    assert owner.flash(owner.post("/admin/settings/shop", form)) == "success: Shop settings saved."  # same zone
    shown = api.ok(api.get("/shop.json"))["shop"]
    assert (shown["name"], shown["iana_timezone"], shown["primary_locale"], shown["currency"]) == (
        "Studio Vaas",
        "America/Chicago",
        "de",
        "GBP",
    )
    wrong = owner.post("/admin/settings/shop", {**form, "iana_timezone": "Chicago"})
    assert wrong.status_code == 422 and "is not an IANA time zone" in wrong.text
    assert 'value="Chicago"' in wrong.text  # what was typed, to correct

    # With an order, the currency is shown but cannot be changed, and a forged change is refused.
    api.ok(api.post("/locations.json", {"location": {"name": "Depot"}}))
    api.ok(api.post("/orders.json", {"order": {"line_items": [{"title": "Mug", "price": "5.00", "quantity": 1}]}}))
    page = owner.page("/admin/settings/shop")
    assert 'name="currency"' not in page.text and "Fixed: the shop has orders" in page.text
    forged = owner.post("/admin/settings/shop", {**form, "currency": "EUR"})
    assert forged.status_code == 422 and "cannot change once the shop has orders" in forged.text
    assert api.ok(api.get("/shop.json"))["shop"]["currency"] == "GBP"


@pytest.fixture
def admin_app(deck: Orderdeck) -> Iterator[TestClient]:
    with TestClient(app_for(deck), raise_server_exceptions=False, base_url="http://shop.test") as client:
        yield client


# ---- the demo and the command's name -----------------------------------------------------------
def test_the_demo_never_adds_made_up_orders_to_a_shop_made_by_init(bare: Orderdeck) -> None:
    from orderdeck.store.tables import orders

    assert invoke(*FULL).exit_code == 0
    quick = invoke("demo", "--orders", "3", "--if-empty")  # what scripts/quickstart runs
    assert quick.exit_code == 0 and "not the demo shop" in quick.output
    asked = invoke("demo", "--orders", "3")
    assert asked.exit_code == 1 and "Hudson Goods" in asked.output
    assert _count(bare, orders) == 0 and _count(bare, locations) == 1


def test_what_init_prints_calls_the_command_by_the_path_it_was_run_by(
    bare: Orderdeck, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After the quick start `orderdeck` is not on PATH: the next steps say .venv/bin/orderdeck.
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "orderdeck").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr("sys.argv", [str(venv / "orderdeck"), "init"])
    result = invoke(*FULL)
    assert result.exit_code == 0, result.output
    assert "Start it with .venv/bin/orderdeck serve" in result.output
    assert ".venv/bin/orderdeck staff password" in " ".join(result.output.split())


def test_the_readme_and_the_quick_start_say_how_to_reach_the_command() -> None:
    root = Path(__file__).parents[2]
    script = (root / "scripts" / "quickstart").read_text()
    readme = (root / "README.md").read_text()
    assert "ORDERDECK=.venv/bin/orderdeck" in script
    # Every command it runs or tells about is called by its path (through $ORDERDECK).
    said = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    called = re.findall(r"(\S*?)(orderdeck) (demo|token|serve|init|staff)\b", said, re.IGNORECASE)
    assert len(called) >= 5 and all(b.endswith("$") and name == "ORDERDECK" for b, name, _ in called), called
    assert ". .venv/bin/activate" in script
    for section in ("## Quick start", "## Command line"):
        text = readme.split(section, 1)[1].split("\n## ", 1)[0]
        assert ".venv/bin/orderdeck" in text and ". .venv/bin/activate" in text, section
    assert "orderdeck init" in readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]


# ---- locations name their country -----------------------------------------------------------
def test_a_location_names_its_country_and_refuses_a_code_that_is_none(api: Api) -> None:
    made = api.ok(api.post("/locations.json", {"location": {"name": "Kassel", "country_code": "de"}}))["location"]
    assert (made["country_code"], made["country_name"], made["localized_country_name"]) == ("DE", "Germany", "Germany")
    assert api.ok(api.get(f"/locations/{made['id']}.json"))["location"]["country_name"] == "Germany"
    for wrong in ("XX", "ZZ", "12"):
        refused = api.post("/locations.json", {"location": {"name": f"Nowhere {wrong}", "country_code": wrong}})
        assert refused.status_code == 422
        assert "is not a two-letter country code" in refused.json()["errors"]["country_code"][0]
    changed = api.put(f"/locations/{made['id']}.json", {"location": {"country_code": "QO"}})
    assert changed.status_code == 422
    assert [loc["country_code"] for loc in api.ok(api.get("/locations.json"))["locations"]] == ["DE"]
