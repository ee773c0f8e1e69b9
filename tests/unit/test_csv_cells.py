"""SafeWriter.writerows writes a batch the quick way (the csv module's, then one search of the
text) and must give exactly the bytes of writing every cell through `cell`: the same file,
formula-guarded, whatever the cells hold."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orderdeck.store.csv_cells import SafeWriter

# Texts made mostly of what decides the outcome: formula starts, what the csv module quotes
# (comma, quote, line breaks) and plain letters and digits.
TRICKY = st.text(alphabet=st.sampled_from(list("=+-@\t\r\n,\" 'a1.éx")), max_size=6)
CELLS = st.one_of(TRICKY, st.none(), st.integers(-5, 5), st.sampled_from(["-12.50", "+316", "Anna", ""]))
ROWS = st.lists(st.lists(CELLS, min_size=1, max_size=5), max_size=6)


def one_by_one(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = SafeWriter(out)
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def as_a_batch(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    SafeWriter(out).writerows(rows)
    return out.getvalue()


@settings(max_examples=500)
@given(ROWS)
def test_a_batch_is_written_as_cell_by_cell(rows: list[list[Any]]) -> None:
    assert as_a_batch(rows) == one_by_one(rows)


def test_a_formula_anywhere_in_a_batch_is_guarded() -> None:
    rows: list[list[Any]] = [["#1001", "Anna", "x"], ["#1002", "ok", "=HYPERLINK(1)"]]
    assert as_a_batch(rows) == "#1001,Anna,x\r\n#1002,ok,'=HYPERLINK(1)\r\n"
    assert as_a_batch([["@SUM(A1)", "b"]]) == "'@SUM(A1),b\r\n"  # the very first cell
    assert as_a_batch([["a", "\r=1"]]) == 'a,"\'\r=1"\r\n'  # quoted: it holds a carriage return
    assert as_a_batch([["a", "\t=1"]]) == "a,'\t=1\r\n"


def test_numbers_and_empty_cells_are_left_as_they_are() -> None:
    rows: list[list[Any]] = [["-12.50", None, ""], [Decimal("-1"), -3, "+31612345678"]]
    assert as_a_batch(rows) == "-12.50,,\r\n-1,-3,+31612345678\r\n"


def test_rows_from_a_generator_are_written_once() -> None:
    out = io.StringIO()
    SafeWriter(out).writerows(iter([["a", "-x"], ["b", "c"]]))
    assert out.getvalue() == "a,'-x\r\nb,c\r\n"
