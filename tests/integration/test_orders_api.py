"""The orders API as a merchant's tools use it: create, read, list, edit, tag, archive, delete,
timeline, idempotency, auth, bad input, CSV export and the Shopify 2024-10 wire format.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture in conftest.py).
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event, select

from orderdeck.store.tables import deleted_orders
from tests.conftest import AUTHORIZE, SELL, make_token

# ---- helpers ---------------------------------------------------------------------------------

LINK_PART = re.compile(r'^<(https?://[^<>\s]+)>; rel="(next|previous)"$')


def count(api: Any, **params: Any) -> int:
    """How many orders exist (any status unless the caller says otherwise)."""
    params.setdefault("status", "any")
    return int(api.ok(api.get("/orders/count.json", params=params))["count"])


def names(api: Any, **params: Any) -> list[str]:
    """The names of the listed orders, in the order the API returned them."""
    params.setdefault("status", "any")
    return [o["name"] for o in api.ok(api.get("/orders.json", params=params))["orders"]]


def ids_listed(api: Any, **params: Any) -> set[int]:
    params.setdefault("status", "any")
    return {o["id"] for o in api.ok(api.get("/orders.json", params=params))["orders"]}


def events(api: Any, order_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order_id}/events.json", params={"limit": 250}))["events"]  # type: ignore[no-any-return]


def links(response: Any) -> dict[str, str]:
    """Parse a Link header strictly, the way Shopify's JS client does: every part must be
    `<absolute-url>; rel="next|previous"`, parts joined by ", "."""
    header = response.headers.get("Link")
    if header is None:
        return {}
    found: dict[str, str] = {}
    for part in header.split(", "):
        match = LINK_PART.match(part)
        assert match, f"Link part not in Shopify's format: {part!r} (header {header!r})"
        found[match.group(2)] = match.group(1)
    return found


def page_path(url: str) -> tuple[str, dict[str, str]]:
    """An absolute Link URL as the path the Api client takes, plus its query."""
    parts = urlsplit(url)
    assert parts.path.startswith("/admin/api/2024-10/"), url
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return parts.path[len("/admin/api/2024-10") :], query


def refuses(response: Any, status: int, field: str | None = None) -> Any:
    """The response is the given 4xx with an `errors` body that names `field` when given."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert "errors" in body, body
    if field is not None:
        errors = body["errors"]
        text = repr(errors)
        assert field in text, f"errors should name {field!r}: {errors!r}"
    return body


def money(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture
def amsterdam(shop: Any) -> int:
    return shop.location("Amsterdam")


@pytest.fixture
def mug(shop: Any, amsterdam: int) -> int:
    return shop.product("MUG-1", price="12.50", stock={amsterdam: 50}, title="Delft mug")


def sale_transaction(api: Any, order_id: int) -> dict[str, Any]:
    txns = api.ok(api.get(f"/orders/{order_id}/transactions.json"))["transactions"]
    return next(t for t in txns if t["kind"] in ("sale", "capture") and t["status"] == "success")


def fulfil_lines(api: Any, shop: Any, order_id: int, line_item_ids: list[int], tracking: str | None = None) -> None:
    """Fulfil only these line items (whole quantity) from the order's first open FO."""
    fo = next(f for f in shop.fulfillment_orders(order_id) if f["status"] in ("open", "in_progress"))
    items = [
        {"id": li["id"], "quantity": li["fulfillable_quantity"]}
        for li in fo["line_items"]
        if li["line_item_id"] in line_item_ids
    ]
    body: dict[str, Any] = {
        "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": items}]
    }
    if tracking:
        body["tracking_info"] = {"number": tracking}
    api.ok(api.post("/fulfillments.json", {"fulfillment": body}))


# ---- 1. creating orders ----------------------------------------------------------------------


def test_an_order_for_a_variant_takes_the_catalog_price_sku_and_title_and_reserves_stock(shop, api, amsterdam, mug):
    order = shop.order([{"variant_id": mug, "quantity": 3}])
    line = order["line_items"][0]
    assert (line["variant_id"], line["sku"], line["title"], line["price"], line["quantity"]) == (
        mug,
        "MUG-1",
        "Delft mug",
        "12.50",
        3,
    )
    assert order["subtotal_price"] == "37.50"
    assert order["total_price"] == "37.50"
    assert order["total_line_items_price"] == "37.50"
    level = shop.level(mug, amsterdam)
    assert (level["available"], level["committed"]) == (47, 3)


def test_a_custom_item_keeps_the_title_sku_price_and_quantity_sent(shop, amsterdam):
    order = shop.order([{"title": "Engraving service", "sku": "ENGR", "price": "7.25", "quantity": 2}])
    line = order["line_items"][0]
    assert line["title"] == "Engraving service"
    assert line["sku"] == "ENGR"
    assert line["price"] == "7.25"
    assert line["quantity"] == 2
    assert line["variant_id"] is None
    assert order["total_price"] == "14.50"


def test_shipping_lines_are_kept_and_added_to_the_total(shop, mug):
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}], shipping_lines=[{"title": "PostNL", "price": "4.95", "code": "POSTNL"}]
    )
    shipping = order["shipping_lines"][0]
    assert (shipping["title"], shipping["price"], shipping["code"]) == ("PostNL", "4.95", "POSTNL")
    assert order["total_shipping_price_set"]["shop_money"]["amount"] == "4.95"
    assert order["subtotal_price"] == "12.50"
    assert order["total_price"] == "17.45"


def _allocated(order: dict[str, Any]) -> Decimal:
    return sum((money(a["amount"]) for li in order["line_items"] for a in li["discount_allocations"]), Decimal(0))


def test_a_fixed_amount_discount_code_is_allocated_across_lines_to_the_cent(shop, amsterdam):
    lines = [{"title": t, "price": "3.33", "quantity": 1} for t in ("A", "B", "C")]
    order = shop.order(lines, discount_codes=[{"code": "TENOFF", "amount": "1.00", "type": "fixed_amount"}])
    assert order["discount_codes"][0]["code"] == "TENOFF"
    assert order["total_discounts"] == "1.00"
    assert _allocated(order) == Decimal("1.00")
    assert all(li["discount_allocations"] for li in order["line_items"])
    assert order["subtotal_price"] == "8.99"
    assert order["total_price"] == "8.99"
    assert order["discount_applications"][0]["value_type"] == "fixed_amount"


def test_a_percentage_discount_code_takes_that_share_of_the_subtotal_allocated_exactly(shop, amsterdam):
    lines = [
        {"title": "A", "price": "9.99", "quantity": 1},
        {"title": "B", "price": "0.01", "quantity": 1},
        {"title": "C", "price": "10.01", "quantity": 2},
    ]  # subtotal 30.02
    order = shop.order(lines, discount_codes=[{"code": "SUMMER15", "amount": "15", "type": "percentage"}])
    assert order["total_discounts"] == "4.50"  # 15 % of 30.02 = 4.503
    assert _allocated(order) == Decimal("4.50")
    assert order["subtotal_price"] == "25.52"
    assert order["discount_applications"][0]["value_type"] == "percentage"


def test_a_shipping_discount_code_reduces_only_the_shipping(shop, mug):
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        shipping_lines=[{"title": "DHL", "price": "6.00"}],
        discount_codes=[{"code": "FREESHIP", "amount": "6.00", "type": "shipping"}],
    )
    assert all(not li["discount_allocations"] for li in order["line_items"])
    shipping = order["shipping_lines"][0]
    assert sum(money(a["amount"]) for a in shipping["discount_allocations"]) == Decimal("6.00")
    assert shipping["discounted_price"] == "0.00"
    assert order["subtotal_price"] == "12.50"
    assert order["total_discounts"] == "6.00"
    assert order["total_price"] == "12.50"


def test_tax_lines_on_the_order_are_kept_and_added_to_the_total(shop, mug):
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}], tax_lines=[{"title": "BTW", "price": "5.25", "rate": "0.21"}]
    )
    assert order["tax_lines"][0]["title"] == "BTW"
    assert order["tax_lines"][0]["price"] == "5.25"
    assert order["tax_lines"][0]["rate"] == 0.21
    assert order["total_tax"] == "5.25"
    assert order["total_price"] == "30.25"


def test_tax_lines_on_line_items_make_up_the_order_tax(shop, amsterdam):
    order = shop.order(
        [
            {
                "title": "Book",
                "price": "20.00",
                "quantity": 1,
                "tax_lines": [{"title": "BTW", "price": "1.80", "rate": 0.09}],
            },
            {
                "title": "Lamp",
                "price": "50.00",
                "quantity": 1,
                "tax_lines": [{"title": "BTW", "price": "10.50", "rate": 0.21}],
            },
        ]
    )
    assert order["line_items"][0]["tax_lines"][0]["price"] == "1.80"
    assert order["total_tax"] == "12.30"
    assert order["total_price"] == "82.30"


