"""Hostile input answers 4xx with a message naming the problem, and changes nothing (issue 12).

Every test runs on SQLite and on PostgreSQL: PostgreSQL refuses NUL in text and 32-bit
columns overflow there, so the 500s this file guards against were mostly PostgreSQL's. The
last tests sweep every API route with the same kinds of values (huge ids, NUL, null, wrong
types, deep nesting, long strings) and require that none answers 5xx."""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from orderdeck.api import guards
from orderdeck.api.app import create_app
from orderdeck.bootstrap import build
from orderdeck.services.context import Orderdeck
from orderdeck.settings import Settings

from ..admin.conftest import OWNER_EMAIL, AdminClient, make_staff
from ..conftest import AUTHORIZE, BASE, Api, Shop, app_for

HUGE = "99999999999999999999"  # beyond a 64-bit id
JUST_BEYOND = str(2**63)


@pytest.fixture
def location(shop: Shop) -> int:
    return shop.location()


@pytest.fixture
def order(shop: Shop, location: int) -> dict[str, Any]:
    variant = shop.product("CUP", stock={location: 10})
    return shop.order([{"variant_id": variant, "quantity": 1}], transactions=AUTHORIZE, tags="kept")


def unchanged(api: Api, order: dict[str, Any]) -> None:
    """The order reads back exactly as it was (no write slipped through, nothing unreadable)."""
    now = api.ok(api.get(f"/orders/{order['id']}.json"))["order"]
    assert now["updated_at"] == order["updated_at"]
    assert now["email"] == order["email"] and now["tags"] == order["tags"] and now["phone"] == order["phone"]


def errors_of(answer: Any) -> Any:
    return answer.json()["errors"]


# ---- ids beyond 64 bits ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/orders/{huge}.json"),
        ("PUT", "/orders/{huge}.json"),
        ("DELETE", "/orders/{huge}.json"),
        ("POST", "/orders/{huge}/close.json"),
        ("GET", "/orders/{huge}/transactions.json"),
        ("GET", "/orders/{order}/transactions/{huge}.json"),
        ("GET", "/orders/{order}/fulfillments/{huge}.json"),
        ("GET", "/fulfillment_orders/{huge}.json"),
        ("GET", "/locations/{huge}.json"),
        ("GET", "/webhooks/{huge}.json"),
        ("GET", "/custom_statuses/{huge}.json"),
        ("GET", "/automation_rules/{huge}.json"),
        ("GET", "/orders/-{huge}.json"),
    ],
)
def test_a_path_id_beyond_64_bits_is_not_found(api: Api, order: dict[str, Any], method: str, path: str) -> None:
    for huge in (HUGE, JUST_BEYOND):
        answer = api.request(method, path.format(huge=huge, order=order["id"]), json={"order": {"note": "x"}})
        assert answer.status_code == 404, answer.text
        assert errors_of(answer) == "Not Found"
    unchanged(api, order)


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/orders.json?ids=1,{huge}", "ids"),
        ("/orders.json?since_id={huge}", "since_id"),
        ("/orders.json?status=any&location_id={huge}", "location_id"),
        ("/orders/count.json?customer_id={huge}", "customer_id"),
        ("/orders/export.csv?since_id={huge}", "since_id"),
        ("/events.json?since_id=-{huge}", "since_id"),
        ("/webhooks.json?since_id={huge}", "since_id"),
        ("/inventory_levels.json?inventory_item_ids={huge}", "inventory_item_ids"),
    ],
)
def test_a_query_id_beyond_64_bits_is_a_400_naming_the_parameter(
    api: Api, order: dict[str, Any], path: str, parameter: str
) -> None:
    answer = api.get(path.format(huge=HUGE))
    assert answer.status_code == 400, answer.text
    assert parameter in errors_of(answer)
    assert HUGE in errors_of(answer)[parameter][0]


