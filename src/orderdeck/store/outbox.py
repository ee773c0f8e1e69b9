"""Writing outbox messages inside the command's transaction (DESIGN.md principle 2).

Nothing is sent from here: a worker reads these rows after commit and delivers each at least
once, under its stable id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert

from .tables import outbox


@dataclass(frozen=True)
class OutboxMessage:
    kind: str  # webhook | notification | automation
    topic: str
    payload: str  # JSON, rendered when the change happened: retries carry the original payload
    order_id: int | None = None
    subject_id: int | None = None


class Outbox:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def put(self, messages: list[OutboxMessage], now: datetime) -> None:
        if not messages:
            return
        # executemany form: the statement compiles once and is cached, whatever the row count.
        self.conn.execute(
            insert(outbox),
            [
                {
                    "id": str(uuid.uuid4()),
                    "kind": m.kind,
                    "topic": m.topic,
                    "order_id": m.order_id,
                    "subject_id": m.subject_id,
                    "payload": m.payload,
                    "created_at": now,
                    "available_at": now,
                }
                for m in messages
            ],
        )
