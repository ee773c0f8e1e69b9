"""Order lookup: every way of writing one order number counts against the same attempts, and a
phone number has to match on its last nine digits (docs/customer-pages.md)."""

from __future__ import annotations

from typing import Any

import pytest

from orderdeck.web.status import order_number

from ..conftest import Api, Shop

LINES = [{"title": "Espresso cup", "price": "12.50", "quantity": 1}]


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


def look_up(api: Api, number: str, contact: str) -> Any:
    return api.client.post("/orders/lookup", data={"number": number, "contact": contact}, follow_redirects=False)


@pytest.mark.parametrize(
    "typed,prefix,expected",
    [
        ("1299", "#", "1299"),
        ("#1299", "#", "1299"),
        ("00001299", "#", "1299"),
        ("# 0001299 ", "#", "1299"),
        ("ODK-1299", "ODK-", "1299"),
        ("odk-001299", "ODK-", "1299"),
        ("S2-1299", "S2-", "1299"),  # a prefix with a digit in it
        ("0", "#", ""),
        ("", "#", ""),
    ],
)
def test_an_order_number_is_one_key_however_it_is_written(typed: str, prefix: str, expected: str) -> None:
    assert order_number(typed, prefix) == expected


def test_leading_zeros_and_a_hash_do_not_give_an_order_a_fresh_budget(api: Api, shop: Shop) -> None:
    order = shop.order(LINES, email="anna@example.nl")
    number = str(order["order_number"])
    for _ in range(5):
        assert look_up(api, number, "eve@example.com").status_code == 200
    for written in (f"000{number}", f"#{number}", f"#00{number}", f" {number} "):
        # the right details, but this order's misses are used up, however its number is written
        assert look_up(api, written, "anna@example.nl").status_code == 429, written


def test_misses_written_with_leading_zeros_count_against_the_order(api: Api, shop: Shop) -> None:
    order = shop.order(LINES, email="anna@example.nl")
    number = str(order["order_number"])
    for zeros in range(1, 6):
        assert look_up(api, "0" * zeros + number, "eve@example.com").status_code == 200
    assert look_up(api, number, "anna@example.nl").status_code == 429


def test_the_shops_prefix_is_understood(api: Api, shop: Shop) -> None:
    shop.settings(order_name_prefix="ODK-")
    order = shop.order(LINES, email="anna@example.nl")
    assert order["name"].startswith("ODK-")
    assert look_up(api, order["name"], "anna@example.nl").status_code == 303
    for _ in range(5):
        look_up(api, order["name"], "eve@example.com")
    assert look_up(api, str(order["order_number"]), "anna@example.nl").status_code == 429


def test_a_phone_number_must_match_on_its_last_nine_digits(api: Api, shop: Shop) -> None:
    order = shop.order(LINES, email="anna@example.nl", phone="+31 6 1234 5678")
    number = str(order["order_number"])
    for too_short in ("345678", "2345678", "12345678"):  # 6, 7 and 8 digits of the end
        assert look_up(api, number, too_short).status_code == 200, too_short
    for right in ("612345678", "06 1234 5678", "+31612345678"):
        assert look_up(api, number, right).status_code == 303, right


def test_a_stored_phone_shorter_than_nine_digits_must_be_given_whole(api: Api, shop: Shop) -> None:
    order = shop.order(LINES, email="anna@example.nl", phone="1234567")
    number = str(order["order_number"])
    assert look_up(api, number, "234567").status_code == 200
    assert look_up(api, number, "123-4567").status_code == 303


def test_a_number_too_large_for_any_order_is_a_miss_not_an_error(api: Api, shop: Shop) -> None:
    answer = look_up(api, "99999999999999999999", "eve@example.com")
    assert answer.status_code == 200 and "could not find an order" in answer.text


@pytest.mark.parametrize("typed", ["\u0661\u0662\u0669\u0669", "\uff11\uff12\uff19\uff19", "#\uff10\u0661299"])
def test_digits_of_other_scripts_are_the_same_order_number(typed: str) -> None:
    assert order_number(typed, "#") == "1299"


def test_an_order_number_in_other_digits_shares_the_orders_attempts(api: Api, shop: Shop) -> None:
    order = shop.order(LINES, email="anna@example.nl")
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in str(order["order_number"]))
    for _ in range(5):
        assert look_up(api, fullwidth, "eve@example.com").status_code == 200
    assert look_up(api, str(order["order_number"]), "anna@example.nl").status_code == 429
