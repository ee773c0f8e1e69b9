"""An HTTP server the tests run on 127.0.0.1 in a thread of its own, playing the other side of
Orderdeck's calls: test_webhooks.Receiver (a webhook receiver) and service_steps.Service (a
fulfillment service's callback endpoints) each say how it answers and share how it starts and
stops."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar


@dataclass
class LocalServer:
    """`port` 0 takes a free port, noted in `port` once listening; `queue_size` is the listen
    backlog (a receiver the worker sends a batch to side by side wants more than the default)."""

    port: int = 0
    server: ThreadingHTTPServer | None = None
    queue_size: ClassVar[int] = 5

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        class Server(ThreadingHTTPServer):
            request_queue_size = self.queue_size

        self.server = Server(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
