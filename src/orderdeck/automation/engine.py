"""Running rules: from a committed change to runs, and from runs to actions.

1. The relay hands each `automation` outbox message (one per command that changed an order)
   to `start_runs`, in its transaction: one run per enabled rule listening to a topic the change
   raised, due at once or `after_hours` later. A run's id comes from the message and the rule,
   so a message handed on twice starts nothing twice.
2. A worker claims due runs (`run_due`), checks the rule's conditions against the order as it
   is now, and performs the actions in order. Each action commits together with the run's
   progress, so an action is never repeated by a worker that resumes a run; `wait` parks the
   run until its time. The result goes on the run's log and the order's timeline.

Loops: a change made by a rule never triggers that rule again, and chains of rules triggering
rules stop at MAX_DEPTH (the run is logged as skipped, with the reason).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from .. import destinations
from ..domain.errors import NotFound, OrderError
from ..domain.order import Author, DomainEvent, Order
from ..domain.self_service import is_final_sale
from ..resources import render
from ..services import self_service
from ..services.context import Command, Orderdeck
from ..store.automation import Rules, Run, Runs, StoredRule
from ..store.codec import decode_order
from ..store.tables import order_documents, orders
from ..store.uow import UnitOfWork
from . import actions
from .grammar import FINAL_SALE, STUCK, Facts, Rule, matches, mentions, parse_rule, the_return

log = logging.getLogger("orderdeck.automation")

MAX_DEPTH = 3
RUN_NAMESPACE = uuid.UUID("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")
LEASE = timedelta(minutes=5)


def rule_author(rule_id: int, name: str, depth: int) -> Author:
    return Author(kind="automation", name=f"Rule: {name}", ref=f"{rule_id}:{depth}")


def _origin(author: dict[str, Any] | None) -> tuple[int | None, int]:
    """(rule id, depth) of the run that made a change, or (None, -1) for anyone else."""
    if not author or author.get("kind") != "automation" or not author.get("ref"):
        return None, -1
    rule_id, depth = str(author["ref"]).split(":")
    return int(rule_id), int(depth)


def run_id(*parts: object) -> str:
    return str(uuid.uuid5(RUN_NAMESPACE, ":".join(str(p) for p in parts)))


def _run_row(
    rule: StoredRule, order_id: int, trigger: str, depth: int, due: datetime, now: datetime, ident: str
) -> dict[str, Any]:
    return {
        "id": ident,
        "rule_id": rule.id,
        "order_id": order_id,
        "trigger": trigger,
        "depth": depth,
        "state": "pending",
        "step": 0,
        "due_at": due,
        "created_at": now,
        "log": "[]",
    }


def start_runs(conn: Connection, messages: list[Any], now: datetime) -> int:
    """The relay's consumer for `automation` messages."""
    payloads = [(m, orjson.loads(m.payload)) for m in messages]
    topics = {t for _, p in payloads for t in p.get("topics", [])}
    listening = Rules(conn).listening_to(topics) if topics else []
    rows = []
    for message, payload in payloads:
        source_rule, source_depth = _origin(payload.get("author"))
        depth = source_depth + 1
        for rule in listening:
            event = rule.definition["when"]["event"]
            if event not in payload.get("topics", []) or rule.id == source_rule:
                continue
            after = rule.definition["when"].get("after_hours")
            due = now + timedelta(hours=float(after)) if after else now
            # One run per return the change is about under this topic (a disposal may span two
            # returns), each reading and acting on its own return; none for other topics.
            about: list[int | None] = list(payload.get("returns", {}).get(event, [])) or [None]
            for return_id in about:
                ident = run_id(message.id, rule.id) if len(about) == 1 else run_id(message.id, rule.id, return_id)
                row = _run_row(rule, payload["order_id"], event, depth, due, now, ident)
                row["return_id"] = return_id
                if depth >= MAX_DEPTH:
                    row.update(
                        state="skipped",
                        finished_at=now,
                        error=f"Not run: {depth} rules in a row triggered each other (the limit is {MAX_DEPTH})",
                    )
                rows.append(row)
    Runs(conn).start(rows)
    return len(rows)


def _final_sale(uow: UnitOfWork, order: Order, facts: Facts) -> bool | None:
    """Whether an item of the return the facts are about is final sale under the shop's return
    policy as it is now (its product's or the order's tags); None without a return."""
    ret = the_return(facts)
    if ret is None:
        return None
    policy = self_service.return_policy(uow.shop.settings)
    finals = self_service.final_sale_products(uow, order, policy)
    lines = [order.line_item(li["line_item_id"]) for li in ret.get("return_line_items") or []]
    return any(line is not None and is_final_sale(order, line, policy, finals) for line in lines)


