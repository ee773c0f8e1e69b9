"""Set-based bulk archive, unarchive and tags (services/bulk_set.py) against the same actions
one order at a time, and the messages they hold until the orders are rendered (services/held.py).

The property: on generated orders (paid or not, fulfilled or not, archived, cancelled, tagged in
mixed case, with the `stuck` tag, with the shop's auto-archive rule on or off, and an id that no
longer exists), the set-based run and the orders' own commands refuse the same orders with the
same words, and leave the same decoded documents, row columns, search terms, timeline events,
outbox messages (topics and payloads, once the held ones are released), stored renderings and
status counts. The one-by-one run is rolled back, so both start from the same orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from orderdeck.domain import lifecycle
from orderdeck.domain.errors import OrderError
from orderdeck.domain.order import Author
from orderdeck.domain.statuses import financial_status, fulfillment_status, qualifies_for_auto_archive
from orderdeck.services import bulk_set, held, orders
from orderdeck.services.context import Command, Orderdeck
from orderdeck.store import bulk_updates
from orderdeck.store.codec import decode_order
from orderdeck.store.tables import order_counts, order_documents, order_search_terms, outbox, timeline_events
from orderdeck.store.tables import orders as orders_table
from tests.conftest import AUTHORIZE, IN_CI, SELL

STAFF = Author("staff", "Bea Bulk", "7")
TAGS = ["vip", "VIP", "gift", "stuck", "Wholesale", "rush"]


@pytest.fixture
def mug(shop: Any) -> int:
    return shop.product("MUG-1", price="12.50", stock={shop.location("Amsterdam"): 10_000}, title="Delft mug")


def step_for(action: str, tags: list[str]) -> Callable[[Command, int], Any]:
    if action == "archive":
        return orders.close_order
    if action == "unarchive":
        return orders.reopen_order
    if action == "add_tags":
        return lambda cmd, oid: orders.change_tags(cmd, oid, add=tags, remove=[])
    return lambda cmd, oid: orders.change_tags(cmd, oid, add=[], remove=tags)


@contextmanager
def frozen(deck: Orderdeck) -> Iterator[None]:
    """Both runs at the same instant, so their timestamps can be compared."""
    real = deck.clock
    now = real()
    deck.clock = lambda: now
    try:
        yield
    finally:
        deck.clock = real


def state(conn: Any, ids: list[int], since_event: int, outbox_before: set[str]) -> dict[str, Any]:
    """Everything either run may have changed, comparable across the two."""
    rows = conn.execute(
        select(orders_table, order_documents.c.document, order_documents.c.rendered, order_documents.c.rendered_for)
        .join(order_documents, order_documents.c.order_id == orders_table.c.id)
        .where(orders_table.c.id.in_(ids))
        .order_by(orders_table.c.id)
    ).all()
    columns = [{k: v for k, v in r._mapping.items() if k not in ("document", "rendered", "rendered_for")} for r in rows]
    documents = {r.id: decode_order(r.document, r.overlay) for r in rows}
    renderings = {r.id: (orjson.loads(r.rendered) if r.rendered else None, r.rendered_for) for r in rows}
    stored = {r.id: r.rendered for r in rows}
    terms = sorted(
        tuple(t)
        for t in conn.execute(
            select(order_search_terms.c.order_id, order_search_terms.c.kind, order_search_terms.c.term).where(
                order_search_terms.c.order_id.in_(ids)
            )
        )
    )
    e = timeline_events.c
    events = [
        tuple(r)
        for r in conn.execute(
            select(e.order_id, e.created_at, e.verb, e.message, e.author_kind, e.author_name, e.author_ref)
            .add_columns(e.subject_id, e.arguments, e.is_comment)
            .where(e.id > since_event)
            .order_by(e.order_id, e.id)
        )
    ]
    messages = sorted(
        (
            (r.order_id or 0, r.kind, r.topic, r.subject_id or 0, orjson.loads(r.payload), r.created_at, r.available_at)
            for r in conn.execute(select(outbox)).all()
            if r.id not in outbox_before
        ),
        key=repr,
    )
    counted = sorted(
        (
            tuple(r)
            for r in conn.execute(
                select(
                    order_counts.c.order_status,
                    order_counts.c.closed,
                    order_counts.c.cancelled,
                    order_counts.c.financial_status,
                    order_counts.c.fulfillment_status,
                    order_counts.c.display_fulfillment_status,
                    func.sum(order_counts.c.delta),
                ).group_by(
                    order_counts.c.order_status,
                    order_counts.c.closed,
                    order_counts.c.cancelled,
                    order_counts.c.financial_status,
                    order_counts.c.fulfillment_status,
                    order_counts.c.display_fulfillment_status,
                )
            )
            if r[-1]
        ),
        key=repr,
    )
    return {
        "columns": columns,
        "documents": documents,
        "renderings": renderings,
        "terms": terms,
        "events": events,
        "messages": messages,
        "counts": counted,
        "stored": stored,
    }


def is_held(message: Any) -> bool:
    return bool(message.available_at.year == bulk_updates.HELD_AT.year)  # SQLite hands times back naive


def marks(conn: Any) -> tuple[int, set[str]]:
    last = conn.execute(select(func.coalesce(func.max(timeline_events.c.id), 0))).scalar_one()
    return int(last), {r[0] for r in conn.execute(select(outbox.c.id))}


def one_by_one(deck: Orderdeck, ids: list[int], step: Callable[[Command, int], Any]) -> tuple[Any, dict[str, Any]]:
    """Each order's own command, as services/bulk.py runs them; what they leave, then rolled back."""
    succeeded, refused = [], []
    with deck.unit_of_work() as uow:
        since, before = marks(uow.conn)
        cmd = Command(deck, uow, STAFF)
        for order_id in ids:
            savepoint = uow.conn.begin_nested()
            try:
                step(cmd, order_id)
            except OrderError as exc:
                savepoint.rollback()
                refused.append({"id": order_id, "error": exc.message})
            else:
                savepoint.commit()
                succeeded.append(order_id)
        left = state(uow.conn, ids, since, before)
        uow.rollback()
    return (succeeded, refused), left


