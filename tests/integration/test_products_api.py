"""Products, variants and inventory items through the API, in Shopify's 2024-10 shape: what a
merchant lists to place an order, and the catalogue writes that keep orders and stock intact."""

from __future__ import annotations

import re
from typing import Any

import shopify

from tests.conftest import Api, Shop, make_token
from tests.e2e.test_shopify_client import server, session  # noqa: F401  (the official client's fixtures)


def _product(api: Api, **fields: Any) -> dict[str, Any]:
    return api.ok(api.post("/products.json", {"product": {"title": "Stoneware mug", **fields}}))["product"]  # type: ignore[no-any-return]


def _link(response: Any, rel: str) -> str | None:
    found = re.search(rf'<([^>]+)>; rel="{rel}"', response.headers.get("Link", ""))
    return found.group(1) if found else None


def test_a_product_is_served_in_shopifys_shape(api: Api, shop: Shop) -> None:
    amsterdam, berlin = shop.location("Amsterdam"), shop.location("Berlin store")
    made = _product(
        api,
        vendor="Orderdeck Home",
        product_type="Mugs",
        body_html="<p>Glazed</p>",
        tags="kitchen, Gift,  kitchen",
        options=[{"name": "Color"}],
        variants=[
            {"option1": "Blue", "sku": "MUG-B", "price": "12.50", "compare_at_price": "15", "grams": 350,
             "inventory_quantities": {str(amsterdam): 4, str(berlin): 3}},
            {"option1": "Red", "sku": "MUG-R", "price": "12.50", "inventory_policy": "continue"},
        ],
    )  # fmt: skip
    got = api.ok(api.get(f"/products/{made['id']}.json"))["product"]
    assert got == made
    assert got["handle"] == "stoneware-mug" and got["status"] == "active" and got["tags"] == "Gift, kitchen"
    assert got["options"] == [
        {
            "id": got["options"][0]["id"],
            "product_id": got["id"],
            "name": "Color",
            "position": 1,
            "values": ["Blue", "Red"],
        }
    ]
    blue, red = got["variants"]
    assert (blue["title"], blue["option1"], blue["position"], red["position"]) == ("Blue", "Blue", 1, 2)
    assert blue["price"] == "12.50" and blue["compare_at_price"] == "15.00" and blue["weight"] == 0.35
    assert blue["inventory_quantity"] == 7 and red["inventory_quantity"] == 0
    assert blue["inventory_item_id"] == blue["id"] and blue["inventory_management"] == "shopify"
    assert red["inventory_policy"] == "continue"
    for key in ("published_at", "created_at", "updated_at", "admin_graphql_api_id", "images", "image"):
        assert key in got
    for key in ("barcode", "fulfillment_service", "option2", "option3", "presentment_prices", "old_inventory_quantity"):
        assert key in blue
    assert api.ok(api.get(f"/variants/{blue['id']}.json"))["variant"] == blue
    assert api.ok(api.get(f"/products/{got['id']}/variants.json"))["variants"] == [blue, red]
    assert api.ok(api.get(f"/products/{got['id']}/variants/count.json"))["count"] == 2


def test_a_merchant_lists_products_to_place_an_order(api: Api, shop: Shop) -> None:
    here = shop.location("Amsterdam")
    variant_id = shop.product("TEA", stock={here: 5}, title="Green tea")
    [listed] = api.ok(api.get("/products.json"))["products"]
    assert listed["title"] == "Green tea" and listed["variants"][0]["id"] == variant_id
    order = shop.order([{"variant_id": listed["variants"][0]["id"], "quantity": 2}])
    assert order["line_items"][0]["sku"] == "TEA"
    again = api.ok(api.get(f"/variants/{variant_id}.json"))["variant"]
    assert again["inventory_quantity"] == 3  # two units committed to the order


