"""Fulfillment services through the API (Shopify REST 2024-10 `fulfillment_services.json`): a 3PL
or dropship app registers itself, gets a location of its own, and is refused clearly when it
sends what a service can't be. Requests, callbacks and polling (the rest of issue 15) are not
built yet.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from typing import Any

import pytest

from orderdeck.services.context import Orderdeck
from tests.conftest import Api, Shop, make_token
from tests.integration.order_steps import open_fo, ship

JUPITER = {
    "name": "Jupiter Fulfillment",
    "callback_url": "https://jupiter.example/orderdeck",
    "inventory_management": True,
    "tracking_support": True,
    "requires_shipping_method": True,
    "format": "json",
    "permits_sku_sharing": True,
    "fulfillment_orders_opt_in": True,
}


def create(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/fulfillment_services.json", {"fulfillment_service": {**JUPITER, **fields}})
    assert response.status_code == 201, response.text
    return response.json()["fulfillment_service"]  # type: ignore[no-any-return]


def refused(response: Any, field: str, status: int = 422) -> str:
    """The refusal's message for the field (the status as given)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    errors = response.json()["errors"]
    assert field in errors, errors
    return " ".join(errors[field])


def listed(api: Api, scope: str | None = None) -> list[str]:
    query = f"?scope={scope}" if scope else ""
    return [s["name"] for s in api.ok(api.get(f"/fulfillment_services.json{query}"))["fulfillment_services"]]


def locations(api: Api) -> dict[int, dict[str, Any]]:
    return {loc["id"]: loc for loc in api.ok(api.get("/locations.json"))["locations"]}


def test_a_service_is_created_with_shopifys_fields_and_a_location_of_its_own(api: Api) -> None:
    service = create(api)
    assert service == {
        "id": service["id"],
        "name": "Jupiter Fulfillment",
        "email": None,
        "service_name": "Jupiter Fulfillment",
        "handle": "jupiter-fulfillment",
        "fulfillment_orders_opt_in": True,
        "include_pending_stock": False,
        "provider_id": None,
        "location_id": service["location_id"],
        "callback_url": "https://jupiter.example/orderdeck",
        "tracking_support": True,
        "inventory_management": True,
        "admin_graphql_api_id": f"gid://shopify/ApiFulfillmentService/{service['id']}",
        "permits_sku_sharing": True,
        "requires_shipping_method": True,
        "format": "json",
        "auto_request": None,  # Orderdeck's extension: follows the shop's setting
    }
    location = locations(api)[service["location_id"]]
    assert (location["name"], location["active"]) == ("Jupiter Fulfillment", True)
    assert api.ok(api.get(f"/fulfillment_services/{service['id']}.json"))["fulfillment_service"] == service


def test_defaults_when_only_a_name_and_callback_url_are_given(api: Api) -> None:
    service = create(api, name="Mars Dropship", callback_url="http://127.0.0.1:8081/mars")
    chosen = {k: service[k] for k in ("inventory_management", "tracking_support", "permits_sku_sharing", "format")}
    assert chosen == {
        "inventory_management": True,
        "tracking_support": True,
        "permits_sku_sharing": True,
        "format": "json",
    }
    bare = api.post(
        "/fulfillment_services.json",
        {"fulfillment_service": {"name": "Saturn 3PL", "callback_url": "https://saturn.example"}},
    )
    body = api.ok(bare)["fulfillment_service"]
    assert (body["inventory_management"], body["tracking_support"], body["permits_sku_sharing"]) == (False,) * 3
    assert (body["requires_shipping_method"], body["fulfillment_orders_opt_in"], body["format"]) == (True, True, "json")
    assert body["handle"] == "saturn-3pl"


