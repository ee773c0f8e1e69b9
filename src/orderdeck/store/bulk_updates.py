"""Changing many orders with a few statements (bulk archive, unarchive and tags), and the
messages such a change holds until its orders are rendered afresh.

services/bulk_set.py decides, by the rule domain/lifecycle.py declares, which orders a batch
changes; the statements here change them: the order document is patched inside the database
(SQLite's json_set, PostgreSQL's jsonb `||` on `document::jsonb`, cast back to text), the status
columns with it, and the stored rendering is set aside (`rendered`, `rendered_for` NULL: every
reader renders afresh rather than serve it, services/held.py stores a new one). The document and
the rendering live in `order_documents` (migration 0027), so a change is two statements: the
document row first (it reads the order row's version as it was), then the order row. Every
statement of bulk work that reads or writes `document`, `rendered` or `rendered_for` is here.

A bulk change's outbox messages are written held: due at HELD_AT, which never comes, under ids
derived from the order and the version the change left it at (`held_ids`), so the one command
that meets the order next, and the background step that renders it, find them by primary key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Text,
    any_,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    null,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from .tables import order_documents, order_search_terms, orders, outbox

# When a held message would fall due: never. Releasing it sets its due time back to when it
# was written, so it goes out where a one-by-one change would have put it.
HELD_AT = datetime(9000, 1, 1, tzinfo=UTC)
HELD_PAYLOAD = '{"held":"until the order is rendered"}'


def held_ids(order_id: int, version: int) -> tuple[str, str]:
    """The ids of the webhook and the automation message a bulk change of the order, leaving it
    at `version`, holds: stable, so they are found by key, and made by the database too
    (`_held_id`). UUIDs in form, as receivers expect (version 8, RFC 9562's custom layout: the
    version, then the order id; random version-4 ids never take this form)."""
    return f"{version:08x}-0000-8000-8000-{order_id:012x}", f"{version:08x}-0000-8000-8001-{order_id:012x}"


def partner_of(webhook_id: str) -> str:
    """The id of the automation message held with this webhook."""
    return webhook_id[:19] + "8001" + webhook_id[23:]


def _held_id(conn: Connection, kind: str) -> ColumnElement[Any]:
    """held_ids in SQL, for the version the change leaves the order at (version + 1)."""
    tail = "8000" if kind == "webhook" else "8001"
    c = orders.c
    if _postgres(conn):
        return func.concat(
            func.lpad(func.to_hex(c.version + 1), 8, "0"),
            f"-0000-8000-{tail}-",
            func.lpad(func.to_hex(c.id), 12, "0"),
        )
    return func.printf(f"%08x-0000-8000-{tail}-%012x", c.version + 1, c.id)


@dataclass(frozen=True)
class BatchRow:
    """One order of a batch as its columns stand (locked on PostgreSQL)."""

    id: int
    name: str
    version: int
    closed: bool
    cancelled: bool
    order_status: str
    financial_status: str
    fulfillment_status: str | None
    display_fulfillment_status: str
    return_status: str
    unrendered: bool  # no current rendering stored (it may have messages held)
    tags: list[str] | None  # with_tags only


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _doc(conn: Connection) -> ColumnElement[Any]:
    d = order_documents.c.document
    return cast(d, JSONB) if _postgres(conn) else d


def _field(conn: Connection, name: str) -> ColumnElement[Any]:
    """One top-level field of the document, read, not changed. On PostgreSQL through `json`,
    which only checks the text and finds the field where it stands: `jsonb` would build the
    whole document anew for it, several times the work (and a patch's own `jsonb` is not shared)."""
    if _postgres(conn):
        return cast(order_documents.c.document, JSON).op("->")(name)
    return func.json_extract(order_documents.c.document, f"$.{name}")


def among(conn: Connection, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`, the values bound as one parameter: a PostgreSQL array, a JSON array
    on SQLite. Bound one by one, a batch of 5,000 made every statement of it 5,000 placeholders
    for SQLAlchemy and psycopg to build and for PostgreSQL to parse and plan: a fifth of the
    batch's time went on that on PostgreSQL.

    Orders' ids as a subquery, not `= ANY(array)`: from the array PostgreSQL cannot tell that
    the rows lie close together, and scans the whole table rather than look 5,000 keys up (0.37 s
    against 0.1 s a statement at 150,000 orders); from the subquery's rows it looks each one up.
    Message ids stay `= ANY(array)`: their statements also ask for held messages, which the
    pending index finds, and joined to a subquery PostgreSQL, expecting few held, compared every
    held message with every id (quadratic: 43 s a batch with 50,000 held)."""
    given = list(values)
    if _postgres(conn):
        if isinstance(column.type, Integer):
            return column.in_(select(func.unnest(bindparam(None, given, type_=ARRAY(BigInteger())))))
        return column == any_(bindparam(None, given, type_=ARRAY(Text())))
    each = func.json_each(bindparam(None, orjson.dumps(given).decode(), type_=Text)).table_valued("value")
    return column.in_(select(each.c.value))


def _given(conn: Connection, rows: list[dict[str, Any]], **columns: Any) -> Any:
    """The rows as a table named `given` with these columns (name=type), bound as one JSON value."""
    value = bindparam(None, orjson.dumps(rows).decode(), type_=Text)
    if _postgres(conn):
        return (
            func.jsonb_to_recordset(cast(value, JSONB))
            .table_valued(*(column(name, kind) for name, kind in columns.items()))
            .render_derived(name="given", with_types=True)
        )
    each = func.json_each(value).table_valued("value").alias("each")
    return select(*(func.json_extract(each.c.value, f"$.{name}").label(name) for name in columns)).subquery("given")


def drop_terms(conn: Connection, kind: str, pairs: list[tuple[int, str]]) -> None:
    """Delete these (order id, term) search terms of one kind, in one statement."""
    if not pairs:
        return
    given = _given(conn, [{"order_id": o, "term": t} for o, t in pairs], order_id=BigInteger, term=Text)
    t = order_search_terms.c
    conn.execute(
        delete(order_search_terms).where(
            t.kind == kind, tuple_(t.order_id, t.term).in_(select(given.c.order_id, given.c.term))
        )
    )


def _next_version() -> Any:
    """The order row's version + 1, for the document row being updated (a correlated subquery)."""
    return select(orders.c.version + 1).where(orders.c.id == order_documents.c.order_id).scalar_subquery()


def _of_orders(conn: Connection, ids: list[int], *condition: ColumnElement[Any]) -> ColumnElement[Any]:
    """Document rows whose order is one of `ids` and meets the condition."""
    return order_documents.c.order_id.in_(select(orders.c.id).where(among(conn, orders.c.id, ids), *condition))


def rows_for_update(conn: Connection, ids: list[int], *, with_tags: bool) -> list[BatchRow]:
    """The batch's orders, locked against other commands until the batch commits (PostgreSQL;
    SQLite's single writer already serialises them). With their tags when asked: read from the
    document inside the database, no document leaves it."""
    c = orders.c
    tags: ColumnElement[Any]
    if not with_tags:
        tags = null()
    elif _postgres(conn):
        tags = cast(_field(conn, "tags"), Text)
    else:
        tags = _field(conn, "tags")
    query = (
        select(
            c.id,
            c.name,
            c.version,
            c.closed_at,
            c.cancelled_at,
            c.order_status,
            c.financial_status,
            c.fulfillment_status,
            c.display_fulfillment_status,
            c.return_status,
            order_documents.c.rendered_for.is_(None).label("unrendered"),
            tags.label("tags"),
        )
        .select_from(orders.join(order_documents, order_documents.c.order_id == c.id))
        .where(among(conn, c.id, ids))
    )
    if _postgres(conn):
        # Both rows, as a command's read locks them (store/orders.py).
        query = query.order_by(c.id).with_for_update(of=[orders, order_documents])
    return [
        BatchRow(
            id=r.id,
            name=r.name,
            version=r.version,
            closed=r.closed_at is not None,
            cancelled=r.cancelled_at is not None,
            order_status=r.order_status,
            financial_status=r.financial_status,
            fulfillment_status=r.fulfillment_status,
            display_fulfillment_status=r.display_fulfillment_status,
            return_status=r.return_status,
            unrendered=bool(r.unrendered),
            tags=orjson.loads(r.tags) if r.tags is not None else ([] if with_tags else None),
        )
        for r in conn.execute(query)
    ]


def with_term(conn: Connection, ids: list[int], kind: str, terms: Iterable[str]) -> set[int]:
    """Which of the orders carry one of these search terms (stuck flags, fulfillment locations)."""
    wanted = list(terms)
    if not wanted or not ids:
        return set()
    t = order_search_terms.c
    query = select(t.order_id).distinct().where(t.kind == kind, t.term.in_(wanted), among(conn, t.order_id, ids))
    return {r[0] for r in conn.execute(query)}


def _json_time(when: datetime) -> str:
    """A time as the order document writes it (msgspec: ISO 8601, UTC as Z)."""
    return str(msgspec.json.decode(msgspec.json.encode(when)))


def _patched(conn: Connection, values: dict[str, ColumnElement[Any] | Any]) -> ColumnElement[Any]:
    """The document with these top-level fields set, computed by the database."""
    if _postgres(conn):
        pairs: list[Any] = []
        for key, value in values.items():
            pairs += [literal(key), value]
        return cast(_doc(conn).op("||")(func.jsonb_build_object(*pairs)), Text)
    args: list[Any] = []
    for key, value in values.items():
        args += [f"$.{key}", value]
    return func.json_set(order_documents.c.document, *args)


def close_all(conn: Connection, ids: list[int], now: datetime) -> None:
    """Archive these orders (domain/lifecycle.close, for rows the rule lets through)."""
    if not ids:
        return
    at = _json_time(now)
    c = orders.c
    conn.execute(
        update(order_documents)
        .where(_of_orders(conn, ids, c.closed_at.is_(None)))
        .values(
            document=_patched(conn, {"closed_at": at, "updated_at": at, "version": _next_version()}),
            rendered=None,
            rendered_for=None,
        )
    )
    conn.execute(
        update(orders)
        .where(among(conn, c.id, ids), c.closed_at.is_(None))
        .values(
            closed_at=now,
            updated_at=now,
            order_status=case((c.cancelled_at.is_(None), "closed"), else_="cancelled"),
            version=c.version + 1,
        )
    )


def reopen_all(conn: Connection, ids: list[int], now: datetime) -> None:
    """Unarchive these orders (domain/lifecycle.reopen): open again, and left open by the
    auto-archive rule until a newer fulfillment, refund or payment (`unarchived_seq`)."""
    if not ids:
        return
    at = _json_time(now)
    c = orders.c
    next_seq = _field(conn, "next_child_seq")
    conn.execute(
        update(order_documents)
        .where(_of_orders(conn, ids, c.closed_at.is_not(None)))
        .values(
            document=_patched(
                conn, {"closed_at": null(), "unarchived_seq": next_seq, "updated_at": at, "version": _next_version()}
            ),
            rendered=None,
            rendered_for=None,
        )
    )
    conn.execute(
        update(orders)
        .where(among(conn, c.id, ids), c.closed_at.is_not(None))
        .values(
            closed_at=None,
            updated_at=now,
            order_status=case((c.cancelled_at.is_(None), "open"), else_="cancelled"),
            version=c.version + 1,
        )
    )


def retag_all(conn: Connection, changed: dict[int, list[str]], unchanged: list[int], now: datetime) -> None:
    """Give each order of `changed` its new tags (one statement, the tags passed as one JSON
    value); the `unchanged` ones are saved as their command saves them: only a new version."""
    c = orders.c
    if changed:
        # The tags, and the export's tags cell the order row keeps (store/orders.summary_columns).
        at = _json_time(now)
        given = _given(
            conn,
            [{"id": k, "tags": v, "cell": ", ".join(v)} for k, v in changed.items()],
            id=BigInteger,
            tags=JSONB,
            cell=Text,
        )
        # On SQLite json() right in json_set's arguments: only then is the value taken as JSON, not text.
        tags_value: Any = given.c.tags if _postgres(conn) else func.json(given.c.tags)
        conn.execute(
            update(order_documents)
            .where(order_documents.c.order_id == given.c.id)
            .values(
                document=_patched(conn, {"tags": tags_value, "updated_at": at, "version": _next_version()}),
                rendered=None,
                rendered_for=None,
            )
        )
        conn.execute(
            update(orders).where(c.id == given.c.id).values(updated_at=now, version=c.version + 1, tags=given.c.cell)
        )
    if unchanged:
        conn.execute(
            update(order_documents)
            .where(among(conn, order_documents.c.order_id, unchanged))
            .values(document=_patched(conn, {"version": _next_version()}))
        )
        conn.execute(update(orders).where(among(conn, c.id, unchanged)).values(version=c.version + 1))


# ---- the renderings and held messages, afterwards ------------------------------------------------


def documents(conn: Connection, ids: list[int], *, lock: bool) -> dict[int, tuple[int, str]]:
    """(version, document) of each order still there; locked on PostgreSQL when asked, so a
    command on one of them waits until the renderings and releases commit."""
    query = (
        select(orders.c.id, orders.c.version, order_documents.c.document)
        .select_from(orders.join(order_documents, order_documents.c.order_id == orders.c.id))
        .where(among(conn, orders.c.id, ids))
    )
    if lock and _postgres(conn):
        query = query.order_by(orders.c.id).with_for_update(of=[orders, order_documents])
    return {r.id: (r.version, r.document) for r in conn.execute(query)}


def store_renderings(conn: Connection, fresh: list[tuple[int, int, str]], fingerprint: str) -> None:
    """Store (order id, version it was rendered at, rendering): only where the order is still at
    that version."""
    if not fresh:
        return
    still_at = (
        select(orders.c.id)
        .where(orders.c.id == order_documents.c.order_id, orders.c.version == bindparam("at_version"))
        .exists()
    )
    conn.execute(
        update(order_documents)
        .where(order_documents.c.order_id == bindparam("rendered_order"), still_at)
        .values(rendered=bindparam("fresh"), rendered_for=fingerprint),
        [{"rendered_order": i, "at_version": v, "fresh": r} for i, v, r in fresh],
    )


@dataclass(frozen=True)
class Held:
    id: str
    kind: str
    order_id: int


def held_webhooks(conn: Connection, limit: int) -> list[Held]:
    """The oldest held webhooks (each stands for its order's held messages)."""
    o = outbox.c
    query = (
        select(o.id, o.kind, o.order_id)
        .where(o.kind == "webhook", o.delivered_at.is_(None), o.available_at == HELD_AT)
        # In the pending index's order (kind, due time, then as written): the first `limit`
        # entries, with no sort of every held message each batch (ordering by created_at did
        # that: quadratic over 100,000 held messages).
        .order_by(o.available_at)
        .limit(limit)
    )
    return [Held(r.id, r.kind, r.order_id) for r in conn.execute(query)]


def held(conn: Connection, message_ids: Iterable[str]) -> list[Held]:
    """Which of these messages are still held (by key)."""
    wanted = list(message_ids)
    if not wanted:
        return []
    o = outbox.c
    query = select(o.id, o.kind, o.order_id).where(
        among(conn, o.id, wanted), o.delivered_at.is_(None), o.available_at == HELD_AT
    )
    return [Held(r.id, r.kind, r.order_id) for r in conn.execute(query)]


def hold(conn: Connection, ids: list[int], now: datetime, *, verb: str, author: tuple[str, str | None]) -> None:
    """Write, held, each order's `orders/updated` webhook (its payload filled in on release) and
    the automation message save_order would write for the change (`verb`), by INSERT … SELECT.
    Run before the change, so version + 1 is the version the change leaves each order at."""
    if not ids:
        return
    c = orders.c
    if _postgres(conn):
        build_object, build_array = func.json_build_object, func.json_build_array
    else:
        build_object, build_array = func.json_object, func.json_array
    automation = build_object(
        "order_id",
        c.id,
        "verbs",
        build_array(literal(verb)),
        "topics",
        build_array(literal("orders/updated")),
        "returns",
        build_object(),
        "financial_status",
        c.financial_status,
        "fulfillment_status",
        c.display_fulfillment_status,
        "author",
        build_object("kind", literal(author[0]), "ref", literal(author[1], Text)),
    )
    columns = ["id", "kind", "topic", "order_id", "subject_id", "payload", "created_at", "available_at"]
    for kind, topic, payload in (
        ("webhook", "orders/updated", literal(HELD_PAYLOAD)),
        ("automation", "order_changed", cast(automation, Text)),
    ):
        query = select(
            _held_id(conn, kind),
            literal(kind),
            literal(topic),
            c.id,
            literal(None, BigInteger),
            payload,
            literal(now, outbox.c.created_at.type),
            literal(HELD_AT, outbox.c.available_at.type),
        ).where(among(conn, c.id, ids))
        conn.execute(outbox.insert().from_select(columns, query))


def release(conn: Connection, payloads: dict[str, str], others: list[str]) -> None:
    """Let held messages go, due when they were written: webhooks with their payload filled in
    (id → payload), the others as they are."""
    o = outbox.c
    if payloads:
        conn.execute(
            update(outbox)
            .where(o.id == bindparam("message_id"), o.available_at == HELD_AT)
            .values(payload=bindparam("filled"), available_at=o.created_at),
            [{"message_id": k, "filled": v} for k, v in payloads.items()],
        )
    if others:
        conn.execute(
            update(outbox).where(among(conn, o.id, others), o.available_at == HELD_AT).values(available_at=o.created_at)
        )


def drop(conn: Connection, message_ids: list[str], now: datetime) -> None:
    """Held messages of orders deleted since: nothing is left to render; marked handled."""
    if message_ids:
        conn.execute(
            update(outbox)
            .where(among(conn, outbox.c.id, message_ids), outbox.c.available_at == HELD_AT)
            .values(delivered_at=now, available_at=outbox.c.created_at)
        )