def test_the_list_pages_by_cursor_and_keeps_its_filters(api: Api) -> None:
    made = [_product(api, title=f"Mug {n}", vendor="Acme" if n % 2 else "Other") for n in range(5)]
    acme = [p["id"] for p in made if p["vendor"] == "Acme"]
    assert len(acme) == 2

    first = api.get("/products.json", params={"limit": 2})
    assert [p["id"] for p in api.ok(first)["products"]] == [made[0]["id"], made[1]["id"]]
    second = api.client.get(_link(first, "next"), headers=api.headers)
    assert [p["id"] for p in api.ok(second)["products"]] == [made[2]["id"], made[3]["id"]]
    back = api.client.get(_link(second, "previous"), headers=api.headers)
    assert [p["id"] for p in api.ok(back)["products"]] == [made[0]["id"], made[1]["id"]]

    page = api.get("/products.json", params={"limit": 1, "vendor": "Acme", "fields": "id,title"})
    assert api.ok(page)["products"] == [{"id": acme[0], "title": made[1]["title"]}]
    following = api.client.get(_link(page, "next"), headers=api.headers)
    assert api.ok(following)["products"] == [{"id": acme[1], "title": made[3]["title"]}]
    assert _link(following, "next") is None

    by_ids = api.ok(api.get("/products.json", params={"ids": f"{made[4]['id']},{made[0]['id']}"}))["products"]
    assert [p["id"] for p in by_ids] == [made[0]["id"], made[4]["id"]]
    assert [p["id"] for p in api.ok(api.get("/products.json", params={"since_id": made[3]["id"]}))["products"]] == [
        made[4]["id"]
    ]
    assert api.ok(api.get("/products/count.json", params={"vendor": "Acme"}))["count"] == 2
    assert api.ok(api.get("/products/count.json"))["count"] == 5

    mixed = api.get("/products.json", params={"page_info": _link(page, "next").split("page_info=")[1], "vendor": "x"})  # type: ignore[union-attr]
    assert mixed.status_code == 400 and "vendor cannot be passed when page_info is present" in mixed.text
    cursor = _link(page, "next").split("page_info=")[1]  # type: ignore[union-attr]
    bad_with_cursor = api.get("/products.json", params={"page_info": cursor, "status": "sold"})
    assert bad_with_cursor.status_code == 400 and "status cannot be passed when page_info" in bad_with_cursor.text
    assert api.get("/products.json", params={"page_info": "junk"}).status_code == 400
    wrong = api.get("/products.json", params={"status": "sold"})
    assert wrong.status_code == 422 and "sold is not a status" in wrong.json()["errors"]["status"][0]


def test_status_and_title_filters(api: Api) -> None:
    draft = _product(api, title="Teapot", status="draft")
    _product(api, title="Saucer")
    assert [p["id"] for p in api.ok(api.get("/products.json", params={"status": "draft"}))["products"]] == [draft["id"]]
    assert draft["published_at"] is None
    assert [p["title"] for p in api.ok(api.get("/products.json", params={"title": "Saucer"}))["products"]] == ["Saucer"]


def test_updating_a_product_and_its_variants(api: Api) -> None:
    made = _product(api, variants=[{"title": "Small", "price": "8.00"}, {"title": "Large", "price": "10.00"}])
    small, large = made["variants"]
    changed = api.ok(
        api.put(
            f"/products/{made['id']}.json",
            {"product": {"title": "Big mug", "status": "archived", "variants": [
                {"id": large["id"], "price": "11.00"}, {"title": "Huge", "price": "14.00"}]}},
        )
    )["product"]  # fmt: skip
    assert changed["title"] == "Big mug" and changed["status"] == "archived"
    assert changed["handle"] == made["handle"]  # a handle stays when the title changes
    assert [(v["title"], v["price"]) for v in changed["variants"]] == [("Large", "11.00"), ("Huge", "14.00")]
    assert api.get(f"/variants/{small['id']}.json").status_code == 404

    variant = api.ok(api.put(f"/variants/{large['id']}.json", {"variant": {"sku": "L-1", "barcode": "123"}}))
    assert variant["variant"]["sku"] == "L-1" and variant["variant"]["barcode"] == "123"
    added = api.ok(api.post(f"/products/{made['id']}/variants.json", {"variant": {"title": "Tiny", "price": "5"}}))
    assert added["variant"]["position"] == 3 and added["variant"]["product_id"] == made["id"]
    assert api.ok(api.delete(f"/products/{made['id']}/variants/{added['variant']['id']}.json")) == {}


def test_shopify_clients_send_a_product_back_whole(api: Api) -> None:
    """shopify.Product.save() PUTs every key it read, computed ones included."""
    made = _product(api, options=["Size"], variants=[{"option1": "S"}, {"option1": "M"}])
    made["title"] = "Renamed"
    saved = api.ok(api.put(f"/products/{made['id']}.json", {"product": made}))["product"]
    assert saved["title"] == "Renamed" and [v["option1"] for v in saved["variants"]] == ["S", "M"]
    assert saved["variants"][0]["id"] == made["variants"][0]["id"]
    typo = api.put(f"/products/{made['id']}.json", {"product": {"titel": "x"}})
    assert typo.status_code == 422 and "titel" in typo.json()["errors"]


