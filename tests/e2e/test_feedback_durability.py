"""Feedback acknowledged with 200 is never lost: PostgreSQL and SQLite, and SIGKILL mid-burst."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from cds_hooks.app import create_app
from cds_hooks.cli.main import main
from cds_hooks.settings import Settings
from tests.cds_hooks.conftest import SIGN, hook_body, seed_bundle
from tests.support.service import start_service

pytestmark = pytest.mark.e2e


def test_feedback_store_on_postgresql(postgres_url: str) -> None:
    settings = Settings(
        auth_mode="off", public_base_url="http://testserver", database_url=postgres_url
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["database"] == "ok"
        card = client.post(
            f"/cds-services/{SIGN}", json=hook_body(claims_bundle=seed_bundle())
        ).json()["cards"][0]
        item = {
            "card": card["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
            "outcomeTimestamp": "2026-11-26T10:00:00Z",
        }
        for _ in range(2):  # idempotent on PostgreSQL too
            assert (
                client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [item]}).status_code
                == 200
            )
    out = io.StringIO()
    assert (
        main(["feedback", "report", "--format", "json", "--database-url", postgres_url], out) == 0
    )
    assert json.loads(out.getvalue())["rules"]["NCCI-PTP-MOD-MISSING"]["accepted"] == 1


def test_acknowledged_feedback_survives_sigkill(tmp_path: Path) -> None:
    service = start_service(tmp_path)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def burst() -> None:
        with httpx.Client(base_url=service.base_url, timeout=5) as client:
            while not stop.is_set():
                # feedback is kept only for cards the service issued: ask for one first
                try:
                    hook = client.post(
                        f"/cds-services/{SIGN}", json=hook_body(claims_bundle=seed_bundle())
                    )
                except httpx.HTTPError:
                    return
                if hook.status_code != 200:
                    return
                card = hook.json()["cards"][0]["uuid"]
                body = {
                    "feedback": [
                        {
                            "card": card,
                            "outcome": "overridden",
                            "outcomeTimestamp": "2026-11-26T10:00:00Z",
                        }
                    ]
                }
                try:
                    response = client.post(f"/cds-services/{SIGN}/feedback", json=body)
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(card)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 150:
        threading.Event().wait(0.02)
    service.stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join()

    restarted = start_service(tmp_path)
    try:
        assert httpx.get(f"{restarted.base_url}/readyz").status_code == 200
        stored = {
            row[0]
            for row in sqlite3.connect(tmp_path / "feedback.db").execute(
                "select card_id from feedback"
            )
        }
    finally:
        restarted.stop()
    missing = set(acknowledged) - stored
    assert len(acknowledged) >= 150 and missing == set()
