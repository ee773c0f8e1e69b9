"""Fulfillment services, Shopify REST 2024-10 `fulfillment_services.json`: a 3PL or dropship app
registers itself (its callback URL, whether it tracks stock and shipments) and gets a location
of its own. Every write is one command through services/fulfillment_services.py, run by
`run_command`; the token that creates a service owns it (`scope=current_client`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ..domain.errors import InvalidInput
from ..services import fulfillment_services as commands
from ..services.context import Command
from ..store.access import ApiToken
from ..store.fulfillment_services import FulfillmentServices
from . import fulfillment_services_models as m
from .auth import require
from .responses import app_of, json, run_command

router = APIRouter(tags=["fulfillment_services"])
# Shopify's scopes for fulfillment services are the fulfillments ones.
read = require("read_fulfillments")
write = require("write_fulfillments")
SCOPES = ("current_client", "all")


def _fields(data: m.FulfillmentServiceIn) -> commands.ServiceFields:
    """The keys the body sent (and only those of a service: an update's echoed keys are not)."""
    sent = data.model_fields_set & set(commands.ServiceFields.__dataclass_fields__)
    return commands.ServiceFields(**{k: getattr(data, k) for k in sent})


def _answer(service: Any) -> dict[str, Any]:
    return {"fulfillment_service": commands.render(service)}


@router.get("/fulfillment_services.json", summary="List fulfillment services")
def list_fulfillment_services(
    request: Request, token: Annotated[ApiToken, Depends(read)], scope: str = "current_client"
) -> Response:
    """`scope=current_client` (the default, as in Shopify): the services the calling token
    created; `scope=all`: every service of the shop. Oldest first, not paginated."""
    if scope not in SCOPES:
        raise InvalidInput(f"{scope!r} is not one of {', '.join(SCOPES)}", field="scope")
    with app_of(request).unit_of_work(read_only=True) as uow:
        found = FulfillmentServices(uow.conn).all(owner_token_id=token.id if scope == "current_client" else None)
    return json({"fulfillment_services": [commands.render(s) for s in found]})


@router.get("/fulfillment_services/{service_id}.json", summary="One fulfillment service")
def get_fulfillment_service(request: Request, service_id: int, token: Annotated[ApiToken, Depends(read)]) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        return json(_answer(FulfillmentServices(uow.conn).get(service_id)))


@router.post("/fulfillment_services.json", status_code=201, summary="Create a fulfillment service")
def create_fulfillment_service(
    request: Request, body: m.FulfillmentServiceEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """`name` (unique; the `handle` is made from it) and `callback_url` (https; http only to
    localhost or 127.0.0.1) are required. The service's location is created with it, named
    after it and active."""

    def work(cmd: Command) -> dict[str, Any]:
        return _answer(commands.create(cmd, _fields(body.fulfillment_service), owner_token_id=token.id))

    return run_command(request, token, body, work, status=201)


@router.put("/fulfillment_services/{service_id}.json", summary="Change a fulfillment service")
def update_fulfillment_service(
    request: Request,
    service_id: int,
    body: m.FulfillmentServiceUpdateEnvelope,
    token: Annotated[ApiToken, Depends(write)],
) -> Response:
    """Fields left out stay as they are. A new `name` renames the service's location too; the
    `handle` stays. Read-only keys sent back as GET gave them are ignored."""

    def work(cmd: Command) -> dict[str, Any]:
        return _answer(commands.update(cmd, service_id, _fields(body.fulfillment_service)))

    return run_command(request, token, body, work)


@router.delete("/fulfillment_services/{service_id}.json", summary="Delete a fulfillment service")
def delete_fulfillment_service(
    request: Request, service_id: int, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """Refused (422 on `location_id`) while orders have fulfillment orders still to do at the
    service's location; otherwise its location is deactivated and the service deleted."""

    def work(cmd: Command) -> dict[str, Any]:
        commands.delete(cmd, service_id)
        return {}

    return run_command(request, token, None, work)
