"""The `orderdeck` command line: serve, migrate, tokens, demo data and the sweeps."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from .bootstrap import build
from .domain.errors import InvalidInput
from .domain.order import Author
from .services.context import Command
from .store.access import parse_scopes
from .store.migrate import migrate as run_migrations

app = typer.Typer(
    help="Orderdeck: self-hosted order management with a Shopify-compatible Admin API.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console()

ALL_SCOPES = (
    "read_orders,write_orders,read_merchant_managed_fulfillment_orders,"
    "write_merchant_managed_fulfillment_orders,read_fulfillments,write_fulfillments,read_inventory,"
    "write_inventory,read_locations,write_locations,read_products,write_products,read_customers"
)


@app.command()
def migrate(
    shop_name: Annotated[str, typer.Option(help="Name of a new shop")] = "Orderdeck demo shop",
    currency: Annotated[str, typer.Option(help="Shop currency of a new shop")] = "EUR",
    timezone: Annotated[str, typer.Option(help="IANA time zone of a new shop")] = "Europe/Amsterdam",
) -> None:
    """Bring the database to the current schema (safe to run again)."""
    deck = build()
    run_migrations(deck.db, shop_name=shop_name, currency=currency, timezone=timezone)
    console.print(f"[green]Database ready[/green] ({make_url(deck.db.url).render_as_string(hide_password=True)})")


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
    """Revoke a token by its id; running servers stop accepting it when they restart."""
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
) -> None:
    """Serve the API (and its docs at /docs)."""
    import uvicorn

    os.environ.setdefault("ORDERDECK_PUBLIC_URL", f"http://{host}:{port}")
    uvicorn.run(
        "orderdeck.bootstrap:create_api",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


@app.command()
def demo(
    orders: Annotated[int, typer.Option("--orders", help="How many orders to add")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed (the same seed gives the same shop)")] = 7,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Only when the shop has no orders yet")] = False,
) -> None:
    """Load a demo shop: locations, products with stock, and orders in every status."""
    from sqlalchemy import func, select

    from .demo import load_demo
    from .store.tables import orders as orders_table

    deck = build()
    run_migrations(deck.db)
    if if_empty:
        with deck.unit_of_work(read_only=True) as uow:
            if uow.conn.execute(select(func.count()).select_from(orders_table)).scalar_one():
                console.print("The shop has orders already; no demo orders added.")
                return
    load_demo(deck, count=orders, seed=seed, console=console)


@app.command()
def rerender() -> None:
    """Store every order's rendering afresh after changing ORDERDECK_PUBLIC_URL or the shop's
    time zone (until then lists render those orders on every read)."""
    from .services.rendering import rerender_stale

    console.print(f"{rerender_stale(build())} order(s) rendered afresh")


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


def system_command(deck: object, uow: object) -> Command:
    return Command(deck, uow, Author("system", "Orderdeck CLI"))  # type: ignore[arg-type]


if __name__ == "__main__":
    app()