def test_ids_within_64_bits_still_work(api: Api, order: dict[str, Any]) -> None:
    assert api.ok(api.get(f"/orders.json?since_id={2**63 - 1}"))["orders"] == []
    assert api.get(f"/orders/{2**63 - 1}.json").status_code == 404
    assert [o["id"] for o in api.ok(api.get(f"/orders.json?ids={order['id']}"))["orders"]] == [order["id"]]


def test_a_body_id_beyond_64_bits_is_a_422_naming_the_field(api: Api, location: int, order: dict[str, Any]) -> None:
    body = {"order": {"line_items": [{"title": "Vase", "price": "1.00", "quantity": 1}], "location_id": int(HUGE)}}
    answer = api.post("/orders.json", body)
    assert answer.status_code == 422 and "location_id" in errors_of(answer), answer.text
    answer = api.post("/inventory_levels/set.json", {"location_id": int(HUGE), "inventory_item_id": 1, "available": 1})
    assert answer.status_code == 422 and "location_id" in errors_of(answer), answer.text
    # Within 64 bits but beyond the id type's bound, the body's own model says so.
    answer = api.post("/inventory_levels/set.json", {"location_id": 2**63, "inventory_item_id": 1, "available": 1})
    assert answer.status_code == 422 and "location_id" in errors_of(answer), answer.text
    assert len(api.ok(api.get("/orders.json?status=any"))["orders"]) == 1


# ---- null where a value is required -------------------------------------------------------------------
@pytest.mark.parametrize("field", ["priority", "name", "active"])
def test_a_location_field_sent_as_null_is_refused(api: Api, location: int, field: str) -> None:
    before = api.ok(api.get(f"/locations/{location}.json"))["location"]
    answer = api.put(f"/locations/{location}.json", {"location": {field: None}})
    assert answer.status_code == 422, answer.text
    assert errors_of(answer) == {field: ["can't be null; leave the field out to keep its value"]}
    answer = api.post(
        "/locations.json", {"location": {"name": "Berlin", field: None} if field != "name" else {field: None}}
    )
    assert answer.status_code == 422, answer.text
    assert api.ok(api.get(f"/locations/{location}.json"))["location"] == before
    assert len(api.ok(api.get("/locations.json"))["locations"]) == 1


def test_a_location_priority_beyond_an_integer_column_is_refused(api: Api, location: int) -> None:
    answer = api.put(f"/locations/{location}.json", {"location": {"priority": 2**31}})
    assert answer.status_code == 422 and "priority" in errors_of(answer)
    assert api.ok(api.put(f"/locations/{location}.json", {"location": {"priority": 2**31 - 1}}))


# ---- page_info -------------------------------------------------------------------------------------
def _next_link(answer: Any) -> str:
    found = re.search(r'<[^>]*[?&]page_info=([^&>]+)[^>]*>; rel="next"', answer.headers.get("Link", ""))
    assert found, answer.headers
    return found.group(1)


@pytest.fixture
def three_orders(shop: Shop, location: int) -> list[int]:
    return [shop.order([{"title": f"Item {i}", "price": "1.00", "quantity": 1}])["id"] for i in range(3)]


def test_page_info_is_signed_and_a_tampered_one_is_400(api: Api, three_orders: list[int]) -> None:
    token = _next_link(api.get("/orders.json?limit=1"))
    assert len(api.ok(api.get(f"/orders.json?limit=1&page_info={token}"))["orders"]) == 1
    payload, mac = token.split(".")
    state = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    state["filter"]["since_id"] = int(HUGE)  # what the cursor never held
    state["last_id"] = {"not": "an id"}
    forged = __import__("base64").urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    for tampered in (f"{forged}.{mac}", forged, payload, f"{payload}.{mac[:-2]}AA", f"{payload}.", "", "é.é", "%00"):
        answer = api.get(f"/orders.json?limit=1&page_info={quote(tampered)}")
        if tampered == "":
            assert answer.status_code == 200  # no page_info: the first page
            continue
        assert answer.status_code == 400, (tampered, answer.text)
        assert errors_of(answer) == {"page_info": "Invalid value."} or "page_info" in errors_of(answer)


