"""Group commit: the commands of one process waiting to write share one transaction and one fsync.

A durable commit costs an fsync (SQLite `synchronous=FULL`, PostgreSQL `synchronous_commit`), and
commands that write queue for the process's writer anyway (SQLite has one writer; the hot rows
of PostgreSQL serialise placements). So the writer is one connection per process, taken in turns:

- A command announces itself (`waiting`), takes the turn, opens the batch's transaction if none is
  open, and runs inside a `SAVEPOINT` of its own (the batch's first command needs none: nothing
  else is in the transaction yet, so a lone command costs what it did without group commit).
- Its commit releases the savepoint: its change joins the batch. A refused or failing command
  rolls back to its savepoint, which undoes exactly its own statements (and, on PostgreSQL, the
  locks they took and an error state, deadlock and serialization failures included).
- Then, if no other command waits for the turn (or the batch is old or large enough), this command
  commits the batch, with one fsync, and wakes its members; otherwise it hands the turn on and
  waits for the commit of its batch. `commit()` returns only after the COMMIT that holds the
  change, so "answered after a durable commit" holds for every caller.
- When the COMMIT fails (the connection was cut, the disk is full), nothing of any member was
  written: each gets `CommitFailed`, and the connection is thrown away so the next batch starts
  on a fresh one.

A command that leaves without committing, having read what earlier members of its batch changed
(a refusal for lack of stock, an idempotent replay), also waits for the batch's outcome, so no
answer rests on a change that was never committed. Alone with a quiet process, a command is its
own batch: one connection, one transaction, one commit, as without group commit.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import NestedTransaction, RootTransaction

# A batch is committed once it holds this many commands or is this old, even with more waiting,
# so its first member is not kept waiting long and its locks (PostgreSQL's row locks, SQLite's
# write lock) are not held long. The age is a bound, not the usual reason: a cap of 10 ms
# stopped batching altogether on a busy machine where one placement took longer than that
# (bench/group_commit.py), when batching matters most. Under a steady queue the batch is about
# as long as the queue, which is what each command would have waited in it anyway.
MAX_BATCH_AGE_SECONDS = 0.050
MAX_BATCH_MEMBERS = 32
NOT_WRITTEN = "the database could not commit this change; nothing of it was written"


class CommitFailed(Exception):
    """The transaction that held this command's change could not be committed, so nothing of it
    was written. Nothing the client can fix: retry (with the same Idempotency-Key)."""


@dataclass(eq=False)
class Batch:
    conn: Connection
    tx: RootTransaction
    opened_at: float
    joined: int = 0  # members whose savepoint was released into the batch
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class Member:
    """One command's place in a batch. The batch's first command needs no savepoint: nothing else
    is in the transaction while it runs, so undoing it is rolling the transaction back. Later
    commands each run inside a savepoint of their own."""

    def __init__(self, commits: GroupCommit, batch: Batch) -> None:
        self._commits = commits
        self.batch = batch
        self.conn = batch.conn
        # Whether this command could read uncommitted changes of earlier members.
        self.saw_others = batch.joined > 0
        self._savepoint: NestedTransaction | None = batch.conn.begin_nested() if self.saw_others else None
        self._finished = False

    def commit(self) -> None:
        """Join the batch with this command's change; return once the batch is committed."""
        if self._finished:
            raise RuntimeError("this unit of work has already ended")
        self._finished = True
        if self._savepoint is not None:
            try:
                self._savepoint.commit()
            except Exception:
                # Its savepoint cannot be released (a statement of it failed on PostgreSQL and the
                # command carried on): undo it alone, and the batch goes on without it.
                self._undo_failed_release()
                self._commits._hand_on(self.batch, wait_for_outcome=True)
                raise
        self.batch.joined += 1
        self._commits._hand_on(self.batch, wait_for_outcome=True)

    def _undo_failed_release(self) -> None:
        """After a failed RELEASE SQLAlchemy has given the savepoint up without rolling the
        database back to it, so that is done here by its name; if even that fails, the batch is
        lost (and its members told so)."""
        assert self._savepoint is not None
        name = self._savepoint._savepoint  # SQLAlchemy's name for it (sa_savepoint_N)
        try:
            self._savepoint.rollback()
            self.conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
            self.conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        except Exception as exc:
            self._commits._fail(self.batch, exc)
            raise CommitFailed(NOT_WRITTEN) from exc

    def rollback(self) -> None:
        """Undo this command's statements so far. The command still holds the turn, so anything it
        runs afterwards goes into a fresh savepoint (or transaction), undone when it leaves."""
        if self._finished:
            return
        try:
            if self._savepoint is not None:
                self._savepoint.rollback()
                self._savepoint = self.conn.begin_nested()
            else:
                self.batch.tx.rollback()
                self.batch.tx = self.conn.begin()
        except BaseException as exc:
            self._finished = True
            self._commits._fail(self.batch, exc)
            raise

    def leave(self) -> None:
        """Leave without committing: nothing of this command is kept."""
        if self._finished:
            return
        self._finished = True
        if self._savepoint is None:
            self._commits._close(self.batch)  # the batch holds nothing else: it is rolled back
            return
        try:
            if self._savepoint.is_active:
                self._savepoint.rollback()
        except Exception as exc:
            # The connection broke: the batch is lost, which for this command (which kept
            # nothing) only matters because its answer may rest on what earlier members changed.
            self._commits._fail(self.batch, exc)
            raise CommitFailed(NOT_WRITTEN) from exc
        self._commits._hand_on(self.batch, wait_for_outcome=True)


