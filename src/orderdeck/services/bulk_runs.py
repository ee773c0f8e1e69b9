"""Bulk actions staff start from the Orders page, carried out in the background (S7.4, S4.4).

Asking for one (`start`) fixes the orders and what the action needs in a `bulk_runs` row; a
worker takes it up (`run_due`, from the worker's own loop, see outbox/worker.py) and goes
through the orders in batches with services/bulk.run_in_batches: each order is its own command
in its own savepoint, authored by the staff member who asked, so one refusal undoes nothing
else and every timeline says who did it.

Progress commits with the orders it counts. Each batch's transaction ends by checking that the
orders it did are exactly the next ones the run's row has not yet counted, and then counting
them; so after a crash the run goes on from its count and no order is done twice, and two
workers that both take up a run cannot both do a batch (the second one's batch is rolled back
whole and it leaves the run to the first). Actions that call a payment provider (capture,
cancel with its voids and refunds, fulfil that may capture) go one order a transaction, so a
crash can leave at most the one order in flight with an unrecorded provider call, as a single
command would.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import InterfaceError, OperationalError

from ..domain.cancellation import CANCEL_REASONS, CancelRequest
from ..domain.errors import Forbidden, InvalidInput, RuleViolation
from ..domain.fulfillment import TrackingInfo
from ..domain.order import Author
from ..domain.statuses import ledger, open_authorizations
from ..store.bulk_runs import KEPT_REFUSALS, BulkRun, BulkRuns, order_names
from ..store.custom_statuses import CustomStatuses
from ..store.staff import PERMISSIONS
from ..store.uow import UnitOfWork
from . import bulk_set, custom_statuses, fulfillments, notifications, orders, payments
from .bulk import BATCH, run_in_batches
from .cancellation import cancel_order
from .changes import load_order, save_order
from .context import Command, Orderdeck

log = logging.getLogger("orderdeck.bulk")

# The actions, in the merchant's words (what the confirmation asks, what the summary says).
ACTIONS = {
    "capture": "Capture payments",
    "fulfil": "Fulfil",
    "archive": "Archive",
    "unarchive": "Unarchive",
    "add_tags": "Add tags",
    "remove_tags": "Remove tags",
    "set_custom_status": "Set custom status",
    "cancel": "Cancel",
    "message": "Message customers",
}
DONE_WORDS = {
    "capture": "payments captured",
    "fulfil": "fulfilled",
    "archive": "archived",
    "unarchive": "unarchived",
    "add_tags": "tagged",
    "remove_tags": "tags removed",
    "set_custom_status": "custom status set",
    "cancel": "cancelled",
    "message": "messages queued",
}
# The staff permissions each action needs: those of the same action on one order's page
# (web/admin/order.py, order_money.py). Checked when a run is asked for and again, against the
# staff member's permissions then, for every order it does. A cancel that refunds money also
# needs "refund" (checked an order at a time, as a single cancel does: only when it would refund).
NEEDS: dict[str, tuple[str, ...]] = {action: ("manage_orders",) for action in ACTIONS} | {
    "capture": ("manage_orders", "refund")
}
# These call a payment provider inside the order's command: one order a transaction.
ONE_AT_A_TIME = {"capture", "cancel", "fulfil"}
MAX_TRACKED = 50  # orders that can each get their own tracking number on the confirmation page


class TakenOver(Exception):
    """Another worker has counted these orders already: this batch is rolled back, the run left to it."""


# ---- asking for a run -----------------------------------------------------------------------------


def _text(raw: dict[str, Any], name: str, limit: int) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("must be text", field=name)
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"is longer than {limit:,} characters", field=name)
    return value or None


def _due(value: str | None, timezone: str) -> str | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date; use YYYY-MM-DD", field="due_date") from None
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone)).isoformat()


def checked_params(uow: UnitOfWork, action: str, raw: dict[str, Any], order_ids: list[int]) -> dict[str, Any]:
    """What the action needs, checked before anything runs (a refusal names the field)."""
    if action not in ACTIONS:
        raise InvalidInput(f"must be one of {', '.join(ACTIONS)}", field="action")
    if action in ("add_tags", "remove_tags"):
        tags = [t.strip() for t in (_text(raw, "tags", 1000) or "").split(",") if t.strip()]
        if not tags:
            raise InvalidInput("name at least one tag", field="tags")
        if any(len(t) > 255 for t in tags):
            raise InvalidInput("a tag is at most 255 characters", field="tags")
        return {"tags": list(dict.fromkeys(tags))}
    if action == "fulfil":
        numbers: dict[str, str] = {}
        for order_id, number in (raw.get("numbers") or {}).items():
            number = (number or "").strip()
            if number and int(order_id) in order_ids:
                if len(number) > 255:
                    raise InvalidInput("is longer than 255 characters", field=f"tracking_number_{order_id}")
                numbers[str(order_id)] = number
        return {"company": _text(raw, "tracking_company", 255), "numbers": numbers, "notify": bool(raw.get("notify"))}
    if action == "set_custom_status":
        handle = _text(raw, "handle", 255)
        if handle is None:
            raise InvalidInput("choose a stage", field="handle")
        if CustomStatuses(uow.conn).by_handle(handle) is None:
            raise InvalidInput(f"no custom status {handle!r}; create it first", field="handle")
        return {
            "handle": handle,
            "notify": bool(raw.get("notify")),
            "due_at": _due(_text(raw, "due_date", 10), uow.shop.timezone),
            "public_note": _text(raw, "public_note", 2000),
            "private_note": _text(raw, "private_note", 2000),
        }
    if action == "cancel":
        reason = raw.get("reason") or "other"
        if reason not in CANCEL_REASONS:
            raise InvalidInput(f"must be one of {', '.join(CANCEL_REASONS)}", field="reason")
        return {
            "reason": reason,
            "refund": bool(raw.get("refund")),
            "restock": bool(raw.get("restock")),
            "notify": bool(raw.get("notify")),
            "staff_note": _text(raw, "staff_note", 2000),
        }
    if action == "message":
        subject = _text(raw, "subject", 255)
        body = _text(raw, "body", 10_000)
        if not subject:
            raise InvalidInput("write a subject", field="subject")
        if not body:
            raise InvalidInput("write the message", field="body")
        notifications.check_message(subject, body, "en", uow.shop.name)
        return {"subject": subject, "body": body}
    return {}


def start(
    app: Orderdeck, *, staff_id: int | None, staff_name: str, action: str, params: dict[str, Any], order_ids: list[int]
) -> int:
    """Record the run (queued); a worker picks it up within moments."""
    if not order_ids:
        raise InvalidInput("select at least one order", field="ids")
    with app.unit_of_work() as uow:
        run_id = BulkRuns(uow.conn).add(
            action=action,
            params=params,
            order_ids=order_ids,
            staff_id=staff_id,
            staff_name=staff_name,
            now=uow.now,
        )
        uow.commit()
    return run_id


# ---- what each action does to one order -----------------------------------------------------------

Step = Callable[[Command, int], Any]


def _capture(cmd: Command, order_id: int) -> None:
    loaded = load_order(cmd, order_id)
    if not open_authorizations(loaded.order):
        raise RuleViolation("Nothing to capture: the order has no open payment authorization")
    payments.capture_everything(cmd, loaded.order)
    save_order(cmd, loaded.order, loaded)


def _fulfil(params: dict[str, Any]) -> Step:
    def step(cmd: Command, order_id: int) -> None:
        order = cmd.uow.orders.get(order_id, for_update=True)
        waiting = [fo for fo in order.fulfillment_orders if fo.remaining]
        ready = [fo for fo in waiting if fo.status in ("open", "in_progress")]
        if not ready:
            if waiting:  # on hold or scheduled: the domain says why, and what to do
                fulfillments.create_fulfillment(
                    cmd,
                    requests={waiting[0].id: None},
                    tracking=TrackingInfo(),
                    notify_customer=False,
                    message=None,
                    origin_address=None,
                )
            raise RuleViolation("Nothing is waiting to be fulfilled")
        by_location: dict[int, list[int]] = {}
        for fo in ready:
            by_location.setdefault(fo.assigned_location_id, []).append(fo.id)
        number = params["numbers"].get(str(order_id))
        if number and len(by_location) > 1:
            raise RuleViolation(
                f"Ships from {len(by_location)} locations; give each shipment its tracking number on the order's page"
            )
        tracking = TrackingInfo(company=params.get("company"), numbers=(number,) if number else ())
        for fo_ids in by_location.values():  # one shipment a location, as fulfilling everything does
            fulfillments.create_fulfillment(
                cmd,
                requests=dict.fromkeys(fo_ids),
                tracking=tracking,
                notify_customer=params["notify"],
                message=None,
                origin_address=None,
            )

    return step


def _not_permitted(permission: str, staff_name: str) -> Forbidden:
    return Forbidden(
        f"{staff_name} lacks the “{PERMISSIONS[permission]}” permission this needs; an owner can give it under "
        "Settings → Staff"
    )


def _cancel(params: dict[str, Any], may: Callable[[str], bool], staff_name: str) -> Step:
    request = CancelRequest(
        reason=params["reason"],
        refund=params["refund"],
        restock=params["restock"],
        notify_customer=params["notify"],
        staff_note=params.get("staff_note"),
    )

    def step(cmd: Command, order_id: int) -> None:
        # As a single cancel (web/admin/order_money.py): refunding what was paid needs "refund".
        if request.refund and not may("refund") and ledger(cmd.uow.orders.get(order_id)).refundable > 0:
            raise _not_permitted("refund", staff_name)
        cancel_order(cmd, order_id, request)

    return step


def _custom_status(params: dict[str, Any]) -> Step:
    due = datetime.fromisoformat(params["due_at"]) if params.get("due_at") else None
    return lambda cmd, order_id: custom_statuses.set_on_order(
        cmd,
        order_id,
        params["handle"],
        notify=params["notify"],
        due_at=due,
        public_note=params.get("public_note"),
        private_note=params.get("private_note"),
    )


def _message(params: dict[str, Any]) -> Step:
    # The same notification messages to many customers queue (services/notifications.queue_many),
    # one an order, in the batch's transaction so each is queued exactly once.
    message = {"subject": params["subject"], "body": params["body"]}
    return lambda cmd, order_id: notifications.queue(cmd, order_id, "custom_message", message=message, liquid=True)


def missing_permission(action: str, may: Callable[[str], bool]) -> str | None:
    """The first permission `action` needs that `may` does not grant (None: all granted)."""
    return next((p for p in NEEDS.get(action, ("manage_orders",)) if not may(p)), None)


def permitted_step(action: str, params: dict[str, Any], may: Callable[[str], bool], staff_name: str) -> Step:
    """The action's step as this staff member may carry it out: every order refused, with the
    reason, when they lack (or have lost since asking) a permission the action needs."""
    missing = missing_permission(action, may)
    if missing is not None:

        def refuse(cmd: Command, order_id: int) -> None:
            raise _not_permitted(missing, staff_name)

        return refuse
    if action == "cancel":
        return _cancel(params, may, staff_name)
    return step_for(action, params)


def step_for(action: str, params: dict[str, Any]) -> Step:
    if action == "capture":
        return _capture
    if action == "fulfil":
        return _fulfil(params)
    if action == "archive":
        return orders.close_order
    if action == "unarchive":
        return orders.reopen_order
    if action == "add_tags":
        return lambda cmd, oid: orders.change_tags(cmd, oid, add=params["tags"], remove=[])
    if action == "remove_tags":
        return lambda cmd, oid: orders.change_tags(cmd, oid, add=[], remove=params["tags"])
    if action == "set_custom_status":
        return _custom_status(params)
    if action == "cancel":
        return _cancel(params, lambda permission: True, "")
    if action == "message":
        return _message(params)
    raise ValueError(f"unknown bulk action {action!r}")


# ---- carrying runs out ----------------------------------------------------------------------------


def run_due(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False, *, resume: bool = False) -> int:
    """Take up waiting runs and carry each to its end (or until the worker stops). `resume` also
    takes runs left running by a worker that stopped (the worker passes it when it starts, and
    after losing the database mid-run). Returns how many runs it worked on."""
    with app.unit_of_work(read_only=True) as uow:
        waiting = BulkRuns(uow.conn).waiting(include_running=resume)
    worked = 0
    for run_id in waiting:
        if should_stop():
            break
        with app.unit_of_work() as uow:
            run = BulkRuns(uow.conn).get(run_id)
            if run.state == "queued" and not BulkRuns(uow.conn).claim(run_id, uow.now):
                continue  # another worker took it
            if run.state not in ("queued", "running"):
                continue
            uow.commit()
        worked += 1
        carry_out(app, run_id, should_stop)
    return worked


def carry_out(app: Orderdeck, run_id: int, should_stop: Callable[[], bool] = lambda: False) -> None:
    with app.unit_of_work(read_only=True) as uow:
        run = BulkRuns(uow.conn).get(run_id)
        staff = uow.staff.get(run.staff_id) if run.staff_id is not None else None
    author = Author(kind="staff", name=run.staff_name, ref=str(run.staff_id) if run.staff_id else None)
    # The staff member's permissions now, not when they asked: one deactivated since may do nothing.
    may: Callable[[str], bool] = staff.may if staff is not None and staff.active else lambda permission: False
    # Archive, unarchive and tags go set-based (services/bulk_set.py), thousands a batch.
    set_based = run.action in bulk_set.ACTIONS and missing_permission(run.action, may) is None
    size = 1 if run.action in ONE_AT_A_TIME else bulk_set.BATCH if set_based else BATCH
    try:
        step = permitted_step(run.action, run.params, may, run.staff_name)
        position = run.done
        while position < run.total:
            if should_stop():
                return  # left running at its count; taken up again when a worker starts
            chunk = run.order_ids[position : position + size]
            if set_based:
                tags = run.params.get("tags")
                bulk_set.run(app, author, chunk, run.action, tags=tags, step=step, batch=size, on_batch=counted(run))
            else:
                run_in_batches(app, author, chunk, step, batch=size, on_batch=counted(run))
            position += len(chunk)
    except TakenOver:
        log.info("bulk run %s is being carried out by another worker", run_id)
        return
    except (OperationalError, InterfaceError):
        raise  # the database went away: the run stays running at its count, to be resumed
    except Exception as exc:  # a bug or an unexpected failure: say so on the run, do not retry forever
        log.exception("bulk run %s failed", run_id)
        with app.unit_of_work() as uow:
            BulkRuns(uow.conn).fail(run_id, "".join(traceback.format_exception_only(exc)).strip(), uow.now)
            uow.commit()
        return
    with app.unit_of_work() as uow:
        BulkRuns(uow.conn).finish(run_id, uow.now)
        uow.commit()


def counted(run: BulkRun) -> Callable[[UnitOfWork, list[int], list[dict[str, Any]]], None]:
    """Count a batch in its own transaction, only if its orders are the run's next uncounted ones."""

    def count(uow: UnitOfWork, succeeded: list[int], refused: list[dict[str, Any]]) -> None:
        runs = BulkRuns(uow.conn)
        now = runs.get(run.id, for_update=True)
        did = set(succeeded) | {r["id"] for r in refused}
        expected = set(run.order_ids[now.done : now.done + len(did)])
        if now.state != "running" or did != expected:
            raise TakenOver(run.id)
        kept = now.refused
        room = KEPT_REFUSALS - len(kept)
        if refused and room > 0:
            names = order_names(uow.conn, [r["id"] for r in refused[:room]])
            kept = kept + [
                {"order_id": r["id"], "name": names.get(r["id"]), "reason": _sentence(r["error"])}
                for r in refused[:room]
            ]
        runs.record(run.id, done=len(did), succeeded=len(succeeded), refused=kept)

    return count


def _sentence(message: str) -> str:
    if message == "Not Found":  # the order was deleted after the run was asked for
        return "The order no longer exists"
    return message[:1].upper() + message[1:]


def get(app: Orderdeck, run_id: int) -> BulkRun:
    with app.unit_of_work(read_only=True) as uow:
        return BulkRuns(uow.conn).get(run_id)


def progress(app: Orderdeck, run_id: int) -> dict[str, Any]:
    with app.unit_of_work(read_only=True) as uow:
        return BulkRuns(uow.conn).progress(run_id)
