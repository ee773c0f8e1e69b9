"""Token authentication (`X-Shopify-Access-Token`) and Shopify's scope names."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from ..domain.order import Author
from ..store.access import ApiToken
from .errors import ApiError

INVALID = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def authenticate(request: Request) -> ApiToken:
    secret = request.headers.get("X-Shopify-Access-Token")
    if not secret:
        raise ApiError(401, INVALID)
    app = request.app.state.orderdeck
    cache: dict[str, ApiToken] = request.app.state.token_cache
    token = cache.get(secret)
    if token is None:
        with app.unit_of_work(read_only=True) as uow:
            token = uow.tokens.authenticate(secret)
        if token is None:
            raise ApiError(401, INVALID)
        # Tokens are few, so the cache stays small. A revoked token stops working when the
        # server restarts (operations.md says so); lookups of unknown tokens are never cached.
        cache[secret] = token
    return token


def require(*scopes: str) -> Callable[[Request], ApiToken]:
    """A dependency: the request's token, which must hold one of these scopes."""

    def check(request: Request) -> ApiToken:
        token = authenticate(request)
        if not any(token.allows(scope) for scope in scopes):
            raise ApiError(403, f"[API] This action requires merchant approval for {scopes[0]} scope.")
        request.state.token = token
        return token

    return check


def author_of(token: ApiToken) -> Author:
    return Author(kind="api", name=token.name, ref=str(token.id))
