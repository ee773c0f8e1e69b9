"""Tracking sources (an Orderdeck extension): the aggregators and carriers that push shipment
events to the intake (tracking/intake.py). A shop may connect several. The answer to creating
one is the only one that shows its secret, with the intake URL to give the aggregator."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ..services import tracking as commands
from ..services.context import Command
from ..store.access import ApiToken
from ..store.tracking_sources import TrackingSources
from .auth import require
from .responses import app_of, json, run_command
from .schemas import Short, Strict

router = APIRouter(tags=["tracking_sources"])
read = require("read_fulfillments")
write = require("write_fulfillments")


class TrackingSourceIn(Strict):
    kind: Literal["aftership", "generic"]
    name: Short
    secret: Short | None = None  # required for AfterShip (its webhook secret); made for generic


class TrackingSourceEnvelope(Strict):
    tracking_source: TrackingSourceIn


@router.get("/tracking_sources.json", summary="List tracking sources")
def list_tracking_sources(request: Request, token: Annotated[ApiToken, Depends(read)]) -> Response:
    """Oldest first, without their secrets; `last_received_at` is the last signed call."""
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        ctx = app.render_context(uow)
        return json({"tracking_sources": [commands.render(s, ctx) for s in TrackingSources(uow.conn).all()]})


@router.post("/tracking_sources.json", status_code=201, summary="Connect a tracking source")
def create_tracking_source(
    request: Request, body: TrackingSourceEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    """`kind` `aftership` (with `secret`: AfterShip's webhook secret) or `generic` (Orderdeck
    makes the secret unless one is given). The answer shows the secret, this once, and the
    `intake_url` to enter at the aggregator."""

    def work(cmd: Command) -> dict[str, Any]:
        data = body.tracking_source
        source = commands.create(cmd, kind=data.kind, name=data.name, secret=data.secret)
        return {"tracking_source": commands.render(source, cmd.app.render_context(cmd.uow), with_secret=True)}

    return run_command(request, token, body, work, status=201)


@router.delete("/tracking_sources/{source_id}.json", summary="Disconnect a tracking source")
def delete_tracking_source(request: Request, source_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    """Its intake URL answers 404 from then on; the events it recorded stay."""

    def work(cmd: Command) -> dict[str, Any]:
        commands.delete(cmd, source_id)
        return {}

    return run_command(request, token, None, work)
