"""The order page: what staff see of one order, and each action on it run through its form.
After every action the REST API shows the change and the timeline names the staff member;
a refused action says why and changes nothing; a viewer sees no buttons and cannot post."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox
from tests.conftest import Api, Shop

from .conftest import PASSWORD, AdminClient, make_staff

ADDRESS = {
    "first_name": "Anna",
    "last_name": "de Vries",
    "address1": "Keizersgracht 1",
    "city": "Amsterdam",
    "zip": "1015 CJ",
    "country": "Netherlands",
    "country_code": "NL",
}


@pytest.fixture
def amsterdam(shop: Shop) -> int:
    return shop.location("Amsterdam")


@pytest.fixture
def utrecht(shop: Shop) -> int:
    return shop.location("Utrecht")


@pytest.fixture
def mug(shop: Shop, amsterdam: int, utrecht: int) -> int:
    return shop.product("MUG-1", price="12.50", stock={amsterdam: 20, utrecht: 20}, title="Delft mug")


@pytest.fixture
def order(shop: Shop, mug: int) -> dict[str, Any]:
    return shop.order(
        [{"variant_id": mug, "quantity": 3}],
        shipping_address=ADDRESS,
        billing_address=ADDRESS,
        tags="vip",
        customer={"first_name": "Anna", "last_name": "de Vries"},
    )


def text_of(page: Any) -> str:
    """The page's words without markup, so assertions read like what a person sees."""
    words = re.sub(r"<[^>]+>", " ", page.text)
    return re.sub(r"\s+", " ", html.unescape(words))


def events(api: Api, order_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order_id}/events.json", params={"limit": 250}))["events"]  # type: ignore[no-any-return]


def last_event(api: Api, order_id: int) -> dict[str, Any]:
    return events(api, order_id)[-1]


def fulfillment_orders(api: Api, order_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order_id}/fulfillment_orders.json"))["fulfillment_orders"]  # type: ignore[no-any-return]


def open_fo(api: Api, order_id: int) -> dict[str, Any]:
    return next(fo for fo in fulfillment_orders(api, order_id) if fo["status"] in ("open", "in_progress", "on_hold"))


def url(order: dict[str, Any], action: str = "") -> str:
    return f"/admin/orders/{order['id']}" + (f"/{action}" if action else "")


# ---- what the page shows ------------------------------------------------------------------------
def test_the_page_shows_statuses_groups_customer_and_timeline(
    owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any]
) -> None:
    page = owner.page(url(order))
    words = text_of(page)
    assert "#1001" in words
    assert 'title="Order: Open"' in page.text
    assert 'title="Payment: Pending"' in page.text
    assert 'title="Fulfillment: Unfulfilled"' in page.text
    assert "Channel: api" in words
    assert "vip" in words
    assert "Amsterdam" in words and "Delft mug" in words and "MUG-1" in words
    assert "Anna de Vries" in words and "anna@example.nl" in words and "Keizersgracht 1" in words
    # The billing address cannot be edited, and the page says why in the domain's words.
    assert "The billing address cannot be changed after the order is placed" in words
    assert 'action="/admin/orders/{}/shipping-address"'.format(order["id"]) in page.text
    assert "billing-address" not in page.text
    # The timeline shows the placement with who placed it.
    assert "by Test suite (app)" in words
    assert order["order_status_url"] in page.text
    # Allowed now: fulfil, hold, move, schedule; not allowed now and saying why: releasing a hold.
    assert "Fulfill items" in words and "Hold fulfillment" in words and "Change location" in words
    assert "The fulfillment order is not on hold" in words


def test_a_missing_order_is_a_404_page(owner: AdminClient) -> None:
    page = owner.page("/admin/orders/999999", expect=404)
    assert "There is no order with id 999999" in text_of(page)


def test_timeline_is_newest_first(owner: AdminClient, api: Api, order: dict[str, Any]) -> None:
    owner.post(url(order, "comments"), {"body": "First look"})
    owner.post(url(order, "comments"), {"body": "Second look"})
    words = text_of(owner.page(url(order)))
    assert words.index("Second look") < words.index("First look") < words.index("by Test suite")


