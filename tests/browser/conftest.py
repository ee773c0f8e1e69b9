"""Browser tests: a real `orderdeck serve` on 127.0.0.1 driven by Debian's Chromium through
Playwright. Screenshots go to test-artifacts/screenshots/. With CI=true a missing Chromium
fails the run instead of skipping it (scripts/test installs it there)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orderdeck.bootstrap import build
from orderdeck.services.staff import add_staff
from orderdeck.settings import Settings

from ..conftest import IN_CI, make_token

OWNER_EMAIL = "owner@shop.test"
OWNER_PASSWORD = "correct horse battery"

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    """Chromium for this package's tests only: Playwright's sync API runs an event loop on this
    thread while it is open, and the rest of the suite calls asyncio.run() there."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"CI=true but {CHROMIUM} is missing; scripts/test installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Server:
    def __init__(self, url: str, api: str, token: str, database_url: str = "") -> None:
        self.url = url
        self.database_url = database_url  # the server's database, for running a Worker in the test
        self.api = api
        self.headers = {"X-Shopify-Access-Token": token}

    def sign_in(self, page: object, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD) -> None:
        """Sign a Playwright page in to the admin as a person would: the form, then the Orders page."""
        page.goto(self.url + "/admin/login")  # type: ignore[attr-defined]
        page.get_by_label("E-mail address").fill(email)  # type: ignore[attr-defined]
        page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
        page.wait_for_url("**/admin/orders**")  # type: ignore[attr-defined]

    def get(self, path: str) -> dict[str, object]:
        answer = httpx.get(self.api + path, headers=self.headers, timeout=10)
        assert answer.status_code < 300, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def post(self, path: str, body: object) -> dict[str, object]:
        answer = httpx.post(self.api + path, json=body, headers=self.headers, timeout=10)
        assert answer.status_code < 300, answer.text
        return answer.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("browser")
    database = folder / "orderdeck.db"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    deck = build(Settings(database_url=url))
    token = make_token(deck)
    with deck.unit_of_work() as uow:
        add_staff(uow, email=OWNER_EMAIL, password=OWNER_PASSWORD, name="Olivia Owner", owner=True)
        uow.commit()
    deck.db.dispose()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ORDERDECK_DATABASE_URL": url, "ORDERDECK_PUBLIC_URL": base}
    env["ORDERDECK_ALLOW_PRIVATE_ADDRESSES"] = "127.0.0.1"  # receivers the tests start listen there
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "orderdeck.cli", "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"the server exited; see {folder / 'server.log'}")
            time.sleep(0.1)
        yield Server(base, base + "/admin/api/2024-10", token, url)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def screenshot(page: object, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
