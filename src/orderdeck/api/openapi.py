"""The OpenAPI document: FastAPI's, completed with what the routes really answer.

The routes build their JSON by hand (resources/render.py, stored renderings as bytes), so
FastAPI sees no response model and documents every success as an empty schema. `document()`
starts from FastAPI's document and, per operation (method and path), sets:

- the success status and its schema (the envelope and the models of api/resources.py); where
  the operation takes `fields=`, the resource with no key required, as `fields` leaves keys out;
- the refusals it can give, each a shared response of `{"errors": …}`: 400 (malformed JSON, a
  bad `page_info` or `Idempotency-Key`), 401, 403, 404 (unknown record or API version), 405
  (with `Allow`), 409 (a conflicting write on PostgreSQL), 413 (body over the limit), 422;
- a readable operationId and OpenAPI links from an operation to its follow-ups
  (createOrder → getOrder, cancelOrder, … via `$response.body#/order/id`), which the stateful
  phase of the schema test (tests/api_fuzz) follows.

An operation missing from OPERATIONS keeps FastAPI's empty schema; a test fails on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema
from starlette.routing import Match
from starlette.types import Scope

from . import resources
from .fulfillment_services_models import FULFILLMENT_SERVICE_MODELS
from .order_edits_models import ORDER_EDIT_MODELS

PREFIX = "/admin/api/{api_version}"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def many(schema: Schema) -> Schema:
    return {"type": "array", "items": schema}


def envelope(**members: Schema) -> Schema:
    return {"type": "object", "properties": members, "required": list(members)}


ROUTE_MODEL: Schema = {}  # the route declares its answer's model (responses=); FastAPI documents it
COUNT = envelope(count={"type": "integer", "minimum": 0})
NOTHING: Schema = {"type": "object", "maxProperties": 0, "description": "An empty object"}
BULK = envelope(bulk_result=ref("BulkResult"))
ORDER = envelope(order=ref("Order"))


@dataclass(frozen=True)
class Op:
    operation_id: str
    answer: Schema
    status: int = 200
    media_type: str = "application/json"
    links: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    paginated: bool = False
    command: bool = True  # a write run by run_command: Idempotency-Key (400) and conflicts (409)
    # A request that succeeds on any shop: Swagger UI's "Try it out" starts from it, and so does
    # schemathesis' examples phase, whose real answers later phases reuse.
    request_example: Schema | None = None


def follow(operation_id: str, **parameters: str) -> tuple[str, dict[str, str]]:
    return operation_id, {"api_version": "$request.path.api_version", **parameters}


def _order_links(pointer: str) -> dict[str, tuple[str, dict[str, str]]]:
    oid = {"order_id": pointer}
    return {
        "GetOrder": follow("getOrder", **oid),
        "UpdateOrder": follow("updateOrder", **oid),
        "CloseOrder": follow("closeOrder", **oid),
        "ReopenOrder": follow("reopenOrder", **oid),
        "CancelOrder": follow("cancelOrder", **oid),
        "DeleteOrder": follow("deleteOrder", **oid),
        "MarkOrderAsPaid": follow("markOrderAsPaid", **oid),
        "AddOrderTags": follow("addOrderTags", **oid),
        "SetOrderCustomStatus": follow("setOrderCustomStatus", **oid),
        "ListTransactions": follow("listTransactions", **oid),
        "CreateTransaction": follow("createTransaction", **oid),
        "ListRefunds": follow("listRefunds", **oid),
        "CalculateRefund": follow("calculateRefund", **oid),
        "CreateRefund": follow("createRefund", **oid),
        "ListOrderFulfillmentOrders": follow("listOrderFulfillmentOrders", **oid),
        "ListFulfillments": follow("listFulfillments", **oid),
        "ListOrderEvents": follow("listOrderEvents", **oid),
        "AddComment": follow("addComment", **oid),
        "ResendNotification": follow("resendNotification", **oid),
        "MessageCustomer": follow("messageCustomer", **oid),
        "BeginOrderEdit": follow("beginOrderEdit", **oid),
    }


def _fulfillment_order_links(pointer: str) -> dict[str, tuple[str, dict[str, str]]]:
    fo = {"fo_id": pointer}
    return {
        "GetFulfillmentOrder": follow("getFulfillmentOrder", **fo),
        "LocationsForMove": follow("locationsForMove", **fo),
        "HoldFulfillmentOrder": follow("holdFulfillmentOrder", **fo),
        "ReleaseHold": follow("releaseFulfillmentOrderHold", **fo),
        "Reschedule": follow("rescheduleFulfillmentOrder", **fo),
        "OpenFulfillmentOrder": follow("openFulfillmentOrder", **fo),
        "MoveFulfillmentOrder": follow("moveFulfillmentOrder", **fo),
        "CancelFulfillmentOrder": follow("cancelFulfillmentOrder", **fo),
    }


def _fulfillment_links(body: str) -> dict[str, tuple[str, dict[str, str]]]:
    ids = {"order_id": f"$response.body#/{body}/order_id", "fulfillment_id": f"$response.body#/{body}/id"}
    return {
        "GetFulfillment": follow("getFulfillment", **ids),
        "ListFulfillmentEvents": follow("listFulfillmentEvents", **ids),
        "CreateFulfillmentEvent": follow("createFulfillmentEvent", **ids),
        "UpdateTracking": follow("updateTracking", fulfillment_id=ids["fulfillment_id"]),
        "CancelFulfillment": follow("cancelFulfillment", fulfillment_id=ids["fulfillment_id"]),
    }


def _id_links(key: str, param: str, *operation_ids: str) -> dict[str, tuple[str, dict[str, str]]]:
    return {op[0].upper() + op[1:]: follow(op, **{param: f"$response.body#/{key}/id"}) for op in operation_ids}


FULFILLMENT_ORDER_ANSWER = envelope(fulfillment_order=ref("FulfillmentOrder"))
FULFILLMENT_ANSWER = envelope(fulfillment=ref("Fulfillment"))
LOCATION_ANSWER = envelope(location=ref("Location"))
LEVEL_ANSWER = envelope(inventory_level=ref("InventoryLevel"))
WEBHOOK_ANSWER = envelope(webhook=ref("Webhook"))
STATUS_ANSWER = envelope(custom_status=ref("CustomStatus"))
RULE_ANSWER = envelope(automation_rule=ref("AutomationRule"))
TEMPLATE_ANSWER = envelope(notification_template=ref("NotificationTemplate"))
QUEUED_TEMPLATE = envelope(queued=envelope(template={"type": "string"}))
WEBHOOK_LINKS = _id_links(
    "webhook",
    "webhook_id",
    "getWebhook",
    "updateWebhook",
    "deleteWebhook",
    "enableWebhook",
    "disableWebhook",
    "listWebhookDeliveries",
    "redeliverWebhook",
)
RULE_LINKS = _id_links(
    "automation_rule",
    "rule_id",
    "getAutomationRule",
    "updateAutomationRule",
    "deleteAutomationRule",
    "enableAutomationRule",
    "disableAutomationRule",
    "dryRunAutomationRule",
    "listAutomationRuleRuns",
)

DRAFT_ORDER = envelope(draft_order=ref("DraftOrder"))
RETURN_ANSWER = envelope(**{"return": ref("Return")})
RETURN_LINKS = {
    **_id_links(
        "return",
        "return_id",
        "getReturn",
        "approveReturn",
        "declineReturn",
        "cancelReturn",
        "closeReturn",
        "reopenReturn",
        "refundReturn",
        "listReverseFulfillmentOrders",
    ),
    "CreateReverseDelivery": follow(
        "createReverseDelivery", rfo_id="$response.body#/return/reverse_fulfillment_orders/0/id"
    ),
}

FULFILLMENT_SERVICE_ANSWER = envelope(fulfillment_service=ref("FulfillmentService"))

_TRACKING_SOURCE_FIELDS: Schema = {
    "id": {"type": "integer"},
    "kind": {"type": "string", "enum": ["aftership", "generic"]},
    "name": {"type": "string"},
    "intake_url": {"type": "string", "description": "Where the aggregator or carrier posts its events"},
    "created_at": {"type": "string", "format": "date-time"},
    "last_received_at": nullable({"type": "string", "format": "date-time"}),
}
TRACKING_SOURCE: Schema = {
    "type": "object",
    "title": "TrackingSource",
    "properties": _TRACKING_SOURCE_FIELDS,
    "required": list(_TRACKING_SOURCE_FIELDS),
}
TRACKING_SOURCE_CREATED: Schema = {
    "type": "object",
    "title": "TrackingSource (created)",
    "properties": {
        **_TRACKING_SOURCE_FIELDS,
        "secret": {"type": "string", "description": "Signs the source's calls; shown this once"},
    },
    "required": [*_TRACKING_SOURCE_FIELDS, "secret"],
}

_TIME: Schema = {"type": "string", "format": "date-time"}
_SHIPMENT_FIELDS: Schema = {
    "fulfillment_id": {"type": "integer"},
    "order_id": {"type": "integer"},
    "order_name": {"type": "string"},
    "customer_name": nullable({"type": "string"}),
    "email": nullable({"type": "string"}),
    "location_id": nullable({"type": "integer"}),
    "service": nullable({"type": "string"}),
    "tracking_company": nullable({"type": "string"}),
    "tracking_number": nullable({"type": "string", "description": "The first of the fulfillment's numbers"}),
    "tracking_url": nullable({"type": "string"}),
    "status": {"type": "string", "description": "The fulfillment's status: success or cancelled"},
    "shipment_status": nullable({"type": "string", "description": "Null until the carrier says something"}),
    "delayed": {"type": "boolean", "description": "Estimated delivery passed (or a delayed event), not delivered"},
    "last_event_at": nullable(_TIME),
    "last_event_message": nullable({"type": "string"}),
    "estimated_delivery_at": nullable(_TIME),
    "created_at": _TIME,
    "updated_at": _TIME,
}
SHIPMENT: Schema = {
    "type": "object",
    "title": "Shipment",
    "properties": _SHIPMENT_FIELDS,
    "required": list(_SHIPMENT_FIELDS),
}

ORDER_EDIT_ANSWER = envelope(order_edit=ref("OrderEdit"))
ORDER_EDIT_LINKS = _id_links(
    "order_edit",
    "edit_id",
    "getOrderEdit",
    "addOrderEditVariant",
    "addOrderEditCustomItem",
    "setOrderEditQuantity",
    "addOrderEditLineItemDiscount",
    "addOrderEditShippingLine",
    "commitOrderEdit",
    "abandonOrderEdit",
)

# Method and path (below /admin/api/{api_version} for the Admin API) → what the operation answers.
OPERATIONS: dict[tuple[str, str], Op] = {
    # ---- orders
    ("GET", "/orders.json"): Op("listOrders", envelope(orders=many(ref("Order"))), paginated=True),
    ("POST", "/orders.json"): Op(
        "createOrder",
        ORDER,
        201,
        links=_order_links("$response.body#/order/id"),
        request_example={
            "order": {
                "email": "anna@example.com",
                "line_items": [{"title": "Stoneware mug", "price": "14.50", "quantity": 1}],
                "transactions": [{"kind": "sale", "status": "success", "amount": "14.50", "gateway": "manual"}],
            }
        },
    ),
    ("GET", "/orders/count.json"): Op("countOrders", COUNT),
    ("GET", "/orders/open_count.json"): Op("countOpenOrdersToFulfil", COUNT),
    ("GET", "/orders/export.csv"): Op(
        "exportOrders", {"type": "string", "description": "CSV, a header row and a row a line item"}, 200, "text/csv"
    ),
    ("GET", "/orders/{order_id}.json"): Op("getOrder", envelope(order=ref("Order"))),
    ("PUT", "/orders/{order_id}.json"): Op("updateOrder", ORDER),
    ("DELETE", "/orders/{order_id}.json"): Op("deleteOrder", NOTHING),
    ("GET", "/customers/{customer_id}/orders.json"): Op("listCustomerOrders", envelope(orders=many(ref("Order")))),
    ("POST", "/orders/{order_id}/close.json"): Op("closeOrder", ORDER),
    ("POST", "/orders/{order_id}/open.json"): Op("reopenOrder", ORDER),
    ("POST", "/orders/{order_id}/cancel.json"): Op("cancelOrder", ORDER),
    ("POST", "/orders/{order_id}/mark_as_paid.json"): Op("markOrderAsPaid", ORDER),
    ("POST", "/orders/{order_id}/tags/add.json"): Op("addOrderTags", ORDER),
    ("POST", "/orders/{order_id}/tags/remove.json"): Op("removeOrderTags", ORDER),
    # ---- bulk
    ("POST", "/orders/bulk/close.json"): Op("bulkCloseOrders", BULK, command=False),
    ("POST", "/orders/bulk/open.json"): Op("bulkReopenOrders", BULK, command=False),
    ("POST", "/orders/bulk/tags/add.json"): Op("bulkAddOrderTags", BULK, command=False),
    ("POST", "/orders/bulk/tags/remove.json"): Op("bulkRemoveOrderTags", BULK, command=False),
    ("POST", "/orders/bulk/messages.json"): Op(
        "bulkMessageCustomers", envelope(queued={"type": "integer", "minimum": 0}), 202, command=False
    ),
    ("POST", "/orders/bulk/messages/preview.json"): Op(
        "previewBulkMessage", envelope(preview=ref("RenderedMessage")), command=False
    ),
    ("POST", "/orders/bulk/custom_status.json"): Op("bulkSetCustomStatus", BULK, command=False),
    # ---- custom statuses
    ("GET", "/custom_statuses.json"): Op("listCustomStatuses", envelope(custom_statuses=many(ref("CustomStatus")))),
    ("POST", "/custom_statuses.json"): Op(
        "createCustomStatus",
        STATUS_ANSWER,
        201,
        request_example={"custom_status": {"handle": "packing", "names": {"en": "Packing", "nl": "Inpakken"}}},
        links=_id_links("custom_status", "status_id", "getCustomStatus", "updateCustomStatus", "deleteCustomStatus"),
    ),
    ("GET", "/custom_statuses/{status_id}.json"): Op("getCustomStatus", STATUS_ANSWER),
    ("PUT", "/custom_statuses/{status_id}.json"): Op("updateCustomStatus", STATUS_ANSWER),
    ("DELETE", "/custom_statuses/{status_id}.json"): Op(
        "deleteCustomStatus", envelope(moved={"type": "integer", "minimum": 0})
    ),
    ("POST", "/orders/{order_id}/custom_status.json"): Op("setOrderCustomStatus", ORDER),
    # ---- payments
    ("GET", "/orders/{order_id}/transactions.json"): Op(
        "listTransactions", envelope(transactions=many(ref("Transaction")))
    ),
    ("POST", "/orders/{order_id}/transactions.json"): Op(
        "createTransaction",
        envelope(transaction=ref("Transaction")),
        201,
        links={
            "GetTransaction": follow(
                "getTransaction",
                order_id="$response.body#/transaction/order_id",
                transaction_id="$response.body#/transaction/id",
            )
        },
    ),
    ("GET", "/orders/{order_id}/transactions/count.json"): Op("countTransactions", COUNT),
    ("GET", "/orders/{order_id}/transactions/{transaction_id}.json"): Op(
        "getTransaction", envelope(transaction=ref("Transaction"))
    ),
    ("GET", "/orders/{order_id}/refunds.json"): Op("listRefunds", envelope(refunds=many(ref("Refund")))),
    ("POST", "/orders/{order_id}/refunds.json"): Op(
        "createRefund",
        envelope(refund=ref("Refund")),
        201,
        links={
            "GetRefund": follow(
                "getRefund", order_id="$response.body#/refund/order_id", refund_id="$response.body#/refund/id"
            )
        },
    ),
    ("GET", "/orders/{order_id}/refunds/{refund_id}.json"): Op("getRefund", envelope(refund=ref("Refund"))),
    ("POST", "/orders/{order_id}/refunds/calculate.json"): Op(
        "calculateRefund", envelope(refund=ref("RefundCalculation")), command=False
    ),
    # ---- fulfillment
    ("GET", "/orders/{order_id}/fulfillment_orders.json"): Op(
        "listOrderFulfillmentOrders",
        envelope(fulfillment_orders=many(ref("FulfillmentOrder"))),
        links=_fulfillment_order_links("$response.body#/fulfillment_orders/0/id"),
    ),
    ("GET", "/fulfillment_orders/{fo_id}.json"): Op("getFulfillmentOrder", FULFILLMENT_ORDER_ANSWER),
    ("GET", "/fulfillment_orders/{fo_id}/fulfillments.json"): Op(
        "listFulfillmentOrderFulfillments", envelope(fulfillments=many(ref("Fulfillment")))
    ),
    ("GET", "/fulfillment_orders/{fo_id}/locations_for_move.json"): Op(
        "locationsForMove", envelope(locations_for_move=many(ref("LocationForMove")))
    ),
    ("POST", "/fulfillment_orders/{fo_id}/hold.json"): Op(
        "holdFulfillmentOrder",
        envelope(
            fulfillment_order=ref("FulfillmentOrder"), remaining_fulfillment_order=nullable(ref("FulfillmentOrder"))
        ),
        links={"ReleaseHold": follow("releaseFulfillmentOrderHold", fo_id="$request.path.fo_id")},
    ),
    ("POST", "/fulfillment_orders/{fo_id}/release_hold.json"): Op(
        "releaseFulfillmentOrderHold", FULFILLMENT_ORDER_ANSWER
    ),
    ("POST", "/fulfillment_orders/{fo_id}/reschedule.json"): Op(
        "rescheduleFulfillmentOrder",
        FULFILLMENT_ORDER_ANSWER,
        links={"OpenFulfillmentOrder": follow("openFulfillmentOrder", fo_id="$request.path.fo_id")},
    ),
    ("POST", "/fulfillment_orders/{fo_id}/open.json"): Op("openFulfillmentOrder", FULFILLMENT_ORDER_ANSWER),
    ("POST", "/fulfillment_orders/{fo_id}/move.json"): Op(
        "moveFulfillmentOrder",
        envelope(
            original_fulfillment_order=ref("FulfillmentOrder"),
            moved_fulfillment_order=nullable(ref("FulfillmentOrder")),
            remaining_fulfillment_order=nullable(ref("FulfillmentOrder")),
        ),
    ),
    ("POST", "/fulfillment_orders/{fo_id}/cancel.json"): Op(
        "cancelFulfillmentOrder",
        envelope(
            fulfillment_order=ref("FulfillmentOrder"),
            replacement_fulfillment_order=nullable(ref("FulfillmentOrder")),
        ),
    ),
    ("POST", "/fulfillments.json"): Op(
        "createFulfillment", FULFILLMENT_ANSWER, 201, links=_fulfillment_links("fulfillment")
    ),
    ("POST", "/fulfillments/{fulfillment_id}/update_tracking.json"): Op("updateTracking", FULFILLMENT_ANSWER),
    ("POST", "/fulfillments/{fulfillment_id}/cancel.json"): Op("cancelFulfillment", FULFILLMENT_ANSWER),
    ("POST", "/orders/{order_id}/fulfillments/{fulfillment_id}/cancel.json"): Op(
        "cancelOrderFulfillment", FULFILLMENT_ANSWER
    ),
    ("GET", "/orders/{order_id}/fulfillments.json"): Op(
        "listFulfillments", envelope(fulfillments=many(ref("Fulfillment")))
    ),
    ("GET", "/orders/{order_id}/fulfillments/count.json"): Op("countFulfillments", COUNT),
    ("GET", "/orders/{order_id}/fulfillments/{fulfillment_id}.json"): Op(
        "getFulfillment", envelope(fulfillment=ref("Fulfillment"))
    ),
    ("GET", "/orders/{order_id}/fulfillments/{fulfillment_id}/events.json"): Op(
        "listFulfillmentEvents", envelope(fulfillment_events=many(ref("FulfillmentEvent")))
    ),
    ("POST", "/orders/{order_id}/fulfillments/{fulfillment_id}/events.json"): Op(
        "createFulfillmentEvent",
        envelope(fulfillment_event=ref("FulfillmentEvent")),
        201,
        links={
            name: follow(
                op,
                order_id="$response.body#/fulfillment_event/order_id",
                fulfillment_id="$response.body#/fulfillment_event/fulfillment_id",
                event_id="$response.body#/fulfillment_event/id",
            )
            for name, op in (
                ("GetFulfillmentEvent", "getFulfillmentEvent"),
                ("DeleteFulfillmentEvent", "deleteFulfillmentEvent"),
            )
        },
    ),
    ("GET", "/orders/{order_id}/fulfillments/{fulfillment_id}/events/{event_id}.json"): Op(
        "getFulfillmentEvent", envelope(fulfillment_event=ref("FulfillmentEvent"))
    ),
    ("DELETE", "/orders/{order_id}/fulfillments/{fulfillment_id}/events/{event_id}.json"): Op(
        "deleteFulfillmentEvent", NOTHING
    ),
    # ---- draft orders
    ("GET", "/draft_orders.json"): Op(
        "listDraftOrders", envelope(draft_orders=many(ref("DraftOrder"))), paginated=True
    ),
    ("GET", "/draft_orders/count.json"): Op("countDraftOrders", COUNT),
    ("GET", "/draft_orders/{draft_order_id}.json"): Op("getDraftOrder", DRAFT_ORDER),
    ("POST", "/draft_orders.json"): Op(
        "createDraftOrder", DRAFT_ORDER, 201, links=_id_links("draft_order", "draft_order_id", "getDraftOrder")
    ),
    ("PUT", "/draft_orders/{draft_order_id}.json"): Op("updateDraftOrder", DRAFT_ORDER),
    ("DELETE", "/draft_orders/{draft_order_id}.json"): Op("deleteDraftOrder", NOTHING),
    ("PUT", "/draft_orders/{draft_order_id}/complete.json"): Op("completeDraftOrder", DRAFT_ORDER),
    ("POST", "/draft_orders/{draft_order_id}/send_invoice.json"): Op(
        "sendDraftOrderInvoice", envelope(draft_order_invoice=ref("DraftOrderInvoice"))
    ),
    # ---- returns (Orderdeck extension)
    ("GET", "/orders/{order_id}/returns.json"): Op(
        "listOrderReturns", envelope(returns=many(ref("Return"))), paginated=True
    ),
    ("GET", "/returns/{return_id}.json"): Op("getReturn", RETURN_ANSWER),
    ("GET", "/orders/{order_id}/returnable_fulfillments.json"): Op(
        "listReturnableFulfillments", envelope(returnable_fulfillments=many(ref("ReturnableFulfillment")))
    ),
    ("POST", "/orders/{order_id}/returns/calculate.json"): Op(
        "calculateReturn", envelope(**{"return": ref("ReturnCalculation")}), command=False
    ),
    ("POST", "/orders/{order_id}/returns.json"): Op("createReturn", RETURN_ANSWER, 201, links=RETURN_LINKS),
    ("POST", "/orders/{order_id}/return_requests.json"): Op("requestReturn", RETURN_ANSWER, 201, links=RETURN_LINKS),
    ("POST", "/returns/{return_id}/approve.json"): Op("approveReturn", RETURN_ANSWER),
    ("POST", "/returns/{return_id}/decline.json"): Op("declineReturn", RETURN_ANSWER),
    ("POST", "/returns/{return_id}/cancel.json"): Op("cancelReturn", RETURN_ANSWER),
    ("POST", "/returns/{return_id}/close.json"): Op("closeReturn", RETURN_ANSWER),
    ("POST", "/returns/{return_id}/reopen.json"): Op("reopenReturn", RETURN_ANSWER),
    ("POST", "/returns/{return_id}/remove_line_items.json"): Op("removeReturnLineItems", RETURN_ANSWER),
    ("POST", "/returns/{return_id}/refunds.json"): Op(
        "refundReturn",
        envelope(refund=ref("Refund")),
        201,
        links={
            "GetRefund": follow(
                "getRefund", order_id="$response.body#/refund/order_id", refund_id="$response.body#/refund/id"
            )
        },
    ),
    ("POST", "/returns/{return_id}/process.json"): Op(
        "processReturn", envelope(**{"return": ref("Return")}, refund=nullable(ref("Refund")))
    ),
    ("GET", "/returns/{return_id}/reverse_fulfillment_orders.json"): Op(
        "listReverseFulfillmentOrders", envelope(reverse_fulfillment_orders=many(ref("ReverseFulfillmentOrder")))
    ),
    ("POST", "/reverse_fulfillment_orders/{rfo_id}/reverse_deliveries.json"): Op(
        "createReverseDelivery",
        envelope(reverse_delivery=ref("ReverseDelivery")),
        201,
        links=_id_links("reverse_delivery", "delivery_id", "updateReverseDelivery"),
    ),
    ("PUT", "/reverse_deliveries/{delivery_id}.json"): Op(
        "updateReverseDelivery", envelope(reverse_delivery=ref("ReverseDelivery"))
    ),
    ("POST", "/reverse_fulfillment_orders/dispose.json"): Op(
        "disposeReverseFulfillmentOrders",
        envelope(reverse_fulfillment_orders=many(ref("ReverseFulfillmentOrder"))),
    ),
    # ---- order edits (Orderdeck extension)
    ("POST", "/orders/{order_id}/order_edits.json"): Op(
        "beginOrderEdit", ORDER_EDIT_ANSWER, 201, links=ORDER_EDIT_LINKS, request_example={}
    ),
    ("GET", "/orders/{order_id}/order_edits.json"): Op("listOrderEdits", envelope(order_edits=many(ref("OrderEdit")))),
    ("GET", "/order_edits/{edit_id}.json"): Op("getOrderEdit", ORDER_EDIT_ANSWER),
    ("POST", "/order_edits/{edit_id}/add_variant.json"): Op("addOrderEditVariant", ORDER_EDIT_ANSWER),
    ("POST", "/order_edits/{edit_id}/add_custom_item.json"): Op("addOrderEditCustomItem", ORDER_EDIT_ANSWER),
    ("POST", "/order_edits/{edit_id}/set_quantity.json"): Op("setOrderEditQuantity", ORDER_EDIT_ANSWER),
    ("POST", "/order_edits/{edit_id}/line_item_discounts.json"): Op("addOrderEditLineItemDiscount", ORDER_EDIT_ANSWER),
    ("PUT", "/order_edits/{edit_id}/discounts/{application_id}.json"): Op("updateOrderEditDiscount", ORDER_EDIT_ANSWER),
    ("DELETE", "/order_edits/{edit_id}/discounts/{application_id}.json"): Op(
        "removeOrderEditDiscount", ORDER_EDIT_ANSWER
    ),
    ("POST", "/order_edits/{edit_id}/shipping_lines.json"): Op("addOrderEditShippingLine", ORDER_EDIT_ANSWER),
    ("PUT", "/order_edits/{edit_id}/shipping_lines/{shipping_line_id}.json"): Op(
        "updateOrderEditShippingLine", ORDER_EDIT_ANSWER
    ),
    ("DELETE", "/order_edits/{edit_id}/shipping_lines/{shipping_line_id}.json"): Op(
        "removeOrderEditShippingLine", ORDER_EDIT_ANSWER
    ),
    ("POST", "/order_edits/{edit_id}/commit.json"): Op(
        "commitOrderEdit", ORDER, links={"GetOrder": follow("getOrder", order_id="$response.body#/order/id")}
    ),
    ("DELETE", "/order_edits/{edit_id}.json"): Op("abandonOrderEdit", NOTHING),
    # ---- fulfillment services
    ("GET", "/fulfillment_services.json"): Op(
        "listFulfillmentServices", envelope(fulfillment_services=many(ref("FulfillmentService")))
    ),
    ("POST", "/fulfillment_services.json"): Op(
        "createFulfillmentService",
        FULFILLMENT_SERVICE_ANSWER,
        201,
        request_example={
            "fulfillment_service": {
                "name": "Jupiter Fulfillment",
                "callback_url": "https://jupiter.example/orderdeck",
                "inventory_management": True,
                "tracking_support": True,
                "format": "json",
                "fulfillment_orders_opt_in": True,
            }
        },
        links={
            **_id_links(
                "fulfillment_service",
                "service_id",
                "getFulfillmentService",
                "updateFulfillmentService",
                "deleteFulfillmentService",
            ),
            "GetLocation": follow("getLocation", location_id="$response.body#/fulfillment_service/location_id"),
        },
    ),
    ("GET", "/fulfillment_services/{service_id}.json"): Op("getFulfillmentService", FULFILLMENT_SERVICE_ANSWER),
    ("PUT", "/fulfillment_services/{service_id}.json"): Op("updateFulfillmentService", FULFILLMENT_SERVICE_ANSWER),
    ("DELETE", "/fulfillment_services/{service_id}.json"): Op("deleteFulfillmentService", NOTHING),
    # ---- fulfillment requests (the merchant asks a fulfillment service; the service answers)
    ("POST", "/fulfillment_orders/{fo_id}/fulfillment_request.json"): Op(
        "requestFulfillment",
        envelope(
            original_fulfillment_order=ref("FulfillmentOrder"),
            submitted_fulfillment_order=ref("FulfillmentOrder"),
            unsubmitted_fulfillment_order=nullable(ref("FulfillmentOrder")),
        ),
        links={"AcceptFulfillmentRequest": follow("acceptFulfillmentRequest", fo_id="$request.path.fo_id")},
    ),
    ("POST", "/fulfillment_orders/{fo_id}/cancellation_request.json"): Op(
        "requestFulfillmentCancellation", FULFILLMENT_ORDER_ANSWER
    ),
    ("POST", "/fulfillment_orders/{fo_id}/fulfillment_request/accept.json"): Op(
        "acceptFulfillmentRequest", FULFILLMENT_ORDER_ANSWER
    ),
    ("POST", "/fulfillment_orders/{fo_id}/fulfillment_request/reject.json"): Op(
        "rejectFulfillmentRequest", FULFILLMENT_ORDER_ANSWER
    ),
    ("POST", "/fulfillment_orders/{fo_id}/cancellation_request/accept.json"): Op(
        "acceptFulfillmentCancellation",
        envelope(
            fulfillment_order=ref("FulfillmentOrder"), replacement_fulfillment_order=nullable(ref("FulfillmentOrder"))
        ),
    ),
    ("POST", "/fulfillment_orders/{fo_id}/cancellation_request/reject.json"): Op(
        "rejectFulfillmentCancellation", FULFILLMENT_ORDER_ANSWER
    ),
    ("POST", "/fulfillment_orders/{fo_id}/close.json"): Op(
        "closeFulfillmentOrder",
        envelope(
            fulfillment_order=ref("FulfillmentOrder"), replacement_fulfillment_order=nullable(ref("FulfillmentOrder"))
        ),
    ),
    ("GET", "/assigned_fulfillment_orders.json"): Op(
        "listAssignedFulfillmentOrders", envelope(fulfillment_orders=many(ref("FulfillmentOrder")))
    ),
    # ---- tracking sources (Orderdeck extension: the carrier tracking intake's senders)
    ("GET", "/tracking_sources.json"): Op("listTrackingSources", envelope(tracking_sources=many(TRACKING_SOURCE))),
    ("POST", "/tracking_sources.json"): Op(
        "createTrackingSource",
        envelope(tracking_source=TRACKING_SOURCE_CREATED),
        201,
        request_example={"tracking_source": {"kind": "generic", "name": "Our carrier's callbacks"}},
        links=_id_links("tracking_source", "source_id", "deleteTrackingSource"),
    ),
    ("DELETE", "/tracking_sources/{source_id}.json"): Op("deleteTrackingSource", NOTHING),
    # ---- shipments (Orderdeck extension: every fulfillment's shipment, S6.1)
    ("GET", "/shipments.json"): Op("listShipments", envelope(shipments=many(SHIPMENT)), paginated=True),
    ("GET", "/shipments/count.json"): Op("countShipments", COUNT),
    # ---- timeline
    ("GET", "/events.json"): Op("listEvents", envelope(events=many(ref("Event"))), paginated=True),
    ("GET", "/events/count.json"): Op("countEvents", COUNT),
    ("GET", "/events/{event_id}.json"): Op("getEvent", envelope(event=ref("Event"))),
    ("GET", "/orders/{order_id}/events.json"): Op(
        "listOrderEvents", envelope(events=many(ref("Event"))), paginated=True
    ),
    ("POST", "/orders/{order_id}/comments.json"): Op(
        "addComment",
        envelope(event=ref("Event")),
        201,
        request_example={"comment": {"body": "Customer asked by phone to ship before Friday"}},
        links={
            name: follow(op, order_id="$request.path.order_id", comment_id="$response.body#/event/id")
            for name, op in (("EditComment", "editComment"), ("DeleteComment", "deleteComment"))
        },
    ),
    ("PUT", "/orders/{order_id}/comments/{comment_id}.json"): Op("editComment", envelope(event=ref("Event"))),
    ("DELETE", "/orders/{order_id}/comments/{comment_id}.json"): Op("deleteComment", NOTHING),
    # ---- locations, inventory, products, the shop
    ("GET", "/locations.json"): Op("listLocations", envelope(locations=many(ref("Location")))),
    ("POST", "/locations.json"): Op(
        "createLocation",
        LOCATION_ANSWER,
        201,
        request_example={"location": {"name": "Utrecht depot", "country_code": "NL", "city": "Utrecht"}},
        links=_id_links("location", "location_id", "getLocation", "updateLocation", "listLocationInventoryLevels"),
    ),
    ("GET", "/locations/count.json"): Op("countLocations", COUNT),
    ("GET", "/locations/{location_id}.json"): Op("getLocation", LOCATION_ANSWER),
    ("PUT", "/locations/{location_id}.json"): Op("updateLocation", LOCATION_ANSWER),
    ("GET", "/inventory_levels.json"): Op(
        "listInventoryLevels", envelope(inventory_levels=many(ref("InventoryLevel"))), paginated=True
    ),
    ("DELETE", "/inventory_levels.json"): Op("disconnectInventoryLevel", NOTHING),
    ("GET", "/locations/{location_id}/inventory_levels.json"): Op(
        "listLocationInventoryLevels", envelope(inventory_levels=many(ref("InventoryLevel"))), paginated=True
    ),
    ("POST", "/inventory_levels/set.json"): Op("setInventoryLevel", LEVEL_ANSWER),
    ("POST", "/inventory_levels/adjust.json"): Op("adjustInventoryLevel", LEVEL_ANSWER),
    ("POST", "/inventory_levels/connect.json"): Op("connectInventoryLevel", LEVEL_ANSWER),
    # products, variants and inventory items (api/products.py declares their answers' models)
    ("GET", "/products.json"): Op("listProducts", ROUTE_MODEL, paginated=True),
    ("POST", "/products.json"): Op(
        "createProduct",
        ROUTE_MODEL,
        201,
        links={
            **_id_links("product", "product_id", "getProduct", "updateProduct", "deleteProduct", "listVariants"),
            "CreateVariant": follow("createVariant", product_id="$response.body#/product/id"),
            "GetVariant": follow("getVariant", variant_id="$response.body#/product/variants/0/id"),
            "UpdateVariant": follow("updateVariant", variant_id="$response.body#/product/variants/0/id"),
            "GetInventoryItem": follow(
                "getInventoryItem", item_id="$response.body#/product/variants/0/inventory_item_id"
            ),
        },
    ),
    ("GET", "/products/count.json"): Op("countProducts", ROUTE_MODEL),
    ("GET", "/products/{product_id}.json"): Op("getProduct", ROUTE_MODEL),
    ("PUT", "/products/{product_id}.json"): Op("updateProduct", ROUTE_MODEL),
    ("DELETE", "/products/{product_id}.json"): Op("deleteProduct", ROUTE_MODEL),
    ("GET", "/products/{product_id}/variants.json"): Op("listVariants", ROUTE_MODEL),
    ("POST", "/products/{product_id}/variants.json"): Op("createVariant", ROUTE_MODEL, 201),
    ("GET", "/products/{product_id}/variants/count.json"): Op("countVariants", ROUTE_MODEL),
    ("PUT", "/products/{product_id}/variants/{variant_id}.json"): Op("updateProductVariant", ROUTE_MODEL),
    ("DELETE", "/products/{product_id}/variants/{variant_id}.json"): Op("deleteVariant", ROUTE_MODEL),
    ("GET", "/variants/{variant_id}.json"): Op("getVariant", ROUTE_MODEL),
    ("PUT", "/variants/{variant_id}.json"): Op("updateVariant", ROUTE_MODEL),
    ("GET", "/inventory_items.json"): Op("listInventoryItems", ROUTE_MODEL),
    ("GET", "/inventory_items/{item_id}.json"): Op("getInventoryItem", ROUTE_MODEL),
    ("PUT", "/inventory_items/{item_id}.json"): Op("updateInventoryItem", ROUTE_MODEL),
    ("GET", "/shop.json"): Op("getShop", envelope(shop=ref("Shop"))),
    ("PUT", "/shop/settings.json"): Op("updateShopSettings", envelope(settings=ref("ShopSettings"))),
    # ---- webhooks
    ("GET", "/webhooks.json"): Op("listWebhooks", envelope(webhooks=many(ref("Webhook"))), paginated=True),
    ("POST", "/webhooks.json"): Op("createWebhook", WEBHOOK_ANSWER, 201, links=WEBHOOK_LINKS),
    ("GET", "/webhooks/count.json"): Op("countWebhooks", COUNT),
    ("GET", "/webhooks/{webhook_id}.json"): Op("getWebhook", envelope(webhook=ref("Webhook"))),
    ("PUT", "/webhooks/{webhook_id}.json"): Op("updateWebhook", WEBHOOK_ANSWER),
    ("DELETE", "/webhooks/{webhook_id}.json"): Op("deleteWebhook", NOTHING),
    ("POST", "/webhooks/{webhook_id}/enable.json"): Op("enableWebhook", WEBHOOK_ANSWER),
    ("POST", "/webhooks/{webhook_id}/disable.json"): Op("disableWebhook", WEBHOOK_ANSWER),
    ("GET", "/webhooks/{webhook_id}/deliveries.json"): Op(
        "listWebhookDeliveries", envelope(deliveries=many(ref("Delivery"))), paginated=True
    ),
    ("POST", "/webhooks/{webhook_id}/redeliver.json"): Op(
        "redeliverWebhook", envelope(redelivering={"type": "integer", "minimum": 0})
    ),
    # ---- automation
    ("GET", "/automation_rules.json"): Op(
        "listAutomationRules", envelope(automation_rules=many(ref("AutomationRule"))), paginated=True
    ),
    ("POST", "/automation_rules.json"): Op("createAutomationRule", RULE_ANSWER, 201, links=RULE_LINKS),
    ("POST", "/automation_rules/dry_run.json"): Op("dryRunNewAutomationRule", ref("DryRun"), command=False),
    ("GET", "/automation_rules/{rule_id}.json"): Op("getAutomationRule", RULE_ANSWER),
    ("PUT", "/automation_rules/{rule_id}.json"): Op("updateAutomationRule", RULE_ANSWER),
    ("DELETE", "/automation_rules/{rule_id}.json"): Op("deleteAutomationRule", NOTHING),
    ("POST", "/automation_rules/{rule_id}/enable.json"): Op("enableAutomationRule", RULE_ANSWER),
    ("POST", "/automation_rules/{rule_id}/disable.json"): Op("disableAutomationRule", RULE_ANSWER),
    ("GET", "/automation_rules/{rule_id}/dry_run.json"): Op("dryRunAutomationRule", ref("DryRun")),
    ("GET", "/automation_rules/{rule_id}/runs.json"): Op(
        "listAutomationRuleRuns", envelope(runs=many(ref("RuleRun"))), paginated=True
    ),
    # ---- notifications
    ("GET", "/notification_templates.json"): Op(
        "listNotificationTemplates",
        envelope(notification_templates=many(ref("TemplateSummary"))),
        links={
            name: follow(
                op,
                name="$response.body#/notification_templates/0/name",
                locale="$response.body#/notification_templates/0/locale",
            )
            for name, op in (
                ("GetNotificationTemplate", "getNotificationTemplate"),
                ("PreviewNotificationTemplate", "previewNotificationTemplate"),
            )
        },
    ),
    ("GET", "/notification_templates/{name}/{locale}.json"): Op("getNotificationTemplate", TEMPLATE_ANSWER),
    ("PUT", "/notification_templates/{name}/{locale}.json"): Op("saveNotificationTemplate", TEMPLATE_ANSWER),
    ("DELETE", "/notification_templates/{name}/{locale}.json"): Op("revertNotificationTemplate", TEMPLATE_ANSWER),
    ("POST", "/notification_templates/{name}/{locale}/preview.json"): Op(
        "previewNotificationTemplate", envelope(preview=ref("RenderedTemplate")), command=False
    ),
    ("POST", "/notification_templates/{name}/{locale}/test.json"): Op(
        "testSendNotificationTemplate",
        envelope(
            queued=envelope(template={"type": "string"}, locale={"type": "string"}, to={"type": "string"}),
        ),
        202,
    ),
    ("POST", "/orders/{order_id}/notifications.json"): Op("resendNotification", QUEUED_TEMPLATE, 202),
    ("POST", "/orders/{order_id}/messages.json"): Op("messageCustomer", QUEUED_TEMPLATE, 202),
}

# Outside the Admin API (paths as they are).
OTHER_OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/healthz"): Op(
        "health",
        envelope(
            status={"type": "string", "enum": ["ok"]},
            version={"type": "string"},
            process={"type": "string", "description": "host:pid of the server process that answered"},
        ),
        command=False,
    ),
    ("GET", "/metrics"): Op(
        "metrics",
        {"type": "string", "description": "Prometheus' text exposition format"},
        200,
        "text/plain",
        command=False,
    ),
}

# The shared refusals, each `{"errors": …}`.
ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "The body is not valid JSON; a `page_info`, an id parameter or the `Idempotency-Key` is malformed; "
        "a NUL character in the query string or a header",
    ),
    401: ("Unauthorized", "No `X-Shopify-Access-Token`, or one Orderdeck does not know"),
    403: ("Forbidden", "The token lacks the scope this operation needs"),
    404: ("NotFound", "No such record, or the path's API version is not of the form YYYY-MM or unstable"),
    405: ("MethodNotAllowed", "The path does not take this method; `Allow` names those it takes"),
    409: (
        "Conflict",
        "The order was changed by another request at the same moment (PostgreSQL): retry; or, for an order "
        "edit, the order changed since the edit began: begin a new edit",
    ),
    413: ("PayloadTooLarge", "The body is larger than the server's limit (ORDERDECK_MAX_BODY_BYTES)"),
    422: ("Unprocessable", "The request is understood but refused; the errors name each field and the problem"),
    503: ("ServiceUnavailable", "The database cannot be reached at the moment; retry after `Retry-After` seconds"),
}


def _error_responses() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, (name, description) in ERRORS.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": ref("Error")}},
        }
        if status == 405:
            response["headers"] = {"Allow": {"description": "The methods the path takes", "schema": {"type": "string"}}}
        if status == 503:
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
            }
        out[name] = response
    return out


def _component_schemas() -> dict[str, Schema]:
    _, top = models_json_schema(
        [
            (model, "serialization")
            for model in (*resources.RESOURCE_MODELS, *ORDER_EDIT_MODELS, *FULFILLMENT_SERVICE_MODELS)
        ],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Schema] = top.get("$defs", {})
    return schemas


def _cut_by_fields(answer: Schema, schemas: dict[str, Schema]) -> Schema:
    """The answer of an operation taking `fields=`: the resources in its envelope with the same
    keys and types and none required (a `{Name}Partial` copy of each), as `fields` leaves keys out."""
    envelope_name = answer.get("$ref", "").rpartition("/")[2]
    if envelope_name in schemas:  # a route's own model of the envelope
        answer = {k: v for k, v in schemas[envelope_name].items() if k != "title"}
    if answer.get("type") != "object" or "properties" not in answer:
        return answer
    members = {}
    for key, member in answer["properties"].items():
        target = member.get("items", member)
        name = target.get("$ref", "").rpartition("/")[2]
        if name in schemas:
            partial_name = f"{name}Partial"
            if partial_name not in schemas:
                partial = {k: v for k, v in schemas[name].items() if k != "required"}
                partial["title"] = f"{schemas[name].get('title', name)} (fields=)"
                partial["description"] = "Only the keys named in `fields=`, or all of them without it."
                schemas[partial_name] = partial
            cut = ref(partial_name)
            member = {**member, "items": cut} if "items" in member else cut
        members[key] = member
    return {**answer, "properties": members}


def _refusals(path: str, method: str, operation: dict[str, Any], op: Op) -> list[int]:
    if not path.startswith(PREFIX):
        return [400, 503]  # a NUL in the query or a header (api/guards.py); the database unreachable
    parameters = [p for p in operation.get("parameters", []) if p.get("name") != "api_version"]
    body = "requestBody" in operation
    # 400 for any: a NUL in the query string or a header, an id parameter beyond 64 bits (api/guards.py).
    statuses = {400, 401, 403, 404, 405, 503}
    if parameters or body or method != "get":
        statuses.add(422)
    if op.command and method != "get":
        statuses.add(409)
    if body:
        statuses.add(413)
    return sorted(statuses)


def _links(op: Op) -> dict[str, Any]:
    return {name: {"operationId": target, "parameters": parameters} for name, (target, parameters) in op.links.items()}


def _complete(path: str, method: str, operation: dict[str, Any], op: Op, schemas: dict[str, Schema]) -> None:
    operation["operationId"] = op.operation_id
    refusals = _refusals(path, method, operation, op)
    declared = operation["responses"].get(str(op.status), {})
    # A route that declares its answer's model (responses=) keeps it; the others get OPERATIONS'.
    answer = declared.get("content", {}).get(op.media_type, {}).get("schema") or op.answer
    if any(p.get("name") == "fields" and p.get("in") == "query" for p in operation.get("parameters", [])):
        answer = _cut_by_fields(answer, schemas)
    success: dict[str, Any] = {
        "description": declared.get("description") or "Successful Response",
        "content": {op.media_type: {"schema": answer}},
    }
    if op.paginated:
        success["headers"] = {"Link": {"$ref": "#/components/headers/Link"}}
    if op.links:
        success["links"] = _links(op)
    if success["description"] == "Successful Response":
        success["description"] = {200: "OK", 201: "Created", 202: "Accepted"}[op.status]
    responses: dict[str, Any] = {str(op.status): success}
    for status in refusals:
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    operation["responses"] = responses
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if op.request_example is not None and media is not None and not ({"example", "examples"} & set(media)):
        media["example"] = op.request_example


API_VERSION_PARAMETER = {
    "name": "api_version",
    "in": "path",
    "required": True,
    "description": "Any YYYY-MM (or unstable) is answered with the 2024-10 behaviour",
    "schema": {"type": "string", "pattern": r"^(\d{4}-\d{2}|unstable)$", "examples": ["2024-10"]},
}


def _with_api_version(operation: dict[str, Any]) -> None:
    """The routes take the version from their prefix without a parameter, so FastAPI leaves it out."""
    parameters = [p for p in operation.get("parameters", []) if p.get("name") != "api_version"]
    operation["parameters"] = [dict(API_VERSION_PARAMETER), *parameters]


def document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document for `app`, completed; built once and kept, as FastAPI does."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = FastAPI.openapi(app)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, schema in _component_schemas().items():
        if name in schemas and schemas[name] != schema:
            raise RuntimeError(f"the OpenAPI component {name} is defined twice")
        schemas[name] = schema
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["responses"] = _error_responses()
    components["headers"] = {
        "Link": {
            "description": 'Cursors to the neighbouring pages: <…?limit=50&page_info=…>; rel="next"',
            "schema": {"type": "string"},
        }
    }
    for path, item in doc.get("paths", {}).items():
        relative = path[len(PREFIX) :] if path.startswith(PREFIX) else None
        for method, operation in item.items():
            key = (method.upper(), relative) if relative is not None else (method.upper(), path)
            op = OPERATIONS.get(key) if relative is not None else OTHER_OPERATIONS.get(key)
            if relative is not None:
                _with_api_version(operation)
            if op is None and relative is not None:
                # A route missing from OPERATIONS: its refusals still, and what FastAPI knows of
                # its answer (a test fails on an operation whose answer has no schema).
                success = next((int(c) for c in operation.get("responses", {}) if c.startswith("2")), 200)
                op = Op(operation["operationId"], {}, success, command=method != "get")
            if op is not None:
                _complete(path, method, operation, op, schemas)
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    """Serve the completed document at the app's openapi_url (and to scripts/export-openapi)."""
    app.openapi = lambda: document(app)  # type: ignore[method-assign]


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """The methods the routes at this request's path take, for a 405's `Allow` (Starlette's own
    names only the first route that matched the path, and each method has a route of its own).
    Asked of the router itself, method by method, so included routers are searched as routing does."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**scope, "type": "http", "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in app.router.routes):
            allowed.append(method)
    return allowed
