"""SIGTERM (what Kubernetes sends) lets a hook call in flight finish before the process exits."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cds_hooks.conftest import SIGN, bundle_resources, hook_body, searchset, seed_bundle
from tests.support.service import start_service

pytestmark = pytest.mark.e2e
SLOW_S = 2.0


class SlowFhir:
    """A loopback FHIR server whose Claim search takes SLOW_S seconds."""

    def __init__(self, claim: dict[str, Any]) -> None:
        self.asked = threading.Event()
        slow = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/fhir/Claim?"):
                    slow.asked.set()
                    time.sleep(SLOW_S)
                    body = searchset(claim)
                else:
                    body = searchset()
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/fhir"


@pytest.fixture
def slow_fhir() -> Iterator[SlowFhir]:
    bundle = seed_bundle()
    server = SlowFhir(bundle_resources(bundle)["Claim"][0])
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_the_call_in_flight_finish(
    tmp_path: Path, slow_fhir: SlowFhir, workers: int
) -> None:
    service = start_service(tmp_path, {"TRACTION_FHIR_TIMEOUT_SECONDS": "10"}, workers=workers)
    body = hook_body(claims_bundle=seed_bundle(), fhirServer=slow_fhir.base_url)
    del body["prefetch"]["claims"]  # read from the slow FHIR server
    answer: dict[str, httpx.Response] = {}

    def call() -> None:
        answer["response"] = httpx.post(
            f"{service.base_url}/cds-services/{SIGN}", json=body, timeout=30
        )

    caller = threading.Thread(target=call)
    try:
        caller.start()
        assert slow_fhir.asked.wait(15), "the hook call never reached the FHIR server"
        sent = time.monotonic()
        os.kill(service.process.pid, signal.SIGTERM)  # the container's PID 1 gets it, alone
        caller.join(30)
        response = answer["response"]
        assert response.status_code == 200
        assert "XS" in response.json()["cards"][0]["summary"]
        # uvicorn re-raises the signal it caught once it has shut down cleanly.
        assert service.process.wait(timeout=20) in (0, -signal.SIGTERM)
        assert time.monotonic() - sent < SLOW_S + 10
    finally:
        service.stop(signal.SIGKILL)
    log = service.log()
    assert "Shutting down" in log and "Traceback" not in log
    assert "timeout graceful shutdown exceeded" not in log


def test_graceful_timeout_bounds_the_wait(tmp_path: Path, slow_fhir: SlowFhir) -> None:
    env = {"TRACTION_FHIR_TIMEOUT_SECONDS": "10", "TRACTION_GRACEFUL_TIMEOUT_SECONDS": "1"}
    service = start_service(tmp_path, env)
    body = hook_body(claims_bundle=seed_bundle(), fhirServer=slow_fhir.base_url)
    del body["prefetch"]["claims"]
    outcome: list[object] = []

    def call() -> None:
        try:
            url = f"{service.base_url}/cds-services/{SIGN}"
            outcome.append(httpx.post(url, json=body, timeout=30).status_code)
        except httpx.HTTPError as exc:  # the cut-off call may lose its connection
            outcome.append(type(exc).__name__)

    caller = threading.Thread(target=call)
    try:
        caller.start()
        assert slow_fhir.asked.wait(15)
        sent = time.monotonic()
        os.kill(service.process.pid, signal.SIGTERM)
        service.process.wait(timeout=20)
        assert time.monotonic() - sent < SLOW_S
        caller.join(30)
    finally:
        service.stop(signal.SIGKILL)
    assert outcome and outcome != [200]
    assert "timeout graceful shutdown exceeded" in service.log()
