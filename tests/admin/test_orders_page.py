"""The Orders page: tabs, every filter, search, keyset pages, saved views, the bulk form, the CSV
export, bad filter values and what a viewer sees."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from orderdeck.services.context import Orderdeck

from ..conftest import AUTHORIZE, SELL, Api, Clock, Shop
from .conftest import AdminClient, make_staff

ROW = re.compile(r'<td class="name"><a href="/admin/orders/(\d+)">([^<]+)</a>')
TRACKING = "1Z999AA10123456784"


def listed(owner: AdminClient, query: str = "", expect: int = 200) -> list[str]:
    """The order names the Orders page lists for a query string, in the page's order."""
    page = owner.page("/admin/orders" + (f"?{query}" if query else ""), expect=expect)
    return [name for _, name in ROW.findall(page.text)]


def row_of(page_html: str, name: str) -> str:
    found = re.search(rf"<tr>\s*(?:(?!</tr>).)*?>{re.escape(name)}</a>.*?</tr>", page_html, re.S)
    assert found, f"{name} is not listed"
    return found.group(0)


@pytest.fixture
def shop_in_amsterdam(deck: Orderdeck) -> Iterator[None]:
    """The shop's time zone is Amsterdam for this test (and back to what it was afterwards)."""
    with deck.unit_of_work() as uow:
        before = uow.conn.execute(text("SELECT timezone FROM shop")).scalar_one()
        uow.conn.execute(text("UPDATE shop SET timezone = 'Europe/Amsterdam'"))
        uow.commit()
    yield
    with deck.unit_of_work() as uow:
        uow.conn.execute(text("UPDATE shop SET timezone = :tz"), {"tz": before})
        uow.commit()


@pytest.fixture
def made(shop: Shop, api: Api, clock: Clock) -> dict[str, Any]:
    """Five orders, one of each kind the filters tell apart (clock: 2 Nov 2026, then 5 Nov).

    #1001 Anna: authorized (unpaid), unfulfilled, Amsterdam, tags wholesale+gift, stage Engraving
    #1002 Bram: paid, fulfilled with a tracking number, Utrecht, channel instagram
    #1003 Cora: paid, archived, tag gift
    #1004 Dirk: cancelled
    #1005 Eva:  paid, partially fulfilled (Amsterdam shipped, Utrecht not), 3 days later
    """
    amsterdam = shop.location("Amsterdam")
    utrecht = shop.location("Utrecht")
    mug = shop.product("MUG-1", "12.50", stock={amsterdam: 50}, title="Mug")
    vase = shop.product("VASE-9", "40.00", stock={utrecht: 50}, title="Vase")
    api.ok(
        api.post(
            "/custom_statuses.json",
            {"custom_status": {"handle": "engraving", "names": {"en": "Engraving"}, "color": "#7c3aed"}},
        )
    )

    def person(first: str, last: str) -> dict[str, Any]:
        return {"first_name": first, "last_name": last}

    anna = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        email="anna@example.nl",
        customer=person("Anna", "Jansen"),
        tags="wholesale, gift",
        transactions=AUTHORIZE,
    )
    api.ok(api.post(f"/orders/{anna['id']}/custom_status.json", {"custom_status": {"handle": "engraving"}}))
    bram = shop.order(
        [{"variant_id": vase, "quantity": 1}],
        email="bram@example.com",
        customer=person("Bram", "de Boer"),
        transactions=SELL,
        source_name="instagram",
    )
    shop.fulfil(bram["id"], tracking=TRACKING)
    cora = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        email="cora@example.org",
        customer=person("Cora", "Smit"),
        tags="gift",
        transactions=SELL,
    )
    api.ok(api.post(f"/orders/{cora['id']}/close.json"))
    dirk = shop.order([{"variant_id": mug, "quantity": 1}], email="dirk@example.org", customer=person("Dirk", "Vos"))
    api.ok(api.post(f"/orders/{dirk['id']}/cancel.json"))
    clock.advance(days=3)
    eva = shop.order(
        [{"variant_id": mug, "quantity": 1}, {"variant_id": vase, "quantity": 1}],
        email="eva@example.org",
        customer=person("Eva", "Bakker"),
        transactions=SELL,
    )
    shop.fulfil(eva["id"])  # the first fulfillment order only: partially fulfilled
    return {
        "amsterdam": amsterdam,
        "utrecht": utrecht,
        **{o["email"].split("@")[0]: o for o in (anna, bram, cora, dirk, eva)},
    }


