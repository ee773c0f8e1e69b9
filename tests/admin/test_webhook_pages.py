"""Settings → Webhooks: subscribing, changing, pausing and deleting; bad addresses refused at the
field; the delivery log of a real receiver on 127.0.0.1 (newest first, paged), one delivery's
attempts with the receiver's answer, and redelivery of one or of every failed delivery."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest

from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from orderdeck.web.admin import webhooks as webhook_pages

from ..conftest import Api, Clock, Shop
from ..integration.test_webhooks import Receiver
from .conftest import AdminClient, make_staff

LINE = [{"title": "Mug", "price": "12.50", "quantity": 2}]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def work(deck: Orderdeck) -> None:
    asyncio.run(Worker(deck, run_jobs=False).drain())


def hooks(api: Api) -> list[dict[str, Any]]:
    return api.ok(api.get("/webhooks.json"))["webhooks"]  # type: ignore[no-any-return]


def subscribe(owner: AdminClient, address: str, topic: str = "orders/create", fields: str = "") -> int:
    owner.page("/admin/settings/webhooks/new")
    answer = owner.post("/admin/settings/webhooks", {"topic": topic, "address": address, "fields": fields})
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].rsplit("/", 1)[1])


def receiving_page(owner: AdminClient, shop: Shop, receiver: Receiver) -> str:
    """The page of a new orders/create subscription to the receiver, in a shop whose orders can
    be placed (they need a location)."""
    shop.location()
    return f"/admin/settings/webhooks/{subscribe(owner, receiver.url)}"


def delivery_id(page: str, base: str) -> str:
    """The id of the first delivery the subscription's log links to."""
    return re.search(rf'href="{base}/deliveries/([^"]+)"', page).group(1)  # type: ignore[union-attr]


def rows(page: str) -> list[str]:
    body = re.search(r'<table class="list deliveries">.*?</table>', page, re.S)
    return re.findall(r"<tr>.*?</tr>", body.group(0), re.S)[1:] if body else []


def test_subscribing_from_the_form(owner: AdminClient, api: Api) -> None:
    empty = owner.page("/admin/settings/webhooks").text
    assert "No webhooks yet" in empty and "orderdeck webhooks secret" in empty
    form = owner.page("/admin/settings/webhooks/new").text
    for label in ("Topic", "Address", "Format", "Fields"):
        assert f">{label}</label>" in form
    assert '<option value="orderdeck/custom_status_changed"' in form  # every topic Orderdeck sends
    answer = owner.post(
        "/admin/settings/webhooks",
        {"topic": "orders/paid", "address": " https://erp.example/hooks ", "fields": "id, name total_price"},
    )
    assert owner.flash(answer) == "success: Subscribed https://erp.example/hooks to orders/paid."
    [made] = hooks(api)
    assert made["topic"] == "orders/paid" and made["address"] == "https://erp.example/hooks"
    assert made["fields"] == ["id", "name", "total_price"] and made["format"] == "json"
    listed = owner.page("/admin/settings/webhooks").text
    assert "https://erp.example/hooks" in listed and 'title="State: Enabled"' in listed
    assert re.search(r'ending in <span class="secret">…\w{4}</span>', listed)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("", "Address can&#39;t be blank"),
        ("ftp://files.example/x", "Address must be an http:// or https:// URL with a host"),
        ("https://user:pw@erp.example/x", "Address must not carry a user name or password"),
    ],
)
def test_a_bad_address_is_refused_at_its_field(owner: AdminClient, api: Api, address: str, message: str) -> None:
    owner.page("/admin/settings/webhooks/new")
    answer = owner.post("/admin/settings/webhooks", {"topic": "orders/create", "address": address})
    assert answer.status_code == 422
    assert f'<p class="field-error" id="e-address" role="alert">{message}' in answer.text
    assert 'aria-invalid="true" aria-describedby="e-address"' in answer.text
    assert f'value="{address}"' in answer.text  # kept for fixing
    assert hooks(api) == []


def test_the_same_topic_and_address_twice_is_refused(owner: AdminClient, api: Api) -> None:
    subscribe(owner, "https://erp.example/hooks")
    answer = owner.post("/admin/settings/webhooks", {"topic": "orders/create", "address": "https://erp.example/hooks"})
    assert answer.status_code == 422 and "Address for this topic has already been taken" in answer.text
    assert len(hooks(api)) == 1


def test_editing_disabling_enabling_and_deleting(owner: AdminClient, api: Api) -> None:
    hook = subscribe(owner, "https://erp.example/hooks")
    base = f"/admin/settings/webhooks/{hook}"
    form = owner.page(f"{base}/edit").text
    assert 'value="https://erp.example/hooks"' in form
    bad = owner.post(base, {"topic": "orders/create", "address": "not a url"})
    assert bad.status_code == 422 and "must be an http:// or https:// URL" in bad.text
    assert hooks(api)[0]["address"] == "https://erp.example/hooks"
    saved = owner.post(base, {"topic": "orders/cancelled", "address": "https://erp.example/cancel", "fields": "id"})
    assert owner.flash(saved) == "success: Saved the webhook."
    [changed] = hooks(api)
    assert (changed["topic"], changed["address"], changed["fields"]) == (
        "orders/cancelled",
        "https://erp.example/cancel",
        ["id"],
    )
    assert owner.flash(owner.post(f"{base}/disable")).startswith("success: Disabled")
    page = owner.page(base).text
    assert 'title="State: Disabled"' in page and "Disabled by Olivia Owner" in page
    assert hooks(api)[0]["enabled"] is False
    assert owner.flash(owner.post(f"{base}/enable")).startswith("success: Enabled")
    assert hooks(api)[0]["enabled"] is True
    assert owner.flash(owner.post(f"{base}/delete")) == "success: Deleted the webhook and its delivery log."
    assert hooks(api) == []
    owner.page(base, expect=404)


