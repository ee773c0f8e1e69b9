"""The OpenAPI document itself: every operation says what it answers, its links lead somewhere,
and a method a path does not take is refused with an `Allow` that names those it does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderdeck.api.app import create_app
from orderdeck.api.openapi import OPERATIONS, OTHER_OPERATIONS, PREFIX
from orderdeck.bootstrap import build
from orderdeck.settings import Settings

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    deck = build(Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'doc.db'}"))
    yield create_app(deck)
    deck.db.dispose()


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    with TestClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_every_operation_declares_a_schema_for_its_success(document: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in operations(document):
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        declared = [
            media
            for response in successes.values()
            for media in response.get("content", {}).values()
            if media.get("schema") not in (None, {})
        ]
        if len(successes) != 1 or not declared:
            missing.append(f"{method.upper()} {path}")
    assert not missing, f"operations without a success schema (add them to api/openapi.py OPERATIONS): {missing}"


def test_every_operation_is_described_in_openapi_py(document: dict[str, Any]) -> None:
    """A new route gets its operationId, refusals and links there, not FastAPI's generated ones."""
    known = {(m, PREFIX + p) for m, p in OPERATIONS} | set(OTHER_OPERATIONS)
    missing = [f"{m.upper()} {p}" for m, p, _ in operations(document) if (m.upper(), p) not in known]
    assert not missing, f"add these to api/openapi.py OPERATIONS: {missing}"
    stale = sorted(f"{m} {p}" for m, p in known if m.lower() not in document["paths"].get(p, {}))
    assert not stale, f"OPERATIONS names operations the app no longer has: {stale}"


def test_admin_operations_declare_their_refusals(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if not path.startswith(PREFIX):
            continue
        codes = set(operation["responses"])
        assert {"401", "403", "404", "405", "503"} <= codes, f"{method} {path}: {sorted(codes)}"
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= codes, f"{method} {path}: {sorted(codes)}"
        for code in codes - {"200", "201", "202"}:
            assert operation["responses"][code]["$ref"].startswith("#/components/responses/")
    responses = document["components"]["responses"]
    assert "Allow" in responses["MethodNotAllowed"]["headers"]
    assert "Retry-After" in responses["ServiceUnavailable"]["headers"]


def test_links_lead_to_operations_with_those_parameters(document: dict[str, Any]) -> None:
    by_id = {op["operationId"]: (path, op) for _, path, op in operations(document)}
    assert len(by_id) == len(list(operations(document))), "operationIds must be unique"
    links = 0
    for method, path, operation in operations(document):
        for response in operation["responses"].values():
            for name, link in response.get("links", {}).items():
                links += 1
                assert link["operationId"] in by_id, f"{method} {path} link {name}"
                target_path, target = by_id[link["operationId"]]
                names = {p["name"] for p in target.get("parameters", [])}
                assert set(link["parameters"]) <= names, f"{method} {path} link {name}: {link['parameters']}"
                # Every path parameter of the target is given, so the link can be followed.
                assert set(re.findall(r"{(\w+)}", target_path)) <= set(link["parameters"]), name
    assert links >= 50
    created = by_id["createOrder"][1]["responses"]["201"]["links"]
    assert created["GetOrder"] == {
        "operationId": "getOrder",
        "parameters": {"api_version": "$request.path.api_version", "order_id": "$response.body#/order/id"},
    }


def test_a_method_the_path_does_not_take_gets_405_with_allow(app: Any) -> None:
    with TestClient(app) as client:
        response = client.request("PATCH", "/admin/api/2024-10/orders.json")
        assert response.status_code == 405
        assert response.json() == {"errors": "Method Not Allowed; see /docs for what this path takes"}
        # GET and POST are two routes; Starlette's own Allow named only the first.
        assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "POST"}
        one = client.request("DELETE", "/admin/api/2024-10/orders/1/close.json")
        assert one.status_code == 405
        assert one.headers["Allow"] == "POST"


def test_the_committed_document_is_the_one_served(document: dict[str, Any]) -> None:
    """docs/openapi.json is what readers and client generators use without running Orderdeck: it
    must be the served document (run scripts/export-openapi after changing a route or model)."""
    import json
    from pathlib import Path

    committed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    assert committed == document, "docs/openapi.json is stale: run scripts/export-openapi"
