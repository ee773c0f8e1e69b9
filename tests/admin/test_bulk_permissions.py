"""Every bulk action asks for the permissions of the same action on one order's page: staff
without them are refused when they ask, and a run refuses each order when its staff member lacks
them when it runs (a cancel that would refund paid money needs "refund", as a single cancel does)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orderdeck.outbox.worker import Worker
from orderdeck.services import bulk_runs
from orderdeck.services.context import Orderdeck
from orderdeck.services.staff import change_staff
from orderdeck.store.staff import PERMISSIONS

from ..conftest import AUTHORIZE, SELL, Api, Shop
from .conftest import AdminClient, make_staff


@pytest.fixture
def mug(shop: Shop) -> int:
    return shop.product("MUG", "12.50", stock={shop.location(): 100})


def order(shop: Shop, mug: int, **fields: Any) -> dict[str, Any]:
    return shop.order([{"variant_id": mug, "quantity": 1}], **fields)


def signed_in(deck: Orderdeck, admin_app: Any, email: str, permissions: tuple[str, ...]) -> AdminClient:
    make_staff(deck, email, permissions=permissions, name=email.split("@")[0].title())
    who = AdminClient(admin_app)
    assert who.sign_in(email).status_code == 303
    return who


def fields_for(action: str) -> list[tuple[str, str]]:
    return {
        "add_tags": [("tags", "vip")],
        "remove_tags": [("tags", "vip")],
        "set_custom_status": [("handle", "packing")],
        "message": [("subject", "Hello"), ("body", "Hi {{ order.name }}")],
        "cancel": [("reason", "other"), ("refund", "1")],
    }.get(action, [])


def ask(who: AdminClient, path: str, action: str, ids: list[int]) -> Any:
    data = [("action", action), ("scope", "selected")] + [("ids", str(i)) for i in ids] + fields_for(action)
    return who.post(path, data)


def work(deck: Orderdeck) -> None:
    asyncio.run(Worker(deck, run_jobs=False).drain())


def refunds(shop: Shop, order_id: int) -> list[dict[str, Any]]:
    return [
        t
        for t in shop.api.ok(shop.api.get(f"/orders/{order_id}/transactions.json"))["transactions"]
        if t["kind"] == "refund"
    ]


def test_every_bulk_action_needs_the_permissions_of_the_single_action() -> None:
    # Capturing on an order's page needs "refund"; everything else there needs "manage_orders".
    assert set(bulk_runs.NEEDS) == set(bulk_runs.ACTIONS)
    assert bulk_runs.NEEDS["capture"] == ("manage_orders", "refund")
    assert all(bulk_runs.NEEDS[a] == ("manage_orders",) for a in bulk_runs.ACTIONS if a != "capture")
    assert all(p in PERMISSIONS for needed in bulk_runs.NEEDS.values() for p in needed)


@pytest.mark.parametrize("action", list(bulk_runs.ACTIONS))
def test_staff_lacking_a_permission_are_refused_each_action_and_nothing_starts(
    deck: Orderdeck, admin_app: Any, shop: Shop, mug: int, action: str
) -> None:
    a = order(shop, mug, transactions=AUTHORIZE)
    needed = bulk_runs.NEEDS[action]
    lacking = needed[-1]
    held = tuple(p for p in ("view_orders", *needed) if p != lacking)
    who = signed_in(deck, admin_app, "lacking@shop.test", held)
    words = {"manage_orders": "may not manage orders", "refund": "may not take and refund payments"}[lacking]
    for path in ("/admin/orders/bulk", "/admin/orders/bulk/start"):
        answer = ask(who, path, action, [a["id"]])
        assert answer.status_code == 403 and words in answer.text, (path, answer.text[:500])
    with deck.unit_of_work(read_only=True) as uow:
        from orderdeck.store.bulk_runs import BulkRuns

        assert BulkRuns(uow.conn).waiting(include_running=True) == []


def test_bulk_cancel_without_the_refund_permission_refuses_paid_orders_and_refunds_nothing(
    deck: Orderdeck, admin_app: Any, shop: Shop, mug: int
) -> None:
    paid, unpaid = order(shop, mug, transactions=SELL), order(shop, mug)
    packer = signed_in(deck, admin_app, "packer@shop.test", ("view_orders", "manage_orders"))

    confirm = ask(packer, "/admin/orders/bulk", "cancel", [paid["id"], unpaid["id"]])
    assert confirm.status_code == 200
    assert 'id="f-refund" name="refund" type="checkbox" value="1"  aria-describedby' in confirm.text  # not ticked
    assert "Your account may not refund payments" in confirm.text

    started = ask(packer, "/admin/orders/bulk/start", "cancel", [paid["id"], unpaid["id"]])
    assert started.status_code == 303, started.text[:2000]
    work(deck)
    summary = packer.page(started.headers["location"]).text
    assert "1 of 2</strong> cancelled" in summary
    assert "lacks the “Capture, void and refund payments” permission" in summary
    assert shop.get(paid["id"])["cancelled_at"] is None and refunds(shop, paid["id"]) == []
    assert shop.get(unpaid["id"])["cancelled_at"] is not None  # nothing paid, nothing to refund: as a single cancel


def test_bulk_cancel_without_refunding_is_allowed_without_the_refund_permission(
    deck: Orderdeck, admin_app: Any, shop: Shop, mug: int
) -> None:
    paid = order(shop, mug, transactions=SELL)
    packer = signed_in(deck, admin_app, "packer@shop.test", ("view_orders", "manage_orders"))
    data = [("action", "cancel"), ("scope", "selected"), ("ids", str(paid["id"])), ("reason", "customer")]
    assert packer.post("/admin/orders/bulk/start", data).status_code == 303
    work(deck)
    assert shop.get(paid["id"])["cancelled_at"] is not None and refunds(shop, paid["id"]) == []


def test_bulk_cancel_with_the_refund_permission_refunds(deck: Orderdeck, admin_app: Any, shop: Shop, mug: int) -> None:
    paid = order(shop, mug, transactions=SELL)
    cashier = signed_in(deck, admin_app, "cashier@shop.test", ("view_orders", "manage_orders", "refund"))
    assert ask(cashier, "/admin/orders/bulk/start", "cancel", [paid["id"]]).status_code == 303
    work(deck)
    assert shop.get(paid["id"])["cancelled_at"] is not None and len(refunds(shop, paid["id"])) == 1


def test_a_run_refuses_every_order_when_its_staff_member_lost_the_permission_before_it_ran(
    deck: Orderdeck, admin_app: Any, shop: Shop, mug: int
) -> None:
    a = order(shop, mug, transactions=AUTHORIZE)
    cashier = signed_in(deck, admin_app, "cashier@shop.test", ("view_orders", "manage_orders", "refund"))
    started = ask(cashier, "/admin/orders/bulk/start", "capture", [a["id"]])
    assert started.status_code == 303
    with deck.unit_of_work() as uow:
        staff_id = uow.staff.by_email("cashier@shop.test")[0].id  # type: ignore[index]
        change_staff(uow, staff_id, permissions=["view_orders", "manage_orders"])
        uow.commit()
    work(deck)
    summary = cashier.page(started.headers["location"]).text
    assert "0 of 1</strong> payments captured" in summary and "lacks the “Capture, void and refund payments”" in summary
    assert shop.get(a["id"])["financial_status"] == "authorized"


BULK_ENDPOINTS = [
    ("/orders/bulk/close.json", {"ids": []}),
    ("/orders/bulk/open.json", {"ids": []}),
    ("/orders/bulk/tags/add.json", {"ids": [], "tags": "vip"}),
    ("/orders/bulk/tags/remove.json", {"ids": [], "tags": "vip"}),
    ("/orders/bulk/messages.json", {"ids": [], "message": {"subject": "Hi", "body": "Hello"}}),
    ("/orders/bulk/messages/preview.json", {"order_id": 1, "message": {"subject": "Hi", "body": "Hello"}}),
    ("/orders/bulk/custom_status.json", {"ids": [], "handle": "packing"}),
]


def test_api_bulk_endpoints_need_write_orders_as_their_single_counterparts(
    deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    from ..conftest import make_token

    a = order(shop, mug)
    reader = make_token(deck, ["read_orders", "read_all_orders", "write_fulfillments", "write_webhooks"])
    for path, body in BULK_ENDPOINTS:
        if "ids" in body:
            body = {**body, "ids": [a["id"]]}
        answer = api.client.post(f"/admin/api/2024-10{path}", json=body, headers={"X-Shopify-Access-Token": reader})
        assert answer.status_code == 403, (path, answer.status_code, answer.text)
        assert "write_orders" in answer.text
    assert shop.get(a["id"])["closed_at"] is None and shop.get(a["id"])["tags"] == ""
