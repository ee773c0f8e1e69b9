"""API tokens in the admin: the keys apps and scripts send as `X-Shopify-Access-Token`.

A token's secret is shown once, on the page that answers the form that made it; the database
keeps only its SHA-256 and last four characters. Revoking takes effect at once in this server
process: the REST API caches tokens it has seen per process (api/auth.py), so the revoked
token's entries are dropped from that cache too. Other server processes re-check their cached
tokens every 30 seconds, so they refuse it within that time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import select

from ...domain.errors import InvalidInput
from ...store.access import SCOPES, parse_scopes
from ...store.tables import api_tokens
from .access import Admin, require
from .pages import render
from .settings import Form, Problems, text, texts

router = APIRouter(prefix="/settings")
Settings = Annotated[Admin, Depends(require("manage_settings"))]

# What each scope lets an app do, in a merchant's words (Shopify's scope names are the values).
SCOPE_WORDS = {
    "orders": "Orders, their transactions, refunds and custom statuses",
    "all_orders": "Orders of every age (Shopify limits the rest to 60 days; Orderdeck does not)",
    "fulfillments": "Fulfillments and their tracking",
    "returns": "Returns, exchanges, return labels and receiving returned items (the order scopes reach them too)",
    "draft_orders": "Draft orders: prepare an order, send its invoice, complete it (the order scopes reach them too)",
    "order_edits": "Order edits: add, remove and discount items, change shipping (the order scopes reach them too)",
    "merchant_managed_fulfillment_orders": "Fulfillment orders at your own locations",
    "assigned_fulfillment_orders": "Fulfillment orders assigned to a fulfillment service",
    "inventory": "Stock levels",
    "locations": "Locations",
    "products": "Products",
    "customers": "Customers",
    "webhooks": "Webhook subscriptions, their addresses and delivery log",
    "settings": "Shop settings, including the mail server and the staff address",
    "automation_rules": "Automation rules (which can e-mail and call addresses)",
    "notification_templates": "Notification templates (what customers are sent)",
}


def _scope_rows() -> list[dict[str, Any]]:
    """One row per resource with its read and write scope (when it has one)."""
    rows: dict[str, dict[str, Any]] = {}
    for scope in SCOPES:
        access, _, resource = scope.partition("_")
        row = rows.setdefault(resource, {"resource": resource, "about": SCOPE_WORDS.get(resource, resource)})
        row[access] = scope
    return list(rows.values())


def _tokens(admin: Admin) -> list[Any]:
    with admin.app.unit_of_work(read_only=True) as uow:
        return list(uow.conn.execute(select(api_tokens).order_by(api_tokens.c.id.desc())).mappings())


@router.get("/tokens", summary="API tokens")
def tokens_page(admin: Settings) -> Response:
    return render(admin, "settings_tokens.html", tokens=_tokens(admin))


def _new_form(admin: Admin, values: dict[str, Any], problems: Problems, status: int = 200) -> Response:
    return render(
        admin, "settings_token_new.html", status=status, values=values, problems=problems, scope_rows=_scope_rows()
    )


@router.get("/tokens/new", summary="Create an API token")
def new_token(admin: Settings) -> Response:
    return _new_form(admin, {"name": "", "scopes": []}, Problems())


@router.post("/tokens/new", summary="Create an API token")
def create_token(admin: Settings, form: Form) -> Response:
    values = {"name": text(form, "name"), "scopes": texts(form, "scopes")}
    problems = Problems()
    if not values["name"]:
        problems["name"] = "Name the token after the app or person that will use it"
    elif len(values["name"]) > 255:
        problems["name"] = "Must be at most 255 characters"
    try:
        chosen = parse_scopes(values["scopes"])
    except InvalidInput as exc:
        problems.add(exc)
    if problems:
        return _new_form(admin, values, problems, 422)
    with admin.app.unit_of_work() as uow:
        token, secret = uow.tokens.create(values["name"], chosen, uow.now)
        uow.commit()
    # Answered directly, never redirected or stored: this page is the only place the secret appears.
    return render(admin, "settings_token_created.html", token=token, secret=secret)


@router.post("/tokens/{token_id:int}/revoke", summary="Revoke an API token")
def revoke_token(admin: Settings, token_id: int) -> Response:
    with admin.app.unit_of_work() as uow:
        row = uow.conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
        if row is None:
            return admin.done("/admin/settings/tokens", f"There is no API token {token_id}.", kind="error")
        if row["revoked_at"] is not None:
            return admin.done("/admin/settings/tokens", f"{row['name']} was revoked already.", kind="info")
        uow.tokens.revoke(token_id, uow.now)
        uow.commit()
    admin.request.app.state.token_cache.forget(token_id)  # this process at once; others within 30 s
    return admin.done("/admin/settings/tokens", f"{row['name']} revoked: apps using it are refused from now on.")
