"""Reads from a read replica (ORDERDECK_READ_DATABASE_URL) with read-your-writes (api/replica.py).

Two replicas: the test server itself under a second URL (always; its own engine, so which one a
read went to shows), with the replica's replay position replaced where a test needs a replica
that lags; and, when ORDERDECK_TEST_REPLICA_URL names a streaming standby of the test server
(scripts/replica.sh starts one on port 5433), that standby, with its replay paused so that it
really lags.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from orderdeck.api import replica
from orderdeck.bootstrap import build
from orderdeck.services.context import Orderdeck
from orderdeck.settings import Settings

from ..admin.conftest import OWNER_EMAIL, AdminClient, make_staff
from ..conftest import LOCAL, Api, Clock, Shop, _empty_postgres, app_for

pytestmark = pytest.mark.postgres
STANDBY = os.environ.get("ORDERDECK_TEST_REPLICA_URL")  # a standby of the test server, if one runs
LINE = [{"title": "Mug", "price": "12.50", "quantity": 1}]


NO_STANDBY = pytest.mark.skipif(not STANDBY, reason="no standby: set ORDERDECK_TEST_REPLICA_URL")


@pytest.fixture(params=["same server", pytest.param("standby", marks=NO_STANDBY)])
def replica_url(request: pytest.FixtureRequest, postgres_url: str) -> str:
    if request.param == "same server":
        return postgres_url
    standby = make_url(str(STANDBY))
    return make_url(postgres_url).set(host=standby.host, port=standby.port).render_as_string(hide_password=False)


@pytest.fixture
def deck(postgres_url: str, replica_url: str, clock: Clock) -> Iterator[Orderdeck]:
    """The suite's deck (overridden here): PostgreSQL with a read replica."""
    _empty_postgres(postgres_url)
    settings = Settings(
        database_url=postgres_url,
        read_database_url=replica_url,
        public_url="http://shop.test",
        allow_private_addresses=LOCAL,
    )
    built = build(settings, clock=clock)
    yield built
    built.db.dispose()


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


class Reads:
    """Which engine each SELECT of an order's rows (its narrow row or its document row) went to."""

    def __init__(self, deck: Orderdeck) -> None:
        self.seen: list[str] = []
        self._listeners: list[tuple[Any, Callable[..., None]]] = []
        for name, engine in (("primary", deck.db.writer), ("replica", deck.db.reader)):
            self._listen(name, engine)

    def _listen(self, name: str, engine: Any) -> None:
        def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            reads_an_order = re.search(r"\bFROM (orders|order_documents)\b", statement)
            if reads_an_order and statement.lstrip().upper().startswith("SELECT"):
                self.seen.append(name)

        event.listen(engine, "before_cursor_execute", seen)
        self._listeners.append((engine, seen))

    def __enter__(self) -> Reads:
        return self

    def __exit__(self, *_: Any) -> None:
        for engine, seen in self._listeners:
            event.remove(engine, "before_cursor_execute", seen)

    @property
    def where(self) -> set[str]:
        return set(self.seen)


def replica_behind(monkeypatch: pytest.MonkeyPatch, looks_behind: int | None = None) -> list[int]:
    """Make the replica report a replay position behind every write (for `looks_behind` looks,
    then its real one; None: for ever). Returns the list of looks, one entry each."""
    real = replica.replica_position
    looks: list[int] = []

    def position(db: Any) -> int | None:
        looks.append(1)
        if looks_behind is None or len(looks) <= looks_behind:
            return 0
        return real(db)

    monkeypatch.setattr(replica, "replica_position", position)
    monkeypatch.setattr(replica, "WAIT", 0.05)
    return looks


def test_lists_counts_and_orders_are_read_from_the_replica(deck: Orderdeck, api: Api, shop: Shop) -> None:
    placed = shop.order(LINE)
    with Reads(deck) as reads:
        listed = api.ok(api.get("/orders.json"))["orders"]
        count = api.ok(api.get("/orders/count.json"))["count"]
        one = api.ok(api.get(f"/orders/{placed['id']}.json"))["order"]
    assert [o["id"] for o in listed] == [placed["id"]] and count == 1 and one["id"] == placed["id"]
    assert reads.where == {"replica"}


def test_a_write_answers_with_the_primarys_position(deck: Orderdeck, api: Api, client: TestClient) -> None:
    answer = api.post("/orders.json", {"order": {"email": "anna@example.nl", "line_items": LINE}})
    assert answer.status_code == 201, answer.text
    position = answer.headers["X-Orderdeck-Lsn"]
    assert replica.lsn_value(position) is not None
    assert client.cookies.get(replica.COOKIE) == position  # the client keeps it, as a browser does
    assert replica.lsn_value(replica.primary_position(deck.db)) >= replica.lsn_value(position)  # type: ignore[operator]


