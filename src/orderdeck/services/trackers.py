"""Carrier accounts and the tracker sweep: every due tracker polled through karrio, per carrier
in batches, each new checkpoint recorded on its fulfillment through the same command path as a
pushed one (services/tracking.record_on: timeline, `fulfillment_events/create`, `shipment_status`,
the customer's notification), and the tracker's next check set by what the carrier said.

Cadence (karrio's own defaults, AFTER-THE-SALE §5.5): every 2 hours; every 30 minutes while out
for delivery; no more after delivered or failure, or 90 days after the tracker was made. A number
the carrier does not know (yet: labels are often made before the parcel is scanned) is asked
about every 6 hours; a failed call backs off, doubling up to a day; a carrier that answers 429
is left alone for the rest of the sweep and its numbers wait as long as it asked (15 minutes
at least).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from ..domain.errors import InvalidInput, NotFound
from ..domain.order import Author
from ..store.carrier_accounts import CarrierAccount, CarrierAccounts
from ..store.trackers import Tracker, Trackers
from ..tracking import karrio_tracker as karrio
from ..tracking.checkpoints import Checkpoint
from . import changes, tracking
from .context import Command, Orderdeck

log = logging.getLogger("orderdeck.trackers")

EVERY = timedelta(hours=2)
OUT_FOR_DELIVERY_EVERY = timedelta(minutes=30)
UNKNOWN_EVERY = timedelta(hours=6)
LONGEST_BACKOFF = timedelta(days=1)
RATE_LIMIT_WAIT = timedelta(minutes=15)
KEEP_FOR = timedelta(days=90)
NO_ACCOUNT_WAIT = timedelta(hours=2)
CHUNK = 1000  # due trackers read at a time
CATCH_UP_BATCH = 500  # shipments looked at per catch-up transaction
# The scheduled sweep stops after this long, well inside the scheduler's 15-minute job lease:
# a longer one (news for many shipments, 81 orders a second) would be taken up by another worker
# meanwhile, both asking the carriers about the same trackers. What is left is still due, and the
# job comes round again in 5 minutes.
JOB_BUDGET = timedelta(minutes=10)
FINAL = {"delivered": "delivered", "failure": "failed"}  # Shopify status → the tracker's last state


# Carrier accounts (Settings → Carriers).


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("can't be blank", field="name")
    if len(value.strip()) > 255:
        raise InvalidInput("is too long (maximum is 255 characters)", field="name")
    return value.strip()


def add_account(
    cmd: Command, *, carrier: Any, name: Any, credentials: dict[str, Any], test_mode: bool
) -> CarrierAccount:
    """A carrier's account: karrio must have the carrier and every credential it needs."""
    kept = karrio.check_credentials(carrier, credentials)
    repo = CarrierAccounts(cmd.uow.conn)
    account_id = repo.add(carrier=carrier, name=_name(name), credentials=kept, test_mode=test_mode, now=cmd.now)
    _start_catch_up(cmd, account_id)
    return repo.get(account_id)


def change_account(
    cmd: Command, account_id: int, *, name: Any, credentials: dict[str, Any], test_mode: bool, active: bool
) -> CarrierAccount:
    """Change an account; a credential left blank keeps the one saved (secrets are never shown back)."""
    repo = CarrierAccounts(cmd.uow.conn)
    account = repo.get(account_id)
    merged = {**account.credentials, **{k: v for k, v in credentials.items() if isinstance(v, str) and v.strip()}}
    for field, value in credentials.items():
        if karrio.is_plain(account.carrier, field) and isinstance(value, str) and not value.strip():
            merged.pop(field, None)  # a plain field emptied is cleared; a secret left blank is kept
    kept = karrio.check_credentials(account.carrier, merged)
    repo.change(account_id, cmd.now, name=_name(name), credentials=kept, test_mode=test_mode, active=active)
    if active and not account.active:
        _start_catch_up(cmd, account_id)
    return repo.get(account_id)


# Catching up: trackers are made when an order is saved (store/trackers.Trackers.follow), so the
# shipments already on their way when an account is added or switched back on would never be
# tracked. The command that adds or activates the account gives the first CATCH_UP_BATCH
# shipments of the last 90 days theirs (a small shop's all); the track-shipments job walks the
# rest, CATCH_UP_BATCH at a time, one transaction each, before it polls.


