"""Locations, inventory levels, and the shop with its settings (products: api/products.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..countries import country_name
from ..domain.errors import InvalidInput
from ..domain.inventory import InventoryLevel
from ..notify.smtp import redacted
from ..resources.render import RenderContext, gid, ts
from ..services import catalog, settings
from ..services.context import Command
from ..store.access import ApiToken
from ..store.catalog import Location
from . import schemas
from .auth import require
from .responses import app_of, json, run_command

router = APIRouter(tags=["locations and inventory"])


def location_json(loc: Location, ctx: RenderContext) -> dict[str, Any]:
    return {
        "id": loc.id,
        "name": loc.name,
        "address1": loc.address1,
        "address2": loc.address2,
        "city": loc.city,
        "zip": loc.zip,
        "province": loc.province,
        "country": loc.country_code,
        "phone": loc.phone,
        "created_at": ts(loc.created_at, ctx),
        "updated_at": ts(loc.updated_at, ctx),
        "country_code": loc.country_code,
        "country_name": country_name(loc.country_code),
        "province_code": loc.province_code,
        "legacy": False,
        "active": loc.active,
        "priority": loc.priority,
        "admin_graphql_api_id": gid("Location", loc.id),
        "localized_country_name": country_name(loc.country_code),
        "localized_province_name": loc.province,
    }


def level_json(level: InventoryLevel, ctx: RenderContext) -> dict[str, Any]:
    return {
        "inventory_item_id": level.inventory_item_id,
        "location_id": level.location_id,
        "available": level.available,
        "committed": level.committed,
        "on_hand": level.on_hand,
        "updated_at": ts(level.updated_at, ctx),
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{level.location_id}?inventory_item_id="
        f"{level.inventory_item_id}",
    }


@router.get("/locations.json", summary="Locations, in routing priority")
def list_locations(
    request: Request, token: Annotated[ApiToken, Depends(require("read_locations", "read_orders"))]
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        ctx = app.render_context(uow)
        return json({"locations": [location_json(loc, ctx) for loc in uow.catalog.locations()]})


@router.get("/locations/count.json", summary="Count locations")
def count_locations(
    request: Request, token: Annotated[ApiToken, Depends(require("read_locations", "read_orders"))]
) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        return json({"count": len(uow.catalog.locations())})


@router.get("/locations/{location_id}.json", summary="One location")
def get_location(
    request: Request, location_id: int, token: Annotated[ApiToken, Depends(require("read_locations", "read_orders"))]
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        return json({"location": location_json(uow.catalog.location(location_id), app.render_context(uow))})


@router.post("/locations.json", status_code=201, summary="Add a location")
def create_location(
    request: Request, body: schemas.LocationEnvelope, token: Annotated[ApiToken, Depends(require("write_locations"))]
) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        loc = catalog.add_location(cmd, body.location.model_dump(exclude_unset=True))
        return {"location": location_json(loc, cmd.app.render_context(cmd.uow))}

    return run_command(request, token, body, work, status=201)


@router.put("/locations/{location_id}.json", summary="Change a location (name, address, priority, active)")
def update_location(
    request: Request,
    location_id: int,
    body: schemas.LocationEnvelope,
    token: Annotated[ApiToken, Depends(require("write_locations"))],
) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        loc = catalog.update_location(cmd, location_id, body.location.model_dump(exclude_unset=True))
        return {"location": location_json(loc, cmd.app.render_context(cmd.uow))}

    return run_command(request, token, body, work)


def _ids(raw: str | None, name: str) -> list[int]:
    if not raw:
        return []
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if len(parts) > 50 or not all(p.isdecimal() for p in parts):
        raise InvalidInput("at most 50 comma-separated ids", field=name)
    return [int(p) for p in parts]


def _levels(request: Request, items: list[int], locations: list[int], limit: int, page_info: str | None) -> Response:
    app = app_of(request)
    after = None
    if page_info:
        try:
            a, b = page_info.split("-")
            after = (int(a), int(b))
        except ValueError:
            raise InvalidInput("Invalid value.", field="page_info") from None
    with app.unit_of_work(read_only=True) as uow:
        found = catalog.levels(
            Command(app, uow, None),
            item_ids=items,
            location_ids=locations,  # type: ignore[arg-type]
            after=after,
            limit=limit + 1,
        )
        ctx = app.render_context(uow)
    more = len(found) > limit
    found = found[:limit]
    from .responses import link_header

    token = f"{found[-1].inventory_item_id}-{found[-1].location_id}" if more and found else None
    return json(
        {"inventory_levels": [level_json(lv, ctx) for lv in found]},
        headers=link_header(request, limit, token, None),
    )


@router.get("/inventory_levels.json", summary="Stock levels by item and location")
def inventory_levels(
    request: Request,
    token: Annotated[ApiToken, Depends(require("read_inventory", "read_orders"))],
    inventory_item_ids: str | None = None,
    location_ids: str | None = None,
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    page_info: str | None = None,
) -> Response:
    items, locations = _ids(inventory_item_ids, "inventory_item_ids"), _ids(location_ids, "location_ids")
    if not items and not locations and not page_info:
        raise InvalidInput("name inventory_item_ids or location_ids", field="inventory_item_ids")
    return _levels(request, items, locations, limit, page_info)


@router.get("/locations/{location_id}/inventory_levels.json", summary="Stock levels at one location")
def location_levels(
    request: Request,
    location_id: int,
    token: Annotated[ApiToken, Depends(require("read_inventory", "read_orders"))],
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    page_info: str | None = None,
) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        uow.catalog.location(location_id)
    return _levels(request, [], [location_id], limit, page_info)


def _level_answer(cmd: Command, level: InventoryLevel) -> dict[str, Any]:
    return {"inventory_level": level_json(level, cmd.app.render_context(cmd.uow))}


@router.post("/inventory_levels/set.json", summary="Set available stock (a stock count)")
def set_level(
    request: Request, body: schemas.InventorySetIn, token: Annotated[ApiToken, Depends(require("write_inventory"))]
) -> Response:
    return run_command(
        request,
        token,
        body,
        lambda cmd: _level_answer(
            cmd, catalog.set_available(cmd, body.inventory_item_id, body.location_id, body.available)
        ),
    )


@router.post("/inventory_levels/adjust.json", summary="Adjust available stock by a number of units")
def adjust_level(
    request: Request, body: schemas.InventoryAdjustIn, token: Annotated[ApiToken, Depends(require("write_inventory"))]
) -> Response:
    return run_command(
        request,
        token,
        body,
        lambda cmd: _level_answer(
            cmd, catalog.adjust_available(cmd, body.inventory_item_id, body.location_id, body.available_adjustment)
        ),
    )


@router.post("/inventory_levels/connect.json", summary="Stock an item at a location")
def connect_level(
    request: Request, body: schemas.InventoryConnectIn, token: Annotated[ApiToken, Depends(require("write_inventory"))]
) -> Response:
    return run_command(
        request,
        token,
        body,
        lambda cmd: _level_answer(cmd, catalog.connect(cmd, body.inventory_item_id, body.location_id)),
    )


@router.delete("/inventory_levels.json", summary="Stop stocking an item at a location")
def disconnect_level(
    request: Request,
    inventory_item_id: int,
    location_id: int,
    token: Annotated[ApiToken, Depends(require("write_inventory"))],
) -> Response:
    return run_command(
        request, token, None, lambda cmd: (catalog.disconnect(cmd, inventory_item_id, location_id), {})[1]
    )


# ---- the shop -------------------------------------------------------------------------------
@router.get("/shop.json", summary="The shop")
def get_shop(request: Request, token: Annotated[ApiToken, Depends(require("read_orders"))]) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        shop = uow.shop
        return json(
            {
                "shop": {
                    "id": shop.id,
                    "name": shop.name,
                    "domain": shop.domain,
                    "email": shop.email,
                    "currency": shop.currency,
                    "iana_timezone": shop.timezone,
                    "primary_locale": shop.primary_locale,
                    # Only for a token that may read them (the staff address, the mail server).
                    **({"settings": _shown(shop.settings)} if token.allows("read_settings") else {}),
                }
            }
        )


def _shown(values: Any) -> dict[str, Any]:
    shown = asdict(values)
    shown["smtp_url"] = redacted(shown.get("smtp_url"))
    # ShipStation's password is write-only: only whether one is set is ever shown.
    shown["shipstation_password_set"] = bool(shown.pop("shipstation_password_hash", ""))
    return shown


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capture_mode: str | None = None
    authorization_period_days: Annotated[int, Field(ge=1, le=30)] | None = None
    auto_archive: bool | None = None
    auto_fulfill_channels: list[str] | None = None
    order_name_prefix: Annotated[str, Field(max_length=8)] | None = None
    stuck_after_days: Annotated[int, Field(ge=0, le=365)] | None = None
    auto_request_fulfillment: Literal["off", "on_payment", "on_authorization"] | None = None
    request_accept_hours: Annotated[int, Field(ge=0, le=720)] | None = None
    request_acknowledge_hours: Annotated[int, Field(ge=0, le=720)] | None = None
    cancellation_answer_hours: Annotated[int, Field(ge=0, le=720)] | None = None
    request_ship_days: Annotated[int, Field(ge=0, le=365)] | None = None
    retention_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    staff_email: Annotated[str, Field(max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    self_service: bool | None = None
    smtp_url: Annotated[str, Field(max_length=1000)] | None = None
    self_service_window_minutes: Annotated[int, Field(ge=1, le=60 * 24 * 30)] | None = None
    self_service_reasons: list[Literal["changed_my_mind", "wrong_item", "better_price", "other"]] | None = None
    shipment_updates: (
        list[Literal["out_for_delivery", "delivered", "ready_for_pickup", "attempted_delivery", "failure"]] | None
    ) = None
    # The return policy (docs/customer-pages.md; services/settings.py checks the rest).
    returns_enabled: bool | None = None
    return_window_days: Annotated[int, Field(ge=0, le=365)] | None = None
    return_window_from: Literal["delivery", "fulfillment"] | None = None
    final_sale_tags: list[Annotated[str, Field(max_length=255)]] | None = None
    returns_allow_exchanges: bool | None = None
    return_requests_need_approval: bool | None = None
    return_shipping_fee: Annotated[str, Field(max_length=40)] | float | None = None
    restocking_fee_percentage: Annotated[float, Field(ge=0, le=100)] | None = None
    return_instructions: Annotated[str, Field(max_length=2000)] | None = None
    # How long an order edit stays open (hours, 1-720); services/settings.py checks it.
    order_edit_hours: Annotated[int, Field(strict=True, ge=1, le=720)] | None = None
    # What customers may change themselves from the status page (within the self-service window).
    customer_edits: bool | None = None
    customer_edits_may_raise_total: bool | None = None
    payment_instructions: Annotated[str, Field(max_length=2000)] | None = None
    # ShipStation's Custom Store credentials (the password is stored hashed and never shown).
    shipstation_username: Annotated[str, Field(max_length=100)] | None = None
    shipstation_password: Annotated[str, Field(max_length=200)] | None = None
    # The shop's own fields, named as GET /shop.json names them (services/shop_setup.py checks them).
    name: str | None = None
    iana_timezone: str | None = None
    primary_locale: str | None = None
    currency: str | None = None


class SettingsEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settings: SettingsIn


@router.put("/shop/settings.json", summary="Change order-processing settings")
def update_settings(
    request: Request, body: SettingsEnvelope, token: Annotated[ApiToken, Depends(require("write_settings"))]
) -> Response:
    """`capture_mode` (checkout, fulfillment or manual), `authorization_period_days` (default 7),
    `auto_archive`, `auto_fulfill_channels` (sales channels fulfilled at sale, e.g. ["pos"]),
    `order_name_prefix`, `stuck_after_days` (open orders unfulfilled this long are tagged `stuck` and
    reported; 0 switches it off), `auto_request_fulfillment` (`off`, the default; `on_payment`:
    fulfillment is requested from fulfillment services by itself once an order is paid;
    `on_authorization`: once its payment is authorized or paid; a service's own `auto_request`
    overrides it), `retention_days` (how long handled outbox messages and finished
    webhook deliveries are kept; default 30), `staff_email` (where staff alerts and rules'
    e-mails go; the shop's e-mail when unset), `self_service` (customers may cancel or correct
    the shipping address from their status page), `self_service_window_minutes` (150),
    `self_service_reasons` (the cancel reasons offered); `shipment_updates` (the carrier's shipment
    statuses customers are e-mailed about: any of `out_for_delivery`, `delivered`,
    `ready_for_pickup`, `attempted_delivery`, `failure`; all by default, [] for none); the return policy for customers'
    requests from their status page: `returns_enabled` (true), `return_window_days` (30, 0-365),
    `return_window_from` (`delivery` or `fulfillment`), `final_sale_tags` (product or order tags
    whose items can't be returned), `returns_allow_exchanges` (true),
    `return_requests_need_approval` (true; false opens a request at once),
    `return_shipping_fee` (an amount, "0.00"), `restocking_fee_percentage` (0-100),
    `return_instructions` (shown with the approval and the label); `order_edit_hours` (24, 1-720:
    how long an order edit stays open before it expires); `customer_edits` (true: customers may
    change quantities, remove items or switch to another size or colour at the same price from
    their status page, within the self-service window, while the units are unfulfilled) and
    `customer_edits_may_raise_total` (false: a customer's change may not leave anything to pay);
    `payment_instructions` (how customers pay what is left to pay: shown in payment requests and
    on the status page while something is owed); `shipstation_username` and `shipstation_password`
    (the Basic credentials ShipStation's Custom Store connection uses on /shipstation; the password is
    write-only, shown back as `shipstation_password_set`; an empty username switches it off);
    `smtp_url` (the shop's mail server, as
    ORDERDECK_SMTP_URL; shown back with its password hidden). The shop's own `name`,
    `iana_timezone`, `primary_locale` (en, nl, de or fi) and `currency` (only while the shop has
    no orders) change here too; the answer shows them beside the settings. When a request to a
    fulfillment service counts as stuck (0 switches each check off): `request_accept_hours` (24:
    submitted and not accepted), `request_acknowledge_hours` (2: the service never acknowledged the
    notification), `cancellation_answer_hours` (24: a cancellation request unanswered),
    `request_ship_days` (3: accepted and nothing shipped)."""
    changes = body.settings.model_dump(exclude_unset=True)

    def work(cmd: Any) -> dict[str, Any]:
        changed = _shown(settings.update_settings(cmd, changes))
        shop = cmd.uow.shop
        own = {"name": shop.name, "iana_timezone": shop.timezone, "primary_locale": shop.primary_locale}
        return {"settings": {**changed, **own, "currency": shop.currency}}

    return run_command(request, token, body, work)
