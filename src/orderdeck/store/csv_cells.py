"""CSV that a spreadsheet opens as data: a cell never becomes a formula.

A customer's name, a note, a tag or a SKU is typed by someone else; a cell starting with
= + - @ (or a tab or carriage return, which some spreadsheets skip before reading one of those)
is a formula to Excel, LibreOffice and Google Sheets, and a formula can fetch URLs or run
commands. Such a cell gets a leading apostrophe, which spreadsheets show as text (OWASP's
advice). Numbers stay numbers: "-12.50" is no formula.
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
        self.writer = csv.writer(out)

    def writerow(self, row: Any) -> None:
        self.writer.writerow([cell(value) for value in row])

    def writerows(self, rows: Any) -> None:
        for row in rows:
            self.writerow(row)