def facts_of(uow: UnitOfWork, app: Orderdeck, order_id: int, return_id: int | None = None) -> Facts:
    order = uow.orders.get(order_id, for_update=False)
    facts: Facts = render.order(order, app.render_context(uow))
    facts["_now"] = uow.now
    facts["_return_id"] = return_id
    # What the order is stuck on now (domain/stuck.py): the stuck.reason and stuck.service fields.
    facts[STUCK] = [{"reason": f.reason, "service": f.service} for f in order.stuck]
    if order.returns:
        facts[FINAL_SALE] = _final_sale(uow, order, facts)
    if order.customer is not None:
        facts["_customer_orders_count"] = uow.conn.execute(
            select(func.count()).select_from(orders).where(orders.c.customer_id == order.customer.id)
        ).scalar_one()
    return facts


def run_due(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False, limit: int = 50) -> int:
    """Claim due runs and carry each as far as it goes now. Returns how many were claimed."""
    with app.unit_of_work() as uow:
        claimed = Runs(uow.conn).claim(uow.now, uow.now + LEASE, limit, skip_locked=not app.db.is_sqlite)
        uow.commit()
    for index, run in enumerate(claimed):
        if should_stop():
            _release(app, claimed[index:])
            break
        try:
            carry_out(app, run)
        except Exception:  # the database went away mid-run: the run is taken up again after its lease
            log.exception("automation run %s of rule %s stopped; it resumes after its lease", run.id, run.rule_id)
    return len(claimed)


def _release(app: Orderdeck, runs: list[Run]) -> None:
    """A stopping worker gives back the runs it claimed and did not start: due again now."""
    with app.unit_of_work() as uow:
        for run in runs:
            Runs(uow.conn).release(run.id, run.step, uow.now)
        uow.commit()


def carry_out(app: Orderdeck, run: Run) -> None:
    with app.unit_of_work(read_only=True) as uow:
        try:
            stored = Rules(uow.conn).get(run.rule_id)
        except NotFound:
            return  # the rule was deleted with its runs
        rule = parse_rule(stored.definition)
        author = rule_author(stored.id, rule.name, run.depth)
        try:
            facts = facts_of(uow, app, run.order_id, run.return_id)
        except NotFound:
            facts = None
    if facts is None:
        _finish(app, run, "skipped", "The order was deleted")
        return
    if run.step == 0:
        if not rule.enabled:
            _finish(app, run, "skipped", "The rule was disabled")
            return
        if not matches(rule.conditions, facts):
            _finish(app, run, "skipped", None)
            return
    for index in range(run.step, len(rule.actions)):
        step = rule.actions[index]
        if not _do_step(app, run, rule, stored.id, author, index, step, facts):
            return


def _do_step(
    app: Orderdeck, run: Run, rule: Rule, rule_id: int, author: Author, index: int, step: dict[str, Any], facts: Facts
) -> bool:
    """One action and the run's progress, in one transaction. False when the run stops here."""
    name = step["action"]
    external: str | None = None
    failure: str | None = None
    if name == "http_request":
        try:
            order_json = {k: v for k, v in facts.items() if not k.startswith("_")}
            external = actions.http_request(step, order_json, rule.name, destinations.of(app.settings))
        except actions.ExternalFailure as exc:
            failure = str(exc)
    with app.unit_of_work() as uow:
        runs = Runs(uow.conn)
        current = runs.get(run.id, for_update=True)
        if current.state != "pending" or current.step != index:
            return False  # another worker took the run over after this one's lease ran out
        log = list(current.log)
        now = uow.now
        if name == "wait":
            hours = Decimal(str(step["hours"]))
            log.append({"action": "wait", "result": f"waiting {hours} h", "at": now.isoformat()})
            runs.advance(run.id, step=index + 1, due_at=now + timedelta(hours=float(hours)), log=log)
            uow.commit()
            return False
        result = external
        if external is None and failure is None:
            savepoint = uow.conn.begin_nested()
            try:
                result = actions.perform(
                    Command(app, uow, author), run.order_id, step, rule.name, return_id=run.return_id
                )
                savepoint.commit()
            except OrderError as exc:
                savepoint.rollback()
                failure = exc.message
        log.append({"action": name, "result": result, "error": failure, "at": now.isoformat()})
        last = index == len(rule.actions) - 1
        if failure is not None:
            _close(uow, run, "failed", f"{name}: {failure}", log, author, rule.name)
        elif last:
            _close(uow, run, "done", None, log, author, rule.name)
        else:
            runs.advance(run.id, step=index + 1, log=log)
        uow.commit()
        return failure is None and not last


