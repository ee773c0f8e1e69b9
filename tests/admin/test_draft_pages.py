"""Draft orders in the admin: "Save as draft" on the Create order page, the Drafts list, and a
draft's page (send invoice, complete paid or payment pending, delete)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from orderdeck.services.context import Orderdeck
from tests.integration.order_steps import stock

from ..conftest import Api, Shop
from .conftest import AdminClient, make_staff
from .test_new_order import form

NEW = "/admin/orders/new"


@pytest.fixture
def location(shop: Shop) -> int:
    return shop.location()


@pytest.fixture
def mug(shop: Shop, location: int) -> int:
    return shop.product("MUG-1", "12.50", stock={location: 10}, title="Espresso mug")


def drafts(api: Api, **params: Any) -> list[dict[str, Any]]:
    return api.ok(api.get("/draft_orders.json", params=params))["draft_orders"]  # type: ignore[no-any-return]


def save_draft(owner: AdminClient, mug: int, **fields: Any) -> int:
    answer = owner.post(
        NEW,
        form(
            **{
                "item-0-variant": str(mug),
                "item-0-quantity": "2",
                "custom-0-title": "Gift wrap",
                "custom-0-price": "3,00",
                "email": "anna@example.nl",
                "first_name": "Anna",
                "shipping_title": "Courier",
                "shipping_price": "6.95",
                "discount_value": "10",
                "discount_type": "percentage",
                "discount_code": "PHONE10",
                "note": "Called on Tuesday",
                "action": "save_draft",
                **fields,
            }
        ),
    )
    assert answer.status_code == 303, answer.text[:3000]
    found = re.fullmatch(r"/admin/drafts/(\d+)", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


def test_save_as_draft_then_complete_as_paid(owner: AdminClient, api: Api, shop: Shop, mug: int, location: int) -> None:
    draft_id = save_draft(owner, mug)
    [draft] = drafts(api)
    assert draft["id"] == draft_id and draft["status"] == "open"
    assert [(li["title"], li["quantity"]) for li in draft["line_items"]] == [("Espresso mug", 2), ("Gift wrap", 1)]
    assert draft["applied_discount"]["title"] == "PHONE10"
    # 25.00 + 3.00 = 28.00, less 10 % (2.80), plus 6.95 shipping
    assert draft["total_price"] == "32.15"
    assert draft["customer"]["first_name"] == "Anna" and draft["email"] == "anna@example.nl"
    assert stock(shop, mug, location) == (10, 0, 10)
    assert api.ok(api.get("/orders/count.json", params={"status": "any"}))["count"] == 0

    listed = owner.page("/admin/drafts")
    assert draft["name"] in listed.text and "Open" in listed.text
    page = owner.page(f"/admin/drafts/{draft_id}")
    assert "Espresso mug" in page.text and "32.15" in page.text and "Send invoice" in page.text

    answer = owner.post(f"/admin/drafts/{draft_id}/complete", {"payment": "paid"})
    assert answer.status_code == 303
    order_id = int(answer.headers["location"].rsplit("/", 1)[1])
    order = shop.get(order_id)
    assert order["financial_status"] == "paid" and order["source_name"] == "shopify_draft_order"
    assert order["total_price"] == "32.15"
    assert stock(shop, mug, location) == (8, 2, 10)
    page = owner.page(f"/admin/drafts/{draft_id}")
    assert "Completed" in page.text and f"/admin/orders/{order_id}" in page.text and "Send invoice" not in page.text
    # A completed draft can't be deleted: the refusal comes back on its page.
    assert "can't be deleted" in unescape(owner.flash(owner.post(f"/admin/drafts/{draft_id}/delete")))
    assert drafts(api)[0]["status"] == "completed"


def test_invoice_pending_completion_and_delete_from_the_draft_page(
    owner: AdminClient, api: Api, shop: Shop, mug: int
) -> None:
    first = save_draft(owner, mug)
    assert "Invoice sent" in owner.flash(
        owner.post(f"/admin/drafts/{first}/send_invoice", {"to": "", "custom_message": "Hi"})
    )
    assert drafts(api)[0]["status"] == "invoice_sent"
    answer = owner.post(f"/admin/drafts/{first}/complete", {"payment": "pending"})
    order = shop.get(int(answer.headers["location"].rsplit("/", 1)[1]))
    assert order["financial_status"] == "pending"

    second = save_draft(owner, mug)
    answer = owner.post(f"/admin/drafts/{second}/delete")
    assert answer.headers["location"] == "/admin/drafts"
    assert [d["id"] for d in drafts(api)] == [first]


def test_bad_drafts_are_refused_at_the_field_and_nothing_is_saved(owner: AdminClient, api: Api, mug: int) -> None:
    page = owner.post(NEW, form(**{"email": "not-an-address", "item-0-variant": str(mug), "action": "save_draft"}))
    assert page.status_code == 422 and 'id="e-email"' in page.text
    page = owner.post(NEW, form(action="save_draft"))
    assert page.status_code == 422 and 'id="e-lines"' in page.text
    assert drafts(api) == []


def test_completing_as_paid_needs_the_payment_permission(
    owner: AdminClient, deck: Orderdeck, api: Api, mug: int
) -> None:
    draft_id = save_draft(owner, mug)
    make_staff(deck, "clerk@shop.test", permissions=("view_orders", "manage_orders"))
    owner.post("/admin/logout")
    clerk = AdminClient(owner.client)
    assert clerk.sign_in("clerk@shop.test").status_code == 303
    assert "may not take payments" in clerk.flash(clerk.post(f"/admin/drafts/{draft_id}/complete", {"payment": "paid"}))
    assert drafts(api)[0]["status"] == "open"
    make_staff(deck, "viewer@shop.test", permissions=("view_orders",))
    clerk.post("/admin/logout")
    viewer = AdminClient(owner.client)
    assert viewer.sign_in("viewer@shop.test").status_code == 303
    viewer.page(f"/admin/drafts/{draft_id}")
    assert viewer.post(f"/admin/drafts/{draft_id}/delete").status_code == 403
    assert len(drafts(api)) == 1
