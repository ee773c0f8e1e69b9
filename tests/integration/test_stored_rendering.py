"""Lists answer from the rendering stored with each change, and never serve a stale one."""

from fastapi.testclient import TestClient

from orderdeck.api.app import create_app
from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from tests.conftest import BASE, SELL


def test_a_listed_order_is_the_same_as_the_order_read_alone(shop, api):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", stock={amsterdam: 5})
    order = shop.order([{"variant_id": mug, "quantity": 1}], transactions=SELL)
    shop.fulfil(order["id"], tracking="1Z001985YW99744790")
    listed = api.ok(api.get("/orders.json?status=any"))["orders"]
    assert listed == [shop.get(order["id"])]
    assert listed[0]["fulfillment_status"] == "fulfilled"


def test_orders_are_rendered_afresh_when_the_public_url_changes(deck, shop):
    shop.location("Amsterdam")  # custom items are routed to a location too
    order = shop.order([{"title": "Gift card", "price": "25.00", "quantity": 1}])
    assert order["order_status_url"].startswith("http://shop.test/")
    moved = build(Settings(database_url=deck.db.url, public_url="https://orders.example.com"), clock=deck.clock)
    try:
        with TestClient(create_app(moved)) as client:
            headers = shop.api.headers
            listed = client.get(f"{BASE}/orders.json?status=any", headers=headers).json()["orders"]
            alone = client.get(f"{BASE}/orders/{order['id']}.json", headers=headers).json()["order"]
    finally:
        moved.db.dispose()
    assert listed[0]["order_status_url"].startswith("https://orders.example.com/orders/status/")
    assert alone["order_status_url"] == listed[0]["order_status_url"]
