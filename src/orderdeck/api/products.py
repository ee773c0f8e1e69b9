"""Products, their variants and inventory items, in Shopify's 2024-10 shape.

Orderdeck keeps what orders and stock need of a product: its title, description, vendor,
type, handle, status, tags and option names, and per variant its option values, price, SKU,
barcode, weight, tax and shipping flags and inventory policy. A variant is its own inventory
item (the same id), which carries the cost and origin. Images, collections, metafields and
sales channels stay with the storefront.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from dataclasses import fields as fields_of
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ..domain.errors import InvalidInput, NotFound
from ..resources.render import RenderContext, gid, ts
from ..services import catalog
from ..services.context import Command
from ..store.access import ApiToken
from ..store.catalog import Product, ProductFilter, Variant
from ..store.queries import BadCursor
from .auth import require
from .catalog_models import (
    Count,
    Empty,
    InventoryItemBody,
    InventoryItemEnvelopeOut,
    InventoryItemsOut,
    ProductBody,
    ProductEnvelopeOut,
    ProductsOut,
    VariantBody,
    VariantEnvelopeOut,
    VariantIn,
    VariantsOut,
    answers,
)
from .errors import ApiError
from .responses import app_of, json, link_header, only_fields, run_command

router = APIRouter(tags=["products"])
read = require("read_products", "read_orders")
write = require("write_products")
read_inventory = require("read_inventory", "read_products", "read_orders")
write_inventory = require("write_inventory", "write_products")

GRAMS_PER = {"g": Decimal(1), "kg": Decimal(1000), "lb": Decimal("453.59237"), "oz": Decimal("28.349523125")}


# ---- rendering ---------------------------------------------------------------------------------
def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def variant_json(v: Variant, position: int, available: int, ctx: RenderContext, currency: str) -> dict[str, Any]:
    return {
        "id": v.id,
        "product_id": v.product_id,
        "title": v.title,
        "price": _money(v.price),
        "sku": v.sku,
        "position": position,
        "inventory_policy": v.inventory_policy,
        "compare_at_price": _money(v.compare_at_price),
        "fulfillment_service": "manual",
        "inventory_management": "shopify" if v.inventory_tracked else None,
        "option1": v.option1 or v.title,
        "option2": v.option2,
        "option3": v.option3,
        "created_at": ts(v.created_at, ctx),
        "updated_at": ts(v.updated_at, ctx),
        "taxable": v.taxable,
        "barcode": v.barcode,
        "grams": v.grams,
        "image_id": None,
        "weight": float(Decimal(v.grams) / 1000),
        "weight_unit": "kg",
        "inventory_item_id": v.id,
        "inventory_quantity": available,
        "old_inventory_quantity": available,
        "presentment_prices": [
            {
                "price": {"amount": _money(v.price), "currency_code": currency},
                "compare_at_price": None
                if v.compare_at_price is None
                else {"amount": _money(v.compare_at_price), "currency_code": currency},
            }
        ],
        "requires_shipping": v.requires_shipping,
        "admin_graphql_api_id": gid("ProductVariant", v.id),
    }


def _options(product: Product, variants: list[Variant]) -> list[dict[str, Any]]:
    names = product.options or ["Title"]
    options = []
    for index, name in enumerate(names):
        values: list[str] = []
        for v in variants:
            value = [v.option1 or v.title, v.option2, v.option3][index]
            if value is not None and value not in values:
                values.append(value)
        # Shopify has ids for options; Orderdeck names them by product and position.
        options.append(
            {"id": product.id * 10 + index + 1, "product_id": product.id, "name": name, "position": index + 1}
            | {"values": values}
        )
    return options


def product_json(
    product: Product, variants: list[Variant], available: dict[int, int], ctx: RenderContext, currency: str
) -> dict[str, Any]:
    return {
        "id": product.id,
        "title": product.title,
        "body_html": product.body_html,
        "vendor": product.vendor,
        "product_type": product.product_type,
        "created_at": ts(product.created_at, ctx),
        "handle": product.handle or f"product-{product.id}",
        "updated_at": ts(product.updated_at, ctx),
        "published_at": ts(product.published_at, ctx),
        "template_suffix": None,
        "published_scope": "global",
        "tags": product.tags,
        "status": product.status,
        "admin_graphql_api_id": gid("Product", product.id),
        "variants": [
            variant_json(v, n, available.get(v.id, 0), ctx, currency) for n, v in enumerate(variants, start=1)
        ],
        "options": _options(product, variants),
        "images": [],
        "image": None,
    }


def inventory_item_json(v: Variant, ctx: RenderContext) -> dict[str, Any]:
    return {
        "id": v.id,
        "sku": v.sku,
        "created_at": ts(v.created_at, ctx),
        "updated_at": ts(v.updated_at, ctx),
        "requires_shipping": v.requires_shipping,
        "cost": _money(v.cost),
        "country_code_of_origin": v.country_code_of_origin,
        "province_code_of_origin": None,
        "harmonized_system_code": v.harmonized_system_code,
        "tracked": v.inventory_tracked,
        "country_harmonized_system_codes": [],
        "admin_graphql_api_id": gid("InventoryItem", v.id),
    }


def _products_json(uow: Any, found: list[Product], ctx: RenderContext, fields: str | None) -> list[dict[str, Any]]:
    variants = uow.catalog.variants_of([p.id for p in found])
    available = uow.catalog.available_by_item([v.id for vs in variants.values() for v in vs])
    currency = uow.shop.currency
    return [only_fields(product_json(p, variants[p.id], available, ctx, currency), fields) for p in found]


def _one_product(uow: Any, product_id: int, ctx: RenderContext, fields: str | None = None) -> dict[str, Any]:
    return _products_json(uow, [uow.catalog.product(product_id)], ctx, fields)[0]


def _variants_json(uow: Any, variants: list[Variant], ctx: RenderContext) -> list[dict[str, Any]]:
    """Variants with their position in their product (a variant page can mix products)."""
    siblings = uow.catalog.variants_of(sorted({v.product_id for v in variants}))
    position = {s.id: n for group in siblings.values() for n, s in enumerate(group, start=1)}
    available = uow.catalog.available_by_item([v.id for v in variants])
    currency = uow.shop.currency
    return [variant_json(v, position[v.id], available.get(v.id, 0), ctx, currency) for v in variants]


# ---- reading -----------------------------------------------------------------------------------
def _id_list(raw: str | None, name: str) -> list[int]:
    if not raw:
        return []
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if len(parts) > 250 or not all(p.isdecimal() for p in parts):
        raise InvalidInput("at most 250 comma-separated ids", field=name)
    return [int(p) for p in parts]


def _words(raw: str | None) -> list[str]:
    return [p.strip() for p in (raw or "").split(",") if p.strip()]


@dataclass(frozen=True)
class ListQuery:
    """The product list's filters as the query string gives them, for GET products.json and
    products/count.json alike (`Depends()` makes each field a query parameter); `parsed()`
    checks them. Checked only when used: with page_info the cursor holds the filters."""

    ids: str | None = None
    since_id: int | None = None
    title: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    handle: str | None = None
    status: str | None = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    updated_at_min: datetime | None = None
    updated_at_max: datetime | None = None

    def parsed(self) -> ProductFilter:
        statuses = _words(self.status)
        wrong = [s for s in statuses if s not in catalog.PRODUCT_STATUSES]
        if wrong:
            raise InvalidInput(f"{wrong[0]} is not a status; use {', '.join(catalog.PRODUCT_STATUSES)}", field="status")
        return ProductFilter(
            ids=_id_list(self.ids, "ids"),
            since_id=self.since_id,
            title=self.title,
            vendor=self.vendor,
            product_type=self.product_type,
            handle=_words(self.handle),
            status=statuses,
            created_at_min=self.created_at_min,
            created_at_max=self.created_at_max,
            updated_at_min=self.updated_at_min,
            updated_at_max=self.updated_at_max,
        )


LIST_FILTERS = tuple(f.name for f in fields_of(ListQuery))


def _encode(flt: ProductFilter, last_id: int, direction: str) -> str:
    raw = orjson.dumps({"q": asdict(flt), "last_id": last_id, "direction": direction})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(page_info: str) -> tuple[ProductFilter, int, str]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(page_info + "=" * (-len(page_info) % 4)))
        q = dict(raw["q"])
        for key in ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max"):
            q[key] = datetime.fromisoformat(q[key]) if q.get(key) else None
        flt = ProductFilter(**q)
        last_id, direction = int(raw["last_id"]), str(raw["direction"])
        if direction not in ("next", "previous"):
            raise ValueError(direction)
        return flt, last_id, direction
    except (ValueError, TypeError, KeyError, AttributeError, orjson.JSONDecodeError):
        raise BadCursor from None


@router.get("/products.json", summary="List products with their variants", responses=answers(ProductsOut))
def list_products(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    query: Annotated[ListQuery, Depends()],
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    page_info: str | None = None,
    fields: str | None = None,
) -> Response:
    """Oldest first, `limit` (at most 250) a page; the next and previous pages by `page_info`
    from the `Link` header, which keeps the filters: `ids`, `since_id`, `title`, `vendor`,
    `product_type`, `handle` (comma-separated), `status` (active, draft, archived;
    comma-separated), `created_at_min/max`, `updated_at_min/max`; `fields` picks keys."""
    if page_info:
        extra = [p for p in request.query_params if p in LIST_FILTERS]
        if extra:
            raise ApiError(
                400,
                {
                    extra[0]: f"{extra[0]} cannot be passed when page_info is present. See "
                    "https://shopify.dev/api/usage/pagination-rest for more information."
                },
            )
        flt, last_id, direction = _decode(page_info)
    else:
        flt = query.parsed()
        last_id, direction = 0, "next"
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        found = uow.catalog.products_matching(
            flt,
            after_id=last_id if direction == "next" else 0,
            before_id=last_id if direction == "previous" else None,
            limit=limit + 1,
        )
        more = len(found) > limit
        if direction == "next":
            found = found[:limit]
            has_next, has_previous = more, bool(page_info)
        else:
            found = found[-limit:]
            has_next, has_previous = True, more
        body = _products_json(uow, found, app.render_context(uow), fields)
    headers = link_header(
        request,
        limit,
        _encode(flt, found[-1].id, "next") if has_next and found else None,
        _encode(flt, found[0].id, "previous") if has_previous and found else None,
        fields,
    )
    return json({"products": body}, headers=headers)


@router.get("/products/count.json", summary="Count products (the list's filters)", responses=answers(Count))
def count_products(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    query: Annotated[ListQuery, Depends()],
) -> Response:
    flt = query.parsed()
    with app_of(request).unit_of_work(read_only=True) as uow:
        return json({"count": uow.catalog.count_products(flt)})


@router.get("/products/{product_id}.json", summary="One product", responses=answers(ProductEnvelopeOut))
def get_product(
    request: Request, product_id: int, token: Annotated[ApiToken, Depends(read)], fields: str | None = None
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        return json({"product": _one_product(uow, product_id, app.render_context(uow), fields)})


@router.get("/products/{product_id}/variants.json", summary="A product's variants", responses=answers(VariantsOut))
def list_variants(
    request: Request,
    product_id: int,
    token: Annotated[ApiToken, Depends(read)],
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    since_id: int | None = None,
    fields: str | None = None,
) -> Response:
    """A product has at most 100 variants, so one page holds them (`limit`, `since_id` as Shopify)."""
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        uow.catalog.product(product_id)
        variants = uow.catalog.product_variants(product_id)
        body = _variants_json(uow, variants, app.render_context(uow))
    chosen = [v for v in body if since_id is None or v["id"] > since_id][:limit]
    return json({"variants": [only_fields(v, fields) for v in chosen]})


@router.get(
    "/products/{product_id}/variants/count.json", summary="Count a product's variants", responses=answers(Count)
)
def count_variants(request: Request, product_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        uow.catalog.product(product_id)
        return json({"count": len(uow.catalog.product_variants(product_id))})


@router.get("/variants/{variant_id}.json", summary="One variant", responses=answers(VariantEnvelopeOut))
def get_variant(
    request: Request, variant_id: int, token: Annotated[ApiToken, Depends(read)], fields: str | None = None
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        found = uow.catalog.variants_by_id({variant_id})
        if variant_id not in found:
            raise NotFound("Not Found")
        [body] = _variants_json(uow, [found[variant_id]], app.render_context(uow))
    return json({"variant": only_fields(body, fields)})


@router.get("/inventory_items.json", summary="Inventory items by id", responses=answers(InventoryItemsOut))
def list_inventory_items(
    request: Request,
    token: Annotated[ApiToken, Depends(read_inventory)],
    ids: str | None = None,
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
) -> Response:
    """`ids` (comma-separated, at most 100) is required, as in Shopify."""
    wanted = _id_list(ids, "ids")
    if not wanted:
        raise InvalidInput("name the inventory items: ids=1,2,3", field="ids")
    if len(wanted) > 100:
        raise InvalidInput("at most 100 ids", field="ids")
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        found = uow.catalog.variants_by_id(set(wanted))
        ctx = app.render_context(uow)
        items = [inventory_item_json(found[i], ctx) for i in sorted(found)][:limit]
    return json({"inventory_items": items})


@router.get(
    "/inventory_items/{item_id}.json", summary="One inventory item", responses=answers(InventoryItemEnvelopeOut)
)
def get_inventory_item(request: Request, item_id: int, token: Annotated[ApiToken, Depends(read_inventory)]) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        found = uow.catalog.variants_by_id({item_id})
        if item_id not in found:
            raise NotFound("Not Found")
        return json({"inventory_item": inventory_item_json(found[item_id], app.render_context(uow))})


# ---- writing -----------------------------------------------------------------------------------
def _variant_changes(v: VariantIn, index: int) -> dict[str, Any]:
    """The columns a variant in a request sets (only the keys it sent)."""
    sent = v.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    for key in (
        "title", "sku", "price", "compare_at_price", "barcode", "option1", "option2", "option3", "grams",
        "taxable", "requires_shipping", "inventory_policy",
    ):  # fmt: skip
        if key in sent:
            changes[key] = sent[key]
    if "weight" in sent and "grams" not in sent and sent["weight"] is not None:
        unit = sent.get("weight_unit") or "kg"
        changes["grams"] = int((sent["weight"] * GRAMS_PER[unit]).to_integral_value())
    if "inventory_management" in sent:
        changes["inventory_tracked"] = sent["inventory_management"] is not None
    for key in ("title", "price", "taxable", "requires_shipping", "inventory_policy", "grams"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} can't be null", field=f"variants[{index}].{key}")
    if "id" in sent:
        changes["id"] = sent["id"]
    return changes


def _stock(v: VariantIn, field: str) -> dict[int, int]:
    try:
        return {int(k): q for k, q in (v.inventory_quantities or {}).items()}
    except ValueError:
        raise InvalidInput("inventory_quantities maps location ids to quantities", field=field) from None


def _product_changes(body: ProductBody) -> dict[str, Any]:
    sent = body.product.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {
        k: sent[k]
        for k in ("title", "body_html", "vendor", "product_type", "handle", "status", "tags", "options")
        if k in sent
    }
    if changes.get("status", "") is None:
        raise InvalidInput("can't be null", field="status")
    return changes


def _answer(cmd: Command, product_id: int) -> dict[str, Any]:
    return {"product": _one_product(cmd.uow, product_id, cmd.app.render_context(cmd.uow))}


@router.post(
    "/products.json", status_code=201, summary="Add a product", responses=answers(ProductEnvelopeOut, created=True)
)
def create_product(request: Request, body: ProductBody, token: Annotated[ApiToken, Depends(write)]) -> Response:
    """Title required; `variants` (at most 100; one "Default Title" variant when none),
    `options` (up to three names; each variant then has `option1`…), `status` (active by
    default), `tags`, `handle` (made from the title when left out), `body_html`. A variant's
    `inventory_quantities` (an Orderdeck addition) maps location ids to available stock."""
    p = body.product
    changes = _product_changes(body)

    def work(cmd: Command) -> dict[str, Any]:
        new = []
        for index, v in enumerate(p.variants or []):
            row = _variant_changes(v, index)
            row.pop("id", None)
            fresh = catalog.NewVariant()
            new.append(catalog.NewVariant(**{**fresh.__dict__, **row, "stock": _stock(v, f"variants[{index}]")}))
        product_id = catalog.add_product(
            cmd,
            title=changes.pop("title", None) or "",
            vendor=changes.pop("vendor", None),
            product_type=changes.pop("product_type", None),
            new_variants=new,
            details=changes,
        )
        return _answer(cmd, product_id)

    return run_command(request, token, body, work, status=201)


@router.put(
    "/products/{product_id}.json", summary="Change a product (and its variants)", responses=answers(ProductEnvelopeOut)
)
def update_product(
    request: Request, product_id: int, body: ProductBody, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Only the keys sent change. With `variants`, the product's variants become that list:
    one with an `id` is changed, one without is added, one left out is deleted."""
    changes = _product_changes(body)
    variants = body.product.variants
    if variants is not None and any(v.inventory_quantities for v in variants):
        raise InvalidInput("stock is set through inventory_levels/set.json once a variant exists", field="variants")

    def work(cmd: Command) -> dict[str, Any]:
        rows = None if variants is None else [_variant_changes(v, i) for i, v in enumerate(variants)]
        catalog.update_product(cmd, product_id, changes, rows)
        return _answer(cmd, product_id)

    return run_command(request, token, body, work)