# ---- fulfilment ---------------------------------------------------------------------------------
def test_fulfil_part_with_tracking_then_unfulfil(
    owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any], amsterdam: int, mug: int
) -> None:
    fo = open_fo(api, order["id"])
    line = fo["line_items"][0]
    answer = owner.post(
        url(order, f"fulfillment-orders/{fo['id']}/fulfil"),
        {
            f"qty_{line['id']}": "2",
            "tracking_company": "",
            "tracking_numbers": "1Z999AA10123456784",
            "tracking_url": "",
            "notify_customer": "1",
        },
    )
    assert owner.flash(answer) == "success: Fulfilled 2 items as #1001.1. The customer is told."
    got = shop.get(order["id"])
    assert got["fulfillment_status"] == "partial"
    shipped = got["fulfillments"][0]
    assert shipped["tracking_company"] == "UPS"
    assert shipped["tracking_numbers"] == ["1Z999AA10123456784"]
    assert shipped["tracking_url"].startswith("https://www.ups.com/")
    event = last_event(api, order["id"])
    assert event["verb"] == "fulfillment_success" and event["author"] == "Olivia Owner"
    page = owner.page(url(order))
    words = text_of(page)
    assert "2 items fulfilled from Amsterdam with UPS 1Z999AA10123456784." in words
    assert not re.search(r"comments/\d+/(edit|delete)", page.text)  # only comments can be changed
    assert "by Olivia Owner" in words
    assert "#1001.1" in words and "Cancel fulfillment" in words

    answer = owner.post(url(order, f"fulfillments/{shipped['id']}/cancel"))
    assert owner.flash(answer).startswith("success: Fulfillment #1001.1 was cancelled")
    got = shop.get(order["id"])
    assert got["fulfillment_status"] is None
    assert got["fulfillments"][0]["status"] == "cancelled"
    assert shop.level(mug, amsterdam)["committed"] == 3
    event = last_event(api, order["id"])
    assert event["verb"] == "fulfillment_cancelled" and event["author"] == "Olivia Owner"


def test_fulfilling_more_than_remains_is_refused_and_changes_nothing(
    owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = open_fo(api, order["id"])
    line = fo["line_items"][0]
    before = len(events(api, order["id"]))
    answer = owner.post(url(order, f"fulfillment-orders/{fo['id']}/fulfil"), {f"qty_{line['id']}": "5"})
    message = owner.flash(answer)
    assert message.startswith("error: Fulfillment order line items: Cannot fulfill 5 of “Delft mug”")
    assert "only 3 left to fulfill" in message
    assert shop.get(order["id"])["fulfillments"] == []
    assert len(events(api, order["id"])) == before
    nothing = owner.post(url(order, f"fulfillment-orders/{fo['id']}/fulfil"), {f"qty_{line['id']}": "0"})
    assert owner.flash(nothing) == "error: Choose at least one item to fulfill; nothing was changed."
    assert shop.get(order["id"])["fulfillments"] == []


def test_update_tracking(owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any]) -> None:
    made = shop.fulfil(order["id"])
    answer = owner.post(
        url(order, f"fulfillments/{made['id']}/tracking"),
        {"tracking_company": "PostNL", "tracking_numbers": "3SABCD0123456789", "tracking_url": ""},
    )
    assert owner.flash(answer) == "success: Tracking of #1001.1 saved."
    got = shop.get(order["id"])["fulfillments"][0]
    assert got["tracking_company"] == "PostNL" and got["tracking_number"] == "3SABCD0123456789"
    assert got["tracking_url"] == "https://jouw.postnl.nl/track-and-trace/3SABCD0123456789"
    assert last_event(api, order["id"])["author"] == "Olivia Owner"