# ---- the list ------------------------------------------------------------------------------------


def test_each_row_shows_name_date_customer_total_badges_stage_and_tags(
    owner: AdminClient, made: dict[str, Any], shop_in_amsterdam: None
) -> None:
    page = owner.page("/admin/orders").text
    assert listed(owner) == ["#1005", "#1004", "#1003", "#1002", "#1001"]  # newest first
    anna = row_of(page, "#1001")
    assert f'href="/admin/orders/{made["anna"]["id"]}"' in anna
    assert "2 Nov 2026, 10:30" in anna  # 09:30 UTC in the shop's time zone
    assert "Anna Jansen" in anna and "anna@example.nl" in anna
    assert "€25.00" in anna
    assert 'title="Order: Open"' in anna and 'title="Payment: Authorized"' in anna
    assert 'title="Fulfillment: Unfulfilled"' in anna
    assert 'title="Stage: Engraving"' in anna and "--stage:#7c3aed" in anna
    assert '<span class="tag">wholesale</span>' in anna and '<span class="tag">gift</span>' in anna
    assert 'aria-label="Return' not in anna and "Return:" not in anna  # no return started: no badge
    assert f'<input type="checkbox" name="ids" value="{made["anna"]["id"]}"' in anna
    assert re.search(r"<label[^>]*>Select #1001</label>", anna)
    assert 'title="Fulfillment: Fulfilled"' in row_of(page, "#1002")
    assert 'title="Order: Archived"' in row_of(page, "#1003")
    assert 'title="Order: Cancelled"' in row_of(page, "#1004")
    assert 'title="Fulfillment: Partial"' in row_of(page, "#1005")
    assert "5 orders" in page


def test_the_open_orders_count_next_to_orders_counts_open_unfulfilled_orders(
    owner: AdminClient, made: dict[str, Any]
) -> None:
    # Open and not fully fulfilled: #1001 (unfulfilled) and #1005 (partial); not the shipped
    # #1002, the archived #1003 or the cancelled #1004.
    page = owner.page("/admin/orders?status=closed").text
    assert re.search(r'aria-label="2 open orders">2</span>', page)


# ---- tabs and filters ---------------------------------------------------------------------------


TABS = [
    ("All", ["#1005", "#1004", "#1003", "#1002", "#1001"]),
    ("Unfulfilled", ["#1005", "#1001"]),
    ("Unpaid", ["#1001"]),
    ("Open", ["#1005", "#1002", "#1001"]),
    ("Archived", ["#1003"]),
]


def test_each_tab_selects_its_orders(owner: AdminClient, made: dict[str, Any]) -> None:
    page = owner.page("/admin/orders").text
    for tab, names in TABS:
        link = re.search(rf'<a href="([^"]*)"[^>]*>{tab}</a>', page)
        assert link, tab
        shown = owner.page(html.unescape(link.group(1))).text
        assert [name for _, name in ROW.findall(shown)] == names, tab
        assert re.search(rf'aria-current="page">{tab}</a>', shown), tab
        assert len(re.findall(r'aria-current="page">', shown)) == 2, tab  # the tab and "Orders"
        assert f"{len(names)} order" in shown, tab


