"""Fulfillment service commands (create, change, delete) and their Shopify 2024-10 JSON. A
service fulfills from a location of its own: created with it and named after it, renamed with
it, deactivated when the service is deleted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError

from .. import destinations
from ..domain import fulfillment_services as rules
from ..domain.auto_requests import checked_when
from ..domain.errors import InvalidInput, RuleViolation
from ..domain.fulfillment_services import FulfillmentService
from ..resources.render import gid
from ..store.fulfillment_services import FulfillmentServices
from .context import Command

UNSET: Any = object()  # a field the request left out: unchanged on an update


@dataclass
class ServiceFields:
    """What a create or update sends; UNSET leaves a field as it is (or its default, on create)."""

    name: str = UNSET
    email: str | None = UNSET
    callback_url: str = UNSET
    inventory_management: bool = UNSET
    tracking_support: bool = UNSET
    fulfillment_orders_opt_in: bool = UNSET
    permits_sku_sharing: bool = UNSET
    requires_shipping_method: bool = UNSET
    format: str = UNSET
    include_pending_stock: bool = UNSET
    auto_request: str | None = UNSET  # Orderdeck's extension: null follows the shop's setting

    def sent(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not UNSET}


DEFAULTS: dict[str, Any] = {
    "email": None,
    "inventory_management": False,
    "tracking_support": False,
    "fulfillment_orders_opt_in": True,
    "permits_sku_sharing": False,
    "requires_shipping_method": True,
    "format": "json",
    "include_pending_stock": False,
    "auto_request": None,
}


def render(service: FulfillmentService) -> dict[str, Any]:
    """REST 2024-10's `fulfillment_service` (`service_name` mirrors the name; `provider_id` is
    always null, as in Shopify's fixtures)."""
    return {
        "id": service.id,
        "name": service.name,
        "email": service.email,
        "service_name": service.name,
        "handle": service.handle,
        "fulfillment_orders_opt_in": service.fulfillment_orders_opt_in,
        "include_pending_stock": service.include_pending_stock,
        "provider_id": None,
        "location_id": service.location_id,
        "callback_url": service.callback_url,
        "tracking_support": service.tracking_support,
        "inventory_management": service.inventory_management,
        "admin_graphql_api_id": gid("ApiFulfillmentService", service.id),
        "permits_sku_sharing": service.permits_sku_sharing,
        "requires_shipping_method": service.requires_shipping_method,
        "format": service.format,
        # Orderdeck's extension: when fulfillment is requested from it by itself (null: the shop's setting).
        "auto_request": service.auto_request,
    }


def _checked(cmd: Command, values: dict[str, Any]) -> dict[str, Any]:
    checked = dict(values)
    if "name" in checked:
        checked["name"] = rules.checked_name(checked["name"])
    if "callback_url" in checked:
        checked["callback_url"] = rules.checked_callback_url(checked["callback_url"])
        # An address the calls to the service would be refused (outbox/service_calls.py) is refused
        # here, as a webhook's is; names are checked again on connecting.
        problem = destinations.of(cmd.app.settings).refusal(urlsplit(checked["callback_url"]).hostname or "")
        if problem:
            raise InvalidInput(problem, field="callback_url")
    if "fulfillment_orders_opt_in" in checked:
        rules.checked_opt_in(checked["fulfillment_orders_opt_in"])
    if checked.get("auto_request") is not None:
        checked["auto_request"] = checked_when(checked["auto_request"], field="auto_request")
    return checked


def _name_free(repo: FulfillmentServices, name: str, other_than: int | None = None) -> None:
    if repo.name_taken(name, other_than=other_than):
        raise InvalidInput(f"has already been taken: a fulfillment service named {name!r} exists", field="name")


def _location_name_free(cmd: Command, name: str, other_than: int | None = None) -> None:
    if any(loc.name == name and loc.id != other_than for loc in cmd.uow.catalog.locations()):
        raise InvalidInput(
            f"is the name of a location already: the service's own location is named after it, so choose "
            f"another name or rename the location {name!r} first",
            field="name",
        )


def _unique(cmd: Command, write: Any) -> Any:
    """Two requests naming one new service at the same moment (PostgreSQL): the second meets the
    unique constraint and is told so, instead of failing the request."""
    try:
        with cmd.uow.conn.begin_nested():
            return write()
    except IntegrityError:
        raise InvalidInput("has already been taken by a service created at the same moment", field="name") from None


def create(cmd: Command, fields: ServiceFields, owner_token_id: int | None) -> FulfillmentService:
    sent = _checked(cmd, fields.sent())
    if "name" not in sent:
        raise InvalidInput("can't be blank", field="name")
    if "callback_url" not in sent:
        raise InvalidInput("can't be blank", field="callback_url")
    values = {**DEFAULTS, **sent}
    repo = FulfillmentServices(cmd.uow.conn)
    _name_free(repo, values["name"])
    _location_name_free(cmd, values["name"])

    def write() -> int:
        location = cmd.uow.catalog.add_location({"name": values["name"], "active": True}, cmd.now)
        return repo.add(
            {
                **values,
                "handle": rules.unique_handle(values["name"], repo.handles()),
                "location_id": location.id,
                "owner_token_id": owner_token_id,
                "created_at": cmd.now,
                "updated_at": cmd.now,
            }
        )

    return repo.get(_unique(cmd, write))


def update(cmd: Command, service_id: int, fields: ServiceFields) -> FulfillmentService:
    repo = FulfillmentServices(cmd.uow.conn)
    service = repo.get(service_id, for_update=True)
    sent = _checked(cmd, fields.sent())
    renamed = "name" in sent and sent["name"] != service.name
    if renamed:
        _name_free(repo, sent["name"], other_than=service_id)
        _location_name_free(cmd, sent["name"], other_than=service.location_id)

    def write() -> None:
        if renamed:
            cmd.uow.catalog.update_location(service.location_id, {"name": sent["name"]}, cmd.now)
        repo.update(service_id, {**sent, "updated_at": cmd.now})

    _unique(cmd, write)
    return repo.get(service_id)


def delete(cmd: Command, service_id: int) -> None:
    """Refused while fulfillment orders still to do are assigned to the service's location
    (they would be left at a location nobody fulfills from); otherwise the location is
    deactivated (orders keep naming it) and the service goes."""
    repo = FulfillmentServices(cmd.uow.conn)
    service = repo.get(service_id, for_update=True)
    waiting = repo.open_orders_at(service.location_id)
    if waiting:
        shown = ", ".join(waiting[:10]) + (f" and {len(waiting) - 10} more" if len(waiting) > 10 else "")
        raise RuleViolation(
            f"{len(waiting)} order(s) have open fulfillment orders assigned to this service's location "
            f"{service.location_id} ({shown}): fulfill, move or cancel them first",
            field="location_id",
        )
    cmd.uow.catalog.update_location(service.location_id, {"active": False}, cmd.now)
    repo.delete(service_id)
