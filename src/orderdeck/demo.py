"""A demo shop: three locations, a catalogue with stock, customers and orders in every status.

Orders are made by the same domain code the API runs (placement, payments, fulfillment,
refunds, cancellation, archiving), so every status is one the engine itself derived. Batches of
them are made in worker processes (one per core) and written a batch a transaction, so a
million orders load in minutes; they are history, so no webhooks or notifications go out for
them (the outbox stays empty).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import secrets
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import insert, select, update

from .domain import cancellation, lifecycle, payments, refunds
from .domain import fulfillment as shipping
from .domain.errors import OrderError
from .domain.fulfillment import LineRequest, TrackingInfo
from .domain.inventory import Inventory, InventoryLevel
from .domain.order import Address, Author, CustomerSnapshot, DomainEvent, Order, ReturnTracking, TaxLine
from .domain.placement import DraftLine, DraftShippingLine, OrderDraft, build_order
from .domain.statuses import derive_statuses, open_authorizations
from .resources import render
from .services.context import Orderdeck
from .store import counts
from .store.database import Database
from .store.orders import _row, document_row, search_terms
from .store.returns import fulfilled_by_line, fulfilled_rows
from .store.shipments import shipment_rows
from .store.shop import create_shop, has_shop
from .store.tables import (
    customers,
    fulfilled_units,
    order_documents,
    order_search_terms,
    orders,
    shipments,
    shop,
    timeline_events,
)
from .store.timeline import event_rows
from .store.uow import UnitOfWork
from .tracking import complete_tracking

# Real addresses (well-known buildings), so each street, postcode, province and country belong
# together: (address1, zip, city, province, province_code, country_code). Shopify asks for a
# province only in some countries (Italy's and Spain's here).
ADDRESSES = [
    ("Prinsengracht 263", "1016 GV", "Amsterdam", None, None, "NL"),
    ("Keizersgracht 123", "1015 CJ", "Amsterdam", None, None, "NL"),
    ("Coolsingel 40", "3011 AD", "Rotterdam", None, None, "NL"),
    ("Unter den Linden 77", "10117", "Berlin", None, None, "DE"),
    ("Marienplatz 8", "80331", "München", None, None, "DE"),
    ("Aleksanterinkatu 52", "00100", "Helsinki", None, None, "FI"),
    ("Grote Markt 1", "2000", "Antwerpen", None, None, "BE"),
    ("Stephansplatz 1", "1010", "Wien", None, None, "AT"),
    ("Piazza del Duomo 1", "20122", "Milano", "Milano", "MI", "IT"),
    ("Puerta del Sol 7", "28013", "Madrid", "Madrid", "M", "ES"),
]
DEMO_SHOP = {"name": "Orderdeck demo shop", "currency": "EUR", "timezone": "Europe/Amsterdam", "locale": "en"}
FIRST = ["Anna", "Daan", "Sophie", "Lukas", "Emma", "Mika", "Lotte", "Jonas", "Aino", "Finn", "Noor", "Elias"]
LAST = ["de Vries", "Jansen", "Müller", "Schmidt", "Virtanen", "Korhonen", "Bakker", "Weber", "Nieminen"]
PRODUCTS = [
    ("Stoneware mug", "MUG", "14.50"),
    ("Linen apron", "APRON", "39.00"),
    ("Oak cutting board", "BOARD", "55.00"),
    ("Wool throw", "THROW", "89.00"),
    ("Ceramic vase", "VASE", "42.00"),
    ("Tea towel set", "TOWEL", "19.90"),
    ("Copper kettle", "KETTLE", "120.00"),
    ("Candle trio", "CANDLE", "24.50"),
    ("Bread knife", "KNIFE", "34.00"),
    ("Serving bowl", "BOWL", "48.00"),
    ("Espresso cups", "CUPS", "29.00"),
    ("Table runner", "RUNNER", "36.00"),
]
TAGS = ["gift", "wholesale", "vip", "priority", "pre-order", "repeat-customer"]
LOCALES = ["en", "nl", "de", "fi"]
STAFF = Author("staff", "Demo staff", "demo")
STOREFRONT = Author("api", "Storefront", "demo")


@dataclass
class Catalogue:
    locations: list[int]
    variants: list[tuple[int, str, str, Decimal]]  # id, title, sku, price


def ensure_demo_shop(db: Database) -> bool:
    """Create the demo shop (EUR, Europe/Amsterdam, English) when the database has no shop yet;
    True when it did. The demo, the benchmarks and the tests' databases start from it."""
    with db.writer.begin() as conn:
        if has_shop(conn):
            return False
        create_shop(conn, now=datetime.now(UTC), **DEMO_SHOP)
        return True