def test_page_info_from_one_server_process_works_in_another(api: Api, deck: Orderdeck, three_orders: list[int]) -> None:
    """Two processes share only the database: the key is derived from the secret stored there."""
    token = _next_link(api.get("/orders.json?limit=2"))
    other = build(Settings(database_url=deck.db.url, public_url="http://shop.test"))
    try:
        with TestClient(create_app(other), raise_server_exceptions=False) as client:
            answer = client.get(f"{BASE}/orders.json?limit=2&page_info={token}", headers=api.headers)
        assert answer.status_code == 200, answer.text
        assert [o["id"] for o in answer.json()["orders"]] == [three_orders[0]]
    finally:
        other.db.dispose()


# ---- money ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("amount", ["1e999999", "NaN", "Infinity", "-Infinity", "-1", HUGE, "1" * 40, "1e14", "x"])
def test_a_hostile_amount_is_a_422_naming_the_field(api: Api, order: dict[str, Any], amount: str) -> None:
    oid = order["id"]
    cases = [
        (f"/orders/{oid}/transactions.json", {"transaction": {"kind": "capture", "amount": amount}}, "amount"),
        (f"/orders/{oid}/mark_as_paid.json", {"amount": amount}, "amount"),
        (f"/orders/{oid}/cancel.json", {"amount": amount, "currency": "EUR"}, "amount"),
        (
            f"/orders/{oid}/refunds.json",
            {"refund": {"transactions": [{"amount": amount, "kind": "refund"}]}},
            "transactions[0].amount",
        ),
        (
            "/orders.json",
            {"order": {"line_items": [{"title": "Vase", "price": amount, "quantity": 1}]}},
            "line_items[0].price",
        ),
    ]
    for path, body, field in cases:
        answer = api.post(path, body)
        assert answer.status_code == 422, (path, answer.text)
        assert field in errors_of(answer), (path, answer.text)
    unchanged(api, order)


@pytest.mark.parametrize("raw", ["1e999999", "NaN", "Infinity", "-Infinity", "99999999999999999999999"])
def test_a_hostile_amount_as_a_bare_json_number_is_refused(api: Api, order: dict[str, Any], raw: str) -> None:
    body = '{"transaction": {"kind": "capture", "amount": RAW}}'.replace("RAW", raw)
    answer = api.request(
        "POST", f"/orders/{order['id']}/transactions.json", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code in (400, 422), answer.text
    if answer.status_code == 422:
        assert "amount" in errors_of(answer)
    else:
        assert "not a JSON number" in errors_of(answer)["base"][0]
    unchanged(api, order)


def test_parse_amount_refuses_what_cannot_be_rounded() -> None:
    from orderdeck.domain.errors import InvalidInput
    from orderdeck.domain.money import parse_amount

    for value in ("1e999999", "1e14", "NaN", "sNaN", "-0.01", HUGE):
        with pytest.raises(InvalidInput):
            parse_amount(value, "EUR", field="amount")
    assert str(parse_amount("99999999999999.99", "EUR", field="amount")) == "99999999999999.99"


# ---- NUL (PostgreSQL refuses it in text) -------------------------------------------------------------
NUL = "a\x00b"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/orders/{id}/tags/add.json", {"tags": [NUL]}, "tags[0]"),
        ("POST", "/orders/{id}/tags/add.json", {"tags": NUL}, "tags"),
        ("PUT", "/orders/{id}.json", {"order": {"email": f"anna{NUL}@example.nl"}}, "email"),
        ("PUT", "/orders/{id}.json", {"order": {"note": NUL}}, "note"),
        (
            "PUT",
            "/orders/{id}.json",
            {"order": {"shipping_address": {"first_name": NUL}}},
            "shipping_address.first_name",
        ),
        ("POST", "/orders/{id}/comments.json", {"comment": {"body": NUL}}, "body"),
        (
            "POST",
            "/orders.json",
            {"order": {"line_items": [{"title": NUL, "price": "1", "quantity": 1}]}},
            "line_items[0].title",
        ),
        ("POST", "/orders.json", {"order": {"customer": {"first_name": NUL}, "line_items": []}}, "customer.first_name"),
        (
            "POST",
            "/orders.json",
            {"order": {"note_attributes": [{"name": "a", "value": "b"}], f"x{NUL}": 1}},
            "xa\ufffdb",
        ),
        (
            "POST",
            "/webhooks.json",
            {"webhook": {"topic": "orders/create", "address": f"https://a.test/{NUL}"}},
            "address",
        ),
        ("POST", "/automation_rules.json", {"automation_rule": {"name": NUL}}, "automation_rule.name"),
    ],
)
def test_nul_in_a_json_body_is_a_422_naming_the_field(
    api: Api, order: dict[str, Any], method: str, path: str, body: Any, field: str
) -> None:
    answer = api.request(method, path.format(id=order["id"]), json=body)
    assert answer.status_code == 422, answer.text
    assert field in errors_of(answer), answer.text
    assert "NUL" in errors_of(answer)[field][0]
    unchanged(api, order)


