"""Editing an order in the admin (issue 14): "Edit order" on the order page, the edit's page with
its changes and new totals, commit with a note and the customer told, then the next step for the
money. Each change goes through its form as staff send it; the REST API, the stock and the
timeline then show what happened. A refused change comes back on the page with the reason and
leaves the edit and the order as they were; staff without the permission, and forms without the
session's CSRF token, are refused."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox
from tests.conftest import AUTHORIZE, SELL, Api, Clock, Shop

from .conftest import AdminClient, make_staff


@pytest.fixture
def amsterdam(shop: Shop) -> int:
    return shop.location("Amsterdam")


@pytest.fixture
def mug(shop: Shop, amsterdam: int) -> int:
    return shop.product("MUG-1", price="12.50", stock={amsterdam: 50}, title="Delft mug")


@pytest.fixture
def cap(shop: Shop, amsterdam: int) -> int:
    return shop.product("CAP-1", price="20.00", stock={amsterdam: 10}, title="Cap")


@pytest.fixture
def scarf(shop: Shop, amsterdam: int) -> int:
    return shop.product("SCARF-1", price="30.00", stock={amsterdam: 3}, title="Wool scarf")


def words_of(page: Any) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.text)))


def line_of(order: dict[str, Any], variant: int) -> dict[str, Any]:
    return next(li for li in order["line_items"] if li["variant_id"] == variant)


def begin(owner: AdminClient, order_id: int) -> str:
    """Press "Edit order": the edit's page address."""
    answer = owner.post(f"/admin/orders/{order_id}/edits")
    assert answer.status_code == 303, answer.text
    where = answer.headers["location"]
    assert re.fullmatch(rf"/admin/orders/{order_id}/edits/\d+", where), where
    return str(where)


def staged(deck: Orderdeck, edit_url: str) -> list[Any]:
    with deck.unit_of_work(read_only=True) as uow:
        return list(uow.order_edits.get(int(edit_url.rsplit("/", 1)[1]), for_update=False).changes)


def summary(page: Any) -> str:
    found = re.search(r'<section class="card edit-summary".*?</section>', page.text, re.S)
    assert found, page.text[:3000]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", found.group(0))))


