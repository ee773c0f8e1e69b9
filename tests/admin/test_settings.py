"""Settings in the admin: the index, shop settings, locations, custom statuses, API tokens,
staff and your own account; who may use each, and refusals that change nothing."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderdeck.services.context import Orderdeck

from ..conftest import Api, Shop
from .conftest import OWNER_EMAIL, PASSWORD, AdminClient, make_staff

API = "/admin/api/2024-10"


def _signed_in(deck: Orderdeck, admin_app: TestClient, email: str, **kwargs: Any) -> AdminClient:
    make_staff(deck, email, **kwargs)
    session = AdminClient(admin_app)
    assert session.sign_in(email).status_code == 303
    return session


def _field_error(page: Any, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="e-{name}">(.*?)</p>', page.text, re.S)
    return html.unescape(found.group(1)) if found else ""


def _value(page: Any, name: str) -> str:
    found = re.search(rf'<input id="f-{name}" name="{name}" type="\w+" value="([^"]*)"', page.text)
    assert found, f"no input {name}"
    return html.unescape(found.group(1))


# ---- the index and who may see what ---------------------------------------------------------
def test_the_index_links_every_settings_section(owner: AdminClient) -> None:
    page = owner.page("/admin/settings")
    for url in (
        "/admin/settings/shop",
        "/admin/settings/locations",
        "/admin/settings/statuses",
        "/admin/settings/notifications",
        "/admin/settings/webhooks",
        "/admin/settings/automation",
        "/admin/settings/tokens",
        "/admin/settings/staff",
        "/admin/settings/account",
    ):
        assert f'href="{url}"' in page.text, url
    for url in ("/admin/settings/shop", "/admin/settings/locations", "/admin/settings/statuses"):
        owner.page(url)
    for url in ("/admin/settings/tokens", "/admin/settings/staff", "/admin/settings/account"):
        owner.page(url)


def test_settings_and_staff_need_their_own_permissions(deck: Orderdeck, admin_app: TestClient) -> None:
    make_staff(deck, OWNER_EMAIL, owner=True)
    settings_only = _signed_in(deck, admin_app, "s@shop.test", permissions=("manage_settings",))
    index = settings_only.page("/admin/settings")
    assert 'href="/admin/settings/shop"' in index.text and 'href="/admin/settings/staff"' not in index.text
    for path in ("/admin/settings/shop", "/admin/settings/tokens", "/admin/settings/statuses"):
        settings_only.page(path)
    assert "may not manage staff" in settings_only.page("/admin/settings/staff", expect=403).text
    refused = settings_only.post("/admin/settings/staff/new", {"email": "x@shop.test", "password": PASSWORD})
    assert refused.status_code == 403

    staff_only = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    make_staff(deck, "m@shop.test", permissions=("manage_staff",))
    assert staff_only.sign_in("m@shop.test").status_code == 303
    index = staff_only.page("/admin/settings")
    assert 'href="/admin/settings/staff"' in index.text and 'href="/admin/settings/shop"' not in index.text
    staff_only.page("/admin/settings/staff")
    assert "may not manage settings" in staff_only.page("/admin/settings/shop", expect=403).text
    assert staff_only.post("/admin/settings/shop", {"capture_mode": "checkout"}).status_code == 403

    viewer = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    make_staff(deck, "v@shop.test", permissions=("view_orders",))
    assert viewer.sign_in("v@shop.test").status_code == 303
    for path in ("/admin/settings", "/admin/settings/shop", "/admin/settings/tokens", "/admin/settings/staff"):
        viewer.page(path, expect=403)
    viewer.page("/admin/settings/account")  # everyone may change their own password


# ---- shop settings ---------------------------------------------------------------------------
def test_shop_settings_are_saved_and_the_api_sees_them(owner: AdminClient, api: Api) -> None:
    page = owner.page("/admin/settings/shop")
    assert "EUR" in page.text and "Orderdeck demo shop" in page.text
    saved = owner.post(
        "/admin/settings/shop",
        [
            ("capture_mode", "fulfillment"),
            ("authorization_period_days", "14"),
            ("auto_archive", "1"),
            ("auto_fulfill_channels", "pos, wholesale"),
            ("order_name_prefix", "NL-"),
            ("stuck_after_days", "0"),
            ("retention_days", "60"),
            ("staff_email", "team@shop.test"),
            ("self_service", "1"),
            ("self_service_window_minutes", "60"),
            ("self_service_reasons", "wrong_item"),
            ("self_service_reasons", "other"),
            ("shipment_updates", "delivered"),
            ("shipment_updates", "failure"),
        ],
    )
    assert owner.flash(saved) == "success: Shop settings saved."
    settings = api.ok(api.get("/shop.json"))["shop"]["settings"]
    assert settings["capture_mode"] == "fulfillment"
    assert settings["authorization_period_days"] == 14
    assert settings["auto_archive"] is True
    assert settings["auto_fulfill_channels"] == ["pos", "wholesale"]
    assert settings["order_name_prefix"] == "NL-"
    assert settings["stuck_after_days"] == 0 and settings["retention_days"] == 60
    assert settings["staff_email"] == "team@shop.test"
    assert settings["self_service"] is True and settings["self_service_window_minutes"] == 60
    assert settings["self_service_reasons"] == ["wrong_item", "other"]
    assert settings["shipment_updates"] == ["delivered", "failure"]  # the others' e-mails switched off
    again = owner.page("/admin/settings/shop")
    assert 'id="f-shipment-update-delivered" name="shipment_updates" type="checkbox" value="delivered" checked' in (
        again.text
    )
    assert 'value="out_for_delivery" checked' not in again.text
    assert _value(again, "auto_fulfill_channels") == "pos, wholesale"
    assert 'value="fulfillment" selected' in again.text

    # Unticked boxes and an empty channel list switch things off.
    owner.post(
        "/admin/settings/shop",
        {
            "capture_mode": "manual",
            "authorization_period_days": "7",
            "stuck_after_days": "5",
            "retention_days": "30",
            "self_service_window_minutes": "150",
        },
    )
    settings = api.ok(api.get("/shop.json"))["shop"]["settings"]
    assert settings["auto_archive"] is False and settings["self_service"] is False
    assert settings["auto_fulfill_channels"] == [] and settings["staff_email"] is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("authorization_period_days", "99", "Must be at most 30"),
        ("authorization_period_days", "soon", "Enter a whole number"),
        ("capture_mode", "whenever", "Must be one of checkout, fulfillment, manual"),
        ("staff_email", "not-an-address", "Is not in the expected form"),
        ("smtp_url", "http://mail.example.com", "Must look like smtp://"),
        ("retention_days", "0", "Must be at least 1"),
    ],
)
def test_a_bad_shop_setting_is_shown_at_its_field_and_changes_nothing(
    owner: AdminClient, api: Api, field: str, value: str, message: str
) -> None:
    before = api.ok(api.get("/shop.json"))["shop"]["settings"]
    form = {
        "capture_mode": "checkout",
        "authorization_period_days": "10",
        "auto_archive": "1",
        "stuck_after_days": "5",
        "retention_days": "30",
        "self_service_window_minutes": "150",
        field: value,
    }
    answer = owner.post("/admin/settings/shop", form)
    assert answer.status_code == 422
    assert "Nothing was changed" in answer.text
    assert _field_error(answer, field).startswith(message), _field_error(answer, field)
    assert 'aria-invalid="true"' in answer.text
    if field != "capture_mode":  # what was typed is kept
        assert _value(answer, field) == value
    assert api.ok(api.get("/shop.json"))["shop"]["settings"] == before


def test_the_mail_server_password_is_never_shown(owner: AdminClient, api: Api) -> None:
    base = {
        "capture_mode": "manual",
        "authorization_period_days": "7",
        "stuck_after_days": "5",
        "retention_days": "30",
        "self_service_window_minutes": "150",
    }
    url = "smtp://shop:s3cret-pass@mail.example.com:587?starttls=1"
    owner.post("/admin/settings/shop", {**base, "smtp_url": url})
    page = owner.page("/admin/settings/shop")
    assert "s3cret-pass" not in page.text
    assert "smtp://shop:***@mail.example.com:587" in page.text
    owner.post("/admin/settings/shop", {**base, "smtp_url": ""})  # an empty box keeps it
    assert api.ok(api.get("/shop.json"))["shop"]["settings"]["smtp_url"] == (
        "smtp://shop:***@mail.example.com:587?starttls=1"
    )
    owner.post("/admin/settings/shop", {**base, "smtp_clear": "1"})
    assert api.ok(api.get("/shop.json"))["shop"]["settings"]["smtp_url"] is None


# ---- locations -------------------------------------------------------------------------------
def test_adding_and_changing_a_location(owner: AdminClient, api: Api) -> None:
    added = owner.post(
        "/admin/settings/locations/new",
        {
            "name": "Utrecht warehouse",
            "address1": "Oudegracht 1",
            "city": "Utrecht",
            "zip": "3511 AA",
            "country_code": "nl",
            "active": "1",
        },
    )
    assert owner.flash(added) == "success: Location Utrecht warehouse added."
    [location] = api.ok(api.get("/locations.json"))["locations"]
    assert location["city"] == "Utrecht" and location["country_code"] == "NL" and location["active"]
    listing = owner.page("/admin/settings/locations")
    assert "Utrecht warehouse" in listing.text and "Oudegracht 1" in listing.text

    edit = owner.page(f"/admin/settings/locations/{location['id']}")
    assert _value(edit, "city") == "Utrecht"
    changed = owner.post(
        f"/admin/settings/locations/{location['id']}",
        {"name": "Utrecht", "city": "Utrecht", "priority": "3", "active": "1"},
    )
    assert owner.flash(changed) == "success: Location Utrecht saved."
    location = api.ok(api.get(f"/locations/{location['id']}.json"))["location"]
    assert location["name"] == "Utrecht" and location["priority"] == 3 and location["address1"] is None


def test_location_refusals_keep_the_form(owner: AdminClient, shop: Shop, api: Api) -> None:
    only = shop.location("Amsterdam")
    blank = owner.post("/admin/settings/locations/new", {"name": " ", "city": "Delft"})
    assert blank.status_code == 422 and _field_error(blank, "name") == "Can't be blank"
    assert _value(blank, "city") == "Delft"
    twice = owner.post("/admin/settings/locations/new", {"name": "Amsterdam"})
    assert "exists already" in _field_error(twice, "name")
    bad_country = owner.post("/admin/settings/locations/new", {"name": "Gent", "country_code": "BEL"})
    assert _field_error(bad_country, "country_code") == "Must be at most 2 characters"
    last = owner.post(f"/admin/settings/locations/{only}", {"name": "Amsterdam"})  # active unticked
    assert last.status_code == 422 and "last active location cannot be deactivated" in _field_error(last, "active")
    assert [loc["name"] for loc in api.ok(api.get("/locations.json"))["locations"]] == ["Amsterdam"]
    assert api.ok(api.get(f"/locations/{only}.json"))["location"]["active"] is True
    owner.page("/admin/settings/locations/999", expect=404)


# ---- custom statuses -------------------------------------------------------------------------
def _status_form(**values: str) -> dict[str, str]:
    return {"color": "#1d4ed8", "customer_visible": "1", **values}


def test_custom_statuses_are_listed_by_position_with_their_colours(owner: AdminClient, api: Api) -> None:
    made = owner.post(
        "/admin/settings/statuses/new",
        _status_form(
            handle="in_production",
            name_en="In production",
            name_nl="In productie",
            name_de="In Produktion",
            position="5",
            notify="1",
        ),
    )
    assert owner.flash(made) == "success: Custom status In production added."
    owner.post(
        "/admin/settings/statuses/new",
        _status_form(handle="designing", name_en="Designing", color="#15803D", position="1"),
    )
    page = owner.page("/admin/settings/statuses")
    assert page.text.index("Designing") < page.text.index("In production")
    assert "--stage:#15803d" in page.text and "--swatch:#1d4ed8" in page.text
    assert "nl: In productie" in page.text
    [designing, production] = api.ok(api.get("/custom_statuses.json"))["custom_statuses"]
    assert production["names"] == {"en": "In production", "nl": "In productie", "de": "In Produktion"}
    assert production["notify"] is True and production["customer_visible"] is True and production["position"] == 5
    assert designing["notify"] is False

    edited = owner.post(
        f"/admin/settings/statuses/{production['id']}",
        {"name_en": "Being made", "name_fi": "Valmistuksessa", "color": "#b91c1c", "position": "0"},
    )
    assert owner.flash(edited) == "success: Custom status Being made saved."
    production = api.ok(api.get(f"/custom_statuses/{production['id']}.json"))["custom_status"]
    assert production["names"] == {"en": "Being made", "fi": "Valmistuksessa"}
    assert production["customer_visible"] is False and production["notify"] is False  # unticked
    assert production["handle"] == "in_production" and production["color"] == "#b91c1c"


def test_custom_status_refusals(owner: AdminClient, api: Api) -> None:
    owner.post("/admin/settings/statuses/new", _status_form(handle="packing", name_en="Packing"))
    twice = owner.post("/admin/settings/statuses/new", _status_form(handle="packing", name_en="Again"))
    assert twice.status_code == 422 and _field_error(twice, "handle") == "Has already been taken"
    assert _value(twice, "name_en") == "Again"
    bad = owner.post("/admin/settings/statuses/new", _status_form(handle="Bad Handle", name_en="X"))
    assert "lower-case letters" in _field_error(bad, "handle")
    nameless = owner.post("/admin/settings/statuses/new", _status_form(handle="nameless"))
    assert "English name" in _field_error(nameless, "name_en")
    colour = owner.post("/admin/settings/statuses/new", _status_form(handle="blue", name_en="Blue", color="blue"))
    assert "colour like #1d4ed8" in _field_error(colour, "color")
    position = owner.post("/admin/settings/statuses/new", _status_form(handle="p", name_en="P", position="first"))
    assert _field_error(position, "position") == "Enter a whole number"
    assert [s["handle"] for s in api.ok(api.get("/custom_statuses.json"))["custom_statuses"]] == ["packing"]


def test_deleting_a_custom_status_asks_where_its_orders_go(owner: AdminClient, api: Api, shop: Shop) -> None:
    shop.location()
    for handle, name in (("packing", "Packing"), ("shipping", "Shipping")):
        owner.post("/admin/settings/statuses/new", _status_form(handle=handle, name_en=name))
    packing, shipping = api.ok(api.get("/custom_statuses.json"))["custom_statuses"]
    mug = {"title": "Mug", "price": "5.00", "quantity": 1}
    order = api.ok(api.post("/orders.json", {"order": {"line_items": [mug]}}))["order"]
    api.ok(api.post(f"/orders/{order['id']}/custom_status.json", {"custom_status": {"handle": "packing"}}))

    page = owner.page(f"/admin/settings/statuses/{packing['id']}")
    assert "1 order(s) are in this status" in page.text and '<option value="shipping">Shipping</option>' in page.text
    unsaid = owner.post(f"/admin/settings/statuses/{packing['id']}/delete", {"move_to": ""})
    assert "say where they go" in owner.flash(unsaid)
    assert len(api.ok(api.get("/custom_statuses.json"))["custom_statuses"]) == 2

    moved = owner.post(f"/admin/settings/statuses/{packing['id']}/delete", {"move_to": "shipping"})
    assert owner.flash(moved) == "success: Custom status Packing deleted. 1 order(s) moved to shipping."
    assert api.ok(api.get(f"/orders/{order['id']}.json"))["order"]["custom_status"]["handle"] == "shipping"
    gone = owner.post(f"/admin/settings/statuses/{shipping['id']}/delete", {"move_to": "none"})
    assert owner.flash(gone).startswith("success: Custom status Shipping deleted. 1 order(s) moved out")
    assert api.ok(api.get(f"/orders/{order['id']}.json"))["order"]["custom_status"] is None


# ---- API tokens ------------------------------------------------------------------------------
def test_a_token_made_in_the_admin_works_until_it_is_revoked(owner: AdminClient, admin_app: TestClient) -> None:
    form = owner.page("/admin/settings/tokens/new")
    assert 'value="read_orders"' in form.text and 'value="write_webhooks"' in form.text
    created = owner.post("/admin/settings/tokens/new", [("name", "Warehouse app"), ("scopes", "read_orders")])
    assert created.status_code == 200
    secret = re.search(r'id="secret" type="text" readonly value="(odk_[^"]+)"', created.text).group(1)  # type: ignore[union-attr]
    assert "only time it is shown" in created.text

    listing = owner.page("/admin/settings/tokens")
    assert "Warehouse app" in listing.text and secret not in listing.text and f"…{secret[-4:]}" in listing.text

    # The same app process the admin runs in: its token cache must forget the token at once.
    headers = {"X-Shopify-Access-Token": secret}
    assert admin_app.get(f"{API}/orders.json", headers=headers).status_code == 200
    assert admin_app.post(f"{API}/locations.json", json={"location": {"name": "X"}}, headers=headers).status_code == 403
    token_id = re.search(r'action="/admin/settings/tokens/(\d+)/revoke"', listing.text).group(1)  # type: ignore[union-attr]
    revoked = owner.post(f"/admin/settings/tokens/{token_id}/revoke")
    assert owner.flash(revoked) == "success: Warehouse app revoked: apps using it are refused from now on."
    assert admin_app.get(f"{API}/orders.json", headers=headers).status_code == 401
    listing = owner.page("/admin/settings/tokens")
    assert "Revoked" in listing.text and f"/admin/settings/tokens/{token_id}/revoke" not in listing.text


def test_a_token_needs_a_name_and_a_scope(owner: AdminClient, deck: Orderdeck) -> None:
    answer = owner.post("/admin/settings/tokens/new", {"name": ""})
    assert answer.status_code == 422 and "odk_" not in answer.text
    assert _field_error(answer, "name").startswith("Name the token")
    assert _field_error(answer, "scopes") == "Name at least one scope"
    bogus = owner.post("/admin/settings/tokens/new", [("name", "X"), ("scopes", "read_everything")])
    assert "Unknown scope read_everything" in _field_error(bogus, "scopes")
    assert _value(bogus, "name") == "X"
    with deck.unit_of_work(read_only=True) as uow:
        assert uow.conn.exec_driver_sql("SELECT count(*) FROM api_tokens WHERE name = 'X'").scalar_one() == 0


# ---- staff -----------------------------------------------------------------------------------
def test_a_new_staff_member_can_sign_in_until_deactivated(
    owner: AdminClient, admin_app: TestClient, deck: Orderdeck
) -> None:
    added = owner.post(
        "/admin/settings/staff/new",
        [
            ("email", "Sam@Shop.test"),
            ("name", "Sam Packer"),
            ("password", "packing all day"),
            ("permissions", "manage_orders"),
        ],
    )
    assert owner.flash(added).startswith("success: Sam Packer (sam@shop.test) can sign in now.")
    listing = owner.page("/admin/settings/staff")
    assert "Sam Packer" in listing.text and "manage orders" in listing.text and "never" in listing.text

    sam = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    assert sam.sign_in("sam@shop.test", "packing all day").status_code == 303
    assert "Sam Packer" in sam.page("/admin/orders").text
    sam.page("/admin/settings", expect=403)
    with deck.unit_of_work(read_only=True) as uow:
        member = uow.staff.by_email("sam@shop.test")[0]  # type: ignore[index]
    assert member.permissions == {"view_orders", "manage_orders"}

    deactivated = owner.post(f"/admin/settings/staff/{member.id}/deactivate")
    assert "cannot sign in" in owner.flash(deactivated)
    assert sam.client.get("/admin/orders", follow_redirects=False).status_code == 303  # signed out at once
    assert sam.sign_in("sam@shop.test", "packing all day").status_code == 401
    page = owner.page(f"/admin/settings/staff/{member.id}")
    assert "Deactivated" in page.text and "Reactivate" in page.text
    owner.post(f"/admin/settings/staff/{member.id}/reactivate")
    assert sam.sign_in("sam@shop.test", "packing all day").status_code == 303


def test_changing_permissions_and_setting_a_password(
    owner: AdminClient, admin_app: TestClient, deck: Orderdeck
) -> None:
    make_staff(deck, "sam@shop.test", permissions=("view_orders",), name="Sam")
    with deck.unit_of_work(read_only=True) as uow:
        sam_id = uow.staff.by_email("sam@shop.test")[0].id  # type: ignore[index]
    changed = owner.post(
        f"/admin/settings/staff/{sam_id}",
        [("name", "Sam Jansen"), ("permissions", "refund"), ("permissions", "manage_settings")],
    )
    assert owner.flash(changed) == "success: Saved the account of Sam Jansen."
    with deck.unit_of_work(read_only=True) as uow:
        sam = uow.staff.get(sam_id)
    assert sam is not None and sam.name == "Sam Jansen"
    assert sam.permissions == {"view_orders", "refund", "manage_settings"}

    short = owner.post(f"/admin/settings/staff/{sam_id}/password", {"password": "short"})
    assert short.status_code == 422 and "at least 10 characters" in _field_error(short, "password")
    reset = owner.post(f"/admin/settings/staff/{sam_id}/password", {"password": "a brand new one"})
    assert "new password" in owner.flash(reset)
    sam_session = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    assert sam_session.sign_in("sam@shop.test").status_code == 401
    assert sam_session.sign_in("sam@shop.test", "a brand new one").status_code == 303
    taken = owner.post("/admin/settings/staff/new", {"email": "sam@shop.test", "password": PASSWORD})
    assert taken.status_code == 422 and "already has an account" in _field_error(taken, "email")
    assert _value(taken, "email") == "sam@shop.test"


def test_the_last_owner_cannot_be_demoted_or_deactivated(owner: AdminClient, deck: Orderdeck) -> None:
    with deck.unit_of_work(read_only=True) as uow:
        me = uow.staff.by_email(OWNER_EMAIL)[0]  # type: ignore[index]
    page = owner.page(f"/admin/settings/staff/{me.id}")
    assert "at least one active owner" in page.text  # explained instead of a Deactivate button
    assert f'action="/admin/settings/staff/{me.id}/deactivate"' not in page.text
    demoted = owner.post(f"/admin/settings/staff/{me.id}", {"name": "Olivia Owner", "permissions": "view_orders"})
    assert demoted.status_code == 422 and "at least one active owner" in demoted.text
    refused = owner.post(f"/admin/settings/staff/{me.id}/deactivate")
    assert "at least one active owner" in owner.flash(refused)
    with deck.unit_of_work(read_only=True) as uow:
        still = uow.staff.get(me.id)
    assert still is not None and still.owner and still.active


def test_only_an_owner_makes_owners(deck: Orderdeck, admin_app: TestClient) -> None:
    make_staff(deck, OWNER_EMAIL, owner=True, name="Olivia Owner")
    manager = _signed_in(deck, admin_app, "m@shop.test", permissions=("manage_staff",))
    new = manager.page("/admin/settings/staff/new")
    assert 'name="owner"' not in new.text
    sneaky = manager.post("/admin/settings/staff/new", {"email": "o2@shop.test", "password": PASSWORD, "owner": "1"})
    assert sneaky.status_code == 422 and "Only an owner" in sneaky.text
    with deck.unit_of_work(read_only=True) as uow:
        me = uow.staff.by_email("m@shop.test")[0]  # type: ignore[index]
        olivia = uow.staff.by_email(OWNER_EMAIL)[0]  # type: ignore[index]
        assert uow.staff.by_email("o2@shop.test") is None
    promoted = manager.post(f"/admin/settings/staff/{me.id}", {"name": "M", "owner": "1"})
    assert promoted.status_code == 422 and "Only an owner" in promoted.text
    page = manager.page(f"/admin/settings/staff/{olivia.id}")
    assert "Only an owner can" in page.text and f'action="/admin/settings/staff/{olivia.id}/password"' not in page.text
    assert manager.post(f"/admin/settings/staff/{olivia.id}/password", {"password": "x" * 12}).status_code == 422
    with deck.unit_of_work(read_only=True) as uow:
        assert not uow.staff.get(me.id).owner  # type: ignore[union-attr]


def test_changing_your_own_password(owner: AdminClient, admin_app: TestClient) -> None:
    other_browser = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    assert other_browser.sign_in(OWNER_EMAIL).status_code == 303
    wrong = owner.post(
        "/admin/settings/account/password",
        {"current_password": "not it at all", "new_password": "a new password", "repeat_password": "a new password"},
    )
    assert wrong.status_code == 422 and _field_error(wrong, "current_password") == "That is not your current password"
    differ = owner.post(
        "/admin/settings/account/password",
        {"current_password": PASSWORD, "new_password": "a new password", "repeat_password": "another one!"},
    )
    assert _field_error(differ, "repeat_password") == "The two new passwords differ"
    short = owner.post(
        "/admin/settings/account/password",
        {"current_password": PASSWORD, "new_password": "short", "repeat_password": "short"},
    )
    assert "at least 10 characters" in _field_error(short, "new_password")
    changed = owner.post(
        "/admin/settings/account/password",
        {"current_password": PASSWORD, "new_password": "a new password", "repeat_password": "a new password"},
    )
    assert owner.flash(changed).startswith("success: Password changed.")  # still signed in here
    assert other_browser.client.get("/admin/orders", follow_redirects=False).status_code == 303
    fresh = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    assert fresh.sign_in(OWNER_EMAIL).status_code == 401
    assert fresh.sign_in(OWNER_EMAIL, "a new password").status_code == 303