def _start_catch_up(cmd: Command, account_id: int) -> None:
    """Walk the shipments created within a tracker's life, from the oldest, for this account."""
    repo = CarrierAccounts(cmd.uow.conn)
    repo.set_catch_up(account_id, (cmd.now - KEEP_FOR, 0))
    _catch_up_batch(cmd.uow.conn, repo.get(account_id), cmd.now)


def _catch_up_batch(conn: Connection, account: CarrierAccount, now: datetime) -> int:
    after = account.catch_up_after
    if after is None:
        return 0
    made, went_to = Trackers(conn).catch_up(after, since=now - KEEP_FOR, now=now, limit=CATCH_UP_BATCH)
    CarrierAccounts(conn).set_catch_up(account.id, went_to)
    return made


def catch_up(app: Orderdeck, *, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Give the live shipments of every account still catching up their trackers, a batch of
    shipments per transaction, until none is left (or `should_stop`). Returns trackers made."""
    made = 0
    while not should_stop():
        with app.unit_of_work() as uow:
            waiting = CarrierAccounts(uow.conn).catching_up()
            if not waiting:
                break
            made += _catch_up_batch(uow.conn, waiting[0], uow.now)
            uow.commit()
    if made:
        log.info("caught up: %d tracker(s) made for shipments already on their way", made)
    return made


def shown(account: CarrierAccount) -> dict[str, Any]:
    """An account as the settings page shows it: plain fields' values, secrets only as set."""
    return {
        field: (account.credentials.get(field) if karrio.is_plain(account.carrier, field) else None)
        for field in karrio.fields_of(account.carrier)
    } | {"_set": sorted(account.credentials)}


# The sweep.


def sweep(app: Orderdeck, *, should_stop: Callable[[], bool] = lambda: False, budget: timedelta | None = None) -> int:
    """Catch up first (trackers for shipments already on their way when an account was added),
    then poll every due tracker once, or those a `budget` of time (the app's clock) leaves room
    for. Returns how many numbers were asked about."""
    if budget is not None:
        deadline, asked_to_stop = app.clock() + budget, should_stop

        def should_stop() -> bool:
            return asked_to_stop() or app.clock() >= deadline

    catch_up(app, should_stop=should_stop)  # new trackers are due at once: this sweep polls them
    with app.unit_of_work() as uow:
        Trackers(uow.conn).retire_older_than(uow.now - KEEP_FOR)
        uow.commit()
    limited: dict[str, datetime] = {}  # carrier → not before
    asked = 0
    while not should_stop():
        with app.unit_of_work() as uow:
            now = uow.now
            due = Trackers(uow.conn).due(now, CHUNK)
            accounts = CarrierAccounts(uow.conn).active_by_carrier()
        if not due:
            break
        quiet: list[tuple[int, dict[str, Any]]] = []  # tracker changes that touch no order: written together
        by_carrier: dict[str, list[Tracker]] = {}
        for tracker in due:
            by_carrier.setdefault(tracker.carrier, []).append(tracker)
        for carrier, waiting in by_carrier.items():
            account = accounts.get(carrier)
            size = karrio.CARRIERS[carrier].batch if carrier in karrio.CARRIERS else 10
            for first in range(0, len(waiting), size):
                batch = waiting[first : first + size]
                if should_stop():
                    break
                if account is None or carrier not in karrio.installed():
                    why = f"No active {carrier} carrier account: add one in Settings → Carriers"
                    quiet += [(t.id, {"next_check_at": now + NO_ACCOUNT_WAIT, "last_error": why}) for t in batch]
                elif carrier in limited:
                    why = f"{carrier} answered 429 Too Many Requests; asking again later"
                    quiet += [(t.id, {"next_check_at": limited[carrier], "last_error": why}) for t in batch]
                else:
                    asked += len(batch)
                    outcome = karrio.fetch(
                        carrier,
                        account.credentials,
                        [t.tracking_number for t in batch],
                        test_mode=account.test_mode,
                        account_id=account.id,
                        base_url=app.settings.carrier_api_url,
                    )
                    quiet += _apply(app, account, batch, outcome, limited)
        with app.unit_of_work() as uow:  # before the next chunk is read, which must not see these again
            Trackers(uow.conn).change_many(quiet)
            uow.commit()
    return asked


def _backoff(errors: int) -> timedelta:
    return min(EVERY * int(2 ** min(errors, 10)), LONGEST_BACKOFF)


def _apply(
    app: Orderdeck, account: CarrierAccount, batch: list[Tracker], outcome: karrio.Outcome, limited: dict[str, datetime]
) -> list[tuple[int, dict[str, Any]]]:
    """Record what the carrier said: news through the order's command at once; the rest is
    returned as tracker changes for the sweep to write with the others of its chunk."""
    quiet: list[tuple[int, dict[str, Any]]] = []
    now = app.clock()
    if outcome.retry_after is not None:
        limited[account.carrier] = now + max(RATE_LIMIT_WAIT, timedelta(seconds=outcome.retry_after))
    for tracker in batch:
        number = tracker.tracking_number
        if number in outcome.found:
            try:
                found, current = karrio.checkpoints(
                    outcome.found[number], now=now, known_status=tracker.shipment_status
                )
                if _news(tracker, found, current):
                    _record(app, account, tracker, found, current)
                else:
                    quiet.append((tracker.id, _polled(tracker, current, now, found)))
            except (OperationalError, InterfaceError):
                raise  # the database is away: the sweep stops and its job is retried
            except Exception as exc:
                # One order that cannot take its news (a refusal, a bug) is this tracker's error,
                # backed off like a failed call; it must not stop every tracker after it.
                log.exception("tracker %s: recording the carrier's news failed", tracker.id)
                why = f"Recording the carrier's news failed: {exc.__class__.__name__}: {exc}"
                quiet.append((tracker.id, _failed(tracker, now, why)))
        elif number in outcome.unknown:
            quiet.append(
                (
                    tracker.id,
                    {
                        "checked_at": now,
                        "next_check_at": now + UNKNOWN_EVERY,
                        "errors": tracker.errors + 1,
                        "last_error": f"{account.name} does not know this number (yet): {outcome.unknown[number]}"[
                            :1000
                        ],
                    },
                )
            )
        elif number in outcome.failed:
            quiet.append((tracker.id, _failed(tracker, now, outcome.failed[number])))
        else:  # rate limited before this number was answered
            quiet.append(
                (
                    tracker.id,
                    {
                        "next_check_at": limited[account.carrier],
                        "last_error": f"{account.name} answered 429 Too Many Requests; asking again later",
                    },
                )
            )
    return quiet


def _failed(tracker: Tracker, now: datetime, why: str) -> dict[str, Any]:
    """A failed check: recorded, and the next one backed off."""
    return {
        "checked_at": now,
        "next_check_at": now + _backoff(tracker.errors + 1),
        "errors": tracker.errors + 1,
        "last_error": why[:1000],
    }


def _news(tracker: Tracker, found: list[Checkpoint], current: str | None) -> bool:
    """Whether the carrier said anything the tracker has not seen: a checkpoint after the last
    one, or another status (then the order is loaded and each checkpoint checked against it)."""
    if current is not None and current != tracker.shipment_status:
        return True
    return any(tracker.last_event_at is None or c.happened_at > tracker.last_event_at for c in found)


def _polled(tracker: Tracker, current: str | None, now: datetime, found: list[Checkpoint]) -> dict[str, Any]:
    status = current or tracker.shipment_status
    state = FINAL.get(status or "", "active")
    last = max((c.happened_at for c in found), default=None)
    return {
        "state": state,
        "shipment_status": status,
        "checked_at": now,
        "next_check_at": (now + (OUT_FOR_DELIVERY_EVERY if status == "out_for_delivery" else EVERY))
        if state == "active"
        else None,
        "last_event_at": max(filter(None, (last, tracker.last_event_at)), default=None),
        "errors": 0,
        "last_error": None,
    }


def _record(
    app: Orderdeck, account: CarrierAccount, tracker: Tracker, found: list[Checkpoint], current: str | None
) -> None:
    """One command: the new checkpoints on the fulfillment and the tracker's new state, together."""
    title = karrio.CARRIERS[account.carrier].title.split(" (")[0]
    with app.unit_of_work() as uow:
        cmd = Command(app, uow, Author("system", f"Tracking: {title}"))
        repo = Trackers(uow.conn)
        try:
            loaded = changes.load_order(cmd, tracker.order_id)
        except NotFound:
            repo.retire([tracker.id])
            uow.commit()
            return
        order = loaded.order
        fulfillment = order.fulfillment(tracker.fulfillment_id)
        if fulfillment is None or not fulfillment.is_active:
            repo.retire([tracker.id])
            uow.commit()
            return
        if tracking.record_on(cmd, order, fulfillment, found):
            changes.save_order(cmd, order, loaded)
        repo.change(tracker.id, **_polled(tracker, current, cmd.now, found))
        uow.commit()