def test_hold_and_release(owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any]) -> None:
    fo = open_fo(api, order["id"])
    answer = owner.post(
        url(order, f"fulfillment-orders/{fo['id']}/hold"),
        {"reason": "incorrect_address", "reason_notes": "House number missing"},
    )
    assert owner.flash(answer) == "success: Fulfillment is on hold (incorrect address)."
    held = open_fo(api, order["id"])
    assert held["status"] == "on_hold"
    assert held["fulfillment_holds"][0]["reason"] == "incorrect_address"
    assert held["fulfillment_holds"][0]["held_by"] == "Olivia Owner"
    page = owner.page(url(order))
    words = text_of(page)
    assert "On hold: Incorrect address — House number missing" in words
    assert "Release hold" in words
    # Fulfilling is not offered while on hold, and the page says why.
    assert "is on hold; release the hold first" in words
    assert f"fulfillment-orders/{fo['id']}/fulfil" not in page.text

    answer = owner.post(url(order, f"fulfillment-orders/{fo['id']}/release-hold"))
    assert owner.flash(answer) == "success: The hold was released; the fulfillment order is open."
    assert open_fo(api, order["id"])["status"] == "open"
    event = last_event(api, order["id"])
    assert event["verb"] == "fulfillment_order_hold_released" and event["author"] == "Olivia Owner"


def test_holding_a_closed_fulfillment_order_is_refused(
    owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any]
) -> None:
    fo = open_fo(api, order["id"])
    shop.fulfil(order["id"])
    assert fulfillment_orders(api, order["id"])[0]["status"] == "closed"
    before = len(events(api, order["id"]))
    answer = owner.post(url(order, f"fulfillment-orders/{fo['id']}/hold"), {"reason": "other"})
    assert owner.flash(answer) == "error: Cannot hold a fulfillment order that is closed"
    assert fulfillment_orders(api, order["id"])[0]["status"] == "closed"
    assert len(events(api, order["id"])) == before
    # The closed group offers nothing and says why.
    page = owner.page(url(order))
    assert f"fulfillment-orders/{fo['id']}/hold" not in page.text
    assert "is not in an open state (closed)" in text_of(page)


def test_move_to_another_location(
    owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any], utrecht: int, mug: int
) -> None:
    fo = open_fo(api, order["id"])
    answer = owner.post(url(order, f"fulfillment-orders/{fo['id']}/move"), {"new_location_id": str(utrecht)})
    assert owner.flash(answer) == "success: Moved to Utrecht."
    assert open_fo(api, order["id"])["assigned_location_id"] == utrecht
    assert shop.level(mug, utrecht)["committed"] == 3
    words = text_of(owner.page(url(order)))
    assert "Fulfillment moved from Amsterdam to Utrecht." in words


def test_schedule_and_open_now(owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any]) -> None:
    fo = open_fo(api, order["id"])
    answer = owner.post(url(order, f"fulfillment-orders/{fo['id']}/reschedule"), {"fulfill_at": "2026-11-20"})
    assert owner.flash(answer) == "success: Scheduled to fulfill on 20 Nov 2026."
    scheduled = fulfillment_orders(api, order["id"])[0]
    assert scheduled["status"] == "scheduled" and scheduled["fulfill_at"].startswith("2026-11-20")
    past = owner.post(url(order, f"fulfillment-orders/{fo['id']}/reschedule"), {"fulfill_at": "2026-11-01"})
    assert owner.flash(past) == "error: Date: Choose a date after today"
    assert fulfillment_orders(api, order["id"])[0]["fulfill_at"].startswith("2026-11-20")
    answer = owner.post(url(order, f"fulfillment-orders/{fo['id']}/open"))
    assert owner.flash(answer) == "success: The scheduled fulfillment order is open to fulfill now."
    assert fulfillment_orders(api, order["id"])[0]["status"] == "open"
    assert last_event(api, order["id"])["author"] == "Olivia Owner"


def test_an_action_on_another_orders_fulfillment_order_is_not_found(
    owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any], mug: int
) -> None:
    other = shop.order([{"variant_id": mug, "quantity": 1}])
    fo = open_fo(api, other["id"])
    answer = owner.post(url(order, f"fulfillment-orders/{fo['id']}/hold"), {"reason": "other"})
    assert answer.status_code == 404
    assert open_fo(api, other["id"])["status"] == "open"


# ---- customer, addresses, tags, note ------------------------------------------------------------
def test_edit_shipping_address(owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any]) -> None:
    answer = owner.post(
        url(order, "shipping-address"), {**ADDRESS, "address1": "Prinsengracht 263", "country_code": "nl"}
    )
    assert owner.flash(answer) == "success: Shipping address saved."
    got = shop.get(order["id"])
    assert got["shipping_address"]["address1"] == "Prinsengracht 263"
    assert got["shipping_address"]["country_code"] == "NL"
    assert got["billing_address"]["address1"] == "Keizersgracht 1"
    event = last_event(api, order["id"])
    assert event["message"] == "Changed shipping address." and event["author"] == "Olivia Owner"


