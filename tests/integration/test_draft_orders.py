"""Draft orders through the API (Shopify REST 2024-10 `draft_orders.json`): staff prepare an
order, send the invoice e-mail, complete it into an ordinary order, paid or payment pending.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from orderdeck.automation.examples import HOLD_BIG_ORDERS_FROM_NEW_CUSTOMERS
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox
from tests.conftest import Api, Shop, make_token
from tests.integration.conftest import Inbox
from tests.integration.order_steps import stock
from tests.integration.test_concurrency import Server, at_once, level, setup_shop


def work(app: Orderdeck) -> None:
    asyncio.run(Worker(app, run_jobs=False).drain())


def mail_from(app: Orderdeck) -> str:
    """The sender the mailing fixture's server names (`?from=`)."""
    assert app.settings.smtp_url is not None
    return app.settings.smtp_url.rsplit("from=", 1)[1]


def refuses(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert field in repr(response.json()["errors"]), response.json()


def create(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/draft_orders.json", {"draft_order": fields})
    assert response.status_code == 201, response.text
    return response.json()["draft_order"]  # type: ignore[no-any-return]


def draft_of(api: Api, draft_id: int) -> dict[str, Any]:
    return api.ok(api.get(f"/draft_orders/{draft_id}.json"))["draft_order"]  # type: ignore[no-any-return]


def mug_and_gift_wrap(mug: int) -> dict[str, Any]:
    return {
        "email": "anna@example.nl",
        "line_items": [
            {"variant_id": mug, "quantity": 2, "applied_discount": {"value": "10", "value_type": "percentage"}},
            {"title": "Gift wrap", "price": "3.00", "quantity": 1, "requires_shipping": False},
        ],
        "applied_discount": {"value": "2.00", "value_type": "fixed_amount", "title": "Loyal customer"},
        "shipping_line": {"title": "PostNL", "price": "4.95"},
        "shipping_address": {"first_name": "Anna", "address1": "Dam 1", "city": "Amsterdam", "country_code": "NL"},
        "note": "Phoned in",
        "tags": "phone, vip",
    }


def test_a_draft_is_created_with_totals_and_changes_no_stock(api: Api, shop: Shop, mug: int, amsterdam: int) -> None:
    draft = create(api, **mug_and_gift_wrap(mug))
    assert draft["name"] == f"#D{draft['id']}"
    assert draft["status"] == "open" and draft["order_id"] is None and draft["completed_at"] is None
    mug_line, wrap = draft["line_items"]
    assert (mug_line["title"], mug_line["price"], mug_line["custom"]) == ("Delft mug", "12.50", False)
    assert mug_line["applied_discount"]["amount"] == "2.50"
    assert (wrap["custom"], wrap["variant_id"]) == (True, None)
    # 25.00 - 2.50 (10 %) + 3.00 - 2.00 (the draft's own discount) = 23.50, + 4.95 shipping
    assert draft["subtotal_price"] == "23.50"
    assert draft["total_discounts"] == "4.50"
    assert draft["total_price"] == "28.45"
    assert draft["tags"] == "phone, vip"
    assert draft["invoice_url"].startswith("http://shop.test/invoices/")
    assert stock(shop, mug, amsterdam) == (50, 0, 50)
    assert api.ok(api.get("/draft_orders/count.json"))["count"] == 1


@pytest.mark.parametrize("pending", [False, True])
def test_send_invoice_then_complete_places_the_order(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop, mug: int, amsterdam: int, pending: bool
) -> None:
    draft = create(api, **mug_and_gift_wrap(mug))
    sent = api.ok(
        api.post(
            f"/draft_orders/{draft['id']}/send_invoice.json",
            {"draft_order_invoice": {"custom_message": "Thanks for calling!"}},
        )
    )["draft_order_invoice"]
    assert sent["to"] == "anna@example.nl" and sent["subject"] == f"Draft Order {draft['name']}"
    assert "@" in sent["from"]  # the API's app has no mail server in these tests: the shop's address
    after = draft_of(api, draft["id"])
    assert after["status"] == "invoice_sent" and after["invoice_sent_at"] is not None
    work(mailing)
    [mail] = inbox.messages
    assert mail["To"] == "anna@example.nl" and mail["From"] == mail_from(mailing)
    assert draft["name"] in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Thanks for calling!" in text and "Gift wrap" in text and draft["invoice_url"] in text
    assert "28.45" in text

    page = api.client.get(draft["invoice_url"].removeprefix("http://shop.test"))
    assert page.status_code == 200 and "Gift wrap" in page.text and "28.45" in page.text
    assert api.client.get("/invoices/" + "0" * 32).status_code == 404

    path = f"/draft_orders/{draft['id']}/complete.json" + ("?payment_pending=true" if pending else "")
    done = api.ok(api.put(path))["draft_order"]
    assert done["status"] == "completed" and done["completed_at"] is not None
    order = shop.get(done["order_id"])
    assert order["source_name"] == "shopify_draft_order"
    assert order["financial_status"] == ("pending" if pending else "paid")
    assert order["total_price"] == "28.45"
    assert [(li["title"], li["quantity"]) for li in order["line_items"]] == [("Delft mug", 2), ("Gift wrap", 1)]
    assert sum(Decimal(a["amount"]) for li in order["line_items"] for a in li["discount_allocations"]) == Decimal(
        "4.50"
    )
    assert order["shipping_lines"][0]["price"] == "4.95"
    assert order["note"] == "Phoned in" and order["email"] == "anna@example.nl"
    page = api.client.get(draft["invoice_url"].removeprefix("http://shop.test"))
    assert "turned into an order" in page.text and order["order_status_url"] in page.text
    assert stock(shop, mug, amsterdam) == (48, 2, 50)
    transactions = api.ok(api.get(f"/orders/{order['id']}/transactions.json"))["transactions"]
    if pending:
        assert transactions == []
    else:
        [sale] = transactions
        assert (sale["kind"], sale["gateway"], sale["amount"]) == ("sale", "manual", "28.45")


def test_the_invoice_speaks_the_customers_language_and_the_order_keeps_it(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop, mug: int
) -> None:
    draft = create(api, email="daan@example.nl", customer_locale="nl", line_items=[{"variant_id": mug, "quantity": 1}])
    api.ok(api.post(f"/draft_orders/{draft['id']}/send_invoice.json", {}))
    work(mailing)
    [mail] = inbox.messages
    assert mail["Subject"].startswith(f"Je factuur {draft['name']}") and mail["Content-Language"] == "nl"
    page = api.client.get(draft["invoice_url"].removeprefix("http://shop.test"))
    assert f"Factuur {draft['name']}" in page.text and "Neem contact met ons op" in page.text
    done = api.ok(api.put(f"/draft_orders/{draft['id']}/complete.json"))["draft_order"]
    assert shop.get(done["order_id"])["customer_locale"] == "nl"


def test_a_completed_draft_refuses_edit_complete_invoice_and_delete(api: Api, mug: int) -> None:
    draft = create(api, email="anna@example.nl", line_items=[{"variant_id": mug, "quantity": 1}])
    done = api.ok(api.put(f"/draft_orders/{draft['id']}/complete.json"))["draft_order"]
    refuses(api.put(f"/draft_orders/{draft['id']}.json", {"draft_order": {"note": "x"}}), 422, "status")
    refuses(api.put(f"/draft_orders/{draft['id']}/complete.json"), 422, "status")
    refuses(api.post(f"/draft_orders/{draft['id']}/send_invoice.json", {}), 422, "status")
    refuses(api.delete(f"/draft_orders/{draft['id']}.json"), 422, "status")
    assert draft_of(api, draft["id"]) == done


def test_bad_input_names_the_field_and_changes_nothing(api: Api, shop: Shop, mug: int, amsterdam: int) -> None:
    bad_creates = [
        ({"line_items": [{"variant_id": mug, "quantity": 0}]}, "quantity"),
        ({"line_items": [{"variant_id": 999999, "quantity": 1}]}, "line_items"),
        ({"line_items": [{"title": "Custom", "quantity": 1}]}, "line_items"),
        ({"line_items": [{"price": "3.00", "quantity": 1}]}, "line_items"),
        ({"line_items": [{"title": "X", "price": "-1", "quantity": 1}]}, "price"),
        ({"email": "not an address"}, "email"),
        ({"customer": {"id": 987654}}, "customer"),
        ({"applied_discount": {"value": "120", "value_type": "percentage"}}, "applied_discount"),
        ({"applied_discount": {"value": "5", "value_type": "bogus"}}, "value_type"),
        ({"shipping_line": {"title": "", "price": "1.00"}}, "shipping_line"),
        ({"currency": "USD"}, "currency"),
        ({"colour": "red"}, "colour"),
    ]
    for body, field in bad_creates:
        refuses(api.post("/draft_orders.json", {"draft_order": body}), 422, field)
    assert api.ok(api.get("/draft_orders/count.json"))["count"] == 0

    draft = create(api, email="anna@example.nl", line_items=[{"variant_id": mug, "quantity": 1}])
    refuses(
        api.put(f"/draft_orders/{draft['id']}.json", {"draft_order": {"line_items": [{"quantity": 1}]}}),
        422,
        "line_items",
    )
    refuses(api.put(f"/draft_orders/{draft['id']}.json", {"draft_order": {"email": "@"}}), 422, "email")
    refuses(
        api.post(f"/draft_orders/{draft['id']}/send_invoice.json", {"draft_order_invoice": {"to": "nope"}}), 422, "to"
    )
    refuses(api.post(f"/draft_orders/{draft['id']}/send_invoice.json", {"draft_order_invoice": {"cc": []}}), 422, "cc")
    refuses(api.put(f"/draft_orders/{draft['id']}/complete.json?payment_pending=maybe"), 422, "payment_pending")
    refuses(api.get("/draft_orders.json", params={"status": "paid"}), 422, "status")
    refuses(api.get("/draft_orders.json", params={"ids": "1,x"}), 422, "ids")
    refuses(api.get("/draft_orders.json", params={"limit": 0}), 422, "limit")
    refuses(api.get("/draft_orders.json", params={"page_info": "abc"}), 400, "page_info")
    refuses(api.get("/draft_orders/count.json", params={"updated_at_min": "yesterday"}), 422, "updated_at_min")
    assert draft_of(api, draft["id"]) == draft
    assert api.get("/draft_orders/999999.json").status_code == 404
    assert api.delete("/draft_orders/999999.json").status_code == 404
    assert api.put("/draft_orders/999999/complete.json").status_code == 404

    # No e-mail anywhere: the invoice has nowhere to go.
    nameless = create(api, line_items=[{"title": "Repair", "price": "40.00", "quantity": 1}])
    refuses(api.post(f"/draft_orders/{nameless['id']}/send_invoice.json", {}), 422, "to")
    # Completing an empty draft is refused; a draft beyond the stock a deny policy allows too.
    empty = create(api, note="to fill in")
    refuses(api.put(f"/draft_orders/{empty['id']}/complete.json"), 422, "line_items")
    greedy = create(api, line_items=[{"variant_id": mug, "quantity": 51}])
    response = api.put(f"/draft_orders/{greedy['id']}/complete.json")
    assert response.status_code == 422, response.text
    assert draft_of(api, greedy["id"])["status"] == "open"
    assert stock(shop, mug, amsterdam) == (50, 0, 50)
    assert api.ok(api.get("/orders/count.json", params={"status": "any"}))["count"] == 0


def test_list_filters_pages_and_deletes(api: Api, mug: int) -> None:
    ids = [create(api, line_items=[{"variant_id": mug, "quantity": n}])["id"] for n in (1, 2, 3)]
    api.ok(api.put(f"/draft_orders/{ids[0]}/complete.json"))
    listed = api.get("/draft_orders.json", params={"limit": 2})
    assert [d["id"] for d in listed.json()["draft_orders"]] == ids[:2]
    assert 'rel="next"' in listed.headers["Link"]
    assert [d["id"] for d in api.ok(api.get("/draft_orders.json", params={"since_id": ids[1]}))["draft_orders"]] == [
        ids[2]
    ]
    assert [d["id"] for d in api.ok(api.get("/draft_orders.json", params={"status": "open"}))["draft_orders"]] == ids[
        1:
    ]
    assert api.ok(api.get("/draft_orders/count.json", params={"status": "completed"}))["count"] == 1
    # Times with an offset, as Shopify's clients send them: the drafts were made on 2 November 2026.
    assert (
        api.ok(api.get("/draft_orders/count.json", params={"updated_at_min": "2026-11-02T00:00:00+01:00"}))["count"]
        == 3
    )
    assert (
        api.ok(api.get("/draft_orders/count.json", params={"updated_at_max": "2026-11-01T23:00:00-05:00"}))["count"]
        == 0
    )
    assert api.ok(api.get("/draft_orders/count.json", params={"updated_at_min": "2026-11-03T00:00:00Z"}))["count"] == 0
    only = api.ok(api.get("/draft_orders.json", params={"ids": f"{ids[2]}", "fields": "id,name"}))["draft_orders"]
    assert only == [{"id": ids[2], "name": f"#D{ids[2]}"}]
    changed = api.ok(api.put(f"/draft_orders/{ids[1]}.json", {"draft_order": {"note": "call back"}}))["draft_order"]
    assert changed["note"] == "call back" and changed["line_items"][0]["quantity"] == 2
    assert api.ok(api.delete(f"/draft_orders/{ids[1]}.json")) == {}
    assert api.get(f"/draft_orders/{ids[1]}.json").status_code == 404
    assert api.ok(api.get("/draft_orders/count.json"))["count"] == 2


def test_scopes_reach_drafts_as_they_reach_orders(deck: Orderdeck, api: Api, mug: int) -> None:
    for scopes, read, write in (
        (["read_draft_orders"], 200, 403),
        (["write_draft_orders"], 200, 201),
        (["read_orders"], 200, 403),
        (["write_orders"], 200, 201),
        (["read_products"], 403, 403),
    ):
        other = Api(api.client, make_token(deck, scopes, name=f"app {scopes[0]}"))
        assert other.get("/draft_orders.json").status_code == read, scopes
        body = {"draft_order": {"line_items": [{"variant_id": mug, "quantity": 1}]}}
        assert other.post("/draft_orders.json", body).status_code == write, scopes


def test_webhooks_carry_the_draft(deck: Orderdeck, api: Api, mug: int) -> None:
    draft = create(api, line_items=[{"variant_id": mug, "quantity": 1}])
    api.ok(api.put(f"/draft_orders/{draft['id']}.json", {"draft_order": {"note": "gift"}}))
    api.ok(api.delete(f"/draft_orders/{draft['id']}.json"))
    with deck.db.reader.connect() as conn:
        rows = conn.execute(
            select(outbox.c.topic, outbox.c.payload)
            .where(outbox.c.kind == "webhook", outbox.c.topic.like("draft_orders/%"))
            .order_by(outbox.c.created_at)
        ).all()
    assert [r.topic for r in rows] == ["draft_orders/create", "draft_orders/update", "draft_orders/delete"]
    created, updated, deleted = (json.loads(r.payload) for r in rows)
    assert created["name"] == draft["name"] and created["line_items"][0]["variant_id"] == mug
    assert updated["note"] == "gift"
    assert deleted == {"id": draft["id"]}


def test_rules_cannot_wait_for_draft_order_topics(api: Api) -> None:
    rule = {**HOLD_BIG_ORDERS_FROM_NEW_CUSTOMERS, "when": {"event": "draft_orders/create"}}
    refuses(api.post("/automation_rules.json", {"automation_rule": rule}), 422, "when.event")
    assert (
        api.post("/automation_rules.json", {"automation_rule": HOLD_BIG_ORDERS_FROM_NEW_CUSTOMERS}).status_code == 201
    )


@pytest.fixture
def race_server(deck: Orderdeck) -> Iterator[Server]:
    running = Server(deck)
    running.start()
    yield running
    running.stop()


def test_completing_one_draft_from_ten_clients_at_once_places_one_order(race_server: Server) -> None:
    location, variant = setup_shop(race_server, stock=5)
    with race_server.client() as c:
        body = {"draft_order": {"line_items": [{"variant_id": variant, "quantity": 2}]}}
        draft = race_server.ok(c.post("/draft_orders.json", json=body))["draft_order"]

    responses = at_once(race_server, 10, lambda c, _: c.put(f"/draft_orders/{draft['id']}/complete.json"))

    assert Counter(r.status_code for r in responses) == {200: 1, 422: 9}, [r.text for r in responses]
    with race_server.client() as c:
        assert race_server.ok(c.get("/orders/count.json?status=any"))["count"] == 1
    assert level(race_server, variant, location) == {"available": 3, "committed": 2, "on_hand": 5}
