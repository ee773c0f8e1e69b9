"""Admin fixtures: a browser-like client signed in as a staff member (cookies kept, the CSRF
token read off the page as a browser's form would send it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderdeck.services.context import Orderdeck
from orderdeck.services.staff import add_staff

from ..conftest import app_for

OWNER_EMAIL = "owner@shop.test"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


class AdminClient:
    """Pages and forms of /admin as one signed-in person sees them."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def sign_in(self, email: str, password: str = PASSWORD) -> Any:
        form = self.client.get("/admin/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
        assert token, form.text
        answer = self.client.post(
            "/admin/login",
            data={"email": email, "password": password, "login_csrf": token.group(1), "next": "/admin/orders"},
            follow_redirects=False,
        )
        if answer.status_code == 303:
            self.page("/admin/orders")  # picks up the session's CSRF token
        return answer

    def page(self, path: str, **kwargs: Any) -> Any:
        """GET a page; it must render (200) unless `expect` says otherwise."""
        expect = kwargs.pop("expect", 200)
        answer = self.client.get(path, follow_redirects=False, **kwargs)
        assert answer.status_code == expect, f"{path}: {answer.status_code} {answer.text[:2000]}"
        found = _CSRF.search(answer.text)
        if found:
            self.csrf = found.group(1)
        return answer

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, Any]] | None = None, **kwargs: Any) -> Any:
        """Send a form as the page would (with the session's CSRF token); redirects are not followed."""
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        fields.append(("csrf_token", self.csrf))
        return self.client.post(path, data=_flatten(fields), follow_redirects=False, **kwargs)

    def flash(self, after: Any) -> str:
        """The one-time message shown on the page a form redirected to."""
        assert after.status_code == 303, f"{after.status_code}: {after.text[:2000]}"
        page = self.page(after.headers["location"])
        found = re.search(r'<div class="flash flash-(\w+)"[^>]*>(.*?)</div>', page.text, re.S)
        return f"{found.group(1)}: {found.group(2).strip()}" if found else ""


def _flatten(fields: list[tuple[str, Any]]) -> dict[str, Any]:
    # httpx sends a list value as repeated fields (name=a&name=b), as a browser does.
    out: dict[str, Any] = {}
    for key, value in fields:
        if key in out:
            current = out[key]
            out[key] = [*current, value] if isinstance(current, list) else [current, value]
        else:
            out[key] = value
    return out


def make_staff(
    deck: Orderdeck, email: str, *, owner: bool = False, permissions: tuple[str, ...] = (), name: str | None = None
) -> None:
    with deck.unit_of_work() as uow:
        add_staff(uow, email=email, password=PASSWORD, owner=owner, permissions=list(permissions), name=name)
        uow.commit()


@pytest.fixture
def admin_app(deck: Orderdeck) -> Iterator[TestClient]:
    """A browser of the admin: its own cookies, the same application as the `api` fixture's."""
    with TestClient(app_for(deck), raise_server_exceptions=False, base_url="http://shop.test") as client:
        yield client


@pytest.fixture
def owner(deck: Orderdeck, admin_app: TestClient) -> AdminClient:
    """Signed in as the shop's owner (every permission), named Olivia Owner on the timeline."""
    make_staff(deck, OWNER_EMAIL, owner=True, name="Olivia Owner")
    session = AdminClient(admin_app)
    assert session.sign_in(OWNER_EMAIL).status_code == 303
    return session
