"""Fixtures of the integration tests that need a mail server: a real SMTP server (aiosmtpd) on
127.0.0.1 and an Orderdeck that sends through it; and the Amsterdam location with a mug stocked
there that the order-model tests share (a test module's own `amsterdam` or `mug` takes precedence);
a fulfillment service's endpoints on 127.0.0.1 and its Jupiter service (tests/integration/service_steps.py)."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from orderdeck.bootstrap import build
from orderdeck.services.context import Orderdeck
from orderdeck.settings import Settings
from tests.conftest import Api, Shop
from tests.integration.service_steps import Service, create_service


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls it by this name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def mailing(deck: Orderdeck, smtp_port: int) -> Orderdeck:
    url = f"smtp://127.0.0.1:{smtp_port}?from=orders@shop.test"
    return dataclasses.replace(deck, settings=dataclasses.replace(deck.settings, smtp_url=url))


@pytest.fixture
def amsterdam(shop: Shop) -> int:
    return shop.location("Amsterdam")


@pytest.fixture
def mug(shop: Shop, amsterdam: int) -> int:
    """50 mugs at 12.50 in Amsterdam."""
    return shop.product("MUG-1", price="12.50", stock={amsterdam: 50}, title="Delft mug")


@pytest.fixture
def service() -> Iterator[Service]:
    """A fulfillment service's callback endpoints, on 127.0.0.1 (service_steps.Service)."""
    s = Service().start()
    yield s
    s.stop()


@pytest.fixture
def jupiter(api: Api, service: Service) -> dict[str, Any]:
    """The Jupiter Fulfillment service, created by the merchant's token, calling `service` back."""
    return create_service(api, "Jupiter Fulfillment", service.url)


@pytest.fixture
def decks(deck: Orderdeck) -> Iterator[list[Orderdeck]]:
    """The test's Orderdeck and a second one over the same database (two servers' worth of
    connections, for races)."""
    other = build(Settings(database_url=deck.db.url, public_url="http://shop.test"), clock=deck.clock)
    yield [deck, other]
    other.db.dispose()