@pytest.mark.parametrize(
    "query",
    ["tag=a%00b", "q=%00", "email=a%00@b.nl", "name=%231001%00", "source_name=%00", "fields=id%00", "status=%00"],
)
def test_nul_in_a_query_parameter_is_a_400_naming_it(api: Api, order: dict[str, Any], query: str) -> None:
    for path in ("/orders.json", "/orders/count.json", "/orders/export.csv"):
        answer = api.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, answer.text)
        assert query.split("=")[0] in errors_of(answer)


def test_nul_in_the_idempotency_key_is_a_400(api: Api, order: dict[str, Any]) -> None:
    answer = api.post(f"/orders/{order['id']}/tags/add.json", {"tags": ["x"]}, headers={"Idempotency-Key": b"key\x00"})
    assert answer.status_code == 400 and "idempotency-key" in errors_of(answer)
    unchanged(api, order)


def test_nul_in_a_path_is_not_found(api: Api, order: dict[str, Any]) -> None:
    assert api.get("/notification_templates/order_confirmation/e%00n.json").status_code == 404
    assert api.client.get("/orders/status/" + "a" * 31 + "%00").status_code == 404


def test_nul_in_the_status_pages_forms_is_a_400_and_counts_no_attempt(api: Api, order: dict[str, Any]) -> None:
    token = order["order_status_url"].rsplit("/", 1)[-1].split("?")[0]
    for path, data in (
        ("/orders/lookup", {"number": f"#{order['id']}\x00", "contact": "anna@example.nl"}),
        ("/orders/lookup", {"number": "1001", "contact": "anna\x00@example.nl"}),
        (f"/orders/status/{token}/address", {"address1": "Street\x00 1", "city": "Amsterdam"}),
        (f"/orders/status/{token}/cancel", {"reason": "other\x00"}),
    ):
        answer = api.client.post(path, data=data)
        assert answer.status_code == 400, (path, answer.text[:500])
        assert "NUL" in answer.text
    unchanged(api, order)


def test_the_lookup_of_a_number_beyond_any_order_finds_nothing(api: Api, order: dict[str, Any]) -> None:
    """The same answer as for any number no order has (the lookup never says which exist)."""
    nothing = api.client.post("/orders/lookup", data={"number": "5555", "contact": "anna@example.nl"})
    for number in (HUGE, "²", "9" * 11):
        answer = api.client.post("/orders/lookup", data={"number": number, "contact": "anna@example.nl"})
        assert answer.status_code == nothing.status_code == 200
        assert answer.text.replace(number, "N") == nothing.text.replace("5555", "N")


