"""What machine the figures were measured on."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess

import psutil


def describe(postgres_url: str | None) -> dict[str, str]:
    info = {
        "cpu": f"{os.cpu_count()} cores ({platform.processor() or platform.machine()})",
        "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
    }
    if postgres_url:
        try:
            out = subprocess.run(
                ["psql", postgres_url.replace("+psycopg", ""), "-Atc", "show server_version"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            info["postgresql"] = out.stdout.strip() or "unknown"
        except (OSError, subprocess.TimeoutExpired):
            info["postgresql"] = "unknown"
    return info