def test_tax_lines_on_both_the_order_and_its_lines_are_refused(api, amsterdam):
    body = {
        "order": {
            "line_items": [
                {"title": "Book", "price": "20.00", "quantity": 1, "tax_lines": [{"title": "BTW", "price": "1.80"}]}
            ],
            "tax_lines": [{"title": "BTW", "price": "1.80"}],
        }
    }
    refuses(api.post("/orders.json", body), 422, "tax_lines")
    assert count(api) == 0


def test_a_new_customer_is_created_from_the_email(shop, api, mug):
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        email="piet@example.nl",
        customer={"first_name": "Piet", "last_name": "de Vries"},
    )
    customer = order["customer"]
    assert customer["id"]
    assert customer["email"] == "piet@example.nl"
    assert (customer["first_name"], customer["last_name"]) == ("Piet", "de Vries")
    assert order["email"] == "piet@example.nl"


def test_an_existing_customer_is_attached_by_id(shop, api, mug):
    first = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        email="piet@example.nl",
        customer={"first_name": "Piet", "last_name": "de Vries"},
    )
    customer_id = first["customer"]["id"]
    body = {"order": {"line_items": [{"variant_id": mug, "quantity": 1}], "customer": {"id": customer_id}}}
    second = api.ok(api.post("/orders.json", body))["order"]
    assert second["customer"]["id"] == customer_id
    assert second["customer"]["email"] == "piet@example.nl"
    assert second["email"] == "piet@example.nl"
    mine = api.ok(api.get(f"/customers/{customer_id}/orders.json", params={"status": "any"}))["orders"]
    assert {o["id"] for o in mine} == {first["id"], second["id"]}


def test_an_unknown_customer_id_is_refused(api, mug):
    body = {"order": {"line_items": [{"variant_id": mug, "quantity": 1}], "customer": {"id": 987654321}}}
    refuses(api.post("/orders.json", body), 422, "customer")
    assert count(api) == 0


def test_contact_details_addresses_notes_tags_source_and_test_flag_are_kept(shop, mug):
    address = {
        "first_name": "Anna",
        "last_name": "Jansen",
        "address1": "Prinsengracht 263",
        "city": "Amsterdam",
        "zip": "1016 GV",
        "country": "Netherlands",
        "country_code": "NL",
        "phone": "+31201234567",
    }
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        email="anna@example.nl",
        phone="+31612345678",
        billing_address=address,
        shipping_address={**address, "address1": "Keizersgracht 1"},
        note="Please gift wrap",
        note_attributes=[{"name": "gift", "value": "yes"}],
        tags="vip, wholesale",
        source_name="instagram",
        test=True,
    )
    assert order["email"] == "anna@example.nl"
    assert order["phone"] == "+31612345678"
    assert order["billing_address"]["address1"] == "Prinsengracht 263"
    assert order["billing_address"]["country_code"] == "NL"
    assert order["billing_address"]["name"] == "Anna Jansen"
    assert order["shipping_address"]["address1"] == "Keizersgracht 1"
    assert order["note"] == "Please gift wrap"
    assert order["note_attributes"] == [{"name": "gift", "value": "yes"}]
    assert order["tags"] == "vip, wholesale"
    assert order["source_name"] == "instagram"
    assert order["test"] is True
    again = shop.get(order["id"])
    for key in (
        "email",
        "phone",
        "billing_address",
        "shipping_address",
        "note",
        "note_attributes",
        "tags",
        "source_name",
        "test",
    ):
        assert again[key] == order[key], key


def test_presentment_currency_shows_both_amounts_in_every_money_bag(shop, mug):
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        presentment_currency="USD",
        exchange_rate="1.10",
        shipping_lines=[{"title": "UPS", "price": "5.00"}],
    )
    assert order["currency"] == "EUR"
    assert order["presentment_currency"] == "USD"
    assert order["total_price"] == "30.00"
    assert order["total_price_set"] == {
        "shop_money": {"amount": "30.00", "currency_code": "EUR"},
        "presentment_money": {"amount": "33.00", "currency_code": "USD"},
    }
    assert order["subtotal_price_set"]["presentment_money"] == {"amount": "27.50", "currency_code": "USD"}
    price_set = order["line_items"][0]["price_set"]
    assert price_set["shop_money"] == {"amount": "12.50", "currency_code": "EUR"}
    assert price_set["presentment_money"] == {"amount": "13.75", "currency_code": "USD"}
    assert order["shipping_lines"][0]["price_set"]["presentment_money"]["amount"] == "5.50"


def test_presentment_currency_without_an_exchange_rate_is_refused(api, mug):
    body = {"order": {"line_items": [{"variant_id": mug, "quantity": 1}], "presentment_currency": "USD"}}
    refuses(api.post("/orders.json", body), 422, "exchange_rate")
    assert count(api) == 0


def test_financial_status_paid_at_creation_records_a_manual_sale(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 2}], financial_status="paid")
    assert order["financial_status"] == "paid"
    assert order["total_outstanding"] == "0.00"
    txns = api.ok(api.get(f"/orders/{order['id']}/transactions.json"))["transactions"]
    assert [(t["kind"], t["status"], t["gateway"], t["amount"]) for t in txns] == [
        ("sale", "success", "manual", "25.00")
    ]


def test_financial_status_pending_at_creation_records_no_payment(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}], financial_status="pending")
    assert order["financial_status"] == "pending"
    assert order["total_outstanding"] == "12.50"
    assert api.ok(api.get(f"/orders/{order['id']}/transactions.json"))["transactions"] == []


def test_a_financial_status_that_contradicts_the_transactions_is_refused(api, mug):
    body = {
        "order": {
            "line_items": [{"variant_id": mug, "quantity": 1}],
            "transactions": SELL,
            "financial_status": "authorized",
        }
    }
    refuses(api.post("/orders.json", body), 422, "financial_status")
    assert count(api) == 0


def test_order_names_count_up_from_1001_and_are_unique(shop, mug):
    orders = [shop.order([{"variant_id": mug, "quantity": 1}]) for _ in range(3)]
    assert [o["name"] for o in orders] == ["#1001", "#1002", "#1003"]
    assert [o["order_number"] for o in orders] == [1001, 1002, 1003]
    assert [o["number"] for o in orders] == [1, 2, 3]
    assert len({o["id"] for o in orders}) == 3


def test_order_names_are_gap_free_when_a_placement_is_refused(shop, api, amsterdam):
    scarce = shop.product("RARE-1", price="99.00", stock={amsterdam: 1})
    first = shop.order([{"variant_id": scarce, "quantity": 1}])
    out_of_stock = api.post("/orders.json", {"order": {"line_items": [{"variant_id": scarce, "quantity": 1}]}})
    assert 400 <= out_of_stock.status_code < 500
    assert "errors" in out_of_stock.json()
    invalid = api.post(
        "/orders.json",
        {
            "order": {
                "line_items": [{"title": "X", "price": "1.00", "quantity": 1}],
                "tax_lines": [{"title": "T", "price": "1"}],
                "presentment_currency": "USD",
            }
        },
    )
    assert invalid.status_code == 422
    after = shop.order([{"title": "Gift card sleeve", "price": "1.00", "quantity": 1}])
    assert (first["name"], after["name"]) == ("#1001", "#1002")
    assert count(api) == 2


# ---- 2. get, list, count -----------------------------------------------------------------------