def _close(
    uow: UnitOfWork, run: Run, state: str, error: str | None, log: list[dict[str, Any]], author: Author, name: str
) -> None:
    Runs(uow.conn).advance(run.id, state=state, error=error, finished_at=uow.now, log=log)
    done = "; ".join(f"{entry['action']}: {entry['result'] or entry['error']}" for entry in log)
    message = (
        f"Rule '{name}' ran: {done}." if state == "done" else f"Rule '{name}' stopped: {error}. Before it: {done}."
    )
    uow.timeline.append(
        run.order_id,
        [DomainEvent(verb="automation_run", author=author, message=message, arguments={"rule": name, "state": state})],
        uow.now,
    )


def _finish(app: Orderdeck, run: Run, state: str, error: str | None) -> None:
    """A run that does no action (conditions not met, order gone): logged on the rule only."""
    with app.unit_of_work() as uow:
        current = Runs(uow.conn).get(run.id, for_update=True)
        if current.state == "pending" and current.step == run.step:
            Runs(uow.conn).advance(run.id, state=state, error=error, finished_at=uow.now)
            uow.commit()


# ---- scheduled rules and dry runs ---------------------------------------------------------------


def _renderings(
    conn: Connection,
    app: Orderdeck,
    uow: UnitOfWork,
    where: Any,
    after: int,
    batch: int,
    *,
    final_sale: bool,
    stuck: bool = False,
) -> list[tuple[int, Facts]]:
    """The orders' facts, from their stored renderings where current. `final_sale`: the rule
    reads return.final_sale, which needs the order and a look at its products' tags."""
    ctx = app.render_context(uow)
    c, d = orders.c, order_documents.c
    rows = conn.execute(
        select(c.id, d.rendered, d.rendered_for, d.document, c.overlay, c.customer_id)
        .select_from(orders.join(order_documents, d.order_id == c.id))
        .where(where, c.id < after)
        .order_by(c.id.desc())
        .limit(batch)
    ).all()
    found = []
    for row in rows:
        # An overlay (a set-based change since) makes the stored rendering out of date.
        if row.rendered is not None and row.rendered_for == ctx.fingerprint and row.overlay is None:
            facts: Facts = orjson.loads(row.rendered)
        else:
            facts = render.order(decode_order(row.document, row.overlay), ctx)
        facts["_now"] = uow.now
        if final_sale and facts.get("returns"):
            facts[FINAL_SALE] = _final_sale(uow, decode_order(row.document, row.overlay), facts)
        if stuck:
            flags = decode_order(row.document, row.overlay).stuck
            facts[STUCK] = [{"reason": f.reason, "service": f.service} for f in flags]
        if row.customer_id is not None:
            facts["_customer_orders_count"] = conn.execute(
                select(func.count()).select_from(orders).where(c.customer_id == row.customer_id)
            ).scalar_one()
        found.append((row.id, facts))
    return found


def matching_orders(app: Orderdeck, rule: Rule, *, scan: int, only_open: bool) -> tuple[int, list[tuple[int, str]]]:
    """Orders the rule's conditions match, newest first, looking at no more than `scan` orders.
    Returns (how many were looked at, [(id, name)] of the matches)."""
    looked, matched = 0, []
    after = 2**62
    where = orders.c.order_status == "open" if only_open else orders.c.id > 0
    with app.unit_of_work(read_only=True) as uow:
        while looked < scan:
            batch = _renderings(
                uow.conn,
                app,
                uow,
                where,
                after,
                min(500, scan - looked),
                final_sale=mentions(rule.conditions, "return.final_sale"),
                stuck=mentions(rule.conditions, "stuck.reason") or mentions(rule.conditions, "stuck.service"),
            )
            if not batch:
                break
            for order_id, facts in batch:
                if matches(rule.conditions, facts):
                    matched.append((order_id, str(facts.get("name"))))
            looked += len(batch)
            after = batch[-1][0]
    return looked, matched


SCHEDULED_SCAN = 100_000


def run_schedules(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Start runs of scheduled rules whose time has come, over the open orders they match."""
    started = 0
    with app.unit_of_work(read_only=True) as uow:
        due = [
            r
            for r in Rules(uow.conn).scheduled()
            if r.scheduled_at is None
            or r.scheduled_at + timedelta(hours=float(r.definition["when"]["every_hours"])) <= uow.now
        ]
    for stored in due:
        if should_stop():
            break
        rule = parse_rule(stored.definition)
        _, matched = matching_orders(app, rule, scan=SCHEDULED_SCAN, only_open=True)
        with app.unit_of_work() as uow:
            slot = uow.now.isoformat()
            Runs(uow.conn).start(
                [
                    _run_row(
                        stored, order_id, "schedule", 0, uow.now, uow.now, run_id("schedule", stored.id, order_id, slot)
                    )
                    for order_id, _ in matched
                ]
            )
            Rules(uow.conn).mark_scheduled(stored.id, uow.now)
            uow.commit()
        started += len(matched)
    return started
