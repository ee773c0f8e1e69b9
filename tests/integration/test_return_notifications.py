"""The customer is e-mailed at each step of a return, in their language, through a real SMTP
server (aiosmtpd): the request received, the approval with the label, tracking and the shop's
instructions, a label added later, a decline with the shop's message, the refund, and the
exchange items shipping."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from email.message import Message
from typing import Any

import pytest

from orderdeck.domain import returns as rules
from orderdeck.domain.order import ReturnTracking
from orderdeck.outbox.worker import Worker
from orderdeck.services import returns as commands
from orderdeck.services.context import Orderdeck

from ..conftest import SELL, Api, Shop
from .conftest import Inbox
from .returns_steps import fulfillment_line_ids, run

LABEL = "https://labels.example/return-1001.pdf"
TIMES = "\u00d7"  # the multiplication sign the templates write between quantity and item


def work(app: Orderdeck) -> None:
    asyncio.run(Worker(app, run_jobs=False).drain())


def to_customer(inbox: Inbox) -> list[Message]:
    return [m for m in inbox.messages if m["To"] == "anna@example.nl"]


def parts(mail: Message) -> tuple[str, str]:
    found = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk() if not p.is_multipart()}  # type: ignore[union-attr]
    return found["text/plain"], found["text/html"]


def shipped(shop: Shop, variant: int, locale: str, quantity: int = 1) -> dict[str, Any]:
    order = shop.order(
        [{"variant_id": variant, "quantity": quantity}],
        transactions=SELL,
        customer_locale=locale,
        customer={"first_name": "Anna"},
    )
    shop.fulfil(order["id"])
    return shop.get(order["id"])


def ask_back(api: Api, deck: Orderdeck, order: dict[str, Any], reason: str = "defective", **extra: str) -> int:
    """The customer's request from the status page; the new return's id."""
    [fl] = fulfillment_line_ids(deck, order["id"])
    path = str(order["order_status_url"]).split("http://shop.test", 1)[1]
    form = {f"quantity_{fl}": "1", f"reason_{fl}": reason, f"note_{fl}": "Het oor is eraf"}
    form.update({f"{k}_{fl}": v for k, v in extra.items()})
    assert api.client.post(path + "/return", data=form, follow_redirects=False).status_code == 303
    return int(api.ok(api.get(f"/orders/{order['id']}.json"))["order"]["returns"][-1]["id"])


@pytest.mark.parametrize(
    ("locale", "subject", "reason"),
    [
        ("en", "We've received your return request for order", "Damaged or defective"),
        ("nl", "We hebben je retourverzoek voor bestelling", "Beschadigd of defect"),
        ("de", "Wir haben Ihre Rücksendeanfrage zu Bestellung", "Beschädigt oder defekt"),
        ("fi", "Palautuspyyntösi tilauksesta", "Vaurioitunut tai viallinen"),
    ],
)
def test_the_request_is_confirmed_in_the_customers_language(
    mailing: Orderdeck,
    inbox: Inbox,
    deck: Orderdeck,
    api: Api,
    shop: Shop,
    mug: int,
    locale: str,
    subject: str,
    reason: str,
) -> None:
    order = shipped(shop, mug, locale)
    ask_back(api, deck, order)
    work(mailing)
    [mail] = to_customer(inbox)
    assert mail["Content-Language"] == locale
    assert mail["Subject"].startswith(subject) and order["name"] in mail["Subject"]
    text, html = parts(mail)
    assert "Delft mug" in text and reason in text and "Het oor is eraf" in text
    assert order["order_status_url"] in html


def test_approval_sends_the_label_tracking_and_instructions_and_a_later_label_is_sent_too(
    mailing: Orderdeck, inbox: Inbox, deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    shop.settings(return_instructions="Pak de mok in bubbeltjesplastic.")
    order = shipped(shop, mug, "nl")
    return_id = ask_back(api, deck, order)
    work(mailing)
    inbox.messages.clear()

    _, ret = run(deck, lambda c: commands.approve(c, return_id, notify=True))
    work(mailing)
    [approved] = to_customer(inbox)
    assert approved["Subject"] == f"Je retourverzoek voor bestelling {order['name']} is goedgekeurd"
    text, _ = parts(approved)
    assert "Pak de mok in bubbeltjesplastic." in text and f"1 {TIMES} Delft mug" in text
    assert "retourlabel" not in text  # no label yet

    inbox.messages.clear()
    rfo = ret.reverse_fulfillment_orders[0].id
    tracking = ReturnTracking(number="3SRET123", url="https://postnl.example/3SRET123", carrier_name="PostNL")
    run(deck, lambda c: commands.attach_delivery(c, rfo, lines=[], label_url=LABEL, tracking=tracking, notify=True))
    work(mailing)
    [label] = to_customer(inbox)
    assert label["Subject"] == f"Je retourlabel voor bestelling {order['name']}"
    text, html = parts(label)
    assert f'href="{LABEL}"' in html and "Download je retourlabel" in html
    assert 'href="https://postnl.example/3SRET123"' in html and "PostNL" in html
    assert f"Je retourlabel: {LABEL}" in text and "Pak de mok in bubbeltjesplastic." in text


def test_a_shop_without_review_approves_at_once_and_says_so(
    mailing: Orderdeck, inbox: Inbox, deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    shop.settings(return_requests_need_approval=False, return_instructions="Drop it at any DHL point.")
    order = shipped(shop, mug, "de")
    ask_back(api, deck, order)
    work(mailing)
    [mail] = to_customer(inbox)
    assert mail["Subject"] == f"Ihre Rücksendung zu Bestellung {order['name']} wurde genehmigt"
    assert "Drop it at any DHL point." in parts(mail)[0]


def test_a_decline_sends_the_shops_message(
    mailing: Orderdeck, inbox: Inbox, deck: Orderdeck, api: Api, shop: Shop, mug: int
) -> None:
    order = shipped(shop, mug, "fi")
    return_id = ask_back(api, deck, order)
    run(
        deck,
        lambda c: commands.decline(
            c, return_id, reason="final_sale", note="Alennustuotteita ei palauteta.", notify=True
        ),
    )
    work(mailing)
    declined = [m for m in to_customer(inbox) if "ei voitu hyväksyä" in m["Subject"]]
    assert len(declined) == 1
    text, html = parts(declined[0])
    assert "Alennustuotteita ei palauteta." in text and "Viestimme sinulle" in html
    assert "Alennustuotteita ei palauteta." in html


def test_the_refund_and_then_the_exchange_items_shipping_are_told(
    mailing: Orderdeck, inbox: Inbox, deck: Orderdeck, api: Api, shop: Shop, mug: int, amsterdam: int
) -> None:
    jug = shop.product("JUG-1", price="12.50", stock={amsterdam: 5}, title="Delft jug")
    order = shipped(shop, mug, "en", quantity=2)
    [fl] = fulfillment_line_ids(deck, order["id"])

    def start(c):  # type: ignore[no-untyped-def]
        lines = [rules.ReturnLineRequest(fulfillment_line_item_id=fl, quantity=1, return_reason="defective")]
        refund_one = rules.ReturnRequest(lines=lines)
        return commands.start(c, order["id"], commands.StartReturn(refund_one, status="open"))

    _, refunded = run(deck, start)
    run(deck, lambda c: commands.refund(c, refunded.id, commands.ReturnRefund(lines=[], notify=True)))
    work(mailing)
    [mail] = to_customer(inbox)
    assert mail["Subject"] == f"Your return for order {order['name']} has been refunded"
    text, _ = parts(mail)
    assert "€12.50" in text and f"1 {TIMES} Delft mug" in text

    inbox.messages.clear()

    def exchange(c):  # type: ignore[no-untyped-def]
        lines = [rules.ReturnLineRequest(fulfillment_line_item_id=fl, quantity=1, return_reason="color")]
        request = rules.ReturnRequest(
            lines=lines, exchanges=commands.exchange_variants(c, [(jug, 1, None, None, None)])
        )
        return commands.start(c, order["id"], commands.StartReturn(request, status="open"))

    _, swapped = run(deck, exchange)
    line = swapped.reverse_fulfillment_orders[0].line_items[0].id
    run(deck, lambda c: commands.dispose(c, [rules.DispositionRequest(line, 1, "restocked", amsterdam)]))
    assert Decimal(shop.get(order["id"])["total_outstanding"]) == 0
    shop.fulfil(order["id"], tracking="1Z999AA10123456784", notify_customer=True)
    work(mailing)
    [shipped_mail] = to_customer(inbox)
    assert shipped_mail["Subject"] == f"Your exchange for order {order['name']} is on its way"
    text, _ = parts(shipped_mail)
    assert f"1 {TIMES} Delft jug" in text and "1Z999AA10123456784" in text and swapped.name in text
