"""The admin with an order whose stored document went bad: a null where the order has a default
is read with the default on every page; a document that does not load at all is left out of the
Orders page and marked in the export, and the other orders are all there."""

from __future__ import annotations

import csv
import io

from orderdeck.services.context import Orderdeck

from ..conftest import Shop
from ..integration.test_unreadable_orders import UNLOADABLE, broken_lines, null_marketing, place, spoil
from .conftest import AdminClient


def test_an_order_stored_with_a_null_shows_on_every_admin_page(owner: AdminClient, shop: Shop, deck: Orderdeck) -> None:
    first, bad, last = place(shop, 3)
    spoil(deck, bad["id"], null_marketing)

    listing = owner.page("/admin/orders").text
    assert all(o["name"] in listing for o in (first, bad, last))
    assert bad["name"] in owner.page(f"/admin/orders/{bad['id']}").text
    exported = list(csv.reader(io.StringIO(owner.page("/admin/orders/export.csv?status=any").text)))
    assert [r[0] for r in exported[1:]] == [first["name"], bad["name"], last["name"]]


def test_an_order_that_does_not_load_is_left_out_of_the_page_and_marked_in_the_export(
    owner: AdminClient, shop: Shop, deck: Orderdeck
) -> None:
    first, bad, last = place(shop, 3)
    spoil(deck, bad["id"], broken_lines)

    listing = owner.page("/admin/orders").text
    assert first["name"] in listing and last["name"] in listing
    exported = list(csv.reader(io.StringIO(owner.page("/admin/orders/export.csv?status=any").text)))
    assert [r[0] for r in exported[1:]] == [first["name"], bad["name"], last["name"]]
    assert exported[2][exported[0].index("Line items")] == UNLOADABLE
