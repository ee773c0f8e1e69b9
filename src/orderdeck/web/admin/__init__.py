"""The admin at /admin: server-rendered pages where staff see and run every order.

One module per area, each with its own router; `access` says who is signed in and what they
may do, `pages` renders. Every page needs a signed-in staff member (a page without one goes to
the sign-in form, a form post is refused), every form carries a CSRF token, and every action
runs the same service command the API runs, authored by the staff member, so it lands on the
order's timeline under their name.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...domain.errors import NotFound, OrderError
from . import (
    automation,
    bulk,
    carriers,
    drafts,
    fulfillment_services,
    login,
    new_order,
    notifications,
    order,
    order_edits,
    order_money,
    orders,
    reports,
    returns,
    settings,
    shipments,
    staff_pages,
    stuck,
    tokens,
    webhooks,
)
from .access import BadCsrf, NotPermitted, SignInRequired, refusal, session_token, sign_in_redirect
from .pages import render_public

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)
# bulk and new_order before order: their fixed paths (/orders/bulk, /orders/new) are not order ids.
AREAS = (
    login,
    bulk,
    new_order,
    orders,
    order,
    order_money,
    order_edits,
    returns,
    shipments,
    stuck,
    drafts,
    settings,
    tokens,
    staff_pages,
    notifications,
    carriers,
    fulfillment_services,
    webhooks,
    automation,
    reports,
)
for area in AREAS:
    router.include_router(area.router)


@router.get("", summary="The admin's front page: the Orders page")
def home(request: Request) -> Response:
    return RedirectResponse("/admin/orders" if session_token(request) else "/admin/login", status_code=303)


PERMISSION_WORDS = {
    "view_orders": "view orders",
    "manage_orders": "manage orders",
    "refund": "take and refund payments",
    "delete_orders": "delete orders",
    "manage_settings": "manage settings",
    "manage_staff": "manage staff",
}


def is_admin_page(path: str) -> bool:
    return (path == "/admin" or path.startswith("/admin/")) and not path.startswith(("/admin/api/", "/admin/static/"))


def _back(request: Request) -> str:
    referer = request.headers.get("referer", "")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    if referer.startswith(origin + "/admin"):
        return referer[len(origin) :]
    return request.url.path if request.method == "GET" else "/admin/orders"


def _explained(request: Request, exc: Exception) -> Response | None:
    """The admin's answer to an error raised by a page or form, or None for the API's own."""
    if not is_admin_page(request.url.path):
        return None
    admin = getattr(request.state, "admin", None)
    if isinstance(exc, NotFound) or (isinstance(exc, StarletteHTTPException) and exc.status_code == 404):
        message = exc.message if isinstance(exc, NotFound) else "There is no such page in the admin."
        return render_public("problem.html", status=404, title="Not found", message=message, signed_in=admin)
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
        return render_public(
            "problem.html", status=405, title="Not here", message="This address takes no such request.", signed_in=admin
        )
    if admin is not None and isinstance(exc, OrderError | RequestValidationError):
        if isinstance(exc, OrderError):
            message = refusal(exc)
        else:
            first = exc.errors()[0]
            where = " ".join(str(p) for p in first.get("loc", ())[1:]) or "the form"
            message = f"Check {where.replace('_', ' ')}: {first.get('msg', 'not valid')}. Nothing was changed."
        admin.say(message, kind="error")
        return RedirectResponse(_back(request), status_code=303)
    if isinstance(exc, RequestValidationError):
        return render_public("problem.html", status=422, title="Not valid", message=str(exc.errors()[0].get("msg")))
    if isinstance(exc, OrderError):
        return render_public("problem.html", status=422, title="Refused", message=refusal(exc))
    log.exception("unexpected error on an admin page", exc_info=exc)
    return render_public(
        "problem.html",
        status=500,
        title="Something went wrong",
        message="Orderdeck could not finish this; nothing was changed. The error is in the server's log.",
        signed_in=admin,
    )


def install(app: FastAPI) -> None:
    """Add the admin's routes, its static files and its error pages to the application."""
    app.mount("/admin/static", StaticFiles(packages=[("orderdeck.web", "static")]), name="admin-static")
    app.include_router(router)

    async def sign_in_required(request: Request, _exc: Exception) -> Response:
        if request.method in ("GET", "HEAD"):
            return sign_in_redirect(request)
        return render_public(
            "problem.html", status=403, title="Signed out", message="Sign in first; nothing was changed.", login=True
        )

    async def not_permitted(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotPermitted)
        words = PERMISSION_WORDS.get(exc.permission, exc.permission)
        return render_public(
            "problem.html",
            status=403,
            title="Not allowed",
            message=f"Your account may not {words}. An owner can give you that permission under Settings → Staff.",
            signed_in=getattr(request.state, "admin", None),
        )

    async def bad_csrf(_request: Request, _exc: Exception) -> Response:
        return render_public(
            "problem.html",
            status=403,
            title="The form had expired",
            message="The form was not sent from this admin session, so nothing was changed. "
            "Reload the page and try again.",
        )

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(NotPermitted, not_permitted)
    app.add_exception_handler(BadCsrf, bad_csrf)

    previous = dict(app.exception_handlers)
    for kind in (OrderError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, _page_or(previous.get(kind)))


def _page_or(fallback: Any) -> Any:
    async def handle(request: Request, exc: Exception) -> Response:
        page = _explained(request, exc)
        if page is not None:
            return page
        return await fallback(request, exc)

    return handle