def test_edit_contact_tags_and_note(owner: AdminClient, api: Api, shop: Shop, order: dict[str, Any]) -> None:
    assert owner.flash(owner.post(url(order, "contact"), {"email": "anna@example.com", "phone": "+31612345678"})) == (
        "success: Contact details saved."
    )
    assert owner.flash(owner.post(url(order, "tags"), {"tags": "gift, Wholesale"})) == "success: Tags saved."
    assert owner.flash(owner.post(url(order, "note"), {"note": "Leave at the door"})) == "success: Note saved."
    got = shop.get(order["id"])
    assert got["email"] == "anna@example.com" and got["phone"] == "+31612345678"
    assert sorted(t.strip() for t in got["tags"].split(",")) == ["Wholesale", "gift"]
    assert got["note"] == "Leave at the door"
    authors = {e["author"] for e in events(api, order["id"]) if e["verb"] == "update"}
    assert authors == {"Olivia Owner"}


def test_contact_the_customer_and_resend_a_notification(
    owner: AdminClient, deck: Orderdeck, api: Api, order: dict[str, Any]
) -> None:
    answer = owner.post(url(order, "message"), {"subject": "Your mug", "body": "It ships on Monday."})
    assert owner.flash(answer) == "success: Your message is on its way to the customer."
    answer = owner.post(url(order, "resend"), {"template": "order_confirmation"})
    assert owner.flash(answer).startswith("success: “Order confirmation” is on its way")
    with deck.unit_of_work(read_only=True) as uow:
        queued = [
            (r.topic, r.payload)
            for r in uow.conn.execute(
                select(outbox).where(outbox.c.order_id == order["id"], outbox.c.kind == "notification")
            )
        ]
    topics = [t for t, _ in queued]
    assert "custom_message" in topics and "order_confirmation" in topics
    assert any("It ships on Monday." in p for t, p in queued if t == "custom_message")
    asked = [(e["message"], e["author"]) for e in events(api, order["id"]) if e["verb"] == "notification_requested"]
    assert [m for m, _ in asked] == [
        "Olivia Owner asked to send a message to the customer, “Your mug”.",
        "Olivia Owner asked to send the order confirmation notification to the customer.",
    ]
    empty = owner.post(url(order, "message"), {"subject": "Hi", "body": "  "})
    assert owner.flash(empty) == "error: Body: Must be a text of 1 to 10,000 characters"
    unknown = owner.post(url(order, "resend"), {"template": "no_such_thing"})
    assert owner.flash(unknown) == "error: Notification: Choose one of the notifications in the list"


# ---- custom status ------------------------------------------------------------------------------
def test_set_custom_status_and_notify(
    owner: AdminClient, deck: Orderdeck, api: Api, shop: Shop, order: dict[str, Any]
) -> None:
    api.ok(
        api.post(
            "/custom_statuses.json",
            {"custom_status": {"handle": "engraving", "names": {"en": "Engraving"}, "color": "#7c3aed"}},
        )
    )
    answer = owner.post(
        url(order, "custom-status"),
        {
            "handle": "engraving",
            "due_at": "2026-11-10",
            "public_note": "Your name is being engraved.",
            "private_note": "Use the fine tip",
            "notify": "1",
        },
    )
    assert owner.flash(answer) == "success: Status set to Engraving. The customer is told."
    mark = shop.get(order["id"])["custom_status"]
    assert mark["handle"] == "engraving" and mark["due_at"].startswith("2026-11-10")
    assert mark["public_note"] == "Your name is being engraved." and mark["private_note"] == "Use the fine tip"
    event = last_event(api, order["id"])
    assert event["verb"] == "custom_status_changed" and event["author"] == "Olivia Owner"
    with deck.unit_of_work(read_only=True) as uow:
        topics = [r.topic for r in uow.conn.execute(select(outbox).where(outbox.c.kind == "notification"))]
    assert "custom_status" in topics
    page = owner.page(url(order))
    assert 'title="Stage: Engraving"' in page.text
    words = text_of(page)
    assert "Your name is being engraved." in words and "Use the fine tip" in words and "10 Nov 2026" in words
    # The same again changes nothing; clearing it takes the order out of any stage, silently.
    same = owner.post(
        url(order, "custom-status"),
        {
            "handle": "engraving",
            "due_at": "2026-11-10",
            "public_note": "Your name is being engraved.",
            "private_note": "Use the fine tip",
            "notify": "0",
        },
    )
    assert owner.flash(same) == "success: Nothing changed."
    cleared = owner.post(url(order, "custom-status"), {"handle": "", "notify": "0"})
    assert owner.flash(cleared) == "success: The order is in no stage now."
    assert shop.get(order["id"])["custom_status"] is None


