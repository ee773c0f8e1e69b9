"""Creating an order by hand (S9.3 manual orders): what the staff member types becomes an
ordinary order from the channel "manual", placed by the API's own service under their name;
bad input comes back with everything kept and the message at the field, and creates nothing."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from orderdeck.services.context import Orderdeck
from orderdeck.store.queries import count_orders
from orderdeck.store.tables import outbox
from orderdeck.web.admin.filters import order_filter

from ..conftest import Api, Shop
from .conftest import AdminClient, make_staff

NEW = "/admin/orders/new"


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


@pytest.fixture
def mug(shop: Shop, location: int) -> int:
    return shop.product("MUG-1", "12.50", stock={location: 10}, title="Espresso mug")


def form(**fields: Any) -> dict[str, Any]:
    """The form as a browser sends it after the staff member filled it in: the defaults of a
    fresh form (three product rows, one custom row, billing same as shipping, payment pending by
    bank transfer) with `fields` on top; a field given as None is left out (an unticked box)."""
    sent: dict[str, Any] = {
        "item_rows": "3",
        "custom_rows": "1",
        "item-0-quantity": "1",
        "item-1-quantity": "1",
        "item-2-quantity": "1",
        "custom-0-quantity": "1",
        "custom-0-taxable": "1",
        "billing_same": "1",
        "payment": "pending",
        "gateway": "bank_transfer",
        "discount_type": "fixed_amount",
        "action": "create",
    }
    sent.update(fields)
    return {k: v for k, v in sent.items() if v is not None}


PHONE_SALE = {
    "custom-0-title": "Engraving",
    "custom-0-price": "5,00",
    "custom-0-quantity": "1",
    "email": "Anna@Example.nl",
    "first_name": "Anna",
    "last_name": "de Vries",
    "phone": "+31612345678",
    "shipping_first_name": "Anna",
    "shipping_last_name": "de Vries",
    "shipping_address1": "Keizersgracht 1",
    "shipping_zip": "1015 CJ",
    "shipping_city": "Amsterdam",
    "shipping_country": "Netherlands",
    "shipping_country_code": "nl",
    "shipping_title": "Courier",
    "shipping_price": "6.95",
    "discount_value": "5",
    "discount_code": "PHONE5",
    "note": "Called on Tuesday",
    "tags": "phone, vip",
    "send_receipt": None,
}


def orders_made(deck: Orderdeck) -> int:
    with deck.unit_of_work(read_only=True) as uow:
        return count_orders(uow.conn, order_filter({}))


def notifications(deck: Orderdeck, order_id: int) -> list[str]:
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(
            select(outbox.c.topic).where(outbox.c.kind == "notification", outbox.c.order_id == order_id)
        )
        return [r.topic for r in rows]


def created(owner: AdminClient, answer: Any, name: str | None = None) -> int:
    """The new order's id from the redirect to its page, after checking the message said so."""
    assert answer.status_code == 303, answer.text[:3000]
    found = re.fullmatch(r"/admin/orders/(\d+)", answer.headers["location"])
    assert found, answer.headers["location"]
    # The one-time message shows on the next page the staff member opens.
    page = owner.page("/admin/orders")
    message = re.search(r'<div class="flash flash-(\w+)"[^>]*>(.*?)</div>', page.text, re.S)
    assert message, page.text[:2000]
    assert message.group(1) == "success"
    assert re.fullmatch(rf"Order {re.escape(name) if name else '#[0-9]+'} created", message.group(2).strip())
    return int(found.group(1))


