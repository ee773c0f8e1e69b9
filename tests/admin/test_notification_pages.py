"""Settings → Notifications: every template in every language, editing with a preview (the
script's endpoint and the Preview button), saving checked parts only, refusing broken Liquid at
its field with line and column (nothing saved), reverting, and a test send to the staff member."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck

from ..conftest import Api, Shop
from ..integration.conftest import Inbox, free_port
from .conftest import AdminClient, make_staff

EDIT = "/admin/settings/notifications/order_confirmation"
LINE = [{"title": "Espresso cup", "price": "12.50", "quantity": 2}]
BROKEN = "Hello\n{% if name %}Order {{ name }}"


def template(api: Api, name: str, locale: str) -> dict[str, object]:
    return api.ok(api.get(f"/notification_templates/{name}/{locale}.json"))["notification_template"]  # type: ignore[no-any-return]


def row_of(page: str, title: str) -> str:
    found = re.search(rf'<span class="template-title">{title}</span>.*?</tr>', page, re.S)
    assert found, title
    return found.group(0)


def test_every_template_in_every_language_says_whether_it_is_customised(owner: AdminClient, api: Api) -> None:
    api.ok(api.put("/notification_templates/refund/de.json", {"notification_template": {"subject": "Geld zurück"}}))
    page = owner.page("/admin/settings/notifications").text
    for title in ("Order confirmation", "Shipping confirmation", "Order lookup", "Custom status"):
        row = row_of(page, title)
        assert row.count("/admin/settings/notifications/") == 4  # en, nl, de, fi
    refund = row_of(page, "Refund")
    assert refund.count("Customised") == 1 and refund.count("Default") == 3
    assert 'href="/admin/settings/notifications/refund/de"' in refund


def test_a_stage_has_its_own_template_row(owner: AdminClient, api: Api) -> None:
    api.ok(
        api.post(
            "/custom_statuses.json",
            {"custom_status": {"handle": "in_production", "names": {"en": "In production"}, "customer_visible": True}},
        )
    )
    page = owner.page("/admin/settings/notifications").text
    assert "Custom status: In production" in page
    edit = owner.page("/admin/settings/notifications/custom_status.in_production/nl").text
    assert "A stage&#39;s own template goes to orders in that stage" in edit  # no test send offered, and why


@pytest.mark.parametrize(
    ("locale", "subject"),
    [
        ("en", "Order #1001 confirmed"),
        ("nl", "Je bestelling #1001 is bevestigd"),
        ("de", "Bestellbestätigung #1001"),
        ("fi", "Tilausvahvistus #1001"),
    ],
)
def test_the_edit_page_previews_the_sample_order_in_its_language(owner: AdminClient, locale: str, subject: str) -> None:
    page = owner.page(f"{EDIT}/{locale}").text
    assert f'<p class="preview-subject" id="preview-subject">{subject}</p>' in page
    assert '<iframe id="preview-html"' in page and 'sandbox=""' in page  # its CSS stays inside
    assert f'href="{EDIT}/{locale}" aria-current="page"' in page  # the language tabs
    for label in ("Subject", "HTML e-mail body", "Plain-text e-mail body", "SMS", "Preview with order"):
        assert f">{label}</label>" in page


@pytest.mark.parametrize(
    ("locale", "money"), [("en", "€12.50"), ("nl", "€\xa012,50"), ("de", "12,50\xa0€"), ("fi", "12,50\xa0€")]
)
def test_the_preview_endpoint_renders_what_staff_type_in_each_language(
    owner: AdminClient, shop: Shop, locale: str, money: str
) -> None:
    shop.location()
    order = shop.order(LINE, customer_locale="en")
    owner.page(f"{EDIT}/{locale}")
    typed = {
        "subject": "{{ name }} for {{ customer.first_name }}",
        "html": "<p>{{ line_items[0].price | money }}</p>",
        "text": "{{ line_items[0].title }}",
        "sms": "{{ name }}",
        "order": order["name"],
    }
    answer = owner.client.post(f"{EDIT}/{locale}/preview", data=typed, headers={"X-CSRF-Token": owner.csrf})
    assert answer.status_code == 200, answer.text
    preview = answer.json()["preview"]
    assert preview["subject"] == f"{order['name']} for"  # the order has no customer name
    assert preview["html"] == f"<p>{money}</p>"
    assert preview["text"] == "Espresso cup" and preview["sms"] == order["name"]


def test_the_preview_endpoint_says_what_is_broken_and_where(owner: AdminClient, shop: Shop) -> None:
    owner.page(f"{EDIT}/en")
    headers = {"X-CSRF-Token": owner.csrf}
    broken = owner.client.post(f"{EDIT}/en/preview", data={"subject": "x", "html": BROKEN}, headers=headers)
    assert broken.status_code == 422
    assert re.search(r"line 2, column \d+", broken.json()["errors"]["html"])
    missing = owner.client.post(f"{EDIT}/en/preview", data={"subject": "x", "order": "#99999"}, headers=headers)
    assert missing.json()["errors"] == {"order": "there is no order #99999"}
    forged = owner.client.post(f"{EDIT}/en/preview", data={"subject": "x"}, headers={"X-CSRF-Token": "nope"})
    assert forged.status_code == 403


def test_the_preview_button_works_without_a_script_and_saves_nothing(owner: AdminClient, api: Api) -> None:
    before = template(api, "order_confirmation", "nl")
    owner.page(f"{EDIT}/nl")
    answer = owner.post(
        f"{EDIT}/nl",
        {"subject": "Proef {{ name }}", "html": "<b>hi</b>", "text": "t", "sms": "s", "order": "", "do": "preview"},
    )
    assert answer.status_code == 200
    assert '<p class="preview-subject" id="preview-subject">Proef #1001</p>' in answer.text
    assert "Proef {{ name }}</textarea>" in answer.text  # the typing is kept
    assert template(api, "order_confirmation", "nl") == before


def test_saving_keeps_only_the_parts_staff_changed(owner: AdminClient, api: Api) -> None:
    current = template(api, "order_confirmation", "de")
    owner.page(f"{EDIT}/de")
    form = {part: str(current[part]).replace("\n", "\r\n") for part in ("subject", "html", "text", "sms")}
    form["subject"] = "Danke für Bestellung {{ name }}"
    answer = owner.post(f"{EDIT}/de", {**form, "do": "save"})
    assert owner.flash(answer) == "success: Saved the German Order confirmation (subject)."
    saved = template(api, "order_confirmation", "de")
    assert saved["subject"] == "Danke für Bestellung {{ name }}"
    assert saved["customized"] == ["subject"]  # the other parts stay Orderdeck's (CRLF or not)
    page = owner.page("/admin/settings/notifications").text
    assert row_of(page, "Order confirmation").count("Customised") == 1


def test_broken_liquid_is_refused_at_its_field_and_nothing_is_saved(owner: AdminClient, api: Api) -> None:
    before = template(api, "shipping_confirmation", "fi")
    owner.page("/admin/settings/notifications/shipping_confirmation/fi")
    answer = owner.post(
        "/admin/settings/notifications/shipping_confirmation/fi",
        {"subject": "Uusi {{ name }}", "html": BROKEN, "text": str(before["text"]), "sms": str(before["sms"])},
    )
    assert answer.status_code == 422
    error = re.search(r'<p class="field-error" id="e-html" role="alert">(.*?)</p>', answer.text)
    assert error and re.search(r"\(line 2, column \d+\)", html.unescape(error.group(1))), answer.text
    assert 'aria-invalid="true" aria-describedby="e-html"' in answer.text
    assert "Uusi {{ name }}</textarea>" in answer.text  # kept for fixing
    assert template(api, "shipping_confirmation", "fi") == before  # not even the good subject


def test_revert_goes_back_to_the_default(owner: AdminClient, api: Api) -> None:
    default = template(api, "refund", "en")
    api.ok(api.put("/notification_templates/refund/en.json", {"notification_template": {"sms": "Refunded {{ name }}"}}))
    page = owner.page(f"{EDIT.rsplit('/', 1)[0]}/refund/en").text
    assert "Revert to default</button>" in page
    answer = owner.post("/admin/settings/notifications/refund/en/revert")
    assert owner.flash(answer) == "success: The English Refund is Orderdeck&#39;s default again."
    assert template(api, "refund", "en") == default
    page = owner.page("/admin/settings/notifications/refund/en").text
    assert "Revert to default</button>" not in page
    assert "uses Orderdeck&#39;s default; there is nothing to revert" in page


def test_an_unknown_template_or_language_is_not_found(owner: AdminClient) -> None:
    owner.page("/admin/settings/notifications/order_confirmation/sv", expect=404)
    owner.page("/admin/settings/notifications/no_such_thing/en", expect=404)


@pytest.fixture
def inbox(deck: Orderdeck, shop: Shop) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1, set as the shop's mail server."""
    box, port = Inbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    shop.settings(smtp_url=f"smtp://127.0.0.1:{port}?from=orders@shop.test")
    yield box
    controller.stop()