def test_an_order_can_be_fetched_by_id(shop, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    fetched = shop.get(order["id"])
    assert fetched["id"] == order["id"]
    assert fetched["name"] == "#1001"
    assert fetched["admin_graphql_api_id"] == f"gid://shopify/Order/{order['id']}"


def test_the_status_filter_separates_open_archived_and_cancelled_orders(shop, api, mug):
    open_ = shop.order([{"variant_id": mug, "quantity": 1}])
    archived = shop.order([{"variant_id": mug, "quantity": 1}])
    cancelled = shop.order([{"variant_id": mug, "quantity": 1}])
    api.ok(api.post(f"/orders/{archived['id']}/close.json"))
    api.ok(api.post(f"/orders/{cancelled['id']}/cancel.json"))

    assert {o["id"] for o in api.ok(api.get("/orders.json"))["orders"]} == {open_["id"]}  # open is the default
    assert ids_listed(api, status="open") == {open_["id"]}
    assert ids_listed(api, status="closed") == {archived["id"]}
    assert ids_listed(api, status="cancelled") == {cancelled["id"]}
    assert ids_listed(api, status="any") == {open_["id"], archived["id"], cancelled["id"]}
    assert api.ok(api.get("/orders/count.json"))["count"] == 1
    assert (
        count(api, status="open"),
        count(api, status="closed"),
        count(api, status="cancelled"),
        count(api, status="any"),
    ) == (1, 1, 1, 3)


def test_the_financial_status_filter_matches_the_payment_state(shop, api, mug):
    pending = shop.order([{"variant_id": mug, "quantity": 1}])
    paid = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    authorized = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    assert ids_listed(api, financial_status="pending") == {pending["id"]}
    assert ids_listed(api, financial_status="paid") == {paid["id"]}
    assert ids_listed(api, financial_status="authorized") == {authorized["id"]}
    assert ids_listed(api, financial_status="unpaid") >= {authorized["id"]}
    assert paid["id"] not in ids_listed(api, financial_status="unpaid")
    assert count(api, financial_status="paid") == 1


def test_the_fulfillment_status_filter_matches_shipped_partial_and_unshipped(shop, api, amsterdam, mug):
    plate = shop.product("PLATE-1", price="20.00", stock={amsterdam: 10})
    unshipped = shop.order([{"variant_id": mug, "quantity": 1}])
    shipped = shop.order([{"variant_id": mug, "quantity": 1}])
    shop.fulfil(shipped["id"])
    partial = shop.order([{"variant_id": mug, "quantity": 1}, {"variant_id": plate, "quantity": 1}])
    fulfil_lines(api, shop, partial["id"], [partial["line_items"][0]["id"]])
    assert shop.get(partial["id"])["fulfillment_status"] == "partial"

    assert ids_listed(api, fulfillment_status="shipped") == {shipped["id"]}
    assert ids_listed(api, fulfillment_status="partial") == {partial["id"]}
    assert ids_listed(api, fulfillment_status="unshipped") == {unshipped["id"]}
    assert ids_listed(api, fulfillment_status="unfulfilled") == {unshipped["id"], partial["id"]}
    assert ids_listed(api, fulfillment_status="any") == {unshipped["id"], shipped["id"], partial["id"]}
    assert count(api, fulfillment_status="shipped") == 1
    assert count(api, fulfillment_status="unfulfilled") == 2


def test_pages_of_open_unshipped_paid_orders_walk_forward_and_back_newest_or_oldest_first(shop, api, mug):
    # The list names the fulfillment status before the id in its ORDER BY (PostgreSQL's index
    # path): the order and the pages must be those of the id alone.
    wanted = []
    for n in range(7):
        paid = {"transactions": SELL} if n != 3 else {}  # the fourth is left unpaid
        order = shop.order([{"variant_id": mug, "quantity": 1}], **paid)
        if n == 5:
            shop.fulfil(order["id"])  # shipped
        elif n != 3:
            wanted.append(order["name"])
    params = {"status": "open", "financial_status": "paid", "fulfillment_status": "unshipped", "limit": 2}

    def page(params: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        response = api.get("/orders.json", params=params)
        return [o["name"] for o in api.ok(response)["orders"]], links(response)

    for order, expected in ((None, wanted[::-1]), ("id asc", wanted)):
        walked, query = [], {**params, **({"order": order} if order else {})}
        pages = []
        while True:
            names_, found = page(query)
            walked += names_
            pages.append((names_, found))
            if "next" not in found:
                break
            query = page_path(found["next"])[1]
        assert walked == expected
        assert page(page_path(pages[-1][1]["previous"])[1])[0] == pages[-2][0]
    assert count(api, **params) == len(wanted)


def test_tag_and_tag_not_filter_orders_by_their_tags(shop, api, mug):
    vip = shop.order([{"variant_id": mug, "quantity": 1}], tags="VIP, gift")
    gift = shop.order([{"variant_id": mug, "quantity": 1}], tags="gift")
    plain = shop.order([{"variant_id": mug, "quantity": 1}])
    assert ids_listed(api, tag="vip") == {vip["id"]}  # case-insensitive, like Shopify's search
    assert ids_listed(api, tag="gift") == {vip["id"], gift["id"]}
    assert ids_listed(api, tag_not="vip") == {gift["id"], plain["id"]}
    assert ids_listed(api, tag="gift", tag_not="VIP") == {gift["id"]}
    assert count(api, tag="gift") == 2


def test_pages_of_a_tag_walk_forward_and_back_through_exactly_the_tagged_orders(shop, api, mug):
    tagged = []
    for n in range(7):
        order = shop.order([{"variant_id": mug, "quantity": 1}], tags="vip" if n % 3 else "gift")
        if n % 3:
            tagged.append(order["name"])
    api.ok(api.post(f"/orders/{shop.order([{'variant_id': mug, 'quantity': 1}], tags='vip')['id']}/close.json"))

    def page(params: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        response = api.get("/orders.json", params=params)
        return [o["name"] for o in api.ok(response)["orders"]], links(response)

    first, first_links = page({"tag": "VIP", "limit": 2})  # open orders only, the default
    assert first == tagged[::-1][:2]
    second, second_links = page(page_path(first_links["next"])[1])
    assert second == tagged[::-1][2:4]
    back, _ = page(page_path(second_links["previous"])[1])
    assert back == first
    everything, _ = page({"tag": "vip", "status": "any", "limit": 50})
    assert len(everything) == len(tagged) + 1  # the archived one too
    assert page({"tag": "vip", "tag_not": "gift", "status": "open", "limit": 50})[0] == tagged[::-1]


def test_the_source_name_filter_matches_the_sales_channel(shop, api, mug):
    web = shop.order([{"variant_id": mug, "quantity": 1}], source_name="web")
    insta = shop.order([{"variant_id": mug, "quantity": 1}], source_name="instagram")
    assert ids_listed(api, source_name="web") == {web["id"]}
    assert ids_listed(api, source_name="instagram") == {insta["id"]}
    assert count(api, source_name="instagram") == 1


def test_the_location_id_filter_finds_orders_that_ship_from_a_location(shop, api, amsterdam, mug):
    rotterdam = shop.location("Rotterdam")
    vase = shop.product("VASE-1", price="30.00", stock={rotterdam: 5})
    from_amsterdam = shop.order([{"variant_id": mug, "quantity": 1}])
    from_rotterdam = shop.order([{"variant_id": vase, "quantity": 1}])
    assert ids_listed(api, location_id=amsterdam) == {from_amsterdam["id"]}
    assert ids_listed(api, location_id=rotterdam) == {from_rotterdam["id"]}


def test_created_at_min_and_max_select_a_time_window(shop, api, clock, mug):
    monday = shop.order([{"variant_id": mug, "quantity": 1}])
    clock.advance(days=1)
    tuesday = shop.order([{"variant_id": mug, "quantity": 1}])
    clock.advance(days=1)
    wednesday = shop.order([{"variant_id": mug, "quantity": 1}])
    assert ids_listed(api, created_at_min="2026-11-03T00:00:00+00:00") == {tuesday["id"], wednesday["id"]}
    assert ids_listed(api, created_at_max="2026-11-03T23:59:59+00:00") == {monday["id"], tuesday["id"]}
    assert ids_listed(api, created_at_min="2026-11-03T00:00:00Z", created_at_max="2026-11-03T23:59:59Z") == {
        tuesday["id"]
    }
    # Shopify's fixtures send a space instead of the T: parse leniently
    assert ids_listed(api, created_at_min="2026-11-04 00:00:00+00:00") == {wednesday["id"]}
    assert count(api, created_at_min="2026-11-03T00:00:00+00:00") == 2


def test_a_past_window_pages_like_the_walk_and_is_read_from_its_own_range(shop, api, clock, deck, mug):
    # Two orders a day for ten days from Monday 2 November. A window with fewer days in it than
    # after it (before it, oldest first) is read from the creation-time index and its ids sorted
    # (ORDER BY id + 0); "since" and "the last days" walk the ids. The pages must be the same.
    by_day: dict[int, list[str]] = {}
    for day in range(10):
        by_day[day] = [shop.order([{"variant_id": mug, "quantity": 1}])["name"] for _ in range(2)]
        clock.advance(days=1)
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    def walked(**params: Any) -> tuple[list[str], bool]:
        sent.clear()
        found, query = [], {**params, "limit": 3}
        while True:
            response = api.get("/orders.json", params=query)
            found += [o["name"] for o in api.ok(response)["orders"]]
            following = links(response)
            if "next" not in following:
                break
            query = page_path(following["next"])[1]
        return found, any(".id + 0" in s for s in sent if "ORDER BY" in s)

    for engine in {deck.db.reader, deck.db.writer}:
        event.listen(engine, "before_cursor_execute", record)
    try:
        days_2_to_4 = {"created_at_min": "2026-11-04T00:00:00Z", "created_at_max": "2026-11-06T23:59:59Z"}
        within = [name for day in (2, 3, 4) for name in by_day[day]]
        assert walked(**days_2_to_4) == (within[::-1], True)  # 3 days in it, 5 after it
        assert walked(**days_2_to_4, order="id asc") == (within, False)  # 2 days before it: walk
        later = {"created_at_min": "2026-11-09T00:00:00Z", "created_at_max": "2026-11-10T23:59:59Z"}
        within = [name for day in (7, 8) for name in by_day[day]]
        assert walked(**later, order="id asc") == (within, True)  # 2 days in it, 7 before it
        assert walked(**later) == (within[::-1], False)  # 1 day after it
        everything = [name for day in range(10) for name in by_day[day]]
        assert walked(created_at_min="2026-11-04T00:00:00Z") == (everything[4:][::-1], False)
        assert walked(created_at_max="2026-11-03T23:59:59Z") == (everything[:4][::-1], True)
        # A window after the newest order holds none: read its empty range, never walk them all.
        assert walked(created_at_min="2026-12-01T00:00:00Z", created_at_max="2026-12-02T00:00:00Z") == ([], True)
    finally:
        for engine in {deck.db.reader, deck.db.writer}:
            event.remove(engine, "before_cursor_execute", record)


def test_ids_and_since_id_select_orders_by_id(shop, api, mug):
    a, b, c = (shop.order([{"variant_id": mug, "quantity": 1}]) for _ in range(3))
    assert ids_listed(api, ids=f"{a['id']},{c['id']}") == {a["id"], c["id"]}
    assert ids_listed(api, since_id=a["id"]) == {b["id"], c["id"]}


@pytest.mark.parametrize(
    "query",
    ["anna@example.nl", "ANNA@example.nl", "#1001", "1001", "Anna", "anna jansen", "MUG-1", "1Z001985YW99744790"],
)
def test_free_text_search_finds_an_order_by_email_name_customer_sku_or_tracking(shop, api, amsterdam, mug, query):
    target = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        email="anna@example.nl",
        customer={"first_name": "Anna", "last_name": "Jansen"},
    )
    shop.fulfil(target["id"], tracking="1Z001985YW99744790")
    other_product = shop.product("BOWL-7", price="8.00", stock={amsterdam: 5})
    shop.order(
        [{"variant_id": other_product, "quantity": 1}],
        email="bram@example.de",
        customer={"first_name": "Bram", "last_name": "Bakker"},
    )
    assert ids_listed(api, q=query) == {target["id"]}
    assert count(api, q=query) == 1


def test_free_text_search_finds_an_order_by_the_customers_last_name(shop, api, mug):
    target = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        email="anna@example.nl",
        customer={"first_name": "Anna", "last_name": "Jansen"},
    )
    shop.order(
        [{"variant_id": mug, "quantity": 1}],
        email="bram@example.de",
        customer={"first_name": "Bram", "last_name": "Bakker"},
    )
    assert ids_listed(api, q="Jansen") == {target["id"]}


def test_count_agrees_with_the_list_for_every_filter(shop, api, amsterdam, mug):
    rotterdam = shop.location("Rotterdam")
    vase = shop.product("VASE-1", price="30.00", stock={rotterdam: 5})
    first = shop.order([{"variant_id": mug, "quantity": 1}], tags="vip", source_name="web")
    shop.order([{"variant_id": vase, "quantity": 1}], source_name="instagram")
    shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL, tags="gift")
    filters: list[dict[str, Any]] = [
        {"location_id": rotterdam},
        {"location_id": amsterdam},
        {"since_id": first["id"]},
        {"ids": str(first["id"])},
        {"tag": "vip"},
        {"tag_not": "vip"},
        {"source_name": "instagram"},
        {"financial_status": "paid"},
        {"q": "MUG-1"},
    ]
    disagreeing = [
        (params, count(api, **params), len(ids_listed(api, **params)))
        for params in filters
        if count(api, **params) != len(ids_listed(api, **params))
    ]
    assert disagreeing == [], "count (2nd) differs from the list (3rd) for these filters"


