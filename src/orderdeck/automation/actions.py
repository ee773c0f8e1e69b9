"""What a rule's actions do: each is an ordinary command, authored by the rule, so it checks
the same rules, writes the same timeline and raises the same webhooks as staff doing it.

Every action is safe to repeat (at-least-once): one that has nothing to do says so and changes
nothing, instead of failing (capture with nothing authorized, archive of an archived order, …).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from .. import destinations
from ..destinations import Destinations, RefusedDestination
from ..domain.cancellation import CancelRequest
from ..domain.order import Order, Return
from ..domain.statuses import open_authorizations, total_outstanding
from ..services import custom_statuses, fulfillments, orders, payments, returns
from ..services.cancellation import cancel_order
from ..services.changes import load_order, save_order
from ..services.context import Command
from ..store.outbox import OutboxMessage

HTTP_TIMEOUT = httpx.Timeout(5.0, connect=1.0)  # each step: connecting, each read and write
# The whole of an http_request, however slowly its receiver trickles the answer's head, so a
# rule's call cannot hold a worker's rule runs for long (they run in a loop of their own).
HTTP_DEADLINE = 10.0


def _return_to_answer(order: Order, return_id: int | None) -> tuple[Return | None, str]:
    """The return approve_return / decline_return answer: the one the trigger is about, else
    the newest requested return. Second: what to log when there is nothing to answer."""
    if return_id is not None:
        ret = order.return_(return_id)
        if ret is None:
            return None, "the return is no longer on the order"
        if ret.status != "requested":
            return None, f"return {ret.name} is already {ret.status}"
        return ret, ""
    requested = [r for r in order.returns if r.status == "requested"]
    if not requested:
        return None, "no return is waiting for an answer"
    return max(requested, key=lambda r: (r.created_at, r.id)), ""


def perform(cmd: Command, order_id: int, step: dict[str, Any], rule_name: str, *, return_id: int | None = None) -> str:
    """Run one action inside the caller's transaction. Returns what happened, for the run log.
    A refusal raises the command's own OrderError. `return_id`: the return the run's trigger was
    about, if any."""
    name = step["action"]
    order = cmd.uow.orders.get(order_id, for_update=True)
    if name in ("approve_return", "decline_return"):
        # Safe to repeat: a return already answered (by this run before a crash, by staff, or by
        # another rule) is left as it is.
        ret, nothing = _return_to_answer(order, return_id)
        if ret is None:
            return nothing
        # The customer who asked is waiting for the answer: told unless the rule says not to.
        notify = step.get("notify_customer", True)
        if name == "approve_return":
            returns.approve(cmd, ret.id, notify=notify)
            return f"approved return {ret.name}"
        returns.decline(cmd, ret.id, reason=step["reason"], note=step.get("message"), notify=notify)
        return f"declined return {ret.name} ({step['reason'].replace('_', ' ')})"
    if name in ("add_tags", "remove_tags"):
        before = set(order.tags)
        adding = step["tags"] if name == "add_tags" else []
        removing = step["tags"] if name == "remove_tags" else []
        orders.change_tags(cmd, order_id, add=adding, remove=removing)
        after = set(cmd.uow.orders.get(order_id, for_update=False).tags)
        return f"tags now {', '.join(sorted(after)) or 'none'}" if after != before else "tags already so"
    if name == "hold_fulfillment":
        waiting = [fo for fo in order.fulfillment_orders if fo.status in ("open", "in_progress", "scheduled")]
        for fo in waiting:
            fulfillments.hold(cmd, fo.id, reason=step["reason"], reason_notes=step.get("notes"), requests=None)
        return f"held {len(waiting)} fulfillment order(s) ({step['reason']})" if waiting else "nothing to hold"
    if name == "release_holds":
        held = [fo for fo in order.fulfillment_orders if fo.status == "on_hold"]
        for fo in held:
            fulfillments.release_hold(cmd, fo.id, hold_ids=None)
        return f"released {len(held)} fulfillment order(s)" if held else "nothing on hold"
    if name == "capture_payment":
        if not open_authorizations(order):
            return "nothing authorized to capture"
        loaded = load_order(cmd, order_id)
        captured = payments.capture_everything(cmd, loaded.order)
        save_order(cmd, loaded.order, loaded)
        return f"captured {len(captured)} authorization(s)"
    if name == "mark_as_paid":
        if total_outstanding(order) <= 0:
            return "already paid"
        payments.mark_as_paid(cmd, order_id)
        return "marked as paid"
    if name == "cancel":
        if order.cancelled_at is not None:
            return "already cancelled"
        request = CancelRequest(
            reason=step.get("reason", "other"),
            refund=step.get("refund", True),
            restock=step.get("restock", True),
            notify_customer=step.get("notify_customer", False),
            staff_note=step.get("staff_note") or f"Cancelled by the rule {rule_name}",
        )
        cancel_order(cmd, order_id, request)
        return "cancelled"
    if name == "archive":
        if order.is_closed:
            return "already archived"
        orders.close_order(cmd, order_id)
        return "archived"
    if name == "unarchive":
        if not order.is_closed:
            return "not archived"
        orders.reopen_order(cmd, order_id)
        return "unarchived"
    if name == "add_comment":
        orders.add_comment(cmd, order_id, step["message"])
        return "comment added"
    if name == "email_staff":
        cmd.uow.outbox.put(
            [
                OutboxMessage(
                    "staff_alert",
                    "automation_email",
                    orjson.dumps(
                        {
                            "order_id": order_id,
                            "name": order.name,
                            "subject": step["subject"],
                            "message": step["message"],
                        }
                    ).decode(),
                    order_id,
                )
            ],
            cmd.now,
        )
        return "staff e-mail queued"
    if name == "set_custom_status":
        current = order.custom_status.handle if order.custom_status else None
        if current == step["handle"]:
            return f"already {step['handle']}"
        custom_statuses.set_on_order(cmd, order_id, step["handle"], notify=step.get("notify"))
        return f"status set to {step['handle']}"
    raise ValueError(f"{name} is not performed inside a transaction")


def http_request(step: dict[str, Any], order_json: dict[str, Any], rule_name: str, allowed: Destinations) -> str:
    """Send the request (outside any transaction, in a worker thread) and wait at most
    HTTP_DEADLINE in all for the answer's status. The body is the step's `body`, or the order.
    Only the status is used: the answer's body is never read, however long it is."""
    body = step.get("body") if step.get("body") is not None else {"order": order_json}
    return asyncio.run(_exchange(step["url"], step.get("method", "POST"), orjson.dumps(body), rule_name, allowed))


async def _exchange(url: str, method: str, body: bytes, rule_name: str, allowed: Destinations) -> str:
    headers = {"Content-Type": "application/json", "X-Orderdeck-Rule": rule_name}
    try:
        async with (
            destinations.client(allowed, HTTP_TIMEOUT) as client,
            asyncio.timeout(HTTP_DEADLINE),
            client.stream(method, url, content=body, headers=headers) as reply,
        ):
            status = reply.status_code
    except TimeoutError:  # connecting, sending and the answer's head together took too long
        raise ExternalFailure(f"{url} did not answer within {HTTP_DEADLINE:g} s") from None
    except RefusedDestination as exc:
        raise ExternalFailure(f"{url} was not contacted: {exc}") from None
    except (httpx.HTTPError, UnicodeError) as exc:
        raise ExternalFailure(f"{url} could not be reached: {exc.__class__.__name__}") from None
    if not 200 <= status < 300:
        raise ExternalFailure(f"{url} answered {status}")
    return f"{url} answered {status}"


class ExternalFailure(Exception):
    pass
