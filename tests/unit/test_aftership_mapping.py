"""AfterShip's tags and sub-statuses mapped to Shopify's shipment statuses (AFTER-THE-SALE §5.2:
AfterShip's own write-back to Shopify), and its webhook body read into checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orderdeck.domain.fulfillment import SHIPMENT_STATUSES
from orderdeck.tracking.aftership import read_webhook, shipment_status
from orderdeck.tracking.checkpoints import BadBody, read_generic


@pytest.mark.parametrize(
    ("tag", "subtag", "status"),
    [
        ("Pending", "Pending_001", "confirmed"),
        ("InfoReceived", "InfoReceived_001", "label_printed"),
        ("InTransit", "InTransit_002", "in_transit"),
        ("OutForDelivery", "OutForDelivery_003", "out_for_delivery"),
        ("AttemptFail", "AttemptFail_002", "attempted_delivery"),
        ("Delivered", "Delivered_001", "delivered"),
        ("Delivered", "Delivered_002", "delivered"),  # picked up by the customer is delivered too
        ("AvailableForPickup", "AvailableForPickup_001", "ready_for_pickup"),
        ("Exception", "Exception_001", "failure"),
        ("Exception", "Exception_003", "failure"),  # refused
        ("Exception", "Exception_011", "failure"),  # returned to sender
        ("Exception", "Exception_013", "failure"),  # lost
        ("Exception", None, "failure"),
        ("Exception", "Exception_004", "delayed"),  # customs clearance
        ("Exception", "Exception_005", "delayed"),  # external factors
        ("Exception", "Exception_016", "delayed"),  # processing issue
        ("Exception", "Exception_017", "delayed"),  # extreme weather
        ("Expired", "Expired_001", None),  # no Shopify equivalent: not written
        ("SomethingNew", None, None),  # a tag AfterShip adds later: skipped, not an error
        (None, None, None),
    ],
)
def test_each_tag_and_subtag(tag, subtag, status):
    assert shipment_status(tag, subtag) == status


def test_every_mapped_status_is_one_a_fulfillment_event_takes():
    tags = ("Pending", "InfoReceived", "InTransit", "OutForDelivery", "AttemptFail", "Delivered", "AvailableForPickup")
    found = {shipment_status(t) for t in tags} | {shipment_status("Exception", "Exception_004")}
    assert found <= set(SHIPMENT_STATUSES)


def test_the_webhook_s_checkpoints_become_checkpoints_with_their_details():
    pushed = read_webhook(
        {
            "event": "tracking_update",
            "msg": {
                "tracking_number": " 1Z999 ",
                "slug": "ups",
                "expected_delivery": "2026-11-06",
                "checkpoints": [
                    {
                        "checkpoint_time": "2026-11-02T12:00:00+01:00",
                        "message": "Departed",
                        "city": "Amsterdam",
                        "state": "NH",
                        "country_iso3": "NLD",
                        "zip": "1012",
                        "tag": "InTransit",
                        "subtag": "InTransit_007",
                        "coordinates": [52.37, 4.89],
                    },
                    {"checkpoint_time": "2026-12-02T12:00:00", "tag": "Expired", "subtag": "Expired_001"},
                ],
            },
            "ts": 1793698200,
        }
    )
    assert (pushed.tracking_number, pushed.carrier) == ("1Z999", "ups")
    [only] = pushed.checkpoints
    assert only.status == "in_transit"
    assert only.happened_at == datetime(2026, 11, 2, 11, 0, tzinfo=UTC)
    assert only.details["province"] == "NH" and only.details["country"] == "NLD"
    assert (only.details["latitude"], only.details["longitude"]) == (52.37, 4.89)
    assert only.details["estimated_delivery_at"] == datetime(2026, 11, 6, tzinfo=UTC)


def test_a_shipment_without_checkpoints_gives_its_own_tag_at_the_webhook_s_time():
    pushed = read_webhook(
        {"msg": {"tracking_number": "X1", "tag": "InfoReceived", "checkpoints": []}, "ts": 1793698200}
    )
    [only] = pushed.checkpoints
    assert only.status == "label_printed"
    assert only.happened_at == datetime.fromtimestamp(1793698200, UTC)


def test_coordinates_that_are_no_position_are_left_out():
    for coordinates in ([], [1], ["a", "b"], [91, 0], {"lat": 1}):
        raw = {"checkpoint_time": "2026-11-02T12:00:00Z", "tag": "InTransit", "coordinates": coordinates}
        [only] = read_webhook({"msg": {"tracking_number": "X1", "checkpoints": [raw]}}).checkpoints
        assert only.details["latitude"] is None and only.details["longitude"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "body"),
        ({"msg": "x"}, "msg"),
        ({"msg": {"tracking_number": ""}}, "msg.tracking_number"),
        ({"msg": {"tracking_number": "X", "checkpoints": [{"tag": 1, "checkpoint_time": "2026-11-02"}]}}, None),
        (
            {"msg": {"tracking_number": "X", "checkpoints": [{"tag": "InTransit", "checkpoint_time": "2026-13-40"}]}},
            None,
        ),
        (
            {"msg": {"tracking_number": "X", "checkpoints": [{"tag": "InTransit", "checkpoint_time": "0001-01-01"}]}},
            None,
        ),
    ],
)
def test_a_body_that_cannot_be_read_names_the_field(body, field):
    with pytest.raises(BadBody) as refused:
        read_webhook(body)
    if field is not None:
        assert refused.value.field == field
    else:
        assert refused.value.field.startswith("msg.checkpoints[0].")


def test_the_generic_shape_takes_shopify_s_status_names_only():
    good = read_generic({"tracking_number": "X", "events": [{"status": "delayed", "happened_at": "2026-11-02T12:00Z"}]})
    assert [c.status for c in good.checkpoints] == ["delayed"]
    with pytest.raises(BadBody) as refused:
        read_generic({"tracking_number": "X", "events": [{"status": "InTransit", "happened_at": "2026-11-02"}]})
    assert refused.value.field == "events[0].status"
