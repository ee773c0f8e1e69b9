"""Answering: JSON bodies, the `fields=` filter, pagination links, and idempotent commands."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError

from ..services.context import Command, Orderdeck
from ..store.access import ApiToken, StoredResponse
from .auth import author_of
from .errors import ApiError


def json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def only_fields(resource: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return resource
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    return {k: resource[k] for k in wanted if k in resource}


def link_header(
    request: Request,
    limit: int,
    next_token: str | None,
    previous_token: str | None,
    fields: str | None = None,
    keep: dict[str, str | None] | None = None,
) -> dict[str, str]:
    """Shopify's Link header. A page_info carries only the position, so filters that are not
    part of the cursor itself (`keep`) ride along in the link."""
    links = []
    base = str(request.url.replace(query=""))
    for token, rel in ((previous_token, "previous"), (next_token, "next")):
        if token:
            query: dict[str, object] = {k: v for k, v in (keep or {}).items() if v is not None}
            query.update(limit=limit, page_info=token)
            if fields:
                query["fields"] = fields
            links.append(f'<{base}?{urlencode(query)}>; rel="{rel}"')
    return {"Link": ", ".join(links)} if links else {}


def app_of(request: Request) -> Orderdeck:
    return request.app.state.orderdeck  # type: ignore[no-any-return]


def _fingerprint(request: Request, body: BaseModel | dict[str, Any] | None) -> str:
    data = body.model_dump(mode="json", exclude_unset=True) if isinstance(body, BaseModel) else body
    raw = orjson.dumps(
        [request.method, request.url.path, sorted(request.query_params.multi_items()), data],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(raw).hexdigest()


def run_command(
    request: Request,
    token: ApiToken,
    body: BaseModel | dict[str, Any] | None,
    work: Callable[[Command], Any],
    *,
    status: int = 200,
    idempotent: bool = True,
) -> Response:
    """Run one command in one transaction. With an Idempotency-Key, a retry gets the first answer
    back and nothing is done twice: the key is stored in the command's own transaction.

    Two requests with one key at the same moment: the transaction claims the key before the
    command runs (`IdempotencyKeys.claim`), so the second waits until the first has committed or
    rolled back, then looks again and replays the first one's answer, or, if the first was
    refused and stored nothing, runs the command itself. It never runs the command against what
    the first one just did (which answered a placed order with "not enough stock")."""
    app = app_of(request)
    key = request.headers.get("Idempotency-Key") if request.method == "POST" and idempotent else None
    if key is not None and not (0 < len(key) <= 255):
        raise ApiError(400, {"Idempotency-Key": ["must be 1 to 255 characters"]})
    fingerprint = _fingerprint(request, body) if key else ""
    if key:
        replay = _stored(app, token, key, fingerprint)
        if replay is not None:
            return replay
    try:
        with app.unit_of_work() as uow:
            if key:
                uow.idempotency.claim(token.id, key)
                stored = uow.idempotency.find(token.id, key)
                if stored is not None:
                    return _replay(stored, fingerprint)
            payload = work(Command(app, uow, author_of(token)))
            encoded = payload if isinstance(payload, bytes) else orjson.dumps(payload)
            if key:
                uow.idempotency.remember(
                    token.id,
                    key,
                    method=request.method,
                    path=request.url.path,
                    request_hash=fingerprint,
                    status_code=status,
                    body=encoded.decode(),
                    now=uow.now,
                )
            uow.commit()
        return json(encoded, status)
    except IntegrityError:
        if key:
            replay = _stored(app, token, key, fingerprint)
            if replay is not None:
                return replay
        raise
    except OperationalError as exc:
        # PostgreSQL chose this command as a deadlock victim or failed it on a serialization
        # conflict. Nothing was committed; it is not retried here because a gateway may already
        # have been asked to move money, so the client retries (with its Idempotency-Key).
        if _retryable(exc):
            raise ApiError(409, "The order was changed by another request at the same moment; retry") from None
        raise


def _retryable(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01")


def _stored(app: Orderdeck, token: ApiToken, key: str, fingerprint: str) -> Response | None:
    with app.unit_of_work(read_only=True) as uow:
        stored = uow.idempotency.find(token.id, key)
    return None if stored is None else _replay(stored, fingerprint)


def _replay(stored: StoredResponse, fingerprint: str) -> Response:
    if stored.request_hash != fingerprint:
        raise ApiError(
            422, {"Idempotency-Key": ["was already used for a different request; use a new key for a new request"]}
        )
    return json(stored.body.encode(), stored.status_code, headers={"Idempotent-Replayed": "true"})