def test_staff_add_a_product_drop_an_item_add_shipping_and_commit_with_a_note_and_the_customer_told(
    owner: AdminClient, deck: Orderdeck, shop: Shop, mug: int, cap: int, scarf: int, amsterdam: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}, {"variant_id": cap, "quantity": 1}], transactions=SELL)
    assert order["total_price"] == "45.00" and order["financial_status"] == "paid"
    page = owner.page(f"/admin/orders/{order['id']}")
    assert "Edit order" in words_of(page)

    edit = begin(owner, order["id"])
    page = owner.page(edit)
    said = words_of(page)
    assert "Edit order #1001" in said and "Nothing changes on the order until you commit" in said
    assert "Delft mug" in said and "Cap" in said
    assert "New total €45.00" in summary(page) and "Nothing to collect or refund" in summary(page)

    # The catalogue search narrows the product list to what matches.
    found = owner.page(f"{edit}?find=scarf")
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', found.text)
    assert [(int(v), html.unescape(t)) for v, t in options] == [(scarf, "Wool scarf · SKU SCARF-1 · €30.00")]

    assert owner.flash(owner.post(f"{edit}/variants", {"variant_id": str(scarf), "quantity": "1"})) == (
        "success: Added 1 × Wool scarf."
    )
    cap_line = line_of(order, cap)["id"]
    assert owner.flash(owner.post(f"{edit}/lines/{cap_line}/quantity", {"quantity": "0", "restock": "1"})) == (
        "success: Cap: removed."
    )
    assert owner.flash(owner.post(f"{edit}/shipping-lines", {"title": "DHL Parcel", "price": "4.95"})) == (
        "success: Shipping DHL Parcel added."
    )
    page = owner.page(edit)
    totals = summary(page)
    # 25.00 (mugs) + 30.00 (scarf) + 4.95 shipping; 45.00 was paid.
    assert "Subtotal €55.00" in totals and "Shipping €4.95" in totals and "Tax €0.00" in totals
    assert "New total €59.95" in totals and "Total before €45.00" in totals and "Paid €45.00" in totals
    assert "€14.95 to collect" in totals
    assert re.search(r'<tr id="line-\d+" class="removed">\s*<td><span class="item-name">Cap</span>', page.text)
    assert "Wool scarf Added" in words_of(page)
    # Staged, not applied: the order, its stock and its total are as they were.
    assert shop.get(order["id"])["total_price"] == "45.00"
    assert shop.level(scarf, amsterdam)["available"] == 3 and shop.level(cap, amsterdam)["available"] == 9

    done = owner.post(
        f"{edit}/commit", {"staff_note": "Customer phoned: scarf instead of the cap", "notify_customer": "1"}
    )
    assert owner.flash(done) == ("success: Order #1001 was edited. €14.95 is left to collect. The customer is told.")
    after = shop.get(order["id"])
    assert after["total_price"] == "59.95" and after["total_outstanding"] == "14.95"
    assert after["financial_status"] == "partially_paid"
    assert line_of(after, cap)["current_quantity"] == 0 and line_of(after, scarf)["quantity"] == 1
    assert [s["title"] for s in after["shipping_lines"]] == ["DHL Parcel"]
    assert shop.level(scarf, amsterdam)["available"] == 2 and shop.level(cap, amsterdam)["available"] == 10

    # The same page now says what the edit did and offers the next step: nothing was authorized,
    # so the money is asked for (payment request) or recorded (mark as paid).
    next_page = owner.page(edit)
    said = words_of(next_page)
    assert "Added 1 × Wool scarf; removed 1 × Cap; shipping DHL Parcel 4.95 EUR." in said
    assert "Reason: Customer phoned: scarf instead of the cap" in said
    assert "the customer was sent the “Order edited” e-mail" in said
    assert "€14.95 to collect" in said
    assert f'action="/admin/orders/{order["id"]}/resend"' in next_page.text and "Send a payment request" in said
    assert "Mark as paid" in said and "Capture" not in said

    # The order page: the timeline names the staff member; the removed cap is struck, not to ship.
    order_page = owner.page(f"/admin/orders/{order['id']}")
    said = words_of(order_page)
    assert re.search(
        r"Added 1 × Wool scarf; removed 1 × Cap; shipping DHL Parcel 4\.95 EUR\. 14\.95 EUR is left to "
        r"collect\. Note: Customer phoned: scarf instead of the cap by Olivia Owner",
        said,
    ), said
    assert "1 × Cap — removed by an edit; not to ship." in said
    assert "<s>1 × Cap</s>" in order_page.text
    fo_tables = re.findall(r'<article class="fo-group.*?</article>', order_page.text, re.S)
    assert fo_tables and all(">Cap<" not in t for t in fo_tables)
    assert any("Wool scarf" in t for t in fo_tables)
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(outbox).where(outbox.c.order_id == order["id"])).all()
    assert any(r.kind == "notification" and "order_edited" in (r.topic or "") + str(r.payload) for r in rows)
    assert any(r.kind == "webhook" and r.topic == "orders/edited" for r in rows)

    # The refund form says the cap left the order by the edit (it was never refunded).
    assert re.search(r"Cap .{0,80}Removed by an edit", words_of(owner.page(f"/admin/orders/{order['id']}/refund")))

    # The next payment request is one click: the invoice e-mail is queued.
    flash = owner.flash(owner.post(f"/admin/orders/{order['id']}/resend", {"template": "order_invoice"}))
    assert flash.startswith("success: “Order invoice” is on its way to the customer"), flash


