"""The `webhooks.json` resource (Shopify's wire format) and Orderdeck's delivery log, redelivery
and enable/disable beside it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import Field

from ..domain.errors import NotFound
from ..resources.render import RenderContext, ts
from ..services import webhooks
from ..services.context import Command
from ..store.access import ApiToken
from ..store.webhooks import Attempt, Deliveries, Delivery, Subscription, Subscriptions
from .auth import require
from .errors import ApiError
from .responses import app_of, json, link_header, only_fields, run_command
from .schemas import Short, Strict

router = APIRouter(tags=["webhooks"])
BAD_PAGE_INFO = "Invalid value; use the Link header of the previous page"
# Their own scopes: a subscription's address and its receivers' replies are not order data.
read = require("read_webhooks")
write = require("write_webhooks")


class WebhookIn(Strict):
    topic: Short | None = None
    address: Annotated[str, Field(max_length=2048)] | None = None
    format: Short | None = None
    fields: list[Short] | None = None
    # Accepted for Shopify clients' sake and not used: Orderdeck has no metafields, and the
    # version a delivery is rendered in is the one the subscription was made under.
    metafield_namespaces: list[Short] | None = None
    private_metafield_namespaces: list[Short] | None = None
    api_version: Short | None = None


class WebhookEnvelope(Strict):
    webhook: WebhookIn


class RedeliverIn(Strict):
    delivery_ids: list[Short] | None = None
    state: Short | None = None


def webhook_json(s: Subscription, ctx: RenderContext) -> dict[str, Any]:
    return {
        "id": s.id,
        "address": s.address,
        "topic": s.topic,
        "created_at": ts(s.created_at, ctx),
        "updated_at": ts(s.updated_at, ctx),
        "format": s.format,
        "fields": s.fields or [],
        "metafield_namespaces": [],
        "api_version": s.api_version,
        "private_metafield_namespaces": [],
        # Orderdeck's own: whether deliveries are going out, and if not, why.
        "enabled": s.enabled,
        "disabled_at": ts(s.disabled_at, ctx),
        "disabled_reason": s.disabled_reason,
        "consecutive_failures": s.consecutive_failures,
    }


def attempt_json(a: Attempt, ctx: RenderContext) -> dict[str, Any]:
    return {
        "attempted_at": ts(a.attempted_at, ctx),
        "result": a.result,
        "response_status": a.response_status,
        "latency_ms": a.latency_ms,
        "error": a.error,
        "response_excerpt": a.response_excerpt,
        "worker": a.worker,
    }


def delivery_json(d: Delivery, attempts: list[Attempt], ctx: RenderContext) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.subscription_id,
        "event_id": d.event_id,
        "topic": d.topic,
        "order_id": d.order_id,
        "state": d.state,
        "attempts": d.attempts,
        "triggered_at": ts(d.triggered_at, ctx),
        "created_at": ts(d.created_at, ctx),
        "next_attempt_at": ts(d.next_attempt_at, ctx) if d.state == "pending" else None,
        "delivered_at": ts(d.delivered_at, ctx),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "body": d.body,
        "attempt_log": [attempt_json(a, ctx) for a in attempts],
    }


def _answer(cmd: Command, subscription: Subscription) -> dict[str, Any]:
    return {"webhook": webhook_json(subscription, cmd.app.render_context(cmd.uow))}


@router.get("/webhooks.json", summary="List webhook subscriptions")
def list_webhooks(
    request: Request,
    token: Annotated[ApiToken, Depends(read)],
    address: str | None = None,
    topic: str | None = None,
    created_at_min: datetime | None = None,
    created_at_max: datetime | None = None,
    updated_at_min: datetime | None = None,
    updated_at_max: datetime | None = None,
    since_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    fields: str | None = None,
    page_info: str | None = None,
) -> Response:
    app = app_of(request)
    after: int | None = None
    if page_info is not None:
        if not page_info.isdecimal():
            raise ApiError(400, {"page_info": [BAD_PAGE_INFO]})
        after = int(page_info)
    with app.unit_of_work(read_only=True) as uow:
        found = Subscriptions(uow.conn).list(
            topic=topic,
            address=address,
            after_id=after,
            since_id=since_id,
            created_at_min=created_at_min,
            created_at_max=created_at_max,
            updated_at_min=updated_at_min,
            updated_at_max=updated_at_max,
            limit=limit + 1,
        )
        ctx = app.render_context(uow)
    more = len(found) > limit
    found = found[:limit]
    kept = {
        "address": address,
        "topic": topic,
        "since_id": str(since_id) if since_id is not None else None,
        **{
            name: value.isoformat() if value else None
            for name, value in (
                ("created_at_min", created_at_min),
                ("created_at_max", created_at_max),
                ("updated_at_min", updated_at_min),
                ("updated_at_max", updated_at_max),
            )
        },
    }
    headers = link_header(request, limit, str(found[-1].id) if more else None, None, fields, keep=kept)
    return json({"webhooks": [only_fields(webhook_json(s, ctx), fields) for s in found]}, headers=headers)


@router.get("/webhooks/count.json", summary="Count webhook subscriptions")
def count_webhooks(
    request: Request, token: Annotated[ApiToken, Depends(read)], address: str | None = None, topic: str | None = None
) -> Response:
    with app_of(request).unit_of_work(read_only=True) as uow:
        return json({"count": Subscriptions(uow.conn).count(topic=topic, address=address)})


@router.get("/webhooks/{webhook_id}.json", summary="One webhook subscription")
def get_webhook(
    request: Request, webhook_id: int, token: Annotated[ApiToken, Depends(read)], fields: str | None = None
) -> Response:
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        found = Subscriptions(uow.conn).get(webhook_id)
        return json({"webhook": only_fields(webhook_json(found, app.render_context(uow)), fields)})


@router.post("/webhooks.json", status_code=201, summary="Subscribe an address to a topic")
def create_webhook(request: Request, body: WebhookEnvelope, token: Annotated[ApiToken, Depends(write)]) -> Response:
    w = body.webhook
    return run_command(
        request,
        token,
        body,
        lambda cmd: _answer(cmd, webhooks.subscribe(cmd, w.topic, w.address, w.fields, w.format)),
        status=201,
    )


@router.put("/webhooks/{webhook_id}.json", summary="Change a subscription's address, topic or fields")
def update_webhook(
    request: Request, webhook_id: int, body: WebhookEnvelope, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    changes = body.webhook.model_dump(exclude_unset=True, include={"topic", "address", "fields", "format"})
    return run_command(request, token, body, lambda cmd: _answer(cmd, webhooks.change(cmd, webhook_id, changes)))


@router.delete("/webhooks/{webhook_id}.json", summary="Unsubscribe (its waiting deliveries are dropped with it)")
def delete_webhook(request: Request, webhook_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    def work(cmd: Command) -> dict[str, Any]:
        webhooks.unsubscribe(cmd, webhook_id)
        return {}

    return run_command(request, token, None, work)


@router.post("/webhooks/{webhook_id}/enable.json", summary="Enable a disabled subscription again (Orderdeck)")
def enable_webhook(request: Request, webhook_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(request, token, None, lambda cmd: _answer(cmd, webhooks.enable(cmd, webhook_id)))


@router.post("/webhooks/{webhook_id}/disable.json", summary="Pause deliveries to a subscription (Orderdeck)")
def disable_webhook(request: Request, webhook_id: int, token: Annotated[ApiToken, Depends(write)]) -> Response:
    return run_command(request, token, None, lambda cmd: _answer(cmd, webhooks.disable(cmd, webhook_id, None)))


@router.get("/webhooks/{webhook_id}/deliveries.json", summary="A subscription's delivery log, newest first (Orderdeck)")
def list_deliveries(
    request: Request,
    webhook_id: int,
    token: Annotated[ApiToken, Depends(read)],
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    page_info: str | None = None,
) -> Response:
    if state is not None and state not in ("pending", "delivered", "failed"):
        raise ApiError(422, {"state": ["must be pending, delivered or failed"]})
    app = app_of(request)
    with app.unit_of_work(read_only=True) as uow:
        Subscriptions(uow.conn).get(webhook_id)
        deliveries = Deliveries(uow.conn)
        before = None
        if page_info is not None:
            try:
                last = deliveries.get(page_info, webhook_id)
            except NotFound:
                raise ApiError(400, {"page_info": [BAD_PAGE_INFO]}) from None
            before = (last.created_at, last.id)
        found = deliveries.list(webhook_id, state=state, before=before, limit=limit + 1)
        more = len(found) > limit
        found = found[:limit]
        attempts = deliveries.attempts([d.id for d in found])
        ctx = app.render_context(uow)
    headers = link_header(request, limit, found[-1].id if more else None, None, keep={"state": state})
    return json({"deliveries": [delivery_json(d, attempts[d.id], ctx) for d in found]}, headers=headers)


@router.post("/webhooks/{webhook_id}/redeliver.json", summary="Send deliveries again, by id or by state (Orderdeck)")
def redeliver(
    request: Request, webhook_id: int, body: RedeliverIn, token: Annotated[ApiToken, Depends(write)]
) -> Response:
    return run_command(
        request,
        token,
        body,
        lambda cmd: {"redelivering": webhooks.redeliver(cmd, webhook_id, body.delivery_ids, body.state)},
    )