def ensure_catalogue(deck: Orderdeck, stock: int) -> Catalogue:
    from .services import catalog
    from .services.context import Command

    ensure_demo_shop(deck.db)
    with deck.unit_of_work() as uow:
        cmd = Command(deck, uow, STAFF)
        if not uow.catalog.locations():
            for name, country in (("Amsterdam warehouse", "NL"), ("Berlin store", "DE"), ("Helsinki depot", "FI")):
                catalog.add_location(cmd, {"name": name, "country_code": country, "city": name.split()[0]})
        locations = uow.catalog.active_location_ids()
        existing = uow.catalog.variants_by_id(set(range(1, 10_000)))
        if not existing:
            for index, (title, sku, price) in enumerate(PRODUCTS):
                # Not every location stocks everything, so routing has to split some orders.
                spread = {loc: stock for i, loc in enumerate(locations) if (index + i) % 3 != 2}
                catalog.add_product(
                    cmd,
                    title=title,
                    vendor="Orderdeck Home",
                    product_type="Homeware",
                    new_variants=[
                        catalog.NewVariant(
                            sku=f"{sku}-{n}",
                            title=f"Size {n}",
                            price=Decimal(price) + n,
                            grams=400 + 50 * n,
                            stock=spread,
                        )
                        for n in (1, 2)
                    ],
                )
            existing = uow.catalog.variants_by_id(set(range(1, 10_000)))
        else:
            for variant in existing.values():
                for loc in locations:
                    uow.catalog.set_level(variant.id, loc, stock, uow.now)
        uow.commit()
    variants = [(v.id, v.product_title, v.sku or "", v.price) for v in sorted(existing.values(), key=lambda v: v.id)]
    return Catalogue(locations, variants)