def test_orders_are_newest_first_unless_sorted_by_created_at_ascending(shop, api, clock, mug):
    for _ in range(3):
        shop.order([{"variant_id": mug, "quantity": 1}])
        clock.advance(hours=1)
    assert names(api) == ["#1003", "#1002", "#1001"]
    assert names(api, order="created_at asc") == ["#1001", "#1002", "#1003"]
    assert names(api, order="created_at desc") == ["#1003", "#1002", "#1001"]
    refuses(api.get("/orders.json", params={"order": "colour asc"}), 422, "order")


def test_pages_are_linked_with_absolute_next_and_previous_urls(shop, api, mug):
    for _ in range(5):
        shop.order([{"variant_id": mug, "quantity": 1}])
    first = api.get("/orders.json", params={"limit": 2, "status": "any"})
    assert [o["name"] for o in api.ok(first)["orders"]] == ["#1005", "#1004"]
    first_links = links(first)
    assert set(first_links) == {"next"}
    assert first.headers["Link"] == f'<{first_links["next"]}>; rel="next"'

    path, query = page_path(first_links["next"])
    assert path == "/orders.json"
    assert set(query) == {"limit", "page_info"}
    second = api.get(path, params=query)
    assert [o["name"] for o in api.ok(second)["orders"]] == ["#1003", "#1002"]
    second_links = links(second)
    assert set(second_links) == {"previous", "next"}
    assert second.headers["Link"] == (
        f'<{second_links["previous"]}>; rel="previous", <{second_links["next"]}>; rel="next"'
    )

    path, query = page_path(second_links["next"])
    last = api.get(path, params=query)
    assert [o["name"] for o in api.ok(last)["orders"]] == ["#1001"]
    assert set(links(last)) == {"previous"}


def test_one_page_has_no_link_header(shop, api, mug):
    shop.order([{"variant_id": mug, "quantity": 1}])
    response = api.get("/orders.json", params={"limit": 5})
    api.ok(response)
    assert "Link" not in response.headers


def test_following_next_then_previous_returns_the_same_orders(shop, api, mug):
    for _ in range(6):
        shop.order([{"variant_id": mug, "quantity": 1}], tags="batch")
    shop.order([{"variant_id": mug, "quantity": 1}])  # not tagged: the filter travels in the cursor
    first = api.get("/orders.json", params={"limit": 2, "tag": "batch", "order": "created_at asc"})
    first_names = [o["name"] for o in api.ok(first)["orders"]]
    path, query = page_path(links(first)["next"])
    second = api.get(path, params=query)
    second_names = [o["name"] for o in api.ok(second)["orders"]]
    path, query = page_path(links(second)["next"])
    third = api.get(path, params=query)
    assert [o["name"] for o in api.ok(third)["orders"]] == ["#1005", "#1006"]
    assert "next" not in links(third)

    path, query = page_path(links(third)["previous"])
    back = api.get(path, params=query)
    assert [o["name"] for o in api.ok(back)["orders"]] == second_names == ["#1003", "#1004"]
    path, query = page_path(links(back)["previous"])
    back_again = api.get(path, params=query)
    assert [o["name"] for o in api.ok(back_again)["orders"]] == first_names == ["#1001", "#1002"]
    assert "previous" not in links(back_again)


def test_a_filter_sent_with_page_info_is_a_400(shop, api, mug):
    for _ in range(3):
        shop.order([{"variant_id": mug, "quantity": 1}])
    first = api.get("/orders.json", params={"limit": 1})
    _, query = page_path(links(first)["next"])
    refuses(api.get("/orders.json", params={**query, "status": "any"}), 400, "status")
    # limit and fields may accompany page_info
    api.ok(api.get("/orders.json", params={**query, "fields": "id,name"}))


@pytest.mark.parametrize("page_info", ["not-a-cursor", "eyJmb28iOiAxfQ", "%%%"])
def test_a_bad_page_info_is_a_400(api, page_info):
    refuses(api.get("/orders.json", params={"page_info": page_info}), 400, "page_info")


