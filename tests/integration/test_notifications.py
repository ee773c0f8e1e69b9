"""Customer notifications through a real SMTP server (aiosmtpd) on 127.0.0.1: the order's
language, both MIME parts, the status-page link, the shop's flags (send_receipt,
notify_customer), templates edited through the API and refused when broken or hostile, resend
and free messages, SMS, and messages that cannot be sent saying so on the timeline."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from orderdeck.notify import engine, templates
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from orderdeck.services.notifications import sample_context

from ..conftest import Api, Shop
from .conftest import Inbox
from .test_unreadable_orders import spoil

LINE = [{"title": "Espresso cup", "price": "1234.50", "quantity": 1}]
SIXTY_X = "{% assign x = '" + "x" * 60 + "' %}"


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


def work(app: Orderdeck) -> None:
    asyncio.run(Worker(app, run_jobs=False).drain())


def parts(mail: Message) -> tuple[str, str]:
    """The plain-text and the HTML part of a message, decoded."""
    assert mail.is_multipart() and mail.get_content_type() == "multipart/alternative"
    found = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk() if not p.is_multipart()}  # type: ignore[union-attr]
    return found["text/plain"], found["text/html"]


def timeline(api: Api, order_id: int, verb: str) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order_id}/events.json", params={"verb": verb}))["events"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("locale", "amount"),
    [("en", "€1,234.50"), ("nl", "€\xa01.234,50"), ("de", "1.234,50\xa0€"), ("fi", "1\xa0234,50\xa0€")],
)
def test_the_order_confirmation_speaks_the_customers_language(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop, locale: str, amount: str
) -> None:
    order = shop.order(LINE, send_receipt=True, customer_locale=locale, email="anna@example.nl")
    work(mailing)
    [mail] = inbox.messages
    assert mail["To"] == "anna@example.nl"
    assert mail["Content-Language"] == locale, mail.items()
    assert order["name"] in mail["Subject"]
    text, html = parts(mail)
    assert amount in text, text
    assert order["order_status_url"] in text and f'href="{order["order_status_url"]}"' in html
    assert f'<html lang="{locale}">' in html
    [sent] = timeline(api, order["id"], "notification_sent")
    assert f"sent to anna@example.nl ({locale})" in sent["message"]


def test_an_unknown_customer_locale_falls_back_to_the_shops_language(
    mailing: Orderdeck, inbox: Inbox, shop: Shop
) -> None:
    shop.order(LINE, send_receipt=True, customer_locale="pt-BR")
    work(mailing)
    assert inbox.messages[0]["Content-Language"] == "en"


def test_no_receipt_unless_asked(mailing: Orderdeck, inbox: Inbox, shop: Shop) -> None:
    shop.order(LINE)
    work(mailing)
    assert inbox.messages == []


def test_shipping_confirmation_carries_the_tracking(mailing: Orderdeck, inbox: Inbox, shop: Shop) -> None:
    order = shop.order(LINE, customer_locale="de")
    shop.fulfil(order["id"], tracking="1Z999AA10123456784", notify_customer=True)
    work(mailing)
    [mail] = inbox.messages
    text, html = parts(mail)
    assert "1Z999AA10123456784" in text and "1Z999AA10123456784" in html
    assert mail["X-Orderdeck-Template"] == "shipping_confirmation"


def test_customer_names_are_escaped_in_the_html_part(mailing: Orderdeck, inbox: Inbox, shop: Shop) -> None:
    shop.order(
        LINE,
        send_receipt=True,
        customer={"first_name": "<script>alert(1)</script>", "last_name": "X", "email": "anna@example.nl"},
    )
    work(mailing)
    _, html = parts(inbox.messages[0])
    assert "<script>alert(1)</script>" not in html


def test_staff_edit_preview_and_revert_a_template(mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop) -> None:
    order = shop.order(LINE, customer_locale="nl")
    subject = "Bedankt {{ customer.first_name | default: 'klant' }}! Bestelling {{ name }}"
    saved = api.ok(
        api.put("/notification_templates/order_confirmation/nl.json", {"notification_template": {"subject": subject}})
    )
    assert saved["notification_template"]["subject"] == subject
    assert saved["notification_template"]["customized"] == ["subject"]
    preview = api.ok(api.post("/notification_templates/order_confirmation/nl/preview.json", {"order_id": order["id"]}))
    assert preview["preview"]["subject"] == f"Bedankt klant! Bestelling {order['name']}"
    assert "€\xa01.234,50" in preview["preview"]["text"]
    listed = api.ok(api.get("/notification_templates.json"))["notification_templates"]
    assert {"name": "order_confirmation", "locale": "nl", "customized": ["subject"]} in listed

    api.ok(api.post(f"/orders/{order['id']}/notifications.json", {"notification": {"template": "order_confirmation"}}))
    work(mailing)
    assert inbox.messages[-1]["Subject"] == f"Bedankt klant! Bestelling {order['name']}"

    reverted = api.ok(api.delete("/notification_templates/order_confirmation/nl.json"))
    assert reverted["notification_template"]["customized"] == []
    assert reverted["notification_template"]["subject"] == templates.default_part("order_confirmation", "nl", "subject")


@pytest.mark.parametrize(
    ("part", "source", "says"),
    [
        ("html", "<p>Hello</p>\n<p>{% if customer.first_name %}{{ customer.first_name }}</p>", "line 2"),
        ("text", "Total:\n  {{ total_price | nonsense }}", "unknown filter 'nonsense' (line 2, column"),
        ("text", "{% for i in (1..100000000) %}x{% endfor %}", "loop iteration limit"),
        (
            "text",
            SIXTY_X + "{% for i in (1..5000) %}{{ x }}{% endfor %}",
            "renders more than",
        ),
        (
            "html",
            SIXTY_X + "{% for i in (1..9999) %}{{ x }}{% endfor %}",
            "output stream limit reached",
        ),
        ("subject", "   ", "can't be blank"),
    ],
)
def test_broken_or_hostile_templates_are_refused_with_the_place(api: Api, part: str, source: str, says: str) -> None:
    answer = api.put("/notification_templates/refund/en.json", {"notification_template": {part: source}})
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["errors"][part][0]
    assert api.ok(api.get("/notification_templates/refund/en.json"))["notification_template"]["customized"] == []


def test_unknown_templates_and_languages_are_404(api: Api) -> None:
    assert api.get("/notification_templates/party_invite/en.json").status_code == 404
    assert api.get("/notification_templates/refund/pt.json").status_code == 404


def test_a_free_message_to_the_customer(mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop) -> None:
    order = shop.order(LINE, customer_locale="fi")
    api.ok(
        api.post(
            f"/orders/{order['id']}/messages.json",
            {"message": {"subject": "Tilauksesi viivästyy", "body": "Lähetämme sen maanantaina."}},
        )
    )
    work(mailing)
    [mail] = inbox.messages
    assert "Tilauksesi viivästyy" in mail["Subject"]
    text, _ = parts(mail)
    assert "Lähetämme sen maanantaina." in text
    blank = api.post(f"/orders/{order['id']}/messages.json", {"message": {"subject": " ", "body": "x"}})
    assert blank.status_code == 422 and "subject" in blank.json()["errors"]


def test_a_test_send_goes_to_staff(mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop) -> None:
    order = shop.order(LINE, email="anna@example.nl")
    refused = api.post("/notification_templates/delivered/de/test.json", {"order_id": order["id"]})
    assert refused.status_code == 422 and "staff_email" in refused.json()["errors"]
    shop.settings(staff_email="ops@shop.test")
    api.ok(api.post("/notification_templates/delivered/de/test.json", {"order_id": order["id"]}))
    work(mailing)
    [mail] = inbox.messages
    assert mail["To"] == "ops@shop.test" and mail["Content-Language"] == "de"


def test_an_order_with_only_a_phone_gets_an_sms(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop, tmp_path: Path
) -> None:
    log = tmp_path / "sms.jsonl"
    texting = dataclasses.replace(mailing, settings=dataclasses.replace(mailing.settings, sms_url=f"file://{log}"))
    order = shop.order(LINE, send_receipt=True, email=None, phone="+31612345678", customer_locale="nl")
    work(texting)
    [sms] = [json.loads(line) for line in log.read_text().splitlines()]
    assert sms["to"] == "+31612345678" and order["name"] in sms["body"] and len(sms["body"]) <= 320
    assert inbox.messages == []
    assert "SMS sent to +31612345678 (nl)" in timeline(api, order["id"], "notification_sent")[0]["message"]


def test_a_message_that_cannot_be_sent_says_so_on_the_timeline(mailing: Orderdeck, api: Api, shop: Shop) -> None:
    order = shop.order(LINE, send_receipt=True, email=None)
    work(mailing)
    [failed] = timeline(api, order["id"], "notification_failed")
    assert "no e-mail address or phone number" in failed["message"]


def test_an_address_stored_before_input_was_checked_fails_once_and_says_why(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop
) -> None:
    """Orders stored by an earlier version could hold a line break in their e-mail; such a
    message is refused once with the reason instead of failing in the worker for hours."""
    order = shop.order(LINE, send_receipt=True)
    spoil(mailing, order["id"], lambda document: document.update(email="anna@example.nl\r\nBcc: all@example.com"))
    work(mailing)
    work(mailing)
    [failed] = timeline(api, order["id"], "notification_failed")
    assert "is not an e-mail address" in failed["message"] and "correct it on the order" in failed["message"]
    assert inbox.messages == []


@pytest.mark.parametrize("name", [n for n in templates.NAMES if n != "custom_message"])  # its subject is staff's
def test_each_language_has_its_own_words(name: str) -> None:
    subjects = {
        engine.render_part(
            templates.default_part(name, locale, "subject"), "subject", sample_context(locale, "Shop"), locale, "EUR"
        )
        for locale in engine.LOCALES
    }
    assert len(subjects) == len(engine.LOCALES)


@pytest.mark.parametrize("locale", engine.LOCALES)
@pytest.mark.parametrize("name", templates.NAMES)
def test_every_default_template_renders_in_every_language(name: str, locale: str) -> None:
    done = engine.render(templates.defaults(name, locale), sample_context(locale, "Koffie & Co"), locale, "EUR")
    assert done.subject and "\n" not in done.subject
    assert done.text.strip() and done.html.strip()
    assert 0 < len(done.sms) <= 320
    assert "https://shop.example/orders/status/sample" in done.text + done.html


def test_a_message_to_the_customers_of_a_filtered_set_of_orders(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop
) -> None:
    tagged = [
        shop.order(
            LINE, tags="delayed", email="anna@example.nl", customer_locale="nl", customer={"first_name": "Anna"}
        ),
        shop.order(LINE, tags="delayed", email="ben@example.com", customer={"first_name": "Ben"}),
    ]
    other = shop.order(LINE, email="carl@example.com")
    message = {
        "subject": "{{ name }}: a short delay",
        "body": "Hi {{ customer.first_name | default: 'there' }}, your order of {{ total_price | money }}"
        " ships Monday.",
    }
    preview = api.ok(api.post("/orders/bulk/messages/preview.json", {"message": message, "order_id": tagged[0]["id"]}))
    assert preview["preview"]["body"] == "Hi Anna, your order of €\xa01.234,50 ships Monday."
    bad = api.post(
        "/orders/bulk/messages.json", {"filter": {"tag": "delayed"}, "message": {**message, "body": "{% if x %}"}}
    )
    assert bad.status_code == 422 and "line 1" in bad.json()["errors"]["body"][0]

    queued = api.ok(api.post("/orders/bulk/messages.json", {"filter": {"tag": "delayed"}, "message": message}))
    assert queued == {"queued": 2}
    work(mailing)
    by_address = {m["To"]: m for m in inbox.messages}
    assert set(by_address) == {"anna@example.nl", "ben@example.com"}
    assert by_address["anna@example.nl"]["Subject"].endswith(f"{tagged[0]['name']}: a short delay")
    assert "Hi Ben, your order of €1,234.50 ships Monday." in parts(by_address["ben@example.com"])[0]
    assert len(timeline(api, tagged[1]["id"], "notification_sent")) == 1
    assert timeline(api, other["id"], "notification_sent") == []
    # The same set, as CSV, for the merchant's records.
    exported = api.get("/orders/export.csv", params={"tag": "delayed"})
    assert exported.status_code == 200 and exported.text.count("\n") == 3  # header and two orders


def test_the_link_in_the_mail_opens_that_order(mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop) -> None:
    import re

    order = shop.order(LINE, send_receipt=True, customer_locale="fi")
    shop.order(LINE, send_receipt=True)
    work(mailing)
    mail = next(m for m in inbox.messages if m["Content-Language"] == "fi")
    text, _ = parts(mail)
    links = set(re.findall(r"http://shop\.test/orders/status/[0-9a-f]{32}", text))
    assert len(links) == 1, text
    link = links.pop()
    page = api.client.get(link.removeprefix("http://shop.test"))
    assert page.status_code == 200 and f"Tilaus {order['name']}" in page.text


def test_the_shops_own_mail_server_is_used_and_its_password_never_shown(
    deck: Orderdeck, inbox: Inbox, api: Api, shop: Shop, smtp_port: int
) -> None:
    saved = api.ok(
        api.put(
            "/shop/settings.json",
            {"settings": {"smtp_url": f"smtp://shop:s3cret@127.0.0.1:{smtp_port}?from=hi@shop.test"}},
        )
    )
    assert saved["settings"]["smtp_url"] == f"smtp://shop:***@127.0.0.1:{smtp_port}?from=hi@shop.test"
    assert "s3cret" not in api.get("/shop/settings.json").text
    wrong = api.put("/shop/settings.json", {"settings": {"smtp_url": "mail.example.com"}})
    assert wrong.status_code == 422 and "smtp_url" in wrong.json()["errors"]
    # The test server takes no login: the same server without one.
    api.ok(
        api.put("/shop/settings.json", {"settings": {"smtp_url": f"smtp://127.0.0.1:{smtp_port}?from=hi@shop.test"}})
    )
    shop.order(LINE, send_receipt=True)
    work(deck)  # no ORDERDECK_SMTP_URL: the shop's setting is enough
    [mail] = inbox.messages
    assert mail["From"] == "hi@shop.test"


def test_sms_through_a_twilio_compatible_provider(mailing: Orderdeck, api: Api, shop: Shop) -> None:
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    got: list[tuple[str, dict[str, list[str]], str]] = []

    class Twilio(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            got.append((self.path, parse_qs(body), self.headers["Authorization"]))
            reply = b'{"sid": "SM123", "status": "queued"}'
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Twilio)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"twilio+http://AC123:tok3n@127.0.0.1:{server.server_port}?from=%2B3197010000000"
        texting = dataclasses.replace(mailing, settings=dataclasses.replace(mailing.settings, sms_url=url))
        order = shop.order(LINE, send_receipt=True, email=None, phone="+31612345678", customer_locale="de")
        work(texting)
    finally:
        server.shutdown()
    [(path, form, auth)] = got
    assert path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert form["To"] == ["+31612345678"] and form["From"] == ["+3197010000000"]
    assert order["name"] in form["Body"][0]
    assert auth == "Basic " + base64.b64encode(b"AC123:tok3n").decode()
    assert "SMS sent to +31612345678 (de)" in timeline(api, order["id"], "notification_sent")[0]["message"]
