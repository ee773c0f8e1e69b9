"""ShipStation's Custom Store connection (/shipstation): the export ShipStation pulls orders with,
and the shipnotify post that records what it shipped, spoken by a client that sends exactly the
requests of the examples in ShipStation's Custom Store development guide (v1).

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from xml.etree.ElementTree import Element

import pytest
from defusedxml.ElementTree import fromstring
from fastapi.testclient import TestClient

from orderdeck.outbox.worker import Worker
from orderdeck.services.context import Orderdeck
from orderdeck.web import shipstation
from tests.conftest import SELL, Api, Clock, Shop
from tests.integration.conftest import Inbox

USERNAME = "shipstation"
PASSWORD = "correct horse battery"


class ShipStationClient:
    """What ShipStation sends, as the guide's examples show it: Basic authentication, the export's
    GET with MM/dd/yyyy HH:mm dates, and the shipnotify POST with its query and ShipNotice body."""

    def __init__(self, client: TestClient, username: str = USERNAME, password: str = PASSWORD) -> None:
        self.client = client
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}

    def export(self, start_date: str, end_date: str, page: int = 1) -> Any:
        return self.client.get(
            "/shipstation",
            params={"action": "export", "start_date": start_date, "end_date": end_date, "page": page},
            headers=self.headers,
        )

    def orders(
        self, start_date: str = "11/01/2026 00:00", end_date: str = "11/30/2026 23:59", page: int = 1
    ) -> Element:
        response = self.export(start_date, end_date, page)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        return fromstring(response.content)

    def shipnotify(self, order_number: str, body: str | bytes, **query: str) -> Any:
        params = {"action": "shipnotify", "order_number": order_number, "carrier": "USPS", "service": "", **query}
        params.setdefault("tracking_number", "1Z909084330298430820")
        return self.client.post(
            "/shipstation",
            params=params,
            content=body.encode() if isinstance(body, str) else body,
            headers={**self.headers, "Content-Type": "application/xml; charset=utf-8"},
        )


def ship_notice(
    order_number: str,
    *,
    order_id: str = "",
    tracking: str = "1Z909084330298430820",
    items: str = "",
    notify: str = "false",
) -> str:
    """The guide's ShipNotice example, for one of our orders."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<ShipNotice>
  <OrderNumber>{order_number}</OrderNumber>
  <OrderID>{order_id}</OrderID>
  <CustomerCode>anna@example.nl</CustomerCode>
  <CustomerNotes></CustomerNotes>
  <InternalNotes></InternalNotes>
  <NotesToCustomer></NotesToCustomer>
  <NotifyCustomer>{notify}</NotifyCustomer>
  <LabelCreateDate>11/02/2026 12:56</LabelCreateDate>
  <ShipDate>11/02/2026</ShipDate>
  <Carrier>USPS</Carrier>
  <Service>Priority Mail</Service>
  <TrackingNumber>{tracking}</TrackingNumber>
  <ShippingCost>4.95</ShippingCost>
  <CustomField1></CustomField1>
  <Recipient>
    <Name>Anna de Vries</Name>
    <Company></Company>
    <Address1>Keizersgracht 1</Address1>
    <Address2></Address2>
    <City>Amsterdam</City>
    <State>NH</State>
    <PostalCode>1015 CJ</PostalCode>
    <Country>NL</Country>
  </Recipient>
  <Items>{items}</Items>
