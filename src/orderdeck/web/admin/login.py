"""Signing in and out of the admin.

The sign-in form carries its own CSRF token (a cookie compared with a hidden field) so another
site cannot sign a browser into someone else's account. Failed attempts are counted in the
database per address and per client (10 in 15 minutes), so guessing passwords is slow on every
server process alike; the answer to a wrong address and a wrong password is the same.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from ...services import staff as staff_service
from ...services.context import Orderdeck
from ...store.attempts import Attempts
from .access import COOKIE, Admin, require, set_session_cookie
from .pages import render_public

router = APIRouter()
LOGIN_CSRF = "orderdeck_signin"
WINDOW = timedelta(minutes=15)
ATTEMPTS = 10
WRONG = "That e-mail address and password do not match an account. Check both and try again."


def _safe_next(target: str | None) -> str:
    # Only somewhere in the admin, never another site (an open redirect).
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return "/admin/orders"


def _form(request: Request, *, error: str | None = None, email: str = "", status: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(24)
    response = render_public(
        "login.html",
        status=status,
        error=error,
        email=email,
        next=_safe_next(request.query_params.get("next") or None),
        login_csrf=token,
    )
    response.set_cookie(LOGIN_CSRF, token, path="/admin", httponly=True, samesite="strict", max_age=3600)
    return response


@router.get("/login", summary="Sign in")
def sign_in_form(request: Request) -> Response:
    return _form(request)


def _too_many(app: Orderdeck, keys: list[str]) -> bool:
    with app.unit_of_work() as uow:
        since = uow.now - WINDOW
        attempts = Attempts(uow.conn)
        attempts.forget_before(since)
        stopped = any(attempts.count(key, since) >= ATTEMPTS for key in keys)
        uow.commit()
    return stopped


def _count_failure(app: Orderdeck, keys: list[str]) -> None:
    with app.unit_of_work() as uow:
        for key in keys:
            Attempts(uow.conn).record(key, uow.now)
        uow.commit()


@router.post("/login", summary="Sign in")
def sign_in(
    request: Request,
    email: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
    login_csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not cookie or not hmac.compare_digest(cookie, login_csrf):
        return _form(request, error="The form had expired. Please sign in again.", email=email, status=403)
    if not email.strip() or not password:
        return _form(request, error="Enter your e-mail address and your password.", email=email, status=422)
    app: Orderdeck = request.app.state.orderdeck
    client = request.client.host if request.client else "unknown"
    keys = [f"signin:{email.strip().lower()}"[:96], f"signin-client:{client}"[:96]]
    if _too_many(app, keys):
        return _form(
            request,
            error="Too many attempts to sign in. Wait 15 minutes, or ask an owner to set a new password.",
            email=email,
            status=429,
        )
    token = staff_service.sign_in(app, email, password)
    if token is None:
        _count_failure(app, keys)
        return _form(request, error=WRONG, email=email, status=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF, path="/admin")
    return response


@router.post("/logout", summary="Sign out")
def sign_out(request: Request, admin: Annotated[Admin, Depends(require())]) -> Response:
    with admin.app.unit_of_work() as uow:
        uow.staff.end_session(admin.token)
        uow.commit()
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(COOKIE, path="/admin")
    return response
