"""The messages a bulk change holds until its orders are rendered afresh.

Bulk archive, unarchive and tagging (services/bulk_set.py) change the orders inside the
database (the fields they set laid over each document, store/bulk_updates.py), where nothing can
render an order. Their `orders/updated` webhooks must carry the order
as the change left it, and their automation messages must not start rules on an order whose
webhook has not gone yet; so both are written held (store/bulk_updates.py) and let go here, each
exactly once, in one of two ways:

- in the background (`release_due`, from the worker's bulk loop and `orderdeck rerender`): each
  order with held messages is locked, rendered, its rendering stored (with its document, the
  overlay the change left folded in), its webhook's payload filled in with that rendering and
  both messages released, a batch of orders a transaction;
- by the next command on such an order, if it comes first (`release_loaded`, from
  services/changes.load_order): the order as it was loaded is still the order as the bulk change
  left it; it is rendered and the messages released in that command's transaction, before the
  command changes anything.

A held message is due, once released, from when it was written, so it goes out where a
one-by-one change would have put it, ahead of anything that changed the order later. A worker
stopped half-way leaves the rest held, and the next pass takes them up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson

from ..domain.order import Order
from ..resources import render
from ..store import bulk_updates
from ..store.codec import BadDocument, decode_order, encode_order
from .context import Command, Orderdeck

log = logging.getLogger("orderdeck.bulk")

BATCH = 500  # orders rendered and released a transaction


def release_loaded(cmd: Command, order: Order) -> None:
    """Release what a bulk change held for this order, rendered as loaded (before any change)."""
    found = bulk_updates.held(cmd.uow.conn, bulk_updates.held_ids(order.id, order.version))
    if not found:
        return
    rendered = orjson.dumps(render.order(order, cmd.app.render_context(cmd.uow))).decode()
    bulk_updates.release(
        cmd.uow.conn,
        {h.id: rendered for h in found if h.kind == "webhook"},
        [h.id for h in found if h.kind != "webhook"],
    )


def release_due(app: Orderdeck, should_stop: Callable[[], bool] = lambda: False, *, batch: int = BATCH) -> int:
    """Render every order a bulk change left with held messages, store the rendering and let the
    messages go. Returns how many orders' messages it released."""
    # A read first: the worker asks every 0.2 s and almost always finds none, and a read takes
    # no write lock (on SQLite, the one writer that claims and records webhooks too).
    with app.unit_of_work(read_only=True) as uow:
        if not bulk_updates.held_webhooks(uow.conn, 1):
            return 0
    released = 0
    while not should_stop():
        with app.unit_of_work() as uow:
            conn = uow.conn
            waiting = bulk_updates.held_webhooks(conn, batch)
            if not waiting:
                break
            order_ids = sorted({h.order_id for h in waiting if h.order_id is not None})
            # Lock first, then look again: a command that took one of these orders meanwhile has
            # released its messages already (it rendered the order before changing it).
            docs = bulk_updates.documents(conn, order_ids, lock=True)
            still = bulk_updates.held(conn, [h.id for h in waiting] + [bulk_updates.partner_of(h.id) for h in waiting])
            held_by_id = {h.id: h for h in still}
            ctx = app.render_context(uow)
            payloads: dict[str, str] = {}
            others: list[str] = []
            gone: list[str] = []
            fresh: list[bulk_updates.Fresh] = []
            for webhook in (h for h in waiting if h.id in held_by_id):
                partner = bulk_updates.partner_of(webhook.id)
                partners = [partner] if partner in held_by_id else []
                stored = docs.get(webhook.order_id) if webhook.order_id is not None else None
                if stored is None:
                    gone += [webhook.id, *partners]  # the order was deleted: nothing to render
                    continue
                version, document, overlay = stored
                if webhook.id != bulk_updates.held_ids(webhook.order_id, version)[0]:  # type: ignore[arg-type]
                    # Changed since without releasing (a path that bypasses load_order): the
                    # order as it is now is the nearest rendering there is.
                    log.warning("order %s changed before its held messages were released", webhook.order_id)
                try:
                    order = decode_order(document, overlay)
                except BadDocument:
                    log.exception("order %s no longer loads: its held messages are dropped", webhook.order_id)
                    gone += [webhook.id, *partners]
                    continue
                rendered = orjson.dumps(render.order(order, ctx)).decode()
                # Stored whole, the overlay folded in: the rendering is current again.
                whole = encode_order(order) if overlay is not None else None
                fresh.append(bulk_updates.Fresh(order.id, version, rendered, whole))
                payloads[webhook.id] = rendered
                others += partners
            bulk_updates.store_renderings(conn, fresh, ctx.fingerprint)
            bulk_updates.release(conn, payloads, others)
            bulk_updates.drop(conn, gone, uow.now)
            uow.commit()
        released += len(waiting)
    return released
