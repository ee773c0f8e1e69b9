"""Group commit (store/group_commit.py): commands waiting to write share one transaction, each in a
savepoint of its own; every caller is answered after the COMMIT that holds its change.

The batches here are formed on purpose: the first command holds its turn until the others have
announced themselves (`GroupCommit.waiting`), so they join its batch whatever the scheduler does.
Commits are counted with SQLAlchemy's `commit` event on the writer engine.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from orderdeck.api.unavailable import database_unavailable
from orderdeck.domain.errors import OrderError
from orderdeck.domain.order import SYSTEM
from orderdeck.services import orders as order_service
from orderdeck.services.context import Command, Orderdeck
from orderdeck.store.group_commit import CommitFailed, GroupCommit
from orderdeck.store.orders import OrderRepository
from orderdeck.store.uow import UnitOfWork
from tests.conftest import AUTHORIZE, Api, Shop
from tests.integration.test_concurrency import Server

WAIT = 60  # seconds a test thread may wait for another before the test fails


@pytest.fixture(autouse=True)
def group_commit_on(deck: Orderdeck) -> None:
    """Group commit is on by default on SQLite and off on PostgreSQL (docs/architecture.md says
    why); these tests turn it on for their PostgreSQL shop as ORDERDECK_GROUP_COMMIT=on would."""
    if deck.db.commits is None:
        deck.db.write_lock = threading.Lock()
        deck.db.commits = GroupCommit(deck.db.writer, deck.db.write_lock)


def commits_of(deck: Orderdeck) -> GroupCommit:
    assert deck.db.commits is not None, "group commit is on"
    return deck.db.commits


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "the other commands never came"
        time.sleep(0.001)


class Commits:
    """Counts the COMMITs on the writer engine (a savepoint's release is not one)."""

    def __init__(self, deck: Orderdeck) -> None:
        self.engine = deck.db.writer
        self.count = 0

    def __enter__(self) -> Commits:
        event.listen(self.engine, "commit", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "commit", self._seen)

    def _seen(self, _conn: Any) -> None:
        self.count += 1


def tags_committed(deck: Orderdeck, order_id: int) -> list[str]:
    """The order's tags as a connection of its own sees them: only what is committed."""
    engine = create_engine(deck.db.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(OrderRepository(conn).get(order_id, for_update=False).tags)
    finally:
        engine.dispose()


class Holder:
    """Lets the first command hold its turn until `others` commands wait for theirs, and the
    others start only once it holds it, so all of them share its batch."""

    def __init__(self, deck: Orderdeck, others: int) -> None:
        self.group = commits_of(deck)
        self.group.max_age = WAIT  # a busy machine must not close the batch early
        self.others = others
        self.holding = threading.Event()

    def hold(self, _uow: UnitOfWork) -> None:
        self.holding.set()
        until(lambda: self.group.waiting == self.others)

    def after_first(self) -> None:
        assert self.holding.wait(WAIT), "the first command never came"


def run_threads(*targets: Callable[[], Any]) -> list[Any]:
    """Run each target in a thread; their results (or the exception each raised)."""
    results: list[Any] = [None] * len(targets)

    def run(index: int) -> None:
        try:
            results[index] = targets[index]()
        except BaseException as exc:  # handed back to the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    return results


@pytest.fixture
def order_id(shop: Shop) -> int:
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG", stock={amsterdam: 50})
    return int(shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)["id"])


def tag(deck: Orderdeck, order_id: int, name: str, *, then: Callable[[UnitOfWork], None] | None = None) -> list[str]:
    """Tag the order in a command of its own; `then` runs before the commit. Returns the tags a
    fresh connection sees the moment commit() has returned."""
    with deck.unit_of_work() as uow:
        order_service.change_tags(Command(deck, uow, SYSTEM), order_id, add=[name], remove=[])
        if then is not None:
            then(uow)
        uow.commit()
    return tags_committed(deck, order_id)


def refuse(deck: Orderdeck, order_id: int) -> None:
    """Tag the order, then be refused (an empty comment): nothing of it may remain."""
    with deck.unit_of_work() as uow:
        cmd = Command(deck, uow, SYSTEM)
        order_service.change_tags(cmd, order_id, add=["refused"], remove=[])
        order_service.add_comment(cmd, order_id, "  ")


def test_a_refused_command_in_a_batch_changes_nothing_and_the_others_commit_together(
    deck: Orderdeck, order_id: int
) -> None:
    holder = Holder(deck, others=2)
    with Commits(deck) as counted:
        first, refused, third = run_threads(
            lambda: tag(deck, order_id, "first", then=holder.hold),
            lambda: (holder.after_first(), refuse(deck, order_id)),
            lambda: (holder.after_first(), tag(deck, order_id, "third"))[1],
        )
    assert isinstance(refused, OrderError), refused
    # One COMMIT for the batch, and each caller saw its change committed as soon as it was answered.
    assert counted.count == 1
    assert sorted(first) == ["first", "third"]
    assert sorted(third) == ["first", "third"]
    assert sorted(tags_committed(deck, order_id)) == ["first", "third"]


def test_callers_are_answered_only_after_the_commit_that_holds_their_change(deck: Orderdeck, order_id: int) -> None:
    holder = Holder(deck, others=3)
    committed_at: list[float] = []
    answered_at: dict[str, float] = {}
    seen: dict[str, list[str]] = {}

    def at_commit(_conn: Any) -> None:
        committed_at.append(time.monotonic())

    def command(name: str) -> None:
        if name == "a":
            seen[name] = tag(deck, order_id, name, then=holder.hold)
        else:
            holder.after_first()
            seen[name] = tag(deck, order_id, name)
        answered_at[name] = time.monotonic()

    event.listen(deck.db.writer, "commit", at_commit)
    try:
        run_threads(*(lambda n=name: command(n) for name in ("a", "b", "c", "d")))
    finally:
        event.remove(deck.db.writer, "commit", at_commit)
    assert len(committed_at) == 1
    # A connection of its own sees every change of the batch the moment each commit() returned.
    assert all(sorted(tags) == ["a", "b", "c", "d"] for tags in seen.values()), seen
    # The event fires as the COMMIT starts; every answer comes after it.
    assert all(at > committed_at[0] for at in answered_at.values()), (committed_at, answered_at)
    assert sorted(tags_committed(deck, order_id)) == ["a", "b", "c", "d"]


class FailingCommit:
    """Makes the next COMMIT on the writer engine fail, as a full disk or a cut connection would."""

    def __init__(self, deck: Orderdeck) -> None:
        self.engine = deck.db.writer
        self.connections: list[Any] = []  # kept, so a new one cannot reuse a discarded one's id
        event.listen(self.engine, "commit", self._fail, once=True)
        event.listen(self.engine, "begin", self._begun)

    def _fail(self, _conn: Any) -> None:
        raise RuntimeError("disk I/O error (injected)")

    def _begun(self, conn: Any) -> None:
        self.connections.append(conn.connection.dbapi_connection)

    def close(self) -> None:
        event.remove(self.engine, "begin", self._begun)


def test_a_failed_commit_answers_every_member_with_an_error_and_the_next_command_gets_a_fresh_connection(
    deck: Orderdeck, order_id: int
) -> None:
    holder = Holder(deck, others=1)
    failing = FailingCommit(deck)
    try:
        first, second = run_threads(
            lambda: tag(deck, order_id, "first", then=holder.hold),
            lambda: (holder.after_first(), tag(deck, order_id, "second"))[1],
        )
        assert isinstance(first, CommitFailed), first
        assert isinstance(second, CommitFailed), second
        assert tags_committed(deck, order_id) == []  # nothing of either was written
        assert tag(deck, order_id, "after") == ["after"]
        assert len(failing.connections) == 2
        assert failing.connections[0] is not failing.connections[1], "the failed batch's connection was reused"
    finally:
        failing.close()


def test_a_failed_commit_is_a_503_saying_nothing_was_saved(deck: Orderdeck, api: Api, shop: Shop) -> None:
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG", stock={amsterdam: 5})
    before = api.ok(api.get("/orders/count.json"))["count"]
    failing = FailingCommit(deck)
    try:
        answer = api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 1}]}})
    finally:
        failing.close()
    assert answer.status_code == 503, answer.text
    assert "nothing of it was saved" in answer.json()["errors"]
    assert answer.headers["Retry-After"]
    assert api.ok(api.get("/orders/count.json"))["count"] == before
    assert shop.level(mug, amsterdam)["available"] == 5
    placed = api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 1}]}})
    assert placed.status_code == 201, placed.text


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_batch_whose_connection_is_killed_writes_nothing_and_the_next_command_works(
    deck: Orderdeck, order_id: int, postgres_url: str
) -> None:
    holder = Holder(deck, others=1)

    def kill_own_backend(uow: UnitOfWork) -> None:
        pid = uow.conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        holder.hold(uow)
        killer = create_engine(postgres_url, poolclass=NullPool)
        with killer.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        killer.dispose()

    first, second = run_threads(
        lambda: tag(deck, order_id, "first", then=kill_own_backend),
        lambda: (holder.after_first(), tag(deck, order_id, "second"))[1],
    )
    # The first joined the batch and is told it was not written; the second finds the
    # connection gone when it starts its savepoint (a lost connection: 503 in the API).
    assert isinstance(first, CommitFailed), first
    assert isinstance(second, DBAPIError) and database_unavailable(second), second
    assert tags_committed(deck, order_id) == []
    assert tag(deck, order_id, "after") == ["after"]


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_member_that_commits_after_a_failed_statement_is_refused_alone(deck: Orderdeck, order_id: int) -> None:
    holder = Holder(deck, others=2)

    def carry_on_after_an_error(uow: UnitOfWork) -> None:
        # ... and commit anyway: PostgreSQL has aborted the transaction up to the savepoint.
        with contextlib.suppress(DBAPIError):
            uow.conn.execute(text("SELECT 1 / 0"))

    with Commits(deck) as counted:
        first, failed, third = run_threads(
            lambda: tag(deck, order_id, "first", then=holder.hold),
            lambda: (holder.after_first(), tag(deck, order_id, "failed", then=carry_on_after_an_error))[1],
            lambda: (holder.after_first(), tag(deck, order_id, "third"))[1],
        )
    assert isinstance(failed, DBAPIError), failed
    assert counted.count == 1
    assert sorted(first) == sorted(third) == ["first", "third"]


