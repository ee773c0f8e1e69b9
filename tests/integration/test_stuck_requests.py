"""Stuck orders measured from the fulfillment request's own times (S8.3, domain/stuck.py): a request
rejected or given back is flagged at once; one not accepted, not acknowledged, a cancellation not
answered or an accepted request with nothing shipped is flagged by the sweep once its wait is over.
Each occurrence is flagged once (tag, timeline, staff e-mail, orderdeck/orders_stuck) and cleared
when its cause goes.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
from sqlalchemy import insert, select

from orderdeck.outbox import scheduler
from orderdeck.outbox.worker import Worker
from orderdeck.services import sweeps
from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import fulfillment_services, outbox, service_notifications
from tests.conftest import Api, Clock, Shop
from tests.integration.conftest import Inbox
from tests.integration.order_steps import open_fo, ship
from tests.integration.service_steps import service_app


@pytest.fixture
def mars(deck: Orderdeck, client: Any) -> Api:
    """The 3PL app and its Mars Fulfillment service (its callback goes nowhere: a closed port)."""
    return service_app(deck, client, "Mars Fulfillment", "http://127.0.0.1:9/mars")


@pytest.fixture
def utrecht(shop: Shop) -> int:
    """The merchant's own warehouse, where work a service gives back can go."""
    return shop.location("Utrecht")


def two_mugs(shop: Shop, mars: Api, utrecht: int, **fields: Any) -> dict[str, Any]:
    """An order of 2 Delft mugs, stocked at Mars's location (10) and at Utrecht (5)."""
    at = mars.location_id  # type: ignore[attr-defined]
    mug = shop.product("MUG-1", price="12.50", stock={at: 10, utrecht: 5}, title="Delft mug")
    return shop.order([{"variant_id": mug, "quantity": 2}], **fields)


@pytest.fixture
def order(shop: Shop, mars: Api, utrecht: int) -> dict[str, Any]:
    return two_mugs(shop, mars, utrecht)


def path(fo: dict[str, Any] | int, action: str) -> str:
    return f"/fulfillment_orders/{fo if isinstance(fo, int) else fo['id']}/{action}.json"


def request(api: Api, shop: Shop, order: dict[str, Any]) -> dict[str, Any]:
    fo = open_fo(shop, order["id"])
    body = {"fulfillment_request": {"message": "Please ship today."}}
    return api.ok(api.post(path(fo, "fulfillment_request"), body))["submitted_fulfillment_order"]  # type: ignore[no-any-return]


def reject(mars: Api, fo: dict[str, Any]) -> None:
    body = {"fulfillment_request": {"message": "Not enough inventory on hand.", "reason": "inventory_out_of_stock"}}
    mars.ok(mars.post(path(fo, "fulfillment_request/reject"), body))


def accept(mars: Api, fo: dict[str, Any]) -> None:
    mars.ok(mars.post(path(fo, "fulfillment_request/accept"), {"fulfillment_request": {"message": "On it."}}))


def stuck(shop: Shop, order: dict[str, Any]) -> list[dict[str, Any]]:
    return shop.get(order["id"])["stuck"]  # type: ignore[no-any-return]


def tags(shop: Shop, order: dict[str, Any]) -> list[str]:
    return [t.strip() for t in shop.get(order["id"])["tags"].split(",") if t.strip()]


def events(api: Api, order: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order['id']}/events.json", params={"verb": verb}))["events"]  # type: ignore[no-any-return]


def outbox_rows(deck: Orderdeck, kind: str) -> list[tuple[str, dict[str, Any]]]:
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(
            select(outbox.c.topic, outbox.c.payload).where(outbox.c.kind == kind).order_by(outbox.c.id)
        ).all()
    return [(r.topic, orjson.loads(r.payload)) for r in rows]


def listed(api: Api, **params: str) -> set[int]:
    return {o["id"] for o in api.ok(api.get("/orders.json", params={"status": "any", **params}))["orders"]}


def quiet(shop: Shop, **waits: int) -> None:
    """Only the waits a test looks at; the others switched off."""
    limits = {
        "request_accept_hours": 0,
        "request_acknowledge_hours": 0,
        "cancellation_answer_hours": 0,
        "request_ship_days": 0,
        "stuck_after_days": 0,
    }
    shop.settings(**{**limits, **waits})


