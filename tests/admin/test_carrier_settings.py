"""Settings → Carriers: carrier accounts added, changed and switched off; secrets never shown
back (only "Set"), kept when their box is left empty; missing credentials and carriers karrio
does not have refused next to their field; only staff who may manage settings."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from orderdeck.services.context import Orderdeck
from orderdeck.store.carrier_accounts import CarrierAccounts

from .conftest import AdminClient, make_staff

SECRET = "gls-very-secret-9876"


def accounts(deck: Orderdeck) -> list:
    with deck.unit_of_work(read_only=True) as uow:
        return CarrierAccounts(uow.conn).all()


def test_a_carrier_account_is_added_and_its_secret_never_shown_again(owner: AdminClient, deck: Orderdeck) -> None:
    assert 'href="/admin/settings/carriers"' in owner.page("/admin/settings").text
    chooser = owner.page("/admin/settings/carriers/new")
    assert 'name="carrier"' in chooser.text and ">GLS<" in chooser.text
    form = owner.page("/admin/settings/carriers/new?carrier=gls")
    assert 'name="credential_client_id"' in form.text and 'name="credential_client_secret"' in form.text

    added = owner.post(
        "/admin/settings/carriers/new",
        {
            "carrier": "gls",
            "name": "GLS Germany",
            "credential_client_id": "shop-client",
            "credential_client_secret": SECRET,
        },
    )
    assert owner.flash(added) == "success: Carrier account GLS Germany added."
    [account] = accounts(deck)
    assert (account.carrier, account.credentials["client_secret"], account.active) == ("gls", SECRET, True)

    listed = owner.page("/admin/settings/carriers")
    assert "GLS Germany" in listed.text and SECRET not in listed.text
    edit = owner.page(f"/admin/settings/carriers/{account.id}")
    assert SECRET not in edit.text and "shop-client" not in edit.text
    assert "Set. Leave empty to keep it" in edit.text

    # Empty boxes keep the secrets; the account can be switched off.
    saved = owner.post(
        f"/admin/settings/carriers/{account.id}",
        {"name": "GLS DE", "credential_client_id": "", "credential_client_secret": ""},
    )
    assert "switched off" in owner.flash(saved)
    [account] = accounts(deck)
    assert (account.name, account.active, account.credentials["client_secret"]) == ("GLS DE", False, SECRET)
    assert "Switched off" in owner.page("/admin/settings/carriers").text


def test_a_missing_credential_is_refused_next_to_its_box(owner: AdminClient, deck: Orderdeck) -> None:
    owner.page("/admin/settings/carriers/new?carrier=dhl_universal")
    refused = owner.post(
        "/admin/settings/carriers/new",
        {"carrier": "dhl_universal", "name": "DHL", "credential_consumer_key": "key-only"},
    )
    assert refused.status_code == 422
    assert "Nothing was changed" in refused.text
    assert re.search(r'id="e-consumer_secret">Can&#39;t be blank', refused.text), refused.text
    assert "key-only" not in refused.text  # a secret typed is not sent back into the page
    assert accounts(deck) == []


def test_a_carrier_karrio_does_not_have_is_refused(owner: AdminClient, deck: Orderdeck) -> None:
    owner.page("/admin/settings/carriers/new")
    refused = owner.post("/admin/settings/carriers/new", {"carrier": "postnl", "name": "PostNL"})
    assert refused.status_code == 422 and "Choose one of the carriers listed" in refused.text
    assert accounts(deck) == []


def test_carrier_accounts_need_the_manage_settings_permission(deck: Orderdeck, admin_app: TestClient) -> None:
    make_staff(deck, "v@shop.test", permissions=("view_orders",))
    viewer = AdminClient(admin_app)
    assert viewer.sign_in("v@shop.test").status_code == 303
    assert "may not manage settings" in viewer.page("/admin/settings/carriers", expect=403).text
    viewer.page("/admin/settings/carriers/new", expect=403)
    assert viewer.post("/admin/settings/carriers/new", {"carrier": "gls"}).status_code == 403
    assert accounts(deck) == []
