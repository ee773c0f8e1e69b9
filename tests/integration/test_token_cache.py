"""A token revoked by one server process is refused by every other within the cache's time."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from orderdeck.api import auth
from orderdeck.api.app import create_app
from orderdeck.services.context import Orderdeck

from ..conftest import BASE, make_token


def test_another_process_refuses_a_revoked_token_once_its_cache_entry_is_old(
    deck: Orderdeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    secret = make_token(deck, ["read_orders"])
    headers = {"X-Shopify-Access-Token": secret}
    with TestClient(create_app(deck)) as other_process:
        assert other_process.get(BASE + "/orders/count.json", headers=headers).status_code == 200
        with deck.unit_of_work() as uow:  # revoked elsewhere (the CLI, another server)
            token_id = uow.tokens.authenticate(secret).id  # type: ignore[union-attr]
            uow.tokens.revoke(token_id, uow.now)
            uow.commit()
        now[0] += auth.TokenCache.TTL - 1
        assert other_process.get(BASE + "/orders/count.json", headers=headers).status_code == 200  # cached
        now[0] += 2
        assert other_process.get(BASE + "/orders/count.json", headers=headers).status_code == 401
