"""Changing many orders with a few statements (bulk archive, unarchive and tags), and the
messages such a change holds until its orders are rendered afresh.

services/bulk_set.py decides, by the rule domain/lifecycle.py declares, which orders a batch
changes; the statements here change them: one UPDATE of the narrow `orders` rows sets the status
columns and writes the document fields the change sets (closed_at, unarchived_seq, updated_at,
version, tags) into the row's `overlay`, a small JSON object that every reader lays over the
document (store/codec.decode_order). The 5 KB document and the 10 KB rendering in
`order_documents` are not written at all: rewriting them was most of a bulk change's time
(SQLite rewrites the whole row for any column of it; PostgreSQL turned each document into jsonb
and back). While an order has an overlay its stored rendering is out of date and no reader
serves it; services/held.py renders the order afresh, stores the document with the overlay
folded in and the new rendering, and clears the overlay (`store_renderings`), as the order's
next command does when it saves it. Every statement of bulk work that reads or writes
`document`, `rendered`, `rendered_for` or `overlay` is here.

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
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from .codec import with_overlay
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
    # It may have messages held: no current rendering stored (PostgreSQL), or any order (SQLite).
    unrendered: bool
    tags: list[str] | None  # with_tags only


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


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


def add_terms(conn: Connection, kind: str, pairs: list[tuple[int, str]]) -> None:
    """Insert these (order id, term) search terms of one kind, in one statement with one
    parameter (as rows, psycopg sent 5,000 of them: 0.45 s a batch on PostgreSQL)."""
    if not pairs:
        return
    given = _given(conn, [{"order_id": o, "term": t} for o, t in pairs], order_id=BigInteger, term=Text)
    conn.execute(
        order_search_terms.insert().from_select(
            ["order_id", "kind", "term"],
            select(cast(given.c.order_id, BigInteger), literal(kind), cast(given.c.term, Text)),
        )
    )


def rows_for_update(conn: Connection, ids: list[int], *, with_tags: bool) -> list[BatchRow]:
    """The batch's orders, locked against other commands until the batch commits (PostgreSQL;
    SQLite's single writer already serialises them). With their tags when asked: the row's
    `tag_list`; only for an order migration 0030 has not filled yet, the document's (with the
    overlay's over it), read inside the database (COALESCE evaluates no further than the first
    value that is there, so a filled order's document is not read: reading it was half of a
    tag batch on SQLite, which takes the 5 KB from its overflow pages, and the detoasting and
    parse of every document on PostgreSQL)."""
    c = orders.c
    tags: ColumnElement[Any]
    if not with_tags:
        tags = null()
    elif _postgres(conn):
        tags = func.coalesce(c.tag_list, cast(func.coalesce(_overlaid(conn, "tags"), _field(conn, "tags")), Text))
    else:
        # The document by a subquery, which SQLite runs only for an order COALESCE gets that far
        # with: the batch reads `orders` alone, not a page of `order_documents` an order.
        document_tags = select(_field(conn, "tags")).where(order_documents.c.order_id == c.id).scalar_subquery()
        tags = func.coalesce(c.tag_list, _overlaid(conn, "tags"), document_tags)
    # Which orders may have messages held, for services/bulk_set to look those up by key. On
    # SQLite every one: `rendered_for` lies behind the 5 KB document and the 10 KB rendering in
    # the row's overflow pages, which SQLite walks to reach it (a third of an archive batch of
    # 5,000 on the 250,000-order shop); looking up the held ids by key costs less.
    unrendered: ColumnElement[Any] = (
        or_(order_documents.c.rendered_for.is_(None), c.overlay.is_not(None)) if _postgres(conn) else literal(True)
    )
    # PostgreSQL locks the document's row too; SQLite needs nothing of it (one writer).
    joined = orders.join(order_documents, order_documents.c.order_id == c.id) if _postgres(conn) else orders
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
            unrendered.label("unrendered"),
            tags.label("tags"),
        )
        .select_from(joined)
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


def _overlaid(conn: Connection, name: str) -> ColumnElement[Any]:
    """One field of the order row's overlay (NULL where it has none), read as `_field` reads
    the document's."""
    if _postgres(conn):
        return cast(orders.c.overlay, JSON).op("->")(name)
    return func.json_extract(orders.c.overlay, f"$.{name}")