def set_based(
    deck: Orderdeck, api: Any, ids: list[int], action: str, tags: list[str]
) -> tuple[Any, dict[str, Any], int, dict[str, Any]]:
    """The set-based run; what it leaves once the background step has run, and what the API and
    the decoded documents showed before it (the orders' fields still laid over their documents)."""
    with deck.unit_of_work(read_only=True) as uow:
        since, before = marks(uow.conn)
    result = bulk_set.run(deck, STAFF, ids, action, tags=tags, step=step_for(action, tags), batch=3)
    with deck.unit_of_work(read_only=True) as uow:
        still_held = uow.conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.available_at == bulk_updates.HELD_AT)
        ).scalar_one()
        meanwhile = state(uow.conn, ids, since, before)
    present = sorted(meanwhile["documents"])
    meanwhile["answers"] = {i: api.get(f"/orders/{i}.json").content for i in present}
    if present:
        listed = api.ok(api.get("/orders.json", params={"status": "any", "ids": ",".join(map(str, present))}))
        meanwhile["listed"] = sorted(listed["orders"], key=lambda o: o["id"])
    held.release_due(deck, batch=2)
    with deck.unit_of_work(read_only=True) as uow:
        left = state(uow.conn, ids, since, before)
    return (result.succeeded, result.refused), left, int(still_held), meanwhile


order_plans = st.fixed_dictionaries(
    {
        "tags": st.lists(st.sampled_from(TAGS), max_size=3),
        "paid": st.sampled_from(["no", "sale", "authorization"]),
        "fulfilled": st.booleans(),
        "archived": st.booleans(),
        "cancelled": st.booleans(),
    }
)