def test_changing_a_service_renames_its_location_and_keeps_its_handle(api: Api) -> None:
    service = create(api)
    changed = api.ok(
        api.put(
            f"/fulfillment_services/{service['id']}.json",
            {
                "fulfillment_service": {
                    "name": "Jupiter Logistics",
                    "tracking_support": False,
                    "email": "ops@jupiter.example",
                }
            },
        )
    )["fulfillment_service"]
    assert (changed["name"], changed["service_name"], changed["handle"]) == (
        "Jupiter Logistics",
        "Jupiter Logistics",
        "jupiter-fulfillment",
    )
    assert (changed["tracking_support"], changed["inventory_management"], changed["email"]) == (
        False,
        True,
        "ops@jupiter.example",
    )
    assert locations(api)[service["location_id"]]["name"] == "Jupiter Logistics"


def test_a_service_sent_back_as_get_gave_it_is_saved_with_its_read_only_keys_ignored(api: Api) -> None:
    service = create(api)
    echoed = {**service, "callback_url": "https://jupiter.example/v2", "handle": "mine", "location_id": 1}
    saved = api.ok(api.put(f"/fulfillment_services/{service['id']}.json", {"fulfillment_service": echoed}))
    assert saved["fulfillment_service"] == {**service, "callback_url": "https://jupiter.example/v2"}


def test_scope_current_client_lists_only_the_callers_services(deck: Orderdeck, api: Api, client: Any) -> None:
    create(api)
    other = Api(client, make_token(deck, ["read_fulfillments", "write_fulfillments"], name="Mars app"))
    create(other, name="Mars Dropship")
    assert listed(api) == ["Jupiter Fulfillment"]  # current_client is the default, as in Shopify
    assert listed(api, "current_client") == ["Jupiter Fulfillment"]
    assert listed(other) == ["Mars Dropship"]
    assert listed(other, "all") == listed(api, "all") == ["Jupiter Fulfillment", "Mars Dropship"]
    assert "current_client, all" in refused(api.get("/fulfillment_services.json?scope=everyone"), "scope")


def test_the_fulfillments_scopes_are_needed(deck: Orderdeck, client: Any) -> None:
    reader = Api(client, make_token(deck, ["read_fulfillments"], name="Reader"))
    orders_only = Api(client, make_token(deck, ["read_orders", "write_orders"], name="Orders app"))
    assert reader.get("/fulfillment_services.json?scope=all").status_code == 200
    assert reader.post("/fulfillment_services.json", {"fulfillment_service": JUPITER}).status_code == 403
    assert orders_only.get("/fulfillment_services.json").status_code == 403


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"name": "  "}, "name", "can't be blank"),
        ({"name": None}, "name", "can't be blank"),
        ({"callback_url": "not a url"}, "callback_url", "not a URL"),
        ({"callback_url": "ftp://jupiter.example"}, "callback_url", "not a URL"),
        ({"callback_url": "https://"}, "callback_url", "not a URL"),
        ({"callback_url": "https://jupiter.example:99999/"}, "callback_url", "not a URL"),
        ({"callback_url": "http://jupiter.example/orderdeck"}, "callback_url", "https"),
        ({"callback_url": "https://user:secret@jupiter.example"}, "callback_url", "password"),
        # Never reachable from this server (only what ORDERDECK_ALLOW_PRIVATE_ADDRESSES allows):
        # refused here, as a webhook's address is, not accepted and then never notified.
        ({"callback_url": "https://10.0.0.5/orderdeck"}, "callback_url", "private"),
        ({"callback_url": "https://[::ffff:169.254.169.254]/"}, "callback_url", "private"),
        ({"fulfillment_orders_opt_in": False}, "fulfillment_orders_opt_in", "must be true"),
        ({"format": "xml"}, "format", "json"),
        ({"inventory_management": "yes"}, "inventory_management", "boolean"),
        ({"tracking_support": 1}, "tracking_support", "boolean"),
        ({"name": 42}, "name", "string"),
        ({"email": "not-an-address"}, "email", ""),
        ({"shipping_methods": ["fast"]}, "shipping_methods", "is not a field"),
        ({"handle": "jupiter"}, "handle", "is not a field"),
    ],
)
def test_bad_fields_are_refused_naming_the_field_and_nothing_is_created(
    api: Api, fields: dict[str, Any], field: str, words: str
) -> None:
    before = locations(api)
    message = refused(api.post("/fulfillment_services.json", {"fulfillment_service": {**JUPITER, **fields}}), field)
    assert words in message
    assert listed(api, "all") == []
    assert locations(api) == before


