"""A local HTTP server that answers like carriers' tracking APIs, for karrio's real code to call
(the shapes in AFTER-THE-SALE §5.3 and what karrio's parsers read):

- DHL Unified Shipment Tracking (karrio's `dhl_universal`): `GET /track/shipments?trackingNumber=`
  → `{"shipments": [{id, service, status {statusCode, status, description, timestamp, location},
  estimatedTimeOfDelivery, events [...]}]}`; an unknown number is a 404 problem body.
- GLS Track and Trace (karrio's `gls`): `POST /oauth2/v2/token` (client credentials), then
  `GET /track-and-trace-v1/tracking/simple/trackids/{n1,n2,…}` → `{"parcels": [{requested, unitno,
  status, statusDateTime, events [...]}]}`; an unknown number is a parcel with `errorCode`.

Start it from a test, the benchmark or another helper's loop:

    server = CarrierServer.start()          # a free port on 127.0.0.1
    settings = Settings(..., carrier_api_url=server.url)  # or ORDERDECK_CARRIER_API_URL
    server.scan("00340434161234567890", "in_transit", at=datetime(...), city="Hamburg")
    server.fail("JJD000390007", 500)        # or 429 (with Retry-After), or None to answer again
    server.answer_every_number("in_transit")  # any other number: one scan (benchmarks, demos)
    ...
    server.stop()

Statuses are the server's own words, told to each carrier in its codes: pre_transit, in_transit,
out_for_delivery, delivered, attempted, cancelled, ready_for_pickup.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DHL_CODES = {
    "pre_transit": "pre-transit",
    "in_transit": "transit",
    "out_for_delivery": "transit",  # DHL's unified API has no such code: its description says it
    "delivered": "delivered",
    "attempted": "failure",
    "cancelled": "failure",
    "ready_for_pickup": "transit",
}
GLS_CODES = {
    "pre_transit": "PREADVICE",
    "in_transit": "INTRANSIT",
    "out_for_delivery": "INDELIVERY",
    "delivered": "DELIVERED",
    "attempted": "NOTDELIVERED",
    "cancelled": "CANCELED",
    "ready_for_pickup": "DELIVEREDPS",
}


@dataclass
class Scan:
    status: str
    at: datetime
    description: str
    city: str | None = None


@dataclass
class Parcel:
    scans: list[Scan] = field(default_factory=list)
    estimated: datetime | None = None


class CarrierServer:
    """The fake carriers. Thread-safe: tests change parcels while karrio's threads call."""

    def __init__(self) -> None:
        self.parcels: dict[str, Parcel] = {}
        self.every_number: Parcel | None = None  # set: what any number not in `parcels` is answered with
        self.failing: dict[str, int] = {}  # number → HTTP status to answer instead
        self.stalling: dict[str, float] = {}  # number → seconds the answer about it is held back
        self.retry_after = 120
        self.calls: list[str] = []  # each request's path and query, in order (count_calls=False: none)
        self.count_calls = True
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, host: str = "127.0.0.1", port: int = 0) -> CarrierServer:
        server = cls()
        handler = type("Handler", (_Handler,), {"carriers": server})
        http = ThreadingHTTPServer((host, port), handler)
        http.daemon_threads = True
        http.request_queue_size = 256
        server._http = http
        server._thread = threading.Thread(target=http.serve_forever, name="carrier-server", daemon=True)
        server._thread.start()
        return server

    @property
    def url(self) -> str:
        assert self._http is not None
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    # What tests say about parcels.
    def scan(
        self,
        number: str,
        status: str,
        *,
        at: datetime | None = None,
        description: str | None = None,
        city: str | None = None,
        estimated: datetime | None = None,
    ) -> None:
        """The carrier records a new scan of the parcel (the parcel becomes known if it was not)."""
        if status not in GLS_CODES:
            raise ValueError(f"status must be one of {', '.join(GLS_CODES)}")
        with self._lock:
            parcel = self.parcels.setdefault(number, Parcel())
            when = at or (parcel.scans[-1].at + timedelta(hours=1) if parcel.scans else datetime.now(UTC))
            parcel.scans.append(Scan(status, when, description or status.replace("_", " ").capitalize(), city))
            if estimated is not None:
                parcel.estimated = estimated

    def answer_every_number(self, status: str | None, *, at: datetime | None = None) -> None:
        """Answer any number not scanned otherwise as having this one scan (None: unknown again);
        for benchmarks and demos with many parcels."""
        with self._lock:
            when = at or datetime.now(UTC)
            self.every_number = None if status is None else Parcel([Scan(status, when, status.capitalize())])

    def fail(self, number: str, status: int | None) -> None:
        """Answer calls about this number with an HTTP error (None: answer normally again)."""
        with self._lock:
            if status is None:
                self.failing.pop(number, None)
            else:
                self.failing[number] = status

    def stall(self, number: str, seconds: float | None) -> None:
        """Hold back answers about this number this long: a carrier that takes the call and goes
        quiet (None: answer at once again)."""
        with self._lock:
            if seconds is None:
                self.stalling.pop(number, None)
            else:
                self.stalling[number] = seconds

    def forget(self, number: str) -> None:
        with self._lock:
            self.parcels.pop(number, None)

    def calls_about(self, number: str) -> int:
        with self._lock:
            return sum(1 for call in self.calls if number in call)

    def _look(self, numbers: list[str], path: str) -> tuple[dict[str, Parcel | None], int | None]:
        with self._lock:
            if self.count_calls:
                self.calls.append(path)
            status = next((self.failing[n] for n in numbers if n in self.failing), None)
            found = {n: self.parcels.get(n, self.every_number) for n in numbers}
            held = max((self.stalling[n] for n in numbers if n in self.stalling), default=0.0)
        if held:
            time.sleep(held)
        return {n: (Parcel(list(p.scans), p.estimated) if p else None) for n, p in found.items()}, status


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class _Handler(BaseHTTPRequestHandler):
    carriers: CarrierServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the calls instead
        return

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _failure(self, status: int, problem: dict[str, Any]) -> None:
        if status == 429:
            self._answer(429, problem, {"Retry-After": str(self.carriers.retry_after)})
        else:
            self._answer(status, "Internal Server Error" if status >= 500 else problem)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if urlsplit(self.path).path == "/oauth2/v2/token":
            if not (self.headers.get("Authorization") or "").startswith("Basic "):
                self._answer(401, {"error": "invalid_client"})
                return
            self._answer(200, {"access_token": "local-token", "token_type": "Bearer", "expires_in": 14400})
            return
        self._answer(404, {"status": 404, "title": "Not Found"})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/track/shipments":
            self._dhl(parse_qs(parts.query).get("trackingNumber", [""])[0])
        elif parts.path.startswith("/track-and-trace-v1/tracking/simple/trackids/"):
            ids = unquote(parts.path.rsplit("/", 1)[1])
            self._gls([n for n in ids.split(",") if n])
        else:
            self._answer(404, {"status": 404, "title": "Not Found"})

    def _dhl(self, number: str) -> None:
        if not self.headers.get("DHL-API-Key"):
            self._answer(401, {"status": 401, "title": "Unauthorized", "detail": "DHL-API-Key missing"})
            return
        found, failing = self.carriers._look([number], self.path)
        instance = f"/track/shipments?trackingNumber={number}"
        if failing is not None:
            self._failure(failing, {"status": failing, "title": "Too Many Requests", "detail": "Rate limit exceeded"})
            return
        parcel = found[number]
        if parcel is None or not parcel.scans:
            self._answer(
                404,
                {
                    "status": 404,
                    "title": "No result found",
                    "detail": "No shipment with given tracking number found.",
                    "instance": instance,
                },
            )
            return
        events = [
            {
                "timestamp": _iso(scan.at),
                "statusCode": DHL_CODES[scan.status],
                "status": scan.description,
                "description": scan.description,
                **({"location": {"address": {"addressLocality": scan.city}}} if scan.city else {}),
            }
            for scan in reversed(parcel.scans)
        ]
        shipment = {
            "id": number,
            "service": "parcel-de",
            "status": events[0],
            "events": events,
            **({"estimatedTimeOfDelivery": _iso(parcel.estimated)} if parcel.estimated else {}),
        }
        self._answer(200, {"shipments": [shipment]})

    def _gls(self, numbers: list[str]) -> None:
        if self.headers.get("Authorization") != "Bearer local-token":
            self._answer(401, {"errors": [{"code": "401", "message": "Unauthorized"}]})
            return
        found, failing = self.carriers._look(numbers, self.path)
        if failing is not None:
            self._failure(failing, {"errors": [{"code": str(failing), "message": "Too many requests"}]})
            return
        parcels = []
        for number in numbers:
            parcel = found[number]
            if parcel is None or not parcel.scans:
                parcels.append({"requested": number, "errorCode": "NOT_FOUND", "errorMessage": "Parcel not found"})
                continue
            parcels.append(
                {
                    "requested": number,
                    "unitno": number,
                    "status": GLS_CODES[parcel.scans[-1].status],
                    "statusDateTime": _iso(parcel.scans[-1].at) + "+0000",
                    "events": [
                        {
                            "code": GLS_CODES[scan.status],
                            "city": scan.city,
                            "country": "DE",
                            "description": scan.description,
                            "eventDateTime": _iso(scan.at) + "+0000",
                        }
                        for scan in reversed(parcel.scans)
                    ],
                }
            )
        self._answer(200, {"parcels": parcels})