FILTERS = [
    ("status=open", ["#1005", "#1002", "#1001"]),
    ("status=closed", ["#1003"]),
    ("status=archived", ["#1003"]),
    ("status=cancelled", ["#1004"]),
    ("financial_status=paid", ["#1005", "#1003", "#1002"]),
    ("financial_status=authorized", ["#1001"]),
    ("financial_status=unpaid", ["#1001"]),  # Shopify's: authorized or partially paid
    ("financial_status=outstanding", ["#1001"]),  # the Unpaid tab: pending too
    ("financial_status=voided", ["#1004"]),  # #1004 was cancelled while pending: voided
    ("fulfillment_status=shipped", ["#1002"]),
    ("fulfillment_status=partial", ["#1005"]),
    ("fulfillment_status=unshipped&status=open", ["#1001"]),
    ("fulfillment_status=unfulfilled&status=open", ["#1005", "#1001"]),
    ("return_status=no_return", ["#1005", "#1004", "#1003", "#1002", "#1001"]),
    ("return_status=returned", []),
    ("custom_status=engraving", ["#1001"]),
    ("custom_status=none&status=open", ["#1005", "#1002"]),
    ("tag=gift", ["#1003", "#1001"]),
    ("tag=gift,wholesale", ["#1001"]),
    ("tag=gift&tag_not=wholesale", ["#1003"]),
    ("source_name=instagram", ["#1002"]),
    ("created_from=2026-11-03", ["#1005"]),
    ("created_to=2026-11-02", ["#1004", "#1003", "#1002", "#1001"]),
    ("created_from=2026-11-02&created_to=2026-11-05", ["#1005", "#1004", "#1003", "#1002", "#1001"]),
    ("status=open&financial_status=paid&fulfillment_status=partial", ["#1005"]),
]


def test_each_filter_selects_its_orders(owner: AdminClient, made: dict[str, Any]) -> None:
    for query, names in FILTERS:
        assert listed(owner, query) == names, query


def test_the_location_filter_lists_the_shops_locations(owner: AdminClient, made: dict[str, Any]) -> None:
    page = owner.page("/admin/orders").text
    assert f'<option value="{made["utrecht"]}" >Utrecht</option>' in page
    assert listed(owner, f"location_id={made['utrecht']}") == ["#1005", "#1002"]
    assert listed(owner, f"location_id={made['amsterdam']}") == ["#1005", "#1004", "#1003", "#1001"]


def test_the_filter_form_keeps_what_was_chosen(owner: AdminClient, made: dict[str, Any]) -> None:
    page = owner.page("/admin/orders?status=open&fulfillment_status=partial&tag=gift&q=eva&page_info=").text
    assert '<option value="open" selected>Open</option>' in page
    assert '<option value="partial" selected>Partially fulfilled</option>' in page
    assert 'name="tag" type="text" value="gift"' in page and 'name="q" type="search" value="eva"' in page


SEARCHES = [
    ("order name", "#1002", ["#1002"]),
    ("order number", "1003", ["#1003"]),
    ("e-mail", "eva@example.org", ["#1005"]),
    ("e-mail prefix", "anna@", ["#1001"]),
    ("customer name", "Bram de Boer", ["#1002"]),
    ("customer surname", "jansen", ["#1001"]),
    ("sku", "VASE-9", ["#1005", "#1002"]),
    ("tracking number", TRACKING, ["#1002"]),
]


def test_search_finds_orders_by_each_kind_of_term(owner: AdminClient, made: dict[str, Any]) -> None:
    for kind, q, names in SEARCHES:
        assert listed(owner, urlencode({"q": q})) == names, kind


# ---- pages ------------------------------------------------------------------------------------------