def _customers(deck: Orderdeck, count: int, rng: random.Random) -> list[CustomerSnapshot]:
    with deck.unit_of_work() as uow:
        start = uow.conn.execute(select(customers.c.id).order_by(customers.c.id.desc()).limit(1)).scalar() or 0
        rows = []
        for n in range(count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{start + n}@example.com".lower().replace(" ", "").replace("ü", "ue")
            rows.append(
                {
                    "email": email,
                    "phone": f"+31 6 {rng.randint(10000000, 99999999)}",
                    "first_name": first,
                    "last_name": last,
                    "locale": rng.choice(LOCALES),
                    "created_at": uow.now,
                    "updated_at": uow.now,
                }
            )
        uow.conn.execute(insert(customers), rows)
        found = uow.conn.execute(select(customers).where(customers.c.id > start).order_by(customers.c.id)).mappings()
        result = [CustomerSnapshot(r["id"], r["email"], r["phone"], r["first_name"], r["last_name"]) for r in found]
        uow.commit()
    return result


def _draft(rng: random.Random, cat: Catalogue, customer: CustomerSnapshot, channel: str) -> OrderDraft:
    lines = []
    for variant_id, title, sku, price in rng.sample(cat.variants, rng.choice((1, 1, 2, 2, 3, 4))):
        lines.append(
            DraftLine(
                title=title,
                price=price,
                quantity=rng.choice((1, 1, 1, 2, 3)),
                variant_id=variant_id,
                inventory_item_id=variant_id,
                sku=sku,
                vendor="Orderdeck Home",
                tax_lines=[TaxLine("VAT", (price * Decimal("0.21")).quantize(Decimal("0.01")), Decimal("0.21"))],
            )
        )
    address1, zip_code, city, province, province_code, country = rng.choice(ADDRESSES)
    address = Address(
        first_name=customer.first_name,
        last_name=customer.last_name,
        address1=address1,
        city=city,
        province=province,
        province_code=province_code,
        country_code=country,
        zip=zip_code,
        phone=customer.phone,
    )
    shipping_lines = [] if channel == "pos" else [DraftShippingLine("Standard shipping", Decimal("4.95"))]
    return OrderDraft(
        lines=lines,
        currency="EUR",
        presentment_currency="EUR",
        exchange_rate=Decimal(1),
        shipping_lines=shipping_lines,
        email=customer.email,
        phone=customer.phone,
        customer=customer,
        customer_locale=rng.choice(LOCALES),
        billing_address=address,
        shipping_address=address,
        tags=rng.sample(TAGS, rng.choice((0, 0, 0, 1, 1, 2))),
        source_name=channel,
    )


class _Told:
    """An order's timeline as the demo tells its story over days: each event with the moment it
    happened (the domain's events carry no time; the commands that made them did)."""

    def __init__(self, until: datetime) -> None:
        self.until = until  # the load's own now: nothing in the story happens after it
        self.rows: list[tuple[DomainEvent, datetime]] = []

    def at(self, order: Order, when: datetime) -> None:
        events, order.events = order.events, []
        self.rows.extend((event, when) for event in events)


def _pay(order: Order, told: _Told, rng: random.Random, now: datetime, kind: str, card: str = "1") -> None:
    from .gateways.bogus import BogusGateway

    amount = order.presentment(order.total_price)
    gateway = BogusGateway()
    outcome = gateway.authorize(amount, "EUR", card) if kind == "authorization" else gateway.sale(amount, "EUR", card)
    payments.record_transaction(
        order,
        kind=kind,
        amount=amount,
        gateway="bogus",
        outcome=outcome,
        now=now,
        author=STOREFRONT,
        authorization_period=timedelta(days=7),
    )
    told.at(order, now)


def _capture(order: Order, told: _Told, now: datetime) -> None:
    for authorization in open_authorizations(order):
        authorization_, amount = payments.check_capture(order, authorization.id, None, None)
        payments.record_transaction(
            order,
            kind="capture",
            amount=amount,
            gateway="bogus",
            outcome=payments.GatewayOutcome("success", authorization_.authorization),
            now=now,
            author=STAFF,
            parent_id=authorization_.id,
        )
    told.at(order, now)


def _ship(
    order: Order, told: _Told, inventory: Inventory, rng: random.Random, now: datetime, partial: bool = False
) -> None:
    for fo in list(order.fulfillment_orders):
        if fo.status not in ("open", "in_progress") or not fo.remaining:
            continue
        requests = None
        if partial:
            line = fo.line_items[0]
            requests = [LineRequest(line.id, 1)]
        number = f"3S{rng.randint(10**9, 10**10 - 1)}NL"
        made = shipping.create_fulfillment(
            order,
            requests={fo.id: requests},
            tracking=complete_tracking(TrackingInfo(numbers=(number,))),
            inventory=inventory,
            author=STAFF,
            now=now,
        )
        told.at(order, now)
        for status, days in (("in_transit", 1), ("out_for_delivery", 2), ("delivered", 2)):
            if rng.random() < 0.7:
                # The carrier's news arrives as it happens: recorded then, not when the parcel left.
                happened = now + timedelta(days=days, hours=rng.randint(0, 20))
                if happened > told.until:
                    break
                shipping.add_fulfillment_event(
                    order,
                    made,
                    status=status,
                    happened_at=happened,
                    author=Author("system", "PostNL"),
                    now=happened,
                    details={},
                )
                told.at(order, happened)
        if partial:
            return


def _story(
    order: Order, told: _Told, inventory: Inventory, rng: random.Random, now: datetime, active: set[int]
) -> None:
    """Take the order somewhere along its life, in proportions a real shop sees."""
    roll = rng.random()
    later = min(now + timedelta(hours=rng.randint(1, 48)), told.until)
    if order.source_name == "pos":
        payments.record_transaction(
            order,
            kind="sale",
            amount=order.presentment(order.total_price),
            gateway="cash",
            outcome=payments.GatewayOutcome("success"),
            now=now,
            author=STAFF,
        )
        _ship(order, told, inventory, rng, now)
    elif roll < 0.08:  # bank transfer not yet received
        payments.record_transaction(
            order,
            kind="sale",
            amount=order.presentment(order.total_price),
            gateway="bank_transfer",
            outcome=payments.GatewayOutcome("pending"),
            now=now,
            author=STOREFRONT,
        )
    elif roll < 0.18:  # authorized, waiting to be captured
        _pay(order, told, rng, now, "authorization")
    elif roll < 0.21:  # on hold for a fraud check
        _pay(order, told, rng, now, "authorization")
        shipping.hold(
            order,
            order.fulfillment_orders[0],
            reason="high_risk_of_fraud",
            reason_notes="Address mismatch",
            requests=None,
            author=STAFF,
            now=later,
        )
        told.at(order, later)
    elif roll < 0.23:  # pre-order, scheduled
        _pay(order, told, rng, now, "sale")
        shipping.reschedule(
            order,
            order.fulfillment_orders[0],
            fulfill_at=now + timedelta(days=rng.randint(20, 60)),
            author=STAFF,
            now=now,
        )
        told.at(order, now)
    elif roll < 0.38:  # paid, to ship
        _pay(order, told, rng, now, "sale")
    elif roll < 0.44:  # paid, partly shipped
        _pay(order, told, rng, now, "sale")
        _ship(order, told, inventory, rng, later, partial=True)
    elif roll < 0.49:  # cancelled by the customer, refunded
        _pay(order, told, rng, now, rng.choice(("sale", "authorization")))
        for authorization in open_authorizations(order):
            payments.record_transaction(
                order,
                kind="void",
                amount=authorization.amount,
                gateway="bogus",
                outcome=payments.GatewayOutcome("success"),
                now=later,
                author=STAFF,
                parent_id=authorization.id,
            )
        refund_ids = []
        for parent, left in payments.refundable_parents(order):
            refund_ids.append(
                payments.record_transaction(
                    order,
                    kind="refund",
                    amount=left,
                    gateway="bogus",
                    outcome=payments.GatewayOutcome("success"),
                    now=later,
                    author=STAFF,
                    parent_id=parent.id,
                ).id
            )
        cancellation.cancel(
            order,
            cancellation.CancelRequest(
                reason=rng.choice(("customer", "inventory", "fraud")), staff_note="Customer asked by e-mail"
            ),
            refund_transaction_ids=refund_ids,
            inventory=inventory,
            author=STAFF,
            now=later,
        )
        told.at(order, later)
    elif roll < 0.52:  # declined card
        _pay(order, told, rng, now, "sale", card="2")
    else:  # paid and shipped; some returned in part
        _pay(order, told, rng, now, rng.choice(("sale", "authorization")))
        _capture(order, told, later)
        _ship(order, told, inventory, rng, later)
        returned_at = later + timedelta(days=9)
        if rng.random() < 0.1 and returned_at <= told.until:
            line = order.line_items[0]
            request = refunds.RefundRequest(
                lines=[refunds.RefundLineRequest(line.id, 1, "return", order.fulfillments[0].location_id)],
                note="Returned: wrong size",
            )
            calc = refunds.calculate(order, request, active_locations=active)
            value = order.presentment(calc.total)
            parent = payments.refundable_parents(order)[0][0]
            txn = payments.record_transaction(
                order,
                kind="refund",
                amount=value,
                gateway="bogus",
                outcome=payments.GatewayOutcome("success"),
                now=returned_at,
                author=STAFF,
                parent_id=parent.id,
            )
            refunds.apply_refund(
                order,
                calc,
                request,
                transaction_ids=[txn.id],
                inventory=inventory,
                author=STAFF,
                now=returned_at,
                notify=False,
            )
            told.at(order, returned_at)
        archived_at = later + timedelta(days=10)
        if rng.random() < 0.75 and archived_at <= told.until:
            lifecycle.close(order, author=STAFF, now=archived_at)
            told.at(order, archived_at)
    told.at(order, now)  # what is left happened when the order was placed (a pending bank transfer)


@dataclass
class _Shop:
    """What every batch is made from; handed to each worker process once."""

    catalogue: Catalogue
    pool: list[CustomerSnapshot]
    inventory: Inventory
    render_context: render.RenderContext
    first_number: int
    start_time: datetime
    count: int
    seed: int
    batch: int


@dataclass
class _Batch:
    order_rows: list[dict[str, object]]
    document_rows: list[dict[str, object]]  # each order's document and rendering (order_documents)
    term_rows: list[dict[str, object]]
    timeline_rows: list[dict[str, object]]
    stock_moved: dict[tuple[int, int], tuple[int, int, int]]  # (available, committed, on_hand) deltas
    fulfilled_unit_rows: list[dict[str, object]]  # what the return rate counts against
    shipment_rows: list[dict[str, object]]  # the Shipments page's rows


_shop: _Shop | None = None


def _init_worker(shop_: _Shop) -> None:
    global _shop
    _shop = shop_


def _make_batch(index: int) -> _Batch:
    """Orders [index * batch, …) of the run, built, told and rendered. A pure function of the
    batch's index and the shop, so the demo is the same whichever process makes which batch."""
    assert _shop is not None
    shop_ = _shop
    rng = random.Random(f"{shop_.seed}:{index}")
    inventory = Inventory(shop_.inventory.items, {key: replace(level) for key, level in shop_.inventory.levels.items()})
    active = set(shop_.catalogue.locations)
    first = index * shop_.batch
    order_rows, document_rows, term_rows, timeline_rows, unit_rows, ship_rows = [], [], [], [], [], []
    for position in range(first, min(first + shop_.batch, shop_.count)):
        number = shop_.first_number + position
        placed = shop_.start_time + timedelta(seconds=position * (120 * 86400 / max(shop_.count, 1)))
        channel = rng.choices(("web", "web", "web", "pos", "api"), k=1)[0]
        order = build_order(
            _draft(rng, shop_.catalogue, rng.choice(shop_.pool), channel),
            order_id=number,
            number=number,
            name=f"#{number}",
            token=secrets.token_hex(16),
            now=placed,
            locations=shop_.catalogue.locations,
            inventory=inventory,
            author=STOREFRONT,
        )
        told = _Told(until=shop_.start_time + timedelta(days=120))
        told.at(order, placed)
        _story(order, told, inventory, rng, placed, active)
        ctx = shop_.render_context
        order_rows.append(_row(order))
        document_rows.append(document_row(order, orjson.dumps(render.order(order, ctx)), ctx.fingerprint))
        term_rows.extend({"order_id": order.id, "kind": k, "term": t} for k, t in search_terms(order))
        unit_rows.extend(fulfilled_rows(order, fulfilled_by_line(order)))
        ship_rows.extend(shipment_rows(order))
        for event, when in told.rows:
            timeline_rows.extend(event_rows(order.id, [event], when))
    moved = {}
    for key in inventory.changed:
        now_ = inventory.levels[key]
        was = shop_.inventory.levels.get(key) or InventoryLevel(key[0], key[1], 0, 0, 0)
        moved[key] = (now_.available - was.available, now_.committed - was.committed, now_.on_hand - was.on_hand)
    return _Batch(order_rows, document_rows, term_rows, timeline_rows, moved, unit_rows, ship_rows)


def _batches(shop_: _Shop, workers: int) -> Iterator[_Batch]:
    """The run's batches in order. With more than one batch they are made by worker processes
    (the orders' story and rendering are most of the work) while this process writes; a few
    batches ahead at most, so memory stays flat however many orders."""
    total = -(-shop_.count // shop_.batch)
    if total <= 1 or workers <= 1:
        _init_worker(shop_)
        yield from (_make_batch(i) for i in range(total))
        return
    # Spawned, not forked: this process has threads (the database pool, the progress bar).
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, spawn, initializer=_init_worker, initargs=(shop_,)) as pool:
        ahead: deque[Future[_Batch]] = deque()
        for index in range(total):
            ahead.append(pool.submit(_make_batch, index))
            if len(ahead) > workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def load_demo(
    deck: Orderdeck,
    *,
    count: int,
    seed: int = 7,
    console: Console | None = None,
    batch: int = 2000,
    workers: int | None = None,
) -> None:
    """Add `count` demo orders placed over the last 120 days, in a realistic mix of statuses."""
    rng = random.Random(seed)
    console = console or Console()
    cat = ensure_catalogue(deck, stock=max(1000, count * 3))
    pool = _customers(deck, max(10, min(count // 3, 20_000)), rng)
    now = deck.clock()
    with deck.unit_of_work() as uow:
        inventory = uow.inventory.load({v[0] for v in cat.variants}, lock=False)
        ctx = deck.render_context(uow)
        # Every number the run will use, taken at once so the batches can be made in parallel.
        first = uow.conn.execute(
            update(shop)
            .where(shop.c.id == 1)
            .values(next_order_number=shop.c.next_order_number + count)
            .returning(shop.c.next_order_number - count)
        ).scalar_one()
        uow.commit()
    shop_ = _Shop(cat, pool, inventory, ctx, first, now - timedelta(days=120), count, seed, batch)
    moved: dict[tuple[int, int], list[int]] = {}
    columns = (TextColumn("Loading demo orders"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("orders", total=count)
        for made in _batches(shop_, workers or os.cpu_count() or 1):
            with deck.unit_of_work() as uow:
                uow.conn.execute(insert(orders), made.order_rows)
                uow.conn.execute(insert(order_documents), made.document_rows)
                if made.term_rows:
                    uow.conn.execute(insert(order_search_terms), made.term_rows)
                uow.conn.execute(insert(timeline_events), made.timeline_rows)
                if made.fulfilled_unit_rows:
                    uow.conn.execute(insert(fulfilled_units), made.fulfilled_unit_rows)
                if made.shipment_rows:
                    uow.conn.execute(insert(shipments), made.shipment_rows)
                counts.record(uow.conn, [(counts.key_of(row), 1) for row in made.order_rows])
                uow.commit()
            for key, change in made.stock_moved.items():
                total = moved.setdefault(key, [0, 0, 0])
                for n in range(3):
                    total[n] += change[n]
            progress.update(task, advance=len(made.order_rows))
    with deck.unit_of_work() as uow:
        # A batch leaves a few status-count deltas; fold them so counts read a handful of rows.
        counts.fold(uow.conn)
        levels = uow.inventory.load({item for item, _ in moved})
        for key, (available, committed, on_hand) in moved.items():
            level = levels.level(*key, connect=True)
            level.available += available
            level.committed += committed
            level.on_hand += on_hand
        uow.inventory.save(levels, uow.now)
        uow.commit()
    add_example_rules(deck)
    add_demo_returns(deck, rng, wanted=min(40, max(6, count // 50)))
    add_demo_edits(deck, wanted=min(20, max(3, count // 100)))
    analyse(deck)
    console.print(
        f"[green]{count} demo orders loaded[/green] ({len(pool)} customers, "
        f"{len(cat.locations)} locations, {len(cat.variants)} variants)"
    )


def _tell_stories(
    deck: Orderdeck, *, fulfilled: bool, wanted: int, story: Callable[[UnitOfWork, int, int], bool]
) -> int:
    """Run `story(uow, order_id, made)` on recent open orders (fulfilled ones, or ones nothing
    shipped of), each in its own transaction, until `wanted` told theirs (returned True). An
    order the story refuses (OrderError) or doesn't suit is skipped. Returns how many told it."""
    status = orders.c.fulfillment_status == "fulfilled" if fulfilled else orders.c.fulfillment_status.is_(None)
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(
            select(orders.c.id)
            .where(orders.c.order_status == "open", status)
            .order_by(orders.c.id.desc())
            .limit(wanted * 4)
        ).all()
    made = 0
    for (order_id,) in rows:
        if made >= wanted:
            break
        with deck.unit_of_work() as uow:
            try:
                if story(uow, order_id, made):
                    uow.commit()
                    made += 1
            except OrderError:
                continue  # this order's story can't be told that way: the next one
    return made


def add_demo_returns(deck: Orderdeck, rng: random.Random, *, wanted: int) -> int:
    """Returns in every state on recent shipped, paid, open orders, made by the return commands
    (services/returns.py) as staff and customers make them: requested, declined, approved with a
    label, received and refunded (closed), received and waiting for the refund with an exchange.
    Returns the number made."""
    return _tell_stories(
        deck,
        fulfilled=True,
        wanted=wanted,
        story=lambda uow, order_id, made: _demo_return(deck, uow, order_id, story=made % 6, rng=rng),
    )


def _demo_return(deck: Orderdeck, uow: UnitOfWork, order_id: int, *, story: int, rng: random.Random) -> bool:
    """One demo return on the order (add_demo_returns); False when it has nothing to return."""
    from .domain import returns as return_rules
    from .domain.statuses import financial_status
    from .services import returns as commands
    from .services.context import Command

    order = uow.orders.get(order_id, for_update=False)
    returnable = return_rules.returnable_quantities(order)
    lines = [fl for f in order.fulfillments if f.is_active for fl in f.line_items if returnable.get(fl.id)]
    if not lines or financial_status(order) != "paid":
        return False
    first = lines[0]
    reason = rng.choice(("size_too_small", "size_too_large", "unwanted", "defective", "color"))
    request = return_rules.ReturnRequest(
        [return_rules.ReturnLineRequest(first.id, 1, reason, customer_note="Doesn't fit, sorry.")]
    )
    customer = Author(kind="customer", name=order.customer.name if order.customer else "Customer")
    cmd = Command(deck, uow, customer if story in (0, 1) else STAFF)
    line = order.line_item(first.line_item_id)
    if story == 5 and line is not None and line.variant_id is not None:  # an exchange for a sibling variant
        variant = uow.catalog.variants_by_id({line.variant_id}).get(line.variant_id)
        siblings = uow.catalog.variants_of([variant.product_id])[variant.product_id] if variant else []
        others = [v.id for v in siblings if v.id != line.variant_id]
        if others:
            exchanges = commands.exchange_variants(cmd, [(others[0], 1, None, None, None)])
            request = return_rules.ReturnRequest(request.lines, exchanges=exchanges)
    status = "requested" if story in (0, 1) else "open"
    _, ret = commands.start(cmd, order_id, commands.StartReturn(request, status=status))
    staff = Command(deck, uow, STAFF)
    if story == 1:
        commands.decline(
            staff, ret.id, reason="return_period_ended", note="The 30-day return window has passed.", notify=False
        )
    rfo = ret.reverse_fulfillment_orders[0] if ret.reverse_fulfillment_orders else None
    if story >= 3 and rfo is not None:
        tracking = ReturnTracking(number=f"3SABC{ret.id % 10**8:08d}", carrier_name="PostNL")
        label = f"https://labels.example.com/return-{ret.id}.pdf"
        commands.attach_delivery(staff, rfo.id, lines=[], label_url=label, tracking=tracking, notify=False)
    if story >= 4 and rfo is not None:
        received = return_rules.DispositionRequest(rfo.line_items[0].id, 1, "restocked", rfo.location_id)
        commands.dispose(staff, [received])
        if story == 4:
            commands.refund(staff, ret.id, commands.ReturnRefund(lines=[]))
    return True


def add_demo_edits(deck: Orderdeck, *, wanted: int) -> int:
    """Edited orders, made by the order edit commands (services/order_edits.py) as staff make
    them: an item dropped before it shipped (a refund to offer), and gift wrap and express
    shipping added (an amount to collect). Returns the number made."""
    return _tell_stories(
        deck, fulfilled=False, wanted=wanted, story=lambda uow, order_id, made: _demo_edit(deck, uow, order_id, made)
    )


def _demo_edit(deck: Orderdeck, uow: UnitOfWork, order_id: int, story: int) -> bool:
    from .domain.order_edits import editable_quantity
    from .services import order_edits as edits
    from .services.context import Command

    cmd = Command(deck, uow, STAFF)
    edit, calc = edits.begin(cmd, order_id)
    line = next((li for li in calc.original.line_items if editable_quantity(calc.original, li) > 0), None)
    if line is None:
        return False
    if story % 2 == 0 and len(calc.original.line_items) > 1:
        edits.set_quantity(cmd, edit.id, line_item_id=line.id, quantity=0, restock=True)
        note = "Customer phoned: no longer needs this item."
    else:
        edits.add_custom_item(cmd, edit.id, title="Gift wrap", price=Decimal("3.50"), quantity=1)
        edits.add_shipping_line(cmd, edit.id, title="Express delivery", price=Decimal("8.90"))
        note = "Customer asked for gift wrap and express delivery."
    edits.commit(cmd, edit.id, notify_customer=False, staff_note=note)
    return True


def add_example_rules(deck: Orderdeck) -> None:
    """The example automation rules (docs/automation.md), once: a rule of the same name
    is left as the merchant has it."""
    from .automation.examples import EXAMPLES
    from .domain.order import SYSTEM
    from .services.automation import create_rule
    from .services.context import Command
    from .store.automation import Rules

    with deck.unit_of_work() as uow:
        present = {r.name for r in Rules(uow.conn).list()}
        for example in EXAMPLES:
            if example["name"] not in present:
                create_rule(Command(deck, uow, SYSTEM), example)
        uow.commit()


def analyse(deck: Orderdeck) -> None:
    """Refresh the planner's statistics after a bulk load, as the PostgreSQL manual advises
    (autovacuum would, minutes later): with the statistics of an empty table the planner
    takes "open, paid, unfulfilled" for one row and sorts every match (0.4 s at a million
    orders instead of 10 ms). SQLite samples each index (analysis_limit) rather than reading it."""
    with deck.db.writer.connect() as conn:
        if deck.db.is_sqlite:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def describe_mix(deck: Orderdeck) -> dict[str, int]:
    """How many orders of each payment status the shop has (used by the quick start)."""
    from sqlalchemy import func

    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(orders.c.financial_status, func.count()).group_by(orders.c.financial_status))
        return {status: count for status, count in rows}


__all__ = ["derive_statuses", "describe_mix", "load_demo"]