@router.delete("/products/{product_id}.json", summary="Delete a product", responses=answers(Empty))
def delete_product(request: Request, product_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    """Orders keep their lines as they were sold. Refused while units of the product are
    committed to orders not yet shipped (422)."""

    def work(cmd: Command) -> dict[str, Any]:
        catalog.delete_product(cmd, product_id)
        return {}

    return run_command(request, token, None, work)


def _variant_answer(cmd: Command, variant_id: int) -> dict[str, Any]:
    variant = cmd.uow.catalog.variants_by_id({variant_id})[variant_id]
    [body] = _variants_json(cmd.uow, [variant], cmd.app.render_context(cmd.uow))
    return {"variant": body}


@router.post(
    "/products/{product_id}/variants.json",
    status_code=201,
    summary="Add a variant",
    responses=answers(VariantEnvelopeOut, created=True),
)
def create_variant(
    request: Request, product_id: int, body: VariantBody, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    row = _variant_changes(body.variant, 0)
    row.pop("id", None)
    stock = _stock(body.variant, "inventory_quantities")

    def work(cmd: Command) -> dict[str, Any]:
        return _variant_answer(cmd, catalog.add_variant(cmd, product_id, row, stock))

    return run_command(request, token, body, work, status=201)


@router.put("/variants/{variant_id}.json", summary="Change a variant", responses=answers(VariantEnvelopeOut))
def update_variant(
    request: Request, variant_id: int, body: VariantBody, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    return _update_variant(request, None, variant_id, body, token)


@router.put(
    "/products/{product_id}/variants/{variant_id}.json",
    summary="Change a variant (the path Shopify's Python client saves to)",
    responses=answers(VariantEnvelopeOut),
)
def update_product_variant(
    request: Request, product_id: int, variant_id: int, body: VariantBody, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    return _update_variant(request, product_id, variant_id, body, token)


def _update_variant(
    request: Request, product_id: int | None, variant_id: int, body: VariantBody, token: ApiToken
) -> Response:
    if body.variant.inventory_quantities:
        raise InvalidInput("stock is set through inventory_levels/set.json", field="inventory_quantities")
    row = _variant_changes(body.variant, 0)
    if row.pop("id", variant_id) != variant_id:
        raise InvalidInput("does not match the variant in the path", field="id")

    def work(cmd: Command) -> dict[str, Any]:
        catalog.update_variant(cmd, variant_id, row, product_id=product_id)
        return _variant_answer(cmd, variant_id)

    return run_command(request, token, body, work)


@router.delete(
    "/products/{product_id}/variants/{variant_id}.json", summary="Delete a variant", responses=answers(Empty)
)
def delete_variant(
    request: Request, product_id: int, variant_id: int, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        catalog.delete_variant(cmd, product_id, variant_id)
        return {}

    return run_command(request, token, None, work)


@router.put(
    "/inventory_items/{item_id}.json",
    summary="Change an inventory item (SKU, tracking, cost, origin)",
    responses=answers(InventoryItemEnvelopeOut),
)
def update_inventory_item(
    request: Request, item_id: int, body: InventoryItemBody, token: Annotated[ApiToken, Depends(write_inventory)]
) -> Response:
    fields = body.inventory_item.model_dump(exclude_unset=True)
    if fields.pop("id", item_id) != item_id:
        raise InvalidInput("does not match the inventory item in the path", field="id")
    for key in ("tracked", "requires_shipping"):
        if key in fields and fields[key] is None:
            raise InvalidInput("can't be null", field=key)

    def work(cmd: Command) -> dict[str, Any]:
        catalog.update_inventory_item(cmd, item_id, fields)
        item = cmd.uow.catalog.variants_by_id({item_id})[item_id]
        return {"inventory_item": inventory_item_json(item, cmd.app.render_context(cmd.uow))}

    return run_command(request, token, body, work)