def field_error(page: Any, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="e-{re.escape(name)}">(.*?)</p>', page.text, re.S)
    assert found, f"no message at {name}: " + " | ".join(re.findall(r'class="field-error" id="e-([^"]+)"', page.text))
    return unescape(found.group(1))


def value_of(page: Any, name: str) -> str:
    found = re.search(rf'<input [^>]*id="f-{re.escape(name)}" name="{re.escape(name)}"[^>]* value="([^"]*)"', page.text)
    assert found, name
    return unescape(found.group(1))


def test_the_form_offers_the_catalogue(owner: AdminClient, mug: int) -> None:
    page = owner.page(NEW)
    assert "Create order" in page.text
    assert re.search(rf'<option value="{mug}" >Espresso mug · SKU MUG-1 · €12.50</option>', page.text)
    assert 'name="action" value="create"' in page.text


def test_a_phone_sale_becomes_an_ordinary_manual_order(
    owner: AdminClient, deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    answer = owner.post(NEW, form(**PHONE_SALE, **{"item-0-variant": str(mug), "item-0-quantity": "2"}))
    order_id = created(owner, answer, name="#1001")
    order = shop.get(order_id)
    assert order["source_name"] == "manual"
    # 2 x 12.50 + 5.00 = 30.00, less 5.00, plus 6.95 shipping
    assert order["total_line_items_price"] == "30.00"
    assert order["total_discounts"] == "5.00"
    assert order["subtotal_price"] == "25.00"
    assert order["total_shipping_price_set"]["shop_money"]["amount"] == "6.95"
    assert order["total_price"] == "31.95"
    assert order["discount_codes"] == [{"code": "PHONE5", "amount": "5.00", "type": "fixed_amount"}]
    mug_line, engraving = order["line_items"]
    assert (mug_line["sku"], mug_line["quantity"], mug_line["price"]) == ("MUG-1", 2, "12.50")
    assert (engraving["title"], engraving["price"], engraving["taxable"]) == ("Engraving", "5.00", True)
    assert order["customer"]["email"] == "anna@example.nl"
    assert (order["customer"]["first_name"], order["customer"]["last_name"]) == ("Anna", "de Vries")
    assert order["shipping_address"]["city"] == "Amsterdam"
    assert order["shipping_address"]["country_code"] == "NL"
    assert order["billing_address"] == order["shipping_address"]
    assert order["financial_status"] == "pending"
    assert order["payment_gateway_names"] == ["bank_transfer"]
    assert order["note"] == "Called on Tuesday"
    assert order["tags"] == "phone, vip"
    # The stock is reserved, as for any order.
    assert shop.level(mug, shop_location(api))["committed"] == 2
    [placed] = api.ok(api.get(f"/orders/{order_id}/events.json", params={"verb": "placed"}))["events"]
    assert placed["author"] == "Olivia Owner" and placed["author_type"] == "staff"
    assert notifications(deck, order_id) == []
    # The Orders page's channel filter finds it.
    with deck.unit_of_work(read_only=True) as uow:
        assert count_orders(uow.conn, order_filter({"source_name": "manual"})) == 1
        assert count_orders(uow.conn, order_filter({"source_name": "web"})) == 0


def shop_location(api: Api) -> int:
    return int(api.ok(api.get("/locations.json"))["locations"][0]["id"])


def test_an_existing_customer_is_matched_by_e_mail(owner: AdminClient, shop: Shop) -> None:
    first = shop.order([{"title": "Cup", "price": "3.00", "quantity": 1}], email="anna@example.nl")
    page = owner.post(
        NEW, form(**{"custom-0-title": "Saucer", "custom-0-price": "2"}, email="ANNA@example.nl", action="recalculate")
    )
    assert "Existing customer" in page.text
    order_id = created(
        owner, owner.post(NEW, form(**{"custom-0-title": "Saucer", "custom-0-price": "2"}, email="ANNA@example.nl"))
    )
    assert shop.get(order_id)["customer"]["id"] == first["customer"]["id"]


@pytest.mark.parametrize(("method", "words"), [("cash_on_delivery", "Cash on delivery"), ("manual", "Other")])
def test_payment_pending_by_the_chosen_manual_method(owner: AdminClient, shop: Shop, method: str, words: str) -> None:
    assert words in owner.page(NEW).text
    order_id = created(
        owner, owner.post(NEW, form(**{"custom-0-title": "Vase", "custom-0-price": "40"}, gateway=method))
    )
    order = shop.get(order_id)
    assert order["financial_status"] == "pending"
    assert order["payment_gateway_names"] == [method]
    assert order["total_outstanding"] == "40.00"


def test_marked_as_paid(owner: AdminClient, shop: Shop) -> None:
    answer = owner.post(
        NEW, form(**{"custom-0-title": "Vase", "custom-0-price": "40"}, payment="paid", gateway="cash_on_delivery")
    )
    order = shop.get(created(owner, answer))
    assert order["financial_status"] == "paid"
    assert order["total_outstanding"] == "0.00"


def test_a_free_order_records_no_payment(owner: AdminClient, shop: Shop) -> None:
    order = shop.get(
        created(owner, owner.post(NEW, form(**{"custom-0-title": "Replacement lid", "custom-0-price": "0"})))
    )
    assert order["total_price"] == "0.00"
    assert order["financial_status"] == "paid"  # nothing to pay
    assert order["payment_gateway_names"] == []


def test_notify_sends_the_order_confirmation(owner: AdminClient, deck: Orderdeck) -> None:
    chosen = form(**{**PHONE_SALE, "send_receipt": "1"})
    order_id = created(owner, owner.post(NEW, chosen))
    assert notifications(deck, order_id) == ["order_confirmation"]


def test_a_percentage_discount(owner: AdminClient, shop: Shop) -> None:
    fields = {"custom-0-title": "Vase", "custom-0-price": "40", "discount_type": "percentage", "discount_value": "10"}
    order = shop.get(created(owner, owner.post(NEW, form(**fields))))
    assert order["total_discounts"] == "4.00" and order["total_price"] == "36.00"
    assert order["discount_codes"][0]["type"] == "percentage"


def test_recalculate_shows_the_totals_and_creates_nothing(owner: AdminClient, deck: Orderdeck, mug: int) -> None:
    fields = {**PHONE_SALE, "item-0-variant": str(mug), "item-0-quantity": "2", "action": "recalculate"}
    page = owner.post(NEW, form(**fields))
    assert page.status_code == 200
    summary = page.text.split('id="summary-h"')[1].split("</section>")[0]
    assert "Espresso mug \u00d7 2" in summary and "€25.00" in summary
    assert "Subtotal" in summary and "€30.00" in summary
    assert "Discount (PHONE5)" in summary and "\u2212€5.00" in summary
    assert "Shipping" in summary and "€6.95" in summary
    assert "Total" in summary and "€31.95" in summary
    assert orders_made(deck) == 0
    # …and the order that is then created gets the number the preview did not use up.
    created(owner, owner.post(NEW, form(**{**fields, "action": "create"})), name="#1001")


def test_more_lines_without_javascript(owner: AdminClient, mug: int) -> None:
    page = owner.post(NEW, form(**{"item-0-variant": str(mug), "custom-0-title": "Gift wrap", "action": "add_item"}))
    assert page.status_code == 200
    assert 'name="item-3-variant"' in page.text and 'name="item_rows" value="4"' in page.text
    assert re.search(rf'<option value="{mug}" selected>', page.text)
    page = owner.post(NEW, form(**{"custom-0-title": "Gift wrap", "action": "add_custom"}))
    assert 'name="custom-1-title"' in page.text and value_of(page, "custom-0-title") == "Gift wrap"
    assert "field-error" not in page.text  # adding a line is not a complaint about the half-filled form


def test_finding_products_narrows_the_lists(owner: AdminClient, shop: Shop, location: int, mug: int) -> None:
    saucer = shop.product("SAU-9", "4.00", stock={location: 3}, title="Saucer")
    page = owner.post(NEW, form(find="sau", action="find"))
    assert f'<option value="{saucer}"' in page.text and f'<option value="{mug}"' not in page.text
    assert value_of(page, "find") == "sau"


BAD = [
    ({}, "lines", "at least one product or custom item"),
    ({"custom-0-title": "Vase", "custom-0-price": "40", "custom-0-quantity": "-2"}, "custom-0-quantity", "at least 1"),
    ({"item-0-variant": "999999"}, "item-0-variant", "not in the catalogue"),
    ({"custom-0-title": "Vase", "custom-0-price": "40", "email": "anna at example"}, "email", "not an e-mail address"),
    ({"custom-0-title": "Vase", "custom-0-price": "forty"}, "custom-0-price", "as a number"),
    ({"custom-0-title": "Vase", "custom-0-price": "-4"}, "custom-0-price", "cannot be negative"),
    ({"custom-0-price": "40"}, "custom-0-title", "Give the item a title"),
    (
        {"custom-0-title": "Vase", "custom-0-price": "40", "discount_value": "50"},
        "discount_value",
        "more than the items",
    ),
    (
        {"custom-0-title": "Vase", "custom-0-price": "40", "discount_type": "percentage", "discount_value": "120"},
        "discount_value",
        "at most 100",
    ),
    (
        {"custom-0-title": "Vase", "custom-0-price": "40", "shipping_title": "Courier"},
        "shipping_price",
        "shipping price",
    ),
    ({"custom-0-title": "Vase", "custom-0-price": "40", "shipping_price": "x"}, "shipping_price", "as a number"),
    ({"custom-0-title": "Vase", "custom-0-price": "40", "send_receipt": "1"}, "send_receipt", "no e-mail address"),
    ({"custom-0-title": "V" * 300, "custom-0-price": "40"}, "custom-0-title", "at most 255 characters"),
]


@pytest.mark.parametrize(("fields", "where", "says"), BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_input_is_explained_at_the_field_and_creates_nothing(
    owner: AdminClient, deck: Orderdeck, fields: dict[str, str], where: str, says: str
) -> None:
    typed = {"first_name": "Anna", "note": "Keep <this> & that", "tags": "phone", "send_receipt": None, **fields}
    page = owner.post(NEW, form(**typed))
    assert page.status_code == 422, page.text[:2000]
    assert says in field_error(page, where)
    assert "no order was created" in page.text
    # Everything typed is still there.
    assert value_of(page, "first_name") == "Anna" and value_of(page, "tags") == "phone"
    assert "Keep &lt;this&gt; &amp; that</textarea>" in page.text
    for name, value in fields.items():
        if name.endswith(("-title", "-price", "-quantity")) or name in ("email", "discount_value", "shipping_price"):
            assert value_of(page, name) == value
    assert orders_made(deck) == 0


def test_an_out_of_stock_product_is_refused_by_the_service(owner: AdminClient, deck: Orderdeck, mug: int) -> None:
    page = owner.post(NEW, form(**{"item-0-variant": str(mug), "item-0-quantity": "11"}))
    assert page.status_code == 422
    message = field_error(page, "lines")
    assert message == "Not enough stock of Espresso mug (SKU MUG-1): 11 ordered, 10 available at any single location"
    assert value_of(page, "item-0-quantity") == "11"
    assert orders_made(deck) == 0


def test_marking_paid_needs_the_permission_to_take_payments(deck: Orderdeck, admin_app: Any, shop: Shop) -> None:
    make_staff(deck, "clerk@shop.test", permissions=("view_orders", "manage_orders"), name="Carl Clerk")
    clerk = AdminClient(admin_app)
    assert clerk.sign_in("clerk@shop.test").status_code == 303
    page = clerk.page(NEW)
    assert 'value="paid"' not in page.text and "may not take payments" in page.text
    refused = clerk.post(NEW, form(**{"custom-0-title": "Vase", "custom-0-price": "40"}, payment="paid"))
    assert refused.status_code == 422 and "may not take payments" in field_error(refused, "payment")
    assert orders_made(deck) == 0
    order_id = created(clerk, clerk.post(NEW, form(**{"custom-0-title": "Vase", "custom-0-price": "40"})))
    [placed] = shop.api.ok(shop.api.get(f"/orders/{order_id}/events.json", params={"verb": "placed"}))["events"]
    assert placed["author"] == "Carl Clerk"


def test_a_viewer_is_refused(deck: Orderdeck, admin_app: Any) -> None:
    make_staff(deck, "viewer@shop.test", permissions=("view_orders",))
    viewer = AdminClient(admin_app)
    assert viewer.sign_in("viewer@shop.test").status_code == 303
    assert "Create order" not in viewer.page("/admin/orders").text
    assert viewer.page(NEW, expect=403)
    refused = viewer.post(NEW, form(**{"custom-0-title": "Vase", "custom-0-price": "40"}))
    assert refused.status_code == 403 and "may not manage orders" in refused.text
    assert orders_made(deck) == 0


def test_deleted_under_the_same_rules_as_any_order(owner: AdminClient, api: Api, shop: Shop) -> None:
    order_id = created(owner, owner.post(NEW, form(**{"custom-0-title": "Vase", "custom-0-price": "40"})))
    refused = api.delete(f"/orders/{order_id}.json")
    assert refused.status_code == 422 and "archived or cancelled" in refused.text
    api.ok(api.post(f"/orders/{order_id}/cancel.json", {}))
    api.ok(api.delete(f"/orders/{order_id}.json"))
    assert api.get(f"/orders/{order_id}.json").status_code == 404
    # Paid by hand (a manual method) does not stand in the way either, once it is archived.
    paid_id = created(
        owner, owner.post(NEW, form(**{"custom-0-title": "Vase", "custom-0-price": "40"}, payment="paid"))
    )
    api.ok(api.post(f"/orders/{paid_id}/close.json", {}))
    api.ok(api.delete(f"/orders/{paid_id}.json"))
