"""Shopify's Python client (ShopifyAPI + pyactiveresource) and fulfillment services: a 3PL app
written against Shopify registers itself with `shopify.FulfillmentService`, reads itself back,
saves a change the way the client saves (the whole resource sent back), and deletes itself.

The server and the client's session are tests/e2e/test_shopify_client.py's."""

from __future__ import annotations

import json

import shopify
from pyactiveresource.connection import ClientError

from tests.e2e.test_shopify_client import server, session  # noqa: F401  (fixtures)


def test_a_3pl_app_creates_reads_changes_and_deletes_its_fulfillment_service(session, shop):  # noqa: F811
    service = shopify.FulfillmentService(
        {
            "name": "Jupiter Fulfillment",
            "callback_url": "https://jupiter.example/orderdeck",
            "inventory_management": True,
            "tracking_support": True,
            "requires_shipping_method": True,
            "format": "json",
            "permits_sku_sharing": True,
            "fulfillment_orders_opt_in": True,
        }
    )
    assert service.save() is True, service.errors.full_messages()
    assert service.handle == "jupiter-fulfillment"
    assert service.admin_graphql_api_id == f"gid://shopify/ApiFulfillmentService/{service.id}"

    found = shopify.FulfillmentService.find(service.id)
    assert (found.name, found.callback_url, found.format) == (
        "Jupiter Fulfillment",
        "https://jupiter.example/orderdeck",
        "json",
    )
    assert (found.inventory_management, found.tracking_support, found.fulfillment_orders_opt_in) == (True, True, True)
    # Its own location, as the client would look it up.
    location = shopify.Location.find(found.location_id)
    assert (location.name, location.active) == ("Jupiter Fulfillment", True)
    # The default scope is the calling app's own services.
    assert [s.id for s in shopify.FulfillmentService.find()] == [service.id]
    assert [s.id for s in shopify.FulfillmentService.find(scope="all")] == [service.id]

    # save() of a found resource PUTs every key GET gave, the read-only ones included.
    found.tracking_support = False
    found.callback_url = "https://jupiter.example/v2"
    assert found.save() is True, found.errors.full_messages()
    again = shopify.FulfillmentService.find(service.id)
    assert (again.tracking_support, again.callback_url, again.handle) == (
        False,
        "https://jupiter.example/v2",
        "jupiter-fulfillment",
    )

    again.destroy()
    assert shopify.FulfillmentService.find(scope="all") == []
    assert shopify.Location.find(found.location_id).active is False


def test_a_refused_service_reaches_the_client_as_errors_naming_the_field(session, shop):  # noqa: F811
    service = shopify.FulfillmentService({"name": "Mars Dropship", "callback_url": "http://mars.example/orderdeck"})
    assert service.save() is False
    assert any("callback_url" in message for message in service.errors.full_messages())
    try:
        shopify.FulfillmentService.find(999999)
    except ClientError as exc:
        assert exc.response.code == 404
        assert json.loads(exc.response.body)["errors"] == "Not Found"
    else:
        raise AssertionError("an unknown fulfillment service was found")
