"""Two workers on a fresh SQLite file both create the schema; the loser of each CREATE race must
look again, not stop the server (#21 item 7: 1 start in 5 failed with the image defaults)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.support.service import start_service

pytestmark = pytest.mark.e2e

STARTS = 5


@pytest.mark.parametrize("start", range(STARTS))
def test_two_workers_on_a_fresh_database_always_come_up(tmp_path: Path, start: int) -> None:
    # Generous: every worker builds the FHIR models and warms the engine on a shared machine.
    service = start_service(tmp_path, workers=2, start_timeout_s=180)
    try:
        for _ in range(4):  # requests spread over both workers: each must be serving
            assert httpx.get(f"{service.base_url}/readyz", timeout=10).status_code == 200
        assert "already exists" not in service.log()
    finally:
        service.stop()
    with sqlite3.connect(tmp_path / "feedback.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
    assert {"issued_cards", "feedback", "smart_sessions"} <= tables
