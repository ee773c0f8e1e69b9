"""What the API answers to bodies it cannot take: too large (also when streamed without a
Content-Length), and not sent as JSON. Both refused with Shopify's error shape, nothing changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderdeck.services.context import Orderdeck
from tests.conftest import BASE, Api, Shop

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # no database code here


def _order_count(api: Api) -> int:
    return int(api.ok(api.get("/orders/count.json?status=any"))["count"])


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A JSON body of `total` bytes, streamed (chunked: no Content-Length)."""
    yield b'{"order": {"note": "'
    sent = len(b'{"order": {"note": "') + 4
    while sent < total:
        piece = min(size, total - sent)
        yield b"x" * piece
        sent += piece
    yield b'"}}'


def test_a_streamed_body_over_the_limit_gets_413_not_400(deck: Orderdeck, api: Api) -> None:
    limit = deck.settings.max_body_bytes
    answer = api.client.post(
        BASE + "/orders.json",
        content=_chunks(limit + 100_000),
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in answer.request.headers}
    assert answer.status_code == 413, answer.text
    assert answer.json() == {"errors": {"base": [f"The body is larger than {limit} bytes; send less"]}}
    assert _order_count(api) == 0


def test_a_declared_body_over_the_limit_gets_413(deck: Orderdeck, api: Api) -> None:
    limit = deck.settings.max_body_bytes
    answer = api.post("/orders.json", content=b"x" * (limit + 1), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert "larger than" in answer.json()["errors"]["base"][0]


def test_a_streamed_body_under_the_limit_is_read(api: Api, shop: Shop) -> None:
    shop.location()
    body = b'{"order": {"line_items": [{"title": "Mug", "price": "5.00", "quantity": 1}]}}'
    answer = api.client.post(
        BASE + "/orders.json",
        content=iter([body[:20], body[20:]]),
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_a_body_not_sent_as_json_is_refused_with_what_to_send(api: Api, shop: Shop, content_type: str) -> None:
    shop.location()
    body = b'{"order": {"line_items": [{"title": "Mug", "price": "5.00", "quantity": 1}]}}'
    answer = api.post("/orders.json", content=body, headers={"Content-Type": content_type} if content_type else {})
    assert answer.status_code == 400, answer.text
    message = answer.json()["errors"]["base"][0]
    assert "Content-Type: application/json" in message
    assert (content_type or "this request has none") in message
    assert _order_count(api) == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"]
)
def test_json_bodies_are_taken(api: Api, shop: Shop, content_type: str) -> None:
    shop.location()
    body = b'{"order": {"line_items": [{"title": "Mug", "price": "5.00", "quantity": 1}]}}'
    answer = api.post("/orders.json", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 201, answer.text


def test_an_action_without_a_body_needs_no_content_type(api: Api, shop: Shop) -> None:
    shop.location()
    order = api.ok(
        api.post("/orders.json", {"order": {"line_items": [{"title": "Mug", "price": "5.00", "quantity": 1}]}})
    )
    answer = api.post(
        f"/orders/{order['order']['id']}/close.json", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 200, answer.text
