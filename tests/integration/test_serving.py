"""Slow and excess clients against a real uvicorn server with Orderdeck's protocol: a request
head or body that trickles in is cut off with 408 once its deadline passes, an idle connection
is closed, connections beyond the cap are closed as they arrive, and `orderdeck serve` hands
its limits to uvicorn. The deadlines are short here; the tests count bytes sent, not seconds."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from orderdeck.serving import DeadlineH11Protocol, ServeLimits

FAST = ServeLimits(header_timeout=0.5, body_timeout=0.5, timeout_keep_alive=60, max_connections=50)


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with how many body bytes it read."""
    if scope["type"] != "http":
        return
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Running:
    def __init__(self, limits: ServeLimits) -> None:
        DeadlineH11Protocol.limits = limits
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        options = limits.uvicorn_options()
        config = uvicorn.Config(echo_app, log_level="warning", lifespan="off", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                break
            time.sleep(0.01)
        assert self.server.started

    def connect(self) -> socket.socket:
        client = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return client

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
        DeadlineH11Protocol.limits = None


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[Running] = []

    def start(limits: ServeLimits = FAST) -> Running:
        started.append(Running(limits))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def answered(client: socket.socket) -> bytes | None:
    """What the server sent so far, b"" when it closed, None when nothing yet."""
    readable, _, _ = select.select([client], [], [], 0)
    if not readable:
        return None
    try:
        return client.recv(65536)
    except ConnectionResetError:
        return b""


def trickle(client: socket.socket, pieces: list[bytes], pause: float = 0.05) -> tuple[int, bytes | None]:
    """Send piece after piece, until the server answers or closes; (pieces sent, its answer)."""
    for sent, piece in enumerate(pieces):
        got = answered(client)
        if got is not None:
            return sent, got
        try:
            client.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return sent, b""
        time.sleep(pause)
    return len(pieces), answered(client)


def response(client: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next((line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), b"0")
    )
    while len(body) < length:
        body += client.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_request_sent_promptly_is_answered_and_the_connection_kept(serve: Any) -> None:
    running = serve()
    with running.connect() as client:
        for _ in range(2):
            client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            answer = response(client)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n5")


def test_headers_that_trickle_in_are_cut_off_with_408(serve: Any) -> None:
    running = serve()
    with running.connect() as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        sent, got = trickle(client, [b"X-Slow: %d\r\n" % i for i in range(400)])
    assert sent < 400, "the server waited for every one of 400 trickled header lines"
    assert got is not None and got.startswith(b"HTTP/1.1 408 Request Timeout")
    assert b"headers did not arrive in time" in got


def test_a_body_that_trickles_in_is_cut_off_with_408(serve: Any) -> None:
    running = serve()
    with running.connect() as client:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n")
        sent, got = trickle(client, [b"x"] * 400)
    assert sent < 400
    assert got is not None and got.startswith(b"HTTP/1.1 408") and b"body did not arrive in time" in got


def test_the_second_request_on_a_kept_connection_has_its_own_deadline(serve: Any) -> None:
    running = serve()
    with running.connect() as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response(client).startswith(b"HTTP/1.1 200")
        client.sendall(b"GET / HTTP/1.1\r\n")
        sent, got = trickle(client, [b"X-Slow: %d\r\n" % i for i in range(400)])
    assert sent < 400 and got is not None and got.startswith(b"HTTP/1.1 408")


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(serve: Any) -> None:
    running = serve()
    with running.connect() as client:
        assert client.recv(1024) == b""  # closed at the header deadline (the socket's timeout is 10 s)


def test_a_request_within_its_deadlines_is_served_however_it_is_split(serve: Any) -> None:
    running = serve(replace(FAST, header_timeout=30, body_timeout=30))
    with running.connect() as client:
        request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
        pieces = [request[i : i + 7] for i in range(0, len(request), 7)]
        sent, got = trickle(client, pieces, pause=0.01)
        assert sent == len(pieces)
        assert (got or response(client)).endswith(b"\r\n\r\n10")


def test_connections_beyond_the_cap_are_closed_as_they_arrive(serve: Any) -> None:
    running = serve(replace(FAST, header_timeout=30, max_connections=2))
    first, second = running.connect(), running.connect()
    first.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # both accepted and served
    assert response(first).startswith(b"HTTP/1.1 200")
    with running.connect() as third:
        assert third.recv(1024) == b""
    second.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response(second).startswith(b"HTTP/1.1 200")
    first.close()
    second.close()


def test_limits_come_from_the_environment_and_refuse_nonsense() -> None:
    limits = ServeLimits.from_env({"ORDERDECK_HEADER_TIMEOUT": "2.5", "ORDERDECK_LIMIT_CONCURRENCY": "64"})
    assert limits.header_timeout == 2.5 and limits.limit_concurrency == 64
    assert limits.body_timeout == ServeLimits.body_timeout
    assert ServeLimits.from_env(limits.to_env()) == limits
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ValueError, match="ORDERDECK_BODY_TIMEOUT"):
            ServeLimits.from_env({"ORDERDECK_BODY_TIMEOUT": bad})


def test_serve_gives_uvicorn_its_limits_and_raises_the_open_file_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resource

    from orderdeck import cli
    from orderdeck.cli import app

    monkeypatch.setenv("ORDERDECK_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    for name in ServeLimits.ENV.values():  # serve sets them all: monkeypatch puts them back after
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("ORDERDECK_BODY_TIMEOUT", "12")
    monkeypatch.setenv("ORDERDECK_PUBLIC_URL", "http://shop.test")
    runner = CliRunner()
    monkeypatch.setattr(cli, "_require_current_schema", lambda deck: None)  # (tested in test_cli.py)
    monkeypatch.setattr(cli, "_require_shop", lambda deck: None)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: seen.update(options))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard, 512), hard))
        result = runner.invoke(app, ["serve", "--header-timeout", "3", "--limit-concurrency", "200"])
        raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert result.exit_code == 0, result.output
    assert seen["http"] is DeadlineH11Protocol
    assert seen["limit_concurrency"] == 200 and seen["timeout_keep_alive"] == ServeLimits.timeout_keep_alive
    assert seen["backlog"] == ServeLimits.backlog and seen["h11_max_incomplete_event_size"] == 16 * 1024
    assert os.environ["ORDERDECK_HEADER_TIMEOUT"] == "3.0" and os.environ["ORDERDECK_BODY_TIMEOUT"] == "12.0"
    assert raised == hard or hard == resource.RLIM_INFINITY


def test_an_idle_kept_alive_connection_is_closed_by_the_keep_alive_timeout(serve: Any) -> None:
    running = serve(replace(FAST, header_timeout=30, timeout_keep_alive=1))
    with running.connect() as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response(client).startswith(b"HTTP/1.1 200")
        assert client.recv(1024) == b""  # no 408: it asked for nothing more


def test_a_server_process_keeps_what_it_built_to_start_out_of_the_full_garbage_collections(deck: Any) -> None:
    # A full collection walked every object the process had built to start (about 230,000) at a
    # moment set by allocation counts: one list request of a hundred waited 150-570 ms for it.
    import gc

    from orderdeck.bootstrap import create_api

    gc.unfreeze()
    try:
        app = create_api(deck.settings)
        assert gc.get_freeze_count() > 10_000  # the modules, routes and application, frozen
        app.state.orderdeck.db.dispose()
    finally:
        gc.unfreeze()  # the rest of the test session collects as before
