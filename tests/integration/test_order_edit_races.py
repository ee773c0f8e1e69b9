"""An order edit committed while another client fulfils, refunds or edits the same order.

The clients are threads released together by a barrier, each running its command in its own
unit of work through the services (as the API, the admin and the status page do), half of them
through a second Orderdeck with its own engine and connection pool, as a second server process
would. Each race is set up so that exactly one side can win whichever goes first: the edit
takes units off a line and the other client wants those very units (ships them, refunds them).
If the other client wins, the commit is refused because the order "changed since this edit
began"; if the edit wins, the other client sees the edited order and is refused for asking
more than it has. Anything else (both through, a lock timeout, a crash) is a race.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from orderdeck.domain.errors import RuleViolation
from orderdeck.domain.fulfillment import LineRequest, TrackingInfo
from orderdeck.domain.refunds import RefundLineRequest, RefundRequest
from orderdeck.services import fulfillments, refunds
from orderdeck.services import order_edits as edits
from orderdeck.services.context import Command, Orderdeck
from orderdeck.store.tables import outbox
from tests.conftest import SELL, Shop
from tests.integration.order_steps import sale_id, stock
from tests.integration.returns_steps import run, together

# Each race runs a few times on fresh orders, so both orders of arrival are seen.
ROUNDS = 4
CHANGED = "changed since this edit began"


def refused(result: Any) -> bool:
    """The command was refused by the rules (never a database error or a crash)."""
    if isinstance(result, Exception):
        assert isinstance(result, RuleViolation), f"{type(result).__name__}: {result}"
        return True
    return False


def edit_taking_off(deck: Orderdeck, order_id: int, line_id: int, quantity: int) -> int:
    """An edit, staged and not committed, that leaves the line at `quantity` (units restocked)."""
    edit, _ = run(deck, lambda c: edits.begin(c, order_id))
    run(deck, lambda c: edits.set_quantity(c, edit.id, line_item_id=line_id, quantity=quantity, restock=True))
    return int(edit.id)


def three_mugs(shop: Shop, mug: int) -> tuple[dict[str, Any], int]:
    order = shop.order([{"variant_id": mug, "quantity": 3}], transactions=SELL)
    return order, order["line_items"][0]["id"]


def edits_of(deck: Orderdeck, order_id: int) -> list[str]:
    """The order's orders/edited webhooks and its edit events, one per committed edit."""
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(outbox.c.topic).where(outbox.c.order_id == order_id)).all()
    return [r.topic for r in rows if r.topic == "orders/edited"]


def events(shop: Shop, order_id: int, verb: str) -> int:
    found = shop.api.ok(shop.api.get(f"/orders/{order_id}/events.json?limit=250"))["events"]
    return sum(e["verb"] == verb for e in found)


def test_an_edit_committed_while_the_order_is_fulfilled_one_of_them_wins(
    decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int
) -> None:
    """The edit takes 2 of 3 mugs off; the other client ships all 3."""
    winners = Counter(edit_or_fulfilment(decks, shop, mug, amsterdam, round_) for round_ in range(ROUNDS))
    assert sum(winners.values()) == ROUNDS


def edit_or_fulfilment(decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int, round_: int) -> str:
    deck = decks[0]
    order, line = three_mugs(shop, mug)
    edit_id = edit_taking_off(deck, order["id"], line, 1)
    [fo] = shop.fulfillment_orders(order["id"])
    requests = {fo["id"]: [LineRequest(fo["line_items"][0]["id"], 3)]}
    before = stock(shop, mug, amsterdam)

    def ship(c: Command) -> Any:
        return fulfillments.create_fulfillment(
            c, requests=requests, tracking=TrackingInfo(), notify_customer=False, message=None, origin_address=None
        )

    committed, shipped = together(
        (decks[round_ % 2], lambda c: edits.commit(c, edit_id)),
        (decks[(round_ + 1) % 2], ship),
    )

    assert refused(committed) != refused(shipped), (committed, shipped)
    after = shop.get(order["id"])
    [li] = after["line_items"]
    available, committed_units, on_hand = before
    if refused(committed):
        assert CHANGED in str(committed), committed
        assert (li["current_quantity"], after["fulfillment_status"]) == (3, "fulfilled")
        assert stock(shop, mug, amsterdam) == (available, committed_units - 3, on_hand - 3)
        assert edits_of(deck, order["id"]) == []
        assert run(deck, lambda c: edits.get(c, edit_id)).status == "open"  # still there, to abandon
        return "fulfilment"
    # The fulfilment saw the edited order: one mug left to ship, not three.
    assert "only 1 left to fulfill" in str(shipped), shipped
    assert (li["quantity"], li["current_quantity"], li["fulfillable_quantity"]) == (3, 1, 1)
    assert after["fulfillments"] == []
    assert stock(shop, mug, amsterdam) == (available + 2, committed_units - 2, on_hand)
    assert edits_of(deck, order["id"]) == ["orders/edited"]
    assert Decimal(after["total_price"]) == Decimal("12.50")
    shop.fulfil(order["id"])  # what is left ships as edited
    assert shop.get(order["id"])["line_items"][0]["fulfillable_quantity"] == 0
    assert stock(shop, mug, amsterdam) == (available + 2, committed_units - 3, on_hand - 1)
    return "edit"