def test_an_order_name_filter_beyond_any_number_finds_nothing(api: Api, order: dict[str, Any]) -> None:
    for name in (f"#{HUGE}", "#²", "²", "#" + "9" * 11):
        assert api.ok(api.get("/orders.json", params={"status": "any", "name": name}))["orders"] == []
        assert api.ok(api.get("/orders.json", params={"status": "any", "q": name}))["orders"] == []
    answer = api.post(
        "/orders.json",
        {"order": {"order_number": int(HUGE), "line_items": [{"title": "V", "price": "1", "quantity": 1}]}},
    )
    assert answer.status_code == 422 and "order_number" in errors_of(answer)


# ---- e-mail and phone --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "anna@example.nl\r\nBcc: all@example.nl"),
        ("email", "anna@\nexample.nl"),
        ("email", "not an address"),
        ("email", "anna@example"),
        ("phone", "+31 6 1234\r\n5678"),
        ("phone", "call me"),
    ],
)
def test_a_broken_email_or_phone_is_refused_on_create_and_edit(
    api: Api, order: dict[str, Any], field: str, value: str
) -> None:
    lines = [{"title": "Vase", "price": "1.00", "quantity": 1}]
    answer = api.post("/orders.json", {"order": {"line_items": lines, field: value}})
    assert answer.status_code == 422 and field in errors_of(answer), answer.text
    answer = api.post("/orders.json", {"order": {"line_items": lines, "customer": {field: value}}})
    assert answer.status_code == 422 and f"customer.{field}" in errors_of(answer), answer.text
    answer = api.put(f"/orders/{order['id']}.json", {"order": {field: value}})
    assert answer.status_code == 422 and field in errors_of(answer), answer.text
    unchanged(api, order)
    assert len(api.ok(api.get("/orders.json?status=any"))["orders"]) == 1


def test_plausible_addresses_and_numbers_still_pass(api: Api, order: dict[str, Any]) -> None:
    for email, phone in (("a.b+c@mail.example.co.uk", "+31 (0)20 123-4567"), ("ANNA@Shop.test", "0612345678 ext. 12")):
        edited = api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"email": email, "phone": phone}}))["order"]
        assert edited["phone"] == phone
    assert api.ok(api.put(f"/orders/{order['id']}.json", {"order": {"email": None, "phone": None}}))


@pytest.fixture
def owner(deck: Orderdeck) -> Any:
    make_staff(deck, OWNER_EMAIL, owner=True, name="Olivia Owner")
    with TestClient(app_for(deck), raise_server_exceptions=False, base_url="http://shop.test") as client:
        session = AdminClient(client)
        assert session.sign_in(OWNER_EMAIL).status_code == 303
        yield session


def test_the_admin_refuses_a_broken_email_and_nul_in_its_forms(api: Api, order: dict[str, Any], owner: Any) -> None:
    oid = order["id"]
    owner.page(f"/admin/orders/{oid}")
    answer = owner.post(f"/admin/orders/{oid}/contact", {"email": "anna@example.nl\r\nBcc: x@y.z", "phone": ""})
    flash = owner.flash(answer)
    assert flash.startswith("error: ") and "e-mail address" in flash
    answer = owner.post(f"/admin/orders/{oid}/contact", {"email": "anna@example.nl", "phone": "+31\n6"})
    assert "phone number" in owner.flash(answer)
    answer = owner.post(f"/admin/orders/{oid}/note", {"note": "a\x00b"})
    assert answer.status_code == 400 and "NUL" in answer.text
    for query in ("q=%00", "tag=a%00", "location_id=" + HUGE):
        assert owner.client.get(f"/admin/orders?{query}").status_code == 400
    assert owner.client.get(f"/admin/orders/{HUGE}").status_code == 404
    owner.page(f"/admin/orders/{oid}")
    answer = owner.post(f"/admin/orders/{oid}/shipping-address", {"first_name": "x" * 5000, "address1": "S 1"})
    assert "at most 255 characters" in owner.flash(answer)
    for day in ("0001-01-01", "9999-12-31"):
        page = owner.client.get(f"/admin/orders?created_from={day}&created_to={day}")
        assert 400 <= page.status_code < 500 and "between the years 1900 and 2999" in page.text
    unchanged(api, order)


