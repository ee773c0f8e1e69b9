"""A long migration's walk over every order, a batch per transaction with a progress bar, so
that a run stopped halfway goes on where it stopped (0027's move of the documents,
store/document_move.py; 0030's fill of the tag lists, store/tag_lists.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Connection

Transaction = Callable[[], AbstractContextManager[Connection]]


def walk(
    transaction: Transaction,
    step: Callable[[Connection], int],
    *,
    total: int,
    label: str,
    console: Console | None = None,
) -> None:
    """Run `step` (one batch, in the connection it is given: how many orders it did, 0 when none
    is left) in one `transaction()` after another (a context manager giving a connection in a
    transaction that commits on leaving) until it does nothing, with a progress bar on stderr
    out of `total` orders."""
    console = console or Console(file=sys.stderr)
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("orders", total=total)
        while True:
            with transaction() as conn:
                done = step(conn)
            if not done:
                return
            progress.update(task, advance=done)
