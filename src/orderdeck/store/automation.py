"""Automation rules as stored, and their runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from ..domain.errors import NotFound
from .database import utc
from .tables import automation_rules, automation_runs

# A run started by a change to a return (returns/request, refunds/create of a return, …) keeps
# that return: its conditions read it and its return actions act on it. It is kept in the run's
# `trigger` column after the topic ("returns/request@12000003"), which holds topics of at most
# 40 characters in 96, so runs stored before returns existed read as they were.
RETURN_MARK = "@"


def stored_trigger(topic: str, return_id: int | None) -> str:
    return topic if return_id is None else f"{topic}{RETURN_MARK}{return_id}"


def _trigger_and_return(stored: str) -> tuple[str, int | None]:
    topic, mark, return_id = stored.partition(RETURN_MARK)
    return (topic, int(return_id)) if mark and return_id.isdigit() else (stored, None)


@dataclass(frozen=True)
class StoredRule:
    id: int
    name: str
    enabled: bool
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    scheduled_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> StoredRule:
        return cls(
            id=row["id"],
            name=row["name"],
            enabled=row["enabled"],
            definition=orjson.loads(row["definition"]),
            created_at=utc(row["created_at"]),  # type: ignore[arg-type]
            updated_at=utc(row["updated_at"]),  # type: ignore[arg-type]
            scheduled_at=utc(row["scheduled_at"]),
        )


@dataclass(frozen=True)
class Run:
    id: str
    rule_id: int
    order_id: int
    trigger: str
    depth: int
    state: str
    step: int
    due_at: datetime
    created_at: datetime
    finished_at: datetime | None
    log: list[dict[str, Any]]
    error: str | None
    return_id: int | None = None  # the return the triggering change was about, if any

    @classmethod
    def of(cls, row: Any) -> Run:
        values = dict(row)
        values["trigger"], values["return_id"] = _trigger_and_return(values["trigger"])
        values["log"] = orjson.loads(values["log"])
        for name in ("due_at", "created_at", "finished_at"):
            values[name] = utc(values[name])
        return cls(**values)


class Rules:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, definition: dict[str, Any], event: str | None, now: datetime) -> StoredRule:
        new_id = self.conn.execute(
            insert(automation_rules)
            .values(
                name=definition["name"],
                enabled=definition["enabled"],
                trigger_event=event,
                definition=orjson.dumps(definition).decode(),
                created_at=now,
                updated_at=now,
            )
            .returning(automation_rules.c.id)
        ).scalar_one()
        return self.get(new_id)

    def get(self, rule_id: int) -> StoredRule:
        row = self.conn.execute(select(automation_rules).where(automation_rules.c.id == rule_id)).mappings().first()
        if row is None:
            raise NotFound(f"No automation rule with id {rule_id}")
        return StoredRule.of(row)

    def list(self, *, after_id: int | None = None, limit: int | None = None) -> list[StoredRule]:
        query = select(automation_rules).order_by(automation_rules.c.id)
        if after_id is not None:
            query = query.where(automation_rules.c.id > after_id)
        if limit is not None:
            query = query.limit(limit)
        return [StoredRule.of(r) for r in self.conn.execute(query).mappings()]

    def listening_to(self, topics: set[str]) -> list[StoredRule]:
        rows = self.conn.execute(
            select(automation_rules).where(
                automation_rules.c.enabled.is_(True), automation_rules.c.trigger_event.in_(topics)
            )
        ).mappings()
        return [StoredRule.of(r) for r in rows]

    def scheduled(self) -> list[StoredRule]:
        rows = self.conn.execute(
            select(automation_rules).where(
                automation_rules.c.enabled.is_(True), automation_rules.c.trigger_event.is_(None)
            )
        ).mappings()
        return [StoredRule.of(r) for r in rows]

    def replace(self, rule_id: int, definition: dict[str, Any], event: str | None, now: datetime) -> StoredRule:
        self.get(rule_id)
        self.conn.execute(
            update(automation_rules)
            .where(automation_rules.c.id == rule_id)
            .values(
                name=definition["name"],
                enabled=definition["enabled"],
                trigger_event=event,
                definition=orjson.dumps(definition).decode(),
                updated_at=now,
            )
        )
        return self.get(rule_id)

    def mark_scheduled(self, rule_id: int, at: datetime) -> None:
        self.conn.execute(update(automation_rules).where(automation_rules.c.id == rule_id).values(scheduled_at=at))

    def remove(self, rule_id: int) -> None:
        self.get(rule_id)
        self.conn.execute(delete(automation_runs).where(automation_runs.c.rule_id == rule_id))
        self.conn.execute(delete(automation_rules).where(automation_rules.c.id == rule_id))


class Runs:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def start(self, rows: list[dict[str, Any]]) -> None:
        """Insert new runs; one whose id exists already (the same trigger) is left alone. A row
        may name the return its trigger is about (`return_id`)."""
        if not rows:
            return
        rows = [
            {
                **{k: v for k, v in r.items() if k != "return_id"},
                "trigger": stored_trigger(r["trigger"], r.get("return_id")),
            }
            for r in rows
        ]
        existing = set(
            self.conn.execute(
                select(automation_runs.c.id).where(automation_runs.c.id.in_([r["id"] for r in rows]))
            ).scalars()
        )
        fresh = [r for r in rows if r["id"] not in existing]
        if fresh:
            self.conn.execute(insert(automation_runs), fresh)

    def claim(self, now: datetime, lease_until: datetime, limit: int, *, skip_locked: bool) -> list[Run]:
        r = automation_runs.c
        query = select(automation_runs).where(r.state == "pending", r.due_at <= now).order_by(r.due_at).limit(limit)
        if skip_locked:
            query = query.with_for_update(skip_locked=True)
        found = [Run.of(row) for row in self.conn.execute(query).mappings()]
        if found:
            self.conn.execute(update(automation_runs).where(r.id.in_([f.id for f in found])).values(due_at=lease_until))
        return found

    def get(self, run_id: str, *, for_update: bool = False) -> Run:
        query = select(automation_runs).where(automation_runs.c.id == run_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"No automation run with id {run_id}")
        return Run.of(row)

    def advance(self, run_id: str, **values: Any) -> None:
        if "log" in values:
            values["log"] = orjson.dumps(values["log"]).decode()
        self.conn.execute(update(automation_runs).where(automation_runs.c.id == run_id).values(**values))

    def release(self, run_id: str, step: int, now: datetime) -> None:
        r = automation_runs.c
        self.conn.execute(
            update(automation_runs).where(r.id == run_id, r.state == "pending", r.step == step).values(due_at=now)
        )

    def of_rule(self, rule_id: int, *, before: tuple[datetime, str] | None, limit: int) -> list[Run]:
        r = automation_runs.c
        query = select(automation_runs).where(r.rule_id == rule_id)
        if before is not None:
            at, last = before
            query = query.where((r.created_at < at) | ((r.created_at == at) & (r.id < last)))
        query = query.order_by(r.created_at.desc(), r.id.desc()).limit(limit)
        return [Run.of(row) for row in self.conn.execute(query).mappings()]