@pytest.fixture
def server(deck: Orderdeck) -> Iterator[Server]:
    running = Server(deck)
    running.start()
    yield running
    running.stop()


def test_many_threads_placing_orders_all_succeed_in_fewer_commits_than_orders(
    deck: Orderdeck, shop: Shop, server: Server
) -> None:
    amsterdam = shop.location("Amsterdam")
    variants = [shop.product(f"HOT-{i}", stock={amsterdam: 1000}) for i in range(3)]
    lines = [{"variant_id": v, "quantity": 1} for v in variants]
    threads, each = 12, 6
    # Batches are capped at 50 ms; on a machine busy enough that placements take that long, each
    # would be committed alone. What is tested is that waiting commands share a COMMIT.
    commits_of(deck).max_age = WAIT
    statuses: list[int] = []
    names: list[str] = []
    mutex = threading.Lock()

    def place() -> None:
        with server.client() as client:
            for _ in range(each):
                answer = client.post("/orders.json", json={"order": {"line_items": lines, "transactions": AUTHORIZE}})
                with mutex:
                    statuses.append(answer.status_code)
                    if answer.status_code == 201:
                        names.append(answer.json()["order"]["name"])

    group = commits_of(deck)
    batches_before, commands_before = group.batches_committed, group.commands_committed
    with Commits(deck) as counted:
        run_threads(*(place for _ in range(threads)))
    placed = threads * each
    assert statuses == [201] * placed
    assert sorted(int(n.lstrip("#")) for n in names) == list(range(1001, 1001 + placed))  # gap-free
    assert shop.api.ok(shop.api.get("/orders/count.json"))["count"] == placed
    for variant in variants:
        level = shop.level(variant, amsterdam)
        assert level["available"] == 1000 - placed
        assert level["committed"] == placed
    # Batches formed: fewer COMMITs than orders.
    assert counted.count < placed, f"{counted.count} commits for {placed} orders"
    # /metrics tells operators the same.
    with server.client() as client:
        exposition = client.get(server.base.split("/admin")[0] + "/metrics").text
    assert f"orderdeck_write_commits_total {float(batches_before + counted.count)}" in exposition
    assert f"orderdeck_write_commands_committed_total {float(commands_before + placed)}" in exposition