def test_fields_returns_only_the_keys_asked_for(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    listed = api.ok(api.get("/orders.json", params={"fields": "id,name"}))["orders"]
    assert listed == [{"id": order["id"], "name": "#1001"}]
    one = api.ok(api.get(f"/orders/{order['id']}.json", params={"fields": "id,name,total_price"}))["order"]
    assert one == {"id": order["id"], "name": "#1001", "total_price": "12.50"}


def test_open_count_counts_open_orders_not_yet_fulfilled(shop, api, amsterdam, mug):
    plate = shop.product("PLATE-1", price="20.00", stock={amsterdam: 10})
    shop.order([{"variant_id": mug, "quantity": 1}])  # open, unfulfilled: counts
    partial = shop.order([{"variant_id": mug, "quantity": 1}, {"variant_id": plate, "quantity": 1}])
    fulfil_lines(api, shop, partial["id"], [partial["line_items"][0]["id"]])  # partially fulfilled: counts
    done = shop.order([{"variant_id": mug, "quantity": 1}])
    shop.fulfil(done["id"])  # fulfilled: does not count
    archived = shop.order([{"variant_id": mug, "quantity": 1}])
    api.ok(api.post(f"/orders/{archived['id']}/close.json"))  # archived: does not count
    cancelled = shop.order([{"variant_id": mug, "quantity": 1}])
    api.ok(api.post(f"/orders/{cancelled['id']}/cancel.json"))  # cancelled: does not count
    assert api.ok(api.get("/orders/open_count.json")) == {"count": 2}


# ---- 3. editing --------------------------------------------------------------------------------


def test_editable_details_change_and_each_change_is_on_the_timeline(shop, api, mug):
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        shipping_address={
            "first_name": "Anna",
            "last_name": "Jansen",
            "address1": "Damrak 1",
            "city": "Amsterdam",
            "country_code": "NL",
        },
    )
    changes = {
        "email": "anna.jansen@example.nl",
        "phone": "+31687654321",
        "shipping_address": {
            "first_name": "Anna",
            "last_name": "Jansen",
            "address1": "Damrak 2",
            "city": "Amsterdam",
            "country_code": "NL",
        },
        "note": "Leave at the neighbours",
        "tags": "priority",
        "note_attributes": [{"name": "floor", "value": "3"}],
    }
    for key, value in changes.items():
        updated = api.ok(api.put(f"/orders/{order['id']}.json", {"order": {key: value}}))["order"]
        if key == "shipping_address":
            assert updated["shipping_address"]["address1"] == "Damrak 2"
        else:
            assert updated[key] == value, key
    saved = shop.get(order["id"])
    assert saved["email"] == "anna.jansen@example.nl"
    assert saved["phone"] == "+31687654321"
    assert saved["shipping_address"]["address1"] == "Damrak 2"
    assert saved["note"] == "Leave at the neighbours"
    assert saved["tags"] == "priority"
    assert saved["note_attributes"] == [{"name": "floor", "value": "3"}]
    updates = [e for e in events(api, order["id"]) if e["verb"] == "update"]
    assert len(updates) == 6
    assert all(e["author"] == "Test suite" for e in updates)
    described = " ".join(e["description"] for e in updates)
    for word in ("email", "phone", "shipping address", "note", "tags", "note attributes"):
        assert word in described


def test_changing_the_billing_address_is_refused_by_name(shop, api, mug):
    billing = {"first_name": "Anna", "last_name": "Jansen", "address1": "Damrak 1", "city": "Amsterdam"}
    order = shop.order([{"variant_id": mug, "quantity": 1}], billing_address=billing)
    response = api.put(
        f"/orders/{order['id']}.json", {"order": {"billing_address": {**billing, "address1": "Damrak 99"}, "note": "x"}}
    )
    refuses(response, 422, "billing_address")
    after = shop.get(order["id"])
    assert after["billing_address"]["address1"] == "Damrak 1"
    assert after["note"] is None  # nothing of the refused edit was written
    assert not [e for e in events(api, order["id"]) if e["verb"] == "update"]


def test_sending_the_whole_order_back_unchanged_succeeds_and_changes_nothing(shop, api, mug):
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        transactions=SELL,
        billing_address={"first_name": "Anna", "last_name": "Jansen", "address1": "Damrak 1"},
        shipping_address={"first_name": "Anna", "last_name": "Jansen", "address1": "Damrak 1"},
        shipping_lines=[{"title": "PostNL", "price": "4.95"}],
        discount_codes=[{"code": "FIVE", "amount": "5.00", "type": "fixed_amount"}],
        customer={"first_name": "Anna", "last_name": "Jansen"},
        tags="vip",
        note="n",
        note_attributes=[{"name": "a", "value": "b"}],
    )
    fetched = api.get(f"/orders/{order['id']}.json").json()
    response = api.put(f"/orders/{order['id']}.json", fetched)
    saved = api.ok(response)["order"]
    for key in (
        "email",
        "phone",
        "billing_address",
        "shipping_address",
        "tags",
        "note",
        "note_attributes",
        "total_price",
        "financial_status",
    ):
        assert saved[key] == fetched["order"][key], key
    assert not [e for e in events(api, order["id"]) if e["verb"] == "update"]


def test_an_unknown_field_in_an_edit_is_refused_by_name(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    refuses(api.put(f"/orders/{order['id']}.json", {"order": {"favourite_colour": "blue"}}), 422, "favourite_colour")


def test_editing_an_unknown_order_is_404(api):
    response = api.put("/orders/424242.json", {"order": {"note": "x"}})
    assert response.status_code == 404
    assert response.json() == {"errors": "Not Found"}


# ---- 4. tags -----------------------------------------------------------------------------------


def test_tags_can_be_added_to_and_removed_from_one_order(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}], tags="gift")
    added = api.ok(api.post(f"/orders/{order['id']}/tags/add.json", {"tags": "vip, rush"}))["order"]
    assert set(added["tags"].split(", ")) == {"gift", "vip", "rush"}
    added_again = api.ok(api.post(f"/orders/{order['id']}/tags/add.json", {"tags": ["VIP"]}))["order"]
    assert sorted(added_again["tags"].split(", ")) == ["gift", "rush", "vip"]  # no duplicate
    removed = api.ok(api.post(f"/orders/{order['id']}/tags/remove.json", {"tags": "gift,rush"}))["order"]
    assert removed["tags"] == "vip"
    assert ids_listed(api, tag="vip") == {order["id"]}
    assert ids_listed(api, tag="gift") == set()


def test_bulk_tagging_by_ids_tags_exactly_those_orders(shop, api, mug):
    a, b, c = (shop.order([{"variant_id": mug, "quantity": 1}]) for _ in range(3))
    result = api.ok(api.post("/orders/bulk/tags/add.json", {"ids": [a["id"], c["id"]], "tags": "export"}))
    assert sorted(result["bulk_result"]["succeeded"]) == sorted([a["id"], c["id"]])
    assert result["bulk_result"]["refused"] == []
    assert ids_listed(api, tag="export") == {a["id"], c["id"]}
    assert shop.get(b["id"])["tags"] == ""


def test_bulk_tagging_by_filter_tags_only_the_matching_orders(shop, api, mug):
    paid = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    unpaid = shop.order([{"variant_id": mug, "quantity": 1}])
    result = api.ok(
        api.post(
            "/orders/bulk/tags/add.json", {"filter": {"financial_status": "paid", "status": "any"}, "tags": ["ready"]}
        )
    )
    assert result["bulk_result"]["succeeded"] == [paid["id"]]
    assert ids_listed(api, tag="ready") == {paid["id"]}
    assert shop.get(unpaid["id"])["tags"] == ""
    api.ok(api.post("/orders/bulk/tags/remove.json", {"ids": [paid["id"]], "tags": "ready"}))
    assert ids_listed(api, tag="ready") == set()


# ---- 5. archive ----------------------------------------------------------------------------------


