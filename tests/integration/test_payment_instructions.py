"""The shop's payment instructions (issue 14): how a customer pays what an edit, an exchange or a
partial payment left to pay, in the payment request e-mail, the order_edited e-mail and on the
status page, only while something is owed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from orderdeck.outbox.notifications import prepare
from orderdeck.services import order_edits as edits
from orderdeck.services.context import Orderdeck
from tests.conftest import Api, Shop
from tests.integration.returns_steps import run

IBAN = "Transfer to NL91 ABNA 0417 1643 00, quoting your order number."


def _owing_order(deck: Orderdeck, shop: Shop, mug: int) -> dict[str, Any]:
    """A paid order an edit added gift wrap to: 3.00 left to pay."""
    order = shop.order(
        [{"variant_id": mug, "quantity": 1}],
        transactions=[{"kind": "sale", "status": "success"}],
        email="anna@example.com",
    )
    edit, _ = run(deck, lambda cmd: edits.begin(cmd, order["id"]))
    run(deck, lambda cmd: edits.add_custom_item(cmd, edit.id, title="Gift wrap", price=Decimal("3.00"), quantity=1))
    run(deck, lambda cmd: edits.commit(cmd, edit.id, notify_customer=True))
    return shop.get(order["id"])


def test_the_payment_request_and_the_edit_e_mail_say_how_to_pay(
    api: Api, deck: Orderdeck, mailing: Orderdeck, shop: Shop, mug: int
) -> None:
    api.ok(api.put("/shop/settings.json", {"settings": {"payment_instructions": IBAN}}))
    order = _owing_order(deck, shop, mug)
    assert Decimal(order["total_outstanding"]) == Decimal("3.00")
    for template in ("order_invoice", "order_edited"):
        message = prepare(mailing, {"order_id": order["id"], "template": template, "to": "anna@example.com"})
        assert "How to pay" in message.rendered.text and IBAN in message.rendered.text, template
        assert IBAN in message.rendered.html, template
    dutch = prepare(mailing, {"order_id": order["id"], "template": "order_invoice", "locale": "nl", "to": "a@b.nl"})
    assert "Zo betaal je" in dutch.rendered.text and IBAN in dutch.rendered.text


def test_the_status_page_shows_what_is_left_to_pay_and_how_only_while_it_is_owed(
    api: Api, deck: Orderdeck, shop: Shop, mug: int
) -> None:
    api.ok(api.put("/shop/settings.json", {"settings": {"payment_instructions": IBAN}}))
    owing = _owing_order(deck, shop, mug)
    page = api.client.get(str(owing["order_status_url"]).split("http://shop.test", 1)[1])
    assert page.status_code == 200
    assert "Left to pay" in page.text and "€3.00" in page.text and "NL91 ABNA" in page.text
    paid = shop.order([{"variant_id": mug, "quantity": 1}], transactions=[{"kind": "sale", "status": "success"}])
    page = api.client.get(str(paid["order_status_url"]).split("http://shop.test", 1)[1])
    assert "Left to pay" not in page.text and "NL91 ABNA" not in page.text


def test_payment_instructions_are_checked(api: Api) -> None:
    refused = api.put("/shop/settings.json", {"settings": {"payment_instructions": "x" * 2001}})
    assert refused.status_code == 422 and "payment_instructions" in refused.text
    answer = api.ok(api.put("/shop/settings.json", {"settings": {"payment_instructions": "  Pay by bank.  "}}))
    assert answer["settings"]["payment_instructions"] == "Pay by bank."
