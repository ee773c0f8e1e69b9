"""Which carrier news the customer is e-mailed about: the shop's `shipment_updates` setting.

Every shipment status with an e-mail of its own is on by default; staff switch any off, through
the settings API or the admin's settings page. Whatever the setting, the event is recorded, the
webhook goes out and the status page shows the parcel's progress: only the e-mail is left out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox

UPS_NUMBER = "1Z999AA10123456784"


def emails(deck: Orderdeck, order_id: int) -> list[str]:
    with deck.unit_of_work(read_only=True) as uow:
        return list(
            uow.conn.execute(
                select(outbox.c.topic)
                .where(outbox.c.kind == "notification", outbox.c.order_id == order_id)
                .order_by(outbox.c.created_at)
            ).scalars()
        )


def webhooks(deck: Orderdeck, order_id: int) -> list[str]:
    with deck.unit_of_work(read_only=True) as uow:
        return list(
            uow.conn.execute(
                select(outbox.c.topic).where(outbox.c.kind == "webhook", outbox.c.order_id == order_id)
            ).scalars()
        )


def shipped(shop: Any) -> tuple[dict[str, Any], str]:
    loc = shop.location()
    mug = shop.product("MUG", stock={loc: 10})
    order = shop.order([{"variant_id": mug, "quantity": 1}], email="anna@example.com")
    made = shop.fulfil(order["id"], tracking=UPS_NUMBER)
    return order, f"/orders/{order['id']}/fulfillments/{made['id']}/events.json"


def test_every_shipment_email_is_on_by_default(api: Any) -> None:
    settings = api.ok(api.get("/shop.json"))["shop"]["settings"]
    assert settings["shipment_updates"] == [
        "out_for_delivery",
        "delivered",
        "ready_for_pickup",
        "attempted_delivery",
        "failure",
    ]


def test_a_status_switched_off_is_recorded_but_not_emailed(api: Any, shop: Any, deck: Orderdeck, clock: Any) -> None:
    api.ok(api.put("/shop/settings.json", {"settings": {"shipment_updates": ["delivered"]}}))
    order, path = shipped(shop)
    before = emails(deck, order["id"])

    api.ok(api.post(path, {"event": {"status": "out_for_delivery"}}))
    assert emails(deck, order["id"]) == before  # switched off: no e-mail …
    assert "fulfillment_events/create" in webhooks(deck, order["id"])  # … the rest as always
    assert api.ok(api.get(path))["fulfillment_events"][0]["status"] == "out_for_delivery"

    clock.advance(hours=3)
    api.ok(api.post(path, {"event": {"status": "delivered"}}))
    assert emails(deck, order["id"]) == [*before, "delivered"]


def test_none_switches_every_shipment_email_off(api: Any, shop: Any, deck: Orderdeck) -> None:
    api.ok(api.put("/shop/settings.json", {"settings": {"shipment_updates": []}}))
    order, path = shipped(shop)
    before = emails(deck, order["id"])
    api.ok(api.post(path, {"event": {"status": "delivered"}}))
    assert emails(deck, order["id"]) == before


def test_an_unknown_status_is_refused_and_changes_nothing(api: Any) -> None:
    answer = api.put("/shop/settings.json", {"settings": {"shipment_updates": ["delivered", "lost_at_sea"]}})
    assert answer.status_code == 422
    assert "shipment_updates" in answer.text
    assert "attempted_delivery" in api.ok(api.get("/shop.json"))["shop"]["settings"]["shipment_updates"]