</ShipNotice>"""


def item(sku: str, quantity: int, line_item_id: int | str = "") -> str:
    return (
        f"<Item><SKU>{sku}</SKU><Name>x</Name><Quantity>{quantity}</Quantity>"
        f"<LineItemID>{line_item_id}</LineItemID></Item>"
    )


ADDRESS = {
    "first_name": "Anna",
    "last_name": "de Vries",
    "company": "Tulp BV",
    "address1": "Keizersgracht 1",
    "address2": "2nd floor",
    "city": "Amsterdam",
    "province": "Noord-Holland",
    "province_code": "NH",
    "zip": "1015 CJ",
    "country_code": "NL",
    "phone": "+31 20 123 4567",
}


@pytest.fixture
def connected(shop: Shop) -> None:
    shop.settings(shipstation_username=USERNAME, shipstation_password=PASSWORD)


@pytest.fixture
def ss(client: TestClient, connected: None) -> ShipStationClient:
    return ShipStationClient(client)


@pytest.fixture
def teapot(shop: Shop, amsterdam: int) -> int:
    return shop.product("TEA-1", price="30.00", stock={amsterdam: 50}, title="Teapot")


def paid_order(shop: Shop, lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return shop.order(lines, transactions=SELL, **fields)


def orders_in(root: Element) -> dict[str, Element]:
    return {o.findtext("OrderNumber") or "": o for o in root.findall("Order")}


def items_of(order: Element) -> dict[str, int]:
    return {i.findtext("SKU") or "": int(i.findtext("Quantity") or 0) for i in order.findall("Items/Item")}


def fulfillments(api: Api, order_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/orders/{order_id}/fulfillments.json"))["fulfillments"]  # type: ignore[no-any-return]


# ---- export -------------------------------------------------------------------------------------
def test_the_export_has_every_field_of_the_guides_example(ss: ShipStationClient, shop: Shop, mug: int) -> None:
    order = paid_order(
        shop,
        [{"variant_id": mug, "quantity": 2, "properties": [{"name": "Engraving", "value": "Anna"}]}],
        shipping_address=ADDRESS,
        billing_address={**ADDRESS, "first_name": "Bob"},
        shipping_lines=[{"title": "PostNL", "price": "4.95"}],
        note="Please ring twice",
        note_attributes=[{"name": "gift_message", "value": "Happy birthday!"}],
        tags="vip",
    )
    response = ss.export("11/02/2026 10:00", "11/02/2026 10:59")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    assert "<Name><![CDATA[Anna de Vries]]></Name>" in response.text  # text in CDATA, as the guide shows
    root = fromstring(response.content)
    assert root.tag == "Orders" and root.get("pages") == "1"
    [exported] = root.findall("Order")
    assert [child.tag for child in exported] == [
        "OrderID",
        "OrderNumber",
        "OrderDate",
        "OrderStatus",
        "LastModified",
        "ShippingMethod",
        "PaymentMethod",
        "CurrencyCode",
        "OrderTotal",
        "TaxAmount",
        "ShippingAmount",
        "CustomerNotes",
        "InternalNotes",
        "Gift",
        "GiftMessage",
        "CustomField1",
        "Customer",
        "Items",
    ]
    field = exported.findtext
    assert field("OrderID") == str(order["id"])
    assert field("OrderNumber") == order["name"].lstrip("#") == "1001"
    assert field("OrderDate") == "11/02/2026 10:30 AM"  # 09:30 UTC in Amsterdam (the shop's zone)
    assert field("OrderStatus") == "paid"
    assert field("ShippingMethod") == "PostNL"
    assert field("PaymentMethod") == "bogus"
    assert field("CurrencyCode") == "EUR"
    assert field("OrderTotal") == order["total_price"] == "29.95"
    assert field("ShippingAmount") == "4.95"
    assert field("CustomerNotes") == "Please ring twice"
    assert field("Gift") == "true" and field("GiftMessage") == "Happy birthday!"
    assert field("CustomField1") == "vip"
    assert field("Customer/CustomerCode") == "anna@example.nl"
    assert {c.tag: c.text for c in exported.find("Customer/BillTo")} == {  # type: ignore[union-attr]
        "Name": "Bob de Vries",
        "Company": "Tulp BV",
        "Phone": "+31 20 123 4567",
        "Email": "anna@example.nl",
    }
    assert {c.tag: c.text for c in exported.find("Customer/ShipTo")} == {  # type: ignore[union-attr]
        "Name": "Anna de Vries",
        "Company": "Tulp BV",
        "Address1": "Keizersgracht 1",
        "Address2": "2nd floor",
        "City": "Amsterdam",
        "State": "NH",
        "PostalCode": "1015 CJ",
        "Country": "NL",
        "Phone": "+31 20 123 4567",
    }
    [line] = exported.findall("Items/Item")
    assert [c.tag for c in line] == [
        "SKU",
        "Name",
        "ImageUrl",
        "Weight",
        "WeightUnits",
        "Quantity",
        "UnitPrice",
        "Location",
        "Options",
        "LineItemID",
    ]
    assert line.findtext("SKU") == "MUG-1"
    assert line.findtext("Name") == "Delft mug"
    assert line.findtext("WeightUnits") == "Grams"
    assert line.findtext("Quantity") == "2"
    assert line.findtext("UnitPrice") == "12.50"
    assert line.findtext("Location") == "Amsterdam"
    assert line.findtext("Options/Option/Name") == "Engraving" and line.findtext("Options/Option/Value") == "Anna"
    assert line.findtext("LineItemID") == str(order["line_items"][0]["id"])


def test_text_that_looks_like_xml_or_ends_a_cdata_section_comes_back_as_typed(
    ss: ShipStationClient, shop: Shop, mug: int
) -> None:
    paid_order(shop, [{"variant_id": mug, "quantity": 1}], note="a ]]> b <c> & d")
    [exported] = ss.orders().findall("Order")
    assert exported.findtext("CustomerNotes") == "a ]]> b <c> & d"


def test_only_orders_changed_in_the_range_in_the_shops_time_zone(
    ss: ShipStationClient, shop: Shop, mug: int, clock: Clock
) -> None:
    paid_order(shop, [{"variant_id": mug, "quantity": 1}])  # 09:30 UTC = 10:30 in Amsterdam
    clock.advance(days=2)
    paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    assert list(orders_in(ss.orders("11/02/2026 10:30", "11/02/2026 10:30"))) == ["1001"]  # the end's whole minute
    assert list(orders_in(ss.orders("11/02/2026 09:00", "11/02/2026 10:29"))) == []  # 09:30 read as UTC: not it
    assert list(orders_in(ss.orders("11/04/2026 00:00", "11/04/2026 23:59"))) == ["1002"]
    assert list(orders_in(ss.orders("11/01/2026 00:00", "11/30/2026 23:59"))) == ["1001", "1002"]


def test_pages_of_the_export(ss: ShipStationClient, shop: Shop, mug: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shipstation, "PAGE_SIZE", 2)
    for _ in range(5):
        paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    pages = [ss.orders(page=n) for n in (1, 2, 3, 4)]
    assert [p.get("pages") for p in pages] == ["3", "3", "3", "3"]
    assert [list(orders_in(p)) for p in pages] == [["1001", "1002"], ["1003", "1004"], ["1005"], []]


def test_statuses_and_only_what_is_left_to_ship(
    ss: ShipStationClient, api: Api, shop: Shop, mug: int, teapot: int, amsterdam: int
) -> None:
    unpaid = shop.order([{"variant_id": mug, "quantity": 1}])
    partly = paid_order(shop, [{"variant_id": mug, "quantity": 3}, {"variant_id": teapot, "quantity": 2}])
    held = paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    scheduled = paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    shipped = paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    cancelled = shop.order([{"variant_id": mug, "quantity": 1}])
    paid_order(shop, [{"variant_id": mug, "quantity": 1}], test=True)  # test orders are never exported
    # Of `partly`: one mug shipped, one mug taken off by a refund; both teapots still to ship.
    fo = shop.fulfillment_orders(partly["id"])[0]
    mug_line = next(li for li in fo["line_items"] if li["line_item_id"] == partly["line_items"][0]["id"])
    api.ok(
        api.post(
            "/fulfillments.json",
            {
                "fulfillment": {
                    "line_items_by_fulfillment_order": [
                        {
                            "fulfillment_order_id": fo["id"],
                            "fulfillment_order_line_items": [{"id": mug_line["id"], "quantity": 1}],
                        }
                    ]
                }
            },
        )
    )
    refund = {
        "refund_line_items": [
            {
                "line_item_id": partly["line_items"][0]["id"],
                "quantity": 1,
                "restock_type": "cancel",
                "location_id": amsterdam,
            }
        ]
    }
    api.ok(api.post(f"/orders/{partly['id']}/refunds.json", {"refund": refund}))
    held_fo = shop.fulfillment_orders(held["id"])[0]
    api.ok(api.post(f"/fulfillment_orders/{held_fo['id']}/hold.json", {"fulfillment_hold": {"reason": "other"}}))
    later = {"fulfillment_order": {"new_fulfill_at": "2026-12-01T09:00:00Z"}}
    api.ok(api.post(f"/fulfillment_orders/{shop.fulfillment_orders(scheduled['id'])[0]['id']}/reschedule.json", later))
    shop.fulfil(shipped["id"])
    api.ok(api.post(f"/orders/{cancelled['id']}/cancel.json", {}))

    exported = orders_in(ss.orders())
    number = {o["id"]: o["name"].lstrip("#") for o in (unpaid, partly, held, scheduled, shipped, cancelled)}
    assert {n: o.findtext("OrderStatus") for n, o in exported.items()} == {
        number[unpaid["id"]]: "unpaid",
        number[partly["id"]]: "paid",
        number[held["id"]]: "on_hold",
        number[scheduled["id"]]: "on_hold",  # not to be shipped before its date
        number[shipped["id"]]: "shipped",
        number[cancelled["id"]]: "cancelled",
    }
    assert items_of(exported[number[partly["id"]]]) == {"MUG-1": 1, "TEA-1": 2}


# ---- shipnotify ---------------------------------------------------------------------------------
def test_shipnotify_records_the_shipment_with_carrier_service_and_tracking(
    ss: ShipStationClient, api: Api, shop: Shop, mug: int
) -> None:
    order = paid_order(shop, [{"variant_id": mug, "quantity": 2}], shipping_address=ADDRESS)
    response = ss.shipnotify("1001", ship_notice("1001"))
    assert response.status_code == 200, response.text
    [made] = fulfillments(api, order["id"])
    assert made["tracking_company"] == "USPS"
    assert made["tracking_number"] == "1Z909084330298430820"
    assert made["line_items"][0]["quantity"] == 2
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"
    events = api.ok(api.get(f"/orders/{order['id']}/events.json"))["events"]
    assert any("Priority Mail" in (e.get("message") or "") for e in events)
    # Shipped in full: the next export tells ShipStation so.
    assert orders_in(ss.orders())["1001"].findtext("OrderStatus") == "shipped"


def test_the_customer_is_told_only_when_the_notice_says_so(
    ss: ShipStationClient, shop: Shop, mug: int, mailing: Orderdeck, inbox: Inbox
) -> None:
    paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    assert ss.shipnotify("1001", ship_notice("1001", notify="false")).status_code == 200
    assert (
        ss.shipnotify("1002", ship_notice("1002", tracking="1Z2", notify="true"), tracking_number="1Z2").status_code
        == 200
    )
    asyncio.run(Worker(mailing, run_jobs=False).drain())
    [mail] = inbox.messages
    assert mail["X-Orderdeck-Template"] == "shipping_confirmation" and "#1002" in mail["Subject"]
    assert "1Z2" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_the_same_notice_twice_ships_once(ss: ShipStationClient, api: Api, shop: Shop, mug: int) -> None:
    order = paid_order(shop, [{"variant_id": mug, "quantity": 3}])
    notice = ship_notice("1001", items=item("MUG-1", 1))
    assert ss.shipnotify("1001", notice).status_code == 200
    again = ss.shipnotify("1001", notice)
    assert again.status_code == 200 and "already shipped" in again.text
    assert [f["line_items"][0]["quantity"] for f in fulfillments(api, order["id"])] == [1]
    # Another parcel (another tracking number) is another shipment.
    other = ss.shipnotify("1001", ship_notice("1001", tracking="9400", items=item("MUG-1", 2)), tracking_number="9400")
    assert other.status_code == 200
    assert shop.get(order["id"])["fulfillment_status"] == "fulfilled"


def test_shipnotify_ships_the_listed_items_found_by_line_item_id_sku_or_order_id(
    ss: ShipStationClient, api: Api, shop: Shop, mug: int, teapot: int
) -> None:
    order = paid_order(shop, [{"variant_id": mug, "quantity": 2}, {"variant_id": teapot, "quantity": 1}])
    teapot_line = order["line_items"][1]["id"]
    body = ship_notice("", order_id=str(order["id"]), items=item("", 1, teapot_line) + item("MUG-1", 1))
    assert ss.shipnotify("", body).status_code == 200
    [made] = fulfillments(api, order["id"])
    assert sorted((li["sku"], li["quantity"]) for li in made["line_items"]) == [("MUG-1", 1), ("TEA-1", 1)]
    assert items_of(orders_in(ss.orders())["1001"]) == {"MUG-1": 1}
    # "#1001" is the same order as "1001".
    assert ss.shipnotify("#1001", ship_notice("#1001", tracking="T2")).status_code == 200


def test_nothing_left_to_ship_an_unknown_item_or_order_is_refused_with_a_message(
    ss: ShipStationClient, api: Api, shop: Shop, mug: int
) -> None:
    order = paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    unknown = ss.shipnotify("9999", ship_notice("9999"))
    assert unknown.status_code == 404 and "No order 9999" in unknown.text
    not_on_it = ss.shipnotify("1001", ship_notice("1001", items=item("NOPE", 1)))
    assert not_on_it.status_code == 422 and "NOPE is not on order #1001" in not_on_it.text
    assert fulfillments(api, order["id"]) == []
    shop.fulfil(order["id"])
    nothing = ss.shipnotify("1001", ship_notice("1001", tracking="NEW"), tracking_number="NEW")
    assert nothing.status_code == 422 and "nothing left to ship" in nothing.text


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<ShipNotice><OrderNumber>&lol3;</OrderNumber></ShipNotice>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE ShipNotice [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<ShipNotice><OrderNumber>1001</OrderNumber><Carrier>&secret;</Carrier></ShipNotice>"""


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("", "empty"),
        ("not xml at all", "not well-formed"),
        ("<ShipNotice><OrderNumber>1001</ShipNotice>", "not well-formed"),
        ("<Orders/>", "Expected a <ShipNotice>"),
        (BILLION_LAUGHS, "DTD or entities"),
        (EXTERNAL, "DTD or entities"),
    ],
)
def test_bad_xml_is_refused_and_nothing_ships(
    ss: ShipStationClient, api: Api, shop: Shop, mug: int, body: str, said: str
) -> None:
    order = paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    response = ss.shipnotify("1001", body)
    assert response.status_code == 400 and said in response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert fulfillments(api, order["id"]) == []