def test_a_discount_a_custom_item_and_changed_shipping_show_in_the_totals(
    owner: AdminClient, shop: Shop, mug: int
) -> None:
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        shipping_lines=[{"title": "Standard", "price": "5.00"}],
        transactions=SELL,
    )
    mug_line = line_of(order, mug)["id"]
    edit = begin(owner, order["id"])
    flash = owner.flash(
        owner.post(
            f"{edit}/lines/{mug_line}/discount",
            {"value_type": "percentage", "value": "10", "description": "Loyal customer"},
        )
    )
    assert flash == "success: Discount on Delft mug saved."
    owner.post(f"{edit}/custom-items", {"title": "Gift wrap", "price": "3.00", "quantity": "1", "taxable": "1"})
    shipping_id = order["shipping_lines"][0]["id"]
    owner.post(f"{edit}/shipping-lines/{shipping_id}", {"title": "Express", "price": "9.95"})
    page = owner.page(edit)
    said = words_of(page)
    assert "Discount: 10 % (Loyal customer)" in said
    assert "Gift wrap Added" in said and "Custom item" in said
    assert "Express · €9.95" in said and "Was Standard €5.00" in said
    # 25.00 − 2.50 + 3.00 + 9.95 = 35.45; 30.00 was paid.
    totals = summary(page)
    assert "Subtotal €25.50" in totals and "Shipping €9.95" in totals and "New total €35.45" in totals
    assert "€5.45 to collect" in totals

    # Changing the discount replaces it; removing it takes it off again.
    owner.post(f"{edit}/lines/{mug_line}/discount", {"value_type": "fixed_amount", "value": "1.00"})
    assert "Discount: €1.00 off each" in words_of(owner.page(edit))
    discount_id = re.search(r"/discounts/(\d+)/remove", owner.page(edit).text)
    assert discount_id
    assert owner.flash(owner.post(f"{edit}/discounts/{discount_id.group(1)}/remove")) == "success: Discount removed."
    assert "New total €37.95" in summary(owner.page(edit))
    # Removing a line takes its staged discount with it.
    gift_wrap = re.search(
        r'<tr id="line-(\d+)" class="added">\s*<td><span class="item-name">Gift wrap', owner.page(edit).text
    )
    assert gift_wrap
    owner.post(f"{edit}/lines/{gift_wrap.group(1)}/discount", {"value_type": "percentage", "value": "50"})
    assert "New total €36.45" in summary(owner.page(edit))
    assert owner.flash(owner.post(f"{edit}/lines/{gift_wrap.group(1)}/quantity", {"quantity": "0"})) == (
        "success: Gift wrap: removed."
    )
    assert "New total €34.95" in summary(owner.page(edit))
    owner.post(f"{edit}/custom-items", {"title": "Gift wrap", "price": "3.00", "quantity": "1", "taxable": "1"})
    owner.post(f"{edit}/commit", {})
    after = shop.get(order["id"])
    assert after["total_price"] == "37.95"
    assert sorted(li["title"] for li in after["line_items"]) == ["Delft mug", "Gift wrap"]
    assert [s["title"] for s in after["shipping_lines"]] == ["Express"]


