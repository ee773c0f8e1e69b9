"""An order's money and end of life in the admin: the payment summary in both currencies, capture,
void, refund (with restock), mark as paid, cancel (refund, restock, note, notify), archive,
unarchive and delete. Each action runs through its form as staff would send it; the REST API
then shows the change and the timeline names the staff member. A refused action says the
domain's reason and changes nothing; staff without the permission get no form and a 403."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox
from tests.conftest import AUTHORIZE, SELL, Api, Shop

from .conftest import PASSWORD, AdminClient, make_staff


@pytest.fixture
def amsterdam(shop: Shop) -> int:
    return shop.location("Amsterdam")


@pytest.fixture
def mug(shop: Shop, amsterdam: int) -> int:
    return shop.product("MUG-1", price="12.50", stock={amsterdam: 20}, title="Delft mug")


def words_of(page: Any) -> str:
    """The page's words without markup, as a person reads them."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.text)))


def url(order: dict[str, Any], action: str = "") -> str:
    return f"/admin/orders/{order['id']}" + (f"/{action}" if action else "")


def events(api: Api, order_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order_id}/events.json", params={"limit": 250}))["events"]  # type: ignore[no-any-return]


def staff_session(deck: Orderdeck, admin_app: TestClient, email: str, name: str, *permissions: str) -> AdminClient:
    make_staff(deck, email, permissions=permissions, name=name)
    session = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    assert session.sign_in(email, PASSWORD).status_code == 303
    return session


def outbox_topics(deck: Orderdeck, order_id: int, kind: str) -> list[str]:
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(outbox.c.topic).where(outbox.c.order_id == order_id, outbox.c.kind == kind))
        return [r.topic for r in rows]


# ---- the summary ---------------------------------------------------------------------------
def test_summary_and_transactions_in_the_shop_and_the_customers_currency(
    owner: AdminClient, shop: Shop, mug: int
) -> None:
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        presentment_currency="USD",
        exchange_rate="1.10",
        shipping_lines=[{"title": "UPS", "price": "5.00"}],
        transactions=SELL,
    )
    words = words_of(owner.page(url(order)))
    assert re.search(r"Subtotal €25\.00 \$27\.50", words), words
    assert re.search(r"Shipping €5\.00 \$5\.50", words)
    assert re.search(r"Total €30\.00 \$33\.00", words)
    assert re.search(r"Paid €30\.00 \$33\.00", words)
    assert re.search(r"Outstanding €0\.00 \$0\.00", words)
    assert "1 EUR = 1.10 USD" in words
    assert re.search(r"Sale Success bogus Bogus •••• 1 \$33\.00 €30\.00", words), words


# ---- capture and void ----------------------------------------------------------------------
def test_capture_part_then_the_rest(owner: AdminClient, api: Api, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=AUTHORIZE)
    page = owner.page(url(order))
    assert 'name="amount" type="text" inputmode="decimal" value="37.50"' in page.text  # the capturable rest
    authorization = re.search(r'name="authorization_id" value="(\d+)"', page.text)
    assert authorization

    said = owner.flash(
        owner.post(url(order, "capture"), {"authorization_id": authorization.group(1), "amount": "10.00"})
    )
    assert said == "success: Captured €10.00."
    assert shop.get(order["id"])["financial_status"] == "partially_paid"
    assert events(api, order["id"])[-1]["author"] == "Olivia Owner"
    assert 'value="27.50"' in owner.page(url(order)).text

    said = owner.flash(owner.post(url(order, "capture"), {"authorization_id": authorization.group(1), "amount": ""}))
    assert said == "success: Captured €27.50."
    assert shop.get(order["id"])["financial_status"] == "paid"
    words = words_of(owner.page(url(order)))
    assert "Capture payment The order has no authorization left to capture or void" in words


