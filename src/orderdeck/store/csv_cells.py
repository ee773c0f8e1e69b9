"""CSV that a spreadsheet opens as data: a cell never becomes a formula.

A customer's name, a note, a tag or a SKU is typed by someone else; a cell starting with
= + - @ (or a tab or carriage return, which some spreadsheets skip before reading one of those)
is a formula to Excel, LibreOffice and Google Sheets, and a formula can fetch URLs or run
commands. Such a cell gets a leading apostrophe, which spreadsheets show as text (OWASP's
advice). Numbers stay numbers: "-12.50" is no formula.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Where the csv module's text (its default dialect) can hold a cell that starts with one of
# FORMULA_STARTS: after a comma or a line's end (the text's first cell is looked at on its own),
# either the character itself or the quote that opens a quoted cell and then the character. A
# cell holding a carriage return is always quoted, so that one is looked for after a quote only
# (a line's own "\r\n" after an empty last cell is no formula). A comma or line break inside a
# quoted cell can match too, which only costs the slow way.
_UNQUOTED = "".join(start for start in FORMULA_STARTS if start != "\r")
_MAYBE_A_FORMULA = re.compile(f'[,\\n](?:[{re.escape(_UNQUOTED)}]|"[{re.escape("".join(FORMULA_STARTS))}])')


def cell(value: Any) -> Any:
    """The value as a CSV cell a spreadsheet takes as text or a number, never as a formula."""
    if value is None:
        return ""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        Decimal(value)
        return value  # a plain signed number, such as a refund's -12.50
    except InvalidOperation:
        return "'" + value


class SafeWriter:
    """csv.writer whose every cell goes through `cell`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.writer = csv.writer(out)

    def writerow(self, row: Any) -> None:
        self.writer.writerow([cell(value) for value in row])

    def writerows(self, rows: Iterable[Sequence[Any]]) -> None:
        """The rows, written as `writerow` would write each. Nearly no cell needs `cell`'s
        apostrophe, and calling it on every cell was most of a big export's time: the rows are
        written as they are first and the text searched once for a cell that could start with a
        formula character; only when one could are they written again cell by cell. (`None` is
        an empty cell to the csv module as to `cell`, and other values are written unchanged.)"""
        rows = rows if isinstance(rows, list | tuple) else list(rows)
        plain = io.StringIO()
        csv.writer(plain).writerows(rows)
        text = plain.getvalue()
        if _MAYBE_A_FORMULA.search(text) is None and _MAYBE_A_FORMULA.match("\n" + text[:2]) is None:
            self.out.write(text)
            return
        for row in rows:
            self.writerow(row)
