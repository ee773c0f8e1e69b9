"""A stored order document must always load: what is written is checked, documents stored before
that are read with defaults for their bad values, one that does not load at all never stops a
list or an export, and `orderdeck repair-orders` puts them right or names them."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from orderdeck.cli import app as cli
from orderdeck.domain.errors import InvalidInput
from orderdeck.services.context import Orderdeck
from orderdeck.store.codec import BadDocument, _decoder, decode_order, encode_order
from orderdeck.store.document_move import SUMMARY
from orderdeck.store.tables import order_documents, orders
from tests.conftest import Api, Shop

UNLOADABLE = "(this order's stored document does not load; run `orderdeck repair-orders`)"


def place(shop: Shop, count: int) -> list[dict[str, Any]]:
    location = shop.location()
    variant = shop.product("UNR-1", stock={location: 50})
    return [shop.order([{"variant_id": variant, "quantity": 1}]) for _ in range(count)]


def spoil(deck: Orderdeck, order_id: int, change: Any) -> None:
    """Write a document as an older version could have stored it (and drop the stored rendering,
    so every read has to load the document). A document that does not load at all leaves the
    order row without its export cells and report columns, as migration 0027 leaves it."""
    d = order_documents.c
    with deck.db.writer.begin() as conn:
        document = orjson.loads(conn.execute(select(d.document).where(d.order_id == order_id)).scalar_one())
        change(document)
        spoilt = orjson.dumps(document).decode()
        conn.execute(
            update(order_documents)
            .where(d.order_id == order_id)
            .values(document=spoilt, rendered=None, rendered_for=None)
        )
        try:
            decode_order(spoilt)
        except BadDocument:
            conn.execute(update(orders).where(orders.c.id == order_id).values(dict.fromkeys(SUMMARY)))


def null_marketing(document: dict[str, Any]) -> None:
    document["buyer_accepts_marketing"] = None


def broken_lines(document: dict[str, Any]) -> None:
    document["line_items"][0]["quantity"] = "many"


def export_rows(api: Api) -> list[list[str]]:
    answer = api.get("/orders/export.csv?status=any")
    assert answer.status_code == 200, answer.text
    return list(csv.reader(io.StringIO(answer.text)))


def test_null_for_a_yes_no_field_is_refused_and_changes_nothing(api: Api, shop: Shop) -> None:
    (order,) = place(shop, 1)
    answer = api.put(f"/orders/{order['id']}.json", {"order": {"buyer_accepts_marketing": None, "note": "x"}})
    assert answer.status_code == 422, answer.text
    assert "buyer_accepts_marketing" in answer.json()["errors"]
    after = api.ok(api.get(f"/orders/{order['id']}.json"))["order"]
    assert after["buyer_accepts_marketing"] is False and after["note"] is None
    assert api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"buyer_accepts_marketing": True}}))


def test_the_codec_refuses_to_write_what_it_could_not_read_back(api: Api, shop: Shop, deck: Orderdeck) -> None:
    (placed,) = place(shop, 1)
    with deck.unit_of_work(read_only=True) as uow:
        order = uow.orders.get(placed["id"], for_update=False)
    assert decode_order(encode_order(order)) == order
    order.buyer_accepts_marketing = None  # type: ignore[assignment]
    with pytest.raises(InvalidInput) as refused:
        encode_order(order)
    assert refused.value.field == "buyer_accepts_marketing"


def test_an_order_stored_with_a_null_loads_everywhere(api: Api, shop: Shop, deck: Orderdeck) -> None:
    first, bad, last = place(shop, 3)
    spoil(deck, bad["id"], null_marketing)

    shown = api.ok(api.get(f"/orders/{bad['id']}.json"))["order"]
    assert shown["buyer_accepts_marketing"] is False
    listed = api.ok(api.get("/orders.json?status=any"))["orders"]
    assert sorted(o["id"] for o in listed) == [first["id"], bad["id"], last["id"]]
    status_page = api.client.get(bad["order_status_url"].split("shop.test")[1])
    assert status_page.status_code == 200
    rows = export_rows(api)
    assert [r[0] for r in rows[1:]] == [first["name"], bad["name"], last["name"]]
    # It takes commands again, and its next save stores it repaired.
    assert api.ok(api.post(f"/orders/{bad['id']}/close.json"))["order"]["closed_at"]
    with deck.db.reader.connect() as conn:
        stored = conn.execute(
            select(order_documents.c.document).where(order_documents.c.order_id == bad["id"])
        ).scalar_one()
    assert _decoder.decode(stored).buyer_accepts_marketing is False


def test_an_order_that_does_not_load_is_marked_in_the_export_and_left_out_of_lists(
    api: Api, shop: Shop, deck: Orderdeck
) -> None:
    first, bad, last = place(shop, 3)
    spoil(deck, bad["id"], broken_lines)

    rows = export_rows(api)
    assert [r[0] for r in rows[1:]] == [first["name"], bad["name"], last["name"]]
    assert rows[2][rows[0].index("Line items")] == UNLOADABLE
    assert rows[3][rows[0].index("Line items")] == "1x UNR-1"
    listed = api.ok(api.get("/orders.json?status=any"))["orders"]
    assert sorted(o["id"] for o in listed) == [first["id"], last["id"]]
    one = api.get(f"/orders/{bad['id']}.json")
    assert one.status_code == 500 and "repair-orders" in one.json()["errors"]
    assert api.ok(api.get("/orders/count.json?status=any"))["count"] == 3


def test_repair_orders_fixes_known_bad_values_and_names_the_rest(
    api: Api, shop: Shop, deck: Orderdeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, nulled, broken = place(shop, 3)
    spoil(deck, nulled["id"], null_marketing)
    spoil(deck, broken["id"], broken_lines)
    monkeypatch.setenv("ORDERDECK_DATABASE_URL", deck.db.url)
    runner = CliRunner()

    dry = runner.invoke(cli, ["repair-orders", "--dry-run"])
    assert dry.exit_code == 1, dry.output
    assert f"{nulled['name']} (id {nulled['id']}) would be repaired" in dry.output
    with deck.db.reader.connect() as conn:
        still = conn.execute(
            select(order_documents.c.document).where(order_documents.c.order_id == nulled["id"])
        ).scalar_one()
    assert orjson.loads(still)["buyer_accepts_marketing"] is None

    done = runner.invoke(cli, ["repair-orders"])
    assert done.exit_code == 1, done.output
    assert f"{nulled['name']} (id {nulled['id']}) repaired" in done.output
    assert f"{broken['name']} (id {broken['id']}) does not load" in done.output
    assert "3 order(s) checked, 1 repaired, 1 that do not load" in done.output
    with deck.db.reader.connect() as conn:
        stored = conn.execute(
            select(order_documents.c.document).where(order_documents.c.order_id == nulled["id"])
        ).scalar_one()
    assert _decoder.decode(stored).buyer_accepts_marketing is False
    assert api.ok(api.get(f"/orders/{nulled['id']}.json"))["order"]["buyer_accepts_marketing"] is False
