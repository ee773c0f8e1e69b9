"""Token authentication (`X-Shopify-Access-Token`) and Shopify's scope names."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Request

from ..domain.order import Author
from ..store.access import ApiToken
from .errors import ApiError

INVALID = "[API] Invalid API key or access token (unrecognized login or wrong password)"


class TokenCache:
    """Tokens this process has checked lately, so most requests skip the database. Tokens are
    few, so it stays small; an entry is trusted for `TTL` seconds, so a token revoked by any
    process is refused by every process within that time (at once by the one that revoked it).
    Unknown tokens are never cached."""

    TTL = 30.0

    def __init__(self) -> None:
        self._entries: dict[str, tuple[ApiToken, float]] = {}

    def get(self, secret: str) -> ApiToken | None:
        entry = self._entries.get(secret)
        if entry is None or time.monotonic() - entry[1] > self.TTL:
            return None
        return entry[0]

    def put(self, secret: str, token: ApiToken) -> None:
        self._entries[secret] = (token, time.monotonic())

    def forget(self, token_id: int) -> None:
        for secret, (token, _) in list(self._entries.items()):
            if token.id == token_id:
                self._entries.pop(secret, None)


def authenticate(request: Request) -> ApiToken:
    secret = request.headers.get("X-Shopify-Access-Token")
    if not secret:
        raise ApiError(401, INVALID)
    app = request.app.state.orderdeck
    cache: TokenCache = request.app.state.token_cache
    token = cache.get(secret)
    if token is None:
        with app.unit_of_work(read_only=True) as uow:
            token = uow.tokens.authenticate(secret)
        if token is None:
            raise ApiError(401, INVALID)
        cache.put(secret, token)
    return token


def check_scope(token: ApiToken, *scopes: str) -> None:
    """Refused (403, Shopify's words, naming the scope) unless the token holds one of these scopes."""
    if not any(token.allows(scope) for scope in scopes):
        raise ApiError(403, f"[API] This action requires merchant approval for {scopes[0]} scope.")


def require(*scopes: str) -> Callable[[Request], ApiToken]:
    """A dependency: the request's token, which must hold one of these scopes."""

    def check(request: Request) -> ApiToken:
        token = authenticate(request)
        check_scope(token, *scopes)
        request.state.token = token
        return token

    return check


def author_of(token: ApiToken) -> Author:
    return Author(kind="api", name=token.name, ref=str(token.id))
