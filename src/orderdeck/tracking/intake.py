"""The intake routes aggregators and carriers call with shipment events (not the Admin API:
they sign with their source's secret instead of sending a token).

`POST /tracking/aftership/{source_id}`: AfterShip's webhook, signed in `aftership-hmac-sha256`;
`POST /tracking/events/{source_id}`: Orderdeck's generic shape, signed in
`X-Orderdeck-Hmac-Sha256`. Both: base64 of the HMAC-SHA256 of the raw body with the secret.

Answers: 200 `{"matched", "recorded"}`; 202 `{"matched": 0}` for a number no fulfillment carries
(aggregators retry errors, and an order not in this shop is no error of theirs); 401 on a
missing or wrong signature; 400 naming the field of a body we cannot read; 404 for an unknown
source or one of the other kind."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..api.errors import ApiError
from ..api.responses import app_of, json
from ..domain.errors import NotFound
from ..domain.order import Author
from ..services import tracking as commands
from ..services.context import Command, Orderdeck
from ..store.tracking_sources import TrackingSources
from .aftership import read_webhook
from .checkpoints import BadBody, Pushed, read_generic

router = APIRouter(include_in_schema=False)


def signature(body: bytes, secret: str) -> str:
    """What AfterShip sends in `aftership-hmac-sha256` and we expect in `X-Orderdeck-Hmac-Sha256`."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _intake(
    app: Orderdeck, source_id: int, kind: str, header: str | None, body: bytes, read: Callable[[Any], Pushed]
) -> Response:
    if not 0 < source_id < 2**63:  # no id the database could hold (the API's guard covers /admin/api only)
        raise NotFound("Not Found")
    with app.unit_of_work() as uow:
        source = TrackingSources(uow.conn).find(source_id)
        if source is None or source.kind != kind:
            raise NotFound("Not Found")
        if not header or not hmac.compare_digest(header.strip().encode(), signature(body, source.secret).encode()):
            raise ApiError(401, "The signature does not match this source's secret")
        try:
            pushed = read(orjson.loads(body))
        except orjson.JSONDecodeError:
            raise ApiError(400, {"body": ["is not valid JSON"]}) from None
        except BadBody as bad:
            raise ApiError(400, {bad.field: [bad.message]}) from None
        outcome = commands.record(Command(app, uow, Author("system", f"Tracking: {source.name}")), source, pushed)
        uow.commit()
    if outcome["matched"] == 0:
        return json({"matched": 0}, 202)
    return json(outcome)


@router.post("/tracking/aftership/{source_id}")
async def aftership_webhook(request: Request, source_id: int) -> Response:
    body = await request.body()
    header = request.headers.get("aftership-hmac-sha256")
    return await run_in_threadpool(_intake, app_of(request), source_id, "aftership", header, body, read_webhook)


@router.post("/tracking/events/{source_id}")
async def generic_events(request: Request, source_id: int) -> Response:
    body = await request.body()
    header = request.headers.get("X-Orderdeck-Hmac-Sha256")
    return await run_in_threadpool(_intake, app_of(request), source_id, "generic", header, body, read_generic)
