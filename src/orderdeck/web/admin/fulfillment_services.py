"""Settings → Fulfillment services: the 3PL warehouses and dropship suppliers apps connected
through the API, and how Orderdeck's calls to each are going.

The list shows each service's location and callback URL and its health: notifications waiting
for an answer (and failing, with the last error), when it last acknowledged one, when its stock
and tracking numbers were last fetched and the last error. A service's page lists its recent
notifications (staff send a failing one again at once instead of waiting for the back-off) and
sets when Orderdeck requests fulfillment from it by itself (`auto_request`, the service
command's rule). Services themselves are created, changed and deleted by their apps through
the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from ...domain.errors import NotFound, OrderError
from ...domain.fulfillment_services import FulfillmentService
from ...services import fulfillment_services as commands
from ...store.fulfillment_services import FulfillmentServices
from ...store.service_notifications import Health, ServiceNotifications
from ...store.tables import fulfillment_services, orders
from .access import Admin, Form
from .pages import render
from .settings import AUTO_REQUEST_WORDS, Problems, Settings, text

router = APIRouter(prefix="/settings/fulfillment-services")
BASE = "/admin/settings/fulfillment-services"
RECENT = 50
NO_HEALTH = Health(pending=0, failing=0, last_error=None, last_attempt_at=None, last_acknowledged_at=None)
FOLLOW_SHOP = ""  # the form's value for "follow the shop's setting" (the column's null)


@dataclass(frozen=True)
class Sync:
    """A service's polling, from its row."""

    stock_synced_at: datetime | None
    tracking_synced_at: datetime | None
    error: str | None
    error_at: datetime | None


def _syncs(conn: Any) -> dict[int, Sync]:
    fs = fulfillment_services.c
    rows = conn.execute(select(fs.id, fs.stock_synced_at, fs.tracking_synced_at, fs.sync_error, fs.sync_error_at))
    return {r.id: Sync(r.stock_synced_at, r.tracking_synced_at, r.sync_error, r.sync_error_at) for r in rows}


def _choices(admin: Admin) -> list[tuple[str, str]]:
    with admin.app.unit_of_work(read_only=True) as uow:
        shop_when = uow.shop.settings.auto_request_fulfillment
    follow = f"Follow the shop's setting (now: {AUTO_REQUEST_WORDS.get(shop_when, shop_when).lower()})"
    return [(FOLLOW_SHOP, follow), *AUTO_REQUEST_WORDS.items()]


@router.get("", summary="Fulfillment services and their health")
def services_page(admin: Settings) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        services = FulfillmentServices(uow.conn).all()
        health = ServiceNotifications(uow.conn).health()
        syncs = _syncs(uow.conn)
        locations = {loc.id: loc.name for loc in uow.catalog.locations()}
    rows = [
        {
            "service": s,
            "location": locations.get(s.location_id, s.location_id),
            "health": health.get(s.id, NO_HEALTH),
            "sync": syncs.get(s.id),
        }
        for s in services
    ]
    return render(admin, "fulfillment_services.html", rows=rows, base=BASE)


def _service_page(admin: Admin, service_id: int, values: dict[str, Any], problems: Problems, status: int) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        service = FulfillmentServices(uow.conn).get(service_id)
        notes = ServiceNotifications(uow.conn)
        recent = notes.of_service(service_id, RECENT)
        health = notes.health().get(service_id, NO_HEALTH)
        sync = _syncs(uow.conn).get(service_id)
        location = next((loc.name for loc in uow.catalog.locations() if loc.id == service.location_id), None)
        ids = {n.order_id for n in recent}
        names = (
            {r.id: r.name for r in uow.conn.execute(select(orders.c.id, orders.c.name).where(orders.c.id.in_(ids)))}
            if ids
            else {}
        )
    return render(
        admin,
        "fulfillment_services_show.html",
        status=status,
        service=service,
        location=location,
        health=health,
        sync=sync,
        notifications=recent,
        order_names=names,
        choices=_choices(admin),
        values=values,
        problems=problems,
        base=f"{BASE}/{service_id}",
    )


def _values(service: FulfillmentService) -> dict[str, Any]:
    return {"auto_request": service.auto_request or FOLLOW_SHOP}


@router.get("/{service_id:int}", summary="A fulfillment service: its notifications and settings")
def service_page(admin: Settings, service_id: int) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        service = FulfillmentServices(uow.conn).get(service_id)
    return _service_page(admin, service_id, _values(service), Problems(), 200)


@router.post("/{service_id:int}", summary="Set when fulfillment is requested from the service by itself")
def save_service(admin: Settings, form: Form, service_id: int) -> Response:
    chosen = text(form, "auto_request")
    try:
        with admin.command() as cmd:
            saved = commands.update(
                cmd, service_id, commands.ServiceFields(auto_request=None if chosen == FOLLOW_SHOP else chosen)
            )
    except NotFound:
        raise
    except OrderError as exc:
        return _service_page(admin, service_id, {"auto_request": chosen}, Problems().add(exc), 422)
    said = dict(_choices(admin))[saved.auto_request or FOLLOW_SHOP]
    return admin.done(f"{BASE}/{service_id}", f"Saved: automatic fulfillment requests to {saved.name}: {said}.")


@router.post("/{service_id:int}/notifications/{notification_id}/send", summary="Send a notification again now")
def send_again(admin: Settings, service_id: int, notification_id: str) -> Response:
    back = f"{BASE}/{service_id}"
    with admin.app.unit_of_work() as uow:
        FulfillmentServices(uow.conn).get(service_id)  # no such service: the not-found page
        notes = ServiceNotifications(uow.conn)
        found = notes.get(notification_id)
        if found is None or found.service_id != service_id:
            raise NotFound("Not Found")
        sent = notes.send_now(notification_id, uow.now)
        uow.commit()
    if not sent:
        return admin.done(back, f"That notification is {found.state}: there is nothing to send again.", kind="info")
    return admin.done(back, "Sending the notification again now; this page shows the new attempt once it is made.")
