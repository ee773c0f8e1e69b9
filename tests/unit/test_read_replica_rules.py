"""The read replica's rules that need no server: where a replica is refused, and which WAL
positions a client may carry (api/replica.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderdeck.api.replica import lsn_value
from orderdeck.store.database import connect


def test_sqlite_has_no_read_replica(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ORDERDECK_READ_DATABASE_URL"):
        connect(f"sqlite:///{tmp_path / 'x.db'}", read_url="postgresql://postgres@127.0.0.1/other")


def test_wal_positions_compare_as_numbers() -> None:
    assert lsn_value("0/0") == 0
    assert lsn_value("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert lsn_value("1/0") > lsn_value("0/FFFFFFFF")  # type: ignore[operator]


@pytest.mark.parametrize("text", ["", "16", "0/", "/0", "G/0", "123456789/0", "1/2; DROP TABLE orders", " 1/2"])
def test_anything_else_is_no_position(text: str) -> None:
    assert lsn_value(text) is None
