"""The "order edited" message (AFTER-THE-SALE §3.6) tells the customer, in their language, what
the edit changed (items added and removed, quantities "2 → 1 × Cap"), what is left to pay or what
the shop refunds, and links the status page; by e-mail through a real SMTP server (aiosmtpd),
and in the SMS part."""

from __future__ import annotations

import asyncio
import re
from email.message import Message
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from orderdeck.outbox.notifications import prepare
from orderdeck.outbox.worker import Worker
from orderdeck.services import order_edits as edits
from orderdeck.services.context import Orderdeck
from orderdeck.store.tables import outbox

from ..conftest import SELL, Api, Shop
from .conftest import Inbox
from .returns_steps import run

ARROW = "\u2192"
TIMES = "\u00d7"


@pytest.fixture
def shirt(api: Api, amsterdam: int) -> dict[str, int]:
    """A linen shirt at 25.00 in S and M, five of each."""
    variants = [
        {"option1": size, "sku": f"SHIRT-{size}", "price": "25.00", "inventory_quantities": {str(amsterdam): 5}}
        for size in ("S", "M")
    ]
    product = api.ok(
        api.post("/products.json", {"product": {"title": "Linen shirt", "options": ["Size"], "variants": variants}})
    )["product"]
    return {v["option1"]: v["id"] for v in product["variants"]}


@pytest.fixture
def cap(shop: Shop, amsterdam: int) -> int:
    return shop.product("CAP-1", price="10.00", stock={amsterdam: 10}, title="Cap")


def place(shop: Shop, shirt: dict[str, int], cap: int, locale: str) -> dict[str, Any]:
    """A paid order of two M shirts and two caps: 70.00."""
    return shop.order(
        [{"variant_id": shirt["M"], "quantity": 2}, {"variant_id": cap, "quantity": 2}],
        transactions=SELL,
        customer_locale=locale,
        customer={"first_name": "Anna"},
    )


def line_id(order: dict[str, Any], variant: int) -> int:
    return int(next(li["id"] for li in order["line_items"] if li["variant_id"] == variant))


def customer_edits(api: Api, order: dict[str, Any], form: dict[str, str]) -> None:
    """The customer's change on the status page: reviewed, then confirmed."""
    path = str(order["order_status_url"]).split("http://shop.test", 1)[1]
    reviewed = api.client.post(path + "/edit/review", data=form)
    assert reviewed.status_code == 200, reviewed.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', reviewed.text))
    assert api.client.post(path + "/edit", data=fields, follow_redirects=False).status_code == 303


def work(app: Orderdeck) -> None:
    asyncio.run(Worker(app, run_jobs=False).drain())


def parts(mail: Message) -> tuple[str, str]:
    found = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk() if not p.is_multipart()}  # type: ignore[union-attr]
    return found["text/plain"], found["text/html"]


def edited_mail(inbox: Inbox) -> Message:
    [mail] = [m for m in inbox.messages if m["X-Orderdeck-Template"] == "order_edited"]
    return mail


def edited_payload(deck: Orderdeck) -> dict[str, Any]:
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(outbox.c.payload).where(outbox.c.kind == "notification")).scalars()
        return next(p for p in map(orjson.loads, rows) if p["template"] == "order_edited")


# What each language says: the subject's start, the heading over the changes, a quantity change
# of the caps, the shirt switched (M taken off, S added), the refund, and the link's words.
WORDS = {
    "en": (
        "Your order",
        "What changed",
        f"2 {ARROW} 1 {TIMES} Cap",
        f"Added: 2 {TIMES} Linen shirt - S",
        f"Removed: 2 {TIMES} Linen shirt - M",
        "We'll refund €10.00 to your original payment method.",
        "You changed your order",
    ),
    "nl": (
        "Je bestelling",
        "Wat er is veranderd",
        f"2 {ARROW} 1 {TIMES} Cap",
        f"Toegevoegd: 2 {TIMES} Linen shirt - S",
        f"Verwijderd: 2 {TIMES} Linen shirt - M",
        "We betalen €\u00a010,00 aan je terug via je oorspronkelijke betaalmethode.",
        "Je hebt je bestelling",
    ),
    "de": (
        "Ihre Bestellung",
        "Was sich geändert hat",
        f"2 {ARROW} 1 {TIMES} Cap",
        f"Hinzugefügt: 2 {TIMES} Linen shirt - S",
        f"Entfernt: 2 {TIMES} Linen shirt - M",
        "Wir erstatten Ihnen 10,00\u00a0€ über Ihre ursprüngliche Zahlungsart.",
        "Sie haben Ihre Bestellung",
    ),
    "fi": (
        "Tilaustasi",
        "Mikä muuttui",
        f"Cap: 2 {ARROW} 1 kpl",
        "Lisätty: Linen shirt - S, 2 kpl",
        "Poistettu: Linen shirt - M, 2 kpl",
        "Hyvitämme sinulle 10,00\u00a0€ alkuperäiselle maksutavallesi.",
        "Olet muuttanut tilaustasi",
    ),
}