# ---- at once -------------------------------------------------------------------------------------
def test_a_rejected_request_is_flagged_at_once_with_the_services_reason_and_the_next_step(
    deck: Orderdeck, api: Api, shop: Shop, mars: Api, order: dict[str, Any]
) -> None:
    fo = request(api, shop, order)
    reject(mars, fo)

    [flag] = stuck(shop, order)
    assert flag["reason"] == "request_rejected" and flag["label"] == "Request rejected"
    assert flag["service"] == "Mars Fulfillment" and flag["fulfillment_order_id"] == fo["id"]
    assert flag["service_reason"] == "inventory_out_of_stock"
    assert flag["message"] == "Not enough inventory on hand."
    assert flag["next_step"].startswith("move the items to another location")
    assert "stuck" in tags(shop, order)
    [entry] = events(api, order, "stuck")
    assert "Mars Fulfillment rejected the fulfillment request (inventory out of stock)" in entry["message"]
    assert "Next step: move the items to another location" in entry["message"]
    [(topic, alert)] = outbox_rows(deck, "staff_alert")
    assert topic == "stuck" and alert["subject"] == f"{order['name']} is stuck: request rejected"
    assert "orderdeck/orders_stuck" in [t for t, _ in outbox_rows(deck, "webhook")]
    assert listed(api, stuck="request_rejected") == {order["id"]} == listed(api, stuck="any")
    assert listed(api, stuck="request_not_accepted") == set()
    assert api.ok(api.get("/orders/count.json", params={"status": "any", "stuck": "any"}))["count"] == 1

    # The sweep finds nothing new: flagged once per occurrence.
    sweeps.flag_stuck_orders(deck)
    assert len(events(api, order, "stuck")) == 1 and len(outbox_rows(deck, "staff_alert")) == 1


def test_requesting_again_clears_the_flag_and_the_tag_orderdeck_added(
    api: Api, shop: Shop, mars: Api, order: dict[str, Any]
) -> None:
    fo = request(api, shop, order)
    reject(mars, fo)
    body = {"fulfillment_request": {"message": "Stock is back, please try again."}}
    api.ok(api.post(path(fo, "fulfillment_request"), body))

    assert stuck(shop, order) == [] and "stuck" not in tags(shop, order)
    [cleared] = events(api, order, "stuck_cleared")
    assert cleared["message"] == "No longer stuck (request rejected): fulfillment was requested again."
    assert listed(api, stuck="any") == set()


def test_a_stuck_tag_staff_put_back_stays_when_the_flag_clears(
    api: Api, shop: Shop, mars: Api, order: dict[str, Any]
) -> None:
    fo = request(api, shop, order)
    reject(mars, fo)
    api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"id": order["id"], "tags": ""}}))
    api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"id": order["id"], "tags": "stuck, vip"}}))
    api.ok(api.post(path(fo, "fulfillment_request"), {"fulfillment_request": {"message": "Again"}}))
    assert stuck(shop, order) == [] and tags(shop, order) == ["stuck", "vip"]


def test_work_a_service_gives_back_is_flagged_until_it_is_requested_again_or_moved(
    api: Api, shop: Shop, mars: Api, utrecht: int, order: dict[str, Any]
) -> None:
    fo = request(api, shop, order)
    accept(mars, fo)
    mars.ok(mars.post(path(fo, "close"), {"fulfillment_order": {"message": "The forklift broke."}}))

    [flag] = stuck(shop, order)
    assert flag["reason"] == "closed_incomplete" and flag["message"] == "The forklift broke."
    assert flag["next_step"].startswith("request fulfillment again")
    back = next(f for f in shop.fulfillment_orders(order["id"]) if f["status"] == "open")
    api.ok(api.post(path(back, "move"), {"fulfillment_order": {"new_location_id": utrecht}}))
    assert stuck(shop, order) == []
    [cleared] = events(api, order, "stuck_cleared")
    assert "requested again, moved or removed" in cleared["message"]


def test_a_refused_cancellation_is_flagged_at_once(api: Api, shop: Shop, mars: Api, order: dict[str, Any]) -> None:
    fo = request(api, shop, order)
    accept(mars, fo)
    api.ok(api.post(path(fo, "cancellation_request"), {"cancellation_request": {"message": "Customer cancelled"}}))
    answer = {"cancellation_request": {"message": "It is already packed."}}
    mars.ok(mars.post(path(fo, "cancellation_request/reject"), answer))
    [flag] = stuck(shop, order)
    assert flag["reason"] == "cancellation_rejected" and flag["message"] == "It is already packed."
    ship(mars, fo)  # the service ships it after all: nothing left to wait for
    assert stuck(shop, order) == []


