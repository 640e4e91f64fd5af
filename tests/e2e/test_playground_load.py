"""The public playground hammered at its caps never starves the hooks or the liveness probe, and
the process still stops on SIGTERM (issue #21 item 1: two posts once froze a served process)."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tests.cds_hooks.conftest import SIGN, hook_body, seed_bundle
from tests.cds_hooks.web.test_playground import heaviest_allowed
from tests.support.service import start_service

pytestmark = pytest.mark.e2e

HAMMERS = 6  # concurrent posters, against 2 pool slots
PATIENT_S = 15.0  # generous: well past the 2 s liveness timeout the old freeze broke


def test_hooks_and_healthz_answer_while_the_playground_is_hammered(tmp_path: Path) -> None:
    service = start_service(tmp_path, env={"TRACTION_PLAYGROUND": "true"})
    heavy = httpx.Request("POST", "/", json=heaviest_allowed()).content
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=service.base_url, timeout=60) as client:
            while not stop.is_set():
                response = client.post(
                    "/playground/check",
                    content=heavy,
                    headers={"Content-Type": "application/json"},
                )
                statuses.append(response.status_code)

    threads = [threading.Thread(target=hammer) for _ in range(HAMMERS)]
    try:
        for thread in threads:
            thread.start()
        answered = []
        with httpx.Client(base_url=service.base_url, timeout=PATIENT_S) as client:
            for _ in range(5):
                answered.append(client.get("/healthz").status_code)
                hook = client.post(
                    f"/cds-services/{SIGN}", json=hook_body(claims_bundle=seed_bundle())
                )
                answered.append(hook.status_code)
                assert "XS" in hook.json()["cards"][0]["summary"]
        in_flight = sum(thread.is_alive() for thread in threads)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert answered == [200] * 10
    assert in_flight == HAMMERS  # the playground was still being hammered when they answered
    assert set(statuses) <= {200, 429, 503}, statuses
    assert 200 in statuses and 429 in statuses  # some checked, the excess refused as busy
    assert "Traceback" not in service.log()
    service.process.send_signal(signal.SIGTERM)
    try:
        service.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        service.stop(signal.SIGKILL)
        pytest.fail("SIGTERM did not stop the service")