SMS_REFUND = {
    "en": "We'll refund €10.00.",
    "nl": "We betalen €\u00a010,00 terug.",
    "de": "Wir erstatten Ihnen 10,00\u00a0€.",
    "fi": "Hyvitämme sinulle 10,00\u00a0€.",
}


@pytest.mark.parametrize("locale", ["en", "nl", "de", "fi"])
def test_the_customer_is_told_what_changed_and_what_comes_back_in_their_language(
    mailing: Orderdeck,
    inbox: Inbox,
    deck: Orderdeck,
    api: Api,
    shop: Shop,
    shirt: dict[str, int],
    cap: int,
    locale: str,
) -> None:
    shop.settings(self_service=True)
    order = place(shop, shirt, cap, locale)
    m_line, cap_line = line_id(order, shirt["M"]), line_id(order, cap)
    customer_edits(
        api,
        order,
        {f"quantity_{m_line}": "2", f"variant_{m_line}": str(shirt["S"]), f"quantity_{cap_line}": "1"},
    )
    work(mailing)
    mail = edited_mail(inbox)
    subject, heading, changed, added, removed, refund, intro = WORDS[locale]
    assert mail["Content-Language"] == locale and mail["To"] == "anna@example.nl"
    assert mail["Subject"].startswith(subject) and order["name"] in mail["Subject"]
    text, html = parts(mail)
    for words in (heading, changed, added, removed, refund, intro):
        assert words in text, words
        assert words in html.replace("<strong>", "").replace("</strong>", ""), words
    assert order["order_status_url"] in text and f'href="{order["order_status_url"]}"' in html
    # The order as it is now: the M shirts are off it, one cap is left.
    updated = text.split(heading, 1)[1].split(refund, 1)[1]
    assert "Linen shirt" in updated and "(M)" not in updated
    sms = prepare(mailing, edited_payload(deck)).rendered.sms
    assert SMS_REFUND[locale] in sms and order["order_status_url"] in sms


@pytest.mark.parametrize(
    ("locale", "due"),
    [
        ("en", "Amount due: €25.00"),
        ("nl", "Nog te betalen: €\u00a025,00"),
        ("de", "Noch offen: 25,00\u00a0€"),
        ("fi", "Maksamatta: 25,00\u00a0€"),
    ],
)
def test_an_edit_that_leaves_something_to_pay_says_how_much(
    mailing: Orderdeck,
    inbox: Inbox,
    deck: Orderdeck,
    shop: Shop,
    shirt: dict[str, int],
    cap: int,
    locale: str,
    due: str,
) -> None:
    order = place(shop, shirt, cap, locale)
    m_line = line_id(order, shirt["M"])
    edit, _ = run(deck, lambda cmd: edits.begin(cmd, order["id"]))
    run(deck, lambda cmd: edits.set_quantity(cmd, edit.id, line_item_id=m_line, quantity=3))
    run(deck, lambda cmd: edits.commit(cmd, edit.id, notify_customer=True))
    work(mailing)
    text, _ = parts(edited_mail(inbox))
    assert due in text
    changed = f"Linen shirt - M: 2 {ARROW} 3 kpl" if locale == "fi" else f"2 {ARROW} 3 {TIMES} Linen shirt - M"
    assert changed in text
    # Staff made this change: the mail says the shop changed the order, and promises no refund.
    assert WORDS[locale][6] not in text and WORDS[locale][5] not in text
