"""Order edits through the REST API (AFTER-THE-SALE §3.7, an Orderdeck extension): each route,
the scopes that reach it, Idempotency-Key on the commit, refusals in the API's shapes, the
orders/edited webhook at a real receiver, expiry, and the commit refused once the order changed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox
from tests.conftest import Api, Clock, Shop, make_token
from tests.integration.conftest import Inbox
from tests.integration.test_concurrency import Server, at_once, level, order_body, setup_shop
from tests.integration.test_webhooks import Receiver, subscribe

PAID = [{"kind": "sale", "status": "success"}]


@pytest.fixture
def cap(shop: Shop, amsterdam: int) -> int:
    """10 caps at 20.00 in Amsterdam."""
    return shop.product("CAP-1", price="20.00", stock={amsterdam: 10}, title="Cap")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def begin(api: Api, order_id: int) -> dict[str, Any]:
    response = api.post(f"/orders/{order_id}/order_edits.json", {})
    assert response.status_code == 201, response.text
    return response.json()["order_edit"]  # type: ignore[no-any-return]


def stage(api: Api, edit_id: int, what: str, body: dict[str, Any]) -> dict[str, Any]:
    return api.ok(api.post(f"/order_edits/{edit_id}/{what}.json", body))["order_edit"]  # type: ignore[no-any-return]


def errors(response: Any, status: int = 422) -> Any:
    assert response.status_code == status, response.text
    return response.json()["errors"]


def money(bag: dict[str, Any]) -> Decimal:
    return Decimal(bag["presentment_money"]["amount"])


def line_of(order: dict[str, Any], variant: int) -> dict[str, Any]:
    return next(li for li in order["line_items"] if li["variant_id"] == variant)


def webhook_count(deck: Orderdeck, order_id: int, topic: str) -> int:
    with deck.unit_of_work(read_only=True) as uow:
        return int(
            uow.conn.execute(
                select(func.count()).where(
                    outbox.c.order_id == order_id, outbox.c.topic == topic, outbox.c.kind == "webhook"
                )
            ).scalar_one()
        )


# ---- the whole edit -------------------------------------------------------------------------------
def test_an_edit_begun_staged_previewed_and_committed_through_the_api(
    deck: Orderdeck, api: Api, shop: Shop, mug: int, cap: int, amsterdam: int
) -> None:
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        shipping_lines=[{"title": "PostNL", "price": "4.95"}],
        transactions=PAID,
    )
    mug_line = order["line_items"][0]["id"]
    edit = begin(api, order["id"])
    assert edit["status"] == "open" and edit["order_id"] == order["id"]
    assert [(li["line_item_id"], li["quantity"], li["editable_quantity"]) for li in edit["line_items"]] == [
        (mug_line, 2, 2)
    ]
    assert money(edit["total_price_set"]) == Decimal("29.95") and money(edit["total_outstanding_set"]) == 0

    # Wrapped like the answers, or bare: both are taken.
    edit = stage(api, edit["id"], "add_variant", {"order_edit": {"variant_id": cap, "quantity": 1}})
    [added] = edit["added_line_items"]
    assert (added["variant_id"], added["quantity"]) == (cap, 1)
    edit = stage(api, edit["id"], "set_quantity", {"line_item_id": mug_line, "quantity": 1, "restock": True})
    edit = stage(api, edit["id"], "add_custom_item", {"title": "Gift wrap", "price": "3.00", "quantity": 1})
    edit = stage(
        api,
        edit["id"],
        "line_item_discounts",
        {"line_item_id": added["id"], "percent_value": 10, "description": "Sorry"},
    )
    edit = stage(api, edit["id"], "shipping_lines", {"title": "DHL Express", "price": "9.95"})
    # 12.50 + (20.00 - 2.00) + 3.00 + 4.95 + 9.95
    assert money(edit["total_price_set"]) == Decimal("48.40")
    assert money(edit["total_outstanding_set"]) == Decimal("48.40") - Decimal("29.95")
    assert [s["staged_status"] for s in edit["shipping_lines"]] == ["NONE", "ADDED"]
    assert {c["type"] for c in edit["staged_changes"]} == {
        "add_variant",
        "set_quantity",
        "add_custom_item",
        "line_item_discount",
        "add_shipping_line",
    }
    # Staging changes nothing on the order or in stock.
    assert shop.get(order["id"])["total_price"] == "29.95"
    assert shop.level(cap, amsterdam)["available"] == 10
    assert (
        api.ok(api.get(f"/order_edits/{edit['id']}.json"))["order_edit"]["total_price_set"] == edit["total_price_set"]
    )

    committed = api.ok(
        api.post(f"/order_edits/{edit['id']}/commit.json", {"notify_customer": False, "staff_note": "Customer phoned"})
    )["order"]
    assert committed["id"] == order["id"] and committed["total_price"] == "48.40"
    assert committed["total_outstanding"] == "18.45" and committed["financial_status"] == "partially_paid"
    mug_after = line_of(committed, mug)
    assert (mug_after["quantity"], mug_after["current_quantity"], mug_after["fulfillable_quantity"]) == (2, 1, 1)
    assert line_of(committed, cap)["fulfillable_quantity"] == 1
    assert shop.level(cap, amsterdam)["available"] == 9
    assert shop.level(mug, amsterdam)["available"] == 49  # one mug back in stock

    after = api.ok(api.get(f"/order_edits/{edit['id']}.json"))["order_edit"]
    assert after["status"] == "committed" and after["staff_note"] == "Customer phoned" and after["committed_at"]
    assert money(after["total_price_set"]) == Decimal("48.40")  # the order as it now is
    # Newest first; a committed edit can't be committed, changed or abandoned again.
    second = begin(api, order["id"])
    listed = api.ok(api.get(f"/orders/{order['id']}/order_edits.json"))["order_edits"]
    assert [e["id"] for e in listed] == [second["id"], edit["id"]]
    assert [
        e["id"] for e in api.ok(api.get(f"/orders/{order['id']}/order_edits.json?status=committed"))["order_edits"]
    ] == [edit["id"]]
    assert "already committed" in errors(api.post(f"/order_edits/{edit['id']}/commit.json", {}))["order_edit"][0]
    assert "already committed" in errors(api.delete(f"/order_edits/{edit['id']}.json"))["order_edit"][0]


def test_staged_discounts_and_shipping_lines_change_and_go(api: Api, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], shipping_lines=[{"title": "PostNL", "price": "4.95"}])
    line = order["line_items"][0]["id"]
    shipping = order["shipping_lines"][0]["id"]
    edit = begin(api, order["id"])
    edit = stage(api, edit["id"], "line_item_discounts", {"line_item_id": line, "fixed_value": "1.50"})
    [discount] = edit["added_discount_applications"]
    # A fixed discount is per unit: 2 × 1.50 off 25.00.
    assert money(edit["subtotal_price_set"]) == Decimal("22.00")
    changed = api.ok(
        api.put(
            f"/order_edits/{edit['id']}/discounts/{discount['id']}.json", {"percent_value": 50, "description": "Half"}
        )
    )["order_edit"]
    assert money(changed["subtotal_price_set"]) == Decimal("12.50")
    assert changed["added_discount_applications"][0]["description"] == "Half"
    gone = api.ok(api.delete(f"/order_edits/{edit['id']}/discounts/{discount['id']}.json"))["order_edit"]
    assert gone["added_discount_applications"] == [] and money(gone["subtotal_price_set"]) == Decimal("25.00")

    cheaper = api.ok(
        api.put(f"/order_edits/{edit['id']}/shipping_lines/{shipping}.json", {"order_edit": {"price": "2.50"}})
    )["order_edit"]
    assert money(cheaper["total_shipping_price_set"]) == Decimal("2.50")
    assert [(s["title"], s["staged_status"]) for s in cheaper["shipping_lines"]] == [
        ("PostNL", "REMOVED"),
        ("PostNL", "ADDED"),
    ]
    removed = api.ok(api.delete(f"/order_edits/{edit['id']}/shipping_lines/{shipping}.json"))["order_edit"]
    assert money(removed["total_shipping_price_set"]) == 0
    order_after = api.ok(api.post(f"/order_edits/{edit['id']}/commit.json"))["order"]
    assert order_after["shipping_lines"] == [] and order_after["total_price"] == "25.00"


def test_an_abandoned_edit_changes_nothing_and_takes_no_more_changes(api: Api, shop: Shop, mug: int, cap: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit = begin(api, order["id"])
    stage(api, edit["id"], "add_variant", {"variant_id": cap, "quantity": 2})
    assert api.ok(api.delete(f"/order_edits/{edit['id']}.json")) == {}
    assert api.ok(api.get(f"/order_edits/{edit['id']}.json"))["order_edit"]["status"] == "abandoned"
    refused = errors(api.post(f"/order_edits/{edit['id']}/add_variant.json", {"variant_id": cap, "quantity": 1}))
    assert "already abandoned" in refused["order_edit"][0]
    assert [li["variant_id"] for li in shop.get(order["id"])["line_items"]] == [mug]


# ---- who may ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scopes", "can_read", "can_write"),
    [
        (["read_order_edits"], True, False),
        (["read_orders"], True, False),
        (["write_order_edits"], True, True),
        (["write_orders"], True, True),
        (["read_products"], False, False),
    ],
)
def test_scopes(
    deck: Orderdeck, api: Api, shop: Shop, mug: int, scopes: list[str], can_read: bool, can_write: bool
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit = begin(api, order["id"])
    app = Api(api.client, make_token(deck, scopes, name=f"app {scopes[0]}"))
    assert app.get(f"/order_edits/{edit['id']}.json").status_code == (200 if can_read else 403)
    assert app.get(f"/orders/{order['id']}/order_edits.json").status_code == (200 if can_read else 403)
    assert app.post(f"/orders/{order['id']}/order_edits.json").status_code == (201 if can_write else 403)
    staged = app.post(
        f"/order_edits/{edit['id']}/set_quantity.json", {"line_item_id": order["line_items"][0]["id"], "quantity": 2}
    )
    assert staged.status_code == (200 if can_write else 403)
    committed = app.post(f"/order_edits/{edit['id']}/commit.json")
    assert committed.status_code == (200 if can_write else 403)
    if not can_write:
        assert "write_order_edits" in errors(committed, 403)
        assert shop.get(order["id"])["line_items"][0]["current_quantity"] == 1


# ---- retries ---------------------------------------------------------------------------------------
def test_a_retried_commit_gets_the_first_answer_and_commits_once(
    deck: Orderdeck, api: Api, shop: Shop, mug: int, cap: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=PAID)
    edit = begin(api, order["id"])
    stage(api, edit["id"], "add_variant", {"variant_id": cap, "quantity": 1})
    key = {"Idempotency-Key": "edit-commit-1"}
    first = api.post(f"/order_edits/{edit['id']}/commit.json", {"staff_note": "phoned"}, headers=key)
    again = api.post(f"/order_edits/{edit['id']}/commit.json", {"staff_note": "phoned"}, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert first.json()["order"]["total_price"] == "32.50"
    assert webhook_count(deck, order["id"], "orders/edited") == 1
    assert len(shop.get(order["id"])["line_items"]) == 2
    # The same key for another request is refused, not replayed.
    other = api.post(f"/order_edits/{edit['id']}/commit.json", {"staff_note": "other"}, headers=key)
    assert "Idempotency-Key" in errors(other)


# ---- refusals ----------------------------------------------------------------------------------------
def test_unknown_edits_and_orders_are_404(api: Api, shop: Shop, mug: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    for response in (
        api.get("/order_edits/999999.json"),
        api.post("/order_edits/999999/add_variant.json", {"variant_id": mug, "quantity": 1}),
        api.post("/order_edits/999999/commit.json"),
        api.delete("/order_edits/999999.json"),
        api.post("/orders/999999/order_edits.json"),
        api.get("/orders/999999/order_edits.json"),
    ):
        assert errors(response, 404) == "Not Found"
    edit = begin(api, order["id"])
    assert "discount_application_id" in errors(api.delete(f"/order_edits/{edit['id']}/discounts/123.json"))
    assert "shipping_line_id" in errors(api.delete(f"/order_edits/{edit['id']}/shipping_lines/123.json"))


@pytest.mark.parametrize(
    ("what", "body", "field", "says"),
    [
        ("add_variant", {"variant_id": 1, "quantity": "2"}, "quantity", "valid integer"),
        ("add_variant", {"variant_id": 1, "quantity": 0}, "quantity", "greater than or equal to 1"),
        ("add_variant", {"variant_id": 1, "quantity": 1, "allow_duplicates": "yes"}, "allow_duplicates", "boolean"),
        ("add_variant", {"variant_id": 1, "quantity": 1, "colour": "red"}, "colour", "not a field"),
        ("add_variant", {"order_edit": {"variant_id": 1}}, "quantity", "required"),
        ("add_custom_item", {"title": "Wrap", "price": "-1", "quantity": 1}, "price", "greater than or equal to 0"),
        ("add_custom_item", {"title": "Wrap", "price": "lots", "quantity": 1}, "price", "decimal"),
        ("add_custom_item", {"title": " ", "price": "1", "quantity": 1}, "title", "blank"),
        ("set_quantity", {"line_item_id": 1, "quantity": -1}, "quantity", "greater than or equal to 0"),
        ("set_quantity", {"line_item_id": 1, "quantity": 1.5}, "quantity", "valid integer"),
        (
            "line_item_discounts",
            {"line_item_id": 1, "percent_value": 101},
            "percent_value",
            "less than or equal to 100",
        ),
        ("line_item_discounts", {"line_item_id": 1, "fixed_value": 1, "percent_value": 1}, "base", "either"),
        ("shipping_lines", {"title": "DHL"}, "price", "required"),
        ("commit", {"notify_customer": "true"}, "notify_customer", "boolean"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    api: Api, shop: Shop, mug: int, what: str, body: dict[str, Any], field: str, says: str
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit = begin(api, order["id"])
    refused = errors(api.post(f"/order_edits/{edit['id']}/{what}.json", body))
    assert field in refused, refused
    assert says in " ".join(refused[field])
    assert api.ok(api.get(f"/order_edits/{edit['id']}.json"))["order_edit"]["staged_changes"] == []


def test_what_the_order_does_not_allow_is_refused_naming_the_field(api: Api, shop: Shop, mug: int, cap: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit = begin(api, order["id"])
    assert (
        "already on the order"
        in errors(api.post(f"/order_edits/{edit['id']}/add_variant.json", {"variant_id": mug, "quantity": 1}))[
            "variant_id"
        ][0]
    )
    assert (
        "does not exist"
        in errors(api.post(f"/order_edits/{edit['id']}/add_variant.json", {"variant_id": 999999, "quantity": 1}))[
            "variant_id"
        ][0]
    )
    assert errors(api.post(f"/order_edits/{edit['id']}/add_variant.json", {"variant_id": cap, "quantity": 11}))
    assert "line_item_id" in errors(
        api.post(f"/order_edits/{edit['id']}/set_quantity.json", {"line_item_id": 12345, "quantity": 1})
    )
    assert "changes nothing" in errors(api.post(f"/order_edits/{edit['id']}/commit.json"))["order_edit"][0]
    cancelled = shop.order([{"variant_id": mug, "quantity": 1}])
    api.ok(api.post(f"/orders/{cancelled['id']}/cancel.json", {}))
    assert "cancelled" in errors(api.post(f"/orders/{cancelled['id']}/order_edits.json"))["order_id"][0]


def test_an_edit_expires_after_the_shops_hours(api: Api, shop: Shop, mug: int, cap: int, clock: Clock) -> None:
    shop.settings(order_edit_hours=2)
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit = begin(api, order["id"])
    stage(api, edit["id"], "add_variant", {"variant_id": cap, "quantity": 1})
    clock.advance(hours=1)
    assert api.ok(api.get(f"/order_edits/{edit['id']}.json"))["order_edit"]["status"] == "open"
    clock.advance(hours=1, minutes=1)
    assert api.ok(api.get(f"/order_edits/{edit['id']}.json"))["order_edit"]["status"] == "expired"
    assert "expired" in errors(api.post(f"/order_edits/{edit['id']}/commit.json"))["order_edit"][0]
    assert (
        "expired"
        in errors(
            api.post(
                f"/order_edits/{edit['id']}/set_quantity.json",
                {"line_item_id": order["line_items"][0]["id"], "quantity": 2},
            )
        )["order_edit"][0]
    )
    assert len(shop.get(order["id"])["line_items"]) == 1
    assert begin(api, order["id"])["status"] == "open"  # a new edit starts the clock again


def test_a_commit_after_the_order_changed_is_409_and_changes_nothing(
    deck: Orderdeck, api: Api, shop: Shop, mug: int, cap: int, amsterdam: int
) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 2}], transactions=PAID)
    edit = begin(api, order["id"])
    stage(api, edit["id"], "add_variant", {"variant_id": cap, "quantity": 1})
    shop.fulfil(order["id"])  # the order changes under the edit
    conflict = errors(api.post(f"/order_edits/{edit['id']}/commit.json"), 409)
    assert "changed since this edit began" in conflict["order_edit"][0]
    staging = errors(
        api.post(f"/order_edits/{edit['id']}/add_custom_item.json", {"title": "Wrap", "price": "1", "quantity": 1}), 409
    )
    assert "begin a new edit" in staging["order_edit"][0]
    after = shop.get(order["id"])
    assert [li["variant_id"] for li in after["line_items"]] == [mug]
    assert shop.level(cap, amsterdam)["available"] == 10
    assert webhook_count(deck, order["id"], "orders/edited") == 0
    # A new edit sees the order as it is now.
    assert begin(api, order["id"])["line_items"][0]["editable_quantity"] == 0


def test_an_open_edit_whose_stock_went_says_why_instead_of_failing(api: Api, shop: Shop, mug: int, cap: int) -> None:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    edit = begin(api, order["id"])
    stage(api, edit["id"], "add_variant", {"variant_id": cap, "quantity": 10})
    shop.order([{"variant_id": cap, "quantity": 5}])  # someone else buys half the caps
    shown = api.ok(api.get(f"/order_edits/{edit['id']}.json"))["order_edit"]
    assert shown["status"] == "open" and shown["calculation_errors"]
    assert shown["added_line_items"] == [] and len(shown["staged_changes"]) == 1
    # Fixed by staging what there is: the staged item's quantity, by its staged id.
    staged_id = shown["staged_changes"][0]["id"]
    fixed = stage(api, edit["id"], "set_quantity", {"line_item_id": staged_id, "quantity": 5})
    assert fixed["calculation_errors"] is None and fixed["added_line_items"][0]["quantity"] == 5


# ---- the world hears of it -------------------------------------------------------------------------
def test_orders_edited_then_orders_updated_reach_a_real_receiver(
    deck: Orderdeck, api: Api, shop: Shop, mug: int, cap: int, receiver: Receiver
) -> None:
    subscribe(api, receiver.url, topic="orders/edited")
    subscribe(api, receiver.url, topic="orders/updated")
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    edit = begin(api, order["id"])
    stage(api, edit["id"], "add_variant", {"variant_id": cap, "quantity": 1})
    stage(api, edit["id"], "set_quantity", {"line_item_id": order["line_items"][0]["id"], "quantity": 1})
    api.ok(api.post(f"/order_edits/{edit['id']}/commit.json", {"staff_note": "Swap"}))
    asyncio.run(Worker(deck, run_jobs=False).drain())
    by_topic = {got.headers["X-Shopify-Topic"]: got.json for got in receiver.got}
    assert set(by_topic) == {"orders/edited", "orders/updated"}
    payload = by_topic["orders/edited"]["order_edit"]
    assert payload["id"] == edit["id"] and payload["order_id"] == order["id"] and payload["staff_note"] == "Swap"
    assert payload["line_items"]["removals"] == [{"id": order["line_items"][0]["id"], "delta": 1}]
    [added] = payload["line_items"]["additions"]
    assert added["delta"] == 1
    updated = by_topic["orders/updated"]
    assert line_of(updated, cap)["id"] == added["id"] and updated["total_price"] == "32.50"


def test_notify_customer_sends_the_order_edited_email_and_without_it_none(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop, mug: int, cap: int
) -> None:
    told = shop.order([{"variant_id": mug, "quantity": 2}])
    untold = shop.order([{"variant_id": mug, "quantity": 2}], email="bram@example.nl")
    for order, notify in ((told, True), (untold, False)):
        edit = begin(api, order["id"])
        stage(api, edit["id"], "add_variant", {"variant_id": cap, "quantity": 1})
        api.ok(api.post(f"/order_edits/{edit['id']}/commit.json", {"notify_customer": notify}))
    asyncio.run(Worker(mailing, run_jobs=False).drain())
    assert [m["To"] for m in inbox.messages] == ["anna@example.nl"]
    [mail] = inbox.messages
    assert told["name"] in mail["Subject"]
    assert "Added: 1 × Cap" in mail.get_body(preferencelist=("plain",)).get_content()


def test_prices_are_in_the_orders_presentment_currency(api: Api, shop: Shop, mug: int) -> None:
    # 25.00 EUR of mugs, paid in USD at 1.10: 27.50 USD.
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        presentment_currency="USD",
        exchange_rate="1.10",
        transactions=[{"kind": "sale", "status": "success", "amount": "27.50", "currency": "USD"}],
    )
    edit = begin(api, order["id"])
    edit = stage(api, edit["id"], "add_custom_item", {"title": "Gift wrap", "price": "5.50", "quantity": 1})
    edit = stage(api, edit["id"], "shipping_lines", {"title": "UPS", "price": 11})
    total = edit["total_price_set"]
    assert total["presentment_money"] == {"amount": "44.00", "currency_code": "USD"}
    assert total["shop_money"] == {"amount": "40.00", "currency_code": "EUR"}
    assert edit["total_outstanding_set"]["presentment_money"]["amount"] == "16.50"
    [wrap] = edit["added_line_items"]
    assert wrap["original_unit_price_set"]["presentment_money"]["amount"] == "5.50"
    order_after = api.ok(api.post(f"/order_edits/{edit['id']}/commit.json"))["order"]
    assert order_after["total_price"] == "40.00"
    assert order_after["total_price_set"]["presentment_money"]["amount"] == "44.00"


# ---- at the same moment ------------------------------------------------------------------------------
@pytest.fixture
def race_server(deck: Orderdeck) -> Iterator[Server]:
    running = Server(deck)
    running.start()
    yield running
    running.stop()


def test_one_edit_committed_by_eight_clients_at_once_commits_once(deck: Orderdeck, race_server: Server) -> None:
    location, variant = setup_shop(race_server, stock=5)
    with race_server.client() as c:
        order = race_server.ok(c.post("/orders.json", json=order_body(variant, 1)))["order"]
        edit = race_server.ok(c.post(f"/orders/{order['id']}/order_edits.json"))["order_edit"]
        line = order["line_items"][0]["id"]
        race_server.ok(
            c.post(f"/order_edits/{edit['id']}/set_quantity.json", json={"line_item_id": line, "quantity": 3})
        )

    responses = at_once(race_server, 8, lambda c, _: c.post(f"/order_edits/{edit['id']}/commit.json"))

    codes = Counter(r.status_code for r in responses)
    assert codes[200] == 1 and set(codes) <= {200, 409, 422}, [r.text for r in responses]
    assert level(race_server, variant, location) == {"available": 2, "committed": 3, "on_hand": 5}
    assert webhook_count(deck, order["id"], "orders/edited") == 1


def test_two_edits_of_one_order_committed_at_once_the_second_is_a_conflict(
    deck: Orderdeck, race_server: Server
) -> None:
    location, variant = setup_shop(race_server, stock=5)
    with race_server.client() as c:
        order = race_server.ok(c.post("/orders.json", json=order_body(variant, 1)))["order"]
        line = order["line_items"][0]["id"]
        edits = []
        for quantity in (2, 3):
            edit = race_server.ok(c.post(f"/orders/{order['id']}/order_edits.json"))["order_edit"]
            body = {"line_item_id": line, "quantity": quantity}
            race_server.ok(c.post(f"/order_edits/{edit['id']}/set_quantity.json", json=body))
            edits.append(edit["id"])

    responses = at_once(race_server, 2, lambda c, i: c.post(f"/order_edits/{edits[i]}/commit.json"))

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    won = next(r for r in responses if r.status_code == 200).json()["order"]
    units = won["line_items"][0]["current_quantity"]
    assert level(race_server, variant, location)["committed"] == units
    assert webhook_count(deck, order["id"], "orders/edited") == 1
