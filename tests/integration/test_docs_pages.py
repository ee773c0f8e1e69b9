"""/docs and /redoc work offline: every script, style and icon they load comes from this server
(an installed package), none from a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # no database code here


def _assets(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""(?:url|Url)\s*:\s*["']([^"']+\.(?:js|css|png))["']""", html
    )


@pytest.mark.parametrize(
    ("page", "needs"),
    [("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}), ("/redoc", {"redoc.standalone.js"})],
)
def test_the_docs_pages_load_only_local_assets(client: TestClient, page: str, needs: set[str]) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    assert "/openapi.json" in answer.text
    urls = _assets(answer.text)
    assert {u.rsplit("/", 1)[-1] for u in urls} >= needs, urls
    assert not re.search(r"https?://", answer.text.split("<body", 1)[0] + "".join(urls)), urls
    for url in urls:
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]
            assert len(asset.content) > 100_000  # the real bundle, not a placeholder
        if url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css")


def test_the_docs_name_the_api(client: TestClient) -> None:
    assert "Orderdeck Admin API" in client.get("/docs").text
    assert client.get("/openapi.json").json()["info"]["title"] == "Orderdeck Admin API"
