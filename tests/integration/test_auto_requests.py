"""Automatic fulfillment requests (S7.1, S8.4; domain/auto_requests.py): the shop's
`auto_request_fulfillment` and a service's own `auto_request` send the request to the service by
themselves when the order is paid (or authorized, by choice); a released hold sends it then;
nothing is sent twice, and what the merchant withdrew, the service rejected or gave back is not
sent again by itself.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

# ruff: noqa: F811  (pytest fixtures imported by name are redefined as parameters)

from __future__ import annotations

from typing import Any

from orderdeck.services.context import Orderdeck
from tests.admin.conftest import AdminClient
from tests.admin.conftest import admin_app as admin_app
from tests.admin.conftest import owner as owner
from tests.conftest import Api, Shop
from tests.integration.order_steps import open_fo
from tests.integration.test_fulfillment_requests import (
    fo_path,
    fos,
    jupiter,  # noqa: F401  (a fixture)
    refused,
    stocked,  # noqa: F401  (a fixture)
    three_mugs_and_a_plate,
    timeline,
    webhooks,
)

PAID = [{"kind": "sale", "status": "success"}]
AUTHORIZED = [{"kind": "authorization", "status": "success"}]


def place(shop: Shop, stocked: dict[str, int], transactions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    lines = three_mugs_and_a_plate(stocked)
    return shop.order(lines, **({"transactions": transactions} if transactions else {}))


def requested(shop: Shop, order: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(status, request status, merchant requests) of each fulfillment order, oldest first."""
    return [
        (fo["status"], fo["request_status"], len(fo["merchant_requests"]))
        for fo in sorted(fos(shop, order).values(), key=lambda f: f["id"])
    ]


def test_automatic_requests_are_off_by_default(api: Api, shop: Shop, stocked: dict[str, int]) -> None:
    assert api.ok(api.get("/shop.json"))["shop"]["settings"]["auto_request_fulfillment"] == "off"
    order = place(shop, stocked, PAID)
    assert requested(shop, order) == [("open", "unsubmitted", 0)]


def test_a_paid_order_is_requested_at_once_by_orderdeck(
    deck: Orderdeck, api: Api, shop: Shop, stocked: dict[str, int]
) -> None:
    shop.settings(auto_request_fulfillment="on_payment")
    order = place(shop, stocked, PAID)
    fo = open_fo(shop, order["id"])
    assert (fo["status"], fo["request_status"], fo["supported_actions"]) == (
        "open",
        "submitted",
        ["cancel_fulfillment_order"],
    )
    [sent] = fo["merchant_requests"]
    assert sent["kind"] == "fulfillment_request"
    assert sent["message"] == "Requested automatically: the order is paid."
    assert sent["request_options"] == {"notify_customer": True}
    # Both in the placing command: a 3PL app learns of the order routed to it and of the request.
    assert sorted(t for t, _ in webhooks(deck, order["id"])) == [
        "fulfillment_orders/fulfillment_request_submitted",
        "fulfillment_orders/order_routing_complete",
    ]
    [entry] = [e for e in timeline(api, order["id"]) if e["verb"] == "fulfillment_request_submitted"]
    assert entry["author"] == "Orderdeck" and "Jupiter Fulfillment" in entry["message"]
    assert shop.get(order["id"])["fulfillment_status"] is None


def test_on_payment_waits_for_the_capture_and_on_authorization_does_not(
    api: Api, shop: Shop, stocked: dict[str, int]
) -> None:
    shop.settings(auto_request_fulfillment="on_payment")
    order = place(shop, stocked, AUTHORIZED)
    assert shop.get(order["id"])["financial_status"] == "authorized"
    assert requested(shop, order) == [("open", "unsubmitted", 0)]
    shop.capture(order["id"])
    assert requested(shop, order) == [("open", "submitted", 1)]
    assert (
        open_fo(shop, order["id"])["merchant_requests"][0]["message"] == "Requested automatically: the order is paid."
    )

    shop.settings(auto_request_fulfillment="on_authorization")
    other = place(shop, stocked, AUTHORIZED)
    assert requested(shop, other) == [("open", "submitted", 1)]
    assert "authorized" in open_fo(shop, other["id"])["merchant_requests"][0]["message"]
    unpaid = place(shop, stocked)
    assert shop.get(unpaid["id"])["financial_status"] == "pending"
    assert requested(shop, unpaid) == [("open", "unsubmitted", 0)]


