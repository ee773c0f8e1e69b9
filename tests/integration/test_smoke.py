"""The walk every order takes: placed, paid, shipped — on both databases."""

from tests.conftest import AUTHORIZE


def test_an_order_goes_from_placed_to_paid_to_fulfilled(shop):
    amsterdam = shop.location("Amsterdam")
    mug = shop.product("MUG-1", price="12.50", stock={amsterdam: 10})
    order = shop.order(
        [{"variant_id": mug, "quantity": 2}],
        transactions=AUTHORIZE,
        shipping_lines=[{"title": "PostNL", "price": "4.95"}],
    )
    assert order["name"] == "#1001"
    assert order["total_price"] == "29.95"
    assert order["financial_status"] == "authorized"
    assert order["fulfillment_status"] is None
    assert shop.level(mug, amsterdam) == {**shop.level(mug, amsterdam), "available": 8, "committed": 2, "on_hand": 10}

    shop.capture(order["id"])
    shop.fulfil(order["id"], tracking="1Z001985YW99744790")

    after = shop.get(order["id"])
    assert after["financial_status"] == "paid"
    assert after["fulfillment_status"] == "fulfilled"
    assert after["fulfillments"][0]["tracking_company"] == "UPS"
    level = shop.level(mug, amsterdam)
    assert (level["available"], level["committed"], level["on_hand"]) == (8, 0, 8)