def test_a_name_and_callback_url_are_required(api: Api) -> None:
    assert "blank" in refused(
        api.post("/fulfillment_services.json", {"fulfillment_service": {"callback_url": "https://a.example"}}), "name"
    )
    assert "blank" in refused(
        api.post("/fulfillment_services.json", {"fulfillment_service": {"name": "Jupiter"}}), "callback_url"
    )
    assert refused(api.post("/fulfillment_services.json", {"name": "Jupiter"}), "fulfillment_service")


def test_a_taken_name_is_refused_whatever_its_case_and_a_locations_name_too(api: Api, shop: Shop) -> None:
    create(api)
    assert "already been taken" in refused(
        api.post("/fulfillment_services.json", {"fulfillment_service": {**JUPITER, "name": "jupiter fulfillment"}}),
        "name",
    )
    shop.location("Rotterdam depot")
    assert "location" in refused(
        api.post("/fulfillment_services.json", {"fulfillment_service": {**JUPITER, "name": "Rotterdam depot"}}),
        "name",
    )
    mars = create(api, name="Mars Dropship")
    assert "already been taken" in refused(
        api.put(f"/fulfillment_services/{mars['id']}.json", {"fulfillment_service": {"name": "Jupiter Fulfillment"}}),
        "name",
    )
    assert listed(api, "all") == ["Jupiter Fulfillment", "Mars Dropship"]


def test_names_making_one_handle_get_handles_of_their_own(api: Api) -> None:
    first = create(api, name="Mars Fulfillment")
    second = create(api, name="Mars  Fulfillment!")
    assert (first["handle"], second["handle"]) == ("mars-fulfillment", "mars-fulfillment-2")
    assert create(api, name="Ünïcode Lägér")["handle"] == "unicode-lager"


def test_unknown_ids_are_404(api: Api) -> None:
    assert api.get("/fulfillment_services/999999.json").status_code == 404
    assert api.put("/fulfillment_services/999999.json", {"fulfillment_service": {"name": "X"}}).status_code == 404
    assert api.delete("/fulfillment_services/999999.json").status_code == 404


def test_deleting_a_service_deactivates_its_location(api: Api) -> None:
    service = create(api)
    assert api.ok(api.delete(f"/fulfillment_services/{service['id']}.json")) == {}
    assert api.get(f"/fulfillment_services/{service['id']}.json").status_code == 404
    assert listed(api, "all") == []
    location = locations(api)[service["location_id"]]
    assert (location["name"], location["active"]) == ("Jupiter Fulfillment", False)


def test_deleting_is_refused_while_an_open_fulfillment_order_is_at_its_location(api: Api, shop: Shop) -> None:
    service = create(api)
    at_jupiter = service["location_id"]
    mug = shop.product("MUG-1", price="12.50", stock={at_jupiter: 5}, title="Delft mug")
    order = shop.order([{"variant_id": mug, "quantity": 2}])
    fo = open_fo(shop, order["id"])
    assert fo["assigned_location_id"] == at_jupiter

    message = refused(api.delete(f"/fulfillment_services/{service['id']}.json"), "location_id")
    assert order["name"] in message and "open fulfillment orders" in message
    assert listed(api, "all") == ["Jupiter Fulfillment"]
    assert locations(api)[at_jupiter]["active"] is True

    # Only the service ships from its location, once it accepted the request (here one token is both).
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request.json", {"fulfillment_request": {}}))
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/fulfillment_request/accept.json", {"fulfillment_request": {}}))
    api.ok(ship(api, fo))
    api.ok(api.delete(f"/fulfillment_services/{service['id']}.json"))
    assert locations(api)[at_jupiter]["active"] is False
