"""What Orderdeck sends on its users' behalf (webhooks, rules' http_request, the shop's own mail
server) reaches only public addresses, unless ORDERDECK_ALLOW_PRIVATE_ADDRESSES allows more;
checked when saved where the address shows it, and always on the resolved address on connecting.
A rule's http_request has a deadline and holds up neither the relay (webhooks) nor e-mail."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from orderdeck.automation import actions
from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck

from ..conftest import Api, Shop, app_for, make_token
from .conftest import Inbox
from .test_webhooks import LINE, Receiver, deliveries, free_port, receiver, subscribe

PRIVATE_SPELLINGS = [
    "127.0.0.1",
    "2130706433",
    "0x7f.1",
    "0177.0.0.1",
    "[::ffff:127.0.0.1]",
    "[::1]",
    "localhost",
    "169.254.169.254",
    "10.0.0.5",
    "192.168.1.1",
]
__all__ = ["receiver"]  # the receiver fixture, used here as in test_webhooks
PAID = [{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}]
REBOUND = "hooks.example.com"  # a public-looking name whose DNS answers 127.0.0.1


@pytest.fixture(autouse=True)
def location(shop: Shop) -> int:
    return shop.location()


def strict(deck: Orderdeck) -> Orderdeck:
    """The same Orderdeck with ORDERDECK_ALLOW_PRIVATE_ADDRESSES unset: the default."""
    return dataclasses.replace(deck, settings=dataclasses.replace(deck.settings, allow_private_addresses=""))


@pytest.fixture
def strict_api(deck: Orderdeck) -> Iterator[Api]:
    """An API client of the strict Orderdeck (the shared app serves one Orderdeck at a time)."""
    guarded = strict(deck)
    with TestClient(app_for(guarded), raise_server_exceptions=False) as client:
        yield Api(client, make_token(guarded))


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> None:
    """REBOUND resolves to 127.0.0.1 when Orderdeck connects, as a name its owner points at
    a private address after it was saved would."""
    real = anyio.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> Any:
        if host == REBOUND:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return await real(host, port, **kwargs)

    monkeypatch.setattr(anyio, "getaddrinfo", getaddrinfo)


def work(deck: Orderdeck) -> None:
    asyncio.run(Worker(deck, run_jobs=False).drain())


def errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 422, f"{response.status_code}: {response.text}"
    return response.json()["errors"]  # type: ignore[no-any-return]


# ---- webhooks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", PRIVATE_SPELLINGS)
def test_webhook_to_a_private_address_is_refused_when_saved(strict_api: Api, host: str) -> None:
    answer = strict_api.post(
        "/webhooks.json", {"webhook": {"topic": "orders/create", "address": f"http://{host}:5432/"}}
    )
    [message] = errors(answer)["address"]
    assert "is not a public address" in message and "ORDERDECK_ALLOW_PRIVATE_ADDRESSES" in message


def test_webhook_whose_name_resolves_to_loopback_is_refused_on_connecting_whether_the_port_is_open_or_not(
    deck: Orderdeck, strict_api: Api, shop: Shop, receiver: Receiver, rebinding: None
) -> None:
    open_port, closed_port = receiver.port, free_port()
    hooks = [subscribe(strict_api, f"http://{REBOUND}:{port}/hooks")["id"] for port in (open_port, closed_port)]
    shop.order(LINE)
    work(strict(deck))
    assert receiver.got == []
    found = [deliveries(strict_api, hook) for hook in hooks]
    assert [[d["state"] for d in listed] for listed in found] == [["failed"], ["failed"]]  # not retried
    opened, closed = (listed[0]["last_error"] for listed in found)
    assert opened == closed  # nothing tells an open port from a closed one
    assert f"{REBOUND} is not a public address" in opened


def test_delivery_to_an_address_saved_while_allowed_is_refused_once_no_longer_allowed(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver
) -> None:
    hook = subscribe(api, receiver.url)["id"]  # the tests' Orderdeck allows 127.0.0.1
    shop.order(LINE)
    work(strict(deck))
    assert receiver.got == []
    [delivery] = deliveries(api, hook)
    assert delivery["state"] == "failed" and "127.0.0.1 is not a public address" in delivery["last_error"]


@pytest.mark.parametrize("host", ["127.0.0.1", "0x7f.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "localhost"])
def test_a_stored_webhook_to_the_receivers_address_in_any_spelling_is_refused_on_connecting(
    deck: Orderdeck, api: Api, shop: Shop, receiver: Receiver, host: str
) -> None:
    """Stored before the check on saving existed (or restored from elsewhere): the sender refuses
    it itself, whether its HTTP client resolves the host (names, odd spellings) or not (addresses)."""
    from orderdeck.store.webhooks import Subscriptions

    with deck.unit_of_work() as uow:
        hook = Subscriptions(uow.conn).add(
            "orders/create", f"http://{host}:{receiver.port}/hooks", None, "2024-10", uow.now
        )
        uow.commit()
    shop.order(LINE)
    work(strict(deck))
    assert receiver.got == []
    [delivery] = deliveries(api, hook.id)
    assert delivery["state"] == "failed" and "is not a public address" in delivery["last_error"]


@pytest.mark.parametrize("allowed", ["127.0.0.1", "127.0.0.0/8", "hooks.example.com"])
def test_the_operator_allows_receivers_on_their_own_network(
    deck: Orderdeck, shop: Shop, receiver: Receiver, rebinding: None, allowed: str
) -> None:
    own = dataclasses.replace(deck, settings=dataclasses.replace(deck.settings, allow_private_addresses=allowed))
    with TestClient(app_for(own), raise_server_exceptions=False) as client:
        api = Api(client, make_token(own))
        hook = subscribe(api, f"http://{REBOUND}:{receiver.port}/hooks")["id"]
        Shop(api).order(LINE)
        work(own)
        assert [d["state"] for d in deliveries(api, hook)] == ["delivered"]
    assert len(receiver.got) == 1


# ---- rules' http_request ---------------------------------------------------------------------


def rule_calling(url: str, event: str = "orders/create") -> dict[str, Any]:
    return {
        "name": "Tell the ERP",
        "enabled": True,
        "when": {"event": event},
        "then": [{"action": "http_request", "url": url}],
    }


@pytest.mark.parametrize("host", ["127.0.0.1", "0x7f.1", "[::ffff:127.0.0.1]", "169.254.169.254"])
def test_rule_calling_a_private_address_is_refused_when_saved(strict_api: Api, host: str) -> None:
    answer = strict_api.post("/automation_rules.json", {"automation_rule": rule_calling(f"http://{host}/latest/")})
    [message] = errors(answer)["then[0].url"]
    assert "is not a public address" in message


def test_rule_calling_a_name_that_resolves_to_loopback_fails_without_connecting(
    deck: Orderdeck, strict_api: Api, shop: Shop, receiver: Receiver, rebinding: None
) -> None:
    rule = strict_api.ok(
        strict_api.post(
            "/automation_rules.json", {"automation_rule": rule_calling(f"http://{REBOUND}:{receiver.port}/")}
        )
    )["automation_rule"]
    shop.order(LINE)
    work(strict(deck))
    assert receiver.got == []
    [run] = strict_api.ok(strict_api.get(f"/automation_rules/{rule['id']}/runs.json"))["runs"]
    assert run["state"] == "failed" and "was not contacted" in run["error"] and "not a public address" in run["error"]


class Trickler:
    """An HTTP server that answers one byte of its head at a time, a byte every `pause` seconds,
    for at most `lasting` seconds: without a deadline it holds its caller all that while."""

    def __init__(self, pause: float = 0.5, lasting: float = 12.0) -> None:
        self.pause, self.lasting = pause, lasting
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connected = threading.Event()
        self.open = 0  # connections being trickled to now
        self.stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/erp"

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        with self.listener:
            while not self.stopping.is_set():
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        self.open += 1
        self.connected.set()
        head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"." * 1000
        try:
            with conn:
                until = time.monotonic() + self.lasting
                for byte in head:
                    if time.monotonic() > until or self.stopping.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(self.pause)
        except OSError:
            pass  # the caller gave up and closed
        finally:
            self.open -= 1

    def stop(self) -> None:
        self.stopping.set()


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    server = Trickler()
    yield server
    server.stop()


def test_http_request_to_a_trickling_receiver_stops_at_the_deadline(
    deck: Orderdeck, api: Api, shop: Shop, trickler: Trickler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions, "HTTP_DEADLINE", 1.0)
    rule = api.ok(api.post("/automation_rules.json", {"automation_rule": rule_calling(trickler.url)}))[
        "automation_rule"
    ]
    shop.order(LINE)
    work(deck)
    [run] = api.ok(api.get(f"/automation_rules/{rule['id']}/runs.json"))["runs"]
    assert run["state"] == "failed" and "did not answer within 1 s" in run["error"]


def test_a_slow_rule_call_holds_up_neither_webhooks_nor_e_mail(
    mailing: Orderdeck, api: Api, shop: Shop, receiver: Receiver, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rule's call is trickled to until the test ends it: whatever went out meanwhile did not
    # wait for it (in one loop with the relay, no webhook or mail could go before it ended).
    monkeypatch.setattr(actions, "HTTP_DEADLINE", 300.0)
    trickler = Trickler(lasting=300.0)
    api.ok(api.post("/automation_rules.json", {"automation_rule": rule_calling(trickler.url, "orders/paid")}))
    subscribe(api, receiver.url)
    seen: list[tuple[int, int, bool]] = []

    async def scenario() -> None:
        worker = Worker(mailing, run_jobs=False, idle_wait=0.05)
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.to_thread(shop.order, LINE, transactions=PAID)
            assert await asyncio.to_thread(trickler.connected.wait, 60), "the rule's call never came"
            await asyncio.to_thread(shop.order, LINE, send_receipt=True)  # its webhook and receipt: now
            for _ in range(3000):
                if len(receiver.got) >= 2 and inbox.messages:
                    break
                await asyncio.sleep(0.02)
            seen.append((len(receiver.got), len(inbox.messages), trickler.open == 1))
        finally:
            trickler.stop()  # the rule's call ends (its run fails), so the worker can stop
            worker.stop()
            await task

    asyncio.run(scenario())
    webhooks, mails, still_trickling = seen[0]
    assert still_trickling  # (the trickle had not ended by itself)
    assert webhooks == 2 and mails == 1  # both went out while the rule's call was still waiting


# ---- the shop's own mail server -----------------------------------------------------------------


def test_shop_mail_server_on_a_private_address_is_refused_when_saved(strict_api: Api, smtp_port: int) -> None:
    answer = strict_api.put("/shop/settings.json", {"settings": {"smtp_url": f"smtp://127.0.0.1:{smtp_port}"}})
    [message] = errors(answer)["smtp_url"]
    assert "127.0.0.1 is not a public address" in message


def test_shop_mail_server_no_longer_allowed_is_not_contacted(
    deck: Orderdeck, api: Api, shop: Shop, inbox: Inbox, smtp_port: int
) -> None:
    shop.settings(smtp_url=f"smtp://127.0.0.1:{smtp_port}?from=hi@shop.test")  # allowed when saved
    order = shop.order(LINE, send_receipt=True)
    work(strict(deck))
    assert inbox.messages == []
    events = api.ok(api.get(f"/orders/{order['id']}/events.json", params={"verb": "notification_failed"}))["events"]
    [failed] = events
    assert "not contacted" in failed["message"] and "127.0.0.1 is not a public address" in failed["message"]


def test_the_operators_own_mail_server_is_trusted(mailing: Orderdeck, shop: Shop, inbox: Inbox) -> None:
    shop.order(LINE, send_receipt=True)
    work(strict(mailing))  # ORDERDECK_SMTP_URL on 127.0.0.1, nothing allowed: still used
    assert len(inbox.messages) == 1