def test_what_an_open_authorization_covers_is_captured_next(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    assert order["financial_status"] == "authorized"
    edit = begin(owner, order["id"])
    owner.post(f"{edit}/lines/{line_of(order, mug)['id']}/quantity", {"quantity": "1", "restock": "1"})
    owner.post(f"{edit}/shipping-lines", {"title": "PostNL", "price": "4.95"})
    totals = summary(owner.page(edit))
    assert "€17.45 to collect" in totals and "An open authorization of €25.00 covers it" in totals
    owner.post(f"{edit}/commit", {})
    next_page = owner.page(edit)
    said = words_of(next_page)
    assert re.search(r"€17\.45 to collect ?: the open authorization \(bogus\) covers it\.", said), said
    assert re.search(r'name="amount" type="text" inputmode="decimal" value="17.45"', next_page.text)
    auth = re.search(r'name="authorization_id" value="(\d+)"', next_page.text)
    assert auth
    captured = owner.post(
        f"/admin/orders/{order['id']}/capture", {"authorization_id": auth.group(1), "amount": "17.45"}
    )
    assert owner.flash(captured) == "success: Captured €17.45."
    after = shop.get(order["id"])
    assert after["financial_status"] == "paid" and after["total_outstanding"] == "0.00"
    assert "Nothing to collect or refund" in words_of(owner.page(edit))


def test_money_owed_back_opens_the_refund_form_with_the_suggestion_and_nothing_is_refunded_by_itself(
    owner: AdminClient, shop: Shop, mug: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    edit = begin(owner, order["id"])
    owner.post(f"{edit}/lines/{line_of(order, mug)['id']}/quantity", {"quantity": "1", "restock": "1"})
    assert "€12.50 to refund" in summary(owner.page(edit))
    assert owner.flash(owner.post(f"{edit}/commit", {})) == "success: Order #1001 was edited. €12.50 can be refunded."
    assert shop.get(order["id"])["financial_status"] == "paid"  # the commit refunded nothing
    said = words_of(owner.page(edit))
    assert "€12.50 to refund" in said and "Refund €12.50…" in said
    form = owner.page(f"{edit}/refund")
    assert re.search(r'id="f-amount" name="amount" type="text" inputmode="decimal" value="12.50"', form.text)
    assert "Order edit: Removed 1 × Delft mug" in form.text
    refunded = owner.post(f"/admin/orders/{order['id']}/refund", {"amount": "12.50", "step": "refund", "notify": "1"})
    assert owner.flash(refunded) == "success: Refunded €12.50."
    after = shop.get(order["id"])
    assert after["financial_status"] == "partially_refunded" and after["total_price"] == "12.50"


def _fulfil_two(shop: Shop, order_id: int) -> None:
    fo = shop.fulfillment_orders(order_id)[0]
    one = [{"id": fo["line_items"][0]["id"], "quantity": 2}]
    shop.api.ok(
        shop.api.post(
            "/fulfillments.json",
            {
                "fulfillment": {
                    "line_items_by_fulfillment_order": [
                        {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": one}
                    ]
                }
            },
        )
    )


@pytest.mark.parametrize(
    ("path", "form", "message"),
    [
        (
            "lines/{mug_line}/quantity",
            {"quantity": "1"},
            "Quantity: Delft mug: the quantity can't go below 2, the units already fulfilled or refunded.",
        ),
        ("lines/{mug_line}/quantity", {"quantity": "two"}, "Quantity: Enter a whole number of items"),
        ("variants", {"variant_id": "{mug}", "quantity": "1"}, "Product: Delft mug is already on the order"),
        ("variants", {"variant_id": "{scarf}", "quantity": "4"}, "Not enough stock of Wool scarf"),
        ("variants", {"variant_id": "", "quantity": "1"}, "Product: Choose a product to add"),
        ("custom-items", {"title": " ", "price": "3.00", "quantity": "1"}, "Title: Can't be blank"),
        ("custom-items", {"title": "Engraving", "price": "-1", "quantity": "1"}, "Price: Must not be negative"),
        ("shipping-lines", {"title": "DHL", "price": "abc"}, "Price: 'abc' is not an amount"),
        (
            "lines/{mug_line}/discount",
            {"value_type": "percentage", "value": "150"},
            "Value: A percentage can't exceed 100",
        ),
        (
            "lines/{mug_line}/discount",
            {"value_type": "fixed_amount", "value": "20.00"},
            "Value: The discount on Delft mug (60.00 EUR) is more than its price (37.50 EUR).",
        ),
        ("commit", {"staff_note": "Nothing yet"}, "This edit changes nothing yet: stage a change before committing"),
    ],
)
def test_a_refused_change_shows_its_reason_on_the_page_and_changes_nothing(
    owner: AdminClient,
    deck: Orderdeck,
    shop: Shop,
    mug: int,
    scarf: int,
    amsterdam: int,
    path: str,
    form: dict[str, str],
    message: str,
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=SELL)
    _fulfil_two(shop, order["id"])
    mug_line = line_of(order, mug)["id"]
    edit = begin(owner, order["id"])
    ids = {"mug_line": mug_line, "mug": mug, "scarf": scarf}
    answer = owner.post(f"{edit}/{path.format(**ids)}", {k: v.format(**ids) for k, v in form.items()})
    assert answer.status_code == 422, answer.text[:2000]
    said = words_of(answer)
    assert message in said, said
    assert "Nothing was changed." in said
    assert re.search(r'<div class="flash flash-error" role="alert">', answer.text)
    # The box the reason is about is marked, when the reason is about one.
    boxes = {"Price": "price", "Title": "title", "Quantity": "quantity", "Value": "value", "Product": "variant_id"}
    box = boxes.get(message.split(":")[0])
    if box:
        assert re.search(rf'name="{box}"[^>]*aria-invalid="true"', answer.text), answer.text
        # What was typed comes back in the form it was typed in.
    if path == "custom-items" and form["title"].strip():
        assert 'value="Engraving"' in answer.text and 'value="-1"' in answer.text
    assert staged(deck, edit) == []
    after = shop.get(order["id"])
    assert after["total_price"] == order["total_price"] and len(after["line_items"]) == 1
    assert shop.level(scarf, amsterdam)["available"] == 3


def test_discarding_leaves_the_order_as_it_was_and_the_next_edit_starts_afresh(
    owner: AdminClient, deck: Orderdeck, shop: Shop, mug: int, cap: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    edit = begin(owner, order["id"])
    owner.post(f"{edit}/variants", {"variant_id": str(cap), "quantity": "1"})
    # Pressing "Edit order" again (or coming back from the order page) resumes the open edit.
    assert begin(owner, order["id"]) == edit
    assert f'href="{edit}">Continue editing' in owner.page(f"/admin/orders/{order['id']}").text
    flash = owner.flash(owner.post(f"{edit}/discard"))
    assert flash == "success: The edit was discarded; the order is as it was."
    assert "This edit was discarded; nothing of it was applied to the order." in words_of(owner.page(edit))
    refused = owner.post(f"{edit}/variants", {"variant_id": str(cap), "quantity": "1"})
    assert refused.status_code == 422 and "This edit was already abandoned: begin a new edit" in words_of(refused)
    after = shop.get(order["id"])
    assert [li["variant_id"] for li in after["line_items"]] == [mug] and after["total_price"] == "12.50"
    fresh = begin(owner, order["id"])
    assert fresh != edit and staged(deck, fresh) == []


def test_an_edit_left_open_too_long_expires(owner: AdminClient, shop: Shop, mug: int, clock: Clock) -> None:
    shop.settings(order_edit_hours=2)
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    edit = begin(owner, order["id"])
    owner.post(f"{edit}/shipping-lines", {"title": "DHL", "price": "4.95"})
    clock.advance(hours=3)
    assert "This edit expired before it was committed" in words_of(owner.page(edit))
    refused = owner.post(f"{edit}/commit", {})
    assert refused.status_code == 422 and "This edit expired" in words_of(refused)
    assert shop.get(order["id"])["shipping_lines"] == []


def test_an_edit_after_the_order_changed_must_begin_again(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    edit = begin(owner, order["id"])
    shop.fulfil(order["id"])
    page = words_of(owner.page(edit))
    assert "This edit can't go on" in page and "changed since this edit began" in page
    refused = owner.post(f"{edit}/shipping-lines", {"title": "DHL", "price": "4.95"})
    assert refused.status_code == 422 and "changed since this edit began" in words_of(refused)


def test_cancelled_and_archived_orders_say_why_they_cannot_be_edited(
    owner: AdminClient, api: Api, shop: Shop, mug: int
) -> None:
    cancelled = shop.order([{"variant_id": mug, "quantity": 1}])
    api.ok(api.post(f"/orders/{cancelled['id']}/cancel.json", {}))
    page = owner.page(f"/admin/orders/{cancelled['id']}")
    assert "Order #1001 is cancelled: cancelled orders can't be edited." in words_of(page)
    assert f'action="/admin/orders/{cancelled["id"]}/edits"' not in page.text
    refused = owner.post(f"/admin/orders/{cancelled['id']}/edits")
    assert html.unescape(owner.flash(refused)) == ("error: Order #1001 is cancelled: cancelled orders can't be edited")

    archived = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    api.ok(api.post(f"/orders/{archived['id']}/close.json", {}))
    said = words_of(owner.page(f"/admin/orders/{archived['id']}"))
    assert "Order #1002 is archived: unarchive it first to edit it." in said


def test_editing_needs_the_manage_orders_permission_and_money_steps_their_own(
    deck: Orderdeck, admin_app: TestClient, owner: AdminClient, shop: Shop, mug: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    edit = begin(owner, order["id"])
    owner.post(f"{edit}/lines/{line_of(order, mug)['id']}/quantity", {"quantity": "1", "restock": "1"})

    make_staff(deck, "viewer@shop.test", permissions=("view_orders",))
    viewer = AdminClient(admin_app)
    viewer.sign_in("viewer@shop.test")
    page = viewer.page(f"/admin/orders/{order['id']}")
    assert "Edit order" not in words_of(page) and "Continue editing" not in words_of(page)
    assert viewer.post(f"/admin/orders/{order['id']}/edits").status_code == 403
    assert viewer.page(edit, expect=403)
    assert viewer.post(f"{edit}/commit", {}).status_code == 403
    viewer.client.cookies.clear()

    make_staff(deck, "packer@shop.test", permissions=("view_orders", "manage_orders"))
    packer = AdminClient(admin_app)
    packer.sign_in("packer@shop.test")
    assert packer.flash(packer.post(f"{edit}/commit", {})).startswith("success: Order #1001 was edited.")
    said = words_of(packer.page(edit))
    assert "€12.50 to refund" in said and "Refunding needs the “take and refund payments” permission." in said
    assert packer.page(f"{edit}/refund", expect=403)
    assert shop.get(order["id"])["financial_status"] == "paid"


def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    owner: AdminClient, deck: Orderdeck, shop: Shop, mug: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    edit = begin(owner, order["id"])
    forged = owner.client.post(f"{edit}/shipping-lines", data={"title": "DHL", "price": "4.95"}, follow_redirects=False)
    assert forged.status_code == 403 and "nothing was changed" in forged.text
    wrong = owner.client.post(
        f"/admin/orders/{order['id']}/edits", data={"csrf_token": "not-the-token"}, follow_redirects=False
    )
    assert wrong.status_code == 403
    assert staged(deck, edit) == []


def test_an_edit_belongs_to_its_order(owner: AdminClient, shop: Shop, mug: int) -> None:
    first = shop.order([{"variant_id": mug, "quantity": 1}])
    second = shop.order([{"variant_id": mug, "quantity": 1}])
    edit_id = begin(owner, first["id"]).rsplit("/", 1)[1]
    owner.page(f"/admin/orders/{second['id']}/edits/{edit_id}", expect=404)
    assert owner.post(f"/admin/orders/{second['id']}/edits/{edit_id}/commit", {}).status_code == 404


def test_the_order_edit_settings_are_saved_from_the_shop_settings_page(owner: AdminClient, api: Api) -> None:
    page = owner.page("/admin/settings/shop")
    said = words_of(page)
    assert "Order editing" in said and "An edit left open expires after (hours)" in said
    assert re.search(r'name="order_edit_hours" type="number" value="24"', page.text)
    base = {
        "capture_mode": "checkout",
        "authorization_period_days": "7",
        "stuck_after_days": "5",
        "retention_days": "30",
        "self_service_window_minutes": "150",
    }
    saved = owner.post(
        "/admin/settings/shop", {**base, "order_edit_hours": "48", "customer_edits_may_raise_total": "1"}
    )
    assert owner.flash(saved) == "success: Shop settings saved."
    settings = api.ok(api.get("/shop.json"))["shop"]["settings"]
    assert settings["order_edit_hours"] == 48
    assert settings["customer_edits"] is False and settings["customer_edits_may_raise_total"] is True

    for typed, message in (
        ("0", "Must be at least 1"),
        ("721", "Must be at most 720"),
        ("soon", "Enter a whole number"),
    ):
        refused = owner.post("/admin/settings/shop", {**base, "order_edit_hours": typed, "customer_edits": "1"})
        assert refused.status_code == 422
        error = re.search(r'<p class="field-error" id="e-order_edit_hours">([^<]+)</p>', refused.text)
        assert error and error.group(1).startswith(message), refused.text[:3000]
        assert re.search(rf'name="order_edit_hours" type="number" value="{typed}"', refused.text)
        assert api.ok(api.get("/shop.json"))["shop"]["settings"] == settings


def test_staged_amounts_are_in_the_customers_currency(owner: AdminClient, shop: Shop, mug: int) -> None:
    """A shipping price typed on the page is what the customer pays (the edit's services take
    presentment amounts), shown back the same."""
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    edit = begin(owner, order["id"])
    owner.post(f"{edit}/shipping-lines", {"title": "DHL", "price": "4,95"})
    assert "DHL · €4.95" in words_of(owner.page(edit))
    assert Decimal(shop.get(order["id"])["total_price"]) == Decimal("12.50")


def test_removing_a_line_takes_its_staged_discount_with_it(owner: AdminClient, shop: Shop, mug: int, cap: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}, {"variant_id": cap, "quantity": 1}], transactions=SELL)
    cap_line = line_of(order, cap)["id"]
    edit = begin(owner, order["id"])
    owner.post(f"{edit}/lines/{cap_line}/discount", {"value_type": "percentage", "value": "10"})
    assert "New total €30.50" in summary(owner.page(edit))
    assert owner.flash(owner.post(f"{edit}/lines/{cap_line}/quantity", {"quantity": "0", "restock": "1"})) == (
        "success: Cap: removed."
    )
    assert "New total €12.50" in summary(owner.page(edit))
    owner.post(f"{edit}/commit", {})
    after = shop.get(order["id"])
    assert after["total_price"] == "12.50" and after["discount_applications"] == []


def test_an_added_product_sold_out_meanwhile_is_said_and_can_be_taken_out(
    owner: AdminClient, shop: Shop, mug: int, scarf: int, amsterdam: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    edit = begin(owner, order["id"])
    owner.post(f"{edit}/variants", {"variant_id": str(scarf), "quantity": "3"})
    shop.order([{"variant_id": scarf, "quantity": 1}])  # another customer buys one of the three
    said = words_of(owner.page(edit))
    assert "This edit can't go on" in said
    assert "Not enough stock of Wool scarf (SKU SCARF-1): 3 ordered, 2 available at any single location" in said
    refused = owner.post(f"{edit}/commit", {})
    assert refused.status_code == 422 and "Not enough stock of Wool scarf" in words_of(refused)
    assert shop.level(scarf, amsterdam)["available"] == 2
    staged_id = re.search(r'/lines/(\d+)/quantity" class="inline">.*?Take out Wool scarf', owner.page(edit).text, re.S)
    assert staged_id
    assert owner.flash(owner.post(f"{edit}/lines/{staged_id.group(1)}/quantity", {"quantity": "0"})) == (
        "success: Wool scarf: removed."
    )
    assert "New total €12.50" in summary(owner.page(edit))


def test_payment_instructions_are_saved_from_the_shop_settings_page(owner: AdminClient, api: Api) -> None:
    base = {
        "capture_mode": "checkout",
        "authorization_period_days": "7",
        "stuck_after_days": "5",
        "retention_days": "30",
        "self_service_window_minutes": "150",
        "order_edit_hours": "24",
    }
    saved = owner.post("/admin/settings/shop", {**base, "payment_instructions": "  IBAN NL91 ABNA 0417 1643 00  "})
    assert owner.flash(saved) == "success: Shop settings saved."
    assert api.ok(api.get("/shop.json"))["shop"]["settings"]["payment_instructions"] == "IBAN NL91 ABNA 0417 1643 00"
    assert "IBAN NL91 ABNA 0417 1643 00</textarea>" in owner.page("/admin/settings/shop").text
    refused = owner.post("/admin/settings/shop", {**base, "payment_instructions": "x" * 2001})
    assert refused.status_code == 422
    assert api.ok(api.get("/shop.json"))["shop"]["settings"]["payment_instructions"] == "IBAN NL91 ABNA 0417 1643 00"


def test_after_an_edit_lowered_the_total_capture_is_prefilled_with_what_the_order_needs(
    owner: AdminClient, shop: Shop, mug: int
) -> None:
    """An authorization of 25.00 for two mugs; an edit drops one: capturing all 25.00 would
    charge the customer for a mug they no longer get, so the form offers 12.50."""
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=AUTHORIZE)
    edit = begin(owner, order["id"])
    owner.post(f"{edit}/lines/{order['line_items'][0]['id']}/quantity", {"quantity": "1", "restock": "1"})
    owner.post(f"{edit}/commit", {})
    page = owner.page(f"/admin/orders/{order['id']}")
    field = re.search(r'<input id="capture-\d+" name="amount"[^>]*value="([^"]+)"', page.text)
    assert field and field.group(1) == "12.50", page.text[:2000]
    assert "Up to €25.00" in page.text
