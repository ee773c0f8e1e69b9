"""The Admin API against its own OpenAPI document, with schemathesis.

Orderdeck is served on SQLite with a demo shop (locations, products with stock, orders in every
status) and a token holding every scope. Schemathesis' command line reads the served
/openapi.json and runs every operation through the schema's examples, fuzzing (valid and
invalid requests) and the stateful phase, which follows the document's OpenAPI links
(createOrder → getOrder, cancelOrder, …); ORDERDECK_FUZZ_PHASES adds the coverage phase. Every
answer must be no server error (no 5xx), have a status the operation lists, and match the schema
the document declares for it. A failure prints schemathesis' report: each failing request with a
curl command to reproduce it; the server's traceback of a 5xx is in the captured log.

The run is bounded by examples per operation (ORDERDECK_FUZZ_EXAMPLES, 10), not by time, and is
deterministic (schemathesis' deterministic mode): the same code gets the same requests anywhere.
About 1,400 requests; 3 minutes on a busy 2-core machine.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console

from orderdeck.api.app import create_app
from orderdeck.bootstrap import build
from orderdeck.demo import load_demo
from orderdeck.settings import Settings
from orderdeck.store.access import SCOPES, parse_scopes
from orderdeck.store.migrate import migrate

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
# The coverage phase (boundary and invalid values of every parameter, about a hundred requests an
# operation whatever --max-examples says) takes ten times as long as the others together; it runs
# with ORDERDECK_FUZZ_PHASES=examples,coverage,fuzzing,stateful.
PHASES = os.environ.get("ORDERDECK_FUZZ_PHASES", "examples,fuzzing,stateful")
MAX_EXAMPLES = int(os.environ.get("ORDERDECK_FUZZ_EXAMPLES", "10"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(tmp_path: Path, orders: int = 30) -> Iterator[tuple[str, str]]:
    """Orderdeck on SQLite with a demo shop, served by uvicorn on a free port: (base URL, token)."""
    deck = build(Settings(database_url=f"sqlite:///{tmp_path / 'fuzz.db'}", public_url="http://shop.test"))
    migrate(deck.db)
    load_demo(deck, count=orders, seed=3, workers=1, console=Console(file=io.StringIO()))
    with deck.unit_of_work() as uow:
        _, token = uow.tokens.create("schemathesis", parse_scopes(list(SCOPES)), uow.now)
        uow.commit()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(deck), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield base, token
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        deck.db.dispose()


def schemathesis_run(base: str, token: str, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--no-color",
        "--workers",
        "1",
        "--header",
        f"X-Shopify-Access-Token:{token}",
        "--report",
        "ndjson",
        "--report-dir",
        str(report),
        *extra,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=900, cwd=report.parent, env={**os.environ, "NO_COLOR": "1"}
    )


def test_every_operation_conforms_to_the_document(tmp_path: Path) -> None:
    with served(tmp_path) as (base, token):
        assert httpx.get(f"{base}/healthz", timeout=120).status_code == 200
        done = schemathesis_run(base, token, tmp_path / "report")
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
