"""The API application: routers under /admin/api/<version>/, errors, limits and headers."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..services.context import Orderdeck
from ..store.shop import NoShop
from ..tracking import intake as tracking_intake
from ..web import admin as admin_pages
from ..web import invoices as invoice_pages
from ..web import shipstation
from ..web import status as status_pages
from . import (
    automation,
    bulk,
    catalog,
    custom_statuses,
    draft_orders,
    errors,
    fulfillment_requests,
    fulfillment_services,
    fulfillments,
    notifications,
    order_edits,
    orders,
    payments,
    products,
    returns,
    shipments,
    timeline,
    tracking_sources,
    unavailable,
    webhooks,
)
from . import openapi as openapi_document
from .auth import TokenCache
from .errors import error_response
from .guards import InputGuard, Refusal, message_of
from .replica import ReadYourWrites
from .responses import app_of

API_VERSION = "2024-10"
_VERSION_PATH = re.compile(r"^/admin/api/(\d{4}-\d{2}|unstable)/")


class BodyLimit:
    """Refuse bodies over the limit before reading them into memory (413), also when they are
    streamed without a Content-Length; and, on the API, bodies not sent as JSON (400, as Shopify)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, 413, f"The body is larger than {self.limit} bytes; send less")
            return
        not_json = _not_json(scope, headers)
        if not_json:
            await self._refuse(send, 400, not_json)
            return
        seen = 0
        too_large = started = False

        async def counting() -> Message:
            nonlocal seen, too_large
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                too_large = True
                raise _TooLarge
            return message

        async def unless_too_large(message: Message) -> None:
            # The app's own answer to a body it could not finish reading (FastAPI turns any
            # error while reading into a 400) gives way to the 413 below.
            nonlocal started
            if too_large:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, unless_too_large)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._refuse(send, 413, f"The body is larger than {self.limit} bytes; send less")

    async def _refuse(self, send: Send, status: int, message: str) -> None:
        response = error_response(status, {"base": [message]})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(response.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})


def _not_json(scope: Scope, headers: dict[bytes, bytes]) -> str | None:
    """Why an API request's body will not be read as JSON: it has one, without a JSON
    Content-Type (curl -d sends application/x-www-form-urlencoded; some clients send none).
    None when it may go on. FastAPI would otherwise answer "Input should be a valid dictionary"."""
    if scope["method"] not in ("POST", "PUT", "PATCH") or not scope["path"].startswith("/admin/api/"):
        return None
    has_body = headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
    kind = headers.get(b"content-type")
    if not has_body:
        return None
    if kind is not None:
        media = kind.split(b";", 1)[0].strip().lower()
        if media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json")):
            return None
    said = f"this request's Content-Type is {kind.decode('latin-1')}" if kind else "this request has none"
    return f"Send the body as JSON with the header Content-Type: application/json ({said})"


class _TooLarge(Exception):
    pass


class ShopifyHeaders:
    """X-Request-Id on every answer and X-Shopify-API-Version on the API's; an unknown API
    version is a 404, as on Shopify. Plain ASGI rather than `@app.middleware("http")`, whose
    per-request task and streams cost more than the smallest requests themselves."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_api = path.startswith("/admin/api/")
        if is_api and not _VERSION_PATH.match(path):
            await error_response(404, "Not Found")(scope, receive, send)
            return
        asked = dict(scope.get("headers") or []).get(b"x-request-id")
        request_id = asked or str(uuid.uuid4()).encode()
        extra = [(b"x-request-id", request_id)]
        if is_api:
            extra.append((b"x-shopify-api-version", API_VERSION.encode()))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _lifespan(run_worker: bool) -> Any:
    """With `run_worker`, a worker runs in the server's event loop for as long as the server."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not run_worker:
            yield
            return
        from ..outbox.worker import Worker

        worker = Worker(app.state.orderdeck)
        task = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            worker.stop()
            await task

    return lifespan


DOCS_ASSETS = "/docs/assets"


def _install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with their scripts, styles and icon served from this server,
    so the documentation works without internet access. The files come from the installed
    `fastapi-offline` package (Swagger UI 5 and ReDoc 2); FastAPI's defaults load them from a CDN."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount(DOCS_ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


def _refusal_page(refusal: Refusal) -> Response:
    """The guard's refusal on a page for people (the admin, the sign-in, the status page)."""
    from ..web.admin.pages import render_public

    return render_public("problem.html", status=refusal.status, title=refusal.title, message=message_of(refusal))


def create_app(orderdeck: Orderdeck, *, run_worker: bool = False) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan(run_worker),
        title="Orderdeck Admin API",
        version=__version__,
        summary="Order management that speaks the Shopify Admin REST API (2024-10) for orders.",
        description=(
            "Authenticate with `X-Shopify-Access-Token`. Every POST on one resource takes an `Idempotency-Key` "
            "header: a retry with the same key returns the first answer and does nothing twice. Errors come as "
            '`{"errors": …}` with a 4xx status that says what kind they are. Lists paginate with '
            "`page_info` cursors and a `Link` header."
        ),
        openapi_url="/openapi.json",
        docs_url=None,  # served below, with their scripts from this server instead of a CDN
        redoc_url=None,
    )
    _install_docs(app)
    app.state.orderdeck = orderdeck
    app.state.token_cache = TokenCache()
    errors.install(app)
    unavailable.install(app)  # 503 + Retry-After when the database cannot be reached
    openapi_document.install(app)  # the answers' schemas, refusals and links (api/openapi.py)

    @app.exception_handler(NoShop)
    async def no_shop(_request: Request, exc: NoShop) -> Response:
        # A migrated database nobody has run `orderdeck init` on (`serve` refuses to start on one).
        return error_response(503, str(exc))

    admin = APIRouter(prefix="/admin/api/{api_version}")
    for module in (
        bulk,
        custom_statuses,
        orders,
        payments,
        fulfillments,
        returns,
        draft_orders,
        order_edits,
        fulfillment_services,
        fulfillment_requests,
        tracking_sources,
        shipments,
        timeline,
        catalog,
        products,
        webhooks,
        automation,
        notifications,
    ):
        admin.include_router(module.router)
    app.include_router(admin)
    app.include_router(status_pages.router)
    app.include_router(invoice_pages.router)
    app.include_router(shipstation.router)  # ShipStation's Custom Store endpoint, /shipstation
    app.include_router(tracking_intake.router)
    admin_pages.install(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness and database reachability")
    def health(request: Request) -> dict[str, Any]:
        # The app's Orderdeck read per request (here and below): the routes hold no state of
        # their own, so one application object can serve another Orderdeck (the test suite
        # builds the routes once and hands each test its own database).
        with app_of(request).unit_of_work(read_only=True) as uow:
            uow.conn.exec_driver_sql("SELECT 1")
        # Which server process answered (host:pid): `serve --workers N` runs N behind one port.
        return {"status": "ok", "version": __version__, "process": f"{socket.gethostname()}:{os.getpid()}"}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics: outbox, deliveries, worker lag")
    def prometheus_metrics(request: Request) -> Response:
        from ..outbox.metrics import exposition

        return Response(exposition(app_of(request)), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(InputGuard, page=_refusal_page)  # NUL, ids beyond 64 bits, … (api/guards.py)
    app.add_middleware(ShopifyHeaders)
    app.add_middleware(BodyLimit, limit=orderdeck.settings.max_body_bytes)
    app.add_middleware(ReadYourWrites)  # outermost: the replica or the primary, for all of a request
    return app
