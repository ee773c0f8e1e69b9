"""What `orderdeck serve` does against slow and many clients: limits for uvicorn, a deadline for
reading each request, a cap on open connections, and the open-file limit.

uvicorn has no timeout for receiving a request: `timeout_keep_alive` covers only the idle time
between requests and is reset by every byte that arrives, so a client that sends its request
line and then one header byte every few seconds holds its connection (and a file descriptor)
for as long as it likes. About 20,000 such connections used up the process's descriptors and
the customer pages stopped answering. `DeadlineH11Protocol` is uvicorn's h11 protocol with two
deadlines: a request's head (request line and headers) must be complete `header_timeout`
seconds after the connection opened (or, on a kept-alive connection, after its first byte), and its body
`body_timeout` seconds after the head. A client that misses one gets `408 Request Timeout` and
the connection is closed (one that sent nothing is just closed); between requests
`timeout_keep_alive` closes an idle connection. Once a request has been read, nothing limits how long the answer takes.
A process also closes, at once, a new connection beyond `max_connections` open ones.

The limits come from the environment (ORDERDECK_HEADER_TIMEOUT …; `orderdeck serve` sets them
from its options), so every server process uvicorn starts reads the same ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from dataclasses import dataclass, fields
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("orderdeck.serving")

TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"


@dataclass(frozen=True)
class ServeLimits:
    header_timeout: float = 10.0  # seconds to receive a request's line and headers
    body_timeout: float = 30.0  # seconds to receive its body, once the headers are in
    timeout_keep_alive: int = 5  # seconds an idle kept-alive connection stays open
    limit_concurrency: int = 1000  # connections or requests at once before answering 503
    max_connections: int = 2000  # open connections at once; more are closed as they arrive
    backlog: int = 2048  # connections the kernel queues before the process accepts them
    max_header_bytes: int = 16 * 1024  # a request head larger than this is refused (400)

    ENV = {
        "header_timeout": "ORDERDECK_HEADER_TIMEOUT",
        "body_timeout": "ORDERDECK_BODY_TIMEOUT",
        "timeout_keep_alive": "ORDERDECK_KEEP_ALIVE_TIMEOUT",
        "limit_concurrency": "ORDERDECK_LIMIT_CONCURRENCY",
        "max_connections": "ORDERDECK_MAX_CONNECTIONS",
        "backlog": "ORDERDECK_BACKLOG",
        "max_header_bytes": "ORDERDECK_MAX_HEADER_BYTES",
    }

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeLimits:
        """The limits the environment sets (the defaults for the rest); a value that is not a
        positive number stops the start, naming the variable."""
        environ = dict(os.environ) if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(cls.ENV[field.name], "").strip()
            if not raw:
                continue
            kind = float if field.type in ("float", float) else int
            try:
                value = kind(raw)
            except ValueError:
                value = 0
            if value <= 0:
                wanted = "number" if kind is float else "whole number"
                raise ValueError(f"{cls.ENV[field.name]}={raw!r}: give a positive {wanted}")
            values[field.name] = value
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        return {self.ENV[f.name]: str(getattr(self, f.name)) for f in fields(self)}

    def uvicorn_options(self) -> dict[str, Any]:
        return {
            "http": DeadlineH11Protocol,
            "timeout_keep_alive": self.timeout_keep_alive,
            "limit_concurrency": self.limit_concurrency,
            "backlog": self.backlog,
            "h11_max_incomplete_event_size": self.max_header_bytes,
        }


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for reading each request (see the module's words)."""

    limits: ServeLimits | None = None  # read from the environment on the first connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if DeadlineH11Protocol.limits is None:
            DeadlineH11Protocol.limits = ServeLimits.from_env()
        self._limits = DeadlineH11Protocol.limits
        self._deadline: asyncio.TimerHandle | None = None
        self._reading: str | None = None  # "head", "body" or None (nothing being read)
        self._served = False  # an answer has been sent on this connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            log.warning("%d connections open: closing a new one", len(self.connections) - 1)
            self.transport.close()
            return
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        self._served = True
        super().on_response_complete()
        self._follow()

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _follow(self) -> None:
        """Start the deadline of what the client is to send now, when that changed."""
        if self.transport.is_closing():
            self._stop()
            return
        state = self.conn.their_state
        reading = "head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        if reading == "head" and self._served and not self.conn.trailing_data[0]:
            # Between requests on a kept-alive connection the keep-alive timeout closes an idle
            # one; the next request's head has its deadline from its first byte on.
            reading = None
        if reading == self._reading:
            return  # still the same part: its deadline runs on, however many bytes trickle in
        self._stop()
        self._reading = reading
        if reading is not None:
            seconds = self._limits.header_timeout if reading == "head" else self._limits.body_timeout
            self._deadline = self.loop.call_later(seconds, self._too_slow, reading)

    def _too_slow(self, reading: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if reading == "head" and not self.conn.trailing_data[0]:
            self.transport.close()  # nothing of a request yet (an idle or pre-opened connection)
            return
        started = self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete
        if not started:
            message = f"The request's {'headers' if reading == 'head' else 'body'} did not arrive in time.\n".encode()
            self.transport.write(TIMED_OUT + b"content-length: %d\r\n\r\n" % len(message) + message)
        self.transport.close()


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit (each connection is one);
    returns (soft, hard) as they are now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:  # e.g. a hard limit the kernel caps lower
            log.warning("could not raise the open-file limit from %s to %s: %s", soft, target, exc)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard
