"""Who is signed in to the admin, what they may do, and CSRF protection on every form.

Every admin route depends on `require(permission)`. Without a session a page asks for a sign-in
(303 to /admin/login, coming back afterwards) and a form post is refused (403). A POST must
carry the session's CSRF token (form field `csrf_token`, or the `X-CSRF-Token` header for the
few scripted requests); a missing or wrong one is refused and nothing changes. The session
cookie is HttpOnly, SameSite=Lax, and Secure whenever the admin is served over HTTPS.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from ...domain.errors import OrderError
from ...domain.order import Author
from ...services.context import Command, Orderdeck
from ...store.staff import PERMISSIONS, SESSION_LIFETIME, StaffMember

COOKIE = "orderdeck_admin"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """No valid session: a page goes to the sign-in form, anything else is refused."""


class NotPermitted(Exception):
    def __init__(self, permission: str) -> None:
        super().__init__(permission)
        self.permission = permission


class BadCsrf(Exception):
    """A form without this session's CSRF token: refused, nothing changed."""


@dataclass
class Admin:
    """A signed-in staff member's request: the app, who they are, and their session."""

    request: Request
    app: Orderdeck
    staff: StaffMember
    token: str
    csrf_token: str
    flash: dict[str, Any] | None

    @property
    def author(self) -> Author:
        return Author(kind="staff", name=self.staff.name, ref=str(self.staff.id))

    def may(self, permission: str) -> bool:
        return self.staff.may(permission)

    @contextmanager
    def command(self) -> Iterator[Command]:
        """One command in one transaction, authored by this staff member; committed when the
        block ends without an error, otherwise nothing of it stays."""
        with self.app.unit_of_work() as uow:
            yield Command(self.app, uow, self.author)
            uow.commit()

    def say(self, message: str, *, kind: str = "success") -> None:
        """A message the next page shows once (after the redirect that follows a form)."""
        with self.app.unit_of_work() as uow:
            uow.staff.set_flash(self.token, {"kind": kind, "message": message})
            uow.commit()

    def done(self, to: str, message: str | None = None, *, kind: str = "success") -> RedirectResponse:
        if message:
            self.say(message, kind=kind)
        return RedirectResponse(to, status_code=303)

    def act(self, work: Callable[[Command], Any], *, back: str, success: str) -> RedirectResponse:
        """Run one command; back to `back` saying `success`, or saying why it was refused (and
        then nothing of it was kept)."""
        try:
            with self.command() as cmd:
                work(cmd)
        except OrderError as exc:
            return self.done(back, refusal(exc), kind="error")
        return self.done(back, success)


def refusal(exc: OrderError) -> str:
    """A domain refusal in a sentence for a person: the field it concerns, then the rule."""
    message = exc.message[:1].upper() + exc.message[1:]
    field = exc.field.replace("_", " ")
    return message if exc.field == "base" else f"{field.capitalize()}: {message}"


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    secure = request.url.scheme == "https" or request.app.state.orderdeck.settings.public_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/admin",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def _signed_in(request: Request) -> Admin:
    token = session_token(request)
    app: Orderdeck = request.app.state.orderdeck
    if not token:
        raise SignInRequired
    with app.unit_of_work(read_only=True) as uow:
        session = uow.staff.session(token, uow.now)
    if session is None:
        raise SignInRequired
    if session.flash is not None:
        with app.unit_of_work() as uow:
            uow.staff.set_flash(token, None)
            uow.commit()
    return Admin(request, app, session.staff, token, session.csrf_token, session.flash)


async def _check_csrf(request: Request, admin: Admin) -> None:
    sent = request.headers.get("X-CSRF-Token")
    if sent is None:
        form = await request.form()  # Starlette keeps the parsed form for the endpoint
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, admin.csrf_token):
        raise BadCsrf


def require(permission: str = "view_orders") -> Callable[[Request], Awaitable[Admin]]:
    """A dependency: the signed-in staff member, who must hold `permission`; posts are CSRF-checked."""
    assert permission in PERMISSIONS, permission

    async def check(request: Request) -> Admin:
        admin = _signed_in(request)
        if request.method not in ("GET", "HEAD"):
            await _check_csrf(request, admin)
        if not admin.may(permission):
            raise NotPermitted(permission)
        request.state.admin = admin
        return admin

    return check


async def posted_form(request: Request) -> FormData:
    # Starlette keeps the parsed form, so this is the same one `require`'s CSRF check read.
    return await request.form()


Form = Annotated[FormData, Depends(posted_form)]


def sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/admin/login?next={quote(target, safe='')}", status_code=303)