def test_pages_walk_every_order_once_forwards_and_back(owner: AdminClient, shop: Shop) -> None:
    shop.location()
    for _ in range(7):
        shop.order([{"title": "Card", "price": "3.00", "quantity": 1}])
    seen: list[str] = []
    pages: list[list[str]] = []
    path: str | None = "/admin/orders?limit=3"
    while path:
        page = owner.page(path).text
        assert "7 orders" in page
        names = [name for _, name in ROW.findall(page)]
        assert 0 < len(names) <= 3
        pages.append(names)
        seen += names
        older = re.search(r'<a class="button" href="([^"]+)" rel="next"', page)
        path = html.unescape(older.group(1)) if older else None
        assert "OFFSET" not in (path or "")
    assert seen == [f"#{n}" for n in range(1007, 1000, -1)]  # each once, newest first
    assert pages == [["#1007", "#1006", "#1005"], ["#1004", "#1003", "#1002"], ["#1001"]]
    # ...and back with "Newer", page by page.
    last = owner.page("/admin/orders?limit=3").text
    for _ in range(2):
        older_link = re.search(r'<a class="button" href="([^"]+)" rel="next"', last)
        assert older_link
        last = owner.page(html.unescape(older_link.group(1))).text
    newer = re.search(r'<a class="button" href="([^"]+)" rel="prev"', last)
    assert newer
    back = owner.page(html.unescape(newer.group(1))).text
    assert [name for _, name in ROW.findall(back)] == ["#1004", "#1003", "#1002"]


def test_a_page_keeps_its_filter(owner: AdminClient, shop: Shop, api: Api) -> None:
    shop.location()
    for n in range(5):
        shop.order([{"title": "Card", "price": "3.00", "quantity": 1}], tags="vip" if n % 2 == 0 else "")
    first = owner.page("/admin/orders?tag=vip&limit=2").text
    older = re.search(r'<a class="button" href="([^"]+)" rel="next"', first)
    assert older and "tag=vip" in older.group(1)
    assert [name for _, name in ROW.findall(owner.page(html.unescape(older.group(1))).text)] == ["#1001"]


