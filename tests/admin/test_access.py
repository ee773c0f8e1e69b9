"""Who may use the admin: sign-in, sessions, CSRF, permissions, and every page refused without a session."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from orderdeck.services.context import Orderdeck
from orderdeck.services.staff import add_staff
from orderdeck.web.admin import AREAS

from .conftest import OWNER_EMAIL, PASSWORD, AdminClient, make_staff


def _admin_routes() -> list[tuple[str, str]]:
    """Every route of every admin area, its path parameters filled with 1."""
    routes = [("GET", "/admin")]
    for area in AREAS:
        for route in area.router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods - {"HEAD"}):
                routes.append((method, "/admin" + re.sub(r"\{[^}]+\}", "1", route.path)))
    return routes


def test_every_admin_page_is_refused_without_signing_in(admin_app: TestClient, deck: Orderdeck) -> None:
    make_staff(deck, OWNER_EMAIL, owner=True)
    routes = _admin_routes()
    assert all(area.router.routes for area in AREAS)  # every area is walked
    assert len(routes) >= 100
    open_to_all = {("GET", "/admin/login"), ("POST", "/admin/login"), ("GET", "/admin")}
    for method, path in routes:
        if (method, path) in open_to_all:
            continue
        answer = admin_app.request(method, path, follow_redirects=False)
        if path == "/admin":
            assert answer.headers["location"] == "/admin/login"
        elif method == "GET":
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"].startswith("/admin/login?next="), path
        else:
            assert answer.status_code == 403, (method, path, answer.status_code)
            assert "Sign in first" in answer.text


def test_signing_in_and_out(owner: AdminClient) -> None:
    page = owner.page("/admin/orders")
    assert "Olivia Owner" in page.text
    cookie = owner.client.cookies.get("orderdeck_admin")
    assert cookie
    out = owner.post("/admin/logout")
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    owner.client.cookies.set("orderdeck_admin", cookie)  # the old cookie signs nobody in any more
    assert owner.client.get("/admin/orders", follow_redirects=False).status_code == 303


def test_session_cookie_is_httponly_and_scoped(deck: Orderdeck, admin_app: TestClient) -> None:
    make_staff(deck, "a@shop.test", owner=True)
    answer = AdminClient(admin_app).sign_in("a@shop.test")
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(deck: Orderdeck, admin_app: TestClient) -> None:
    make_staff(deck, "a@shop.test", owner=True)
    session = AdminClient(admin_app)
    wrong = session.sign_in("a@shop.test", "not the password")
    unknown = session.sign_in("nobody@shop.test", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match an account" in wrong.text and "do not match an account" in unknown.text
    assert "orderdeck_admin" not in session.client.cookies


def test_guessing_is_stopped_after_ten_failures(deck: Orderdeck, admin_app: TestClient) -> None:
    make_staff(deck, "a@shop.test", owner=True)
    session = AdminClient(admin_app)
    for _ in range(10):
        assert session.sign_in("a@shop.test", "guess").status_code == 401
    stopped = session.sign_in("a@shop.test", PASSWORD)  # even the right password waits
    assert stopped.status_code == 429 and "Too many attempts" in stopped.text


def test_sign_in_form_needs_its_own_token(deck: Orderdeck, admin_app: TestClient) -> None:
    make_staff(deck, "a@shop.test", owner=True)
    forged = admin_app.post(
        "/admin/login", data={"email": "a@shop.test", "password": PASSWORD, "login_csrf": "x"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert "orderdeck_admin" not in admin_app.cookies


def test_after_signing_in_staff_return_to_the_page_they_asked_for(deck: Orderdeck, admin_app: TestClient) -> None:
    make_staff(deck, "a@shop.test", owner=True)
    asked = admin_app.get("/admin/settings", follow_redirects=False)
    assert asked.headers["location"] == "/admin/login?next=%2Fadmin%2Fsettings"
    form = admin_app.get(asked.headers["location"])
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    assert 'name="next" value="/admin/settings"' in form.text
    answer = admin_app.post(
        "/admin/login",
        data={"email": "A@Shop.test ", "password": PASSWORD, "login_csrf": token, "next": "https://evil.test/"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/admin/orders"  # never another site


def test_a_form_without_the_csrf_token_changes_nothing(owner: AdminClient) -> None:
    owner.csrf = "forged"
    answer = owner.post("/admin/logout")
    assert answer.status_code == 403 and "nothing was changed" in answer.text
    assert owner.client.get("/admin/orders", follow_redirects=False).status_code == 200  # still signed in


def test_permissions_limit_what_staff_may_do(deck: Orderdeck, admin_app: TestClient) -> None:
    make_staff(deck, "viewer@shop.test", permissions=("view_orders",), name="Vera Viewer")
    viewer = AdminClient(admin_app)
    assert viewer.sign_in("viewer@shop.test").status_code == 303
    orders = viewer.page("/admin/orders")
    assert "Settings" not in orders.text and "Create order" not in orders.text
    refused = viewer.page("/admin/settings", expect=403)
    assert "may not manage settings" in refused.text


def test_an_inactive_account_cannot_sign_in(deck: Orderdeck, admin_app: TestClient) -> None:
    from orderdeck.services.staff import change_staff

    make_staff(deck, "a@shop.test", owner=True)
    make_staff(deck, "b@shop.test", permissions=("view_orders",))
    with deck.unit_of_work() as uow:
        member = uow.staff.by_email("b@shop.test")[0]  # type: ignore[index]
        change_staff(uow, member.id, active=False)
        uow.commit()
    assert AdminClient(admin_app).sign_in("b@shop.test").status_code == 401


def test_staff_rules(deck: Orderdeck) -> None:
    from orderdeck.domain.errors import InvalidInput, RuleViolation
    from orderdeck.services.staff import change_staff

    with deck.unit_of_work() as uow:
        with pytest.raises(InvalidInput, match="at least 10 characters"):
            add_staff(uow, email="x@shop.test", password="short")
        with pytest.raises(InvalidInput, match="not an e-mail address"):
            add_staff(uow, email="nope", password=PASSWORD)
        only = add_staff(uow, email="o@shop.test", password=PASSWORD, owner=True)
        with pytest.raises(InvalidInput, match="already has an account"):
            add_staff(uow, email="O@shop.test", password=PASSWORD)
        with pytest.raises(RuleViolation, match="at least one active owner"):
            change_staff(uow, only.id, owner=False)
        with pytest.raises(InvalidInput, match="unknown permission"):
            add_staff(uow, email="p@shop.test", password=PASSWORD, permissions=["fly"])
        stored = uow.conn.exec_driver_sql("SELECT password_hash FROM staff").scalar_one()
        assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_expired_sessions_sign_nobody_in_and_are_swept(deck: Orderdeck, admin_app: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    from orderdeck.outbox import scheduler

    make_staff(deck, "a@shop.test", owner=True)
    session = AdminClient(admin_app)
    session.sign_in("a@shop.test")
    assert admin_app.get("/admin/settings", follow_redirects=False).status_code != 303
    clock.advance(days=15)
    assert admin_app.get("/admin/settings", follow_redirects=False).status_code == 303
    assert scheduler.run_now(deck, "expired-sessions", "test") == "1 expired admin session(s) removed"