def test_a_services_own_setting_wins_over_the_shops(
    api: Api,
    shop: Shop,
    jupiter: Api,
    stocked: dict[str, int],
) -> None:
    [service] = jupiter.ok(jupiter.get("/fulfillment_services.json"))["fulfillment_services"]
    assert service["auto_request"] is None
    changed = jupiter.ok(
        jupiter.put(
            f"/fulfillment_services/{service['id']}.json", {"fulfillment_service": {"auto_request": "on_payment"}}
        )
    )["fulfillment_service"]
    assert changed["auto_request"] == "on_payment"
    assert requested(shop, place(shop, stocked, PAID)) == [("open", "submitted", 1)]

    shop.settings(auto_request_fulfillment="on_payment")
    jupiter.ok(
        jupiter.put(f"/fulfillment_services/{service['id']}.json", {"fulfillment_service": {"auto_request": "off"}})
    )
    assert requested(shop, place(shop, stocked, PAID)) == [("open", "unsubmitted", 0)]
    # null follows the shop again
    back = jupiter.ok(
        jupiter.put(f"/fulfillment_services/{service['id']}.json", {"fulfillment_service": {"auto_request": None}})
    )["fulfillment_service"]
    assert back["auto_request"] is None
    assert requested(shop, place(shop, stocked, PAID)) == [("open", "submitted", 1)]


def test_unknown_settings_are_refused_by_name(api: Api, jupiter: Api) -> None:
    [service] = jupiter.ok(jupiter.get("/fulfillment_services.json"))["fulfillment_services"]
    answer = jupiter.put(
        f"/fulfillment_services/{service['id']}.json", {"fulfillment_service": {"auto_request": "now"}}
    )
    refused(answer, "must be one of off, on_payment, on_authorization")
    assert "auto_request" in answer.json()["errors"]
    created = jupiter.post(
        "/fulfillment_services.json",
        {"fulfillment_service": {"name": "Mars", "callback_url": "https://mars.example/od", "auto_request": "always"}},
    )
    assert "auto_request" in created.json()["errors"] and created.status_code == 422
    made = jupiter.ok(
        jupiter.post(
            "/fulfillment_services.json",
            {
                "fulfillment_service": {
                    "name": "Mars",
                    "callback_url": "https://mars.example/od",
                    "auto_request": "on_authorization",
                }
            },
        )
    )["fulfillment_service"]
    assert made["auto_request"] == "on_authorization"
    bad = api.put("/shop/settings.json", {"settings": {"auto_request_fulfillment": "sometimes"}})
    assert bad.status_code == 422 and "auto_request_fulfillment" in repr(bad.json()["errors"])
    assert api.ok(api.get("/shop.json"))["shop"]["settings"]["auto_request_fulfillment"] == "off"


def test_a_released_hold_sends_the_request(api: Api, shop: Shop, stocked: dict[str, int]) -> None:
    shop.settings(auto_request_fulfillment="on_payment")
    order = place(shop, stocked, AUTHORIZED)
    fo = open_fo(shop, order["id"])
    api.ok(api.post(fo_path(fo, "hold"), {"fulfillment_hold": {"reason": "incorrect_address"}}))
    shop.capture(order["id"])  # paid, but held: nothing goes out
    assert requested(shop, order) == [("on_hold", "unsubmitted", 0)]
    api.ok(api.post(fo_path(fo, "release_hold"), {}))
    assert requested(shop, order) == [("open", "submitted", 1)]