# ---- comments -----------------------------------------------------------------------------------
def test_comments_add_edit_delete_own_only(
    owner: AdminClient, deck: Orderdeck, admin_app: Any, api: Api, order: dict[str, Any]
) -> None:
    assert owner.flash(owner.post(url(order, "comments"), {"body": "Customer called about gift wrap"})) == (
        "success: Comment added."
    )
    comment = last_event(api, order["id"])
    assert comment["is_comment"] and comment["author"] == "Olivia Owner"
    page = owner.page(url(order))
    assert f"comments/{comment['id']}/edit" in page.text
    assert owner.flash(owner.post(url(order, f"comments/{comment['id']}/edit"), {"body": "Gift wrap: yes"})) == (
        "success: Comment saved."
    )
    assert last_event(api, order["id"])["body"] == "Gift wrap: yes"
    assert owner.flash(owner.post(url(order, "comments"), {"body": "   "})) == "error: Body: A comment needs some text"

    # Another staff member sees the comment but cannot change it.
    make_staff(deck, "sam@shop.test", permissions=("view_orders", "manage_orders"), name="Sam Staff")
    sam = AdminClient(admin_app.__class__(admin_app.app, base_url="http://shop.test"))
    assert sam.sign_in("sam@shop.test", PASSWORD).status_code == 303
    page = sam.page(url(order))
    assert "Gift wrap: yes" in page.text and f"comments/{comment['id']}/edit" not in page.text
    refused = sam.post(url(order, f"comments/{comment['id']}/delete"))
    assert sam.flash(refused) == "error: You can only edit or delete your own comments"
    assert sam.flash(sam.post(url(order, "comments"), {"body": "Wrapped"})) == "success: Comment added."
    assert last_event(api, order["id"])["author"] == "Sam Staff"

    assert owner.flash(owner.post(url(order, f"comments/{comment['id']}/delete"))) == "success: Comment deleted."
    assert all(e["id"] != comment["id"] for e in events(api, order["id"]))
    again = owner.post(url(order, f"comments/{comment['id']}/delete"))
    assert owner.flash(again) == "error: It is no longer on this order; nothing was changed."


# ---- who may do what ----------------------------------------------------------------------------
def test_a_viewer_sees_no_actions_and_cannot_post(
    deck: Orderdeck, admin_app: Any, api: Api, shop: Shop, order: dict[str, Any]
) -> None:
    make_staff(deck, "vera@shop.test", permissions=("view_orders",), name="Vera Viewer")
    vera = AdminClient(admin_app)
    assert vera.sign_in("vera@shop.test", PASSWORD).status_code == 303
    page = vera.page(url(order))
    words = text_of(page)
    assert "#1001" in words and "Delft mug" in words
    assert "manage orders" in words
    assert '<form method="post" action="/admin/orders/' not in page.text
    assert "Fulfill items" not in words and "Add comment" not in words
    fo = open_fo(api, order["id"])
    line = fo["line_items"][0]
    refused = vera.post(url(order, f"fulfillment-orders/{fo['id']}/fulfil"), {f"qty_{line['id']}": "1"})
    assert refused.status_code == 403
    assert vera.post(url(order, "comments"), {"body": "hi"}).status_code == 403
    assert shop.get(order["id"])["fulfillments"] == []
    assert not any(e["is_comment"] for e in events(api, order["id"]))