def rule_holds_on_columns(deck: Orderdeck, ids: list[int]) -> None:
    """The rule lifecycle declares over status columns says of each order what its own
    document says: whether it is archived, and (a superset) whether auto-archive could take it."""
    with deck.unit_of_work(read_only=True) as uow:
        rows = {r.id: r for r in bulk_updates.rows_for_update(uow.conn, ids, with_tags=True)}
        documents = dict(
            uow.conn.execute(
                select(order_documents.c.order_id, order_documents.c.document).where(
                    order_documents.c.order_id.in_(ids)
                )
            ).all()
        )
    for order_id, document in documents.items():
        order, row = decode_order(document), rows[order_id]
        standing = lifecycle.Standing(
            name=row.name,
            closed=row.closed,
            cancelled=row.cancelled,
            financial_status=row.financial_status,
            fulfillment_status=row.fulfillment_status,
            has_returns=row.return_status != "no_return",
            stuck=False,
            at_service=False,
        )
        of_order = lifecycle.standing(
            order,
            financial_status=financial_status(order),
            fulfillment_status=fulfillment_status(order),
            at_service=False,
        )
        assert standing == of_order
        assert row.tags == order.tags
        assert (lifecycle.close_refusal(standing) is None) == (not order.is_closed)
        if qualifies_for_auto_archive(order):
            assert lifecycle.may_auto_archive(standing)