def test_the_delivery_log_and_one_deliverys_attempts(
    owner: AdminClient, deck: Orderdeck, shop: Shop, receiver: Receiver
) -> None:
    base = receiving_page(owner, shop, receiver)
    assert "No deliveries yet" in owner.page(base).text
    order = shop.order(LINE)
    work(deck)
    page = owner.page(base).text
    [row] = rows(page)
    assert order["name"] in row and "orders/create" in row
    assert 'title="Delivery: Delivered"' in row and "HTTP 200" in row
    delivery = delivery_id(row, base)
    shown = owner.page(f"{base}/deliveries/{delivery}").text
    assert "Delivered</strong>: HTTP 200" in shown
    assert "thanks</pre>" in shown  # the receiver's answer
    assert f"&#34;id&#34;: {order['id']}" in shown or f"&#34;id&#34;:{order['id']}" in shown  # what was sent
    assert owner.page(f"{base}?state=failed").text.count('title="Delivery:') == 0


def test_redelivering_one_delivery_queues_a_new_attempt(
    owner: AdminClient, deck: Orderdeck, shop: Shop, receiver: Receiver
) -> None:
    base = receiving_page(owner, shop, receiver)
    shop.order(LINE)
    work(deck)
    delivery = delivery_id(owner.page(base).text, base)
    answer = owner.post(f"{base}/redeliver", {"delivery_id": delivery})
    assert answer.headers["location"] == f"{base}/deliveries/{delivery}"
    assert owner.flash(answer) == "success: Sending the delivery again; the log shows each new attempt."
    assert 'title="Delivery: Pending"' in owner.page(f"{base}/deliveries/{delivery}").text
    work(deck)
    assert len(receiver.got) == 2
    assert receiver.got[0].headers["X-Shopify-Webhook-Id"] == receiver.got[1].headers["X-Shopify-Webhook-Id"]
    shown = owner.page(f"{base}/deliveries/{delivery}").text
    assert shown.count("Delivered</strong>: HTTP 200") == 2


def test_redelivering_every_failed_delivery(
    owner: AdminClient, deck: Orderdeck, shop: Shop, receiver: Receiver
) -> None:
    base = receiving_page(owner, shop, receiver)
    assert "No delivery has failed." in owner.page(base).text  # nothing to redeliver, and why
    receiver.script = [404, 404]  # refused: final at once
    shop.order(LINE)
    shop.order(LINE)
    work(deck)
    failed = rows(owner.page(f"{base}?state=failed").text)
    assert len(failed) == 2 and all("HTTP 404" in r for r in failed)
    answer = owner.post(f"{base}/redeliver", {"state": "failed"})
    assert owner.flash(answer) == "success: Sending 2 deliveries again; the log shows each new attempt."
    work(deck)
    assert len(receiver.got) == 4
    page = owner.page(base).text
    assert [r.count('title="Delivery: Delivered"') for r in rows(page)] == [1, 1]
    assert "No delivery has failed." in page
    missing = owner.post(f"{base}/redeliver", {"delivery_id": "nope"})
    assert owner.flash(missing).startswith("error:")  # a wrong id is not a silent no-op


def test_the_log_is_paged_newest_first(
    owner: AdminClient,
    deck: Orderdeck,
    shop: Shop,
    receiver: Receiver,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhook_pages, "PAGE", 2)
    base = receiving_page(owner, shop, receiver)
    names = []
    for _ in range(3):
        names.append(shop.order(LINE)["name"])
        work(deck)  # one delivery a minute: each its own time in the log
        clock.advance(minutes=1)
    first = owner.page(base).text
    assert [n for r in rows(first) for n in names if n in r] == [names[2], names[1]]
    older = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    second = owner.page(older).text
    assert [n for r in rows(second) for n in names if n in r] == [names[0]]
    assert 'rel="next"' not in second and f'href="{base}" rel="prev"' in second


def test_staff_without_manage_settings_are_refused(owner: AdminClient, deck: Orderdeck, api: Api) -> None:
    make_staff(deck, "clerk@shop.test", permissions=("view_orders", "manage_orders"))
    owner.post("/admin/logout")
    clerk = AdminClient(owner.client)
    assert clerk.sign_in("clerk@shop.test").status_code == 303
    clerk.page("/admin/settings/webhooks", expect=403)
    refused = clerk.post("/admin/settings/webhooks", {"topic": "orders/create", "address": "https://x.example/"})
    assert refused.status_code == 403 and hooks(api) == []
