"""Shopify's Python client (ShopifyAPI + pyactiveresource) and order edits.

Shopify edits orders through GraphQL only, so the client has no OrderEdit class; an app calls
Orderdeck's REST routes (docs/api.md, *Order edits*) the way the client calls any custom route:
a ShopifyResource subclass and its `post`/`delete` custom methods. What matters most is the
other side: an app that only reads orders with the client sees the edited order right (the
REST `quantity` kept, `current_quantity` and `fulfillable_quantity` changed, the totals and
`total_outstanding`).

The server and the client's session are tests/e2e/test_shopify_client.py's. A draft order
created and completed through the client is covered there
(test_a_draft_order_is_created_saved_invoiced_and_completed_through_the_client).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import shopify
from pyactiveresource.connection import ClientError

from tests.e2e.test_shopify_client import server, session  # noqa: F401  (fixtures)


class OrderEdit(shopify.ShopifyResource):
    """Orderdeck's /order_edits/{id}/… routes, through the client's own custom-method support."""


def _answer(response: Any) -> dict[str, Any]:
    return json.loads(response.body.decode())  # type: ignore[no-any-return]


def _edit(edit_id: int, action: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = _answer(OrderEdit({"id": edit_id}).post(action, json.dumps(body).encode()))
    return answer["order_edit"]  # type: ignore[no-any-return]


def test_the_client_reads_an_order_edited_through_the_rest_api(session, shop):  # noqa: F811
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    cap = shop.product("CAP-1", price="20.00", stock={amsterdam: 10}, title="Cap")
    order = shopify.Order(
        {
            "email": "anna@example.nl",
            "line_items": [{"variant_id": mug, "quantity": 3}],
            "shipping_lines": [{"title": "PostNL", "price": "4.95"}],
            "transactions": [{"kind": "sale", "status": "success"}],
        }
    )
    assert order.save() is True, order.errors.full_messages()
    mug_line = order.line_items[0].id

    # Begin: POST /orders/{id}/order_edits.json, the client's custom method on the order.
    edit = _answer(order.post("order_edits", b"{}"))["order_edit"]
    _edit(edit["id"], "set_quantity", {"line_item_id": mug_line, "quantity": 1, "restock": True})
    preview = _edit(edit["id"], "add_variant", {"order_edit": {"variant_id": cap, "quantity": 2}})
    assert Decimal(preview["total_price_set"]["shop_money"]["amount"]) == Decimal("57.45")
    committed = _answer(OrderEdit({"id": edit["id"]}).post("commit", json.dumps({"staff_note": "phoned"}).encode()))
    assert committed["order"]["id"] == order.id

    found = shopify.Order.find(order.id)
    mug_after = next(li for li in found.line_items if li.variant_id == mug)
    cap_after = next(li for li in found.line_items if li.variant_id == cap)
    assert (mug_after.quantity, mug_after.current_quantity, mug_after.fulfillable_quantity) == (3, 1, 1)
    assert (cap_after.quantity, cap_after.current_quantity, cap_after.fulfillable_quantity) == (2, 2, 2)
    # 12.50 + 2 × 20.00 + 4.95, against 42.45 paid.
    assert found.total_price == "57.45"
    assert found.total_outstanding == "15.00"
    assert found.financial_status == "partially_paid"
    assert found.fulfillment_status is None

    # Saving the order the client holds puts it back as it is: the edit stays.
    found.note = "Edited on the phone"
    assert found.save() is True, found.errors.full_messages()
    again = shopify.Order.find(order.id)
    assert again.note == "Edited on the phone" and again.total_price == "57.45"
    assert [li.current_quantity for li in again.line_items] == [1, 2]


def test_a_refused_edit_reaches_the_client_as_an_error_naming_the_field(session, shop):  # noqa: F811
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    order = shopify.Order({"email": "anna@example.nl", "line_items": [{"variant_id": mug, "quantity": 1}]})
    assert order.save() is True, order.errors.full_messages()
    edit = _answer(order.post("order_edits", b"{}"))["order_edit"]
    try:
        _edit(edit["id"], "set_quantity", {"line_item_id": order.line_items[0].id, "quantity": "2"})
    except ClientError as exc:
        assert exc.response.code == 422
        assert "quantity" in json.loads(exc.response.body)["errors"]
    else:
        raise AssertionError("a quantity sent as a string was taken")
    # Abandon: DELETE /order_edits/{id}.json.
    OrderEdit({"id": edit["id"]}).destroy()
    assert OrderEdit.find(edit["id"]).status == "abandoned"
