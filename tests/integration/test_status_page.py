"""The customer's order status page and order lookup, through HTTP: what it shows and hides,
in the customer's language, and how lookup answers without revealing which orders exist."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck

from ..conftest import SELL, Api, Shop
from .conftest import Inbox

LINES = [{"title": "Espresso cup", "price": "1234.50", "quantity": 2}]


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


def page(api: Api, url: str, **params: Any) -> Any:
    path = url.split("http://shop.test", 1)[-1]
    return api.client.get(path, params=params)


def test_the_status_page_shows_progress_items_and_tracking_in_the_customers_language(api: Api, shop: Shop) -> None:
    order = shop.order(
        LINES,
        customer_locale="nl",
        transactions=SELL,
        note="Graag bij de buren afgeven",
        shipping_address={
            "name": "Anna de Vries",
            "address1": "Keizersgracht 1",
            "city": "Amsterdam",
            "zip": "1015 CJ",
            "country": "Netherlands",
            "country_code": "NL",
        },
    )
    api.ok(api.post(f"/orders/{order['id']}/comments.json", {"comment": {"body": "STAFF-ONLY: customer is difficult"}}))
    fulfillment = shop.fulfil(order["id"], tracking="1Z999AA10123456784")
    api.ok(
        api.post(
            f"/orders/{order['id']}/fulfillments/{fulfillment['id']}/events.json", {"event": {"status": "in_transit"}}
        )
    )

    answer = page(api, order["order_status_url"])
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert '<html lang="nl">' in html
    assert f"Bestelling {order['name']}" in html
    assert "€\xa02.469,00" in html  # two cups at 1.234,50, in Dutch
    assert 'aria-current="step">\n      Onderweg' in html
    assert "https://www.ups.com" in html and "1Z999AA10123456784" in html
    assert "Keizersgracht 1" in html and "Graag bij de buren afgeven" in html
    assert "STAFF-ONLY" not in html
    assert "<script" not in html  # works without JavaScript
    assert answer.headers["cache-control"] == "no-store" and answer.headers["x-robots-tag"] == "noindex"
    assert '<html lang="de">' in page(api, order["order_status_url"], lang="de").text


def test_a_cancelled_order_says_so(api: Api, shop: Shop) -> None:
    order = shop.order(LINES, customer_locale="fi")
    api.ok(api.post(f"/orders/{order['id']}/cancel.json", {}))
    assert "Tämä tilaus on peruttu." in page(api, order["order_status_url"]).text


def test_a_wrong_token_is_a_404_that_offers_lookup(api: Api, shop: Shop) -> None:
    order = shop.order(LINES)
    wrong = order["order_status_url"][:-4] + "0000"
    answer = page(api, wrong)
    assert answer.status_code == 404 and 'action="/orders/lookup' in answer.text
    assert api.client.get("/orders/status/short").status_code == 404


def test_lookup_finds_the_order_by_number_and_email_or_phone(api: Api, shop: Shop) -> None:
    order = shop.order(LINES, email="Anna@Example.nl", phone="+31 6 1234 5678")
    number = str(order["order_number"])
    found = api.client.post(
        "/orders/lookup", data={"number": number, "contact": "anna@example.nl"}, follow_redirects=False
    )
    assert found.status_code == 303 and found.headers["location"].startswith(
        order["order_status_url"].split("shop.test")[1]
    )
    by_phone = api.client.post(
        "/orders/lookup", data={"number": f"#{number}", "contact": "06-12345678"}, follow_redirects=False
    )
    assert by_phone.status_code == 303


def test_lookup_answers_the_same_whether_or_not_the_order_exists(api: Api, shop: Shop) -> None:
    order = shop.order(LINES, email="anna@example.nl")
    existing = api.client.post(
        "/orders/lookup", data={"number": str(order["order_number"]), "contact": "eve@example.com"}
    )
    missing = api.client.post("/orders/lookup", data={"number": "999999", "contact": "eve@example.com"})
    assert existing.status_code == missing.status_code == 200
    assert existing.text.replace(str(order["order_number"]), "N") == missing.text.replace("999999", "N")


def test_lookup_is_rate_limited_per_order_and_per_client(api: Api, shop: Shop) -> None:
    order = shop.order(LINES, email="anna@example.nl")
    number = str(order["order_number"])
    for _ in range(5):
        assert (
            api.client.post("/orders/lookup", data={"number": number, "contact": "eve@example.com"}).status_code == 200
        )
    blocked = api.client.post(
        "/orders/lookup", data={"number": number, "contact": "anna@example.nl"}, follow_redirects=False
    )
    assert blocked.status_code == 429  # even the right address waits: guessing has to stop
    for n in range(5):  # with the 5 above: the client's 10 attempts in the window
        api.client.post("/orders/lookup", data={"number": str(500 + n), "contact": "eve@example.com"})
    assert api.client.post("/orders/lookup", data={"number": "777", "contact": "x@example.com"}).status_code == 429


def test_lookup_can_e_mail_the_link_and_says_the_same_either_way(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop
) -> None:
    order = shop.order(LINES, email="anna@example.nl", customer_locale="de")
    number = str(order["order_number"])
    matched = api.client.post("/orders/lookup", data={"number": number, "contact": "anna@example.nl", "send": "email"})
    missed = api.client.post("/orders/lookup", data={"number": number, "contact": "eve@example.com", "send": "email"})
    assert matched.status_code == missed.status_code == 200 and matched.text == missed.text
    asyncio.run(Worker(mailing, run_jobs=False).drain())
    [mail] = inbox.messages
    assert mail["To"] == "anna@example.nl" and mail["X-Orderdeck-Template"] == "order_lookup"
    assert order["order_status_url"] in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
