"""Who sees the order's note, said in both places: the customer's status page shows the note
only while it is the one the customer left at checkout (as "Your note", in their language), and
the admin's order page says whether the customer sees it. A note staff or an app wrote or
changed is staff's: not on the status page, and the admin says so."""

from __future__ import annotations

from typing import Any

import pytest

from orderdeck.services.context import Orderdeck

from ..conftest import Api, Shop
from .conftest import AdminClient
from .test_new_order import PHONE_SALE, form

CUSTOMER_SEES = "The customer sees this note"
STAFF_ONLY = "Only staff see this note"
EXPLAINED = {
    "en": "The note you left when you placed your order.",
    "nl": "De opmerking die je bij je bestelling hebt achtergelaten.",
    "de": "Die Anmerkung, die Sie bei Ihrer Bestellung hinterlassen haben.",
    "fi": "Viesti, jonka jätit tilatessasi.",
}
HEADING = {"en": "Your note", "nl": "Je opmerking", "de": "Ihre Anmerkung", "fi": "Viestisi"}


@pytest.fixture
def placed(shop: Shop) -> dict[str, Any]:
    """An order from the checkout (the API) with the customer's note."""
    shop.location()
    return shop.order(
        [{"title": "Espresso cup", "price": "12.50", "quantity": 1}], note="Please leave it with the neighbours"
    )


def status_page(api: Api, order: dict[str, Any], lang: str = "en") -> str:
    path = order["order_status_url"].split("http://shop.test", 1)[-1]
    answer = api.client.get(path, params={"lang": lang})
    assert answer.status_code == 200
    return str(answer.text)


@pytest.mark.parametrize("lang", ["en", "nl", "de", "fi"])
def test_the_customers_own_note_shows_as_theirs_in_their_language(api: Api, placed: dict[str, Any], lang: str) -> None:
    html = status_page(api, placed, lang)
    assert "Please leave it with the neighbours" in html
    assert f">{HEADING[lang]}</h2>" in html and EXPLAINED[lang] in html


def test_the_admin_says_the_customer_sees_their_note(owner: AdminClient, placed: dict[str, Any]) -> None:
    page = owner.page(f"/admin/orders/{placed['id']}").text
    assert CUSTOMER_SEES in page and STAFF_ONLY not in page
    assert "Customers see a note only while it is the one they wrote when ordering" in page  # the form's hint


def test_a_note_staff_change_is_no_longer_shown_to_the_customer_and_the_admin_says_so(
    owner: AdminClient, api: Api, placed: dict[str, Any]
) -> None:
    saved = owner.post(f"/admin/orders/{placed['id']}/note", {"note": "Neighbour refused twice — call first"})
    assert owner.flash(saved) == "success: Note saved."
    html = status_page(api, placed)
    assert "Neighbour refused" not in html and "Please leave it" not in html and "Your note" not in html
    page = owner.page(f"/admin/orders/{placed['id']}").text
    assert STAFF_ONLY in page and CUSTOMER_SEES not in page


def test_a_note_an_app_changes_through_the_api_is_no_longer_shown(api: Api, placed: dict[str, Any]) -> None:
    api.ok(api.put(f"/orders/{placed['id']}.json", {"order": {"id": placed["id"], "note": "Fraud check passed"}}))
    assert "Fraud check passed" not in status_page(api, placed)


def test_changing_something_else_keeps_the_customers_note_shown(api: Api, placed: dict[str, Any]) -> None:
    api.ok(api.put(f"/orders/{placed['id']}.json", {"order": {"id": placed["id"], "tags": "gift"}}))
    assert "Please leave it with the neighbours" in status_page(api, placed)


def test_a_note_staff_wrote_on_an_order_they_placed_is_not_shown(
    deck: Orderdeck, owner: AdminClient, api: Api, shop: Shop
) -> None:
    shop.location()
    answer = owner.post("/admin/orders/new", form(**PHONE_SALE))
    assert answer.status_code == 303, answer.text[:2000]
    order_id = int(answer.headers["location"].rsplit("/", 1)[1])
    order = shop.get(order_id)
    assert order["note"] == "Called on Tuesday"
    assert "Called on Tuesday" not in status_page(api, order)
    assert STAFF_ONLY in owner.page(f"/admin/orders/{order_id}").text


def test_an_order_without_a_note_says_nothing_about_it(owner: AdminClient, api: Api, shop: Shop) -> None:
    shop.location()
    order = shop.order([{"title": "Cup", "price": "5.00", "quantity": 1}])
    page = owner.page(f"/admin/orders/{order['id']}").text
    assert CUSTOMER_SEES not in page and STAFF_ONLY not in page
    assert "Your note" not in status_page(api, order)
