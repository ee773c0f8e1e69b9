"""The `orderdeck` command line: serve, migrate, tokens, demo data and the sweeps."""

from __future__ import annotations

import os
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from .bootstrap import build
from .domain.errors import InvalidInput
from .domain.order import Author
from .services.context import Command, Orderdeck
from .serving import ServeLimits, raise_open_file_limit
from .store.access import SCOPES, parse_scopes
from .store.migrate import SchemaNotCurrent, check_schema
from .store.migrate import migrate as run_migrations

app = typer.Typer(
    help="Orderdeck: self-hosted order management with a Shopify-compatible Admin API.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console()

# The default of `token create` (the quick start's and the owner's token): every scope.
ALL_SCOPES = ",".join(SCOPES)


@app.command()
def migrate(
    shop_name: Annotated[str | None, typer.Option(hidden=True)] = None,
    currency: Annotated[str | None, typer.Option(hidden=True)] = None,
    timezone: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Bring the database to the current schema (safe to run again, and at the same time from
    several machines: one migrates, the others wait for it and find nothing left to do). It
    makes no shop: `orderdeck init` creates yours, `orderdeck demo` a demo shop."""
    if shop_name is not None or currency is not None or timezone is not None:
        # Earlier versions made the shop here, from these options (and ignored them once it existed).
        console.print(
            "[red]`orderdeck migrate` no longer creates the shop, so it takes no --shop-name, --currency or "
            "--timezone. Create a new shop with `orderdeck init --name … --currency … --timezone …`; change an "
            "existing one at /admin/settings/shop.[/red]",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    deck = build()
    try:
        run_migrations(deck.db)
    except DBAPIError as exc:
        _database_unreachable(deck, exc)
    console.print(f"[green]Database ready[/green] ({make_url(deck.db.url).render_as_string(hide_password=True)})")
    _say_shop(deck)


def _say_shop(deck: Orderdeck) -> None:
    from .store.shop import has_shop

    with deck.unit_of_work(read_only=True) as uow:
        if has_shop(uow.conn):
            shop = uow.shop
            console.print(f"Shop: {shop.name} ({shop.currency}, {shop.timezone}, {shop.primary_locale})")
            return
    me = _command()
    console.print(
        f"No shop yet. Create yours with [bold]{me} init[/bold] (it asks for the name, currency, time zone, "
        f"language, address and the owner's e-mail), or a demo shop with [bold]{me} demo[/bold].",
        soft_wrap=True,
    )


def _command() -> str:
    """How to call this command again in what it prints: `orderdeck` when that is on PATH (an
    activated virtualenv), otherwise the path it was called by, such as `.venv/bin/orderdeck`."""
    import shutil
    import sys

    invoked = sys.argv[0]
    if os.path.basename(invoked) != "orderdeck":
        return "orderdeck"  # python -m orderdeck.cli, or a test
    found = shutil.which("orderdeck")
    if found and os.path.exists(invoked) and os.path.samefile(found, invoked):
        return "orderdeck"
    relative = os.path.relpath(invoked)
    return invoked if relative.startswith("..") else relative


INIT_FIELDS = (
    # option, what is asked, default when asked (None: an answer is needed)
    ("name", "Shop name", None),
    ("currency", "Currency (ISO 4217, e.g. USD, EUR)", None),
    ("timezone", "Time zone (IANA, e.g. America/New_York, Europe/Amsterdam)", None),
    ("language", "Language customers are written to in (en, nl, de, fi)", "en"),
    ("address1", "Shop address (street and number)", None),
    ("city", "City", None),
    ("zip", "Postal code (Enter for none)", ""),
    ("country", "Country (two letters, e.g. US, NL)", None),
    ("owner_email", "Owner's e-mail address (they sign in to the admin with it)", None),
)


@app.command()
def init(
    name: Annotated[str | None, typer.Option(help="The shop's name")] = None,
    currency: Annotated[
        str | None, typer.Option(help="ISO 4217 currency code, e.g. USD (fixed once there are orders)")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. America/New_York")] = None,
    language: Annotated[
        str | None, typer.Option(help="Language of customer e-mails and pages: en, nl, de or fi")
    ] = None,
    address1: Annotated[str | None, typer.Option(help="The shop's street address (also its first location's)")] = None,
    address2: Annotated[str | None, typer.Option(help="Apartment, suite, etc.")] = None,
    city: Annotated[str | None, typer.Option(help="City")] = None,
    zip: Annotated[str | None, typer.Option(help="Postal code")] = None,
    province: Annotated[str | None, typer.Option(help="State or province, where the country has them")] = None,
    province_code: Annotated[str | None, typer.Option(help="Its code, e.g. NY")] = None,
    country: Annotated[str | None, typer.Option(help="Two-letter country code, e.g. US")] = None,
    phone: Annotated[str | None, typer.Option(help="The location's phone number")] = None,
    owner_email: Annotated[str | None, typer.Option(help="The owner's e-mail: their admin login")] = None,
    owner_name: Annotated[str, typer.Option(help="The owner's name, shown on the timeline")] = "",
) -> None:
    """Set up a new shop: migrate the database, create the shop with these values, its first
    location at the shop's address (so it takes orders at once), the owner's admin account and
    an API token, and print the login and the token. Missing values are asked for in a terminal."""
    from .services.shop_setup import AlreadyInitialised, NewShop, initialise, refuse_when_initialised

    deck = build()
    try:
        run_migrations(deck.db)
    except DBAPIError as exc:
        _database_unreachable(deck, exc)
    try:
        refuse_when_initialised(deck)
    except AlreadyInitialised as exc:
        console.print(f"[red]{exc.message}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    given = {
        "name": name,
        "currency": currency,
        "timezone": timezone,
        "language": language,
        "address1": address1,
        "city": city,
        "zip": zip,
        "country": country,
        "owner_email": owner_email,
    }
    missing = [option for option, _, default in INIT_FIELDS if given[option] is None and default is None]
    if missing and not _interactive():
        flags = " ".join(f"--{m.replace('_', '-')}" for m in missing)
        console.print(
            f"[red]Missing {flags}. Pass them all (see `{_command()} init --help`), or run `{_command()} init` in a "
            "terminal to be asked.[/red]",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    for option, question, default in INIT_FIELDS:
        if given[option] is None and _interactive():
            given[option] = typer.prompt(question, default=default, show_default=bool(default))
    try:
        done = initialise(
            deck,
            NewShop(
                name=str(given["name"]),
                currency=str(given["currency"]),
                timezone=str(given["timezone"]),
                language=str(given["language"] or "en"),
                address1=str(given["address1"]),
                city=str(given["city"]),
                country=str(given["country"]),
                owner_email=str(given["owner_email"]),
                zip=given["zip"],
                address2=address2,
                province=province,
                province_code=province_code,
                phone=phone,
                owner_name=owner_name,
            ),
        )
    except AlreadyInitialised as exc:
        console.print(f"[red]{exc.message}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    except InvalidInput as exc:
        option = {"email": "owner-email", "iana_timezone": "timezone", "primary_locale": "language"}.get(
            exc.field, exc.field.replace("_", "-")
        )
        console.print(f"[red]--{option}: {exc.message}. Nothing was created.[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    url = deck.settings.public_url.rstrip("/")
    me = _command()
    console.print(f"[green]Shop {done.shop_name!r} created[/green], with its first location {done.location_name!r}.")
    if done.owner_password:
        console.print(
            f"Admin: [bold]{url}/admin[/bold]  e-mail [bold]{done.owner_email}[/bold]  password "
            f"[bold]{done.owner_password}[/bold]  (shown once; change it with {me} staff password --email "
            f"{done.owner_email})",
            soft_wrap=True,
        )
    else:
        console.print(
            f"Admin: [bold]{url}/admin[/bold]  e-mail [bold]{done.owner_email}[/bold] (your existing password)"
        )
    console.print(f"API token (shown once): [bold]{done.api_token}[/bold]", soft_wrap=True)
    console.print(f"Start it with [bold]{me} serve[/bold]; settings at {url}/admin/settings.", soft_wrap=True)


def _interactive() -> bool:
    import sys

    return sys.stdin.isatty()


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who or what uses the token")],
    scopes: Annotated[str, typer.Option(help="Comma-separated Shopify scope names")] = ALL_SCOPES,
) -> None:
    """Create an API token and print it (it is stored hashed and cannot be shown again)."""
    try:
        chosen = parse_scopes(scopes)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message, param_hint="--scopes") from None
    deck = build()
    with deck.unit_of_work() as uow:
        _, secret = uow.tokens.create(name, chosen, uow.now)
        uow.commit()
    typer.echo(secret)


@token_app.command("list")
def token_list() -> None:
    """List tokens (id, name, scopes, the token's last four characters) without their secrets."""
    from sqlalchemy import select

    from .store.tables import api_tokens

    deck = build()
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(select(api_tokens).order_by(api_tokens.c.id)).mappings().all()
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        typer.echo(f"{row['id']}\t{row['name']}\t…{row['token_hint']}\t{state}\t{row['scopes']}")


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id; running servers refuse it within 30 seconds."""
    deck = build()
    with deck.unit_of_work() as uow:
        found = uow.tokens.revoke(token_id, uow.now)
        uow.commit()
    if not found:
        raise typer.BadParameter(f"no token with id {token_id}")
    console.print("revoked")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (PostgreSQL: one per core)")] = 1,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Deliver webhooks and run scheduled jobs in-process too")
    ] = True,
    header_timeout: Annotated[
        float,
        typer.Option(
            min=0.1, envvar="ORDERDECK_HEADER_TIMEOUT", help="Seconds a client has to send a request's headers"
        ),
    ] = ServeLimits.header_timeout,
    body_timeout: Annotated[
        float,
        typer.Option(min=0.1, envvar="ORDERDECK_BODY_TIMEOUT", help="Seconds a client has to send a request's body"),
    ] = ServeLimits.body_timeout,
    keep_alive_timeout: Annotated[
        int, typer.Option(min=1, envvar="ORDERDECK_KEEP_ALIVE_TIMEOUT", help="Seconds an idle connection stays open")
    ] = ServeLimits.timeout_keep_alive,
    limit_concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="ORDERDECK_LIMIT_CONCURRENCY",
            help="Connections or requests a process serves at once; more get 503",
        ),
    ] = ServeLimits.limit_concurrency,
    max_connections: Annotated[
        int,
        typer.Option(
            min=1, envvar="ORDERDECK_MAX_CONNECTIONS", help="Open connections a process keeps; more are closed at once"
        ),
    ] = ServeLimits.max_connections,
    backlog: Annotated[
        int, typer.Option(min=1, envvar="ORDERDECK_BACKLOG", help="Connections the kernel queues for a process")
    ] = ServeLimits.backlog,
    max_header_bytes: Annotated[
        int,
        typer.Option(
            min=1024, envvar="ORDERDECK_MAX_HEADER_BYTES", help="Largest request head (line and headers) accepted"
        ),
    ] = ServeLimits.max_header_bytes,
) -> None:
    """Serve the API (and its docs at /docs). Unless --no-worker, each server process also runs a
    worker that delivers webhooks and runs the scheduled jobs. Slow and excess clients are cut
    off (docs/operations.md, "Slow clients and connection limits")."""
    import uvicorn

    _require_current_schema(build())
    _require_shop(build())
    os.environ.setdefault("ORDERDECK_PUBLIC_URL", f"http://{host}:{port}")
    if not worker:
        os.environ["ORDERDECK_WORKER"] = "0"
    limits = ServeLimits(
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        timeout_keep_alive=keep_alive_timeout,
        limit_concurrency=limit_concurrency,
        max_connections=max_connections,
        backlog=backlog,
        max_header_bytes=max_header_bytes,
    )
    os.environ.update(limits.to_env())  # every server process uvicorn starts reads the same limits
    soft, _ = raise_open_file_limit()
    if soft < max_connections + 100:
        console.print(
            f"[yellow]This process may open only {soft} files, fewer than --max-connections {max_connections} "
            "and the database's: raise the hard limit (ulimit -Hn, LimitNOFILE= in systemd).[/yellow]",
            soft_wrap=True,
        )
    uvicorn.run(
        "orderdeck.bootstrap:create_api",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # With --workers, uvicorn's supervisor pings each child and, when one has not answered
        # within this many seconds, kills it and starts another. A child answers only once it
        # has imported its way to uvicorn's code (this module, typer, …): seconds on a busy
        # machine, past uvicorn's 5, so children were killed and restarted for ever.
        timeout_worker_healthcheck=60,
        log_level="info",
        access_log=False,
        **limits.uvicorn_options(),
    )


def _require_current_schema(deck: Orderdeck) -> None:
    """Servers and workers never migrate (several starting together would race on the schema):
    they refuse to start on a schema that is not this version's, saying what to do."""
    try:
        check_schema(deck.db)
    except SchemaNotCurrent as exc:
        console.print(f"[red]{exc.message}[/red]", soft_wrap=True)
        raise typer.Exit(3) from None
    except DBAPIError as exc:
        _database_unreachable(deck, exc)


def _require_shop(deck: Orderdeck) -> None:
    """Servers and workers need the shop: without one, say how to make it instead of failing
    on every request."""
    from .store.shop import NO_SHOP, has_shop

    with deck.unit_of_work(read_only=True) as uow:
        if not has_shop(uow.conn):
            console.print(f"[red]{NO_SHOP}; then start again.[/red]", soft_wrap=True)
            raise typer.Exit(3)


def _database_unreachable(deck: Orderdeck, exc: DBAPIError) -> NoReturn:
    where = make_url(deck.db.url).render_as_string(hide_password=True)
    console.print(f"[red]Cannot use the database {where}: {str(exc.orig).strip()}[/red]", soft_wrap=True)
    raise typer.Exit(4)


staff_app = typer.Typer(help="Staff accounts for the admin (/admin).", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


@staff_app.command("create")
def staff_create(
    email: Annotated[str, typer.Option(help="The e-mail address they sign in with")],
    password: Annotated[str, typer.Option(help=f"At least {10} characters", prompt=True, hide_input=True)],
    name: Annotated[str, typer.Option(help="The name shown on the timeline")] = "",
    owner: Annotated[bool, typer.Option("--owner", help="An owner may do everything, staff included")] = False,
    permissions: Annotated[
        str,
        typer.Option(
            help="Comma-separated: view_orders, manage_orders, refund, delete_orders, manage_settings, manage_staff"
        ),
    ] = "view_orders,manage_orders",
) -> None:
    """Add a staff member (the first owner is made this way)."""
    from .services.staff import add_staff

    deck = build()
    try:
        with deck.unit_of_work() as uow:
            member = add_staff(
                uow,
                email=email,
                password=password,
                name=name,
                owner=owner,
                permissions=[p.strip() for p in permissions.split(",") if p.strip()],
            )
            uow.commit()
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    role = "owner" if member.owner else ", ".join(sorted(member.permissions))
    console.print(f"[green]Added[/green] {member.name} <{member.email}> ({role}); they sign in at /admin")


@staff_app.command("password")
def staff_password(
    email: Annotated[str, typer.Option(help="Whose password")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set a staff member's password (signs them out everywhere)."""
    from .services.staff import set_password

    deck = build()
    with deck.unit_of_work() as uow:
        found = uow.staff.by_email(email)
        if found is None:
            raise typer.BadParameter(f"nobody has an account with {email}", param_hint="--email")
        try:
            set_password(uow, found[0].id, password)
        except InvalidInput as exc:
            raise typer.BadParameter(exc.message, param_hint="--password") from None
        uow.commit()
    console.print(f"[green]Password changed[/green] for {email}")


@staff_app.command("list")
def staff_list() -> None:
    """Every staff account: id, e-mail, name, role, active, last sign-in."""
    deck = build()
    with deck.unit_of_work(read_only=True) as uow:
        for m in uow.staff.all():
            role = "owner" if m.owner else ",".join(sorted(m.permissions))
            seen = m.last_login_at.isoformat() if m.last_login_at else "never"
            typer.echo(f"{m.id}\t{m.email}\t{m.name}\t{role}\t{'active' if m.active else 'inactive'}\t{seen}")


@app.command()
def demo(
    orders: Annotated[int, typer.Option("--orders", help="How many orders to add")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed (the same seed gives the same shop)")] = 7,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Only when the shop has no orders yet")] = False,
) -> None:
    """Load a demo shop: locations, products with stock, and orders in every status. Makes the
    demo shop (EUR, Europe/Amsterdam) on a database without a shop; never touches a shop made
    with `orderdeck init`."""
    from sqlalchemy import func, select

    from .demo import DEMO_SHOP, ensure_demo_shop, load_demo
    from .store.tables import orders as orders_table

    deck = build()
    run_migrations(deck.db)
    ensure_demo_shop(deck.db)
    with deck.unit_of_work(read_only=True) as uow:
        name = uow.shop.name
    if name != DEMO_SHOP["name"]:
        # Made-up orders, customers and products in someone's real shop could not be told apart.
        console.print(
            f"This database holds the shop {name!r}, not the demo shop: no demo data added. For a demo, point "
            "ORDERDECK_DATABASE_URL at another database.",
            soft_wrap=True,
        )
        raise typer.Exit(0 if if_empty else 1)
    if if_empty:
        with deck.unit_of_work(read_only=True) as uow:
            if uow.conn.execute(select(func.count()).select_from(orders_table)).scalar_one():
                console.print("The shop has orders already; no demo orders added.")
                _demo_owner(deck)
                return
    load_demo(deck, count=orders, seed=seed, console=console)
    _demo_owner(deck)


def _demo_owner(deck: Orderdeck) -> None:
    """The demo shop's first owner, with a fresh password printed once (only while nobody has an account)."""
    import secrets

    from .services.staff import add_staff

    with deck.unit_of_work() as uow:
        if uow.staff.all():
            return
        password = secrets.token_urlsafe(12)
        add_staff(uow, email="owner@demo.orderdeck", password=password, name="Demo Owner", owner=True)
        uow.commit()
    url = deck.settings.public_url.rstrip("/") + "/admin"
    console.print(
        f"Admin: [bold]{url}[/bold]  e-mail [bold]owner@demo.orderdeck[/bold]  password [bold]{password}[/bold]",
        soft_wrap=True,  # one line, so it can be copied whole
    )


@app.command()
def rerender() -> None:
    """Store every order's rendering afresh after changing ORDERDECK_PUBLIC_URL or the shop's
    time zone (until then lists render those orders on every read)."""
    from .services.held import release_due
    from .services.rendering import rerender_stale

    deck = build()
    released = release_due(deck)  # bulk work's orders first: their held webhooks wait for them
    if released:
        console.print(f"{released} order(s) changed by bulk work rendered and their messages released")
    console.print(f"{rerender_stale(deck)} order(s) rendered afresh")


@app.command("repair-orders")
def repair_orders(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report; change nothing")] = False,
) -> None:
    """Find orders whose stored document no longer loads. A null where the order has a default
    (the known bad value) is replaced by the default and the order stored again; the others are
    listed, untouched, for you to look at. Also adds search terms orders lack, and puts right by
    today's rules what older versions left wrong (refunded unfulfilled units still on fulfillment
    orders with their stock committed; refunds lacking their refund discrepancy). Exit status 1
    when an order is left that does not load."""
    from .store.repair import fill_missing_search_terms, repair_documents, repair_old_orders

    deck = build()
    _require_current_schema(deck)
    report = repair_documents(deck.db.writer.begin, dry_run=dry_run)
    verb = "would be repaired" if dry_run else "repaired"
    for order_id, name, problem in report.repaired:
        console.print(f"{name} (id {order_id}) {verb}: {problem}", soft_wrap=True)
    for order_id, name, problem in report.unreadable:
        console.print(f"[red]{name} (id {order_id}) does not load; left as it is: {problem}[/red]", soft_wrap=True)
    added = 0
    if not dry_run:
        with deck.db.writer.begin() as conn:
            added = fill_missing_search_terms(conn)
    old = repair_old_orders(deck.db.writer.begin, now=deck.clock(), dry_run=dry_run)
    for order_id, name, what in old.repaired:
        console.print(f"{name} (id {order_id}) {verb}: {what}", soft_wrap=True)
    for order_id, item_id, location_id in old.stock_not_found:
        console.print(
            f"[yellow]order id {order_id}: item {item_id} is no longer stocked at location {location_id}; "
            "no reserved stock written off there[/yellow]",
            soft_wrap=True,
        )
    console.print(
        f"{report.checked} order(s) checked, {len(report.repaired) + len(old.repaired)} {verb}, "
        f"{len(report.unreadable)} that do not load, {added} search term(s) added"
    )
    if report.unreadable:
        raise typer.Exit(1)


def _sweep(name: str) -> None:
    from .services import sweeps

    deck = build()
    done = getattr(sweeps, name)(deck)
    console.print(f"{done} order(s) changed")


@app.command("expire-authorizations")
def expire_authorizations() -> None:
    """Record expiry of authorizations past their deadline (payment status becomes expired)."""
    _sweep("expire_authorizations")


@app.command("auto-archive")
def auto_archive() -> None:
    """Archive orders the auto-archive rule covers (fulfilled and paid, or refunded)."""
    _sweep("auto_archive")


@app.command("open-scheduled")
def open_scheduled() -> None:
    """Open scheduled fulfillment orders whose date has come."""
    _sweep("open_due_fulfillment_orders")


@app.command("worker")
def run_worker(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's Prometheus metrics on this port")
    ] = None,
    jobs: Annotated[bool, typer.Option("--jobs/--no-jobs", help="Also run the scheduled jobs")] = True,
) -> None:
    """Deliver webhooks and run scheduled jobs until SIGTERM (any number of workers may run)."""
    import asyncio
    import logging

    from .outbox.metrics import REGISTRY, QueueCollector
    from .outbox.worker import Worker, run_until_signalled

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per delivery; the log table has them
    # No check of pooled connections before each of the worker's many short transactions: every
    # loop retries a transaction that failed on a dead connection (store/database.py).
    deck = build(pre_ping=False)
    _require_current_schema(deck)
    _require_shop(deck)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        REGISTRY.register(QueueCollector(deck))
        start_http_server(metrics_port, registry=REGISTRY)
    asyncio.run(run_until_signalled(Worker(deck, run_jobs=jobs)))


@app.command("reference-3pl")
def reference_3pl(
    token: Annotated[
        str,
        typer.Option(
            envvar="ORDERDECK_3PL_TOKEN",
            help="An Orderdeck API token for the service: `orderdeck token create --name '3PL' --scopes "
            "write_fulfillments,write_assigned_fulfillment_orders,read_products,write_inventory`",
        ),
    ],
    orderdeck_url: Annotated[str, typer.Option(help="Where Orderdeck serves")] = "http://127.0.0.1:8000",
    host: Annotated[str, typer.Option(help="Interface the service listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the service listens on")] = 8100,
    public_url: Annotated[
        str | None, typer.Option(help="Its callback_url as Orderdeck reaches it (default http://HOST:PORT)")
    ] = None,
    name: Annotated[str, typer.Option(help="The fulfillment service's name (and its location's)")] = "Reference 3PL",
    stock: Annotated[list[str] | None, typer.Option(help="Units on its shelf, SKU=QTY; repeat for each SKU")] = None,
    ship_after: Annotated[float, typer.Option(min=0, help="Seconds from accepting a request to shipping it")] = 60.0,
    poll_every: Annotated[
        float, typer.Option(min=0.1, help="Seconds between its own reads of the assigned work (lost notifications)")
    ] = 300.0,
    secret: Annotated[
        str | None,
        typer.Option(envvar="ORDERDECK_3PL_SECRET", help="Check notifications' X-Shopify-Hmac-Sha256 with this secret"),
    ] = None,
    carrier: Annotated[str, typer.Option(help="The tracking company on its shipments")] = "DHL Express",
    tracking_later: Annotated[
        bool,
        typer.Option("--tracking-later", help="Ship without a number; give it when asked (fetch_tracking_numbers)"),
    ] = False,
    publish_stock: Annotated[
        bool,
        typer.Option(
            "--publish-stock/--no-publish-stock", help="On start, set its stock at its location for the shop's SKUs"
        ),
    ] = True,
    silent: Annotated[bool, typer.Option("--silent", help="Take notifications and never answer (for tests)")] = False,
    down_for: Annotated[int, typer.Option(min=0, help="Answer the first N notifications with a 500 (for tests)")] = 0,
) -> None:
    """Run the reference 3PL: a fulfillment service in its own process that talks to Orderdeck only
    through the API, as a 3PL app written for Shopify does. It registers itself, accepts the
    requests its stock covers and rejects the others, ships after --ship-after seconds with a
    tracking number, and answers fetch_stock and fetch_tracking_numbers (docs/operations.md)."""
    from .reference_3pl import Config, parse_stock, serve

    try:
        shelf = parse_stock(stock or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--stock") from None
    config = Config(
        orderdeck_url=orderdeck_url,
        token=token,
        host=host,
        port=port,
        public_url=public_url,
        name=name,
        stock=shelf,
        ship_after=ship_after,
        poll_every=poll_every,
        secret=secret,
        carrier=carrier,
        tracking_later=tracking_later,
        publish_stock=publish_stock,
        silent=silent,
        down_for=down_for,
    )
    console.print(
        f"Reference 3PL {name!r} at {config.callback_url}, for Orderdeck at {orderdeck_url}; "
        f"stock {shelf or 'none'}; ships {ship_after:g} s after accepting.",
        soft_wrap=True,
    )
    serve(config)


webhooks_app = typer.Typer(help="Webhooks.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("secret")
def webhooks_secret() -> None:
    """Print the secret that signs deliveries (X-Shopify-Hmac-Sha256), making it if need be."""
    from .store.webhooks import webhook_secret

    deck = build()
    with deck.unit_of_work() as uow:
        secret = webhook_secret(uow.conn, deck.settings.webhook_secret)
        uow.commit()
    typer.echo(secret)


jobs_app = typer.Typer(
    help="Scheduled jobs (workers run them; these commands show and run them).", no_args_is_help=True
)
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("list")
def jobs_list() -> None:
    """Each job: how often it runs, when next, and its last result."""
    from rich.table import Table

    from .outbox.scheduler import states

    table = Table("job", "every", "next run", "last finished", "last result", "running on")
    for job in states(build()):
        table.add_row(
            job.name,
            str(job.every),
            f"{job.next_run_at:%Y-%m-%d %H:%M:%S}" if job.next_run_at else "at the next poll",
            f"{job.last_finished_at:%Y-%m-%d %H:%M:%S}" if job.last_finished_at else "never",
            job.last_error or job.last_result or "",
            job.running_on or "",
        )
    console.print(table)


@jobs_app.command("run")
def jobs_run(name: str) -> None:
    """Run one job now, whatever its schedule."""
    from .outbox.scheduler import JOBS_BY_NAME, run_now
    from .outbox.worker import worker_name

    if name not in JOBS_BY_NAME:
        raise typer.BadParameter(f"no job named {name}; one of: {', '.join(JOBS_BY_NAME)}")
    console.print(run_now(build(), name, worker_name()))


rules_app = typer.Typer(help="Automation rules as YAML.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("export")
def rules_export(
    path: Annotated[str, typer.Argument(help="File to write; - for standard output")] = "-",
) -> None:
    """Write every automation rule as YAML (a list of rules, as the API shows them)."""
    import yaml

    from .store.automation import Rules

    deck = build()
    with deck.unit_of_work(read_only=True) as uow:
        rules = [r.definition for r in Rules(uow.conn).list()]
    text = yaml.safe_dump(rules, sort_keys=False, allow_unicode=True)
    if path == "-":
        typer.echo(text, nl=False)
    else:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        console.print(f"{len(rules)} rule(s) written to {path}")


@rules_app.command("import")
def rules_import(path: Annotated[str, typer.Argument(help="YAML file with a list of rules")]) -> None:
    """Create the rules of a YAML file, replacing rules of the same name. Every rule is checked
    first; if one is wrong nothing is saved and the error names the rule and the place."""
    import yaml

    from .services.automation import create_rule, replace_rule
    from .store.automation import Rules

    try:
        with open(path, encoding="utf-8") as source:
            loaded = yaml.safe_load(source)
    except (OSError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}") from None
    if isinstance(loaded, dict):
        loaded = [loaded]
    if not isinstance(loaded, list):
        raise typer.BadParameter(f"{path} must hold a list of rules")
    deck = build()
    created = replaced = 0
    with deck.unit_of_work() as uow:
        cmd = Command(deck, uow, Author("system", "orderdeck rules import"))
        by_name = {r.name: r.id for r in Rules(uow.conn).list()}
        for index, raw in enumerate(loaded):
            try:
                name = raw.get("name") if isinstance(raw, dict) else None
                if name in by_name:
                    replace_rule(cmd, by_name[name], raw)
                    replaced += 1
                else:
                    create_rule(cmd, raw)
                    created += 1
            except InvalidInput as exc:
                console.print(f"[red]rule {index + 1} ({name or 'unnamed'}), {exc.field}: {exc.message}[/red]")
                console.print("Nothing was imported.")
                raise typer.Exit(2) from None
        uow.commit()
    console.print(f"{created} rule(s) created, {replaced} replaced")


def system_command(deck: object, uow: object) -> Command:
    return Command(deck, uow, Author("system", "Orderdeck CLI"))  # type: ignore[arg-type]


if __name__ == "__main__":
    app()
