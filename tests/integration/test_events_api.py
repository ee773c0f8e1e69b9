"""Events (the timeline) through the API as Shopify serves them: arguments as JSON values,
sentences naming locations as staff know them, Shopify's filters, one event, a count and
cursor pages; and the fulfillments of one fulfillment order."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Api, Clock, Shop


def _order_at_two_locations(shop: Shop) -> tuple[dict[str, Any], int, int]:
    amsterdam = shop.location("Amsterdam")
    berlin = shop.location("Berlin store")
    mug = shop.product("MUG", stock={amsterdam: 5, berlin: 5})
    return shop.order([{"variant_id": mug, "quantity": 2}]), amsterdam, berlin


def _events(api: Api, path: str = "/events.json", **params: Any) -> list[dict[str, Any]]:
    return api.ok(api.get(path, params={"limit": 250, **params}))["events"]  # type: ignore[no-any-return]


def _next_link(response: Any) -> str | None:
    found = re.search(r'<([^>]+)>; rel="next"', response.headers.get("Link", ""))
    return found.group(1) if found else None


def test_event_arguments_are_json_values_never_python_reprs(api: Api, shop: Shop) -> None:
    order, amsterdam, _ = _order_at_two_locations(shop)
    [fo] = shop.fulfillment_orders(order["id"])
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/hold.json", {"fulfillment_hold": {"reason": "other"}}))

    placed = _events(api, verb="placed")[0]
    assert placed["arguments"] == [[amsterdam]]
    held = _events(api, verb="fulfillment_order_placed_on_hold")[0]
    assert held["arguments"] == ["other", None]
    for event in _events(api):
        for value in event["arguments"]:
            if isinstance(value, str):
                assert value not in ("None", "True", "False") and not value.startswith(("[", "{")), event


def test_events_name_a_location_as_the_admin_does(api: Api, shop: Shop) -> None:
    order, _, berlin = _order_at_two_locations(shop)
    [fo] = shop.fulfillment_orders(order["id"])
    api.ok(api.post(f"/fulfillment_orders/{fo['id']}/move.json", {"fulfillment_order": {"new_location_id": berlin}}))
    shop.fulfil(order["id"])

    moved = _events(api, f"/orders/{order['id']}/events.json", verb="fulfillment_order_moved")[0]
    assert moved["description"] == "Fulfillment moved from Amsterdam to Berlin store."
    assert moved["arguments"][1] == berlin  # the arguments keep the ids, for programs
    shipped = _events(api, verb="fulfillment_success")[0]
    assert "fulfilled from Berlin store" in shipped["description"]
    assert "location " not in " ".join(e["description"] for e in _events(api))


def test_one_event_by_id_and_unknown_ids(api: Api, shop: Shop) -> None:
    _order_at_two_locations(shop)
    first = _events(api)[0]
    one = api.ok(api.get(f"/events/{first['id']}.json"))["event"]
    assert one == first
    assert api.ok(api.get(f"/events/{first['id']}.json", params={"fields": "id,verb"}))["event"] == {
        "id": first["id"],
        "verb": first["verb"],
    }
    missing = api.get(f"/events/{first['id'] + 10_000}.json")
    assert missing.status_code == 404 and missing.json() == {"errors": "Not Found"}


def test_count_takes_the_lists_filters(api: Api, shop: Shop, clock: Clock) -> None:
    first, _, _ = _order_at_two_locations(shop)
    clock.advance(days=2)
    cutoff = clock.now
    clock.advance(hours=1)
    api.ok(api.post(f"/orders/{first['id']}/close.json"))

    everything = _events(api)
    assert api.ok(api.get("/events/count.json"))["count"] == len(everything) >= 2
    later = _events(api, created_at_min=cutoff.isoformat())
    assert later and all(e["verb"] != "placed" for e in later)
    assert api.ok(api.get("/events/count.json", params={"created_at_min": cutoff.isoformat()}))["count"] == len(later)
    earlier = api.ok(api.get("/events/count.json", params={"created_at_max": cutoff.isoformat()}))["count"]
    assert earlier == len(everything) - len(later)
    assert api.ok(api.get("/events/count.json", params={"verb": "closed"}))["count"] == 1
    scoped = _events(api, f"/orders/{first['id']}/events.json", created_at_min=cutoff.isoformat())
    assert [e["id"] for e in scoped] == [e["id"] for e in later]


def test_filter_by_subject_type(api: Api, shop: Shop) -> None:
    _order_at_two_locations(shop)
    assert _events(api, filter="Product") == []
    assert api.ok(api.get("/events/count.json", params={"filter": "Product"}))["count"] == 0
    assert _events(api, filter="Product,Order") == _events(api)
    refused = api.get("/events.json", params={"filter": "Orders"})
    assert refused.status_code == 422 and "Orders is not a subject type" in refused.json()["errors"]["filter"][0]


def test_pages_keep_their_filters_in_the_cursor(api: Api, shop: Shop) -> None:
    _order_at_two_locations(shop)
    for _ in range(2):
        shop.order([{"title": "Gift", "price": "5.00", "quantity": 1}])
    placed = _events(api, verb="placed")
    assert len(placed) == 3

    seen: list[int] = []
    response = api.get("/events.json", params={"verb": "placed", "limit": 2})
    seen += [e["id"] for e in api.ok(response)["events"]]
    link = _next_link(response)
    assert link is not None and "verb" not in link
    response = api.client.get(link, headers=api.headers)
    seen += [e["id"] for e in api.ok(response)["events"]]
    assert seen == [e["id"] for e in placed] and _next_link(response) is None
    assert 'rel="previous"' in response.headers["Link"]

    page_info = re.search(r"page_info=([^&>]+)", link).group(1)  # type: ignore[union-attr]
    mixed = api.get("/events.json", params={"page_info": page_info, "verb": "placed"})
    assert mixed.status_code == 400 and "verb cannot be passed when page_info is present" in mixed.text
    bad = api.get("/events.json", params={"page_info": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json() == {"errors": {"page_info": "Invalid value."}}


def test_fulfillments_of_a_fulfillment_order(api: Api, shop: Shop, clock: Clock) -> None:
    order, amsterdam, _ = _order_at_two_locations(shop)
    [fo] = shop.fulfillment_orders(order["id"])
    [line] = fo["line_items"]
    one_unit = {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": [{"id": line["id"], "quantity": 1}]}
    first = api.ok(api.post("/fulfillments.json", {"fulfillment": {"line_items_by_fulfillment_order": [one_unit]}}))
    clock.advance(minutes=5)
    second = shop.fulfil(order["id"], tracking="1Z999")
    other = shop.order([{"title": "Gift", "price": "5.00", "quantity": 1}])
    shop.fulfil(other["id"])

    listed = api.ok(api.get(f"/fulfillment_orders/{fo['id']}/fulfillments.json"))["fulfillments"]
    assert [f["id"] for f in listed] == [first["fulfillment"]["id"], second["id"]]
    assert listed[1]["tracking_number"] == "1Z999" and listed[0]["location_id"] == amsterdam
    assert listed[1] == api.ok(api.get(f"/orders/{order['id']}/fulfillments/{second['id']}.json"))["fulfillment"]
    missing = api.get(f"/fulfillment_orders/{fo['id'] + 999}/fulfillments.json")
    assert missing.status_code == 404 and missing.json() == {"errors": "Not Found"}


def test_new_event_routes_declare_their_answers(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/events/count.json", "/events/{event_id}.json", "/fulfillment_orders/{fo_id}/fulfillments.json"):
        answer = paths[f"/admin/api/{{api_version}}{path}"]["get"]["responses"]["200"]
        schema = answer["content"]["application/json"]["schema"]
        assert "$ref" in schema or schema.get("properties"), path  # not FastAPI's empty default
