"""Customers changing the items of their own order from its status page (issue 14, S9.4): only
while the shop lets them (self-service and customer edits on, within the window) and only the
units not yet on their way; another quantity, or another size or colour at the same price,
reviewed first and then made as an order edit by the customer, with the "order edited" e-mail.
Every refusal says why in the customer's language and changes nothing."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from orderdeck.services.context import Orderdeck
from orderdeck.services.settings import update_settings
from orderdeck.store.tables import order_edits, outbox

from ..conftest import SELL, Api, Clock, Shop
from .returns_steps import run

TIMES = "\u00d7"
ARROW = "\u2192"


@pytest.fixture
def amsterdam(shop: Shop) -> int:
    return shop.location("Amsterdam")


@pytest.fixture
def shirt(api: Api, amsterdam: int) -> dict[str, int]:
    """A linen shirt at 25.00 in S, M (5 each) and L (sold out), and XL at 29.00."""
    variants = [
        {"option1": size, "sku": f"SHIRT-{size}", "price": price, "inventory_quantities": {str(amsterdam): stock}}
        for size, price, stock in (("S", "25.00", 5), ("M", "25.00", 5), ("L", "25.00", 0), ("XL", "29.00", 5))
    ]
    product = api.ok(
        api.post("/products.json", {"product": {"title": "Linen shirt", "options": ["Size"], "variants": variants}})
    )["product"]
    return {v["option1"]: v["id"] for v in product["variants"]}


@pytest.fixture
def cap(shop: Shop, amsterdam: int) -> int:
    return shop.product("CAP-1", price="10.00", stock={amsterdam: 10}, title="Cap")


@pytest.fixture
def editing(shop: Shop) -> None:
    shop.settings(self_service=True)  # customer_edits is on by default; raising the total is not


def edit_settings(deck: Orderdeck, **values: bool) -> None:
    """The shop's customer_edits keys, as the admin's settings page saves them."""
    run(deck, lambda cmd: update_settings(cmd, values))


def place(shop: Shop, shirt: dict[str, int], cap: int, locale: str = "en", shirts: int = 2) -> dict[str, Any]:
    """A paid order of M shirts (25.00 each) and one cap (10.00)."""
    return shop.order(
        [{"variant_id": shirt["M"], "quantity": shirts}, {"variant_id": cap, "quantity": 1}],
        transactions=SELL,
        customer_locale=locale,
        customer={"first_name": "Anna"},
    )


def path(order: dict[str, Any]) -> str:
    return str(order["order_status_url"]).split("http://shop.test", 1)[1]


def line_id(order: dict[str, Any], variant: int) -> int:
    return int(next(li["id"] for li in order["line_items"] if li["variant_id"] == variant))


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def notice(page: str) -> str:
    found = re.search(r'<p class="notice" role="status">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="edit-{field}-error">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def edits_kept(deck: Orderdeck) -> int:
    with deck.unit_of_work(read_only=True) as uow:
        return int(uow.conn.execute(select(func.count()).select_from(order_edits)).scalar_one())


def outbox_rows(deck: Orderdeck, kind: str) -> list[Any]:
    with deck.unit_of_work(read_only=True) as uow:
        return list(uow.conn.execute(select(outbox).where(outbox.c.kind == kind)).all())


def review(api: Api, order: dict[str, Any], form: dict[str, str], status: int = 200) -> str:
    answer = api.client.post(path(order) + "/edit/review", data=form)
    assert answer.status_code == status, answer.text
    return str(answer.text)


def hidden_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))


def test_a_customer_switches_a_size_after_reviewing_it(
    deck: Orderdeck, api: Api, shop: Shop, shirt: dict[str, int], cap: int, amsterdam: int, editing: None
) -> None:
    order = place(shop, shirt, cap)
    m_line, cap_line = line_id(order, shirt["M"]), line_id(order, cap)
    page = api.client.get(path(order)).text
    assert "Change items" in page and f'name="quantity_{m_line}"' in page
    # Same product, same price, in stock, not the size already ordered.
    offered = re.search(rf'<select id="edit-variant_{m_line}".*?</select>', page, re.S)
    assert offered is not None
    assert f'value="{shirt["S"]}"' in offered.group()
    for not_offered in ("M", "L", "XL"):
        assert f'value="{shirt[not_offered]}"' not in offered.group()
    # The cap is the product's only variant: nothing to switch to, only its quantity.
    assert f'name="variant_{cap_line}"' not in page

    form = {f"quantity_{m_line}": "2", f"variant_{m_line}": str(shirt["S"]), f"quantity_{cap_line}": "1"}
    reviewed = review(api, order, form)
    words = text_of(reviewed)
    assert "Review your change" in words
    assert f"2 {TIMES} Linen shirt - M becomes Linen shirt - S" in words
    assert "Total now" in words and "New total" in words and words.count("€60.00") == 2
    assert "left to pay" not in words and "we refund" not in words
    # Nothing is changed by a review.
    assert shop.get(order["id"])["line_items"] == order["line_items"]
    assert shop.level(shirt["S"], amsterdam)["available"] == 5
    assert edits_kept(deck) == 0

    confirmed = api.client.post(path(order) + "/edit", data=hidden_fields(reviewed), follow_redirects=False)
    assert confirmed.status_code == 303, confirmed.text
    after = shop.get(order["id"])
    by_variant = {li["variant_id"]: li for li in after["line_items"]}
    assert by_variant[shirt["M"]]["current_quantity"] == 0 and by_variant[shirt["M"]]["fulfillable_quantity"] == 0
    assert by_variant[shirt["S"]]["current_quantity"] == 2 and by_variant[shirt["S"]]["fulfillable_quantity"] == 2
    assert Decimal(after["total_price"]) == Decimal("60.00") and after["financial_status"] == "paid"
    assert shop.level(shirt["M"], amsterdam)["available"] == 5  # restocked
    assert shop.level(shirt["S"], amsterdam)["available"] == 3
    [event] = api.ok(api.get(f"/orders/{order['id']}/events.json", params={"verb": "order_edited"}))["events"]
    assert event["author"] == "Customer"
    [mail] = [r for r in outbox_rows(deck, "notification") if '"order_edited"' in r.payload]
    assert [r.topic for r in outbox_rows(deck, "staff_alert")] == ["customer_edited"]
    followed = api.client.get(confirmed.headers["location"]).text
    assert "Your order is changed" in notice(followed)
    assert mail is not None
    # The page's items are the order as it is now: the M shirts are no longer listed.
    items = text_of(followed.split('id="items-title"', 1)[1].split("</section>", 1)[0])
    assert re.search(r"Linen shirt\s+S\s+2\s+€50.00", items) and " M " not in items


def test_removing_an_item_shows_the_refund_before_it_is_made(
    api: Api, shop: Shop, shirt: dict[str, int], cap: int, amsterdam: int, editing: None
) -> None:
    order = place(shop, shirt, cap)
    m_line, cap_line = line_id(order, shirt["M"]), line_id(order, cap)
    form = {f"quantity_{m_line}": "1", f"quantity_{cap_line}": "0"}
    reviewed = text_of(review(api, order, form))
    assert f"2 {ARROW} 1 {TIMES} Linen shirt - M" in reviewed
    assert f"Removed: 1 {TIMES} Cap" in reviewed
    assert "After this change, we refund €35.00 to you." in reviewed
    confirmed = api.client.post(path(order) + "/edit", data=hidden_fields(review(api, order, form)))
    assert confirmed.status_code == 200 and "Your order is changed" in confirmed.text
    after = shop.get(order["id"])
    assert Decimal(after["total_price"]) == Decimal("25.00")
    assert shop.level(cap, amsterdam)["available"] == 10
    cap_after = next(li for li in after["line_items"] if li["id"] == cap_line)
    assert (cap_after["quantity"], cap_after["current_quantity"]) == (1, 0)


def test_a_change_that_raises_the_total_is_refused_unless_the_shop_allows_it(
    deck: Orderdeck, api: Api, shop: Shop, shirt: dict[str, int], cap: int, editing: None
) -> None:
    order = place(shop, shirt, cap)
    m_line = line_id(order, shirt["M"])
    page = api.client.get(path(order)).text
    assert '<option value="3">3</option>' not in page.split(f'name="quantity_{m_line}"')[1].split("</select>")[0]
    refused = review(api, order, {f"quantity_{m_line}": "3"}, status=422)
    assert field_error(refused, f"quantity_{m_line}") == "You can't add more of this item here. Please contact us."
    assert shop.get(order["id"])["line_items"] == order["line_items"] and edits_kept(deck) == 0

    edit_settings(deck, customer_edits_may_raise_total=True)
    assert '<option value="3">3</option>' in api.client.get(path(order)).text
    reviewed = review(api, order, {f"quantity_{m_line}": "3"})
    assert "After this change, €25.00 is left to pay." in text_of(reviewed)
    confirmed = api.client.post(path(order) + "/edit", data=hidden_fields(reviewed), follow_redirects=False)
    assert confirmed.status_code == 303
    after = shop.get(order["id"])
    assert Decimal(after["total_outstanding"]) == Decimal("25.00") and after["financial_status"] == "partially_paid"


def test_only_units_not_yet_on_their_way_can_change(
    api: Api, shop: Shop, shirt: dict[str, int], cap: int, editing: None
) -> None:
    order = shop.order([{"variant_id": shirt["M"], "quantity": 3}], transactions=SELL)
    [fo] = shop.fulfillment_orders(order["id"])
    body = {
        "line_items_by_fulfillment_order": [
            {
                "fulfillment_order_id": fo["id"],
                "fulfillment_order_line_items": [{"id": fo["line_items"][0]["id"], "quantity": 1}],
            }
        ]
    }
    api.ok(api.post("/fulfillments.json", {"fulfillment": body}))
    m_line = line_id(order, shirt["M"])
    page = text_of(api.client.get(path(order)).text)
    assert "1 already on the way; those stay as they are." in page
    # The select offers 0 to 2: the two units still in the shop.
    refused = review(api, order, {f"quantity_{m_line}": "3"}, status=422)
    assert field_error(refused, f"quantity_{m_line}") == "You can't add more of this item here. Please contact us."
    reviewed = review(api, order, {f"quantity_{m_line}": "0"})
    assert f"3 {ARROW} 1 {TIMES} Linen shirt - M" in text_of(reviewed)
    assert api.client.post(path(order) + "/edit", data=hidden_fields(reviewed)).status_code == 200
    line = shop.get(order["id"])["line_items"][0]
    assert (line["current_quantity"], line["fulfillable_quantity"]) == (1, 0)


@pytest.mark.parametrize("why", ["setting_off", "self_service_off", "too_late", "fulfilled", "archived", "cancelled"])
def test_no_changes_when_the_shop_or_the_order_does_not_allow_them(
    deck: Orderdeck,
    api: Api,
    shop: Shop,
    clock: Clock,
    shirt: dict[str, int],
    cap: int,
    amsterdam: int,
    editing: None,
    why: str,
) -> None:
    shop.settings(self_service_window_minutes=150)
    order = place(shop, shirt, cap, locale="nl")
    m_line = line_id(order, shirt["M"])
    if why == "setting_off":
        edit_settings(deck, customer_edits=False)
    elif why == "self_service_off":
        shop.settings(self_service=False)
    elif why == "too_late":
        clock.advance(minutes=151)
    elif why == "fulfilled":
        shop.fulfil(order["id"])
    elif why == "archived":
        api.ok(api.post(f"/orders/{order['id']}/close.json"))
    else:
        api.ok(api.post(f"/orders/{order['id']}/cancel.json", {"reason": "customer"}))
    before = shop.get(order["id"])
    assert "Artikelen wijzigen" not in api.client.get(path(order)).text
    form = {f"quantity_{m_line}": "2", f"variant_{m_line}": str(shirt["S"])}
    for step in ("/edit/review", "/edit"):
        answer = api.client.post(path(order) + step, data={**form, "reviewed_total": "60.00"})
        assert answer.status_code == 422
        expected = {
            "too_late": "De tijd om je bestelling te wijzigen is voorbij. Neem contact met ons op.",
            "fulfilled": "Je artikelen zijn al onderweg en kunnen niet meer worden gewijzigd.",
            "cancelled": "Deze bestelling is geannuleerd.",
        }.get(why, "Deze bestelling kan hier niet meer worden gewijzigd. Neem contact met ons op.")
        assert notice(answer.text) == expected
    assert shop.get(order["id"]) == before
    assert shop.level(shirt["S"], amsterdam)["available"] == 5 and edits_kept(deck) == 0


def test_a_price_changed_since_the_review_is_reviewed_again(
    deck: Orderdeck, api: Api, shop: Shop, shirt: dict[str, int], cap: int, editing: None
) -> None:
    order = place(shop, shirt, cap)
    m_line = line_id(order, shirt["M"])
    reviewed = review(api, order, {f"quantity_{m_line}": "1"})
    fields = hidden_fields(reviewed) | {"reviewed_total": "35.01"}
    refused = api.client.post(path(order) + "/edit", data=fields)
    assert refused.status_code == 422
    assert (
        notice(refused.text) == "Your order or a price changed since you reviewed your change. Please review it again."
    )
    # The choice is kept in the form, and nothing was changed.
    assert re.search(rf'name="quantity_{m_line}">.*?<option value="1" selected>', refused.text, re.S)
    assert shop.get(order["id"])["line_items"] == order["line_items"] and edits_kept(deck) == 0
    assert outbox_rows(deck, "staff_alert") == []


def test_unreadable_or_unchanged_choices_are_refused_at_their_field(
    api: Api, shop: Shop, shirt: dict[str, int], cap: int, editing: None
) -> None:
    order = place(shop, shirt, cap, locale="de")
    m_line = line_id(order, shirt["M"])
    bad = review(api, order, {f"quantity_{m_line}": "zwei"}, status=422)
    assert field_error(bad, f"quantity_{m_line}") == "Wählen Sie, wie viele Sie möchten."
    same = review(api, order, {f"quantity_{m_line}": "2"}, status=422)
    assert notice(same) == "Ändern Sie zuerst eine Menge oder wählen Sie eine andere Option."
    other = review(api, order, {f"quantity_{m_line}": "2", f"variant_{m_line}": str(shirt["XL"])}, status=422)
    assert (
        field_error(other, f"variant_{m_line}")
        == "Diese Auswahl ist nicht mehr verfügbar. Bitte wählen Sie eine andere."
    )
    assert shop.get(order["id"])["line_items"] == order["line_items"]


def test_a_switch_keeps_the_discount_the_units_had(
    api: Api, shop: Shop, shirt: dict[str, int], cap: int, editing: None
) -> None:
    order = shop.order(
        [{"variant_id": shirt["M"], "quantity": 2}],
        transactions=SELL,
        discount_codes=[{"code": "TEN", "amount": "10.00", "type": "percentage"}],
    )
    assert Decimal(order["total_price"]) == Decimal("45.00")
    m_line = line_id(order, shirt["M"])
    reviewed = review(api, order, {f"quantity_{m_line}": "2", f"variant_{m_line}": str(shirt["S"])})
    assert text_of(reviewed).count("€45.00") == 2
    assert api.client.post(path(order) + "/edit", data=hidden_fields(reviewed)).status_code == 200
    after = shop.get(order["id"])
    assert Decimal(after["total_price"]) == Decimal("45.00") and after["financial_status"] == "paid"


@pytest.mark.parametrize(("currency", "rate"), [(None, None), ("USD", "1.37")])
def test_a_switch_costs_nothing_when_the_discount_does_not_split_evenly(
    api: Api, shop: Shop, shirt: dict[str, int], currency: str | None, rate: str | None, editing: None
) -> None:
    """3 shirts with 1.00 off the order (0.33⅓ a shirt) switched to S, in euros and in dollars:
    the switched units carry exactly the discount they leave behind (not 3 × 0.33), so the
    total stays and nothing is owed either way."""
    extra: dict[str, Any] = {"presentment_currency": currency, "exchange_rate": rate} if currency else {}
    order = shop.order(
        [{"variant_id": shirt["M"], "quantity": 3}],
        transactions=[{**SELL[0], **({"currency": currency} if currency else {})}],
        discount_codes=[{"code": "ONE", "amount": "1.00", "type": "fixed_amount"}],
        **extra,
    )
    m_line = line_id(order, shirt["M"])
    before = shop.get(order["id"])
    reviewed = review(api, order, {f"quantity_{m_line}": "3", f"variant_{m_line}": str(shirt["S"])})
    assert "would make your order cost more" not in text_of(reviewed)
    assert api.client.post(path(order) + "/edit", data=hidden_fields(reviewed)).status_code == 200
    after = shop.get(order["id"])
    assert after["total_price"] == before["total_price"]
    assert after["total_price_set"] == before["total_price_set"]
    assert Decimal(after["total_outstanding"]) == 0 and after["financial_status"] == "paid"


def test_a_confirmation_sent_twice_or_after_the_order_changed_makes_nothing_more(
    deck: Orderdeck, api: Api, shop: Shop, shirt: dict[str, int], cap: int, amsterdam: int, editing: None
) -> None:
    order = place(shop, shirt, cap)
    m_line, cap_line = line_id(order, shirt["M"]), line_id(order, cap)
    switched = hidden_fields(review(api, order, {f"quantity_{m_line}": "2", f"variant_{m_line}": str(shirt["S"])}))
    removed = hidden_fields(review(api, order, {f"quantity_{cap_line}": "0"}))
    assert api.client.post(path(order) + "/edit", data=switched, follow_redirects=False).status_code == 303
    changed = shop.get(order["id"])
    for again in (switched, removed):  # the same page sent twice; a review made before the first change
        answer = api.client.post(path(order) + "/edit", data=again)
        assert answer.status_code == 422
        assert notice(answer.text) == (
            "Your order or a price changed since you reviewed your change. Please review it again."
        )
    assert shop.get(order["id"]) == changed
    assert shop.level(shirt["S"], amsterdam)["available"] == 3
    assert [r.topic for r in outbox_rows(deck, "staff_alert")] == ["customer_edited"]


def test_an_item_shipped_while_the_page_was_open_is_refused_at_the_top(
    api: Api, shop: Shop, shirt: dict[str, int], cap: int, editing: None
) -> None:
    order = place(shop, shirt, cap)
    cap_line = line_id(order, cap)
    [fo] = shop.fulfillment_orders(order["id"])
    cap_fo_line = next(li["id"] for li in fo["line_items"] if li["line_item_id"] == cap_line)
    body = {
        "line_items_by_fulfillment_order": [
            {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": [{"id": cap_fo_line, "quantity": 1}]}
        ]
    }
    api.ok(api.post("/fulfillments.json", {"fulfillment": body}))
    refused = review(api, order, {f"quantity_{cap_line}": "0"}, status=422)
    assert notice(refused) == "This item is already on its way and can no longer be changed."
    assert f'name="quantity_{cap_line}"' not in refused  # the shirts are still offered, the cap is not


def test_amounts_are_in_the_customers_currency(
    api: Api, shop: Shop, shirt: dict[str, int], cap: int, editing: None
) -> None:
    order = shop.order(
        [{"variant_id": shirt["M"], "quantity": 2}, {"variant_id": cap, "quantity": 1}],
        transactions=SELL,
        presentment_currency="USD",
        exchange_rate="1.10",
    )
    reviewed = text_of(review(api, order, {f"quantity_{line_id(order, cap)}": "0"}))
    assert re.search(r"Total now\s+\$66.00\s+New total\s+\$55.00", reviewed)
    assert "After this change, we refund $11.00 to you." in reviewed