def test_an_order_can_be_archived_and_unarchived_and_both_are_on_the_timeline(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    closed = api.ok(api.post(f"/orders/{order['id']}/close.json"))["order"]
    assert closed["closed_at"] is not None
    assert ids_listed(api, status="closed") == {order["id"]}
    reopened = api.ok(api.post(f"/orders/{order['id']}/open.json"))["order"]
    assert reopened["closed_at"] is None
    assert ids_listed(api, status="open") == {order["id"]}
    verbs = [e["verb"] for e in events(api, order["id"])]
    assert verbs[-2:] == ["closed", "re_opened"]


def test_archiving_an_archived_order_again_is_refused(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    api.ok(api.post(f"/orders/{order['id']}/close.json"))
    refuses(api.post(f"/orders/{order['id']}/close.json"), 422)
    opened = shop.order([{"variant_id": mug, "quantity": 1}])
    refuses(api.post(f"/orders/{opened['id']}/open.json"), 422)


def test_bulk_archive_by_ids_reports_what_succeeded_and_what_was_refused(shop, api, mug):
    a, b, c = (shop.order([{"variant_id": mug, "quantity": 1}]) for _ in range(3))
    api.ok(api.post(f"/orders/{b['id']}/close.json"))
    result = api.ok(api.post("/orders/bulk/close.json", {"ids": [a["id"], b["id"], c["id"]]}))["bulk_result"]
    assert sorted(result["succeeded"]) == sorted([a["id"], c["id"]])
    assert [r["id"] for r in result["refused"]] == [b["id"]]
    assert result["refused"][0]["error"]
    assert ids_listed(api, status="closed") == {a["id"], b["id"], c["id"]}


def test_bulk_archive_by_filter_archives_only_the_matching_orders(shop, api, mug):
    done = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    shop.fulfil(done["id"])
    waiting = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    result = api.ok(
        api.post("/orders/bulk/close.json", {"filter": {"status": "open", "fulfillment_status": "shipped"}})
    )["bulk_result"]
    assert result == {"succeeded": [done["id"]], "refused": []}
    assert ids_listed(api, status="closed") == {done["id"]}
    assert ids_listed(api, status="open") == {waiting["id"]}


def test_a_bulk_filter_takes_dates_and_a_tag_as_the_list_does(shop, api, mug):
    tagged = shop.order([{"variant_id": mug, "quantity": 1}], tags="vip")
    shop.order([{"variant_id": mug, "quantity": 1}])
    result = api.ok(
        api.post("/orders/bulk/close.json", {"filter": {"created_at_min": "2020-01-01T00:00:00Z", "tag": "vip"}})
    )["bulk_result"]
    assert result == {"succeeded": [tagged["id"]], "refused": []}


def test_an_unknown_bulk_filter_is_refused_by_name_and_nothing_is_archived(shop, api, mug):
    shop.order([{"variant_id": mug, "quantity": 1}])
    refuses(api.post("/orders/bulk/close.json", {"filter": {"colour": "red"}}), 422, "filter.colour")
    refuses(api.post("/orders/bulk/close.json", {"filter": {"financial_status": "nope"}}), 422, "financial_status")
    assert count(api, status="closed") == 0


def test_auto_archive_archives_an_order_once_it_is_fulfilled_and_paid(shop, api, mug):
    shop.settings(auto_archive=True)
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    shop.fulfil(order["id"])
    assert shop.get(order["id"])["closed_at"] is None  # fulfilled but not paid yet
    shop.capture(order["id"])
    archived = shop.get(order["id"])
    assert archived["closed_at"] is not None
    assert ids_listed(api, status="closed") == {order["id"]}
    assert "closed" in [e["verb"] for e in events(api, order["id"])]


def test_auto_archive_leaves_orders_alone_when_the_setting_is_off(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    shop.fulfil(order["id"])
    assert shop.get(order["id"])["closed_at"] is None


def test_auto_archive_still_archives_a_partially_refunded_fulfilled_order(shop, api, mug):
    """S7.4: merchants report that Shopify stops auto-archiving after a partial refund."""
    shop.settings(auto_archive=True)
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    sale = sale_transaction(api, order["id"])
    refund = {
        "refund": {"note": "goodwill", "transactions": [{"parent_id": sale["id"], "amount": "5.00", "kind": "refund"}]}
    }
    api.ok(api.post(f"/orders/{order['id']}/refunds.json", refund))
    assert shop.get(order["id"])["financial_status"] == "partially_refunded"
    assert shop.get(order["id"])["closed_at"] is None  # not fulfilled yet
    shop.fulfil(order["id"])
    after = shop.get(order["id"])
    assert after["financial_status"] == "partially_refunded"
    assert after["fulfillment_status"] == "fulfilled"
    assert after["closed_at"] is not None


def test_auto_archive_keeps_a_fulfilled_order_archived_after_a_partial_refund(shop, api, mug):
    shop.settings(auto_archive=True)
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    shop.fulfil(order["id"])
    assert shop.get(order["id"])["closed_at"] is not None
    sale = sale_transaction(api, order["id"])
    api.ok(
        api.post(
            f"/orders/{order['id']}/refunds.json",
            {"refund": {"transactions": [{"parent_id": sale["id"], "amount": "5.00", "kind": "refund"}]}},
        )
    )
    after = shop.get(order["id"])
    assert after["financial_status"] == "partially_refunded"
    assert after["closed_at"] is not None


# ---- 6. delete -----------------------------------------------------------------------------------


def test_an_open_order_cannot_be_deleted(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}], financial_status="paid")
    refuses(api.delete(f"/orders/{order['id']}.json"), 422)
    assert shop.get(order["id"])["id"] == order["id"]
    assert count(api) == 1


def test_an_archived_order_paid_manually_is_deleted_for_good(shop, api, deck, mug):
    keep = shop.order([{"variant_id": mug, "quantity": 1}])
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        financial_status="paid",
        email="anna@example.nl",
        customer={"first_name": "Anna", "last_name": "Jansen"},
    )
    api.ok(api.post(f"/orders/{order['id']}/close.json"))
    response = api.delete(f"/orders/{order['id']}.json")
    assert api.ok(response) == {}
    gone = api.get(f"/orders/{order['id']}.json")
    assert gone.status_code == 404
    assert gone.json() == {"errors": "Not Found"}
    assert ids_listed(api) == {keep["id"]}
    assert count(api) == 1
    assert count(api, status="closed") == 0
    assert "#1002" not in api.get("/orders/export.csv", params={"status": "any"}).text

    with deck.unit_of_work(read_only=True) as uow:
        rows = [dict(r._mapping) for r in uow.conn.execute(select(deleted_orders))]
    assert len(rows) == 1
    audit = rows[0]
    assert audit["order_id"] == order["id"]
    assert audit["financial_status"] == "paid"
    assert "email" not in audit and "customer_name" not in audit
    values = " ".join(str(v).lower() for v in audit.values())
    assert "anna" not in values and "jansen" not in values and "example.nl" not in values


def test_a_cancelled_unpaid_order_can_be_deleted(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    api.ok(api.post(f"/orders/{order['id']}/cancel.json"))
    api.ok(api.delete(f"/orders/{order['id']}.json"))
    assert api.get(f"/orders/{order['id']}.json").status_code == 404
    assert count(api) == 0


def test_an_order_paid_through_an_online_gateway_cannot_be_deleted(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    api.ok(api.post(f"/orders/{order['id']}/close.json"))
    refuses(api.delete(f"/orders/{order['id']}.json"), 422)
    assert shop.get(order["id"])["id"] == order["id"]
    assert count(api) == 1


def test_a_point_of_sale_order_cannot_be_deleted(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}], source_name="pos", financial_status="paid")
    if shop.get(order["id"])["closed_at"] is None:
        api.ok(api.post(f"/orders/{order['id']}/close.json"))
    refuses(api.delete(f"/orders/{order['id']}.json"), 422)
    assert count(api) == 1


def test_an_order_paid_with_a_gift_card_cannot_be_deleted(shop, api, mug):
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        transactions=[{"kind": "sale", "gateway": "gift_card", "amount": "12.50", "status": "success"}],
    )
    assert order["financial_status"] == "paid"
    api.ok(api.post(f"/orders/{order['id']}/close.json"))
    refuses(api.delete(f"/orders/{order['id']}.json"), 422)
    assert count(api) == 1


def test_deleting_an_unknown_order_is_404(api):
    response = api.delete("/orders/31337.json")
    assert response.status_code == 404
    assert response.json() == {"errors": "Not Found"}


# ---- 7. timeline ---------------------------------------------------------------------------------


def test_every_change_adds_a_timeline_event_with_its_author(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"note": "fragile"}}))
    api.ok(api.post(f"/orders/{order['id']}/tags/add.json", {"tags": "vip"}))
    shop.capture(order["id"])
    shop.fulfil(order["id"])
    api.ok(api.post(f"/orders/{order['id']}/close.json"))
    timeline = events(api, order["id"])
    verbs = [e["verb"] for e in timeline]
    assert verbs[0] == "placed"
    assert verbs.count("update") == 2
    assert "closed" in verbs
    assert any(v.startswith("capture") for v in verbs)
    assert any(v.startswith("fulfillment") for v in verbs)
    mine = [e for e in timeline if e["verb"] in ("placed", "update", "closed")]
    assert all(e["author"] == "Test suite" for e in mine), mine
    assert all(e["subject_id"] == order["id"] and e["subject_type"] == "Order" for e in timeline)
    assert [e["id"] for e in timeline] == sorted(e["id"] for e in timeline)


