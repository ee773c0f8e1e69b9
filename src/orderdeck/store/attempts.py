"""Attempts counted for rate limits (order lookup, staff sign-in): one row per attempt under a
key such as `client:<address>`, kept in the database so every server process counts alike, and
forgotten once older than the window they are counted over."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from .tables import lookup_attempts

_a = lookup_attempts.c


class Attempts:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def forget_before(self, since: datetime) -> None:
        self.conn.execute(delete(lookup_attempts).where(_a.at < since))

    def count(self, key: str, since: datetime) -> int:
        return int(self.conn.execute(select(func.count()).where(_a.key == key, _a.at >= since)).scalar_one())

    def record(self, key: str, now: datetime) -> None:
        self.conn.execute(insert(lookup_attempts).values(key=key, at=now))