# ---- measured by the sweep from the request's own time -----------------------------------------
def test_a_request_not_accepted_in_time_is_flagged_once_and_cleared_when_accepted(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock, mars: Api, order: dict[str, Any]
) -> None:
    quiet(shop, request_accept_hours=4)
    clock.advance(days=3)  # the order waited days before it was requested: that does not count
    fo = request(api, shop, order)
    clock.advance(hours=3)
    assert sweeps.flag_stuck_orders(deck) == 0
    clock.advance(hours=1, minutes=1)
    assert scheduler.run_now(deck, "stuck-orders", "test") == "1 order(s) flagged as stuck"
    [flag] = stuck(shop, order)
    assert flag["reason"] == "request_not_accepted" and flag["service"] == "Mars Fulfillment"
    assert "has not accepted the fulfillment request sent 4 hours ago" in events(api, order, "stuck")[0]["message"]
    clock.advance(hours=2)
    assert sweeps.flag_stuck_orders(deck) == 0  # once per occurrence
    accept(mars, fo)
    assert stuck(shop, order) == [] and "stuck" not in tags(shop, order)
    assert "the service accepted the request" in events(api, order, "stuck_cleared")[0]["message"]


def test_an_accepted_request_with_nothing_shipped_is_flagged_and_a_shipment_clears_it(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock, mars: Api, order: dict[str, Any]
) -> None:
    quiet(shop, request_ship_days=2)
    fo = request(api, shop, order)
    accept(mars, fo)
    clock.advance(days=2, minutes=1)
    sweeps.flag_stuck_orders(deck)
    [flag] = stuck(shop, order)
    assert flag["reason"] == "accepted_not_shipped"
    assert listed(api, stuck="accepted_not_shipped") == {order["id"]}
    ship(mars, fo, quantity=1)
    assert stuck(shop, order) == []
    assert "the service shipped items" in events(api, order, "stuck_cleared")[0]["message"]


def test_a_cancellation_request_unanswered_is_flagged(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock, mars: Api, order: dict[str, Any]
) -> None:
    quiet(shop, cancellation_answer_hours=6)
    fo = request(api, shop, order)
    accept(mars, fo)
    clock.advance(days=1)  # accepted long ago; the cancellation's own wait starts now
    api.ok(api.post(path(fo, "cancellation_request"), {"cancellation_request": {"message": "Customer cancelled"}}))
    clock.advance(hours=5)
    sweeps.flag_stuck_orders(deck)
    assert stuck(shop, order) == []
    clock.advance(hours=1, minutes=1)
    sweeps.flag_stuck_orders(deck)
    assert [f["reason"] for f in stuck(shop, order)] == ["cancellation_unanswered"]
    mars.ok(mars.post(path(fo, "cancellation_request/accept"), {"cancellation_request": {"message": "Done"}}))
    assert stuck(shop, order) == []


def test_a_notification_the_service_never_acknowledged_is_flagged_and_cleared_when_it_is(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock, mars: Api, order: dict[str, Any]
) -> None:
    quiet(shop, request_acknowledge_hours=2, request_accept_hours=24)
    fo = request(api, shop, order)
    with deck.unit_of_work() as uow:  # the notification the sender keeps trying (outbox/service_calls.py)
        service_id = uow.conn.execute(select(fulfillment_services.c.id)).scalar_one()
        sent = uow.orders.get(order["id"], for_update=False).fulfillment_order(fo["id"])
        assert sent is not None
        request_id = sent.merchant_requests[-1].id
        notification = str(uuid.uuid4())
        uow.conn.execute(
            insert(service_notifications).values(
                id=notification,
                service_id=service_id,
                order_id=order["id"],
                fulfillment_order_id=fo["id"],
                kind="fulfillment_request",
                request_id=request_id,
                body='{"kind":"FULFILLMENT_REQUEST"}',
                state="pending",
                attempts=3,
                created_at=uow.now,
                last_error="connection refused",
            )
        )
        uow.commit()
    clock.advance(hours=2, minutes=1)
    sweeps.flag_stuck_orders(deck)
    [flag] = stuck(shop, order)
    assert flag["reason"] == "notification_unacknowledged"
    assert flag["next_step"].startswith("check Mars Fulfillment's callback URL")

    with deck.unit_of_work() as uow:  # the service answers the notification at last
        uow.conn.execute(
            service_notifications.update()
            .where(service_notifications.c.id == notification)
            .values(state="acknowledged", acknowledged_at=uow.now)
        )
        uow.commit()
    sweeps.flag_stuck_orders(deck)
    assert stuck(shop, order) == []  # not accepted for 24 hours yet: nothing else to flag
    assert "acknowledged the request" in events(api, order, "stuck_cleared")[0]["message"]


