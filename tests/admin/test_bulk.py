"""Bulk actions from the Orders page: choose, confirm, run in the background (a Worker), and the
summary with every refused order and its reason; each action's effect seen through the REST API
and on the timeline under the staff member's name."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from orderdeck.domain.order import Author
from orderdeck.outbox.worker import Worker
from orderdeck.services import bulk_runs
from orderdeck.services.bulk import run_in_batches
from orderdeck.services.context import Orderdeck
from orderdeck.store.bulk_runs import BulkRuns

from ..conftest import AUTHORIZE, Api, Shop
from ..integration.conftest import Inbox, inbox, mailing, smtp_port  # noqa: F401  (fixtures)
from .conftest import AdminClient, make_staff


@pytest.fixture
def amsterdam(shop: Shop) -> int:
    return shop.location()


@pytest.fixture
def mug(shop: Shop, amsterdam: int) -> int:
    return shop.product("MUG", "12.50", stock={amsterdam: 100})


def order(shop: Shop, mug: int, **fields: Any) -> dict[str, Any]:
    return shop.order([{"variant_id": mug, "quantity": 1}], **fields)


def work(app: Orderdeck) -> None:
    asyncio.run(Worker(app, run_jobs=False).drain())


def choose(owner: AdminClient, action: str, ids: list[int], **fields: Any) -> Any:
    data: list[tuple[str, Any]] = [("action", action), ("scope", fields.pop("scope", "selected"))]
    data.append(("filter", fields.pop("filter", "status=open")))
    data += [("ids", str(i)) for i in ids]
    data += list(fields.items())
    return owner.post("/admin/orders/bulk", data)


def start(owner: AdminClient, action: str, ids: list[int], **fields: Any) -> Any:
    data: list[tuple[str, Any]] = [("action", action), ("scope", fields.pop("scope", "selected"))]
    data.append(("filter", fields.pop("filter", "status=open")))
    data += [("ids", str(i)) for i in ids]
    data += list(fields.items())
    return owner.post("/admin/orders/bulk/start", data)


def run_through(deck: Orderdeck, owner: AdminClient, action: str, ids: list[int], **fields: Any) -> str:
    """Confirm and start the action, let a worker carry it out, and return the summary page."""
    started = start(owner, action, ids, **fields)
    assert started.status_code == 303, started.text[:3000]
    place = started.headers["location"]
    assert re.fullmatch(r"/admin/bulk/\d+", place)
    work(deck)
    return str(owner.page(place).text)


def refused_rows(page: str) -> list[tuple[str, str]]:
    table = page.split('class="list bulk-refused"', 1)[1].split("</table>", 1)[0]
    return [
        (name, re.sub(r"\s+", " ", reason).strip())
        for name, reason in re.findall(r"<tr><td><a [^>]*>([^<]+)</a></td><td>(.*?)</td></tr>", table, re.S)
    ]


def events(api: Api, order_id: int, verb: str | None = None) -> list[dict[str, Any]]:
    found = api.ok(api.get(f"/orders/{order_id}/events.json"))["events"]
    return [e for e in found if verb is None or e["verb"] == verb]


# ---- choosing and confirming ----------------------------------------------------------------------


def test_nothing_selected_goes_back_to_the_orders_page_with_its_filter(owner: AdminClient) -> None:
    answer = choose(owner, "archive", [], filter="status=open&financial_status=paid")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/orders?status=open&financial_status=paid"
    assert owner.flash(answer).startswith("error: Select at least one order first")


def test_the_confirmation_says_how_many_orders_and_names_them(owner: AdminClient, shop: Shop, mug: int) -> None:
    a, b = order(shop, mug), order(shop, mug)
    page = choose(owner, "archive", [a["id"], b["id"]])
    assert page.status_code == 200
    assert "Archive: 2 orders" in page.text
    assert a["name"] in page.text and b["name"] in page.text
    assert 'action="/admin/orders/bulk/start"' in page.text
    assert re.search(r'<button type="submit" class="primary">Archive 2 orders</button>', page.text)


def test_export_csv_goes_to_the_export_of_the_selection_or_the_filter(owner: AdminClient) -> None:
    picked = choose(owner, "export_csv", [3, 4])
    assert picked.status_code == 303 and picked.headers["location"] == "/admin/orders/export.csv?ids=3&ids=4"
    whole = choose(owner, "export_csv", [], scope="filter", filter="tag=vip")
    assert whole.headers["location"] == "/admin/orders/export.csv?tag=vip"


def test_a_viewer_may_not_start_bulk_work(deck: Orderdeck, admin_app: Any, shop: Shop, mug: int) -> None:
    a = order(shop, mug)
    make_staff(deck, "viewer@shop.test", permissions=("view_orders",), name="Vic Viewer")
    viewer = AdminClient(admin_app)
    viewer.sign_in("viewer@shop.test")
    for path in ("/admin/orders/bulk", "/admin/orders/bulk/start"):
        answer = viewer.post(path, [("action", "archive"), ("scope", "selected"), ("ids", str(a["id"]))])
        assert answer.status_code == 403 and "may not manage orders" in answer.text
    assert shop.get(a["id"])["closed_at"] is None


def test_capturing_needs_the_refund_permission_too(deck: Orderdeck, admin_app: Any, shop: Shop, mug: int) -> None:
    a = order(shop, mug, transactions=AUTHORIZE)
    make_staff(deck, "packer@shop.test", permissions=("view_orders", "manage_orders"), name="Pat Packer")
    packer = AdminClient(admin_app)
    packer.sign_in("packer@shop.test")
    answer = packer.post("/admin/orders/bulk", [("action", "capture"), ("scope", "selected"), ("ids", str(a["id"]))])
    assert answer.status_code == 403 and "may not take and refund payments" in answer.text
    assert choose_as(packer, "archive", [a["id"]]).status_code == 200


def choose_as(who: AdminClient, action: str, ids: list[int]) -> Any:
    return who.post("/admin/orders/bulk", [("action", action), ("scope", "selected")] + [("ids", str(i)) for i in ids])


def test_a_field_the_action_needs_is_asked_again_with_the_reason_and_nothing_starts(
    deck: Orderdeck, owner: AdminClient, shop: Shop, mug: int
) -> None:
    a = order(shop, mug)
    answer = start(owner, "add_tags", [a["id"]], tags=" , ")
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text and "Name at least one tag" in answer.text
    with deck.unit_of_work(read_only=True) as uow:
        assert BulkRuns(uow.conn).waiting(include_running=True) == []


# ---- running: progress, summary, refusals, timeline -----------------------------------------------


def test_bulk_archive_shows_progress_then_the_summary_with_refusals_and_the_timeline_names_the_staff(
    deck: Orderdeck, owner: AdminClient, api: Api, shop: Shop, mug: int
) -> None:
    a, b, done_before = order(shop, mug), order(shop, mug), order(shop, mug)
    api.ok(api.post(f"/orders/{done_before['id']}/close.json", {}))
    started = start(owner, "archive", [a["id"], b["id"], done_before["id"]])
    place = started.headers["location"]

    waiting = owner.page(place).text
    assert "Waiting to start" in waiting and "0 of 3 orders" in waiting
    assert f'data-progress-url="{place}/progress.json"' in waiting
    assert '<meta http-equiv="refresh"' in waiting  # works without JavaScript too
    assert owner.page(place + "/progress.json").json() == {
        "total": 3,
        "done": 0,
        "succeeded": 0,
        "refused": 0,
        "state": "queued",
        "finished": False,
    }

    work(deck)
    assert owner.page(place + "/progress.json").json()["done"] == 3
    summary = owner.page(place).text
    assert "Done" in summary and "2 of 3</strong> archived" in summary and "<strong>1</strong> refused" in summary
    assert refused_rows(summary) == [(done_before["name"], f"Order {done_before['name']} is already archived")]
    assert "http-equiv" not in summary
    for o in (a, b):
        assert shop.get(o["id"])["closed_at"] is not None
        closed = events(api, o["id"], "closed")
        assert [(e["author"], e["author_type"]) for e in closed] == [("Olivia Owner", "staff")]


def test_cancel_refuses_a_fulfilled_order_and_cancels_the_others_with_their_choices(
    deck: Orderdeck, owner: AdminClient, api: Api, shop: Shop, mug: int, amsterdam: int
) -> None:
    open_one, shipped = order(shop, mug), order(shop, mug)
    shop.fulfil(shipped["id"])
    confirm = choose(owner, "cancel", [open_one["id"], shipped["id"]])
    assert "Reason" in confirm.text and "Restock the unfulfilled items" in confirm.text
    summary = run_through(
        deck,
        owner,
        "cancel",
        [open_one["id"], shipped["id"]],
        reason="inventory",
        restock="1",
        staff_note="Supplier ran out",
    )
    assert refused_rows(summary) == [
        (shipped["name"], "Cannot cancel an order with fulfilled items; cancel the fulfillment first")
    ]
    cancelled = shop.get(open_one["id"])
    assert cancelled["cancel_reason"] == "inventory" and shop.get(shipped["id"])["cancelled_at"] is None
    assert shop.level(mug, amsterdam)["available"] == 99  # the shipped mug is gone, the cancelled one is back
    line = events(api, open_one["id"], "cancelled")
    assert line and line[0]["author"] == "Olivia Owner"


def test_capture_takes_every_authorization_and_refuses_orders_with_nothing_authorized(
    deck: Orderdeck, owner: AdminClient, shop: Shop, mug: int
) -> None:
    authorized, unpaid = order(shop, mug, transactions=AUTHORIZE), order(shop, mug)
    summary = run_through(deck, owner, "capture", [authorized["id"], unpaid["id"]])
    assert "1 of 2</strong> payments captured" in summary
    assert refused_rows(summary) == [
        (unpaid["name"], "Nothing to capture: the order has no open payment authorization")
    ]
    assert shop.get(authorized["id"])["financial_status"] == "paid"


def test_fulfil_with_a_tracking_number_per_order(
    deck: Orderdeck, owner: AdminClient, api: Api, shop: Shop, mug: int
) -> None:
    a, b = order(shop, mug), order(shop, mug)
    confirm = choose(owner, "fulfil", [a["id"], b["id"]])
    assert f"Tracking number for {a['name']}" in confirm.text and "Tracking company" in confirm.text
    summary = run_through(
        deck,
        owner,
        "fulfil",
        [a["id"], b["id"]],
        tracking_company="PostNL",
        **{f"tracking_number_{a['id']}": "3SABCD1234567"},
    )
    assert "2 of 2</strong> fulfilled" in summary
    shipped = {o["id"]: shop.get(o["id"]) for o in (a, b)}
    assert all(o["fulfillment_status"] == "fulfilled" for o in shipped.values())
    first = shipped[a["id"]]["fulfillments"][0]
    assert first["tracking_company"] == "PostNL" and first["tracking_number"] == "3SABCD1234567"
    assert first["tracking_url"].startswith("https://jouw.postnl.nl/")
    assert shipped[b["id"]]["fulfillments"][0]["tracking_number"] is None
    assert events(api, a["id"], "fulfillment_success")[0]["author"] == "Olivia Owner"


def test_add_and_remove_tags(deck: Orderdeck, owner: AdminClient, shop: Shop, mug: int) -> None:
    a, b = order(shop, mug, tags="gift"), order(shop, mug)
    run_through(deck, owner, "add_tags", [a["id"], b["id"]], tags="vip, priority")
    assert {shop.get(a["id"])["tags"], shop.get(b["id"])["tags"]} == {"gift, vip, priority", "vip, priority"}
    summary = run_through(deck, owner, "remove_tags", [a["id"], b["id"]], tags="priority")
    assert "2 of 2</strong> tags removed" in summary
    assert shop.get(a["id"])["tags"] == "gift, vip"


def test_set_custom_status_without_notifying_with_notes_and_a_due_date(
    deck: Orderdeck, owner: AdminClient, api: Api, shop: Shop, mug: int
) -> None:
    api.ok(
        api.post(
            "/custom_statuses.json",
            {"custom_status": {"handle": "engraving", "names": {"en": "Engraving"}, "customer_visible": True}},
        )
    )
    a, b = order(shop, mug), order(shop, mug)
    confirm = choose(owner, "set_custom_status", [a["id"], b["id"]])
    assert "Save and notify customers" in confirm.text and "Save without notifying" in confirm.text
    summary = run_through(
        deck,
        owner,
        "set_custom_status",
        [a["id"], b["id"]],
        handle="engraving",
        notify="0",
        due_date="2030-05-01",
        public_note="Your name is being engraved",
    )
    assert "2 of 2</strong> custom status set" in summary and "customers not notified" in summary
    status = shop.get(a["id"])["custom_status"]
    assert status["handle"] == "engraving" and status["public_note"] == "Your name is being engraved"
    assert status["due_at"].startswith("2030-05-01")
    set_line = [e for e in events(api, a["id"]) if "Engraving" in e["message"]]
    assert set_line and set_line[0]["author"] == "Olivia Owner"


def test_set_custom_status_asks_for_a_stage_when_the_shop_has_none(owner: AdminClient, shop: Shop, mug: int) -> None:
    a = order(shop, mug)
    confirm = choose(owner, "set_custom_status", [a["id"]])
    assert "The shop has no custom statuses yet" in confirm.text
    assert "Save and notify customers" not in confirm.text


def test_message_customers_previews_against_the_first_order_and_mails_each_customer(
    mailing: Orderdeck,  # noqa: F811
    inbox: Inbox,  # noqa: F811
    owner: AdminClient,
    shop: Shop,
    mug: int,
) -> None:
    a = order(shop, mug, email="anna@example.nl", customer={"first_name": "Anna"})
    b = order(shop, mug, email="ben@example.com", customer={"first_name": "Ben"})
    fields = {"subject": "{{ name }}: a short delay", "body": "Hi {{ customer.first_name }}, it ships Monday."}
    preview = start(owner, "message", [a["id"], b["id"]], preview="1", **fields)
    assert preview.status_code == 200
    assert f"Preview for {a['name']}" in preview.text and "Hi Anna, it ships Monday." in preview.text
    broken = start(owner, "message", [a["id"], b["id"]], subject="Hi", body="{% if x %}")
    assert broken.status_code == 422 and "line 1" in broken.text

    summary = run_through(mailing, owner, "message", [a["id"], b["id"]], **fields)
    assert "2 of 2</strong> messages queued" in summary
    work(mailing)
    by_address = {m["To"]: m for m in inbox.messages}
    assert set(by_address) == {"anna@example.nl", "ben@example.com"}
    assert by_address["ben@example.com"]["Subject"].endswith(f"{b['name']}: a short delay")


def test_all_orders_that_match_the_filter(deck: Orderdeck, owner: AdminClient, shop: Shop, mug: int) -> None:
    vip = [order(shop, mug, tags="vip"), order(shop, mug, tags="vip")]
    other = order(shop, mug)
    confirm = choose(owner, "archive", [other["id"]], scope="filter", filter="tag=vip")
    assert "All <strong>2 orders</strong> that match" in confirm.text
    summary = run_through(deck, owner, "archive", [], scope="filter", filter="tag=vip")
    assert "2 of 2</strong> archived" in summary
    assert all(shop.get(o["id"])["closed_at"] for o in vip)
    assert shop.get(other["id"])["closed_at"] is None


def test_an_order_deleted_before_its_turn_is_refused_as_gone(
    deck: Orderdeck, owner: AdminClient, api: Api, shop: Shop, mug: int
) -> None:
    a, gone = order(shop, mug), order(shop, mug)
    started = start(owner, "add_tags", [a["id"], gone["id"]], tags="late")
    api.ok(api.post(f"/orders/{gone['id']}/close.json", {}))
    assert api.delete(f"/orders/{gone['id']}.json").status_code == 200
    work(deck)
    summary = owner.page(started.headers["location"]).text
    assert refused_rows(summary) == [(f"Order {gone['id']}", "The order no longer exists")]
    assert shop.get(a["id"])["tags"] == "late"


# ---- stopping and resuming ------------------------------------------------------------------------


def test_a_run_stopped_midway_resumes_from_its_count_and_does_no_order_twice(
    deck: Orderdeck, owner: AdminClient, shop: Shop, mug: int
) -> None:
    picked = [order(shop, mug, transactions=AUTHORIZE) for _ in range(3)]
    started = start(owner, "capture", [o["id"] for o in picked])
    run_id = int(started.headers["location"].rsplit("/", 1)[1])
    # Asked before taking up the run and before each order (captures go a transaction each):
    # the worker is told to stop after the first order.
    asked = iter([False, False, True])
    assert bulk_runs.run_due(deck, lambda: next(asked, True)) == 1
    half = owner.page(f"/admin/bulk/{run_id}/progress.json").json()
    assert half["state"] == "running" and half["done"] == 1
    assert owner.page(f"/admin/bulk/{run_id}").text.count("1 of 3 orders") == 1

    work(deck)  # a worker starting takes up runs left running
    assert owner.page(f"/admin/bulk/{run_id}/progress.json").json()["state"] == "finished"
    for o in picked:
        found = shop.api.ok(shop.api.get(f"/orders/{o['id']}/transactions.json"))["transactions"]
        assert [t["kind"] for t in found].count("capture") == 1


def test_a_batch_another_worker_already_counted_is_rolled_back_whole(
    deck: Orderdeck, owner: AdminClient, shop: Shop, mug: int
) -> None:
    a, b = order(shop, mug), order(shop, mug)
    started = start(owner, "add_tags", [a["id"], b["id"]], tags="once")
    run_id = int(started.headers["location"].rsplit("/", 1)[1])
    with deck.unit_of_work() as uow:
        runs = BulkRuns(uow.conn)
        assert runs.claim(run_id, uow.now)
        seen = runs.get(run_id)  # what this worker read before its first batch
        runs.record(run_id, done=2, succeeded=2, refused=[])  # meanwhile another worker did both orders
        uow.commit()
    author = Author(kind="staff", name="Olivia Owner", ref=None)
    with pytest.raises(bulk_runs.TakenOver):
        run_in_batches(
            deck, author, seen.order_ids, bulk_runs.step_for("add_tags", seen.params), on_batch=bulk_runs.counted(seen)
        )
    assert shop.get(a["id"])["tags"] == "" and shop.get(b["id"])["tags"] == ""
    assert owner.page(f"/admin/bulk/{run_id}/progress.json").json()["done"] == 2