def test_bad_export_dates_and_actions_are_refused(ss: ShipStationClient) -> None:
    bad = ss.export("2026-11-01", "11/30/2026 23:59")
    assert bad.status_code == 400 and "start_date must be a date and time like" in bad.text
    assert ss.export("11/01/2026 00:00", "11/30/2026 23:59", page=0).status_code == 400
    huge = ss.client.get(
        "/shipstation",
        params={
            "action": "export",
            "start_date": "11/01/2026 00:00",
            "end_date": "11/30/2026 23:59",
            "page": "9" * 5000,
        },
        headers=ss.headers,
    )
    assert huge.status_code == 400
    assert ss.client.get("/shipstation?action=dance", headers=ss.headers).status_code == 400


# ---- who may call -------------------------------------------------------------------------------
def test_wrong_or_missing_credentials_are_refused(client: TestClient, connected: None, shop: Shop, mug: int) -> None:
    paid_order(shop, [{"variant_id": mug, "quantity": 1}])
    for caller in (
        ShipStationClient(client, password="wrong password!"),
        ShipStationClient(client, username="someone"),
    ):
        refused = caller.export("11/01/2026 00:00", "11/30/2026 23:59")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert "Order" not in refused.text
    missing = client.get("/shipstation?action=export&start_date=11/01/2026 00:00&end_date=11/30/2026 23:59")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Basic")
    garbled = client.get("/shipstation?action=export", headers={"Authorization": "Basic !!!"})
    assert garbled.status_code == 401