def test_capturing_more_than_authorized_is_refused(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    said = owner.flash(owner.post(url(order, "capture"), {"amount": "99.00"}))
    assert said == "error: Amount: Cannot capture 99.00 EUR: only 12.50 EUR is still authorized"
    assert shop.get(order["id"])["financial_status"] == "authorized"


def test_void_the_authorization(owner: AdminClient, api: Api, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    said = owner.flash(owner.post(url(order, "void"), {}))
    assert said == "success: The authorization of €12.50 was voided; the customer is not charged."
    assert shop.get(order["id"])["financial_status"] == "voided"
    kinds = [t["kind"] for t in api.ok(api.get(f"/orders/{order['id']}/transactions.json"))["transactions"]]
    assert kinds == ["authorization", "void"]
    again = owner.flash(owner.post(url(order, "void"), {}))
    assert again == "error: The order has no authorization left to capture or void"


# ---- mark as paid --------------------------------------------------------------------------
def test_mark_as_paid(owner: AdminClient, api: Api, shop: Shop, mug: int) -> None:
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        transactions=[{"kind": "sale", "gateway": "bank_transfer", "status": "pending"}],
    )
    assert shop.get(order["id"])["financial_status"] == "pending"
    assert "Mark as paid" in owner.page(url(order)).text
    said = owner.flash(owner.post(url(order, "mark-paid")))
    assert said == "success: Marked as paid: the outstanding amount was recorded as received."
    assert shop.get(order["id"])["financial_status"] == "paid"
    assert events(api, order["id"])[-1]["author"] == "Olivia Owner"
    refused = owner.flash(owner.post(url(order, "mark-paid")))
    assert refused == "error: The order is already paid in full"


# ---- refund --------------------------------------------------------------------------------
def test_refund_with_restock_puts_stock_back(
    owner: AdminClient, api: Api, shop: Shop, mug: int, amsterdam: int, deck: Orderdeck
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=SELL)
    line = order["line_items"][0]["id"]
    before = shop.level(mug, amsterdam)

    form = owner.page(url(order, "refund"))
    assert "Quantity of Delft mug to refund" in form.text
    calculated = owner.post(url(order, "refund"), {"step": "calculate", f"qty_{line}": "1", f"restock_{line}": "1"})
    assert calculated.status_code == 200
    assert re.search(r"Suggested refund €12\.50", words_of(calculated))
    assert shop.get(order["id"])["refunds"] == []  # working it out changes nothing

    said = owner.flash(
        owner.post(
            url(order, "refund"),
            {
                "step": "refund",
                f"qty_{line}": "1",
                f"restock_{line}": "1",
                "amount": "",
                "note": "Chipped",
                "notify": "1",
            },
        )
    )
    assert said == "success: Refunded €12.50 for 1 item."
    after = shop.get(order["id"])
    assert after["financial_status"] == "partially_refunded"
    assert after["refunds"][0]["refund_line_items"][0]["restock_type"] == "cancel"
    assert shop.level(mug, amsterdam)["available"] == before["available"] + 1
    refunded = next(e for e in events(api, order["id"]) if e["verb"] == "refund_created")
    assert refunded["author"] == "Olivia Owner" and "Chipped" in refunded["description"]
    assert "refund" in outbox_topics(deck, order["id"], "notification")


def test_refund_of_shipped_items_returns_them_to_stock(
    owner: AdminClient, shop: Shop, mug: int, amsterdam: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    shop.fulfil(order["id"])
    line = order["line_items"][0]["id"]
    before = shop.level(mug, amsterdam)
    said = owner.flash(
        owner.post(
            url(order, "refund"), {"step": "refund", f"qty_{line}": "2", f"restock_{line}": "1", "amount": "20.00"}
        )
    )
    assert said == "success: Refunded €20.00 for 2 items."
    after = shop.get(order["id"])
    assert after["refunds"][0]["refund_line_items"][0]["restock_type"] == "return"
    assert after["financial_status"] == "partially_refunded"
    assert shop.level(mug, amsterdam)["available"] == before["available"] + 2


def test_refund_shipping_in_the_customers_currency(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        presentment_currency="USD",
        exchange_rate="1.10",
        shipping_lines=[{"title": "UPS", "price": "5.00"}],
        transactions=SELL,
    )
    page = owner.page(url(order, "refund"))
    assert "Shipping to refund (EUR)" in page.text and "Amount to refund (USD)" in page.text
    too_much = owner.post(url(order, "refund"), {"step": "refund", "shipping": "6.00"})
    assert too_much.status_code == 422 and "Shipping: Cannot refund 6.00 of shipping: only 5.00 is left" in words_of(
        too_much
    )
    said = owner.flash(owner.post(url(order, "refund"), {"step": "refund", "shipping": "5.00"}))
    assert said == "success: Refunded $5.50."
    after = shop.get(order["id"])
    assert after["refunds"][0]["transactions"][0]["amount"] == "5.50"
    assert after["refunds"][0]["transactions"][0]["currency"] == "USD"
    assert "Shipping to refund" not in owner.page(url(order, "refund")).text  # nothing left of it


def test_refunding_more_than_was_paid_comes_back_with_the_reason(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    line = order["line_items"][0]["id"]
    answer = owner.post(url(order, "refund"), {"step": "refund", f"qty_{line}": "1", "amount": "50.00", "note": "Oops"})
    assert answer.status_code == 422
    assert "Cannot refund 50.00 EUR: only 12.50 EUR was paid and not yet refunded" in html.unescape(answer.text)
    assert 'value="50.00"' in answer.text and ">Oops</textarea>" in answer.text  # the input is kept
    assert shop.get(order["id"])["refunds"] == []
    bad = owner.post(url(order, "refund"), {"step": "refund", f"qty_{line}": "5"})
    assert bad.status_code == 422 and "Enter between 0 and 1 for Delft mug" in html.unescape(bad.text)


def test_refund_is_not_offered_before_anything_is_paid(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    words = words_of(owner.page(url(order)))
    assert "Refund Nothing has been paid on this order, so nothing can be refunded" in words
    assert f'href="{url(order, "refund")}"' not in owner.page(url(order)).text


# ---- cancel --------------------------------------------------------------------------------
def test_cancel_with_restock_refund_note_and_notification(
    owner: AdminClient, api: Api, shop: Shop, mug: int, amsterdam: int, deck: Orderdeck
) -> None:
    before = shop.level(mug, amsterdam)["available"]
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=SELL)
    line = order["line_items"][0]["id"]
    page = owner.page(url(order))
    assert 'id="cancel-dialog"' in page.text and "Reason for cancelling" in page.text

    said = owner.flash(
        owner.post(
            url(order, "cancel"),
            {
                "reason": "inventory",
                "refund": "1",
                "amount": "",
                f"restock_{line}": "2",
                "notify": "1",
                "staff_note": "Supplier ran out; one mug was broken",
            },
        )
    )
    assert (
        said == "success: Order #1001 was cancelled; €37.50 refunded; 2 items back in stock; the customer was notified."
    )
    after = shop.get(order["id"])
    assert after["cancel_reason"] == "inventory" and after["cancelled_at"]
    assert after["financial_status"] == "refunded"
    assert shop.level(mug, amsterdam)["available"] == before - 1  # two of three back, the broken one not
    cancelled = next(e for e in events(api, order["id"]) if e["verb"] == "cancelled")
    assert cancelled["author"] == "Olivia Owner"
    assert "Supplier ran out; one mug was broken" in cancelled["description"]
    words = words_of(owner.page(url(order)))
    assert "Supplier ran out; one mug was broken" in words and "Olivia Owner" in words
    assert "orders/cancelled" in outbox_topics(deck, order["id"], "webhook")
    assert outbox_topics(deck, order["id"], "notification") == ["order_cancelled"]


def test_cancel_without_refunding_keeps_the_money(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    said = owner.flash(owner.post(url(order, "cancel"), {"reason": "customer"}))
    assert said == "success: Order #1001 was cancelled; 1 item back in stock."
    assert shop.get(order["id"])["financial_status"] == "paid"


def test_cancelling_a_fulfilled_order_is_refused_and_explained(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    shop.fulfil(order["id"])
    reason = "Cannot cancel an order with fulfilled items; cancel the fulfillment first"
    page = owner.page(url(order))
    assert reason in words_of(page) and 'id="cancel-dialog"' not in page.text
    answer = owner.post(url(order, "cancel"), {"reason": "customer", "refund": "1", "staff_note": "Try"})
    assert answer.status_code == 422 and reason in words_of(answer)
    assert shop.get(order["id"])["cancelled_at"] is None


def test_cancel_page_keeps_the_input_when_refused(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=SELL)
    line = order["line_items"][0]["id"]
    assert "Put back in stock" in owner.page(url(order, "cancel")).text
    answer = owner.post(
        url(order, "cancel"),
        {"reason": "fraud", "refund": "1", "amount": "99.00", f"restock_{line}": "1", "staff_note": "Check"},
    )
    assert answer.status_code == 422
    assert "Amount: Cannot refund 99.00 EUR: only 25.00 EUR was paid" in words_of(answer)
    assert 'value="99.00"' in answer.text and '<option value="fraud" selected>' in answer.text
    assert shop.get(order["id"])["cancelled_at"] is None


# ---- archive, unarchive, delete ------------------------------------------------------------
def test_archive_and_unarchive(owner: AdminClient, api: Api, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    said = owner.flash(owner.post(url(order, "archive")))
    assert said == "success: Archived: the order stays in reports but leaves the open orders."
    assert shop.get(order["id"])["closed_at"]
    assert events(api, order["id"])[-1]["author"] == "Olivia Owner"
    assert f'action="{url(order, "unarchive")}"' in owner.page(url(order)).text
    said = owner.flash(owner.post(url(order, "unarchive")))
    assert said == "success: Unarchived: the order is open again."
    assert shop.get(order["id"])["closed_at"] is None
    again = owner.flash(owner.post(url(order, "unarchive")))
    assert again == "error: Order #1001 is not archived"


def test_delete_only_when_the_rules_allow_it(owner: AdminClient, api: Api, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    reason = "Only archived or cancelled orders can be deleted; archive or cancel it first"
    assert f"Delete order {reason}" in words_of(owner.page(url(order)))
    assert owner.flash(owner.post(url(order, "delete"))) == f"error: {reason}"
    assert shop.get(order["id"])["id"] == order["id"]

    owner.post(url(order, "archive"))
    page = owner.page(url(order))
    assert 'data-confirm="Delete order #1001 for good?' in page.text
    deleted = owner.post(url(order, "delete"))
    assert deleted.headers["location"] == "/admin/orders"
    assert owner.flash(deleted) == "success: Order #1001 was deleted for good; it is gone from lists and reports."
    assert api.get(f"/orders/{order['id']}.json").status_code == 404


def test_an_order_paid_online_cannot_be_deleted(owner: AdminClient, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    owner.post(url(order, "cancel"), {"reason": "customer", "refund": "1"})
    reason = "Orders paid through an online gateway (bogus) cannot be deleted"
    assert f"Delete order {reason}" in words_of(owner.page(url(order)))
    assert owner.flash(owner.post(url(order, "delete"))) == f"error: {reason}"
    assert shop.get(order["id"])["id"] == order["id"]


# ---- who may ----------------------------------------------------------------------------------
def test_managing_without_refund_permission(
    deck: Orderdeck, admin_app: TestClient, owner: AdminClient, shop: Shop, mug: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    sam = staff_session(deck, admin_app, "sam@shop.test", "Sam Staff", "view_orders", "manage_orders")
    page = sam.page(url(order))
    assert f'action="{url(order, "capture")}"' not in page.text
    assert f'href="{url(order, "refund")}"' not in page.text
    assert 'id="cancel-dialog"' in page.text  # may cancel (the authorization is voided, nothing to refund)
    assert sam.post(url(order, "capture"), {}).status_code == 403
    assert sam.post(url(order, "refund"), {"step": "refund", "amount": "1.00"}).status_code == 403
    assert sam.page(url(order, "refund"), expect=403)
    assert shop.get(order["id"])["financial_status"] == "authorized"

    paid = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    assert "your account may not refund payments" in sam.page(url(paid, "cancel")).text
    assert sam.post(url(paid, "cancel"), {"reason": "customer", "refund": "1"}).status_code == 403
    assert shop.get(paid["id"])["cancelled_at"] is None
    said = sam.flash(sam.post(url(paid, "cancel"), {"reason": "customer"}))
    assert said.startswith("success: Order #1002 was cancelled")
    assert shop.get(paid["id"])["financial_status"] == "paid"
    assert sam.post(url(paid, "delete")).status_code == 403


def test_a_viewer_sees_no_money_or_lifecycle_forms(
    deck: Orderdeck, admin_app: TestClient, owner: AdminClient, shop: Shop, mug: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=AUTHORIZE)
    vera = staff_session(deck, admin_app, "vera@shop.test", "Vera Viewer", "view_orders")
    page = vera.page(url(order))
    assert "Authorized, not captured" in words_of(page)  # the summary is there
    for action in ("capture", "void", "mark-paid", "refund", "cancel", "archive", "delete"):
        assert f'{url(order, action)}"' not in page.text, action
    for action in ("capture", "void", "mark-paid", "cancel", "archive", "delete"):
        assert vera.post(url(order, action), {"reason": "customer"}).status_code == 403, action
    after = shop.get(order["id"])
    assert after["financial_status"] == "authorized" and after["cancelled_at"] is None and after["closed_at"] is None
