"""Placing an order runs a fixed number of SQL statements, however many lines it has.

Measured (statements on the writer engine during one POST /orders.json, after a warm-up order
of every variant, so that the customer already exists, the token is cached and the process keeps
the variants, locations and fulfillment services (store/process_cache.py)):
  SQLite:      1 line: 13   40 lines: 13   (one of them is the BEGIN IMMEDIATE that opens the command)
  PostgreSQL:  1 line: 13   40 lines: 13   (one of them is the NOTIFY that wakes the workers)
They are: the shop row (which carries the version of what the process keeps), the customer, the
stock levels (a plain read), a savepoint, the guarded stock moves, the order number, the order
(its narrow row and its document row, migration 0027),
its status-count delta, search terms, timeline event and outbox message; on PostgreSQL the
NOTIFY that wakes the workers when it commits (store/wakeup.py). (Issue 16 took out the
variants, the locations, the variants again for the stock rules and the fulfillment services,
and added the savepoint a lost race rolls back to: 14 and 13 before. A variant the process has
not kept yet costs one more statement, for all such lines together.) The bound is the measurement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

BOUND = {"sqlite": 13, "postgres": 13}


def count_statements(deck: Any, action: Any) -> tuple[int, Any]:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append(statement)

    event.listen(deck.db.writer, "before_cursor_execute", seen)
    try:
        result = action()
    finally:
        event.remove(deck.db.writer, "before_cursor_execute", seen)
    return len(statements), result


def test_placing_an_order_takes_the_same_statements_for_1_and_40_lines(deck, api, shop, backend):
    amsterdam = shop.location("Amsterdam")
    variants = [shop.product(f"BULK-{i}", price="2.50", stock={amsterdam: 5}) for i in range(40)]
    # Warm-up: the customer now exists, and the process keeps the variants (store/process_cache.py).
    shop.order([{"variant_id": v, "quantity": 1} for v in variants])

    def place(lines: list[dict[str, Any]]) -> Any:
        return api.ok(api.post("/orders.json", {"order": {"email": "anna@example.nl", "line_items": lines}}))

    one, placed_one = count_statements(deck, lambda: place([{"variant_id": variants[1], "quantity": 1}]))
    forty, placed_forty = count_statements(deck, lambda: place([{"variant_id": v, "quantity": 1} for v in variants]))

    assert len(placed_one["order"]["line_items"]) == 1
    assert len(placed_forty["order"]["line_items"]) == 40
    assert forty == one, f"1 line: {one} statements, 40 lines: {forty}"
    assert one <= BOUND[backend], f"{one} statements, bound {BOUND[backend]}"
