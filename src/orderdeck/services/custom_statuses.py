"""Custom statuses (S5): defining the merchant's stages, and putting orders in them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ..domain import lifecycle
from ..domain.errors import InvalidInput, RuleViolation
from ..notify.engine import LOCALES
from ..store.custom_statuses import CustomStatus, CustomStatuses
from .changes import load_order, save_order
from .context import Command

HANDLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _checked(values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    if creating or "handle" in values:
        handle = values.get("handle")
        if not isinstance(handle, str) or not HANDLE.match(handle):
            raise InvalidInput(
                "must be lower-case letters, digits, - or _ (at most 64), e.g. in_production", field="handle"
            )
        checked["handle"] = handle
    if creating or "names" in values:
        names = values.get("names")
        if not isinstance(names, dict) or not isinstance(names.get("en"), str) or not names["en"].strip():
            raise InvalidInput(
                'needs at least an English name: {"en": "In production", "nl": "In productie"}', field="names"
            )
        unknown = set(names) - set(LOCALES)
        if unknown:
            raise InvalidInput(
                f"{sorted(unknown)[0]} is not a language Orderdeck speaks ({', '.join(LOCALES)})", field="names"
            )
        if not all(isinstance(v, str) and 0 < len(v.strip()) <= 64 for v in names.values()):
            raise InvalidInput("each name is a text of 1 to 64 characters", field="names")
        checked["names"] = {k: v.strip() for k, v in names.items()}
    if "color" in values or creating:
        color = values.get("color", "#6b7280")
        if not isinstance(color, str) or not COLOR.match(color):
            raise InvalidInput("must be a colour like #1d4ed8", field="color")
        checked["color"] = color.lower()
    for flag, default in (("customer_visible", True), ("notify", False)):
        if flag in values or creating:
            value = values.get(flag, default)
            if not isinstance(value, bool):
                raise InvalidInput("must be true or false", field=flag)
            checked[flag] = value
    if "position" in values:
        if not isinstance(values["position"], int) or values["position"] < 0:
            raise InvalidInput("must be a whole number from 0", field="position")
        checked["position"] = values["position"]
    return checked


def create(cmd: Command, values: dict[str, Any]) -> CustomStatus:
    statuses = CustomStatuses(cmd.uow.conn)
    checked = _checked(values, creating=True)
    if statuses.by_handle(checked["handle"]) is not None:
        raise InvalidInput("has already been taken", field="handle")
    checked.setdefault("position", statuses.next_position())
    return statuses.add(checked, cmd.now)


def change(cmd: Command, status_id: int, values: dict[str, Any]) -> CustomStatus:
    statuses = CustomStatuses(cmd.uow.conn)
    current = statuses.get(status_id)
    checked = _checked(values, creating=False)
    if "handle" in checked and checked["handle"] != current.handle:
        raise InvalidInput("cannot be changed once set: orders, rules and templates name it", field="handle")
    return statuses.change(status_id, checked, cmd.now)


def delete(cmd: Command, status_id: int, move_to: str | None) -> int:
    """Delete a stage. Orders in it move to `move_to` (another stage's handle, or "none" to
    leave them without one); with orders in it and no `move_to`, it is refused."""
    statuses = CustomStatuses(cmd.uow.conn)
    current = statuses.get(status_id)
    in_it = statuses.order_ids_in(current.handle)
    if in_it and move_to is None:
        raise RuleViolation(
            f"{len(in_it)} order(s) are in {current.handle}; say where they go with move_to (a status handle, or none)",
            field="move_to",
        )
    target = None
    if move_to not in (None, "none"):
        target = statuses.by_handle(move_to)  # type: ignore[arg-type]
        if target is None or target.id == status_id:
            raise InvalidInput(f"{move_to!r} is not another custom status", field="move_to")
    for order_id in in_it:
        set_on_order(cmd, order_id, target.handle if target else None, notify=False)
    statuses.remove(status_id)
    return len(in_it)


def set_on_order(
    cmd: Command,
    order_id: int,
    handle: str | None,
    *,
    notify: bool | None = None,
    due_at: datetime | None = None,
    public_note: str | None = None,
    private_note: str | None = None,
) -> bytes | None:
    """Put an order in a stage (or none). `notify` None follows the stage's own setting; the
    customer is only told of stages they can see."""
    status = None
    if handle is not None:
        status = CustomStatuses(cmd.uow.conn).by_handle(handle)
        if status is None:
            raise InvalidInput(f"no custom status {handle!r}; create it first", field="handle")
    for name, note in (("public_note", public_note), ("private_note", private_note)):
        if note is not None and len(note) > 2000:
            raise InvalidInput("is longer than 2,000 characters", field=name)
    loaded = load_order(cmd, order_id)
    tell = bool(status and status.customer_visible and (status.notify if notify is None else notify))
    changed = lifecycle.set_custom_status(
        loaded.order,
        handle=handle,
        label=status.name("en") if status else "",
        due_at=due_at,
        public_note=public_note,
        private_note=private_note,
        notify=tell,
        author=cmd.author,
        now=cmd.now,
    )
    return save_order(cmd, loaded.order, loaded) if changed else None