def test_nothing_is_sent_twice_and_what_was_taken_back_stays_back(
    api: Api,
    shop: Shop,
    jupiter: Api,
    stocked: dict[str, int],
) -> None:
    shop.settings(auto_request_fulfillment="on_payment")
    order = place(shop, stocked, PAID)
    fo = open_fo(shop, order["id"])
    api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"note": "Ring twice"}}))  # another save
    assert requested(shop, order) == [("open", "submitted", 1)]

    # The merchant withdraws the request: the replacement waits for the merchant.
    answer = api.ok(api.post(fo_path(fo, "cancel"), {}))
    replacement = answer["replacement_fulfillment_order"]
    assert (replacement["request_status"], replacement["supported_actions"][0]) == (
        "unsubmitted",
        "request_fulfillment",
    )
    api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"note": "Ring three times"}}))
    assert fos(shop, order)[replacement["id"]]["request_status"] == "unsubmitted"

    # Requested by hand, rejected: not re-sent by itself.
    api.ok(api.post(fo_path(replacement, "fulfillment_request"), {"fulfillment_request": {}}))
    jupiter.ok(jupiter.post(fo_path(replacement, "fulfillment_request/reject"), {"fulfillment_request": {}}))
    api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"note": "Ring four times"}}))
    assert fos(shop, order)[replacement["id"]]["request_status"] == "rejected"


def test_work_a_service_gives_back_is_not_sent_back_to_it(
    api: Api,
    shop: Shop,
    jupiter: Api,
    stocked: dict[str, int],
) -> None:
    shop.settings(auto_request_fulfillment="on_payment")
    order = place(shop, stocked, PAID)
    fo = open_fo(shop, order["id"])
    jupiter.ok(jupiter.post(fo_path(fo, "fulfillment_request/accept"), {"fulfillment_request": {}}))
    answer = jupiter.ok(jupiter.post(fo_path(fo, "close"), {"fulfillment_order": {"message": "Broke it"}}))
    back = answer["replacement_fulfillment_order"]
    assert fos(shop, order)[back["id"]]["request_status"] == "unsubmitted"

    # A cancellation the merchant asked for: the work comes back and waits for the merchant.
    other = place(shop, stocked, PAID)
    sent = open_fo(shop, other["id"])
    jupiter.ok(jupiter.post(fo_path(sent, "fulfillment_request/accept"), {"fulfillment_request": {}}))
    api.ok(api.post(fo_path(sent, "cancellation_request"), {"cancellation_request": {"message": "Customer called"}}))
    answer = jupiter.ok(jupiter.post(fo_path(sent, "cancellation_request/accept"), {"cancellation_request": {}}))
    assert fos(shop, other)[answer["replacement_fulfillment_order"]["id"]]["request_status"] == "unsubmitted"


def test_scheduled_orders_wait_and_cancelled_orders_are_never_requested(
    api: Api, shop: Shop, stocked: dict[str, int]
) -> None:
    later = place(shop, stocked, AUTHORIZED)
    cancelled = place(shop, stocked, AUTHORIZED)
    fo = open_fo(shop, later["id"])
    api.ok(api.post(fo_path(fo, "reschedule"), {"fulfillment_order": {"new_fulfill_at": "2099-01-01T10:00:00Z"}}))
    shop.settings(auto_request_fulfillment="on_authorization")
    api.ok(api.put(f"/orders/{later['id']}.json", {"order": {"note": "For his birthday"}}))
    assert requested(shop, later) == [("scheduled", "unsubmitted", 0)]
    api.ok(api.post(fo_path(fo, "open"), {}))
    assert requested(shop, later) == [("open", "submitted", 1)]

    api.ok(api.post(f"/orders/{cancelled['id']}/cancel.json", {}))
    assert [r for _, r, _ in requested(shop, cancelled)] == ["unsubmitted"]


def test_staff_choose_automatic_requests_in_the_shop_settings(owner: AdminClient, api: Api) -> None:
    page = owner.page("/admin/settings/shop").text
    assert 'name="auto_request_fulfillment"' in page and "When the order is paid" in page
    form = [
        ("capture_mode", "manual"),
        ("authorization_period_days", "7"),
        ("auto_fulfill_channels", "pos"),
        ("order_name_prefix", "#"),
        ("stuck_after_days", "5"),
        ("retention_days", "30"),
        ("self_service_window_minutes", "150"),
        ("auto_request_fulfillment", "on_authorization"),
    ]
    assert owner.post("/admin/settings/shop", form).status_code == 303
    assert api.ok(api.get("/shop.json"))["shop"]["settings"]["auto_request_fulfillment"] == "on_authorization"
    refused_form = owner.post("/admin/settings/shop", [*form[:-1], ("auto_request_fulfillment", "always")])
    assert refused_form.status_code == 422
    assert api.ok(api.get("/shop.json"))["shop"]["settings"]["auto_request_fulfillment"] == "on_authorization"
