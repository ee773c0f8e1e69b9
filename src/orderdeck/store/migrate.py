"""Bringing a database to the current schema with Alembic, and the shop row every database has."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select

from .database import Database
from .shop import ShopSettings
from .tables import shop

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(
    db: Database,
    *,
    shop_name: str = "Orderdeck demo shop",
    currency: str = "EUR",
    timezone: str = "Europe/Amsterdam",
    locale: str = "en",
) -> None:
    """Upgrade to the newest schema (safe to run again) and create the shop if there is none."""
    with db.writer.connect() as conn:
        config = alembic_config(db.url)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()
    with db.writer.begin() as conn:
        if conn.execute(select(shop.c.id)).first() is None:
            now = datetime.now(UTC)
            conn.execute(
                insert(shop).values(
                    id=1,
                    name=shop_name,
                    domain="orderdeck.local",
                    email=None,
                    currency=currency,
                    timezone=timezone,
                    primary_locale=locale,
                    settings=orjson.dumps(ShopSettings().__dict__).decode(),
                    next_order_number=1001,
                    created_at=now,
                    updated_at=now,
                )
            )
