"""Every refusal in Shopify's error shape, with a status code that says what kind it is.

Domain refusals become 422 `{"errors": {"field": ["message"]}}` (404 for unknown records);
malformed JSON is 400; type and shape errors are 422 naming the field and the problem. Nothing
escapes as a bare 500: the last handler answers in the same shape and logs the cause.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.errors import Forbidden, NotFound, OrderError
from ..store.queries import BadCursor
from .openapi import allowed_methods

log = logging.getLogger("orderdeck.api")


def error_response(status: int, errors: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"errors": errors}), status_code=status, media_type="application/json", headers=headers
    )


class ApiError(Exception):
    """An HTTP-level refusal (authentication, scopes, size, idempotency)."""

    def __init__(self, status: int, errors: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(errors))
        self.status = status
        self.errors = errors
        self.headers = headers


# The one key that wraps a request body ({"order": {...}}): error keys leave it out, so that
# clients match them to the resource's own fields ("line_items[0].quantity", "amount").
ENVELOPES = frozenset(
    {
        "order",
        "webhook",
        "notification_template",
        "custom_status",
        "notification",
        "message",
        "transaction",
        "refund",
        "fulfillment",
        "fulfillment_order",
        "fulfillment_hold",
        "event",
        "location",
        "product",
        "variant",
        "inventory_item",
        "comment",
        "settings",
        "return",
        "reverse_delivery",
        "fulfillment_service",
    }
)


def _location(loc: tuple[Any, ...]) -> str:
    # Only FastAPI's leading "body"/"query"/"path" goes: a field may be named body (a comment's).
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)]
    if len(parts) > 1 and parts[0] in ENVELOPES:
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "base"


_FRIENDLY = {
    "extra_forbidden": "is not a field Orderdeck knows; check its spelling and the API reference",
    "missing": "is required",
}


def validation_errors(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    shaped: dict[str, list[str]] = {}
    for err in errors:
        message = _FRIENDLY.get(err.get("type", ""), err.get("msg", "is invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        shaped.setdefault(_location(tuple(err.get("loc", ()))), []).append(message)
    return shaped


def install(app: FastAPI) -> None:
    @app.exception_handler(OrderError)
    async def domain_error(_request: Request, exc: OrderError) -> Response:
        if isinstance(exc, NotFound) and exc.field == "base":
            return error_response(404, "Not Found")
        if isinstance(exc, Forbidden):
            return error_response(403, exc.message)
        if isinstance(exc, BadCursor):
            return error_response(400, {exc.field: exc.message})
        return error_response(422, {exc.field: [exc.message]})

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = next(e for e in errors if e.get("type") == "json_invalid")
            return error_response(
                400, {"base": [f"The body is not valid JSON ({detail.get('ctx', {}).get('error', 'parse error')})"]}
            )
        return error_response(422, validation_errors(errors))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(404, "Not Found")
        if exc.status_code == 405:
            allow = {"Allow": ", ".join(allowed_methods(request.app, request.scope))}
            return error_response(405, "Method Not Allowed; see /docs for what this path takes", allow)
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "An unexpected error occurred")
