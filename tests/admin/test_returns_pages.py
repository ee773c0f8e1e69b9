"""Returns in the admin (issue 13): the order page's Returns panel and the Returns list. Each
action goes through its form as staff send it; the REST API and the stock then show the change,
and the timeline names the staff member. A refused form comes back with what was typed and the
reason at the field, and changes nothing; staff without the permission are refused."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderdeck.domain import returns as rules
from orderdeck.domain.order import Author
from orderdeck.services import returns as commands
from orderdeck.services.context import Orderdeck
from tests.conftest import Shop
from tests.integration.order_steps import stock
from tests.integration.returns_steps import fulfillment_line_ids, run, shipped_order

from .conftest import PASSWORD, AdminClient, make_staff


@pytest.fixture
def amsterdam(shop: Shop) -> int:
    return shop.location("Amsterdam")


@pytest.fixture
def mug(shop: Shop, amsterdam: int) -> int:
    return shop.product("MUG-1", price="12.50", stock={amsterdam: 50}, title="Delft mug")


def words_of(page: Any) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.text)))


def returns_of(shop: Shop, order_id: int) -> list[dict[str, Any]]:
    return shop.get(order_id)["returns"]  # type: ignore[no-any-return]


def start(owner: AdminClient, order: dict[str, Any], fl: int, quantity: int = 1, **extra: str) -> Any:
    return owner.post(
        f"/admin/orders/{order['id']}/returns/new",
        {f"qty_{fl}": str(quantity), f"reason_{fl}": "size_too_small", "step": "create", **extra},
    )


def test_staff_start_a_return_receive_one_restocked_one_not_refund_with_the_suggestion_close_and_reopen(
    owner: AdminClient, deck: Orderdeck, shop: Shop, mug: int, amsterdam: int
) -> None:
    order = shipped_order(shop, mug, quantity=2)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    page = words_of(owner.page(f"/admin/orders/{order['id']}"))
    assert "Returns" in page and "Start a return" in page and "2 shipped items can still come back" in page
    form = words_of(owner.page(f"/admin/orders/{order['id']}/returns/new"))
    assert "2 of 2 can come back" in form
    preview = owner.post(
        f"/admin/orders/{order['id']}/returns/new",
        {f"qty_{fl}": "2", f"fee_{fl}": "10", "shipping_fee": "2.00", "step": "preview"},
    )
    assert preview.status_code == 200
    said = words_of(preview)
    assert "Returned items €25.00" in said and "Fees kept €4.50" in said, said
    assert "The shop owes the customer €20.50" in said
    assert returns_of(shop, order["id"]) == []  # a preview changes nothing

    flash = owner.flash(start(owner, order, fl, 2))
    assert flash.startswith("success: Return #1001-R1 of 2 items was started"), flash
    ret = returns_of(shop, order["id"])[0]
    assert ret["status"] == "open"
    panel = owner.page(f"/admin/orders/{order['id']}")
    assert "Awaiting the parcel" in words_of(panel)

    _receive_one_restocked_one_not(owner, shop, order, mug, amsterdam)
    _refund_with_the_suggestion_then_reopen_and_close(owner, shop, order)
    timeline = words_of(owner.page(f"/admin/orders/{order['id']}"))
    assert re.search(r"Return #1001-R1 of 2 items was created\. by Olivia Owner", timeline), timeline
    assert re.search(
        r"Return items received: 1 not restocked, 1 restocked\. by Olivia Owner · [^·]+ · Return #1001-R1", timeline
    )


def _receive_one_restocked_one_not(
    owner: AdminClient, shop: Shop, order: dict[str, Any], mug: int, amsterdam: int
) -> None:
    assert stock(shop, mug, amsterdam) == (48, 0, 48)
    ret = returns_of(shop, order["id"])[0]
    form = owner.page(f"/admin/orders/{order['id']}/returns/{ret['id']}/receive")
    line = int(re.findall(r'name="restocked_(\d+)"', form.text)[0])
    assert f'<option value="{amsterdam}" selected' in form.text  # restocked where it shipped from
    flash = owner.flash(
        owner.post(
            f"/admin/orders/{order['id']}/returns/{ret['id']}/receive",
            {f"restocked_{line}": "1", f"not_restocked_{line}": "1", f"location_{line}": str(amsterdam)},
        )
    )
    assert flash == "success: Return #1001-R1: received 1 restocked, 1 not restocked.", flash
    assert stock(shop, mug, amsterdam) == (49, 0, 49)  # only the restocked unit is back
    dispositions = returns_of(shop, order["id"])[0]["reverse_fulfillment_orders"][0]["line_items"][0]["dispositions"]
    assert sorted((d["type"], d["quantity"]) for d in dispositions) == [("not_restocked", 1), ("restocked", 1)]
    assert "To refund" in words_of(owner.page(f"/admin/orders/{order['id']}"))


def _refund_with_the_suggestion_then_reopen_and_close(owner: AdminClient, shop: Shop, order: dict[str, Any]) -> None:
    ret = returns_of(shop, order["id"])[0]
    form = owner.page(f"/admin/orders/{order['id']}/returns/{ret['id']}/refund")
    suggested = re.search(r'name="amount" type="text" inputmode="decimal" value="([^"]*)"', form.text)
    assert suggested and suggested.group(1) == "25.00", form.text
    flash = owner.flash(
        owner.post(
            f"/admin/orders/{order['id']}/returns/{ret['id']}/refund",
            {"amount": suggested.group(1), "note": "Too small", "notify": "1"},
        )
    )
    assert flash == "success: Return #1001-R1 refunded: €25.00 back to the customer.", flash
    after = shop.get(order["id"])
    assert after["financial_status"] == "refunded"
    assert after["returns"][0]["status"] == "closed"  # every unit received and refunded
    assert after["return_status"] == "returned"
    url = f"/admin/orders/{order['id']}/returns/{ret['id']}"
    assert owner.flash(owner.post(f"{url}/reopen")) == "success: Return #1001-R1 was reopened."
    assert returns_of(shop, order["id"])[0]["status"] == "open"
    assert owner.flash(owner.post(f"{url}/close")) == "success: Return #1001-R1 was closed."
    assert returns_of(shop, order["id"])[0]["status"] == "closed"
    assert owner.flash(owner.post(f"{url}/close")).startswith("error: ")  # closed already: refused


CUSTOMER = Author(kind="customer", name="Anna de Vries", ref=None)


def _requested(deck: Orderdeck, order_id: int, fl: int) -> int:
    request = rules.ReturnRequest(
        lines=[rules.ReturnLineRequest(fulfillment_line_item_id=fl, quantity=1, return_reason="defective")]
    )
    _, ret = run(
        deck, lambda c: commands.start(c, order_id, commands.StartReturn(request, status="requested")), CUSTOMER
    )
    return ret.id


def test_a_request_is_approved_another_declined_with_a_message(
    owner: AdminClient, deck: Orderdeck, shop: Shop, mug: int
) -> None:
    first, second = shipped_order(shop, mug, quantity=1), shipped_order(shop, mug, quantity=1)
    approved = _requested(deck, first["id"], fulfillment_line_ids(deck, first["id"])[0])
    declined = _requested(deck, second["id"], fulfillment_line_ids(deck, second["id"])[0])
    page = words_of(owner.page(f"/admin/orders/{first['id']}"))
    assert "To approve" in page and "by Anna de Vries (customer)" in page and "Approve return" in page
    flash = owner.flash(owner.post(f"/admin/orders/{first['id']}/returns/{approved}/approve", {"notify": "1"}))
    assert flash == "success: Return #1001-R1 was approved. The customer was sent the return instructions."
    assert returns_of(shop, first["id"])[0]["status"] == "open"

    url = f"/admin/orders/{second['id']}/returns/{declined}/decline"
    flash = owner.flash(owner.post(url, {"reason": "final_sale", "note": "Sale items can't come back.", "notify": "1"}))
    assert flash == "success: Return #1002-R1 was declined. The customer is told why."
    ret = returns_of(shop, second["id"])[0]
    assert ret["status"] == "declined"
    assert ret["decline"] == {"reason": "final_sale", "note": "Sale items can't come back."}
    assert shop.get(second["id"])["return_status"] == "return_failed"
    page = words_of(owner.page(f"/admin/orders/{second['id']}"))
    assert "Declined: The item was a final sale — “Sale items can't come back.”" in page
    assert "Return #1002-R1 was declined (final sale): Sale items can't come back. by Olivia Owner" in page


def test_a_label_and_tracking_go_on_the_parcel_coming_back(
    owner: AdminClient, deck: Orderdeck, shop: Shop, mug: int
) -> None:
    order = shipped_order(shop, mug, quantity=1)
    owner.flash(start(owner, order, fulfillment_line_ids(deck, order["id"])[0]))
    ret = returns_of(shop, order["id"])[0]
    url = f"/admin/orders/{order['id']}/returns/{ret['id']}/label"
    flash = owner.flash(
        owner.post(
            url,
            {
                "label_url": "https://labels.example/r1.pdf",
                "tracking_carrier": "PostNL",
                "tracking_number": "3SABC123",
            },
        )
    )
    assert flash == "success: Return #1001-R1: the label and tracking saved.", flash
    delivery = returns_of(shop, order["id"])[0]["reverse_fulfillment_orders"][0]["reverse_deliveries"][0]
    assert delivery["label"]["public_file_url"] == "https://labels.example/r1.pdf"
    assert delivery["tracking"]["number"] == "3SABC123" and delivery["tracking"]["carrier_name"] == "PostNL"
    page = owner.page(f"/admin/orders/{order['id']}")
    assert 'href="https://labels.example/r1.pdf"' in page.text
    assert "Tracking (PostNL): 3SABC123" in words_of(page)
    refused = owner.post(url, {"tracking_number": "N" * 300})
    assert refused.status_code == 422 and f'value="{"N" * 300}"' in refused.text
    assert re.search(r'-label-number" role="alert">This can be at most 255 characters<', refused.text)
    # Nothing was received or refunded yet, so the return can still be cancelled.
    cancelled = owner.post(f"/admin/orders/{order['id']}/returns/{ret['id']}/cancel")
    assert owner.flash(cancelled) == "success: Return #1001-R1 was cancelled; its items count as fulfilled again."
    assert returns_of(shop, order["id"])[0]["status"] == "canceled"
    assert shop.get(order["id"])["return_status"] == "no_return"
    assert "1 shipped item can still come back" in words_of(owner.page(f"/admin/orders/{order['id']}"))


def test_an_exchange_shows_what_the_customer_owes_and_its_held_items(
    owner: AdminClient, deck: Orderdeck, shop: Shop, mug: int, amsterdam: int
) -> None:
    jug = shop.product("JUG-1", price="20.00", stock={amsterdam: 5}, title="Jug")
    order = shipped_order(shop, mug, quantity=1)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    form = owner.post(f"/admin/orders/{order['id']}/returns/new", {"find": "jug", "step": "find", f"qty_{fl}": "1"})
    assert f'<option value="{jug}"' in form.text and 'value="1"' in form.text
    preview = words_of(
        owner.post(
            f"/admin/orders/{order['id']}/returns/new",
            {f"qty_{fl}": "1", "ex-0-variant": str(jug), "ex-0-quantity": "1", "step": "preview"},
        )
    )
    assert "Exchange items €20.00" in preview and "The customer owes €7.50" in preview, preview
    flash = owner.flash(
        owner.post(
            f"/admin/orders/{order['id']}/returns/new",
            {f"qty_{fl}": "1", "ex-0-variant": str(jug), "ex-0-quantity": "1", "step": "create"},
        )
    )
    assert flash.startswith("success: Return #1001-R1"), flash
    assert stock(shop, jug, amsterdam) == (4, 1, 5)  # the exchange item is committed like any order line
    page = owner.page(f"/admin/orders/{order['id']}")
    said = words_of(page)
    assert "The customer owes €7.50 for the exchange" in said, said
    assert 'href="#payment"' in page.text
    assert "1 \u00d7 Jug" in said and "On hold:" in said
    # The customer can be asked for the difference: the payment request e-mail (order_invoice).
    assert 'id="payment-request"' in page.text
    flash = owner.flash(owner.post(f"/admin/orders/{order['id']}/resend", {"template": "order_invoice"}))
    assert flash.startswith("success: “Order invoice” is on its way"), flash
    assert "asked to send the order invoice notification" in words_of(owner.page(f"/admin/orders/{order['id']}"))
    fo = re.search(r'/fulfillment-orders/(\d+)/release-hold" class="inline"', page.text)
    assert fo, page.text
    flash = owner.flash(owner.post(f"/admin/orders/{order['id']}/fulfillment-orders/{fo.group(1)}/release-hold"))
    assert flash.startswith("success: The hold was released"), flash


def test_refused_forms_keep_what_was_typed_at_the_field_and_change_nothing(
    owner: AdminClient, deck: Orderdeck, shop: Shop, mug: int, amsterdam: int
) -> None:
    order = shipped_order(shop, mug, quantity=2)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    refused = start(owner, order, fl, 3, **{f"note_{fl}": "Wrong colour"})
    assert refused.status_code == 422
    assert re.search(rf'id="f-qty_{fl}" name="qty_{fl}"[^>]*value="3"[^>]*aria-invalid="true"', refused.text), (
        refused.text
    )
    assert re.search(rf'id="e-qty_{fl}" role="alert">Enter between 0 and 2 for Delft mug<', refused.text)
    assert 'value="Wrong colour"' in refused.text
    refused = start(owner, order, fl, 1, **{f"fee_{fl}": "150"})
    assert refused.status_code == 422 and f'id="e-fee_{fl}"' in refused.text
    for hostile in ("1e999999", "NaN", "-1", "0.001"):
        extra = {"ex-0-variant": str(mug), "ex-0-discount": hostile, "ex-0-discount_type": "fixed_amount"}
        refused = start(owner, order, fl, 1, **extra)
        assert refused.status_code == 422 and 'id="e-ex-0-discount" role="alert"' in refused.text, hostile
    refused = start(owner, order, fl, 1, **{"ex-0-variant": "999999999"})
    assert refused.status_code == 422 and re.search(
        r'id="e-exchanges" role="alert">Variant 999999999 does not exist', refused.text
    )
    assert returns_of(shop, order["id"]) == []

    owner.flash(start(owner, order, fl, 2))
    ret = returns_of(shop, order["id"])[0]
    url = f"/admin/orders/{order['id']}/returns/{ret['id']}"
    refused = owner.post(f"{url}/label", {"label_url": "ftp://labels.example/x", "tracking_number": "N1"})
    assert refused.status_code == 422
    assert 'value="ftp://labels.example/x"' in refused.text and 'value="N1"' in refused.text
    assert re.search(r'id="e-r\d+-label-url" role="alert">Enter an address starting with https://<', refused.text)
    line = int(re.findall(r'name="restocked_(\d+)"', owner.page(f"{url}/receive").text)[0])
    refused = owner.post(f"{url}/receive", {f"restocked_{line}": "2", f"missing_{line}": "1"})
    assert refused.status_code == 422 and re.search(
        r'role="alert">Only 2 of Delft mug are still to be received<', refused.text
    )
    assert 'value="2"' in refused.text
    refused = owner.post(f"{url}/refund", {"amount": "99.00"})
    assert refused.status_code == 422 and 'value="99.00"' in refused.text
    assert re.search(r'-refund-amount" role="alert">At most €25\.00 was paid', refused.text), refused.text
    assert returns_of(shop, order["id"])[0]["reverse_fulfillment_orders"][0]["reverse_deliveries"] == []
    assert returns_of(shop, order["id"])[0]["refund_ids"] == []
    assert stock(shop, mug, amsterdam) == (48, 0, 48)
    refused = owner.post(f"{url}/decline", {"reason": "final_sale"})  # an open return is not declined
    assert refused.status_code == 422 and re.search(r'role="alert">Return #1001-R1 is open[^<]*<', refused.text)
    assert returns_of(shop, order["id"])[0]["status"] == "open"


def test_the_returns_list_filters_by_what_is_due_and_searches(
    owner: AdminClient, deck: Orderdeck, shop: Shop, mug: int
) -> None:
    requested = shipped_order(shop, mug, quantity=1)
    _requested(deck, requested["id"], fulfillment_line_ids(deck, requested["id"])[0])
    opened = shipped_order(shop, mug, quantity=1)
    owner.flash(start(owner, opened, fulfillment_line_ids(deck, opened["id"])[0]))
    everything = words_of(owner.page("/admin/returns"))
    assert "#1001-R1" in everything and "#1002-R1" in everything
    assert "All (2) To approve (1) Awaiting the parcel (1) To inspect (0) To refund (0)" in everything, everything
    to_approve = words_of(owner.page("/admin/returns?due=to_approve"))
    assert "#1001-R1" in to_approve and "#1002-R1" not in to_approve
    waiting = words_of(owner.page("/admin/returns?due=awaiting_parcel"))
    assert "#1002-R1" in waiting and "#1001-R1" not in waiting
    assert "No returns here" in words_of(owner.page("/admin/returns?due=to_refund"))
    found = words_of(owner.page("/admin/returns?q=1002"))
    assert "#1002-R1" in found and "#1001-R1" not in found
    bad = owner.page("/admin/returns?due=soon", expect=422)
    assert "Due must be one of" in words_of(bad)
    listed = owner.page("/admin/orders?return_status=in_progress")
    assert "#1002" in words_of(listed) and "#1001 " not in words_of(listed)
    assert 'title="Return: In progress"' in listed.text  # the badge beside the other statuses
    options = re.findall(
        r'<option value="(\w*)"',
        owner.page("/admin/orders").text.split('name="return_status"')[1].split("</select>")[0],
    )
    assert options == [
        "",
        "return_requested",
        "in_progress",
        "inspection_complete",
        "returned",
        "return_failed",
        "no_return",
    ]


def test_staff_without_the_permission_are_refused(
    owner: AdminClient, deck: Orderdeck, admin_app: TestClient, shop: Shop, mug: int
) -> None:
    order = shipped_order(shop, mug, quantity=1)
    fl = fulfillment_line_ids(deck, order["id"])[0]
    rid = _requested(deck, order["id"], fl)
    make_staff(deck, "viewer@shop.test", permissions=("view_orders",), name="Vera Viewer")
    viewer = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    assert viewer.sign_in("viewer@shop.test", PASSWORD).status_code == 303
    page = viewer.page(f"/admin/orders/{order['id']}")
    assert "#1001-R1" in page.text and "Approve return" not in page.text
    viewer.page("/admin/returns")
    refused = viewer.post(f"/admin/orders/{order['id']}/returns/{rid}/approve", {"notify": "1"})
    assert refused.status_code == 403 and "manage orders" in words_of(refused)
    assert (
        viewer.post(f"/admin/orders/{order['id']}/returns/new", {f"qty_{fl}": "1", "step": "create"}).status_code == 403
    )
    make_staff(deck, "packer@shop.test", permissions=("view_orders", "manage_orders"), name="Piet Packer")
    packer = AdminClient(TestClient(admin_app.app, base_url="http://shop.test"))
    assert packer.sign_in("packer@shop.test", PASSWORD).status_code == 303
    packer.page(f"/admin/orders/{order['id']}")
    assert packer.flash(packer.post(f"/admin/orders/{order['id']}/returns/{rid}/approve")).startswith("success")
    assert "Refund…" not in packer.page(f"/admin/orders/{order['id']}").text
    refused = packer.post(f"/admin/orders/{order['id']}/returns/{rid}/refund", {"amount": "12.50"})
    assert refused.status_code == 403 and "take and refund payments" in words_of(refused)
    assert returns_of(shop, order["id"])[0]["refund_ids"] == []