def test_reads_after_a_write_go_to_the_primary_while_the_replica_lags(
    deck: Orderdeck, api: Api, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    looks = replica_behind(monkeypatch)
    placed = shop.order(LINE)
    with Reads(deck) as reads:
        listed = api.ok(api.get("/orders.json"))["orders"]
        one = api.ok(api.get(f"/orders/{placed['id']}.json"))["order"]
    assert [o["id"] for o in listed] == [placed["id"]] and one["id"] == placed["id"]
    assert reads.where == {"primary"}
    assert looks  # it did look at the replica before giving up on it


def test_a_replica_that_catches_up_while_the_read_waits_is_read(
    deck: Orderdeck, api: Api, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.order(LINE)
    looks = replica_behind(monkeypatch, looks_behind=2)
    with Reads(deck) as reads:
        api.ok(api.get("/orders.json"))
    assert reads.where == {"replica"} and len(looks) == 3


def test_a_client_without_cookies_still_reads_its_writes(
    deck: Orderdeck, api: Api, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API client that keeps no cookie and sends no position: its GET waits for the primary's
    position at that moment, which covers every write committed before it."""
    replica_behind(monkeypatch)
    placed = api.ok(api.post("/orders.json", {"order": {"email": "anna@example.nl", "line_items": LINE}}))["order"]
    client.cookies.clear()
    with Reads(deck) as reads:
        assert api.ok(api.get(f"/orders/{placed['id']}.json"))["order"]["id"] == placed["id"]
    assert reads.where == {"primary"}


def test_a_position_that_is_not_one_is_ignored(deck: Orderdeck, api: Api, shop: Shop, client: TestClient) -> None:
    shop.order(LINE)
    client.cookies.clear()
    for bad in ("", "16", "not/a-position", "FFFFFFFFF/0", "1/2; DROP TABLE orders"):
        answer = api.get("/orders/count.json", headers={"X-Orderdeck-Lsn": bad})
        assert answer.status_code == 200 and answer.json()["count"] == 1


def test_an_admin_page_after_post_redirect_get_shows_the_change(
    deck: Orderdeck, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed = shop.order(LINE)
    with TestClient(app_for(deck), raise_server_exceptions=False, base_url="http://shop.test") as browser:
        make_staff(deck, OWNER_EMAIL, owner=True, name="Olivia Owner")
        owner = AdminClient(browser)
        assert owner.sign_in(OWNER_EMAIL).status_code == 303
        owner.page(f"/admin/orders/{placed['id']}")
        replica_behind(monkeypatch)
        saved = owner.post(f"/admin/orders/{placed['id']}/note", {"note": "Leave it with the neighbours"})
        assert saved.status_code == 303 and replica.COOKIE in saved.headers["set-cookie"]
        with Reads(deck) as reads:
            page = owner.page(saved.headers["location"])
        assert "Leave it with the neighbours" in page.text
        assert reads.where == {"primary"}


def test_workers_sweeps_and_the_command_line_read_the_primary(deck: Orderdeck) -> None:
    """Outside a request nothing may read from the replica: what they read, they act on."""
    with deck.unit_of_work(read_only=True) as uow:
        assert uow.conn.engine is deck.db.writer
    assert deck.read_engine() is deck.db.writer


@pytest.mark.parametrize("replica_url", [pytest.param("standby", marks=NO_STANDBY)], indirect=True)
def test_a_standby_paused_behind_a_write_is_not_read_until_it_replays(
    deck: Orderdeck, api: Api, shop: Shop, replica_url: str, postgres_url: str
) -> None:
    """The real thing: the standby stops replaying, an order is placed, and reading it back finds
    it (from the primary); once the standby replays again, the same read comes from it."""
    standby = create_engine(replica_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_pause()"))
        placed = shop.order(LINE)
        with standby.connect() as conn:  # really behind: the standby does not have the order
            assert conn.execute(text("SELECT count(*) FROM orders WHERE id = :id"), {"id": placed["id"]}).scalar() == 0
        with Reads(deck) as reads:
            assert api.ok(api.get(f"/orders/{placed['id']}.json"))["order"]["id"] == placed["id"]
        assert reads.where == {"primary"}
    finally:
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
        standby.dispose()
    with Reads(deck) as reads:
        assert api.ok(api.get(f"/orders/{placed['id']}.json"))["order"]["id"] == placed["id"]
    assert reads.where == {"replica"}