def test_a_count_past_its_limit_says_more_than(owner: AdminClient, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    from orderdeck.web.admin import orders

    shop.location()
    for _ in range(4):
        shop.order([{"title": "Card", "price": "3.00", "quantity": 1}], tags="vip")
    monkeypatch.setattr(orders, "COUNT_AT_MOST", 3)
    page = owner.page("/admin/orders?tag=vip").text
    assert '<p class="muted orders-count" id="orders-count">More than 3 orders</p>' in page
    assert "All orders that match (more than 3)" in page
    assert len(ROW.findall(page)) == 4  # the list itself is whole
    monkeypatch.setattr(orders, "COUNT_AT_MOST", 4)
    assert '<p class="muted orders-count" id="orders-count">4 orders</p>' in owner.page("/admin/orders?tag=vip").text


# ---- saved views ----------------------------------------------------------------------------------


def test_a_saved_view_becomes_a_tab_and_can_be_deleted(owner: AdminClient, made: dict[str, Any]) -> None:
    page = owner.page("/admin/orders?tag=gift&status=any&page_info=").text
    assert 'name="query" value="tag=gift"' in page  # only the filter is saved
    saved = owner.post("/admin/orders/views", {"name": "Gifts", "query": "tag=gift&status=any"})
    assert saved.headers["location"] == "/admin/orders?tag=gift"
    assert owner.flash(saved) == "success: Saved the view “Gifts”."
    tab = owner.page("/admin/orders?tag=gift").text
    assert re.search(r'<a href="/admin/orders\?tag=gift" aria-current="page">Gifts</a>', tab)
    assert [name for _, name in ROW.findall(tab)] == ["#1003", "#1001"]
    view_id = re.search(r'action="/admin/orders/views/(\d+)/delete"', tab)
    assert view_id and "Delete view “Gifts”" in tab
    # Another page of the admin shows the tab too, not selected.
    assert re.search(r'<a href="/admin/orders\?tag=gift" >Gifts</a>', owner.page("/admin/orders").text)

    gone = owner.post(f"/admin/orders/views/{view_id.group(1)}/delete")
    assert owner.flash(gone) == "success: Deleted the view “Gifts”. No order was changed."
    assert ">Gifts</a>" not in owner.page("/admin/orders").text
    assert listed(owner, "status=any") == ["#1005", "#1004", "#1003", "#1002", "#1001"]


def test_a_view_needs_a_name_of_its_own(owner: AdminClient, made: dict[str, Any]) -> None:
    owner.post("/admin/orders/views", {"name": "Gifts", "query": "tag=gift"})
    for name, message in [("gifts", "There is already a view called"), ("Archived", "already a view"), ("  ", "name")]:
        again = owner.post("/admin/orders/views", {"name": name, "query": "tag=wholesale"})
        assert again.status_code == 422 and message in again.text, name
        assert 'aria-invalid="true"' in again.text and f'value="{name}"' in again.text, name  # kept to correct
        assert [n for _, n in ROW.findall(again.text)] == ["#1001"], name  # the filter it was saving
    assert len(re.findall(r">Gifts</a>", owner.page("/admin/orders").text)) == 1


def test_a_view_with_a_bad_filter_is_not_saved(owner: AdminClient) -> None:
    refused = owner.post("/admin/orders/views", {"name": "Broken", "query": "status=nonsense"})
    assert refused.status_code == 422 and "is not one of" in refused.text
    assert ">Broken</a>" not in owner.page("/admin/orders").text


# ---- the bulk form ---------------------------------------------------------------------------------


def test_the_list_sits_in_the_bulk_form_with_the_filter_and_the_scope(owner: AdminClient, made: dict[str, Any]) -> None:
    page = owner.page("/admin/orders?status=open&tag=gift&page_info=&limit=20&utm=x").text
    form = re.search(r'<form method="post" action="/admin/orders/bulk" id="bulk">(.*?)</form>', page, re.S)
    assert form
    bulk = form.group(1)
    assert 'name="csrf_token"' in bulk
    assert '<input type="hidden" name="filter" value="status=open&amp;tag=gift">' in bulk
    assert re.search(r'name="scope" value="selected" checked', bulk)
    assert "The 1 order that matches" in bulk and 'name="scope" value="filter"' in bulk
    assert '<label for="f-action">Bulk action</label>' in bulk
    options = re.findall(r'<option value="(\w+)">', bulk)
    assert options == [
        "capture",
        "fulfil",
        "archive",
        "unarchive",
        "add_tags",
        "remove_tags",
        "set_custom_status",
        "cancel",
        "export_csv",
        "message",
    ]
    assert '<button type="submit" class="primary">Continue</button>' in bulk
    assert 'data-select-all="ids"' in bulk and 'name="ids"' in bulk  # the rows are inside it


# ---- export ------------------------------------------------------------------------------------------


def _csv(answer: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(answer.text)))


def test_the_export_has_the_filtered_orders(owner: AdminClient, made: dict[str, Any]) -> None:
    answer = owner.client.get("/admin/orders/export.csv?financial_status=paid&status=open")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == 'attachment; filename="orders-2026-11-05.csv"'
    rows = _csv(answer)
    assert [r["Name"] for r in rows] == ["#1002", "#1005"]
    bram = rows[0]
    assert bram["Email"] == "bram@example.com" and bram["Customer"] == "Bram de Boer"
    assert (bram["Financial status"], bram["Fulfillment status"], bram["Order status"]) == ("paid", "fulfilled", "open")
    assert bram["Total"] == "40.00" and bram["Tracking numbers"] == TRACKING and bram["Line items"] == "1x VASE-9"
    # The page's export link carries the page's filter.
    page = owner.page("/admin/orders?financial_status=paid&status=open").text
    assert 'href="/admin/orders/export.csv?status=open&amp;financial_status=paid"' in page


def test_the_export_of_chosen_orders(owner: AdminClient, made: dict[str, Any]) -> None:
    ids = f"{made['anna']['id']},{made['dirk']['id']}"
    rows = _csv(owner.client.get(f"/admin/orders/export.csv?ids={ids}"))
    assert [(r["Name"], r["Order status"]) for r in rows] == [("#1001", "open"), ("#1004", "cancelled")]
    repeated = owner.client.get(f"/admin/orders/export.csv?ids={made['cora']['id']}&ids={made['eva']['id']}")
    assert [(r["Name"], r["Order status"]) for r in _csv(repeated)] == [("#1003", "archived"), ("#1005", "open")]


