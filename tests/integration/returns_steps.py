"""Steps the return tests share: a paid, shipped order, and running return commands as a
member of staff through the services (the API, admin and status page call the same ones)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from orderdeck.domain.order import Author
from orderdeck.services.context import Command, Orderdeck
from tests.conftest import Shop

T = TypeVar("T")
STAFF = Author(kind="staff", name="Sanne", ref="1")


def run(deck: Orderdeck, work: Callable[[Command], T], author: Author = STAFF) -> T:
    """One command in its own transaction, as every caller runs it."""
    with deck.unit_of_work() as uow:
        result = work(Command(deck, uow, author))
        uow.commit()
        return result


def together(*clients: tuple[Orderdeck, Callable[[Command], Any]]) -> list[Any]:
    """Run each client's command in its own thread (and transaction), released together; each
    result is what the command returned or the exception it raised."""
    barrier = threading.Barrier(len(clients))
    results: list[Any] = [None] * len(clients)

    def client(index: int) -> None:
        deck, work = clients[index]
        barrier.wait()
        try:
            results[index] = run(deck, work)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)  # a guard against a deadlock hanging the suite, not a speed check
    assert not any(t.is_alive() for t in threads), "a client never finished"
    return results


def shipped_order(shop: Shop, variant: int, quantity: int = 2, **fields: Any) -> dict[str, Any]:
    """A paid order of `quantity` units of the variant, fulfilled; returns the order JSON."""
    order = shop.order(
        [{"variant_id": variant, "quantity": quantity}],
        transactions=[{"kind": "sale", "status": "success"}],
        **fields,
    )
    shop.fulfil(order["id"])
    return shop.get(order["id"])


def fulfillment_line_ids(deck: Orderdeck, order_id: int) -> list[int]:
    with deck.unit_of_work(read_only=True) as uow:
        order = uow.orders.get(order_id, for_update=False)
    return [fl.id for f in order.fulfillments if f.is_active for fl in f.line_items]
