"""The stuck rules (domain/stuck.py) on plain orders: measured from the request's own time, once
per occurrence, cleared when the cause goes, the tag left alone when someone changed it."""

from __future__ import annotations

from datetime import timedelta

from orderdeck.domain import fulfillment_requests as requests
from orderdeck.domain import lifecycle, stuck
from orderdeck.domain.order import Author, Order
from tests.unit.test_statuses import AMS, NOW, STAFF, place

MARS = Author("api", "Mars Fulfillment")
SERVICES = {AMS: "Mars Fulfillment"}
LIMITS = stuck.Limits(accept_within=timedelta(hours=4), ship_within=timedelta(days=2))


def submitted(at: timedelta = timedelta(0)) -> Order:
    order, _ = place()
    fo = order.fulfillment_orders[0]
    requests.submit(
        order,
        fo,
        service_name="Mars Fulfillment",
        message=None,
        requests=None,
        notify_customer=True,
        author=STAFF,
        now=NOW + at,
    )
    order.events = []
    return order


def review(order: Order, at: timedelta) -> bool:
    return stuck.review(order, now=NOW + at, limits=LIMITS, services=SERVICES)


def test_a_request_is_measured_from_when_it_was_sent_not_from_the_order() -> None:
    order = submitted(at=timedelta(days=5))  # placed days before it was requested
    assert not review(order, timedelta(days=5, hours=3))
    assert review(order, timedelta(days=5, hours=4))
    [flag] = order.stuck
    assert flag.reason == "request_not_accepted" and flag.since == NOW + timedelta(days=5)


def test_a_document_without_request_status_at_falls_back_to_the_request_sent_at() -> None:
    order = submitted(at=timedelta(hours=1))
    fo = order.fulfillment_orders[0]
    fo.request_status_at = None
    fo.updated_at = NOW + timedelta(days=9)
    assert stuck.request_since(fo) == NOW + timedelta(hours=1)


def test_an_occurrence_is_flagged_once_however_often_the_sweep_runs() -> None:
    order = submitted()
    assert review(order, timedelta(hours=5))
    assert not review(order, timedelta(hours=6)) and not review(order, timedelta(days=3))
    assert [e.verb for e in order.events] == ["stuck"]
    assert order.events[0].alert_staff and "orderdeck/orders_stuck" in order.events[0].topics


def test_an_answer_clears_the_flag_and_the_tag_orderdeck_added() -> None:
    order = submitted()
    review(order, timedelta(hours=5))
    assert order.tags == ["stuck"] and order.stuck_tag_added
    requests.accept(order, order.fulfillment_orders[0], message=None, author=MARS, now=NOW + timedelta(hours=6))
    assert stuck.clear_gone(order, now=NOW + timedelta(hours=6))
    assert order.stuck == [] and order.tags == []
    assert order.events[-1].message == "No longer stuck (request not accepted): the service accepted the request."


def test_a_rejection_is_flagged_without_any_wait_and_names_the_services_reason() -> None:
    order = submitted()
    fo = order.fulfillment_orders[0]
    at = NOW + timedelta(minutes=1)
    requests.reject(
        order, fo, message="No stock.", reason="inventory_out_of_stock", line_messages=[], author=MARS, now=at
    )
    assert stuck.review(order, now=at, limits=None, services=SERVICES)
    [flag] = order.stuck
    assert (flag.reason, flag.service_reason, flag.detail) == (
        "request_rejected",
        "inventory_out_of_stock",
        "No stock.",
    )
    assert stuck.next_step(flag) == (
        "move the items to another location, or request again once Mars Fulfillment has stock"
    )


def test_a_tag_someone_changed_is_theirs_and_stays() -> None:
    order = submitted()
    review(order, timedelta(hours=5))
    lifecycle.change_tags(order, add=[], remove=["stuck"], author=STAFF, now=NOW + timedelta(hours=5))
    lifecycle.change_tags(order, add=["stuck"], remove=[], author=STAFF, now=NOW + timedelta(hours=5))
    assert not order.stuck_tag_added
    requests.accept(order, order.fulfillment_orders[0], message=None, author=MARS, now=NOW + timedelta(hours=6))
    stuck.clear_gone(order, now=NOW + timedelta(hours=6))
    assert order.stuck == [] and order.tags == ["stuck"]


def test_a_cancelled_order_is_stuck_on_nothing() -> None:
    order = submitted()
    review(order, timedelta(hours=5))
    order.cancelled_at = NOW + timedelta(hours=5)
    stuck.clear_gone(order, now=NOW + timedelta(hours=5))
    assert order.stuck == [] and stuck.findings(order, now=NOW + timedelta(days=9), limits=LIMITS, services={}) == []
