"""Shipments (issue 15, S6.1): one row per fulfillment kept with the order by save_order, the
shipments.json / count.json extension with its filters and cursor pages, the shipment_status
filter on orders, the CSV export's formula safety and the migration's backfill."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from orderdeck.store.shipments import ShipmentFilter, backfill, export_csv
from orderdeck.store.tables import shipments
from tests.conftest import BASE, make_token

UPS = "1Z999AA10123456784"
POSTNL = "3SABCD1234567"


def rows(deck: Any) -> list[dict[str, Any]]:
    with deck.unit_of_work(read_only=True) as uow:
        found = uow.conn.execute(select(shipments).order_by(shipments.c.fulfillment_id)).mappings()
        return [dict(r) for r in found]


def event(api: Any, order_id: int, fulfillment_id: int, status: str, **extra: Any) -> dict[str, Any]:
    path = f"/orders/{order_id}/fulfillments/{fulfillment_id}/events.json"
    return api.ok(api.post(path, {"event": {"status": status, **extra}}))["fulfillment_event"]  # type: ignore[no-any-return]


def listed(api: Any, query: str = "") -> list[dict[str, Any]]:
    return api.ok(api.get(f"/shipments.json{'?' + query if query else ''}"))["shipments"]  # type: ignore[no-any-return]


def counted(api: Any, query: str = "") -> int:
    return int(api.ok(api.get(f"/shipments/count.json{'?' + query if query else ''}"))["count"])


@pytest.fixture
def shipped(shop: Any, mug: int) -> dict[str, Any]:
    order = shop.order([{"variant_id": mug, "quantity": 1}], customer={"first_name": "Anna", "last_name": "Jansen"})
    fulfillment = shop.fulfil(order["id"], tracking=UPS)
    return {"order_id": order["id"], "fulfillment_id": fulfillment["id"], "name": order["name"]}


# ---- the rows follow the order -------------------------------------------------------------------


def test_a_fulfillment_writes_its_row_with_the_order(deck, shipped):
    [row] = rows(deck)
    assert row["fulfillment_id"] == shipped["fulfillment_id"]
    assert (row["order_id"], row["order_name"]) == (shipped["order_id"], shipped["name"])
    assert (row["customer_name"], row["email"]) == ("Anna Jansen", "anna@example.nl")
    assert (row["carrier"], row["tracking_number"]) == ("UPS", UPS)
    assert row["tracking_url"].startswith("https://www.ups.com/") and UPS in row["tracking_url"]
    assert (row["status"], row["shipment_status"], row["stage"]) == ("success", None, "label")
    assert row["quiet_since"] is not None and row["late_after"] is None


def test_tracking_changes_and_events_update_the_row(api, deck, shipped):
    oid, fid = shipped["order_id"], shipped["fulfillment_id"]
    body = {"fulfillment": {"tracking_info": {"number": POSTNL, "company": "PostNL"}}}
    api.ok(api.post(f"/fulfillments/{fid}/update_tracking.json", body))
    [row] = rows(deck)
    assert (row["carrier"], row["tracking_number"]) == ("PostNL", POSTNL)
    assert POSTNL in row["tracking_url"]

    eta = "2026-11-05T17:00:00+01:00"
    event(api, oid, fid, "in_transit", message="Sorted in Utrecht", estimated_delivery_at=eta)
    [row] = rows(deck)
    assert (row["shipment_status"], row["stage"], row["last_event_message"]) == (
        "in_transit",
        "in_transit",
        "Sorted in Utrecht",
    )
    assert row["estimated_delivery_at"].replace(tzinfo=UTC) == datetime(2026, 11, 5, 16, 0, tzinfo=UTC)
    assert row["late_after"] is not None

    event(api, oid, fid, "out_for_delivery")  # no estimate: the carrier's earlier one stands
    event(api, oid, fid, "delivered", message="Left with a neighbour")
    [row] = rows(deck)
    assert (row["shipment_status"], row["stage"]) == ("delivered", "delivered")
    assert row["estimated_delivery_at"] is not None
    # Delivered: neither late nor waiting for news any more.
    assert (row["late_after"], row["quiet_since"]) == (None, None)


def test_a_cancelled_fulfillment_leaves_the_lists_and_a_deleted_order_its_rows(api, deck, shipped):
    fid = shipped["fulfillment_id"]
    api.ok(api.post(f"/fulfillments/{fid}/cancel.json"))
    [row] = rows(deck)
    assert (row["status"], row["stage"]) == ("cancelled", "cancelled")
    assert listed(api) == [] and counted(api) == 0
    assert [s["fulfillment_id"] for s in listed(api, "status=cancelled")] == [fid]
    assert counted(api, "status=any") == 1

    oid = shipped["order_id"]
    api.ok(api.post(f"/orders/{oid}/cancel.json", {}))
    api.ok(api.delete(f"/orders/{oid}.json"))
    assert rows(deck) == []


# ---- shipments.json --------------------------------------------------------------------------------


@pytest.fixture
def many(api: Any, shop: Any, mug: int, clock: Any) -> list[dict[str, Any]]:
    """Five shipments a day apart, oldest first: UPS, PostNL, UPS, PostNL, UPS, with news."""
    made = []
    for n in range(5):
        order = shop.order([{"variant_id": mug, "quantity": 1}])
        number = f"1Z999AA1012345678{n}" if n % 2 == 0 else f"3SABCD12345{n}"
        f = shop.fulfil(order["id"], tracking=number)
        made.append({"order_id": order["id"], "fulfillment_id": f["id"], "number": number})
        clock.advance(days=1)
    event(api, made[1]["order_id"], made[1]["fulfillment_id"], "in_transit")
    event(api, made[2]["order_id"], made[2]["fulfillment_id"], "delivered")
    event(api, made[3]["order_id"], made[3]["fulfillment_id"], "failure")
    return made


def test_the_list_is_newest_first_with_the_shipment_fields(api, many):
    found = listed(api)
    assert [s["fulfillment_id"] for s in found] == [m["fulfillment_id"] for m in reversed(many)]
    first = found[0]
    assert set(first) >= {
        "fulfillment_id",
        "order_id",
        "order_name",
        "customer_name",
        "tracking_company",
        "tracking_number",
        "tracking_url",
        "shipment_status",
        "delayed",
        "last_event_at",
        "estimated_delivery_at",
        "location_id",
        "service",
    }
    assert first["tracking_number"] == many[-1]["number"] and first["service"] == "manual"


def test_filters_select_the_same_shipments_in_the_list_and_the_count(api, many, amsterdam, clock):
    ids = {m["fulfillment_id"]: i for i, m in enumerate(many)}

    def which(query: str) -> list[int]:
        found = sorted(ids[s["fulfillment_id"]] for s in listed(api, query))
        assert counted(api, query) == len(found)
        return found

    assert which("carrier=UPS") == [0, 2, 4]
    assert which("carrier=postnl") == [1, 3]  # the carrier's name as staff type it
    assert which("shipment_status=delivered") == [2]
    assert which("shipment_status=none") == [0, 4]
    assert which(f"location_id={amsterdam}") == [0, 1, 2, 3, 4]
    assert which("location_id=999999") == []
    assert which("service=manual") == [0, 1, 2, 3, 4]
    start = clock.now - timedelta(days=5)
    low = (start + timedelta(hours=36)).isoformat().replace("+00:00", "Z")
    high = (start + timedelta(hours=84)).isoformat().replace("+00:00", "Z")
    assert which(f"created_at_min={low}&created_at_max={high}") == [2, 3]
    # No news for N days: under way and quiet since before then; the news of #1 came just now,
    # and delivered (#2) and failed (#3) shipments wait for nothing.
    assert which("no_news_days=3") == [0]
    assert which("no_news_days=1") == [0, 4]


def test_delayed_is_an_estimate_passed_or_a_delayed_event(api, many, clock):
    eta = (clock.now + timedelta(days=1)).isoformat()
    event(api, many[0]["order_id"], many[0]["fulfillment_id"], "in_transit", estimated_delivery_at=eta)
    event(api, many[4]["order_id"], many[4]["fulfillment_id"], "delayed")
    assert [s["fulfillment_id"] for s in listed(api, "delayed=true")] == [many[4]["fulfillment_id"]]
    clock.advance(days=2)
    found = listed(api, "delayed=true")
    assert [s["fulfillment_id"] for s in found] == [many[4]["fulfillment_id"], many[0]["fulfillment_id"]]
    assert all(s["delayed"] for s in found)
    assert counted(api, "delayed=false") == 3


def test_cursor_pages_follow_the_link_header_both_ways(api, many):
    answer = api.get("/shipments.json?limit=2&carrier=UPS")
    assert [s["fulfillment_id"] for s in answer.json()["shipments"]] == [
        many[4]["fulfillment_id"],
        many[2]["fulfillment_id"],
    ]
    following = re.search(r'<[^>]*page_info=([^&>]+)[^>]*>; rel="next"', answer.headers["Link"])
    assert following
    second = api.get(f"/shipments.json?limit=2&page_info={following.group(1)}")
    assert [s["fulfillment_id"] for s in second.json()["shipments"]] == [many[0]["fulfillment_id"]]
    assert 'rel="next"' not in second.headers["Link"]
    back = re.search(r'<[^>]*page_info=([^&>]+)[^>]*>; rel="previous"', second.headers["Link"])
    assert back
    first_again = api.get(f"/shipments.json?limit=2&page_info={back.group(1)}")
    assert [s["fulfillment_id"] for s in first_again.json()["shipments"]] == [
        many[4]["fulfillment_id"],
        many[2]["fulfillment_id"],
    ]


def test_bad_filters_and_cursors_are_refused_naming_the_field(api, many):
    for query, field in (
        ("shipment_status=lost", "shipment_status"),
        ("no_news_days=0", "no_news_days"),
        ("no_news_days=many", "no_news_days"),
        ("created_at_min=yesterday", "created_at_min"),
        ("delayed=perhaps", "delayed"),
        ("location_id=-3", "location_id"),
        ("status=gone", "status"),
        ("limit=0", "limit"),
        ("created_at_min=2026-12-01T00:00:00Z&created_at_max=2026-11-01T00:00:00Z", "created_at_min"),
    ):
        for path in ("/shipments.json", "/shipments/count.json"):
            if field == "limit" and "count" in path:
                continue
            answer = api.get(f"{path}?{query}")
            assert answer.status_code == 422, (query, answer.text)
            assert field in str(answer.json()["errors"]), (query, answer.text)
    assert api.get("/shipments.json?page_info=forged.value").status_code == 400
    answer = api.get("/shipments.json?limit=1")
    token = re.search(r"page_info=([^&>]+)", answer.headers["Link"])
    assert token
    mixed = api.get(f"/shipments.json?page_info={token.group(1)}&carrier=UPS")
    assert mixed.status_code == 400 and "carrier" in mixed.text


def test_either_read_scope_serves_and_none_other(deck, client, many):
    for scopes, status in ((["read_orders"], 200), (["read_fulfillments"], 200), (["read_products"], 403)):
        token = make_token(deck, scopes)
        answer = client.get(f"{BASE}/shipments.json", headers={"X-Shopify-Access-Token": token})
        assert answer.status_code == status, (scopes, answer.text)


def test_the_customer_is_shown_only_to_tokens_that_may_read_orders(deck, client, shop, mug):
    """A fulfillment service's token (write_fulfillments, as the reference 3PL's) reads shipments,
    but not every customer's name and e-mail across the shop: those need read_orders."""
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        email="anna@example.com",
        customer={"first_name": "Anna", "last_name": "Jansen", "email": "anna@example.com"},
    )
    shop.fulfil(order["id"], tracking=UPS)
    service_token = ["write_fulfillments", "write_assigned_fulfillment_orders"]
    for scopes, shown in ((["read_orders"], True), (service_token, False)):
        token = make_token(deck, scopes)
        answer = client.get(f"{BASE}/shipments.json", headers={"X-Shopify-Access-Token": token})
        [row] = answer.json()["shipments"]
        assert (row["email"], row["customer_name"]) == (
            ("anna@example.com", "Anna Jansen") if shown else (None, None)
        ), scopes
        assert row["tracking_number"] == UPS