def test_a_test_send_goes_to_the_staff_member_in_that_language(
    owner: AdminClient, deck: Orderdeck, shop: Shop, inbox: Inbox
) -> None:
    shop.location()
    order = shop.order(LINE, customer_locale="en", email="anna@example.nl")
    owner.page(f"{EDIT}/nl")
    missing = owner.post(f"{EDIT}/nl/test", {"order": ""})
    assert owner.flash(missing) == "error: Order: give the number of an order to send the test for."
    answer = owner.post(f"{EDIT}/nl/test", {"order": order["name"]})
    assert owner.flash(answer).startswith("success: A test of the Dutch Order confirmation")
    asyncio.run(Worker(deck, run_jobs=False).drain())
    [mail] = inbox.messages
    assert mail["To"] == "owner@shop.test" and mail["Content-Language"] == "nl"
    assert "is bevestigd" in str(mail["Subject"])


def test_staff_without_manage_settings_are_refused(owner: AdminClient, deck: Orderdeck, api: Api) -> None:
    make_staff(deck, "clerk@shop.test", permissions=("view_orders", "manage_orders"), name="Carl Clerk")
    clerk = AdminClient(owner.client)
    owner.post("/admin/logout")
    assert clerk.sign_in("clerk@shop.test").status_code == 303
    assert "may not manage settings" in clerk.page("/admin/settings/notifications", expect=403).text
    clerk.page(f"{EDIT}/en", expect=403)
    refused = clerk.post(f"{EDIT}/en", {"subject": "Mine", "do": "save"})
    assert refused.status_code == 403
    assert template(api, "order_confirmation", "en")["customized"] == []