def test_validation_errors_come_in_shopifys_shape(api: Api, shop: Shop) -> None:
    blank = api.post("/products.json", {"product": {"title": "  "}})
    assert blank.status_code == 422 and blank.json() == {"errors": {"title": ["can't be blank"]}}
    twice = api.post("/products.json", {"product": {"title": "Mug", "variants": [{"title": "A"}, {"title": "A"}]}})
    assert twice.status_code == 422 and twice.json() == {"errors": {"base": ["The variant 'A' already exists."]}}
    missing = api.post(
        "/products.json",
        {"product": {"title": "Mug", "options": ["Size", "Color"], "variants": [{"option1": "S"}]}},
    )
    assert missing.status_code == 422 and "option Color" in missing.json()["errors"]["variants[0]"][0]
    negative = api.post("/products.json", {"product": {"title": "Mug", "variants": [{"price": "-1"}]}})
    assert negative.status_code == 422 and "variants[0].price" in negative.json()["errors"]
    made_mug = _product(api, handle="mug")
    taken = api.post("/products.json", {"product": {"title": "Other", "handle": "mug"}})
    assert taken.status_code == 422 and taken.json() == {"errors": {"handle": ["has already been taken"]}}
    assert _product(api, title="Mug")["handle"] == "mug-1"
    nowhere = api.post(
        "/products.json", {"product": {"title": "M", "variants": [{"inventory_quantities": {"999": 1}}]}}
    )
    assert nowhere.status_code == 422 and "location 999" in nowhere.text
    emptied = api.put(f"/products/{made_mug['id']}.json", {"product": {"variants": []}})
    assert emptied.status_code == 422 and "at least one variant" in emptied.json()["errors"]["variants"][0]
    assert len(api.ok(api.get(f"/products/{made_mug['id']}.json"))["product"]["variants"]) == 1
    assert api.ok(api.get("/products/count.json"))["count"] == 2  # nothing was made by the refusals
    assert api.get("/products/999999.json").json() == {"errors": "Not Found"}


def test_deleting_a_product_keeps_the_orders_that_sold_it(api: Api, shop: Shop) -> None:
    here = shop.location("Amsterdam")
    variant_id = shop.product("VASE", stock={here: 5}, title="Vase")
    product_id = api.ok(api.get(f"/variants/{variant_id}.json"))["variant"]["product_id"]
    order = shop.order([{"variant_id": variant_id, "quantity": 1}])

    refused = api.delete(f"/products/{product_id}.json")
    assert refused.status_code == 422 and "committed to orders" in refused.json()["errors"]["base"][0]
    assert api.ok(api.get(f"/products/{product_id}.json"))

    shop.fulfil(order["id"])
    before = shop.get(order["id"])
    assert api.ok(api.delete(f"/products/{product_id}.json")) == {}
    assert api.get(f"/products/{product_id}.json").status_code == 404
    assert api.get(f"/variants/{variant_id}.json").status_code == 404
    after = shop.get(order["id"])
    assert after["line_items"] == before["line_items"] and after["fulfillment_status"] == "fulfilled"


def test_inventory_items(api: Api, shop: Shop) -> None:
    made = _product(api, variants=[{"title": "A", "sku": "A-1"}, {"title": "B"}])
    a, b = (v["inventory_item_id"] for v in made["variants"])
    items = api.ok(api.get("/inventory_items.json", params={"ids": f"{b},{a}"}))["inventory_items"]
    assert [(i["id"], i["sku"], i["tracked"]) for i in items] == [(a, "A-1", True), (b, None, True)]
    changed = api.ok(
        api.put(f"/inventory_items/{a}.json", {"inventory_item": {"sku": "A-2", "tracked": False, "cost": "3.25"}})
    )["inventory_item"]
    assert (changed["sku"], changed["tracked"], changed["cost"]) == ("A-2", False, "3.25")
    assert api.ok(api.get(f"/inventory_items/{a}.json"))["inventory_item"] == changed
    variant = api.ok(api.get(f"/variants/{a}.json"))["variant"]
    assert variant["sku"] == "A-2" and variant["inventory_management"] is None
    assert api.get("/inventory_items.json").status_code == 422
    assert api.get("/inventory_items/999999.json").status_code == 404
    bad = api.put(f"/inventory_items/{a}.json", {"inventory_item": {"cost": "-1"}})
    assert bad.status_code == 422 and "cost" in bad.json()["errors"]


def test_products_need_the_product_scopes(api: Api, deck: Any) -> None:
    reader = {"X-Shopify-Access-Token": make_token(deck, ["read_products"])}
    assert api.client.get("/admin/api/2024-10/products.json", headers=reader).status_code == 200
    denied = api.client.post("/admin/api/2024-10/products.json", json={"product": {"title": "Mug"}}, headers=reader)
    assert denied.status_code == 403
    locations_only = {"X-Shopify-Access-Token": make_token(deck, ["read_locations"])}
    assert api.client.get("/admin/api/2024-10/products.json", headers=locations_only).status_code == 403