def test_an_order_unfulfilled_too_long_is_cleared_when_it_ships(
    deck: Orderdeck, api: Api, shop: Shop, clock: Clock
) -> None:
    shop.location()
    quiet(shop, stuck_after_days=2)
    order = shop.order([{"title": "Mug", "price": "12.50", "quantity": 1}])
    clock.advance(days=2, hours=1)
    sweeps.flag_stuck_orders(deck)
    assert [f["reason"] for f in stuck(shop, order)] == ["unfulfilled_too_long"]
    shop.fulfil(order["id"])
    assert stuck(shop, order) == [] and "stuck" not in tags(shop, order)


# ---- the list filter and automation -------------------------------------------------------------
def test_a_stuck_filter_that_is_no_reason_is_refused_naming_the_field(api: Api) -> None:
    answer = api.get("/orders.json", params={"stuck": "lost_in_space"})
    assert answer.status_code == 422 and "stuck" in answer.json()["errors"]


def test_a_rule_reads_the_stuck_reason(deck: Orderdeck, api: Api, shop: Shop, mars: Api, order: dict[str, Any]) -> None:
    rule = {
        "name": "Out of stock at the 3PL",
        "enabled": True,
        "when": {"event": "orderdeck/orders_stuck"},
        "if": {"field": "stuck.reason", "op": "contains", "value": "request_rejected"},
        "then": [{"action": "add_tags", "tags": ["restock-3pl"]}],
    }
    api.ok(api.post("/automation_rules.json", {"automation_rule": rule}))
    fo = request(api, shop, order)
    reject(mars, fo)
    asyncio.run(Worker(deck, run_jobs=False).drain())
    assert "restock-3pl" in tags(shop, order)


def test_a_cancellation_refused_after_an_order_edit_warns_that_removed_items_may_ship(
    api: Api, shop: Shop, mars: Api, order: dict[str, Any]
) -> None:
    fo = request(api, shop, order)
    accept(mars, fo)
    line_id = order["line_items"][0]["id"]
    edit = api.ok(api.post(f"/orders/{order['id']}/order_edits.json", {}))["order_edit"]
    body = {"line_item_id": line_id, "quantity": 1, "restock": True}
    api.ok(api.post(f"/order_edits/{edit['id']}/set_quantity.json", body))
    api.ok(api.post(f"/order_edits/{edit['id']}/commit.json", {}))  # asks Mars to cancel (the edit)
    answer = {"cancellation_request": {"message": "Already packed."}}
    mars.ok(mars.post(path(fo, "cancellation_request/reject"), answer))

    [flag] = stuck(shop, order)
    assert (flag["reason"], flag["service_reason"]) == ("cancellation_rejected", "order_edited")
    assert flag["next_step"].startswith("contact Mars Fulfillment: it may ship items taken off the order")
    [entry] = events(api, order, "stuck")
    assert "Mars Fulfillment refused to cancel the fulfillment after the order was edited" in entry["message"]


def test_the_staff_e_mail_names_the_reason_and_the_next_step(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop, mars: Api, order: dict[str, Any]
) -> None:
    shop.settings(staff_email="ops@shop.test")
    fo = request(api, shop, order)
    reject(mars, fo)
    asyncio.run(Worker(mailing, run_jobs=False).drain())
    [mail] = inbox.messages
    assert mail["Subject"] == f"[Orderdeck demo shop] {order['name']} is stuck: request rejected"
    body = mail.get_content()
    assert "Mars Fulfillment rejected the fulfillment request (inventory out of stock)" in body
    assert "Next step: move the items to another location" in body
    assert f"/admin/orders/{order['id']}" in body
