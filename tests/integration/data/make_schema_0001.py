"""Makes schema_0001.json: a shop as the release with schema 0001 (commit 34a780e) stored it.

Not a test. Run it with that release's code first on the path, from a checkout of this repository:

    mkdir /tmp/od0001 && git archive 34a780e | tar -x -C /tmp/od0001
    PYTHONPATH=/tmp/od0001/src .venv/bin/python tests/integration/data/make_schema_0001.py \
        /tmp/od0001.db tests/integration/data/schema_0001.json

It places six orders through that version's own API (pending; paid and fulfilled with tracking;
authorized with tags and only a billing name; cancelled; partly fulfilled with only a shipping
name; archived) and writes every row but the outbox's, API tokens' and idempotency keys'.
"""

from __future__ import annotations

import datetime
import decimal
import json
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

import orderdeck
from orderdeck.api.app import create_app
from orderdeck.bootstrap import build
from orderdeck.settings import Settings
from orderdeck.store.access import SCOPES, parse_scopes
from orderdeck.store.migrate import migrate
from orderdeck.store.tables import metadata

BASE = "/admin/api/2024-10"
AUTH = [{"kind": "authorization", "gateway": "bogus", "credit_card": {"number": "1"}}]
SALE = [{"kind": "sale", "gateway": "bogus", "credit_card": {"number": "1"}}]
LEFT_OUT = ("outbox", "api_tokens", "idempotency_keys")


def plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def main(db_path: Path, out: Path) -> None:
    assert "od0001" in str(orderdeck.__file__), f"not the 0001 release's code: {orderdeck.__file__}"
    db_path.unlink(missing_ok=True)
    deck = build(Settings(database_url=f"sqlite:///{db_path}", public_url="http://shop.test"))
    migrate(deck.db, shop_name="Studio Vaas")  # type: ignore[call-arg]  (that version's signature)
    with deck.unit_of_work() as uow:
        _, secret = uow.tokens.create("gen", parse_scopes(list(SCOPES)), uow.now)
        uow.commit()
    client = TestClient(create_app(deck), raise_server_exceptions=True)
    headers = {"X-Shopify-Access-Token": secret}

    def call(method: str, path: str, body: Any = None) -> Any:
        response = client.request(method, BASE + path, json=body, headers=headers)
        assert response.status_code < 300, response.text
        return response.json()

    loc = call("POST", "/locations.json", {"location": {"name": "Amsterdam"}})["location"]["id"]

    def product(sku: str, price: str) -> int:
        variant = {"sku": sku, "price": price, "inventory_quantities": {str(loc): 50}}
        body = {"product": {"title": f"Vase {sku}", "variants": [variant]}}
        return int(call("POST", "/products.json", body)["product"]["variants"][0]["id"])

    blue, red = product("VASE-BLUE", "25.00"), product("VASE-RED", "40.00")

    def order(**fields: Any) -> Any:
        body = {"order": {"line_items": [{"variant_id": blue, "quantity": 1}], **fields}}
        return call("POST", "/orders.json", body)["order"]

    def fulfil(order_id: int, lines: list[dict[str, int]] | None = None, tracking: str | None = None) -> None:
        fo = call("GET", f"/orders/{order_id}/fulfillment_orders.json")["fulfillment_orders"][0]
        group: dict[str, Any] = {"fulfillment_order_id": fo["id"]}
        if lines is not None:
            group["fulfillment_order_line_items"] = [{"id": fo["line_items"][0]["id"], "quantity": 1}]
        body: dict[str, Any] = {"line_items_by_fulfillment_order": [group]}
        if tracking:
            body["tracking_info"] = {"number": tracking}
        call("POST", "/fulfillments.json", {"fulfillment": body})

    def customer(first: str, last: str) -> dict[str, str]:
        return {"first_name": first, "last_name": last, "email": f"{first.lower()}@example.nl"}

    order(email="anna@example.nl", customer=customer("Anna", "Jansen"), financial_status="pending")
    paid = order(
        email="bram@example.nl",
        customer=customer("Bram", "de Vries"),
        transactions=SALE,
        line_items=[{"variant_id": red, "quantity": 2}],
    )
    fulfil(paid["id"], tracking="3SABC1234567")
    billing = {"first_name": "Chris", "last_name": "Peters", "address1": "Dam 1", "city": "Amsterdam"}
    order(email="chris@example.nl", billing_address={**billing, "zip": "1012 JS", "country_code": "NL"},
          transactions=AUTH, tags="vip, wholesale")  # fmt: skip
    cancelled = order(email="dana@example.nl", customer=customer("Dana", "Smit"), transactions=AUTH)
    call("POST", f"/orders/{cancelled['id']}/cancel.json", {"reason": "customer", "restock": True})
    shipping = {"first_name": "Eva", "last_name": "Bakker", "address1": "Coolsingel 5", "city": "Rotterdam"}
    partial = order(
        email="eva@example.nl",
        shipping_address={**shipping, "zip": "3011 AD", "country_code": "NL"},
        transactions=SALE,
        line_items=[{"variant_id": blue, "quantity": 1}, {"variant_id": red, "quantity": 1}],
    )
    fulfil(partial["id"], lines=[])
    archived = order(email="anna@example.nl", customer=customer("Anna", "Jansen"), transactions=SALE)
    call("POST", f"/orders/{archived['id']}/close.json")

    tables: dict[str, list[dict[str, Any]]] = {}
    with deck.db.reader.connect() as conn:
        for table in metadata.sorted_tables:
            rows = [{k: plain(v) for k, v in r._mapping.items()} for r in conn.execute(select(table))]
            if rows and table.name not in LEFT_OUT:
                tables[table.name] = rows
    shown = [call("GET", f"/orders/{n}.json")["order"] for n in range(1001, 1007)]
    result = {
        "revision": "0001",
        "made_by": "Orderdeck at commit 34a780e (schema 0001) through its own API",
        "statuses": {o["name"]: [o["financial_status"], o["fulfillment_status"]] for o in shown},
        "tables": tables,
    }
    out.write_text(json.dumps(result, indent=1, sort_keys=True))
    print({k: len(v) for k, v in tables.items()})


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
