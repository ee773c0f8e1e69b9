"""The merchant's saved views of the Orders page: a name and the page's filter query string,
shown as tabs after the built-in ones, in the order they were saved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from ..domain.errors import InvalidInput, NotFound
from .tables import saved_views

NAME_LENGTH = 80


@dataclass(frozen=True)
class SavedView:
    id: int
    name: str
    query: str  # the Orders page's filter query string, e.g. "status=open&tag=wholesale"
    position: int


class SavedViews:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def all(self) -> list[SavedView]:
        rows = self.conn.execute(
            select(saved_views.c.id, saved_views.c.name, saved_views.c.query, saved_views.c.position).order_by(
                saved_views.c.position, saved_views.c.id
            )
        )
        return [SavedView(row.id, row.name, row.query, row.position) for row in rows]

    def get(self, view_id: int) -> SavedView:
        found = [view for view in self.all() if view.id == view_id]
        if not found:
            raise NotFound(f"No saved view with id {view_id}")
        return found[0]

    def add(self, name: str, query: str, now: datetime, *, reserved: tuple[str, ...] = ()) -> SavedView:
        """Save a view under a name no other view (nor a built-in tab in `reserved`) has."""
        name = " ".join(name.split())
        if not name:
            raise InvalidInput("give the view a name", field="name")
        if len(name) > NAME_LENGTH:
            raise InvalidInput(f"a view's name has at most {NAME_LENGTH} characters", field="name")
        taken = {view.name.lower() for view in self.all()} | {r.lower() for r in reserved}
        if name.lower() in taken:
            raise InvalidInput(f"there is already a view called {name!r}", field="name")
        position = self.conn.execute(select(func.coalesce(func.max(saved_views.c.position), 0) + 1)).scalar_one()
        new_id = self.conn.execute(
            insert(saved_views)
            .values(name=name, query=query, position=position, created_at=now)
            .returning(saved_views.c.id)
        ).scalar_one()
        return SavedView(new_id, name, query, position)

    def remove(self, view_id: int) -> SavedView:
        view = self.get(view_id)
        self.conn.execute(delete(saved_views).where(saved_views.c.id == view_id))
        return view
