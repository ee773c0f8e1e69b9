"""Staff e-mail through a real SMTP server (aiosmtpd) on 127.0.0.1: the jobs' alerts and rules'
`email_staff` arrive; with the server down they wait and go out later, none lost."""

from __future__ import annotations

import asyncio

from aiosmtpd.controller import Controller

from orderdeck.outbox import scheduler
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck

from ..conftest import Api, Clock, Shop
from .conftest import Inbox

LINE = [{"title": "Mug", "price": "12.50", "quantity": 2}]


def work(app: Orderdeck) -> None:
    asyncio.run(Worker(app, run_jobs=False).drain())


def test_a_stuck_order_alert_reaches_the_staff_address(
    mailing: Orderdeck, inbox: Inbox, shop: Shop, clock: Clock
) -> None:
    shop.location()
    shop.settings(stuck_after_days=2, staff_email="ops@shop.test")
    order = shop.order(LINE)
    clock.advance(days=3)
    scheduler.run_now(mailing, "stuck-orders", "test")
    work(mailing)
    [mail] = inbox.messages
    assert mail["To"] == "ops@shop.test" and mail["From"] == "orders@shop.test"
    assert mail["Subject"] == f"[Orderdeck demo shop] {order['name']} is stuck: not fulfilled in time"
    assert mail["X-Orderdeck-Order-Id"] == str(order["id"])
    assert "still not fulfilled 2 day(s) after it was placed" in mail.get_payload()
    work(mailing)
    assert len(inbox.messages) == 1  # sent once


def test_a_rules_email_staff_action_sends_its_subject_and_message(
    mailing: Orderdeck, inbox: Inbox, api: Api, shop: Shop
) -> None:
    shop.location()
    shop.settings(staff_email="ops@shop.test")
    rule = {
        "name": "Tell ops about POS orders",
        "enabled": True,
        "when": {"event": "orders/create"},
        "then": [{"action": "email_staff", "subject": "New order to pack", "message": "Pack it today."}],
    }
    api.ok(api.post("/automation_rules.json", {"automation_rule": rule}))
    order = shop.order(LINE)
    work(mailing)
    [mail] = inbox.messages
    assert mail["Subject"] == "[Orderdeck demo shop] New order to pack"
    assert "Pack it today." in mail.get_payload() and order["name"] in mail.get_payload()


def test_with_the_mail_server_down_alerts_wait_and_go_out_later(
    mailing: Orderdeck, smtp_port: int, api: Api, shop: Shop, clock: Clock
) -> None:
    shop.location()
    shop.settings(stuck_after_days=1, staff_email="ops@shop.test")
    shop.order(LINE)
    shop.order(LINE)
    clock.advance(days=2)
    scheduler.run_now(mailing, "stuck-orders", "test")
    work(mailing)  # nothing listens on the port: both put off
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        work(mailing)
        assert box.messages == []  # not due again yet
        clock.advance(minutes=2)
        work(mailing)
        assert len(box.messages) == 2
    finally:
        controller.stop()
    metrics = api.client.get("/metrics").text
    assert 'orderdeck_outbox_pending{kind="staff_alert"}' not in metrics


def test_without_smtp_settings_alerts_wait_in_the_outbox(deck: Orderdeck, api: Api, shop: Shop, clock: Clock) -> None:
    shop.location()
    shop.settings(stuck_after_days=1)
    shop.order(LINE)
    clock.advance(days=2)
    scheduler.run_now(deck, "stuck-orders", "test")
    work(deck)
    assert 'orderdeck_outbox_pending{kind="staff_alert"} 1.0' in api.client.get("/metrics").text


def test_a_staff_email_setting_must_be_an_address(api: Api) -> None:
    answer = api.put("/shop/settings.json", {"settings": {"staff_email": "not an address"}})
    assert answer.status_code == 422 and "staff_email" in answer.json()["errors"]
