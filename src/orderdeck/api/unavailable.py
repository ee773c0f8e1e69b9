"""503 when the database cannot be reached, instead of a 500 with a traceback.

A lost connection (the server restarted, a failover, `pg_terminate_backend`), a database that
refuses connections, an exhausted pool or SQLite's busy timeout all mean the same to a client:
nothing it can fix, try again shortly. The API answers 503 with `Retry-After` and Shopify's
`{"errors": "..."}`, the admin its problem page, the customer's pages a plain page. The next
request gets a fresh connection: pooled ones are checked before use (`pool_pre_ping`).

A command whose group commit failed (`CommitFailed`: the COMMIT of the transaction holding its
change failed, so nothing of it was written) is answered the same way, saying so.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from html import escape
from typing import cast

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..store.group_commit import CommitFailed
from .errors import error_response

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
API_MESSAGE = (
    "The database cannot be reached at the moment. Retry in a few seconds; "
    "send a POST again with the same Idempotency-Key, so that it is not done twice."
)
PAGE_MESSAGE = "Orderdeck cannot reach its database at the moment. Try again in a few seconds."
NOT_COMMITTED_API_MESSAGE = (
    "The database could not commit this change, so nothing of it was saved. Retry in a few seconds; "
    "send a POST again with the same Idempotency-Key, so that it is not done twice."
)
NOT_COMMITTED_PAGE_MESSAGE = "Orderdeck could not save this change; nothing of it was kept. Try again in a few seconds."

# PostgreSQL SQLSTATE classes and codes that say the server or the connection is unavailable,
# not that the statement was wrong: 08 connection exception, 53 insufficient resources (too many
# connections, disk full), 57 operator intervention (terminated, shutting down, starting up,
# statement timeout), 55P03 lock not available (lock timeout).
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_CODES = ("55P03",)
# SQLite's messages for a database it cannot open or whose write lock it waited for too long.
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk i/o error", "database is full")


def database_unavailable(exc: BaseException) -> bool:
    """Whether an error means the database is unreachable or overloaded (retry later), rather
    than a bug in a statement."""
    if isinstance(exc, (PoolTimeout, CommitFailed)):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).lower().startswith(_SQLITE_UNAVAILABLE)
    code = getattr(orig, "sqlstate", None)
    if code is None:
        return True  # psycopg: no SQLSTATE at all means no server answered (connecting failed)
    return code[:2] in _UNAVAILABLE_CLASSES or code in _UNAVAILABLE_CODES


def _plain_page(title: str, message: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        f'<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem">'
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    )


def unavailable_response(request: Request, *, not_committed: bool = False) -> Response:
    from ..web.admin import is_admin_page
    from ..web.admin.pages import render_public

    api_message = NOT_COMMITTED_API_MESSAGE if not_committed else API_MESSAGE
    page_message = NOT_COMMITTED_PAGE_MESSAGE if not_committed else PAGE_MESSAGE
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    path = request.url.path
    if is_admin_page(path):
        page = render_public("problem.html", status=503, title="Try again in a moment", message=page_message)
        page.headers.update(retry)
        return page
    accepts_html = "text/html" in request.headers.get("accept", "")
    if path.startswith("/admin/api/") or not accepts_html:
        return error_response(503, api_message, retry)
    return HTMLResponse(
        _plain_page("Try again in a moment", page_message),
        status_code=503,
        headers={**retry, "Cache-Control": "no-store"},
    )


def install(app: FastAPI) -> None:
    """Answer 503 for an unreachable database on every path; other database errors go on to
    the application's handler for unexpected errors (a 500 with the cause in the log)."""

    async def handle(request: Request, exc: Exception) -> Response:
        if database_unavailable(exc):
            cause = exc.__cause__ if isinstance(exc, CommitFailed) and exc.__cause__ is not None else exc
            first_line = (str(cause).splitlines() or [type(cause).__name__])[0]
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, first_line)
            return unavailable_response(request, not_committed=isinstance(exc, CommitFailed))
        fallback = cast(Callable[[Request, Exception], Awaitable[Response]], app.exception_handlers[Exception])
        return await fallback(request, exc)

    app.add_exception_handler(DBAPIError, handle)
    app.add_exception_handler(PoolTimeout, handle)
    app.add_exception_handler(CommitFailed, handle)