def _overlay(conn: Connection, values: dict[str, ColumnElement[Any] | Any]) -> ColumnElement[Any]:
    """The order row's overlay with these top-level document fields set (computed by the
    database; the overlay is a few dozen bytes, the document is not touched). Every change
    sets `version`: the document's, one more than the row's (the SET reads the row as it was)."""
    values = {**values, "version": orders.c.version + 1}
    overlay = func.coalesce(orders.c.overlay, "{}")
    if _postgres(conn):
        pairs: list[Any] = []
        for key, value in values.items():
            pairs += [literal(key), value]
        return cast(cast(overlay, JSONB).op("||")(func.jsonb_build_object(*pairs)), Text)
    args: list[Any] = []
    for key, value in values.items():
        args += [f"$.{key}", value]
    return func.json_set(overlay, *args)


def close_all(conn: Connection, ids: list[int], now: datetime) -> None:
    """Archive these orders (domain/lifecycle.close, for rows the rule lets through)."""
    if not ids:
        return
    at = _json_time(now)
    c = orders.c
    conn.execute(
        update(orders)
        .where(among(conn, c.id, ids), c.closed_at.is_(None))
        .values(
            closed_at=now,
            updated_at=now,
            order_status=case((c.cancelled_at.is_(None), "closed"), else_="cancelled"),
            version=c.version + 1,
            overlay=_overlay(conn, {"closed_at": at, "updated_at": at}),
        )
    )


def reopen_all(conn: Connection, ids: list[int], now: datetime) -> None:
    """Unarchive these orders (domain/lifecycle.reopen): open again, and left open by the
    auto-archive rule until a newer fulfillment, refund or payment (`unarchived_seq`)."""
    if not ids:
        return
    at = _json_time(now)
    c = orders.c
    # Read from the document, never written by a bulk change (so never in an overlay).
    next_seq = select(_field(conn, "next_child_seq")).where(order_documents.c.order_id == c.id).scalar_subquery()
    conn.execute(
        update(orders)
        .where(among(conn, c.id, ids), c.closed_at.is_not(None))
        .values(
            closed_at=None,
            updated_at=now,
            order_status=case((c.cancelled_at.is_(None), "open"), else_="cancelled"),
            version=c.version + 1,
            overlay=_overlay(conn, {"closed_at": null(), "unarchived_seq": next_seq, "updated_at": at}),
        )
    )


def retag_all(conn: Connection, changed: dict[int, list[str]], unchanged: list[int], now: datetime) -> None:
    """Give each order of `changed` its new tags (one statement, the tags passed as one JSON
    value); the `unchanged` ones are saved as their command saves them: only a new version."""
    c = orders.c
    if changed:
        # The tags, and the export's tags cell and tag list the order row keeps
        # (store/orders.summary_columns), the list encoded here as a save encodes it.
        at = _json_time(now)
        given = _given(
            conn,
            [
                {"id": k, "tags": v, "cell": ", ".join(v), "listed": msgspec.json.encode(v).decode()}
                for k, v in changed.items()
            ],
            id=BigInteger,
            tags=JSONB,
            cell=Text,
            listed=Text,
        )
        # On SQLite json() right in json_set's arguments: only then is the value taken as JSON, not text.
        tags_value: Any = given.c.tags if _postgres(conn) else func.json(given.c.tags)
        conn.execute(
            update(orders)
            .where(c.id == given.c.id)
            .values(
                updated_at=now,
                version=c.version + 1,
                tags=given.c.cell,
                tag_list=given.c.listed,
                overlay=_overlay(conn, {"tags": tags_value, "updated_at": at}),
            )
        )
    if unchanged:
        # Only the version moves, which the rendering does not show: an order with no overlay
        # keeps its rendering current, its document getting the version as before (the rare
        # case of tags that were already so); one with an overlay gets it there.
        version = select(c.version + 1).where(c.id == order_documents.c.order_id).scalar_subquery()
        if _postgres(conn):
            document: Any = cast(
                cast(order_documents.c.document, JSONB).op("||")(func.jsonb_build_object(literal("version"), version)),
                Text,
            )
        else:
            document = func.json_set(order_documents.c.document, "$.version", version)
        conn.execute(
            update(order_documents)
            .where(
                order_documents.c.order_id.in_(select(c.id).where(among(conn, c.id, unchanged), c.overlay.is_(None)))
            )
            .values(document=document)
        )
        conn.execute(
            update(orders)
            .where(among(conn, c.id, unchanged))
            .values(
                version=c.version + 1,
                overlay=case((c.overlay.is_(None), null()), else_=_overlay(conn, {})),
            )
        )