def test_staff_can_comment_and_edit_and_delete_their_own_comments(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    response = api.post(f"/orders/{order['id']}/comments.json", {"comment": {"body": "Klant belde: liever DHL"}})
    comment = api.ok(response)["event"]
    assert comment["body"] == "Klant belde: liever DHL"
    assert comment["author"] == "Test suite"
    assert comment["verb"] == "comment"
    assert comment["id"] in [e["id"] for e in events(api, order["id"])]

    edited = api.ok(
        api.put(
            f"/orders/{order['id']}/comments/{comment['id']}.json", {"comment": {"body": "Klant belde: toch PostNL"}}
        )
    )["event"]
    assert edited["body"] == "Klant belde: toch PostNL"
    listed = next(e for e in events(api, order["id"]) if e["id"] == comment["id"])
    assert listed["body"] == "Klant belde: toch PostNL"

    api.ok(api.delete(f"/orders/{order['id']}/comments/{comment['id']}.json"))
    assert comment["id"] not in [e["id"] for e in events(api, order["id"])]


def test_an_empty_comment_is_refused(shop, api, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    refuses(api.post(f"/orders/{order['id']}/comments.json", {"comment": {"body": "   "}}), 422, "body")


def test_nobody_can_edit_or_delete_someone_elses_comment(shop, api, client, deck, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    comment = api.ok(api.post(f"/orders/{order['id']}/comments.json", {"comment": {"body": "mine"}}))["event"]
    other = {"X-Shopify-Access-Token": make_token(deck, name="Other")}
    base = "/admin/api/2024-10"
    edit = client.put(
        f"{base}/orders/{order['id']}/comments/{comment['id']}.json",
        json={"comment": {"body": "hijacked"}},
        headers=other,
    )
    refuses(edit, 403)
    removal = client.delete(f"{base}/orders/{order['id']}/comments/{comment['id']}.json", headers=other)
    refuses(removal, 403)
    still = next(e for e in events(api, order["id"]) if e["id"] == comment["id"])
    assert still["body"] == "mine"
    # nor can anyone rewrite the order's own history
    placed = next(e for e in events(api, order["id"]) if e["verb"] == "placed")
    refuses(api.put(f"/orders/{order['id']}/comments/{placed['id']}.json", {"comment": {"body": "x"}}), 403)


def test_the_events_feed_lists_every_orders_events_oldest_first(shop, api, mug):
    first = shop.order([{"variant_id": mug, "quantity": 1}])
    second = shop.order([{"variant_id": mug, "quantity": 1}])
    api.ok(api.put(f"/orders/{first['id']}.json", {"order": {"note": "later"}}))
    feed = api.ok(api.get("/events.json", params={"limit": 250}))["events"]
    assert [(e["subject_id"], e["verb"]) for e in feed if e["verb"] in ("placed", "update")] == [
        (first["id"], "placed"),
        (second["id"], "placed"),
        (first["id"], "update"),
    ]
    assert [e["id"] for e in feed] == sorted(e["id"] for e in feed)
    since = api.ok(api.get("/events.json", params={"since_id": feed[0]["id"]}))["events"]
    assert [e["id"] for e in since] == [e["id"] for e in feed[1:]]


# ---- 8. idempotency ------------------------------------------------------------------------------


def test_a_retried_post_with_the_same_idempotency_key_creates_one_order(api, mug):
    body = {"order": {"email": "anna@example.nl", "line_items": [{"variant_id": mug, "quantity": 1}]}}
    headers = {"Idempotency-Key": "checkout-7f3a"}
    first = api.post("/orders.json", body, headers=headers)
    second = api.post("/orders.json", body, headers=headers)
    assert api.ok(first) == api.ok(second)
    assert second.status_code == first.status_code
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(api) == 1


def test_an_idempotency_key_reused_for_a_different_body_is_refused(api, mug):
    headers = {"Idempotency-Key": "checkout-7f3a"}
    api.ok(api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 1}]}}, headers=headers))
    other = api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 2}]}}, headers=headers)
    refuses(other, 422, "Idempotency-Key")
    assert count(api) == 1


# ---- 9. auth -------------------------------------------------------------------------------------


def test_a_request_without_a_token_is_401(client, api):
    for method, path in (("GET", "/orders.json"), ("POST", "/orders.json"), ("GET", "/orders/count.json")):
        response = client.request(method, f"/admin/api/2024-10{path}", json={"order": {}})
        refuses(response, 401, "Invalid API key or access token")
    assert count(api) == 0


def test_a_request_with_a_wrong_token_is_401(client, api):
    response = client.get("/admin/api/2024-10/orders.json", headers={"X-Shopify-Access-Token": "shpat_wrong"})
    refuses(response, 401, "Invalid API key or access token")


