"""A reference 3PL: a small fulfillment service that plays Shopify's contract against Orderdeck,
so the whole request → accept → ship loop runs on one machine (for the tests and the demo).

It is its own HTTP process and knows Orderdeck only through the Admin API and an API token, as
a 3PL app written for Shopify would (AFTER-THE-SALE §4.3 to §4.5):

- on start it registers itself (`fulfillment_services.json`, callback_url = its own address,
  inventory_management and tracking_support on), or takes up the service it registered before,
  and sets its stock at its location for the SKUs the shop sells (`inventory_levels/set.json`);
- `POST /fulfillment_order_notification` (the body says only the kind; signed with
  X-Shopify-Hmac-Sha256 when it is given the secret) wakes it to read
  `assigned_fulfillment_orders.json` for requests and cancellation requests; it also reads them
  on start and every `poll_every` seconds, in case a notification was lost;
- it accepts a request when its own stock covers every line, and otherwise rejects it
  (`inventory_out_of_stock`, with a message per short line); it accepts a cancellation of what it
  has not shipped yet;
- `ship_after` seconds after accepting it ships: a fulfillment of the whole fulfillment order
  with a tracking number of its own (or, with `tracking_later`, without one: Orderdeck learns
  it by asking fetch_tracking_numbers);
- `GET /fetch_stock(.json)` answers what its shelf physically holds (units not shipped yet, those
  promised to accepted work included: Orderdeck takes it as on hand),
  `GET /fetch_tracking_numbers(.json)` the numbers of the fulfillments it made.

Two modes for tests of what goes wrong: `silent` takes notifications and never answers them,
and `down_for=N` answers the first N notifications with a 500.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger("orderdeck.reference_3pl")

API_VERSION = "2024-10"
RETRY_SHIPPING = 5.0  # seconds before shipping again what Orderdeck refused (a hold, say)
NOTIFICATION_KINDS = ("FULFILLMENT_REQUEST", "CANCELLATION_REQUEST")
# What the service's token needs: its own service, the work assigned to it, the SKUs of that
# work, and (to publish its stock at its location) the shop's products and their stock.
SCOPES = (
    "read_fulfillments",
    "write_fulfillments",
    "read_assigned_fulfillment_orders",
    "write_assigned_fulfillment_orders",
    "read_products",
    "read_inventory",
    "write_inventory",
)


@dataclass(frozen=True)
class Config:
    orderdeck_url: str  # where Orderdeck serves, e.g. http://127.0.0.1:8000
    token: str  # an Orderdeck API token with SCOPES
    host: str = "127.0.0.1"
    port: int = 8100
    public_url: str | None = None  # the callback_url Orderdeck calls; http://host:port by default
    name: str = "Reference 3PL"
    stock: dict[str, int] = field(default_factory=dict)  # SKU → units on the shelf
    ship_after: float = 60.0  # seconds from accepting to shipping
    poll_every: float = 300.0  # seconds between reads of the assigned work without a notification
    secret: str | None = None  # checks X-Shopify-Hmac-Sha256 on notifications when given
    carrier: str = "DHL Express"
    # Ships without a tracking number and tells it only when Orderdeck asks (fetch_tracking_numbers),
    # as services whose carrier assigns the number later do.
    tracking_later: bool = False
    # On start, set its stock at its own location for the SKUs the shop sells, as 3PL apps push
    # their inventory (Orderdeck's fetch-stock job keeps it right afterwards).
    publish_stock: bool = True
    silent: bool = False  # takes notifications, never answers a request
    down_for: int = 0  # the first N notifications get a 500

    @property
    def callback_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def parse_stock(entries: list[str]) -> dict[str, int]:
    """`SKU=QTY` pairs (the CLI's --stock) as a stock table; a bad pair names itself."""
    stock: dict[str, int] = {}
    for entry in entries:
        sku, sep, quantity = entry.rpartition("=")
        if not sep or not sku.strip() or not quantity.strip().isdigit():
            raise ValueError(f"{entry!r} is not SKU=QUANTITY (e.g. MUG-1=25)")
        stock[sku.strip()] = int(quantity)
    return stock


def signature(body: bytes, secret: str) -> str:
    """X-Shopify-Hmac-Sha256: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Shelf:
    """The warehouse's stock: units on the shelf per SKU, and those promised to accepted work
    (per fulfillment order) until they ship or the work is cancelled."""

    on_hand: dict[str, int]
    promised: dict[int, dict[str, int]] = field(default_factory=dict)

    def free(self, sku: str) -> int:
        taken = sum(units.get(sku, 0) for units in self.promised.values())
        return self.on_hand.get(sku, 0) - taken

    def shortages(self, wanted: dict[str, int]) -> dict[str, int]:
        """SKU → units available, for each SKU of `wanted` the shelf cannot cover."""
        return {sku: max(self.free(sku), 0) for sku, units in wanted.items() if self.free(sku) < units}

    def promise(self, fo_id: int, wanted: dict[str, int]) -> None:
        self.promised[fo_id] = dict(wanted)

    def release(self, fo_id: int) -> None:
        self.promised.pop(fo_id, None)

    def ship(self, fo_id: int) -> None:
        for sku, units in self.promised.pop(fo_id, {}).items():
            self.on_hand[sku] = self.on_hand.get(sku, 0) - units


class Reference3PL:
    """The service's state and its work; `app()` is its HTTP face."""

    def __init__(self, config: Config, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.shelf = Shelf(dict(config.stock))
        self.monotonic = monotonic  # when to ship and poll: its own clock, not Orderdeck's
        self.service: dict[str, Any] | None = None
        self.to_ship: dict[int, float] = {}  # accepted fulfillment order → when it ships
        self.tracking: dict[str, str] = {}  # fulfillment name (#1001.1) → tracking number
        self.notifications: list[str] = []  # kinds received, answered or not
        self.refused_notifications = 0
        self.answered: list[tuple[str, int]] = []  # (what it did, fulfillment order id), in order
        self.skus: dict[int, str | None] = {}  # inventory item → SKU, as Orderdeck says
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    # ---- talking to Orderdeck ------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the reference 3PL is not running")
        return self._client

    async def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        answer = await self.client.request(method, path, json=body, params=params or None)
        if answer.status_code >= 400:
            raise OrderdeckRefused(method, path, answer.status_code, answer.text)
        return answer.json() if answer.content else {}

    async def register(self) -> dict[str, Any]:
        """Take up the service this token registered under our name, pointing it at our address,
        or register it."""
        wanted = {
            "name": self.config.name,
            "callback_url": self.config.callback_url,
            "inventory_management": True,
            "tracking_support": True,
            "requires_shipping_method": True,
            "format": "json",
            "fulfillment_orders_opt_in": True,
            "permits_sku_sharing": True,
        }
        mine = (await self._call("GET", "/fulfillment_services.json"))["fulfillment_services"]
        found = next((s for s in mine if s["name"] == self.config.name), None)
        if found is None:
            self.service = (await self._call("POST", "/fulfillment_services.json", {"fulfillment_service": wanted}))[
                "fulfillment_service"
            ]
        else:
            changes = {k: v for k, v in wanted.items() if k in found and found[k] != v}
            if changes:
                path = f"/fulfillment_services/{found['id']}.json"
                found = (await self._call("PUT", path, {"fulfillment_service": changes}))["fulfillment_service"]
            self.service = found
        log.info("registered as %s (location %s)", self.config.name, self.service["location_id"])
        return self.service

    async def publish_stock(self) -> int:
        """Set what the shelf can sell at our location for every variant with one of our SKUs;
        returns how many were set."""
        assert self.service is not None
        wanted = set(self.shelf.on_hand)
        found: dict[str, int] = {}
        url: str | None = "/products.json"
        params: dict[str, Any] | None = {"limit": 250, "fields": "id,variants"}
        while url is not None:
            answer = await self.client.get(url, params=params)
            if answer.status_code >= 400:
                raise OrderdeckRefused("GET", url, answer.status_code, answer.text)
            for product in answer.json()["products"]:
                for variant in product["variants"]:
                    if variant.get("sku") in wanted:
                        found.setdefault(variant["sku"], variant["inventory_item_id"])
            url, params = answer.links.get("next", {}).get("url"), None
        for sku, item_id in sorted(found.items()):
            level = {
                "location_id": self.service["location_id"],
                "inventory_item_id": item_id,
                "available": max(self.shelf.free(sku), 0),
            }
            await self._call("POST", "/inventory_levels/set.json", level)
        log.info("stock of %d SKU(s) set at our location", len(found))
        return len(found)

    async def assigned(self, assignment_status: str) -> list[dict[str, Any]]:
        found = await self._call("GET", "/assigned_fulfillment_orders.json", assignment_status=assignment_status)
        return list(found["fulfillment_orders"])

    async def _skus_of(self, fo: dict[str, Any]) -> dict[str, int]:
        """The SKUs and units a fulfillment order asks for; a line without a SKU counts under
        its inventory item's id, which no shelf holds."""
        unknown = {li["inventory_item_id"] for li in fo["line_items"] if li["inventory_item_id"] not in self.skus}
        unknown.discard(None)
        if unknown:
            ids = ",".join(str(i) for i in sorted(unknown))
            items = (await self._call("GET", "/inventory_items.json", ids=ids))["inventory_items"]
            self.skus.update({item["id"]: item.get("sku") for item in items})
        wanted: dict[str, int] = {}
        for li in fo["line_items"]:
            if li["fulfillable_quantity"] <= 0:
                continue
            sku = self.skus.get(li["inventory_item_id"]) or f"item {li['inventory_item_id']}"
            wanted[sku] = wanted.get(sku, 0) + li["fulfillable_quantity"]
        return wanted

    # ---- the work ------------------------------------------------------------------------------

    async def answer_requests(self) -> None:
        """Answer every fulfillment request and cancellation request assigned to us; take up
        accepted work we do not know of (ours before a restart)."""
        if self.config.silent:
            return
        for fo in await self.assigned("fulfillment_requested"):
            await self._each(self._answer_request, fo)
        for fo in await self.assigned("cancellation_requested"):
            await self._each(self._answer_cancellation, fo)
        for fo in await self.assigned("fulfillment_accepted"):
            if fo["id"] not in self.to_ship and fo["status"] == "in_progress":
                self.shelf.promise(fo["id"], await self._skus_of(fo))
                self.to_ship[fo["id"]] = self.monotonic() + self.config.ship_after

    async def _each(self, answer: Callable[[dict[str, Any]], Awaitable[None]], fo: dict[str, Any]) -> None:
        """One refused answer (the merchant changed the order meanwhile) does not hold up the others."""
        try:
            await answer(fo)
        except OrderdeckRefused as exc:
            log.warning("fulfillment order %s: %s", fo["id"], exc)

    async def _answer_request(self, fo: dict[str, Any]) -> None:
        wanted = await self._skus_of(fo)
        short = self.shelf.shortages(wanted)
        path = f"/fulfillment_orders/{fo['id']}/fulfillment_request"
        if not short:
            self.shelf.promise(fo["id"], wanted)
            body: dict[str, Any] = {"fulfillment_request": {"message": f"{self.config.name} will ship this."}}
            try:
                await self._call("POST", f"{path}/accept.json", body)
            except OrderdeckRefused:
                self.shelf.release(fo["id"])
                raise
            self.to_ship[fo["id"]] = self.monotonic() + self.config.ship_after
            self.answered.append(("accepted", fo["id"]))
            return
        lines = []
        for li in fo["line_items"]:
            sku = self.skus.get(li["inventory_item_id"]) or f"item {li['inventory_item_id']}"
            if sku in short:
                lines.append(
                    {
                        "fulfillment_order_line_item_id": li["id"],
                        "message": f"{sku}: {short[sku]} in stock, {wanted[sku]} asked for.",
                    }
                )
        body = {
            "fulfillment_request": {
                "message": "Not enough inventory on hand to complete the work.",
                "reason": "inventory_out_of_stock",
                "line_items": lines,
            }
        }
        await self._call("POST", f"{path}/reject.json", body)
        self.answered.append(("rejected", fo["id"]))

    async def _answer_cancellation(self, fo: dict[str, Any]) -> None:
        path = f"/fulfillment_orders/{fo['id']}/cancellation_request"
        if fo["id"] not in self.shipped_orders():
            self.to_ship.pop(fo["id"], None)
            self.shelf.release(fo["id"])
            body = {"cancellation_request": {"message": "We had not shipped it yet."}}
            await self._call("POST", f"{path}/accept.json", body)
            self.answered.append(("cancellation accepted", fo["id"]))
        else:
            body = {"cancellation_request": {"message": "It has already been shipped."}}
            await self._call("POST", f"{path}/reject.json", body)
            self.answered.append(("cancellation rejected", fo["id"]))

    def shipped_orders(self) -> set[int]:
        return {fo_id for what, fo_id in self.answered if what == "shipped"}

    async def ship_due(self) -> None:
        now = self.monotonic()
        for fo_id, when in sorted(self.to_ship.items(), key=lambda item: item[1]):
            if when <= now:
                try:
                    await self._ship(fo_id)
                except OrderdeckRefused as exc:
                    log.warning("could not ship fulfillment order %s, trying again later: %s", fo_id, exc)
                    self.to_ship[fo_id] = now + RETRY_SHIPPING

    async def _ship(self, fo_id: int) -> None:
        fo = (await self._call("GET", f"/fulfillment_orders/{fo_id}.json"))["fulfillment_order"]
        if fo["status"] != "in_progress":  # cancelled or closed meanwhile: nothing of ours to ship
            self.to_ship.pop(fo_id, None)
            self.shelf.release(fo_id)
            return
        if fo["request_status"] == "cancellation_requested":  # asked since the last read: not shipped yet
            await self._answer_cancellation(fo)
            return
        # Orderdeck shows the merchant's requests as `merchant_requests`; Shopify's service view
        # names them `outgoing_requests`.
        requests = fo.get("merchant_requests") or fo.get("outgoing_requests") or []
        asked = [r for r in requests if r.get("kind") == "fulfillment_request"]
        notify = bool(asked and (asked[-1].get("request_options") or {}).get("notify_customer"))
        number = f"{9_000_000_000 + fo_id % 1_000_000_000:010d}"  # ten digits, as DHL Express's
        body: dict[str, Any] = {
            "fulfillment": {
                "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo_id}],
                "notify_customer": notify,
                "message": f"Shipped by {self.config.name}",
            }
        }
        if not self.config.tracking_later:
            body["fulfillment"]["tracking_info"] = {"number": number, "company": self.config.carrier}
        made = (await self._call("POST", "/fulfillments.json", body))["fulfillment"]
        self.to_ship.pop(fo_id, None)
        self.shelf.ship(fo_id)
        self.tracking[made["name"]] = number
        self.answered.append(("shipped", fo_id))
        log.info("shipped fulfillment order %s as %s, tracking %s", fo_id, made["name"], number)

    async def run(self) -> None:
        """Until cancelled: answer after each notification and every `poll_every` seconds, and
        ship what is due. A failed round is logged and tried again; it never stops the loop."""
        next_poll = self.monotonic()
        while True:
            now = self.monotonic()
            woken = self._wake.is_set()
            self._wake.clear()
            try:
                if woken or now >= next_poll:
                    next_poll = now + self.config.poll_every
                    await self.answer_requests()
                await self.ship_due()
            except (httpx.HTTPError, OrderdeckRefused) as exc:
                log.warning("round failed, tried again at the next: %s", exc)
            except Exception:  # an answer it could not read: the loop must outlive it
                log.exception("round failed, tried again at the next")
            due = min([next_poll, *self.to_ship.values()]) - self.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(min(due, self.config.poll_every), 0.01))

    # ---- what Orderdeck calls (AFTER-THE-SALE §4.4) ----------------------------------------------

    async def notification(self, request: Request) -> Response:
        body = await request.body()
        if self.config.secret is not None:
            given = request.headers.get("x-shopify-hmac-sha256", "")
            if not hmac.compare_digest(given, signature(body, self.config.secret)):
                return JSONResponse({"errors": "bad X-Shopify-Hmac-Sha256 signature"}, status_code=401)
        try:
            said = await request.json()
        except ValueError:
            said = None
        kind = said.get("kind") if isinstance(said, dict) else None
        if kind not in NOTIFICATION_KINDS:
            return JSONResponse({"errors": f"kind must be one of {', '.join(NOTIFICATION_KINDS)}"}, status_code=400)
        self.notifications.append(kind)
        if len(self.notifications) <= self.config.down_for:
            self.refused_notifications += 1
            return JSONResponse({"errors": "the warehouse system is down"}, status_code=500)
        self._wake.set()  # read the assigned work after answering, as Shopify asks of services
        return JSONResponse({"received": kind})

    async def fetch_stock(self, request: Request) -> Response:
        """What its shelf physically holds: units not shipped yet, those promised to accepted work
        included. Orderdeck sets its on-hand stock from this and subtracts what its own orders
        commit there (requested or not), so promised units are not counted twice."""
        sku = request.query_params.get("sku")
        skus = [sku] if sku is not None else list(self.shelf.on_hand)
        return JSONResponse({s: max(self.shelf.on_hand.get(s, 0), 0) for s in skus})

    async def fetch_tracking_numbers(self, request: Request) -> Response:
        names = request.query_params.getlist("order_names[]") or request.query_params.getlist("order_names")
        found = {name: self.tracking[name] for name in names if name in self.tracking}
        return JSONResponse(
            {"tracking_numbers": found, "message": "Successfully received the tracking numbers", "success": True}
        )

    async def state(self, request: Request) -> Response:
        """What it holds, for people and tests: not part of Shopify's contract."""
        return JSONResponse(
            {
                "service": self.service,
                "stock": self.shelf.on_hand,
                "promised": {str(k): v for k, v in self.shelf.promised.items()},
                "to_ship": sorted(self.to_ship),
                "notifications": self.notifications,
                "answered": [{"action": what, "fulfillment_order_id": fo_id} for what, fo_id in self.answered],
                "tracking_numbers": self.tracking,
            }
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Connected to Orderdeck and registered, with the work loop going."""
        base = f"{self.config.orderdeck_url.rstrip('/')}/admin/api/{API_VERSION}"
        headers = {"X-Shopify-Access-Token": self.config.token, "Accept": "application/json"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=20) as client:
            self._client = client
            self._wake = asyncio.Event()  # of this event loop
            while True:
                try:
                    await self.register()
                    break
                except httpx.TransportError as exc:  # Orderdeck not up yet: a refusal is not retried
                    log.warning("cannot reach Orderdeck at %s (%s); trying again in 2 s", base, exc)
                    await asyncio.sleep(2)
            if self.config.publish_stock and self.shelf.on_hand:
                await self.publish_stock()
            loop = asyncio.create_task(self.run())
            try:
                yield
            finally:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
                self._client = None

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            async with self.running():
                yield

        return Starlette(
            routes=[
                Route("/fulfillment_order_notification", self.notification, methods=["POST"]),
                Route("/fetch_stock", self.fetch_stock, methods=["GET"]),
                Route("/fetch_stock.json", self.fetch_stock, methods=["GET"]),
                Route("/fetch_tracking_numbers", self.fetch_tracking_numbers, methods=["GET"]),
                Route("/fetch_tracking_numbers.json", self.fetch_tracking_numbers, methods=["GET"]),
                Route("/", self.state, methods=["GET"]),
            ],
            lifespan=lifespan,
        )


class OrderdeckRefused(Exception):
    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        super().__init__(f"{method} {path}: {status} {text[:500]}")
        self.status = status


def serve(config: Config) -> None:
    """Run the reference 3PL under uvicorn until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(Reference3PL(config).app(), host=config.host, port=config.port, log_level="info")