# ---- orders.json's shipment_status -------------------------------------------------------------------


def test_orders_filter_by_a_fulfillment_s_current_shipment_status(api, many):
    def names(query: str) -> list[int]:
        found = api.ok(api.get(f"/orders.json?status=any&{query}"))["orders"]
        assert api.ok(api.get(f"/orders/count.json?status=any&{query}"))["count"] == len(found)
        return sorted(o["id"] for o in found)

    assert names("shipment_status=in_transit") == [many[1]["order_id"]]
    assert names("shipment_status=failure") == [many[3]["order_id"]]
    assert names("shipment_status=none") == sorted([many[0]["order_id"], many[4]["order_id"]])
    refused = api.get("/orders.json?shipment_status=somewhere")
    assert refused.status_code == 422 and "shipment_status" in refused.json()["errors"]
    assert api.get("/orders/count.json?shipment_status=somewhere").status_code == 422


# ---- CSV -----------------------------------------------------------------------------------------------


def test_the_csv_has_every_matching_row_and_no_formula(deck, api, shop, mug):
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        customer={"first_name": '=HYPERLINK("http://evil.test")', "last_name": "@SUM(A1)"},
    )
    f = shop.fulfil(order["id"], tracking="+31 2024")
    event(api, order["id"], f["id"], "in_transit", message="-cmd|' /C calc'!A0")
    with deck.unit_of_work(read_only=True) as uow:
        now = uow.now
    text = "".join(export_csv(deck.db.reader.connect, ShipmentFilter(), now, batch=1))
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:3] == ["Order", "Customer", "Email"]
    [line] = table[1:]
    assert line[1].startswith("'=HYPERLINK")
    assert line[5] == "'+31 2024"
    assert line[11].startswith("'-cmd")
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in line)