# ---- the renderings and held messages, afterwards ------------------------------------------------


def documents(conn: Connection, ids: list[int], *, lock: bool) -> dict[int, tuple[int, str, str | None]]:
    """(version, document, overlay) of each order still there; locked on PostgreSQL when asked,
    so a command on one of them waits until the renderings and releases commit."""
    query = (
        select(orders.c.id, orders.c.version, order_documents.c.document, orders.c.overlay)
        .select_from(orders.join(order_documents, order_documents.c.order_id == orders.c.id))
        .where(among(conn, orders.c.id, ids))
    )
    if lock and _postgres(conn):
        query = query.order_by(orders.c.id).with_for_update(of=[orders, order_documents])
    return {r.id: (r.version, r.document, r.overlay) for r in conn.execute(query)}


@dataclass(frozen=True)
class Fresh:
    """An order rendered afresh at `version`: its `rendering`, and its `document` whole (the
    overlay folded in) when it had an overlay."""

    order_id: int
    version: int
    rendering: str
    document: str | None


def store_renderings(conn: Connection, fresh: list[Fresh], fingerprint: str) -> None:
    """Store each rendering, and each whole document with its order row's overlay cleared: only
    where the order is still at that version."""
    if not fresh:
        return
    still_at = (
        select(orders.c.id)
        .where(orders.c.id == order_documents.c.order_id, orders.c.version == bindparam("at_version"))
        .exists()
    )

    def params(f: Fresh) -> dict[str, Any]:
        return {"rendered_order": f.order_id, "at_version": f.version, "fresh": f.rendering}

    rendered_only = [params(f) for f in fresh if f.document is None]
    if rendered_only:
        conn.execute(
            update(order_documents)
            .where(order_documents.c.order_id == bindparam("rendered_order"), still_at)
            .values(rendered=bindparam("fresh"), rendered_for=fingerprint),
            rendered_only,
        )
    folded = [{**params(f), "whole": f.document} for f in fresh if f.document is not None]
    if folded:
        # The document first: its condition reads the order row's version, which the second
        # statement leaves as it is.
        conn.execute(
            update(order_documents)
            .where(order_documents.c.order_id == bindparam("rendered_order"), still_at)
            .values(document=bindparam("whole"), rendered=bindparam("fresh"), rendered_for=fingerprint),
            folded,
        )
        conn.execute(
            update(orders)
            .where(orders.c.id == bindparam("rendered_order"), orders.c.version == bindparam("at_version"))
            .values(overlay=None),
            [{"rendered_order": p["rendered_order"], "at_version": p["at_version"]} for p in folded],
        )


def fold_overlays(conn: Connection, *, batch: int = 1000) -> int:
    """Write every overlay into its document and clear it, a batch of orders at a time in
    bounded memory (migration 0029's downgrade; the renderings are dropped, reads render
    afresh). Returns how many orders it folded."""
    folded, last = 0, 0
    while True:
        rows = conn.execute(
            select(orders.c.id, order_documents.c.document, orders.c.overlay)
            .select_from(orders.join(order_documents, order_documents.c.order_id == orders.c.id))
            .where(orders.c.id > last, orders.c.overlay.is_not(None))
            .order_by(orders.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return folded
        conn.execute(
            update(order_documents)
            .where(order_documents.c.order_id == bindparam("folded_order"))
            .values(document=bindparam("whole"), rendered=None, rendered_for=None),
            [{"folded_order": r.id, "whole": with_overlay(r.document, r.overlay)} for r in rows],
        )
        conn.execute(update(orders).where(among(conn, orders.c.id, [r.id for r in rows])).values(overlay=None))
        folded += len(rows)
        last = rows[-1].id


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
