"""Carrier tracking intake (issue 15): AfterShip's webhooks and Orderdeck's generic shape,
signed with a source's secret, move a real fulfillment's shipment status through the same
path as an event posted through the API: timeline, fulfillment_events/create, notifications."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from orderdeck.store.tables import outbox, tracking_sources

NUMBER = "1Z999AA10123456784"

# AfterShip's webhook example (tracking_update), cut to the fields the intake reads plus some it
# ignores; each test sets `tag`, `subtag` and the checkpoints.
AFTERSHIP_EXAMPLE: dict[str, Any] = {
    "event": "tracking_update",
    "event_id": "7e3a1f9e-3c1a-4b0e-9a36-1c1b7f7c2f11",
    "is_tracking_first_tag": True,
    "msg": {
        "id": "5b7658cec7c33c0e007de3c5",
        "tracking_number": NUMBER,
        "title": NUMBER,
        "slug": "ups",
        "active": True,
        "tag": "InTransit",
        "subtag": "InTransit_001",
        "subtag_message": "In Transit",
        "expected_delivery": "2026-11-06T17:00:00+01:00",
        "checkpoints": [],
    },
    "ts": 1793698200,
}


def checkpoint(tag: str, subtag: str, when: str, message: str = "Scan", **extra: Any) -> dict[str, Any]:
    return {
        "slug": "ups",
        "city": "Amsterdam",
        "created_at": when,
        "location": "Amsterdam, NL",
        "country_name": "Netherlands",
        "message": message,
        "country_iso3": "NLD",
        "tag": tag,
        "subtag": subtag,
        "subtag_message": message,
        "checkpoint_time": when,
        "coordinates": [],
        "state": "Noord-Holland",
        "zip": "1012 AB",
        "raw_tag": "X",
        **extra,
    }


def aftership_body(*checkpoints: dict[str, Any], tag: str | None = None, number: str = NUMBER) -> bytes:
    body = orjson.loads(orjson.dumps(AFTERSHIP_EXAMPLE))
    body["msg"]["tracking_number"] = number
    body["msg"]["checkpoints"] = list(checkpoints)
    if checkpoints:
        body["msg"]["tag"], body["msg"]["subtag"] = checkpoints[-1]["tag"], checkpoints[-1]["subtag"]
    if tag is not None:
        body["msg"]["tag"], body["msg"]["subtag"] = tag, f"{tag}_001"
    return orjson.dumps(body)


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


AFTERSHIP_SECRET = "aftership-webhook-secret-0123456789"


@pytest.fixture
def aftership(api: Any) -> dict[str, Any]:
    body = {"tracking_source": {"kind": "aftership", "name": "AfterShip", "secret": AFTERSHIP_SECRET}}
    return api.ok(api.post("/tracking_sources.json", body))["tracking_source"]  # type: ignore[no-any-return]


@pytest.fixture
def generic(api: Any) -> dict[str, Any]:
    body = {"tracking_source": {"kind": "generic", "name": "Our DPD callbacks"}}
    return api.ok(api.post("/tracking_sources.json", body))["tracking_source"]  # type: ignore[no-any-return]


@pytest.fixture
def shipped(shop: Any, mug: int) -> dict[str, Any]:
    order = shop.order([{"variant_id": mug, "quantity": 1}])
    fulfillment = shop.fulfil(order["id"], tracking=NUMBER)
    return {"order_id": order["id"], "fulfillment_id": fulfillment["id"]}


def push_aftership(client: Any, source: dict[str, Any], body: bytes, secret: str = AFTERSHIP_SECRET) -> Any:
    path = f"/tracking/aftership/{source['id']}"
    return client.post(path, content=body, headers={"aftership-hmac-sha256": sign(body, secret)})


def push_generic(client: Any, source: dict[str, Any], payload: Any) -> Any:
    body = orjson.dumps(payload)
    path = f"/tracking/events/{source['id']}"
    return client.post(path, content=body, headers={"X-Orderdeck-Hmac-Sha256": sign(body, source["secret"])})


def fulfillment(api: Any, shipped: dict[str, Any]) -> dict[str, Any]:
    path = f"/orders/{shipped['order_id']}/fulfillments/{shipped['fulfillment_id']}.json"
    return api.ok(api.get(path))["fulfillment"]  # type: ignore[no-any-return]


def events(api: Any, shipped: dict[str, Any]) -> list[dict[str, Any]]:
    path = f"/orders/{shipped['order_id']}/fulfillments/{shipped['fulfillment_id']}/events.json"
    return api.ok(api.get(path))["fulfillment_events"]  # type: ignore[no-any-return]


def queued(deck: Any, kind: str, order_id: int) -> list[str]:
    with deck.unit_of_work(read_only=True) as uow:
        rows = uow.conn.execute(
            select(outbox.c.topic)
            .where(outbox.c.kind == kind, outbox.c.order_id == order_id)
            .order_by(outbox.c.created_at)
        )
        return [row.topic for row in rows]


def timeline_messages(api: Any, order_id: int) -> list[str]:
    return [e["message"] for e in api.ok(api.get(f"/orders/{order_id}/events.json"))["events"]]


# ---- sources -----------------------------------------------------------------------------------


def test_a_source_shows_its_secret_once_and_the_url_to_give_the_aggregator(api, aftership, generic):
    assert aftership["secret"] == AFTERSHIP_SECRET
    assert aftership["intake_url"] == f"http://shop.test/tracking/aftership/{aftership['id']}"
    assert generic["intake_url"] == f"http://shop.test/tracking/events/{generic['id']}"
    assert len(generic["secret"]) >= 32  # made by Orderdeck
    listed = api.ok(api.get("/tracking_sources.json"))["tracking_sources"]
    assert [s["name"] for s in listed] == ["AfterShip", "Our DPD callbacks"]
    assert all("secret" not in s for s in listed)
    assert [s["last_received_at"] for s in listed] == [None, None]


def test_an_aftership_source_needs_aftership_s_secret_and_bad_sources_are_refused(api):
    refused = api.post("/tracking_sources.json", {"tracking_source": {"kind": "aftership", "name": "AS"}})
    assert refused.status_code == 422 and "secret" in refused.json()["errors"]
    refused = api.post("/tracking_sources.json", {"tracking_source": {"kind": "easypost", "name": "EP"}})
    assert refused.status_code == 422 and "kind" in str(refused.json()["errors"])
    short = {"tracking_source": {"kind": "generic", "name": "G", "secret": "short"}}
    refused = api.post("/tracking_sources.json", short)
    assert refused.status_code == 422 and "secret" in refused.json()["errors"]
    assert api.ok(api.get("/tracking_sources.json"))["tracking_sources"] == []


def test_sources_need_the_fulfillment_scopes(deck, client):
    from tests.conftest import BASE, make_token

    token = make_token(deck, ["read_orders"])
    answer = client.get(f"{BASE}/tracking_sources.json", headers={"X-Shopify-Access-Token": token})
    assert answer.status_code == 403


def test_a_deleted_source_no_longer_takes_events(api, client, aftership, shipped):
    api.ok(api.delete(f"/tracking_sources/{aftership['id']}.json"))
    body = aftership_body(checkpoint("InTransit", "InTransit_001", "2026-11-02T12:00:00+01:00"))
    assert push_aftership(client, aftership, body).status_code == 404
    assert fulfillment(api, shipped)["shipment_status"] is None
    assert api.delete(f"/tracking_sources/{aftership['id']}.json").status_code == 404


# ---- AfterShip ---------------------------------------------------------------------------------

EACH_TAG = [
    ("InfoReceived", "InfoReceived_001", "label_printed"),
    ("InTransit", "InTransit_007", "in_transit"),
    ("OutForDelivery", "OutForDelivery_001", "out_for_delivery"),
    ("AttemptFail", "AttemptFail_001", "attempted_delivery"),
    ("Delivered", "Delivered_001", "delivered"),
    ("AvailableForPickup", "AvailableForPickup_001", "ready_for_pickup"),
    ("Exception", "Exception_013", "failure"),
    ("Exception", "Exception_004", "delayed"),
]


@pytest.mark.parametrize(("tag", "subtag", "status"), EACH_TAG)
def test_each_aftership_tag_moves_the_shipment_status(api, client, deck, aftership, shipped, tag, subtag, status):
    body = aftership_body(checkpoint(tag, subtag, "2026-11-02T12:00:00+01:00", message="Carrier says so"))
    answer = push_aftership(client, aftership, body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"matched": 1, "recorded": 1}
    assert fulfillment(api, shipped)["shipment_status"] == status
    [event] = events(api, shipped)
    assert (event["status"], event["message"], event["city"]) == (status, "Carrier says so", "Amsterdam")
    assert (event["province"], event["zip"], event["country"]) == ("Noord-Holland", "1012 AB", "Netherlands")
    assert event["happened_at"].startswith("2026-11-02T")
    assert event["estimated_delivery_at"] is not None
    assert queued(deck, "webhook", shipped["order_id"]).count("fulfillment_events/create") == 1
    assert any(
        m.startswith("Shipment #") and status.replace("_", " ") in m
        for m in timeline_messages(api, shipped["order_id"])
    )
    listed = api.ok(api.get("/tracking_sources.json"))["tracking_sources"]
    assert listed[0]["last_received_at"] is not None


def test_pending_without_checkpoints_confirms_and_expired_records_nothing(api, client, aftership, shipped):
    answer = push_aftership(client, aftership, aftership_body(tag="Pending"))
    assert answer.json() == {"matched": 1, "recorded": 1}
    assert fulfillment(api, shipped)["shipment_status"] == "confirmed"
    answer = push_aftership(client, aftership, aftership_body(tag="Expired"))
    assert answer.json() == {"matched": 1, "recorded": 0}
    expired = checkpoint("Expired", "Expired_001", "2026-12-02T12:00:00+01:00")
    assert push_aftership(client, aftership, aftership_body(expired)).json() == {"matched": 1, "recorded": 0}
    assert fulfillment(api, shipped)["shipment_status"] == "confirmed"


def test_delivered_does_what_a_delivery_does_today(api, client, deck, aftership, shipped):
    journey = [
        checkpoint("InfoReceived", "InfoReceived_001", "2026-11-02T10:00:00+01:00"),
        checkpoint("InTransit", "InTransit_002", "2026-11-02T18:00:00+01:00"),
        checkpoint("OutForDelivery", "OutForDelivery_001", "2026-11-03T08:00:00+01:00"),
    ]
    assert push_aftership(client, aftership, aftership_body(*journey)).json()["recorded"] == 3
    assert fulfillment(api, shipped)["shipment_status"] == "out_for_delivery"
    assert queued(deck, "notification", shipped["order_id"]) == ["out_for_delivery"]

    journey.append(checkpoint("Delivered", "Delivered_003", "2026-11-03T13:15:00+01:00", message="Signed by A. Jansen"))
    assert push_aftership(client, aftership, aftership_body(*journey)).json() == {"matched": 1, "recorded": 1}
    assert fulfillment(api, shipped)["shipment_status"] == "delivered"
    assert queued(deck, "notification", shipped["order_id"]) == ["out_for_delivery", "delivered"]
    assert queued(deck, "webhook", shipped["order_id"]).count("fulfillment_events/create") == 4
    # The status page shows the delivery, as for an event posted through the API.
    order = api.ok(api.get(f"/orders/{shipped['order_id']}.json"))["order"]
    page = client.get(order["order_status_url"].replace("http://shop.test", ""))
    assert page.status_code == 200 and "Delivered" in page.text


def test_a_first_push_with_the_whole_journey_notifies_only_the_newest(api, client, deck, aftership, shipped):
    journey = [
        checkpoint("OutForDelivery", "OutForDelivery_001", "2026-11-03T08:00:00+01:00"),
        checkpoint("Delivered", "Delivered_001", "2026-11-03T13:15:00+01:00"),
    ]
    assert push_aftership(client, aftership, aftership_body(*journey)).json()["recorded"] == 2
    assert fulfillment(api, shipped)["shipment_status"] == "delivered"
    assert queued(deck, "notification", shipped["order_id"]) == ["delivered"]


def test_the_same_checkpoint_twice_is_recorded_once(api, client, deck, aftership, shipped):
    body = aftership_body(checkpoint("OutForDelivery", "OutForDelivery_001", "2026-11-03T08:00:00+01:00"))
    assert push_aftership(client, aftership, body).json() == {"matched": 1, "recorded": 1}
    assert push_aftership(client, aftership, body).json() == {"matched": 1, "recorded": 0}
    # The same moment in another offset is the same checkpoint.
    again = aftership_body(checkpoint("OutForDelivery", "OutForDelivery_001", "2026-11-03T07:00:00Z"))
    assert push_aftership(client, aftership, again).json() == {"matched": 1, "recorded": 0}
    assert len(events(api, shipped)) == 1
    assert queued(deck, "notification", shipped["order_id"]) == ["out_for_delivery"]
    assert queued(deck, "webhook", shipped["order_id"]).count("fulfillment_events/create") == 1


def test_an_older_checkpoint_arriving_late_never_moves_the_status_back(api, client, deck, aftership, shipped):
    delivered = checkpoint("Delivered", "Delivered_001", "2026-11-03T13:15:00+01:00")
    push_aftership(client, aftership, aftership_body(delivered))
    late = checkpoint("OutForDelivery", "OutForDelivery_001", "2026-11-03T08:00:00+01:00")
    assert push_aftership(client, aftership, aftership_body(late)).json() == {"matched": 1, "recorded": 1}
    assert fulfillment(api, shipped)["shipment_status"] == "delivered"
    assert len(events(api, shipped)) == 2  # recorded on the timeline all the same
    assert queued(deck, "notification", shipped["order_id"]) == ["delivered"]  # no "out for delivery" after it


def test_every_fulfillment_with_the_number_moves_and_a_cancelled_one_does_not(api, client, shop, mug, aftership):
    first = shop.order([{"variant_id": mug, "quantity": 1}])
    second = shop.order([{"variant_id": mug, "quantity": 1}])
    one = shop.fulfil(first["id"], tracking=NUMBER.lower())  # the number matches regardless of case
    two = shop.fulfil(second["id"], tracking=NUMBER)
    gone = shop.order([{"variant_id": mug, "quantity": 1}])
    cancelled = shop.fulfil(gone["id"], tracking=NUMBER)
    api.ok(api.post(f"/fulfillments/{cancelled['id']}/cancel.json", {}))

    body = aftership_body(checkpoint("InTransit", "InTransit_001", "2026-11-02T12:00:00+01:00"))
    assert push_aftership(client, aftership, body).json() == {"matched": 2, "recorded": 2}
    for order, made in ((first, one), (second, two)):
        assert (
            fulfillment(api, {"order_id": order["id"], "fulfillment_id": made["id"]})["shipment_status"] == "in_transit"
        )
    assert fulfillment(api, {"order_id": gone["id"], "fulfillment_id": cancelled["id"]})["shipment_status"] is None


def test_an_unknown_tracking_number_is_accepted_and_changes_nothing(api, client, aftership, shipped):
    body = aftership_body(checkpoint("Delivered", "Delivered_001", "2026-11-03T13:15:00+01:00"), number="NOSUCHNUMBER1")
    answer = push_aftership(client, aftership, body)
    assert answer.status_code == 202
    assert answer.json() == {"matched": 0}
    assert fulfillment(api, shipped)["shipment_status"] is None
    assert api.ok(api.get("/tracking_sources.json"))["tracking_sources"][0]["last_received_at"] is not None


def test_a_bad_signature_is_refused_and_changes_nothing(api, client, aftership, generic, shipped):
    body = aftership_body(checkpoint("Delivered", "Delivered_001", "2026-11-03T13:15:00+01:00"))
    assert push_aftership(client, aftership, body, secret="another-secret-entirely-000").status_code == 401
    path = f"/tracking/aftership/{aftership['id']}"
    assert client.post(path, content=body).status_code == 401  # no header at all
    garbled = {"aftership-hmac-sha256": "not base64 ✓".encode()}
    assert client.post(path, content=body, headers=garbled).status_code == 401
    # Signed for another body: the signature covers the raw bytes.
    other = aftership_body(checkpoint("Delivered", "Delivered_001", "2026-11-03T14:15:00+01:00"))
    headers = {"aftership-hmac-sha256": sign(other, AFTERSHIP_SECRET)}
    assert client.post(path, content=body, headers=headers).status_code == 401
    # The generic source's secret does not sign for the AfterShip one, nor the other way round.
    assert push_aftership(client, aftership, body, secret=generic["secret"]).status_code == 401
    assert fulfillment(api, shipped)["shipment_status"] is None
    listed = api.ok(api.get("/tracking_sources.json"))["tracking_sources"]
    assert [s["last_received_at"] for s in listed] == [None, None]


def test_a_source_of_the_other_kind_or_none_is_not_found(client, aftership, generic):
    body = aftership_body(checkpoint("InTransit", "InTransit_001", "2026-11-02T12:00:00+01:00"))
    headers = {"aftership-hmac-sha256": sign(body, generic["secret"])}
    assert client.post(f"/tracking/aftership/{generic['id']}", content=body, headers=headers).status_code == 404
    assert client.post("/tracking/aftership/999999", content=body, headers=headers).status_code == 404
    huge = client.post("/tracking/aftership/99999999999999999999999", content=body, headers=headers)
    assert huge.status_code == 404


MALFORMED = [
    (b"not json", "body"),
    (b"[1, 2]", "body"),
    (b'{"event": "tracking_update"}', "msg"),
    (b'{"msg": {"slug": "ups"}}', "msg.tracking_number"),
    (b'{"msg": {"tracking_number": 12345}}', "msg.tracking_number"),
    (b'{"msg": {"tracking_number": "X1", "checkpoints": {}}}', "msg.checkpoints"),
    (b'{"msg": {"tracking_number": "X1", "checkpoints": ["x"]}}', "msg.checkpoints[0]"),
    (
        b'{"msg": {"tracking_number": "X1", "checkpoints": [{"checkpoint_time": "2026-11-02T12:00:00"}]}}',
        "msg.checkpoints[0].tag",
    ),
    (
        b'{"msg": {"tracking_number": "X1", "checkpoints": [{"tag": "InTransit"}]}}',
        "msg.checkpoints[0].checkpoint_time",
    ),
    (
        b'{"msg": {"tracking_number": "X1", "checkpoints": [{"tag": "InTransit", "checkpoint_time": "yesterday"}]}}',
        "msg.checkpoints[0].checkpoint_time",
    ),
    (b'{"msg": {"tracking_number": "X1", "expected_delivery": 5}}', "msg.expected_delivery"),
    (b'{"msg": {"tracking_number": "X1", "expected_delivery": "9999-12-31T23:59:59-01:00"}}', "msg.expected_delivery"),
    (b'{"msg": {"tracking_number": "X\\u00001"}}', "msg.tracking_number"),
    (
        b'{"msg": {"tracking_number": "X1", "checkpoints": [{"tag": "InTransit", "checkpoint_time": "2026-11-02",'
        b' "message": "a\\u0000b"}]}}',
        "msg.checkpoints[0].message",
    ),
    (b'{"msg": {"tracking_number": "X1", "tag": "\\ud800"}}', "body"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_a_malformed_aftership_body_is_refused_naming_the_field(api, client, aftership, shipped, body, field):
    answer = push_aftership(client, aftership, body)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["errors"]
    assert fulfillment(api, shipped)["shipment_status"] is None


# ---- the generic shape -------------------------------------------------------------------------


def test_the_generic_shape_moves_the_status_with_every_detail(api, client, deck, generic, shipped):
    payload = {
        "tracking_number": NUMBER,
        "carrier": "DPD",
        "events": [
            {"status": "in_transit", "happened_at": "2026-11-02T12:00:00+01:00", "message": "Left the depot"},
            {
                "status": "out_for_delivery",
                "happened_at": "2026-11-03T08:00:00+01:00",
                "message": "With the driver",
                "city": "Utrecht",
                "province": "Utrecht",
                "country": "NL",
                "zip": "3511 AB",
                "latitude": 52.09,
                "longitude": 5.12,
                "estimated_delivery_at": "2026-11-03T12:00:00+01:00",
            },
        ],
    }
    answer = push_generic(client, generic, payload)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"matched": 1, "recorded": 2}
    assert fulfillment(api, shipped)["shipment_status"] == "out_for_delivery"
    latest = next(e for e in events(api, shipped) if e["status"] == "out_for_delivery")
    assert (latest["city"], latest["country"], latest["latitude"], latest["longitude"]) == (
        "Utrecht",
        "NL",
        52.09,
        5.12,
    )
    assert latest["estimated_delivery_at"].startswith("2026-11-03T")
    assert queued(deck, "notification", shipped["order_id"]) == ["out_for_delivery"]
    assert push_generic(client, generic, payload).json() == {"matched": 1, "recorded": 0}


def test_the_generic_shape_refuses_a_bad_body_naming_the_field(api, client, generic, shipped):
    good = {"status": "delivered", "happened_at": "2026-11-03T13:00:00Z"}
    for payload, field in [
        ({"events": [good]}, "tracking_number"),
        ({"tracking_number": NUMBER}, "events"),
        ({"tracking_number": NUMBER, "events": [{**good, "status": "Delivered"}]}, "events[0].status"),
        ({"tracking_number": NUMBER, "events": [good, {"status": "delivered"}]}, "events[1].happened_at"),
        ({"tracking_number": NUMBER, "events": [{**good, "latitude": 91}]}, "events[0].latitude"),
        ({"tracking_number": NUMBER, "events": [{**good, "longitude": "east"}]}, "events[0].longitude"),
        ({"tracking_number": NUMBER, "events": [{**good, "message": ["x"]}]}, "events[0].message"),
    ]:
        answer = push_generic(client, generic, payload)
        assert answer.status_code == 400, (payload, answer.text)
        assert field in answer.json()["errors"], (payload, answer.text)
    assert fulfillment(api, shipped)["shipment_status"] is None
    assert events(api, shipped) == []


def test_the_generic_intake_checks_its_own_header(api, client, generic, shipped):
    body = orjson.dumps(
        {"tracking_number": NUMBER, "events": [{"status": "delivered", "happened_at": "2026-11-03T13:00:00Z"}]}
    )
    path = f"/tracking/events/{generic['id']}"
    assert (
        client.post(path, content=body, headers={"aftership-hmac-sha256": sign(body, generic["secret"])}).status_code
        == 401
    )
    assert client.post(path, content=body, headers={"X-Orderdeck-Hmac-Sha256": sign(body, "x" * 20)}).status_code == 401
    assert fulfillment(api, shipped)["shipment_status"] is None


def test_the_source_row_is_written_by_the_migration_s_schema(deck, aftership):
    with deck.unit_of_work(read_only=True) as uow:
        row = uow.conn.execute(select(tracking_sources)).one()
    assert (row.kind, row.name, row.secret) == ("aftership", "AfterShip", AFTERSHIP_SECRET)