def test_nul_in_the_sign_in_form_is_a_400(api: Api, deck: Orderdeck) -> None:
    make_staff(deck, OWNER_EMAIL, owner=True)
    form = api.client.get("/admin/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert token
    for email, password in (("owner\x00@shop.test", "x"), (OWNER_EMAIL, "pass\x00word")):
        answer = api.client.post(
            "/admin/login", data={"email": email, "password": password, "login_csrf": token.group(1)}
        )
        assert answer.status_code == 400 and "NUL" in answer.text
    answer = api.client.get("/admin/orders", cookies={"orderdeck_session": "a\x00b"})
    assert answer.status_code in (303, 400)


# ---- the sweep ----------------------------------------------------------------------------------------
HOSTILE_PATH = [HUGE, "-" + HUGE, "0", "abc", "%00", "x" * 300]
HOSTILE_QUERY = [HUGE, "-" + HUGE, "%00", "x" * 3000, "1e999999", "%C2%B2", "9999-99-99"]
HOSTILE_VALUES: list[Any] = [None, int(HUGE), -1, "1e999999", NUL, "a\r\nb", "x" * 6000, True, [], {}]


def _routes(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    doc = api.client.get("/openapi.json").json()
    return [
        (method.upper(), path.replace("/admin/api/{api_version}", ""), op)
        for path, ops in doc["paths"].items()
        if "{api_version}" in path
        for method, op in ops.items()
    ]


def _sample(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if depth > 4:
        return None
    if "anyOf" in schema:
        return _sample(schema["anyOf"][0], components, depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: _sample(v, components, depth + 1) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_sample(schema.get("items", {}), components, depth + 1)]
    return {"integer": 1, "number": 1.0, "boolean": True, "string": "x"}.get(kind or "")


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _leaves(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _leaves(item, (*at, index))
    return found


def _set(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    value = copy.deepcopy(value)
    inner = value
    for part in at[:-1]:
        inner = inner[part]
    inner[at[-1]] = new
    return value


def test_no_route_answers_5xx_to_hostile_paths_and_queries(api: Api, order: dict[str, Any]) -> None:
    failures = []
    for method, path, op in _routes(api):
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path" and p["name"] != "api_version"]
        queries = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        filled = path
        for name in names:
            filled = filled.replace("{" + name + "}", str(order["id"]) if name.endswith("_id") else "x")
        for name in names:
            for value in HOSTILE_PATH:
                target = path
                for other in names:
                    target = target.replace("{" + other + "}", value if other == name else "1")
                answer = api.request(method, target, json={})
                if answer.status_code >= 500:
                    failures.append((method, target, answer.status_code))
        for name in queries:
            for value in HOSTILE_QUERY:
                answer = api.request(method, f"{filled}?{name}={value if '%' in value else quote(value)}", json={})
                if answer.status_code >= 500:
                    failures.append((method, f"{filled}?{name}={value[:40]}", answer.status_code))
    assert failures == []
    unchanged(api, order)


def test_no_route_answers_5xx_to_hostile_bodies(api: Api, order: dict[str, Any]) -> None:
    components = api.client.get("/openapi.json").json()["components"]["schemas"]
    failures = []
    for method, path, op in _routes(api):
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        target = re.sub(r"\{[a-z_]+\}", str(order["id"]), path)
        body = _sample(schema, components)
        leaves = _leaves(body)
        for at in leaves[:: max(1, len(leaves) // 12)]:  # about 12 places a route: time, not coverage, bounds it
            for value in HOSTILE_VALUES:
                answer = api.request(method, target, json=_set(body, at, value))
                if answer.status_code >= 500:
                    failures.append((method, target, at, repr(value)[:30], answer.status_code))
        for raw in ("[" * 5000 + "]" * 5000, '{"a":' * 100 + "1" + "}" * 100, "NaN", "[1e999999]", '"\\ud800"'):
            answer = api.request(method, target, content=raw, headers={"Content-Type": "application/json"})
            if answer.status_code >= 500:
                failures.append((method, target, raw[:20], answer.status_code))
    assert failures == []
    assert api.ok(api.get(f"/orders/{order['id']}.json"))  # still readable, whatever was sent


# ---- more of the same kind, found by the sweep -------------------------------------------------------
def test_renaming_a_location_to_a_taken_or_blank_name_is_a_422(api: Api, shop: Shop, location: int) -> None:
    other = shop.location("Berlin")
    for name in ("Amsterdam", "  "):
        answer = api.put(f"/locations/{other}.json", {"location": {"name": name}})
        assert answer.status_code == 422 and "name" in errors_of(answer), answer.text
    assert api.ok(api.get(f"/locations/{other}.json"))["location"]["name"] == "Berlin"
    assert api.ok(api.put(f"/locations/{other}.json", {"location": {"name": "Berlin"}}))  # its own name is fine


def test_times_beyond_what_a_date_holds_are_a_422(api: Api, shop: Shop, order: dict[str, Any]) -> None:
    fulfillment = shop.fulfil(order["id"])
    for when in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00"):
        answer = api.post(
            f"/orders/{order['id']}/fulfillments/{fulfillment['id']}/events.json",
            {"event": {"status": "in_transit", "happened_at": when}},
        )
        assert answer.status_code == 422 and "happened_at" in errors_of(answer), answer.text
        lines = [{"title": "Vase", "price": "1.00", "quantity": 1}]
        answer = api.post("/orders.json", {"order": {"line_items": lines, "processed_at": when}})
        assert answer.status_code == 422 and "processed_at" in errors_of(answer), answer.text
    assert (
        api.ok(api.get(f"/orders/{order['id']}/fulfillments/{fulfillment['id']}/events.json"))["fulfillment_events"]
        == []
    )


@pytest.mark.parametrize("rule", [None, 1, "x", [], True])
def test_a_rule_that_is_not_an_object_is_a_422(api: Api, rule: Any) -> None:
    for path in ("/automation_rules.json", "/automation_rules/dry_run.json"):
        answer = api.post(path, {"automation_rule": rule})
        assert answer.status_code == 422 and "automation_rule" in errors_of(answer), answer.text
    assert api.ok(api.get("/automation_rules.json"))["automation_rules"] == []


def test_product_options_that_are_not_a_list_are_a_422(api: Api, shop: Shop, location: int) -> None:
    variant = shop.product("MUG", stock={location: 1})
    product_id = api.ok(api.get(f"/variants/{variant}.json"))["variant"]["product_id"]
    before = api.ok(api.get(f"/products/{product_id}.json"))["product"]
    for options in (None, "Size", [1], [None]):
        answer = api.put(f"/products/{product_id}.json", {"product": {"options": options}})
        assert answer.status_code == 422 and all(k.startswith("options") for k in errors_of(answer)), answer.text
    assert api.ok(api.get(f"/products/{product_id}.json"))["product"] == before


# ---- the guard, property-tested --------------------------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_the_guard_refuses_with_a_4xx_or_lets_through_whatever_json_comes(value: Any) -> None:
    """Whatever a client sends: the guard either lets it through or refuses it with a 4xx that
    names where; it never fails itself. What it lets through holds no NUL, no lone surrogate,
    no integer beyond 64 bits and no number that is not finite."""
    body = json.dumps(value, allow_nan=True).encode()
    try:
        guards.check_json(body)
    except guards.Refusal as refusal:
        assert refusal.status in (400, 422) and refusal.errors
        return
    for leaf in _all_leaves(value):
        if isinstance(leaf, int) and not isinstance(leaf, bool):
            assert -(2**63) <= leaf < 2**63
        if isinstance(leaf, float):
            assert math.isfinite(leaf)
        if isinstance(leaf, str):
            assert not re.search("[\x00\ud800-\udfff]", leaf)


def _all_leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [*value.keys(), *(leaf for item in value.values() for leaf in _all_leaves(item))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _all_leaves(item)]
    return [value]
