"""The Shipments page (issue 15, S6.1): tabs with counts by where each parcel is, filters,
cursor pages, the CSV export and messaging customers (queued once per click through the
outbox), the Orders page's shipment filter, and the Orders page's permissions."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox, timeline_events
from tests.conftest import Shop

from .conftest import PASSWORD, AdminClient, make_staff


@pytest.fixture
def amsterdam(shop: Shop) -> int:
    return shop.location("Amsterdam")


@pytest.fixture
def mug(shop: Shop, amsterdam: int) -> int:
    return shop.product("MUG-1", price="12.50", stock={amsterdam: 50}, title="Delft mug")


def words_of(page: Any) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.text)))


def tab_counts(page: Any) -> dict[str, str]:
    found = re.findall(r'<li><a href="[^"]*"[^>]*>([^<]+?) <span class="tab-count">\(([^)]+)\)</span>', page.text)
    return {words.strip(): count for words, count in found}


def event(shop: Shop, order_id: int, fulfillment_id: int, status: str, **extra: Any) -> None:
    path = f"/orders/{order_id}/fulfillments/{fulfillment_id}/events.json"
    shop.api.ok(shop.api.post(path, {"event": {"status": status, **extra}}))


@pytest.fixture
def parcels(shop: Shop, mug: int, clock: Any) -> list[dict[str, Any]]:
    """Six shipments a day apart: no news, in transit, out for delivery, delivered, attempted,
    failed (oldest first), each for another customer."""
    made = []
    statuses = [None, "in_transit", "out_for_delivery", "delivered", "attempted_delivery", "failure"]
    for n, status in enumerate(statuses):
        order = shop.order(
            [{"variant_id": mug, "quantity": 1}],
            email=f"customer{n}@example.nl",
            customer={"first_name": f"Klant{n}", "last_name": "Jansen"},
        )
        f = shop.fulfil(order["id"], tracking=f"1Z999AA1012345678{n}")
        if status:
            event(shop, order["id"], f["id"], status, message=f"Scan {n}")
        made.append({"order_id": order["id"], "fulfillment_id": f["id"], "name": order["name"]})
        clock.advance(days=1)
    return made


def test_the_page_lists_every_shipment_with_tabs_and_counts(owner: AdminClient, parcels: list[dict[str, Any]]):
    page = owner.page("/admin/shipments")
    text = words_of(page)
    for p in parcels:
        assert p["name"] in text
        assert f'href="/admin/orders/{p["order_id"]}#f{p["fulfillment_id"]}"' in page.text
    assert "Klant0 Jansen" in text and "UPS" in text
    assert 'href="https://www.ups.com/' in page.text  # the tracking number links to the carrier
    counts = tab_counts(page)
    assert counts["All"] == "6"
    assert (counts["Label / confirmed"], counts["In transit"], counts["Out for delivery"]) == ("1", "1", "1")
    assert (counts["Delivered"], counts["Attempted delivery"], counts["Failed"]) == ("1", "1", "1")
    assert counts["Delayed"] == "0"
    # No news for 3 days: the parcels under way whose last news is older than that.
    assert counts["No news for 3 days"] == "3"
    assert 'aria-current="page">Shipments' in page.text  # the admin's navigation


def test_tabs_and_filters_narrow_the_list(owner: AdminClient, parcels: list[dict[str, Any]], amsterdam: int):
    transit = words_of(owner.page("/admin/shipments?tab=in_transit"))
    assert parcels[1]["name"] in transit and parcels[0]["name"] not in transit
    quiet = words_of(owner.page("/admin/shipments?tab=no_news&no_news_days=5"))
    assert parcels[0]["name"] in quiet and parcels[4]["name"] not in quiet
    assert "No news for 5 days" in quiet
    assert "No shipments here" in words_of(owner.page("/admin/shipments?carrier=DPD"))
    ups = words_of(owner.page(f"/admin/shipments?carrier=ups&location_id={amsterdam}&service=manual"))
    assert all(p["name"] in ups for p in parcels)


def test_an_estimated_delivery_passed_puts_a_parcel_in_delayed(
    owner: AdminClient, shop: Shop, parcels: list[dict[str, Any]], clock: Any
):
    due = (clock.now + timedelta(hours=12)).isoformat()
    event(shop, parcels[1]["order_id"], parcels[1]["fulfillment_id"], "in_transit", estimated_delivery_at=due)
    assert tab_counts(owner.page("/admin/shipments"))["Delayed"] == "0"
    clock.advance(days=1)
    page = owner.page("/admin/shipments?tab=delayed")
    assert tab_counts(page)["Delayed"] == "1"
    assert parcels[1]["name"] in words_of(page) and "Late" in words_of(page)


def test_bad_filters_are_explained_at_the_field_and_nothing_listed(owner: AdminClient, parcels: list[dict[str, Any]]):
    for query, words in (
        ("tab=lost", "Tab:"),
        ("no_news_days=0", "No news for:"),
        ("created_from=yesterday", "Shipped from:"),
        ("location_id=424242", "Location:"),
        ("created_from=2026-12-01&created_to=2026-11-01", "Shipped from:"),
    ):
        page = owner.page(f"/admin/shipments?{query}", expect=422)
        assert words in words_of(page), query
        assert parcels[0]["name"] not in words_of(page)
    forged = owner.page("/admin/shipments?page_info=abc.def", expect=422)
    assert "no longer works" in words_of(forged)


def test_pages_follow_older_and_newer(owner: AdminClient, shop: Shop, amsterdam: int):
    cup = shop.product("CUP-1", stock={amsterdam: 100})
    names = []
    for _ in range(55):
        order = shop.order([{"variant_id": cup, "quantity": 1}])
        shop.fulfil(order["id"], tracking=None)
        names.append(order["name"])
    first = owner.page("/admin/shipments")
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older and names[-1] in first.text and names[0] not in first.text
    second = owner.page(html.unescape(older.group(1)))
    assert names[0] in second.text and names[-1] not in second.text
    newer = re.search(r'href="([^"]+)" rel="prev"', second.text)
    assert newer and names[-1] in owner.page(html.unescape(newer.group(1))).text


def test_export_csv_of_chosen_and_of_all_matching(owner: AdminClient, parcels: list[dict[str, Any]]):
    chosen = owner.post(
        "/admin/shipments/bulk",
        [("action", "export_csv"), ("scope", "selected"), ("filter", ""), ("ids", str(parcels[2]["fulfillment_id"]))],
    )
    assert chosen.status_code == 303
    table = list(csv.reader(io.StringIO(owner.page(chosen.headers["location"]).text)))
    assert [row[0] for row in table[1:]] == [parcels[2]["name"]]
    everything = owner.post(
        "/admin/shipments/bulk", {"action": "export_csv", "scope": "filter", "filter": "tab=delivered"}
    )
    answer = owner.page(everything.headers["location"])
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert [row[0] for row in csv.reader(io.StringIO(answer.text))][1:] == [parcels[3]["name"]]


def notifications_queued(deck: Orderdeck) -> list[dict[str, Any]]:
    with deck.unit_of_work(read_only=True) as uow:
        found = uow.conn.execute(select(outbox.c.payload).where(outbox.c.kind == "notification"))
        return [orjson.loads(r.payload) for r in found]


def test_messaging_the_customers_queues_one_e_mail_per_order_once_per_click(
    owner: AdminClient, deck: Orderdeck, parcels: list[dict[str, Any]]
):
    before = len(notifications_queued(deck))
    confirm = owner.post("/admin/shipments/bulk", {"action": "message", "scope": "filter", "filter": "tab=no_news"})
    assert confirm.status_code == 200, confirm.text
    assert "3 orders" in words_of(confirm)
    click = re.search(r'name="click" value="([^"]+)"', confirm.text)
    assert click
    form = {
        "click": click.group(1),
        "scope": "filter",
        "filter": "tab=no_news",
        "template": "custom_message",
        "subject": "About your parcel",
        "body": "Hello {{ customer.first_name }}, we are asking the carrier.",
    }
    said = owner.flash(owner.post("/admin/shipments/message", form))
    assert "3 e-mails to customers queued" in said
    queued = notifications_queued(deck)[before:]
    assert sorted(q["order_id"] for q in queued) == sorted(p["order_id"] for p in parcels[:3])
    assert all(q["template"] == "custom_message" and q["message"]["subject"] == "About your parcel" for q in queued)
    # The same form again (a double click, a reload): nothing more is queued.
    again = owner.flash(owner.post("/admin/shipments/message", form))
    assert "queued already" in again
    assert len(notifications_queued(deck)) == before + 3
    with deck.unit_of_work(read_only=True) as uow:
        lines = uow.conn.execute(
            select(timeline_events.c.message).where(timeline_events.c.order_id == parcels[0]["order_id"])
        ).scalars()
        assert any("About your parcel" in line and "Olivia Owner" in line for line in lines)


def test_the_shipping_update_goes_to_the_chosen_shipment_s_customer(
    owner: AdminClient, deck: Orderdeck, parcels: list[dict[str, Any]]
):
    chosen = [("ids", str(parcels[4]["fulfillment_id"])), ("scope", "selected"), ("filter", "")]
    confirm = owner.post("/admin/shipments/bulk", [("action", "message"), *chosen])
    click = re.search(r'name="click" value="([^"]+)"', confirm.text)
    assert click and "1 order" in words_of(confirm)
    said = owner.flash(
        owner.post("/admin/shipments/message", [*chosen, ("click", click.group(1)), ("template", "shipping_update")])
    )
    assert "1 e-mail to customers queued" in said
    [queued] = [q for q in notifications_queued(deck) if q["template"] == "shipping_update"]
    assert (queued["order_id"], queued["subject_id"]) == (parcels[4]["order_id"], parcels[4]["fulfillment_id"])


def test_a_message_without_words_comes_back_with_the_reason_and_queues_nothing(
    owner: AdminClient, deck: Orderdeck, parcels: list[dict[str, Any]]
):
    before = len(notifications_queued(deck))
    answer = owner.post(
        "/admin/shipments/message",
        {"click": "x" * 20, "scope": "filter", "filter": "", "template": "custom_message", "subject": "Hi", "body": ""},
    )
    assert answer.status_code == 422 and "Write the message" in words_of(answer)
    nothing = owner.post("/admin/shipments/bulk", {"action": "message", "scope": "selected", "filter": ""})
    assert "select at least one shipment" in owner.flash(nothing).lower()
    assert len(notifications_queued(deck)) == before


def test_the_orders_page_filters_by_shipment_status(owner: AdminClient, parcels: list[dict[str, Any]]):
    page = owner.page("/admin/orders?status=any&shipment_status=delivered")
    text = words_of(page)
    assert parcels[3]["name"] in text and parcels[2]["name"] not in text
    assert 'name="shipment_status"' in page.text
    bad = owner.page("/admin/orders?status=any&shipment_status=lost", expect=422)
    assert "Shipment:" in words_of(bad)


def test_permissions_are_the_orders_page_s(
    owner: AdminClient, deck: Orderdeck, admin_app: TestClient, parcels: list[dict[str, Any]]
):
    make_staff(deck, "viewer@shop.test", permissions=("view_orders",), name="Vera Viewer")
    viewer = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    assert viewer.sign_in("viewer@shop.test", PASSWORD).status_code == 303
    page = viewer.page("/admin/shipments")
    assert parcels[0]["name"] in page.text and 'value="message"' not in page.text
    exported = viewer.post("/admin/shipments/bulk", {"action": "export_csv", "scope": "filter", "filter": ""})
    assert exported.status_code == 303
    refused = viewer.post("/admin/shipments/message", {"scope": "filter", "filter": "", "template": "shipping_update"})
    assert refused.status_code == 403
    make_staff(deck, "settings@shop.test", permissions=("manage_settings",), name="Sam Settings")
    other = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    other.sign_in("settings@shop.test", PASSWORD)
    # Whoever may see the Orders page may see this one, and the other way round.
    for path in ("/admin/shipments", "/admin/orders"):
        assert (
            other.client.get(path, follow_redirects=False).status_code
            == other.client.get("/admin/orders", follow_redirects=False).status_code
        )