def test_set_based_bulk_leaves_what_one_order_at_a_time_leaves(deck, api, shop, mug):
    @settings(
        max_examples=25 if IN_CI else 12,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        plans=st.lists(order_plans, min_size=1, max_size=5),
        action=st.sampled_from(bulk_set.ACTIONS),
        tags=st.lists(st.sampled_from([*TAGS, " Rush ", "new"]), min_size=1, max_size=3),
        auto_archive=st.booleans(),
        missing=st.booleans(),
    )
    def check(plans: list[dict[str, Any]], action: str, tags: list[str], auto_archive: bool, missing: bool) -> None:
        shop.settings(auto_archive=False)
        ids = []
        for plan in plans:
            paid = {"sale": SELL, "authorization": AUTHORIZE}.get(plan["paid"])
            extra: dict[str, Any] = {"tags": ", ".join(plan["tags"])}
            if paid:
                extra["transactions"] = paid
            order = shop.order([{"variant_id": mug, "quantity": 1}], **extra)
            if plan["fulfilled"]:
                shop.fulfil(order["id"])
            if plan["cancelled"]:
                api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer"})
            if plan["archived"]:
                api.post(f"/orders/{order['id']}/close.json")
            ids.append(order["id"])
        if missing:
            ids.insert(len(ids) // 2, 10**15)  # an order that does not exist (deleted since it was chosen)
        shop.settings(auto_archive=auto_archive)
        rule_holds_on_columns(deck, [i for i in ids if i < 10**15])
        with frozen(deck):
            expected, left_alone = one_by_one(deck, ids, step_for(action, tags))
            got, left_set, was_held, meanwhile = set_based(deck, api, ids, action, tags)
        assert got == expected
        assert left_set["documents"] == left_alone["documents"]
        # Before the background step: the same orders read back, and the API answers byte for
        # byte what it answers for the orders changed one by one (their stored renderings).
        assert meanwhile["documents"] == left_alone["documents"]
        for order_id, answer in meanwhile["answers"].items():
            assert answer == b'{"order":' + left_alone["stored"][order_id].encode() + b"}"
        if meanwhile["documents"]:
            assert meanwhile["listed"] == [
                orjson.loads(left_alone["stored"][i]) for i in sorted(meanwhile["documents"])
            ]
        for key in ("columns", "renderings", "terms", "events", "messages", "counts"):
            assert left_set[key] == left_alone[key], key
        # What the set-based run changed, it held until the background step rendered it.
        changed_by_set = sum(1 for m in left_set["messages"] if m[1] == "webhook")
        assert was_held <= 2 * changed_by_set

    check()


def overlays(deck: Orderdeck, ids: list[int]) -> list[bool]:
    """Whether each order has fields laid over its document (in the order of `ids`)."""
    with deck.unit_of_work(read_only=True) as uow:
        found = dict(
            uow.conn.execute(select(orders_table.c.id, orders_table.c.overlay).where(orders_table.c.id.in_(ids))).all()
        )
    return [found[i] is not None for i in ids]


def test_held_messages_go_out_once_with_the_rendering_the_bulk_change_left(deck, api, shop, mug):
    placed = [shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)["id"] for _ in range(4)]
    with deck.unit_of_work(read_only=True) as uow:
        _, before = marks(uow.conn)

    result = api.ok(api.post("/orders/bulk/close.json", {"ids": placed}))["bulk_result"]
    assert result == {"succeeded": placed, "refused": []}

    def ours() -> list[Any]:
        with deck.unit_of_work(read_only=True) as uow:
            return [r for r in uow.conn.execute(select(outbox)).all() if r.id not in before]

    assert {(m.kind, is_held(m)) for m in ours()} == {
        ("webhook", True),
        ("automation", True),
    }
    # Lists and the order's JSON render afresh meanwhile: archived, never the stored open one.
    assert all(o["closed_at"] for o in api.ok(api.get("/orders.json?status=any&limit=10"))["orders"])
    assert shop.get(placed[0])["closed_at"] is not None

    # A command on one order before the background step: it releases that order's messages
    # first, rendered as the bulk archive left it (archived, untagged), then adds its own.
    api.ok(api.put(f"/orders/{placed[0]}.json", {"order": {"id": placed[0], "tags": "late"}}))
    first = [m for m in ours() if m.order_id == placed[0] and m.kind == "webhook"]
    assert len(first) == 2
    bulk_one, own = sorted(first, key=lambda m: m.created_at)
    assert bulk_one.available_at == bulk_one.created_at  # due where one-by-one would have put it
    assert orjson.loads(bulk_one.payload)["tags"] == ""
    assert orjson.loads(bulk_one.payload)["closed_at"] is not None
    assert orjson.loads(own.payload)["tags"] == "late"
    # The command saved that order whole; the others still have the archive laid over their documents.
    assert overlays(deck, placed) == [False, True, True, True]

    assert held.release_due(deck) == 3
    assert held.release_due(deck) == 0  # exactly once
    assert overlays(deck, placed) == [False] * 4  # stored whole, with their fresh renderings
    messages = ours()
    assert not [m for m in messages if is_held(m)]
    webhooks = [m for m in messages if m.kind == "webhook" and m.order_id != placed[0]]
    assert len(webhooks) == 3
    for m in webhooks:
        order = orjson.loads(m.payload)
        assert order["id"] == m.order_id and order["closed_at"] is not None
        assert order == shop.get(m.order_id)  # the stored rendering is the fresh one
    with deck.unit_of_work(read_only=True) as uow:
        stored = uow.conn.execute(
            select(order_documents.c.rendered_for).where(order_documents.c.order_id.in_(placed))
        ).scalars()
        assert None not in list(stored)


def test_a_background_step_stopped_half_way_leaves_the_rest_held_for_the_next(deck, api, shop, mug):
    placed = [shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)["id"] for _ in range(5)]
    api.ok(api.post("/orders/bulk/tags/add.json", {"ids": placed, "tags": "vip"}))
    stops = iter([False, True])

    assert held.release_due(deck, lambda: next(stops), batch=2) == 2  # one batch, then told to stop
    with deck.unit_of_work(read_only=True) as uow:
        waiting = uow.conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.available_at == bulk_updates.HELD_AT)
        ).scalar_one()
    assert waiting == 2 * 3
    assert held.release_due(deck) == 3
    with deck.unit_of_work(read_only=True) as uow:
        released = uow.conn.execute(
            select(outbox.c.order_id, func.count())
            .where(outbox.c.order_id.in_(placed), outbox.c.topic == "orders/updated")
            .group_by(outbox.c.order_id)
        ).all()
    assert sorted(released) == sorted((i, 1) for i in placed)
