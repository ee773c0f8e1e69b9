"""Bulk archive, unarchive and tagging as a few statements a batch of thousands of orders.

Done one order at a time, these load and decode each document, render it, and write the whole
row, its timeline event and two outbox messages: milliseconds an order, minutes for 100,000.
Here a batch reads the orders' status columns (and tags) in one statement, decides each order
by the rule domain/lifecycle.py declares over those columns (`close_refusal`, `reopen_refusal`,
`retagged`), and then changes every order the rule lets through at once
(store/bulk_updates.py): the document patched inside the database, the status columns, the
status-count deltas, the tag search terms, a timeline event an order (INSERT … SELECT), and its
`orders/updated` webhook and automation message, held until services/held.py has rendered the
order afresh and filled the webhook in. The result is what the one-by-one commands leave;
tests/integration/test_bulk_set.py holds them side by side on generated orders.

An order whose save could do more than the change itself (`lifecycle.needs_whole_command`:
returns, stuck flags, work at a fulfillment service, the auto-archive rule) and one whose
messages from an earlier bulk change are still held go through its whole command instead, in
the same transaction, each in its own savepoint as services/bulk.py does it.

Orders are locked for the batch (PostgreSQL `FOR UPDATE`; SQLite has one writer), so a command
on one of them waits for the batch, or the batch for it: no change is lost either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import insert, literal, select
from sqlalchemy.exc import OperationalError

from ..domain import lifecycle
from ..domain.errors import OrderError
from ..domain.order import Author
from ..store import bulk_updates, counts
from ..store.fulfillment_services import FulfillmentServices
from ..store.tables import orders, timeline_events
from ..store.uow import UnitOfWork
from .bulk import BulkResult, OnBatch, _conflict, run_in_batches
from .context import Command, Orderdeck

BATCH = 5000  # orders a batch: a few statements each, a second or less of the writer's time

ACTIONS = ("archive", "unarchive", "add_tags", "remove_tags")
TAG_ACTIONS = ("add_tags", "remove_tags")

Step = Callable[[Command, int], Any]


def run(
    app: Orderdeck,
    author: Author,
    ids: list[int],
    action: str,
    *,
    tags: list[str] | None = None,
    step: Step,
    batch: int | None = None,
    on_batch: OnBatch | None = None,
) -> BulkResult:
    """Carry out `action` on the orders, set-based; `step` is the action's whole command, for the
    orders that need it (and for a batch that lost a deadlock, order by order)."""
    if action not in ACTIONS:
        raise ValueError(f"{action!r} is not done set-based")
    add = (tags or []) if action == "add_tags" else []
    remove = (tags or []) if action == "remove_tags" else []
    result = BulkResult()
    size = batch or BATCH
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        try:
            _run_batch(app, author, chunk, action, add, remove, step, result, on_batch)
        except OperationalError as exc:
            if not _conflict(exc):
                raise
            # A deadlock victim on PostgreSQL: nothing of the batch committed; go through it
            # again an order a command, as services/bulk.py does.
            again = run_in_batches(app, author, chunk, step, on_batch=on_batch)
            result.succeeded.extend(again.succeeded)
            result.refused.extend(again.refused)
    return result


def _run_batch(
    app: Orderdeck,
    author: Author,
    chunk: list[int],
    action: str,
    add: list[str],
    remove: list[str],
    step: Step,
    so_far: BulkResult,
    on_batch: OnBatch | None,
) -> None:
    with app.unit_of_work() as uow:
        conn = uow.conn
        rows = bulk_updates.rows_for_update(conn, chunk, with_tags=action in TAG_ACTIONS)
        found = {r.id: r for r in rows}
        stuck = bulk_updates.with_term(conn, chunk, "stuck", ["any"])
        service_locations = [str(s.location_id) for s in FulfillmentServices(conn).all()]
        at_service = bulk_updates.with_term(conn, chunk, "location", service_locations)
        waiting = _with_held_messages(uow, [r for r in rows if r.unrendered])
        auto_archive = uow.shop.settings.auto_archive

        whole: list[int] = []  # orders their whole command changes
        refused: dict[int, str] = {}
        changed: list[bulk_updates.BatchRow] = []
        new_tags: dict[int, list[str]] = {}
        unchanged: list[int] = []
        for order_id in chunk:
            row = found.get(order_id)
            if row is None:
                whole.append(order_id)  # gone: its command says so, in its words
                continue
            standing = lifecycle.Standing(
                name=row.name,
                closed=row.closed,
                cancelled=row.cancelled,
                financial_status=row.financial_status,
                fulfillment_status=row.fulfillment_status,
                has_returns=row.return_status != "no_return",
                stuck=order_id in stuck,
                at_service=order_id in at_service,
            )
            refusal = (
                lifecycle.close_refusal(standing)
                if action == "archive"
                else lifecycle.reopen_refusal(standing)
                if action == "unarchive"
                else None
            )
            if refusal is not None:
                refused[order_id] = refusal
                continue
            if lifecycle.needs_whole_command(standing, auto_archive=auto_archive) or order_id in waiting:
                whole.append(order_id)
                continue
            if action in TAG_ACTIONS:
                before = row.tags or []
                try:
                    after = lifecycle.retagged(before, add=add, remove=remove)
                except OrderError as exc:
                    refused[order_id] = exc.message
                    continue
                if lifecycle.moves_stuck_tag(before, after):
                    whole.append(order_id)
                    continue
                if after == before:
                    unchanged.append(order_id)
                    continue
                new_tags[order_id] = after
            changed.append(row)

        # The held messages first: they take each order's version before the change.
        _hold_messages(uow, author, action, changed)
        if action == "archive":
            bulk_updates.close_all(conn, [r.id for r in changed], uow.now)
            _count(conn, changed, closed=True)
        elif action == "unarchive":
            bulk_updates.reopen_all(conn, [r.id for r in changed], uow.now)
            _count(conn, changed, closed=False)
        else:
            bulk_updates.retag_all(conn, new_tags, unchanged, uow.now)
            _retag_terms(conn, {r.id: r.tags or [] for r in changed}, new_tags)
        _timeline(uow, author, action, [r.id for r in changed])

        done = set(unchanged) | {r.id for r in changed}
        cmd = Command(app, uow, author)
        for order_id in whole:
            savepoint = conn.begin_nested()
            try:
                step(cmd, order_id)
            except OrderError as exc:
                savepoint.rollback()
                refused[order_id] = exc.message
            else:
                savepoint.commit()
                done.add(order_id)
        counts.fold(conn)
        # In the batch's order, as one order at a time reports them.
        succeeded = [i for i in chunk if i in done]
        refusals = [{"id": i, "error": refused[i]} for i in chunk if i in refused]
        if on_batch is not None:
            on_batch(uow, succeeded, refusals)
        uow.commit()
    so_far.succeeded.extend(succeeded)
    so_far.refused.extend(refusals)


def _with_held_messages(uow: UnitOfWork, rows: list[bulk_updates.BatchRow]) -> set[int]:
    """Orders an earlier bulk change left with messages still held: their whole command
    releases those first (services/held.py), rendered as that change left the order."""
    # Every bulk change holds a webhook with each automation message: with none held anywhere
    # (one look at the pending index), no order has any, and no id is looked up.
    if not rows or not bulk_updates.held_webhooks(uow.conn, 1):
        return set()
    ids = [i for r in rows for i in bulk_updates.held_ids(r.id, r.version)]
    return {h.order_id for h in bulk_updates.held(uow.conn, ids)}


def _count(conn: Any, changed: list[bulk_updates.BatchRow], *, closed: bool) -> None:
    """The status-count deltas of archiving (or unarchiving) these orders."""
    deltas: list[tuple[counts.Key, int]] = []
    for r in changed:
        before: counts.Key = (
            r.order_status,
            r.closed,
            r.cancelled,
            r.financial_status,
            r.fulfillment_status,
            r.display_fulfillment_status,
        )
        status = "cancelled" if r.cancelled else "closed" if closed else "open"
        deltas += [(before, -1), ((status, closed, *before[2:]), 1)]  # type: ignore[list-item]
    counts.record(conn, deltas)


def _terms(tags: list[str]) -> set[str]:
    return {t.lower()[:255] for t in tags}  # as store/orders.search_terms keeps them


def _retag_terms(conn: Any, before: dict[int, list[str]], after: dict[int, list[str]]) -> None:
    """The tag search terms follow the tags: what went is deleted, what came is added."""
    gone: list[tuple[int, str]] = []
    new: list[tuple[int, str]] = []
    for order_id, tags in after.items():
        old, now = _terms(before[order_id]), _terms(tags)
        gone += [(order_id, t) for t in sorted(old - now)]
        new += [(order_id, t) for t in sorted(now - old)]
    bulk_updates.drop_terms(conn, "tag", gone)
    bulk_updates.add_terms(conn, "tag", new)


_EVENTS = {
    # action: (verb, the message as the domain words it, arguments)
    "archive": ("closed", None, "{}"),
    "unarchive": ("re_opened", None, "{}"),
    "add_tags": ("update", lifecycle.TAGS_CHANGED, orjson.dumps({"fields": ["tags"]}).decode()),
    "remove_tags": ("update", lifecycle.TAGS_CHANGED, orjson.dumps({"fields": ["tags"]}).decode()),
}


def _timeline(uow: UnitOfWork, author: Author, action: str, ids: list[int]) -> None:
    """One timeline event an order, written by one INSERT … SELECT."""
    if not ids:
        return
    verb, message, arguments = _EVENTS[action]
    # The archive messages name the order: built from the same words as lifecycle's, around its name.
    if message is None:
        before, _, after = (
            lifecycle.closed_message("\0") if action == "archive" else lifecycle.reopened_message("\0")
        ).partition("\0")
        text: Any = literal(before) + orders.c.name + literal(after)
    else:
        text = literal(message)
    query = (
        select(
            orders.c.id,
            literal(uow.now, timeline_events.c.created_at.type),
            literal(verb),
            text,
            literal(author.kind),
            literal(author.name),
            literal(author.ref, timeline_events.c.author_ref.type),
            literal(None, timeline_events.c.subject_id.type),
            literal(arguments),
            literal(False, timeline_events.c.is_comment.type),
        )
        .where(bulk_updates.among(uow.conn, orders.c.id, ids))
        .order_by(orders.c.id)
    )
    uow.conn.execute(
        insert(timeline_events).from_select(
            [
                "order_id",
                "created_at",
                "verb",
                "message",
                "author_kind",
                "author_name",
                "author_ref",
                "subject_id",
                "arguments",
                "is_comment",
            ],
            query,
        )
    )


def _hold_messages(uow: UnitOfWork, author: Author, action: str, changed: list[bulk_updates.BatchRow]) -> None:
    """Each changed order's `orders/updated` webhook and automation message, as save_order
    writes them, held until the order is rendered (services/held.py)."""
    bulk_updates.hold(
        uow.conn, [r.id for r in changed], uow.now, verb=_EVENTS[action][0], author=(author.kind, author.ref)
    )
