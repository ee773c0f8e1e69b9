"""The admin's pages at scale: how long staff wait for the Orders page (each tab, filters,
search, a page deep in the list), an order page and the reports, on a loaded shop.

    .venv/bin/python -m bench.admin_pages --orders 1000000            # load a fresh SQLite shop first
    .venv/bin/python -m bench.admin_pages --database sqlite:////path/orderdeck.db   # a shop already loaded
    .venv/bin/python -m bench.admin_pages --quick                      # 2,000 orders, a few repeats

Each page is asked `--repeats` times by one signed-in browser-like client (full HTML pages, the
same requests Chromium makes for the document; static files are not counted). The figures are
written to docs/benchmarks.md between its admin markers with `--write`. Nothing here asserts on
speed: the figures are for people.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import httpx
from sqlalchemy import text

from orderdeck.bootstrap import build
from orderdeck.demo import ensure_demo_shop, load_demo
from orderdeck.services.staff import add_staff
from orderdeck.settings import Settings
from orderdeck.store.migrate import migrate

from . import machine
from .run import _timed, write_between_markers
from .server import start

ROOT = Path(__file__).resolve().parents[1]
EMAIL, PASSWORD = "bench@orderdeck.test", "benchmark password"
START, END = "<!-- bench:admin:start -->", "<!-- bench:admin:end -->"


def _prepare(url: str, orders: int | None) -> dict[str, str]:
    deck = build(Settings(database_url=url))
    migrate(deck.db)
    ensure_demo_shop(deck.db)  # migrate makes no shop
    if orders:
        load_demo(deck, count=orders, console=None, batch=5000)
    with deck.unit_of_work() as uow:
        if uow.staff.by_email(EMAIL) is None:
            add_staff(uow, email=EMAIL, password=PASSWORD, owner=True, name="Benchmark")
        sample = uow.conn.execute(
            text("SELECT id, email, name FROM orders WHERE email IS NOT NULL ORDER BY id DESC LIMIT 1")
        ).one()
        tracking = uow.conn.execute(
            text("SELECT term FROM order_search_terms WHERE kind = 'tracking' LIMIT 1")
        ).scalar_one_or_none()
        sku = uow.conn.execute(
            text("SELECT term FROM order_search_terms WHERE kind = 'sku' LIMIT 1")
        ).scalar_one_or_none()
        count = uow.conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
        # Last: with group commit a unit of work's connection goes back to the batch at commit.
        uow.commit()
    deck.db.dispose()
    return {
        "order_id": str(sample.id),
        "email": sample.email,
        "name": sample.name.lstrip("#"),
        "tracking": tracking or "none",
        "sku": sku or "none",
        "count": str(count),
    }


def _sign_in(client: httpx.Client) -> None:
    form = client.get("/admin/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    answer = client.post(
        "/admin/login", data={"email": EMAIL, "password": PASSWORD, "login_csrf": token.group(1), "next": ""}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in failed: {answer.status_code} {answer.text[:300]}")


def _deep_page(client: httpx.Client, pages: int) -> str:
    """Follow the Orders page's "Older" link `pages` times; the last page's address."""
    path = "/admin/orders?status=any"
    for _ in range(pages):
        found = re.search(r'href="([^"]+)"[^>]*rel="next"', client.get(path).text)
        if not found:
            break
        path = found.group(1).replace("&amp;", "&")
    return path


def measure(url: str, facts: dict[str, str], repeats: int, workdir: Path) -> list[tuple[str, float, float]]:
    pages = [
        ("Orders: All", "/admin/orders?status=any"),
        ("Orders: Open", "/admin/orders?status=open"),
        ("Orders: Unfulfilled", "/admin/orders?status=open&fulfillment_status=unshipped"),
        ("Orders: Unpaid", "/admin/orders?status=open&financial_status=unpaid"),
        ("Orders: Archived", "/admin/orders?status=closed"),
        (
            "filter: paid, partially fulfilled",
            "/admin/orders?status=any&financial_status=paid&fulfillment_status=partial",
        ),
        ("filter: tag", "/admin/orders?status=any&tag=vip"),
        ("filter: channel", "/admin/orders?status=any&source_name=pos"),
        ("search: e-mail", f"/admin/orders?status=any&q={facts['email']}"),
        ("search: order number", f"/admin/orders?status=any&q=%23{facts['name']}"),
        ("search: sku", f"/admin/orders?status=any&q={facts['sku']}"),
        ("search: tracking number", f"/admin/orders?status=any&q={facts['tracking']}"),
        ("an order page", f"/admin/orders/{facts['order_id']}"),
        ("Reports (last 30 days)", "/admin/reports"),
    ]
    server = start(url, workers=1, log=workdir / "server-admin.log")
    results = []
    try:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            _sign_in(client)
            for label, path in pages:
                p50, p99 = _timed(client, path, repeats)
                results.append((label, p50, p99))
                print(f"{label:40} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms", flush=True)
            deep = _deep_page(client, 20)
            p50, p99 = _timed(client, deep, repeats)
            results.append(("Orders: page 21 (Older, 20 times)", p50, p99))
    finally:
        server.stop()
    return results


def report(results: list[tuple[str, float, float]], facts: dict[str, str], repeats: int, info: dict[str, str]) -> str:
    lines = [
        f"Admin pages on SQLite with {int(facts['count']):,} orders, {repeats} requests each, one signed-in client "
        f"({info['cpu']}, {info['memory']}, Python {info['python']}, SQLite {info['sqlite']}):",
        "",
        "| page | p50 ms | p99 ms |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {p50:,.1f} | {p99:,.1f} |" for label, p50, p99 in results]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a loaded shop's database URL (nothing is loaded into it)")
    parser.add_argument("--orders", type=int, help="load this many demo orders into a fresh SQLite shop")
    parser.add_argument("--quick", action="store_true", help="2,000 orders, 5 requests a page")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="orderdeck-bench-admin-"))
    url = args.database or f"sqlite:///{workdir / 'orderdeck.db'}"
    orders = None if args.database else (2000 if args.quick else (args.orders or 1_000_000))
    repeats = 5 if args.quick else args.repeats
    facts = _prepare(url, orders)
    results = measure(url, facts, repeats, workdir)
    text_report = report(results, facts, repeats, machine.describe(None))
    print(text_report)
    if args.write:
        write_between_markers(ROOT / "docs" / "benchmarks.md", text_report, START, END)


if __name__ == "__main__":
    main()