def test_the_csv_streams_in_batches_all_matching(deck, many):
    with deck.unit_of_work(read_only=True) as uow:
        now = uow.now
    text = "".join(export_csv(deck.db.reader.connect, ShipmentFilter(carrier="UPS"), now, batch=2))
    numbers = [line[5] for line in csv.reader(io.StringIO(text))][1:]
    assert numbers == [many[4]["number"], many[2]["number"], many[0]["number"]]


# ---- the backfill (migration 0026 and `orderdeck repair-orders` alike) ---------------------------------


def test_the_backfill_writes_every_stored_order_s_rows_and_twice_changes_nothing(deck, many):
    before = rows(deck)
    with deck.unit_of_work() as uow:
        uow.conn.execute(delete(shipments))
        report = backfill(uow.conn, batch=2)
        uow.commit()
    assert (report.checked, report.written, report.unreadable) == (5, 5, [])
    assert rows(deck) == before
    with deck.unit_of_work() as uow:
        backfill(uow.conn, batch=3)
        uow.commit()
    assert rows(deck) == before


def test_migration_0026_fills_the_table_from_the_stored_orders(deck, many):
    """Down to 0025 (the table gone) and up again, as `orderdeck migrate` runs it on a shop
    whose orders were stored before shipments had rows."""
    from alembic import command

    from orderdeck.store.migrate import alembic_config

    before = rows(deck)
    with deck.db.writer.connect() as conn, conn.begin():
        config = alembic_config(deck.db.url)
        config.attributes["connection"] = conn
        command.downgrade(config, "0025")
        command.upgrade(config, "head")
    assert rows(deck) == before
    assert len(before) == 5