def test_a_read_only_token_can_read_orders_but_not_create_them(shop, api, client, deck, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    reader = {"X-Shopify-Access-Token": make_token(deck, ["read_orders"], name="Reader")}
    base = "/admin/api/2024-10"
    assert client.get(f"{base}/orders.json", headers=reader).status_code == 200
    assert client.get(f"{base}/orders/{order['id']}.json", headers=reader).json()["order"]["id"] == order["id"]
    assert client.get(f"{base}/orders/count.json", headers=reader).json() == {"count": 1}
    created = client.post(
        f"{base}/orders.json", headers=reader, json={"order": {"line_items": [{"variant_id": mug, "quantity": 1}]}}
    )
    refuses(created, 403, "write_orders")
    refuses(client.put(f"{base}/orders/{order['id']}.json", headers=reader, json={"order": {"note": "x"}}), 403)
    refuses(client.post(f"{base}/orders/{order['id']}/close.json", headers=reader), 403)
    assert count(api) == 1
    assert shop.get(order["id"])["note"] is None


# ---- 10. bad input -------------------------------------------------------------------------------


def test_malformed_json_is_a_400_and_writes_nothing(api, mug):
    response = api.post(
        "/orders.json", content=b'{"order": {"line_items": [', headers={"Content-Type": "application/json"}
    )
    refuses(response, 400)
    assert count(api) == 0


@pytest.mark.parametrize(
    ("line", "extra", "field"),
    [
        ({"quantity": "abc"}, {}, "quantity"),
        ({"quantity": 0}, {}, "quantity"),
        ({"quantity": -2}, {}, "quantity"),
        ({"quantity": 1, "price": "-1.00", "title": "Refund me"}, {}, "price"),
        ({"quantity": 1, "colour": "red"}, {}, "colour"),
        ({"quantity": 1}, {"favourite": "yes"}, "favourite"),
        ({"quantity": 1, "variant_id": 999999}, {}, "line_items"),
        ({"quantity": 1, "title": "No price"}, {}, "price"),
        ({"quantity": 1, "price": "abc", "title": "Bad price"}, {}, "price"),
    ],
    ids=[
        "quantity-not-a-number",
        "zero-quantity",
        "negative-quantity",
        "negative-price",
        "unknown-line-field",
        "unknown-order-field",
        "unknown-variant",
        "custom-item-without-price",
        "price-not-a-number",
    ],
)
def test_an_invalid_order_is_refused_naming_the_problem_and_nothing_is_written(
    api, shop, amsterdam, mug, line, extra, field
):
    shop.order([{"variant_id": mug, "quantity": 1}])
    item = {"variant_id": mug, **line} if "title" not in line and "variant_id" not in line else line
    body = {"order": {"line_items": [item], **extra}}
    refuses(api.post("/orders.json", body), 422, field)
    assert count(api) == 1
    assert shop.level(mug, amsterdam)["committed"] == 1
    assert [e["verb"] for e in api.ok(api.get("/events.json"))["events"]].count("placed") == 1


def test_an_order_without_line_items_is_refused(api, amsterdam):
    refuses(api.post("/orders.json", {"order": {"line_items": []}}), 422, "line_items")
    refuses(api.post("/orders.json", {"order": {"email": "a@b.nl"}}), 422, "line_items")
    refuses(api.post("/orders.json", {"line_items": [{"title": "x", "price": "1", "quantity": 1}]}), 422, "order")
    assert count(api) == 0


def test_a_body_over_2_mb_is_413_and_writes_nothing(api, amsterdam):
    body = {
        "order": {"line_items": [{"title": "Big", "price": "1.00", "quantity": 1}], "note": "x" * (2 * 1024 * 1024)}
    }
    refuses(api.post("/orders.json", body), 413)
    assert count(api) == 0


def test_an_unknown_order_id_is_404_not_found(api):
    response = api.get("/orders/123456789.json")
    assert response.status_code == 404
    assert response.json() == {"errors": "Not Found"}
    assert api.get("/orders/123456789/events.json").status_code == 404
    assert api.post("/orders/123456789/close.json").status_code == 404


def test_an_unknown_api_path_is_404(api):
    for path in ("/orderz.json", "/orders/1/frobnicate.json"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json() == {"errors": "Not Found"}
    response = api.client.get("/admin/api/latest/orders.json", headers=api.headers)
    assert response.status_code == 404
    assert response.json() == {"errors": "Not Found"}


def test_an_unknown_filter_value_is_refused_by_name(api):
    refuses(api.get("/orders.json", params={"status": "sleeping"}), 422, "status")
    refuses(api.get("/orders.json", params={"financial_status": "rich"}), 422, "financial_status")
    refuses(api.get("/orders/count.json", params={"fulfillment_status": "teleported"}), 422, "fulfillment_status")
    refuses(api.get("/orders.json", params={"limit": 251}), 422, "limit")


# ---- 11. CSV export ------------------------------------------------------------------------------


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_the_csv_export_has_a_header_row_and_one_row_per_order(shop, api, mug):
    shop.order([{"variant_id": mug, "quantity": 2}], email="anna@example.nl", tags="vip")
    second = shop.order([{"variant_id": mug, "quantity": 1}], email="bram@example.de")
    api.ok(api.post(f"/orders/{second['id']}/close.json"))
    response = api.get("/orders/export.csv", params={"status": "any"})
    header = next(csv.reader(io.StringIO(response.text)))
    assert header[:3] == ["Name", "Created at", "Email"]
    rows = _csv(response)
    assert [r["Name"] for r in rows] == ["#1001", "#1002"]
    assert rows[0]["Email"] == "anna@example.nl"
    assert rows[0]["Total"] == "25.00"
    assert rows[0]["Tags"] == "vip"
    assert "MUG-1" in rows[0]["Line items"]
    assert rows[1]["Order status"] == "archived"


def test_the_csv_export_honours_the_filters(shop, api, mug):
    shop.order([{"variant_id": mug, "quantity": 1}], tags="wholesale")
    shop.order([{"variant_id": mug, "quantity": 1}])
    paid = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    assert [r["Name"] for r in _csv(api.get("/orders/export.csv", params={"status": "any", "tag": "wholesale"}))] == [
        "#1001"
    ]
    assert [r["Name"] for r in _csv(api.get("/orders/export.csv", params={"financial_status": "paid"}))] == [
        paid["name"]
    ]
    assert _csv(api.get("/orders/export.csv", params={"status": "cancelled"})) == []


# ---- 12. wire format -----------------------------------------------------------------------------

ORDER_KEYS = {
    "admin_graphql_api_id",
    "app_id",
    "billing_address",
    "browser_ip",
    "buyer_accepts_marketing",
    "cancel_reason",
    "cancelled_at",
    "cart_token",
    "checkout_id",
    "checkout_token",
    "client_details",
    "closed_at",
    "confirmation_number",
    "confirmed",
    "contact_email",
    "created_at",
    "currency",
    "current_subtotal_price",
    "current_subtotal_price_set",
    "current_total_additional_fees_set",
    "current_total_discounts",
    "current_total_discounts_set",
    "current_total_duties_set",
    "current_total_price",
    "current_total_price_set",
    "current_total_tax",
    "current_total_tax_set",
    "customer",
    "customer_locale",
    "device_id",
    "discount_applications",
    "discount_codes",
    "email",
    "estimated_taxes",
    "financial_status",
    "fulfillment_status",
    "fulfillments",
    "id",
    "landing_site",
    "landing_site_ref",
    "line_items",
    "location_id",
    "merchant_of_record_app_id",
    "name",
    "note",
    "note_attributes",
    "number",
    "order_number",
    "order_status_url",
    "original_total_additional_fees_set",
    "original_total_duties_set",
    "payment_gateway_names",
    "payment_terms",
    "phone",
    "po_number",
    "presentment_currency",
    "processed_at",
    "reference",
    "referring_site",
    "refunds",
    "shipping_address",
    "shipping_lines",
    "source_identifier",
    "source_name",
    "source_url",
    "subtotal_price",
    "subtotal_price_set",
    "tags",
    "tax_exempt",
    "tax_lines",
    "taxes_included",
    "test",
    "token",
    "total_discounts",
    "total_discounts_set",
    "total_line_items_price",
    "total_line_items_price_set",
    "total_outstanding",
    "total_price",
    "total_price_set",
    "total_shipping_price_set",
    "total_tax",
    "total_tax_set",
    "total_tip_received",
    "total_weight",
    "updated_at",
    "user_id",
    # in the 2024-10 model, not in the fixture
    "merchant_business_entity_id",
    "company",
}
LINE_ITEM_KEYS = {
    "admin_graphql_api_id",
    "current_quantity",
    "discount_allocations",
    "duties",
    "fulfillable_quantity",
    "fulfillment_service",
    "fulfillment_status",
    "gift_card",
    "grams",
    "id",
    "name",
    "price",
    "price_set",
    "product_exists",
    "product_id",
    "properties",
    "quantity",
    "requires_shipping",
    "sku",
    "tax_lines",
    "taxable",
    "title",
    "total_discount",
    "total_discount_set",
    "variant_id",
    "variant_inventory_management",
    "variant_title",
    "vendor",
}
SHIPPING_LINE_KEYS = {
    "carrier_identifier",
    "code",
    "discount_allocations",
    "discounted_price",
    "discounted_price_set",
    "id",
    "phone",
    "price",
    "price_set",
    "requested_fulfillment_service_id",
    "source",
    "tax_lines",
    "title",
}
CUSTOMER_KEYS = {
    "admin_graphql_api_id",
    "created_at",
    "currency",
    "default_address",
    "email",
    "email_marketing_consent",
    "first_name",
    "id",
    "last_name",
    "multipass_identifier",
    "note",
    "phone",
    "sms_marketing_consent",
    "state",
    "tags",
    "tax_exempt",
    "tax_exemptions",
    "updated_at",
    "verified_email",
}
ADDRESS_KEYS = {
    "address1",
    "address2",
    "city",
    "company",
    "country",
    "country_code",
    "first_name",
    "last_name",
    "latitude",
    "longitude",
    "name",
    "phone",
    "province",
    "province_code",
    "zip",
}
CLIENT_DETAILS_KEYS = {"accept_language", "browser_height", "browser_ip", "browser_width", "session_hash", "user_agent"}
DISCOUNT_APPLICATION_KEYS = {
    "allocation_method",
    "code",
    "target_selection",
    "target_type",
    "type",
    "value",
    "value_type",
}
MONEY_KEYS = (
    "current_subtotal_price",
    "current_total_discounts",
    "current_total_price",
    "current_total_tax",
    "subtotal_price",
    "total_discounts",
    "total_line_items_price",
    "total_outstanding",
    "total_price",
    "total_tax",
    "total_tip_received",
)


def _full_order(shop: Any, mug: int) -> dict[str, Any]:
    address = {
        "first_name": "Anna",
        "last_name": "Jansen",
        "address1": "Damrak 1",
        "city": "Amsterdam",
        "country_code": "NL",
    }
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        transactions=SELL,
        billing_address=address,
        shipping_address=address,
        customer={"first_name": "Anna", "last_name": "Jansen"},
        shipping_lines=[{"title": "PostNL", "price": "4.95"}],
        discount_codes=[{"code": "FIVE", "amount": "5.00", "type": "fixed_amount"}],
        tax_lines=[{"title": "BTW", "price": "4.00", "rate": 0.21}],
    )
    shop.fulfil(order["id"], tracking="1Z001985YW99744790")
    return shop.get(order["id"])


def test_an_order_has_every_key_of_shopifys_example(shop, mug):
    order = _full_order(shop, mug)
    assert ORDER_KEYS - set(order) == set()
    assert LINE_ITEM_KEYS - set(order["line_items"][0]) == set()
    assert SHIPPING_LINE_KEYS - set(order["shipping_lines"][0]) == set()
    assert CUSTOMER_KEYS - set(order["customer"]) == set()
    assert ADDRESS_KEYS - set(order["billing_address"]) == set()
    assert ADDRESS_KEYS - set(order["shipping_address"]) == set()
    assert CLIENT_DETAILS_KEYS - set(order["client_details"] or {}) == set()
    assert DISCOUNT_APPLICATION_KEYS - set(order["discount_applications"][0]) == set()
    assert order["discount_codes"] == [{"code": "FIVE", "amount": "5.00", "type": "fixed_amount"}]


def test_money_is_sent_as_strings_with_money_bags_for_every_set(shop, mug):
    order = _full_order(shop, mug)
    for key in MONEY_KEYS:
        assert isinstance(order[key], str) and re.fullmatch(r"-?\d+\.\d{2}", order[key]), (key, order[key])
    for key, value in order.items():
        if key.endswith("_set") and value is not None:
            assert set(value) == {"shop_money", "presentment_money"}, key
            for side in value.values():
                assert set(side) == {"amount", "currency_code"}, key
                assert isinstance(side["amount"], str)
                assert side["currency_code"] == "EUR"
    for key in ("total_price", "subtotal_price", "total_tax", "total_discounts", "total_line_items_price"):
        assert order[f"{key}_set"]["shop_money"]["amount"] == order[key]
    line = order["line_items"][0]
    assert isinstance(line["price"], str)
    assert line["price_set"]["shop_money"] == {"amount": "12.50", "currency_code": "EUR"}
    assert isinstance(order["tax_lines"][0]["rate"], float)
    assert order["total_price"] == "28.95"  # 25.00 - 5.00 discount + 4.95 shipping + 4.00 tax


def test_ids_are_integers_and_timestamps_carry_an_offset(shop, mug):
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    assert isinstance(order["id"], int)
    assert isinstance(order["line_items"][0]["id"], int)
    for key in ("created_at", "updated_at", "processed_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", order[key]), (key, order[key])


def test_every_response_carries_the_api_version_header(shop, api, client, mug):
    created = api.post("/orders.json", {"order": {"line_items": [{"variant_id": mug, "quantity": 1}]}})
    assert created.status_code in (200, 201)
    assert "order" in created.json() and len(created.json()) == 1  # one root key, for Python's remove_root
    responses = [
        created,
        api.get("/orders.json"),
        api.get("/orders/count.json"),
        api.get("/orders/999.json"),
        api.post("/orders.json", {"order": {}}),
        client.get("/admin/api/2024-10/orders.json"),
    ]
    for response in responses:
        assert response.headers.get("X-Shopify-API-Version") == "2024-10", response.request.url
        assert response.headers.get("X-Request-Id")