def test_guessing_passwords_is_stopped_after_ten_tries(client: TestClient, connected: None, clock: Clock) -> None:
    guesser = ShipStationClient(client, password="guess guess guess")
    assert [guesser.export("11/01/2026 00:00", "11/30/2026 23:59").status_code for _ in range(11)] == [401] * 10 + [429]
    stopped = ShipStationClient(client).export("11/01/2026 00:00", "11/30/2026 23:59")
    assert stopped.status_code == 429 and stopped.headers["retry-after"] == "900"  # the address, whatever it sends
    clock.advance(minutes=16)
    assert ShipStationClient(client).export("11/01/2026 00:00", "11/30/2026 23:59").status_code == 200


def test_the_endpoint_is_off_until_credentials_are_set_and_the_password_is_never_shown(
    client: TestClient, api: Api, shop: Shop
) -> None:
    assert ShipStationClient(client).export("11/01/2026 00:00", "11/30/2026 23:59").status_code == 404
    answer = api.ok(
        api.put(
            "/shop/settings.json", {"settings": {"shipstation_username": USERNAME, "shipstation_password": PASSWORD}}
        )
    )
    assert answer["settings"]["shipstation_password_set"] is True
    assert "shipstation_password_hash" not in answer["settings"] and PASSWORD not in str(answer)
    shown = api.ok(api.get("/shop.json"))["shop"]["settings"]
    assert shown["shipstation_username"] == USERNAME and shown["shipstation_password_set"] is True
    assert "argon2" not in str(shown)
    assert ShipStationClient(client).export("11/01/2026 00:00", "11/30/2026 23:59").status_code == 200
    # The username alone keeps the password; an empty username switches the endpoint off.
    api.ok(api.put("/shop/settings.json", {"settings": {"shipstation_username": "ss2"}}))
    assert ShipStationClient(client, username="ss2").export("11/01/2026 00:00", "11/30/2026 23:59").status_code == 200
    off = api.ok(api.put("/shop/settings.json", {"settings": {"shipstation_username": ""}}))
    assert off["settings"]["shipstation_password_set"] is False
    assert ShipStationClient(client, username="ss2").export("11/01/2026 00:00", "11/30/2026 23:59").status_code == 404


def test_a_username_needs_a_password_and_a_short_password_is_refused(api: Api) -> None:
    no_password = api.put("/shop/settings.json", {"settings": {"shipstation_username": USERNAME}})
    assert no_password.status_code == 422 and "shipstation_password" in no_password.json()["errors"]
    short = api.put(
        "/shop/settings.json", {"settings": {"shipstation_username": USERNAME, "shipstation_password": "short"}}
    )
    assert short.status_code == 422 and "shipstation_password" in short.json()["errors"]
    colon = api.put(
        "/shop/settings.json", {"settings": {"shipstation_username": "a:b", "shipstation_password": PASSWORD}}
    )
    assert colon.status_code == 422 and "shipstation_username" in colon.json()["errors"]