def test_an_edit_committed_while_the_order_is_refunded_one_of_them_wins(
    decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int
) -> None:
    """The edit takes 2 of 3 mugs off; the other client refunds all 3 with their money."""
    winners = Counter(edit_or_refund(decks, shop, mug, amsterdam, round_) for round_ in range(ROUNDS))
    assert sum(winners.values()) == ROUNDS


def edit_or_refund(decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int, round_: int) -> str:
    deck = decks[0]
    order, line = three_mugs(shop, mug)
    edit_id = edit_taking_off(deck, order["id"], line, 1)
    parent = sale_id(shop.api, order["id"])
    request = RefundRequest(lines=[RefundLineRequest(line, 3, "cancel", amsterdam)])
    money = [refunds.RefundMoney(parent_id=parent, amount="37.50")]
    before = stock(shop, mug, amsterdam)

    committed, refunded = together(
        (decks[round_ % 2], lambda c: edits.commit(c, edit_id)),
        (
            decks[(round_ + 1) % 2],
            lambda c: refunds.create(c, order["id"], request, money=money, currency=None, notify=False),
        ),
    )

    assert refused(committed) != refused(refunded), (committed, refunded)
    after = shop.get(order["id"])
    [li] = after["line_items"]
    available, committed_units, on_hand = before
    # Either way every mug came back to the shelf: two by the edit or three by the refund.
    if refused(committed):
        assert CHANGED in str(committed), committed
        assert (li["current_quantity"], li["fulfillable_quantity"]) == (0, 0)
        assert after["financial_status"] == "refunded"
        assert stock(shop, mug, amsterdam) == (available + 3, committed_units - 3, on_hand)
        assert edits_of(deck, order["id"]) == []
        return "refund"
    assert "only 1 can still be refunded" in str(refunded), refunded
    assert (li["current_quantity"], li["fulfillable_quantity"]) == (1, 1)
    assert after["refunds"] == []
    assert after["financial_status"] == "paid"
    assert stock(shop, mug, amsterdam) == (available + 2, committed_units - 2, on_hand)
    # The refund now offered is the edit's difference, and a refund of what is left works.
    assert Decimal(after["total_price"]) == Decimal("12.50")
    assert Decimal(after["total_outstanding"]) == 0
    one = RefundRequest(lines=[RefundLineRequest(line, 1, "cancel", amsterdam)])
    back = [refunds.RefundMoney(parent_id=parent, amount="37.50")]
    run(deck, lambda c: refunds.create(c, order["id"], one, money=back, currency=None, notify=False))
    final = shop.get(order["id"])
    assert (final["financial_status"], final["total_outstanding"]) == ("refunded", "0.00")
    assert final["line_items"][0]["current_quantity"] == 0
    return "edit"


def test_two_edits_of_one_order_committed_at_once_one_wins(
    decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int
) -> None:
    """Two members of staff edit the same order and commit together: the second commit sees
    the order changed since its edit began."""
    deck = decks[0]
    order, line = three_mugs(shop, mug)
    first = edit_taking_off(deck, order["id"], line, 1)
    second = edit_taking_off(deck, order["id"], line, 2)

    results = together((decks[0], lambda c: edits.commit(c, first)), (decks[1], lambda c: edits.commit(c, second)))

    assert sum(not refused(r) for r in results) == 1, results
    assert all(CHANGED in str(r) for r in results if refused(r)), results
    won = 1 if not refused(results[0]) else 2
    assert shop.get(order["id"])["line_items"][0]["current_quantity"] == won
    assert stock(shop, mug, amsterdam)[1] == won
    assert edits_of(deck, order["id"]) == ["orders/edited"]


COMMITTERS = 10


def test_ten_clients_committing_one_edit_commit_it_once(
    decks: list[Orderdeck], shop: Shop, mug: int, amsterdam: int
) -> None:
    """The same edit committed by ten clients at once (a double click, a retry, two tabs): the
    order is edited once, its stock moved once, one orders/edited webhook."""
    deck = decks[0]
    jug = shop.product("JUG-EDIT", price="20.00", stock={amsterdam: 5}, title="Jug")
    order, line = three_mugs(shop, mug)
    edit_id = edit_taking_off(deck, order["id"], line, 2)
    run(deck, lambda c: edits.add_variant(c, edit_id, variant_id=jug, quantity=2))
    mugs = stock(shop, mug, amsterdam)

    results = together(*[(decks[i % 2], lambda c: edits.commit(c, edit_id)) for i in range(COMMITTERS)])

    failures = [r for r in results if refused(r)]
    assert len(failures) == COMMITTERS - 1, f"{COMMITTERS - len(failures)} clients committed"
    assert all("already committed" in str(r) for r in failures), {str(r) for r in failures}
    after = shop.get(order["id"])
    assert [(li["variant_id"], li["current_quantity"]) for li in after["line_items"]] == [(mug, 2), (jug, 2)]
    assert Decimal(after["total_price"]) == Decimal("65.00")
    assert Decimal(after["total_outstanding"]) == Decimal("27.50")  # 65.00 less the 37.50 paid
    assert stock(shop, jug, amsterdam) == (3, 2, 5)
    assert stock(shop, mug, amsterdam) == (mugs[0] + 1, mugs[1] - 1, mugs[2])
    assert edits_of(deck, order["id"]) == ["orders/edited"]
    assert events(shop, order["id"], "order_edited") == 1
    assert run(deck, lambda c: edits.get(c, edit_id)).status == "committed"
