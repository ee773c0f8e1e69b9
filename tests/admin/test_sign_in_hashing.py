"""Signing in checks the password (argon2id, slow on purpose) with no transaction open and
without SQLite's in-process write lock, so wrong passwords cannot stall other writes; the session
is written afterwards in a short transaction, which also notices a password changed meanwhile.
Instrumented: the hasher records, at each call, how many units of work are open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher

from orderdeck.services import staff as staff_service
from orderdeck.services.context import Orderdeck
from orderdeck.store.uow import UnitOfWork

from .conftest import PASSWORD, AdminClient, make_staff

EMAIL = "pat@shop.test"


class Recorder:
    """A password hasher that notes, at each verify and hash, the open units of work and whether
    the write lock is held; `during_verify` runs inside a verify (after the note)."""

    def __init__(self, inner: PasswordHasher, deck: Orderdeck, open_units: list[int]) -> None:
        self.inner = inner
        self.deck = deck
        self.open_units = open_units
        self.calls: list[tuple[str, int, bool]] = []
        self.during_verify: Callable[[], None] | None = None

    def _note(self, what: str) -> None:
        lock = self.deck.db.write_lock
        self.calls.append((what, self.open_units[0], bool(lock is not None and lock.locked())))

    def verify(self, stored: str, password: str) -> bool:
        self._note("verify")
        if self.during_verify is not None:
            self.during_verify()
        return self.inner.verify(stored, password)

    def hash(self, password: str) -> str:
        self._note("hash")
        return self.inner.hash(password)

    def check_needs_rehash(self, stored: str) -> bool:
        return self.inner.check_needs_rehash(stored)


@pytest.fixture
def open_units(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many units of work (transactions) are open right now, in any thread."""
    count = [0]
    enter, exit_ = UnitOfWork.__enter__, UnitOfWork.__exit__

    def counted_enter(self: UnitOfWork) -> UnitOfWork:
        result = enter(self)
        count[0] += 1
        return result

    def counted_exit(self: UnitOfWork, *args: Any) -> None:
        count[0] -= 1
        exit_(self, *args)

    monkeypatch.setattr(UnitOfWork, "__enter__", counted_enter)
    monkeypatch.setattr(UnitOfWork, "__exit__", counted_exit)
    return count


def recorder(monkeypatch: pytest.MonkeyPatch, deck: Orderdeck, open_units: list[int]) -> Recorder:
    rec = Recorder(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), deck, open_units)
    monkeypatch.setattr(staff_service, "hasher", lambda: rec)
    return rec


def test_a_right_password_is_checked_with_no_transaction_open(
    deck: Orderdeck, admin_app: Any, open_units: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_staff(deck, EMAIL, permissions=("view_orders",))
    rec = recorder(monkeypatch, deck, open_units)
    assert AdminClient(admin_app).sign_in(EMAIL).status_code == 303
    assert rec.calls == [("verify", 0, False)]


@pytest.mark.parametrize("email,password", [(EMAIL, "wrong password!"), ("nobody@shop.test", PASSWORD)])
def test_a_wrong_password_or_address_is_checked_with_no_transaction_open(
    deck: Orderdeck, admin_app: Any, open_units: list[int], monkeypatch: pytest.MonkeyPatch, email: str, password: str
) -> None:
    make_staff(deck, EMAIL, permissions=("view_orders",))
    staff_service._dummy_hash()  # made once per process, before the first sign-in
    rec = recorder(monkeypatch, deck, open_units)
    assert AdminClient(admin_app).sign_in(email, password).status_code == 401
    assert rec.calls == [("verify", 0, False)]


def test_a_password_rehashed_at_sign_in_is_hashed_outside_the_transaction_too(
    deck: Orderdeck, admin_app: Any, open_units: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    costlier = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(staff_service, "hasher", lambda: costlier)
    make_staff(deck, EMAIL, permissions=("view_orders",))
    rec = recorder(monkeypatch, deck, open_units)  # cheaper parameters: the stored hash needs redoing
    assert AdminClient(admin_app).sign_in(EMAIL).status_code == 303
    assert rec.calls == [("verify", 0, False), ("hash", 0, False)]
    with deck.unit_of_work(read_only=True) as uow:
        found = uow.staff.by_email(EMAIL)
    assert found is not None and not rec.inner.check_needs_rehash(found[1])


def test_a_password_changed_while_the_old_one_was_being_checked_wins(
    deck: Orderdeck, admin_app: Any, open_units: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_staff(deck, EMAIL, permissions=("view_orders",))
    rec = recorder(monkeypatch, deck, open_units)

    def owner_sets_a_new_password() -> None:
        if open_units[0] == 0:  # (with a transaction open this would wait on it)
            with deck.unit_of_work() as uow:
                found = uow.staff.by_email(EMAIL)
                assert found is not None
                uow.staff.change(found[0].id, password_hash=rec.inner.hash("a brand new password"))
                uow.commit()

    rec.during_verify = owner_sets_a_new_password
    assert AdminClient(admin_app).sign_in(EMAIL).status_code == 401
    with deck.unit_of_work(read_only=True) as uow:
        found = uow.staff.by_email(EMAIL)
        assert found is not None
        assert uow.conn.exec_driver_sql("SELECT count(*) FROM staff_sessions").scalar_one() == 0