def test_new_catalogue_routes_declare_their_answers(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    prefix = "/admin/api/{api_version}"
    for method, path in (
        ("get", "/products.json"),
        ("get", "/products/count.json"),
        ("put", "/products/{product_id}.json"),
        ("get", "/variants/{variant_id}.json"),
        ("get", "/inventory_items.json"),
        ("put", "/inventory_items/{item_id}.json"),
    ):
        answer = paths[prefix + path][method]["responses"]["200"]
        schema = answer["content"]["application/json"]["schema"]
        assert "$ref" in schema or schema.get("properties"), path  # not FastAPI's empty default


# ---- Shopify's own Python client ------------------------------------------------------------------


def test_the_official_client_reads_and_writes_products(session: Any, shop: Shop) -> None:  # noqa: F811
    here = shop.location("Amsterdam")
    variant_id = shop.product("TEA", stock={here: 5}, title="Green tea")
    made = shopify.Product(
        {"title": "Teapot", "options": [{"name": "Size"}], "variants": [{"option1": "S"}, {"option1": "L"}]}
    )
    assert made.save(), made.errors.full_messages()
    assert [v.option1 for v in made.variants] == ["S", "L"]

    listed = shopify.Product.find()
    assert [p.title for p in listed] == ["Green tea", "Teapot"]
    assert listed[0].variants[0].id == variant_id and listed[0].variants[0].inventory_quantity == 5
    assert shopify.Product.count() == 2
    page = shopify.Product.find(limit=1)
    assert page.has_next_page() and [p.title for p in page.next_page()] == ["Teapot"]

    teapot = shopify.Product.find(made.id)
    teapot.title = "Big teapot"
    assert teapot.save(), teapot.errors.full_messages()  # the client PUTs the product back whole
    assert shopify.Product.find(made.id).title == "Big teapot"

    variant = shopify.Variant.find(made.variants[0].id)
    variant.price = "20.00"
    assert variant.save(), variant.errors.full_messages()
    assert shopify.Variant.find(variant.id).price == "20.00"
    [item] = shopify.InventoryItem.find(ids=str(variant.inventory_item_id))
    assert item.tracked is True

    refused = shopify.Product({"title": " "})
    assert not refused.save() and "can't be blank" in " ".join(refused.errors.full_messages())
    shopify.Product.find(made.id).destroy()
    assert shopify.Product.count() == 1


def test_products_made_before_the_catalogue_fields_get_a_handle(backend: str, tmp_path: Any, request: Any) -> None:
    """Migration 0013 gives products that had no handle one from their id, and publishes the
    active ones when they were made."""
    import uuid
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import create_engine, text

    from orderdeck.store.migrate import alembic_config
    from tests.conftest import PG_ADMIN_URL

    admin, name = None, f"orderdeck_catalogue_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        request.getfixturevalue("postgres_url")  # skips, or fails in CI, where PostgreSQL is not running
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, "0012")
            now = datetime(2026, 1, 2, tzinfo=UTC)
            conn.execute(
                text("INSERT INTO products (title, created_at, updated_at) VALUES ('Old mug', :now, :now)"),
                {"now": now},
            )
            command.upgrade(config, "0013")
            row = conn.execute(text("SELECT id, handle, status, tags, published_at FROM products")).one()
        assert (row.handle, row.status, row.tags) == (f"product-{row.id}", "active", "")
        assert row.published_at is not None
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_weights_and_variant_paths(api: Api) -> None:
    made = _product(api, variants=[{"title": "A", "weight": "1.5", "weight_unit": "lb"}, {"title": "B", "grams": 250}])
    a, b = made["variants"]
    assert (a["grams"], a["weight"], a["weight_unit"]) == (680, 0.68, "kg")
    assert (b["grams"], b["weight"]) == (250, 0.25)
    other = _product(api, title="Other")
    wrong_product = api.put(f"/products/{other['id']}/variants/{a['id']}.json", {"variant": {"price": "1"}})
    assert wrong_product.status_code == 404
    assert api.delete(f"/products/{other['id']}/variants/{a['id']}.json").status_code == 404
    mismatch = api.put(f"/variants/{a['id']}.json", {"variant": {"id": b["id"], "price": "1"}})
    assert mismatch.status_code == 422 and "id" in mismatch.json()["errors"]
    assert api.ok(api.get(f"/products/{made['id']}/variants.json", params={"since_id": a["id"]}))["variants"] == [b]
    last = api.delete(f"/products/{other['id']}/variants/{other['variants'][0]['id']}.json")
    assert last.status_code == 422 and "at least one variant" in last.json()["errors"]["base"][0]