def test_a_bad_export_says_why(owner: AdminClient) -> None:
    answer = owner.client.get("/admin/orders/export.csv?status=lost&tag=x", follow_redirects=False)
    assert answer.status_code == 422 and "Order status: &#39;lost&#39; is not one of" in answer.text
    assert 'name="tag" type="text" value="x"' in answer.text  # the filter, there to correct
    answer = owner.client.get("/admin/orders/export.csv?ids=1,x", follow_redirects=False)
    assert owner.flash(answer) == "error: Order ids are whole numbers"


# ---- bad filters ---------------------------------------------------------------------------------------


BAD_FILTERS = [
    ("status=lost", "status", "Order status: &#39;lost&#39; is not one of open, closed, cancelled, any"),
    ("financial_status=owed", "financial_status", "Payment: &#39;owed&#39; is not one of"),
    ("fulfillment_status=gone", "fulfillment_status", "Fulfillment: &#39;gone&#39; is not one of"),
    ("return_status=lost", "return_status", "Return: &#39;lost&#39; is not one of"),
    ("created_from=2026-13-01", "created_from", "Created from: &#39;2026-13-01&#39; is not a date; use YYYY-MM-DD"),
    ("created_to=yesterday", "created_to", "Created to: &#39;yesterday&#39; is not a date"),
    ("location_id=amsterdam", "location_id", "Location: &#39;amsterdam&#39; is not a location"),
    ("location_id=999999", "location_id", "Location: there is no location with id 999999"),
    ("custom_status=nope", "custom_status", "Custom status: there is no custom status &#39;nope&#39;"),
    ("page_info=garbage", None, "This page link no longer works"),
    ("limit=5000", "limit", "Orders per page: show between 1 and 250"),
]
SELECTS = ("status", "financial_status", "fulfillment_status", "return_status", "custom_status", "location_id")


def test_a_bad_filter_value_is_explained_not_a_crash(owner: AdminClient, made: dict[str, Any]) -> None:
    for query, field, message in BAD_FILTERS:
        page = owner.page(f"/admin/orders?{query}", expect=422).text
        assert message in page, query
        assert "Showing no orders until the filter is corrected" in page and not ROW.findall(page), query
        if field in SELECTS:
            assert re.search(rf'<select id="f-{field}" name="{field}" aria-describedby="h-{field}" aria-invalid', page)
        elif field in ("created_from", "created_to"):
            assert re.search(rf'id="f-{field}" name="{field}" type="date" value="[^"]+" aria-describedby', page)


# ---- who sees what -----------------------------------------------------------------------------------


def test_a_viewer_sees_no_bulk_bar_nor_saving_but_can_export(
    deck: Orderdeck, admin_app: TestClient, made: dict[str, Any]
) -> None:
    make_staff(deck, "viewer@shop.test", permissions=("view_orders",), name="Vera Viewer")
    viewer = AdminClient(admin_app)
    assert viewer.sign_in("viewer@shop.test").status_code == 303
    page = viewer.page("/admin/orders?tag=gift").text
    assert [name for _, name in ROW.findall(page)] == ["#1003", "#1001"]
    assert 'action="/admin/orders/bulk"' not in page and 'name="ids"' not in page and "Bulk action" not in page
    assert "Save this view" not in page
    export = re.search(r'<a class="button" href="([^"]+)" download>Export CSV</a>', page)
    assert export
    rows = _csv(viewer.client.get(html.unescape(export.group(1))))
    assert [r["Name"] for r in rows] == ["#1001", "#1003"]
    refused = viewer.post("/admin/orders/views", {"name": "Mine", "query": ""})
    assert refused.status_code == 403 and "may not manage orders" in refused.text
