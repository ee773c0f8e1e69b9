"""Shopify's own Python client (ShopifyAPI + pyactiveresource) against a running Orderdeck.

Orderdeck runs under uvicorn on a free local port; the client is pointed at it the way the
client allows (session name "127" + domain "0.0.1" + port) and is then used only through its
own classes and methods, so every request is exactly what the client sends and every answer
is parsed exactly as the client parses it. Setup (locations, products, stock) goes through
the in-process `shop` builders.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import shopify
import uvicorn
from pyactiveresource.connection import ResourceNotFound

from orderdeck.api.app import create_app
from orderdeck.services.context import Orderdeck
from tests.conftest import make_token

CARD = {"number": "1"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(deck: Orderdeck) -> Iterator[int]:
    """Orderdeck under uvicorn in a background thread; yields the port."""
    port = _free_port()
    config = uvicorn.Config(create_app(deck), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="orderdeck-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if not thread.is_alive():
            pytest.fail("uvicorn stopped before it started serving")
        if time.monotonic() > deadline:
            srv.should_exit = True
            pytest.fail("uvicorn did not start within 15 s")
        time.sleep(0.01)
    try:
        yield port
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def session(deck: Orderdeck, server: int) -> Iterator[shopify.Session]:
    """The official client pointed at the running server, with a token that holds every scope."""
    saved = (shopify.Session.protocol, shopify.Session.myshopify_domain, shopify.Session.port)
    token = make_token(deck, name="ShopifyAPI client")
    shopify.Session.protocol = "http"
    shopify.Session.myshopify_domain = "0.0.1"
    shopify.Session.port = server
    s = shopify.Session("127", "2024-10", token)
    shopify.ShopifyResource.activate_session(s)
    assert shopify.Order.site == f"http://127.0.0.1:{server}/admin/api/2024-10"
    try:
        yield s
    finally:
        shopify.ShopifyResource.clear_session()
        shopify.Session.protocol, shopify.Session.myshopify_domain, shopify.Session.port = saved


def _place(variant_id: int, quantity: int = 2, **fields: Any) -> shopify.Order:
    """Order.save() of a new order: line items by variant, an authorization on the bogus gateway."""
    order = shopify.Order(
        {
            "email": "anna@example.nl",
            "line_items": [{"variant_id": variant_id, "quantity": quantity}],
            "transactions": [{"kind": "authorization", "gateway": "bogus", "credit_card": CARD}],
            **fields,
        }
    )
    assert order.save() is True, order.errors.full_messages()
    assert order.id, "the created order came back without an id"
    return order


def _statuses(order_id: int) -> tuple[Any, Any, Any]:
    o = shopify.Order.find(order_id)
    return o.financial_status, o.fulfillment_status, o.closed_at


# ---- 1. the full walk ----------------------------------------------------------------------------
def test_the_full_walk_through_the_official_client(session, shop):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})

    # Place: POST /orders.json {"order": {...}}
    placed = _place(mug, 2, shipping_lines=[{"title": "PostNL", "price": "4.95"}])
    oid = placed.id
    assert placed.name == "#1001"
    assert placed.total_price == "29.95"
    assert placed.financial_status == "authorized"
    assert placed.fulfillment_status is None
    assert placed.closed_at is None
    assert [li.variant_id for li in placed.line_items] == [mug]

    # Read back: GET /orders/{id}.json
    order = shopify.Order.find(oid)
    assert isinstance(order, shopify.Order)
    assert order.id == oid
    assert (order.financial_status, order.fulfillment_status, order.closed_at) == ("authorized", None, None)
    assert order.cancelled_at is None
    line_id = order.line_items[0].id

    txns = shopify.Transaction.find(order_id=oid)
    auths = [t for t in txns if t.kind == "authorization"]
    assert len(auths) == 1 and auths[0].status == "success" and auths[0].gateway == "bogus"

    # Capture: POST /orders/{id}/transactions.json {"transaction": {"kind": "capture", ...}}
    capture = shopify.Transaction.create(
        {"order_id": oid, "kind": "capture", "parent_id": auths[0].id, "amount": "29.95", "currency": order.currency}
    )
    assert not capture.errors.full_messages(), capture.errors.full_messages()
    assert capture.id and capture.kind == "capture" and capture.status == "success"
    assert Decimal(capture.amount) == Decimal("29.95")
    assert _statuses(oid) == ("paid", None, None)
    assert sorted(t.kind for t in shopify.Order.find(oid).transactions()) == ["authorization", "capture"]

    # Fulfil: GET /orders/{id}/fulfillment_orders.json, then POST /fulfillments.json
    fos = shopify.FulfillmentOrders.find(order_id=oid)
    assert len(fos) == 1
    fo = fos[0]
    assert fo.status == "open"
    assert fo.assigned_location_id == amsterdam
    fulfillment = shopify.FulfillmentV2(
        {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": fo.id,
                    "fulfillment_order_line_items": [{"id": li.id, "quantity": li.quantity} for li in fo.line_items],
                }
            ],
            "tracking_info": {"number": "1Z001985YW99744790", "company": "UPS"},
            "notify_customer": False,
        }
    )
    assert fulfillment.save() is True, fulfillment.errors.full_messages()
    assert fulfillment.id
    assert fulfillment.status == "success"
    assert fulfillment.tracking_number == "1Z001985YW99744790"
    assert fulfillment.tracking_company == "UPS"
    assert _statuses(oid) == ("paid", "fulfilled", None)
    assert [f.status for f in shopify.FulfillmentOrders.find(order_id=oid)] == ["closed"]

    # Cancel the fulfillment on the legacy path: POST /orders/{id}/fulfillments/{fid}/cancel.json
    legacy = shopify.Fulfillment.find(fulfillment.id, order_id=oid)
    assert legacy.id == fulfillment.id and legacy.status == "success"
    legacy.cancel()
    assert legacy.status == "cancelled"
    assert _statuses(oid) == ("paid", None, None)
    reopened = shopify.FulfillmentOrders.find(order_id=oid)
    assert [f for f in reopened if f.status == "open"], [f.status for f in reopened]

    # Refund one unit: Refund.calculate, then Refund.create with the suggested transactions
    def restock(quantity: int) -> list[dict[str, Any]]:
        return [{"line_item_id": line_id, "quantity": quantity, "restock_type": "cancel", "location_id": amsterdam}]

    def refund_as_calculated(calc: shopify.Refund, **extra: Any) -> shopify.Refund:
        return shopify.Refund.create(
            {
                "order_id": oid,
                "notify": False,
                "refund_line_items": [
                    {k: getattr(r, k) for k in ("line_item_id", "quantity", "restock_type", "location_id")}
                    for r in calc.refund_line_items
                ],
                "transactions": [
                    {"parent_id": t.parent_id, "amount": t.amount, "kind": "refund", "gateway": t.gateway}
                    for t in calc.transactions
                ],
                **extra,
            }
        )

    calc = shopify.Refund.calculate(oid, refund_line_items=restock(1))
    assert calc.id is None
    assert calc.refund_line_items[0].location_id == amsterdam
    assert [(t.kind, Decimal(t.amount)) for t in calc.transactions] == [("suggested_refund", Decimal("12.50"))]
    first = refund_as_calculated(calc)
    assert not first.errors.full_messages(), first.errors.full_messages()
    assert first.id
    assert [(t.kind, t.status, Decimal(t.amount)) for t in first.transactions] == [
        ("refund", "success", Decimal("12.50"))
    ]
    assert _statuses(oid) == ("partially_refunded", None, None)

    # Refund the rest: the other unit and the shipping
    calc2 = shopify.Refund.calculate(oid, shipping={"full_refund": True}, refund_line_items=restock(1))
    assert sum(Decimal(t.amount) for t in calc2.transactions) == Decimal("17.45")
    second = refund_as_calculated(calc2, shipping={"full_refund": True})
    assert not second.errors.full_messages(), second.errors.full_messages()
    assert second.id and second.id != first.id
    assert _statuses(oid) == ("refunded", None, None)
    assert sorted(r.id for r in shopify.Refund.find(order_id=oid)) == sorted([first.id, second.id])
    level = shop.level(mug, amsterdam)
    assert (level["available"], level["committed"], level["on_hand"]) == (10, 0, 10)

    # Close and open: POST /orders/{id}/close.json and open.json, empty bodies
    order = shopify.Order.find(oid)
    order.close()
    assert order.closed_at is not None
    assert _statuses(oid)[2] is not None
    assert shopify.Order.find(oid).financial_status == "refunded"
    order.open()
    assert order.closed_at is None
    assert _statuses(oid) == ("refunded", None, None)


def test_order_capture_without_an_amount_captures_what_is_left(session, shop):
    """order.capture() sends {"transaction": {"amount": "", "kind": "capture"}}: no parent, no amount."""
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    order = shopify.Order.find(_place(mug, 2).id)

    capture = order.capture()
    assert not capture.errors.full_messages(), capture.errors.full_messages()
    assert capture.id and capture.kind == "capture" and capture.status == "success"
    assert Decimal(capture.amount) == Decimal("25.00")
    assert _statuses(order.id) == ("paid", None, None)


def test_posting_the_calculated_refund_back_as_it_came(session, shop):
    """The client's usual pattern: r = Refund.calculate(...); t.kind = "refund" for each
    transaction; r.save() POSTs the whole calculate answer to /orders/{id}/refunds.json."""
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    oid = _place(mug, 2).id
    assert not shopify.Order.find(oid).capture("25.00").errors.full_messages()
    line_id = shopify.Order.find(oid).line_items[0].id

    calc = shopify.Refund.calculate(
        oid,
        refund_line_items=[
            {"line_item_id": line_id, "quantity": 1, "restock_type": "cancel", "location_id": amsterdam}
        ],
    )
    assert [(t.kind, Decimal(t.amount)) for t in calc.transactions] == [("suggested_refund", Decimal("12.50"))]
    for t in calc.transactions:
        t.kind = "refund"
    assert calc.save() is True, calc.errors.full_messages()
    assert calc.id
    assert [(t.kind, t.status, Decimal(t.amount)) for t in calc.transactions] == [
        ("refund", "success", Decimal("12.50"))
    ]
    assert _statuses(oid) == ("partially_refunded", None, None)


# ---- 2. cancelling an authorized order -----------------------------------------------------------
def test_cancelling_an_authorized_order_voids_it(session, shop):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    order = shopify.Order.find(_place(mug, 2).id)
    assert order.financial_status == "authorized"

    # POST /orders/{id}/cancel.json?reason=customer&email=False, no body
    order.cancel(reason="customer", email=False)

    again = shopify.Order.find(order.id)
    assert again.cancelled_at is not None
    assert again.cancel_reason == "customer"
    assert again.financial_status == "voided"
    assert sorted(t.kind for t in again.transactions()) == ["authorization", "void"]
    level = shop.level(mug, amsterdam)
    # No restock asked, none done (Shopify's default): the reservation is written off.
    assert (level["available"], level["committed"], level["on_hand"]) == (8, 0, 8)


def test_cancel_updates_the_order_object_the_client_holds(session, shop):
    """order.cancel() merges the answer into the object (as close()/open() do): the answer must
    have exactly one root key, or the client stores the root keys as attributes and PUTs them back."""
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    order = shopify.Order.find(_place(mug, 2).id)

    order.cancel(reason="customer", email=False)

    assert sorted(set(order.attributes) - set(shopify.Order.find(order.id).attributes)) == []
    assert order.cancelled_at is not None
    assert order.cancel_reason == "customer"
    assert order.financial_status == "voided"
    order.note = "cancelled on request"
    assert order.save() is True, order.errors.full_messages()


# ---- 3. listing and pagination -------------------------------------------------------------------
def test_listing_follows_the_link_header_to_the_end(session, shop):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 100})
    created = {_place(mug, 1).id for _ in range(5)}
    assert len(created) == 5

    page = shopify.Order.find(limit=2, status="any")
    pages = [page]
    while page.has_next_page():
        page = page.next_page()
        pages.append(page)
        assert len(pages) <= 5, "pagination does not end"

    sizes = [len(list(p)) for p in pages]
    assert sizes == [2, 2, 1]
    seen = [o.id for p in pages for o in p]
    assert all(isinstance(o, shopify.Order) for p in pages for o in p)
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == created
    assert not pages[0].has_previous_page()
    assert pages[-1].has_previous_page()
    assert [o.id for o in pages[-1].previous_page()] == [o.id for o in pages[-2]]

    everything = [o.id for pg in shopify.PaginatedIterator(shopify.Order.find(limit=2, status="any")) for o in pg]
    assert sorted(everything) == sorted(created)

    assert shopify.Order.count() == 5
    assert shopify.Order.count(status="any") == 5
    assert shopify.Order.count(status="closed") == 0


# ---- 4. errors in the client's shapes ------------------------------------------------------------
def test_errors_reach_the_client_in_its_shapes(session, shop):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})

    order = shopify.Order(
        {
            "email": "anna@example.nl",
            "line_items": [{"variant_id": 987654321, "quantity": 1}],
            "transactions": [{"kind": "authorization", "gateway": "bogus", "credit_card": CARD}],
        }
    )
    assert order.save() is False
    assert order.id is None
    messages = order.errors.full_messages()
    assert messages, "422 without errors the client can read"
    assert any("987654321" in m or "variant" in m.lower() for m in messages), messages
    assert shopify.Order.count(status="any") == 0

    with pytest.raises(ResourceNotFound) as caught:
        shopify.Order.find(987654321)
    assert caught.value.code == 404

    # The refusals left nothing behind: the same client still places a good order.
    assert _place(mug, 1).id
    assert shopify.Order.count(status="any") == 1


def test_a_malformed_field_is_named_in_the_message_the_client_shows(session, shop):
    """pyactiveresource keys errors by attribute name; any other key goes to `base` and only the
    message is kept, so the message itself must name the field."""
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    oid = _place(mug, 1).id
    bad = shopify.Transaction.create({"order_id": oid, "kind": "capture", "amount": "twelve"})
    assert bad.id is None
    assert bad.errors.full_messages(), "422 without errors the client can read"
    assert any("amount" in m for m in bad.errors.full_messages()), bad.errors.full_messages()


# ---- 5. editing: the client PUTs the whole order back --------------------------------------------
def test_saving_an_edited_order_puts_the_whole_order_back(session, shop):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    address = {
        "first_name": "Anna",
        "last_name": "de Vries",
        "address1": "Keizersgracht 1",
        "city": "Amsterdam",
        "zip": "1015 CJ",
        "country_code": "NL",
    }
    oid = _place(
        mug,
        2,
        shipping_lines=[{"title": "PostNL", "price": "4.95"}],
        shipping_address=address,
        billing_address=address,
        note_attributes=[{"name": "gift", "value": "yes"}],
        tags="vip",
    ).id

    order = shopify.Order.find(oid)
    before = order.to_dict()
    order.note = "x"
    assert order.save() is True, order.errors.full_messages()
    assert order.note == "x"

    after = shopify.Order.find(oid)
    assert after.note == "x"
    assert after.financial_status == before["financial_status"] == "authorized"
    assert after.total_price == before["total_price"] == "29.95"
    assert after.shipping_address.city == "Amsterdam"
    assert after.tags == before["tags"]

    # Saving again after the order has a capture and a fulfillment (nested objects go back too)
    capture = shopify.Transaction.create(
        {"order_id": oid, "kind": "capture", "amount": "29.95", "currency": after.currency}
    )
    assert capture.id, capture.errors.full_messages()
    fo = shopify.FulfillmentOrders.find(order_id=oid)[0]
    assert shopify.FulfillmentV2({"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo.id}]}).save()
    order = shopify.Order.find(oid)
    assert order.fulfillments
    order.note = "second"
    assert order.save() is True, order.errors.full_messages()
    final = shopify.Order.find(oid)
    assert final.note == "second"
    assert (final.financial_status, final.fulfillment_status) == ("paid", "fulfilled")


def test_saving_never_writes_read_only_fields(session, shop):
    """The client PUTs whatever the object holds; read-only fields must be ignored (or refused),
    never written: the order keeps its name and its archive state."""
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    oid = _place(mug, 1).id

    order = shopify.Order.find(oid)
    order.name = "#HACKED"
    order.closed_at = "2020-01-01T00:00:00+00:00"
    order.note = "renamed?"
    order.save()  # True (ignored) or False (refused with errors) are both fine; a 5xx raises
    after = shopify.Order.find(oid)
    assert after.name == "#1001"
    assert after.closed_at is None


# ---- draft orders ------------------------------------------------------------------------------------
def test_a_draft_order_is_created_saved_invoiced_and_completed_through_the_client(session, shop):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    draft = shopify.DraftOrder(
        {
            "email": "anna@example.nl",
            "line_items": [{"variant_id": mug, "quantity": 2}, {"title": "Gift wrap", "price": "3.00", "quantity": 1}],
            "shipping_line": {"title": "PostNL", "price": "4.95"},
        }
    )
    assert draft.save() is True, draft.errors.full_messages()
    assert draft.name == f"#D{draft.id}" and draft.status == "open" and draft.total_price == "32.95"

    # Saving puts the whole draft back, read-only fields included.
    found = shopify.DraftOrder.find(draft.id)
    found.note = "Phoned in"
    assert found.save() is True, found.errors.full_messages()
    again = shopify.DraftOrder.find(draft.id)
    assert again.note == "Phoned in" and again.total_price == "32.95" and len(again.line_items) == 2

    invoice = again.send_invoice(shopify.DraftOrderInvoice({"custom_message": "Thanks!"}))
    assert invoice.to == "anna@example.nl"
    assert shopify.DraftOrder.find(draft.id).status == "invoice_sent"

    again.complete({"payment_pending": True})
    assert again.status == "completed" and again.order_id
    order = shopify.Order.find(again.order_id)
    assert (order.financial_status, order.source_name, order.total_price) == ("pending", "shopify_draft_order", "32.95")
    assert [li.quantity for li in order.line_items] == [2, 1]