class GroupCommit:
    """The process's writer for one database: one batch at a time, commands taking turns in it."""

    def __init__(self, engine: Engine, turn: threading.Lock) -> None:
        self.engine = engine
        self._turn = turn
        self._mutex = threading.Lock()
        self._waiting = 0
        self._batch: Batch | None = None
        self._holder: int | None = None  # the thread holding the turn
        self.max_age = MAX_BATCH_AGE_SECONDS
        self.max_members = MAX_BATCH_MEMBERS
        # Since the process started (read by /metrics): COMMITs of batches, and the commands in them.
        self.batches_committed = 0
        self.commands_committed = 0

    def enter(self) -> Member:
        """Wait for the turn, then start this command's savepoint in the open batch (or a new one)."""
        if self._holder == threading.get_ident():
            # It would wait for itself for ever (the turn is not re-entrant, like SQLite's lock).
            raise RuntimeError("a command cannot open a second writing unit of work inside its own")
        with self._mutex:
            self._waiting += 1
        try:
            self._turn.acquire()
        finally:
            with self._mutex:
                self._waiting -= 1
        self._holder = threading.get_ident()
        try:
            batch = self._batch
            if batch is None:
                conn = self.engine.connect()
                try:
                    tx = conn.begin()
                except BaseException:
                    conn.invalidate()
                    conn.close()
                    raise
                batch = self._batch = Batch(conn, tx, time.monotonic())
        except BaseException:
            self._release()
            raise
        try:
            return Member(self, batch)
        except BaseException as exc:
            self._fail(batch, exc)
            raise

    @property
    def waiting(self) -> int:
        """Commands waiting for the turn right now."""
        with self._mutex:
            return self._waiting

    def _release(self) -> None:
        self._holder = None
        self._turn.release()

    def _should_close(self, batch: Batch) -> bool:
        return (
            self.waiting == 0 or batch.joined >= self.max_members or time.monotonic() - batch.opened_at >= self.max_age
        )

    def _hand_on(self, batch: Batch, *, wait_for_outcome: bool) -> None:
        """Called by the member holding the turn once its savepoint is settled: commit the batch
        or let the next command in, then (if asked) wait for the batch's outcome."""
        if self._should_close(batch):
            self._close(batch)
        else:
            self._release()
            if wait_for_outcome:
                batch.done.wait()
        if wait_for_outcome and batch.error is not None:
            raise CommitFailed(NOT_WRITTEN) from batch.error

    def _close(self, batch: Batch) -> None:
        """Commit (or, holding nothing, roll back) the batch; holds the turn and releases it."""
        self._batch = None
        try:
            if batch.joined:
                batch.tx.commit()
                self.batches_committed += 1
                self.commands_committed += batch.joined
            else:
                batch.tx.rollback()
        except BaseException as exc:
            batch.error = exc
            _discard(batch.conn)
        finally:
            try:
                batch.conn.close()
            finally:
                self._release()
                batch.done.set()

    def _fail(self, batch: Batch, exc: BaseException) -> None:
        """The batch's connection broke under a member holding the turn: nothing of the batch can
        be committed. Its members are told so, and the connection is thrown away."""
        self._batch = None
        batch.error = exc
        _discard(batch.conn)
        try:
            batch.conn.close()
        finally:
            self._release()
            batch.done.set()


def _discard(conn: Connection) -> None:
    """Throw the connection away (the pool opens a new one): whatever state a failed COMMIT or a
    cut connection left it in, its transaction is gone with it."""
    with contextlib.suppress(Exception):
        conn.invalidate()
