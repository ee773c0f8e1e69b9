"""Input no route can use, refused at the door with a 4xx before any route or database sees it.

Every route declares its own types; what is checked here is what no declaration can express
once for all and what the databases refuse outright, so that it answers 4xx instead of a 500
from deep inside a query:

- a number in an `/admin/...` path beyond a 64-bit id (`/orders/99999999999999999999.json`):
  no such record can exist, so 404, as Shopify answers for an unknown id;
- a query parameter holding NUL (PostgreSQL refuses `\\x00` in text), or an id parameter
  (`ids`, `since_id`, `*_id`, `*_ids`, a numeric `page_info`) beyond 64 bits: 400 naming it;
- a header holding NUL (`Idempotency-Key`, …): 400;
- a JSON body with NUL or a lone surrogate in a string, an integer beyond 64 bits, a number
  that is not finite (`1e999999`), `NaN`/`Infinity` (not JSON) or nesting deeper than
  `MAX_DEPTH`: 422 naming the field (400 for what is not JSON at all);
- a form (`application/x-www-form-urlencoded`: the admin, the sign-in, the status page) with NUL
  or bytes that are not UTF-8: 400.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import _location, error_response

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32  # no request body Orderdeck takes nests deeper than a dozen levels
_UNUSABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and halves of a surrogate pair on their own
_INTEGER = re.compile(r"-?\d+")


class Refusal(Exception):
    def __init__(self, status: int, errors: Any, title: str = "Not valid") -> None:
        super().__init__(str(errors))
        self.status = status
        self.errors = errors
        self.title = title


def _fits(text: str) -> bool:
    return INT64_MIN <= int(text) <= INT64_MAX


def _is_id_parameter(name: str) -> bool:
    return name in ("ids", "since_id") or name.endswith(("_id", "_ids"))


def check_path(path: str) -> None:
    """A 64-bit id is the most any record has: a longer number in the path names nothing."""
    if "\x00" in path:
        raise Refusal(404, "Not Found", "Not found")
    if not path.startswith("/admin"):
        return  # the customer's pages take tokens, not ids
    for segment in path.split("/"):
        stem = segment.split(".", 1)[0]
        if _INTEGER.fullmatch(stem) and not _fits(stem):
            raise Refusal(404, "Not Found", "Not found")


def check_query(query_string: bytes) -> None:
    if not query_string:
        return
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, errors="replace"):
        if "\x00" in name or "\x00" in value:
            raise Refusal(400, {_safe(name): ["must not contain NUL characters (\\u0000)"]})
        if name == "page_info":
            if any(not _fits(n) for n in _INTEGER.findall(value)):
                raise Refusal(400, {"page_info": "Invalid value."})
        elif _is_id_parameter(name):
            for part in value.split(","):
                part = part.strip()
                if _INTEGER.fullmatch(part) and not _fits(part):
                    raise Refusal(400, {name: [f"{part} is not an id: ids are whole numbers up to {INT64_MAX}"]})


def check_headers(headers: list[tuple[bytes, bytes]]) -> None:
    for name, value in headers:
        if b"\x00" in value:
            raise Refusal(400, {name.decode("latin-1"): ["must not contain NUL characters"]})


def check_json(body: bytes) -> None:
    """Refuse what the routes' models would let through to a crash. A body that is not JSON at
    all is left to FastAPI, which answers 400 naming the parse error."""

    def constant(name: str) -> Any:
        raise Refusal(
            400, {"base": [f"The body is not valid JSON: {name} is not a JSON number; send a number or a string"]}
        )

    try:
        data = json.loads(body, parse_constant=constant)
    except RecursionError:
        raise Refusal(400, {"base": [f"The body is nested too deeply; at most {MAX_DEPTH} levels"]}) from None
    except ValueError:
        return  # not JSON: FastAPI's own 400 says where
    problems: dict[str, list[str]] = {}
    _walk(data, (), problems)
    if problems:
        raise Refusal(422, problems)


def _walk(value: Any, loc: tuple[Any, ...], problems: dict[str, list[str]]) -> None:
    if len(problems) >= 10:
        return
    if len(loc) > MAX_DEPTH:
        problems.setdefault("base", []).append(f"The body is nested too deeply; at most {MAX_DEPTH} levels")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if _UNUSABLE.search(key):
                problems.setdefault(_location(("body", *loc, _safe(key))), []).append(
                    _text_problem(key) + " (in the name)"
                )
                continue
            _walk(item, (*loc, key), problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*loc, index), problems)
    elif isinstance(value, str):
        if _UNUSABLE.search(value):
            problems.setdefault(_location(("body", *loc)), []).append(_text_problem(value))
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            problems.setdefault(_location(("body", *loc)), []).append(f"is out of range: at most {INT64_MAX}")
    elif isinstance(value, float) and not math.isfinite(value):
        problems.setdefault(_location(("body", *loc)), []).append("must be a finite number")


def _text_problem(text: str) -> str:
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    return "is not valid Unicode: it holds half of a surrogate pair on its own"


def _safe(text: str) -> str:
    return _UNUSABLE.sub("\ufffd", text)


def check_form(body: bytes) -> None:
    try:
        text = body.decode("utf-8")
        fields = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Refusal(400, {"base": ["The form is not UTF-8 text"]}) from None
    for name, value in fields:
        if _UNUSABLE.search(name) or _UNUSABLE.search(value):
            raise Refusal(400, {_safe(name): ["must not contain NUL characters"]})


def _media_type(headers: list[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower()
    return b""


class InputGuard:
    """The checks above as plain ASGI middleware. A body is read whole (BodyLimit, outside this,
    has already bounded it) and handed on unchanged."""

    def __init__(self, app: ASGIApp, page: Callable[[Refusal], Response] | None = None) -> None:
        self.app = app
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        try:
            check_path(scope["path"])
            check_query(scope.get("query_string", b""))
            check_headers(headers)
            media = _media_type(headers)
            is_json = media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
            is_form = media == b"application/x-www-form-urlencoded"
            if scope["method"] in ("POST", "PUT", "PATCH", "DELETE") and (is_json or is_form):
                messages, body = await _read_body(receive)
                if is_json:
                    check_json(body)
                else:
                    check_form(body)
                receive = _replay(messages, receive)
        except Refusal as refusal:
            await self._answer(scope, refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope, refusal: Refusal) -> Response:
        if scope["path"].startswith("/admin/api/") or self.page is None:
            return error_response(refusal.status, refusal.errors)
        return self.page(refusal)


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return messages, b"".join(chunks)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def message_of(refusal: Refusal) -> str:
    """The refusal in words, for a page rather than JSON."""
    if isinstance(refusal.errors, dict):
        field, problems = next(iter(refusal.errors.items()))
        problem = problems[0] if isinstance(problems, list) else str(problems)
        return problem if field == "base" else f"{field.replace('_', ' ')} {problem}"
    return str(refusal.errors)
