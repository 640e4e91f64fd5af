"""`/metrics`: route templates and fixed label sets only, counters summed over workers, no PHI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cds_hooks.app import create_app
from cds_hooks.ops import metrics
from cds_hooks.ops.metrics_dir import multiprocess_dir
from cds_hooks.settings import Settings
from cds_hooks.web import review_app
from tests.cds_hooks.conftest import SIGN, hook_body, seed_bundle
from tests.support.service import start_service

RULE = "NCCI-PTP-MOD-MISSING"
PLANTED = ["Zelda Quixote", "MRN-778812", "1931-02-03", "ehr-secret-token-9931"]


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) for every sample called `name` in a Prometheus text scrape."""
    return [
        (dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        value
        for found, value in samples(text, name)
        if all(found.get(k) == v for k, v in labels.items())
    )


def planted_body() -> dict:
    bundle = seed_bundle()
    claim = bundle["entry"][0]["resource"]
    claim["patient"] = {"reference": "Patient/pat-1", "display": PLANTED[0]}
    claim["identifier"] = [{"system": "urn:mrn", "value": PLANTED[1]}]
    return hook_body(
        claims_bundle=bundle,
        fhirAuthorization=None,
        extension={"note": PLANTED[2]},
    )


# --- in process ------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/feedback.db",
        auth_mode="off",
        public_base_url="http://testserver",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_hook_call_counts_request_by_template_and_findings_by_rule(client: TestClient) -> None:
    before = client.get("/metrics").text
    response = client.post(f"/cds-services/{SIGN}?patient=Zelda", json=planted_body())
    assert response.status_code == 200
    client.get(f"/Patient/{PLANTED[1]}")  # unmatched: never labelled by its path
    client.post("/cds-services/Zelda-Quixote", json={})  # 404 under the template
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    route = "/cds-services/{service_id}"
    delta = total(text, "traction_http_requests_total", route=route) - total(
        before, "traction_http_requests_total", route=route
    )
    assert delta == 2
    assert total(text, "traction_http_requests_total", route=route, status="404") >= 1
    assert total(text, "traction_http_requests_total", route="unmatched", status="404") >= 1
    assert total(text, "traction_findings_total", rule=RULE, service=SIGN) > total(
        before, "traction_findings_total", rule=RULE, service=SIGN
    )
    assert total(text, "traction_http_request_duration_seconds_count", route=route) >= 2
    for secret in [*PLANTED, "Zelda", "/Patient/"]:
        assert secret not in text


def test_feedback_outcomes_are_counted(client: TestClient) -> None:
    before = total(client.get("/metrics").text, "traction_feedback_total", outcome="overridden")
    issued = client.post(f"/cds-services/{SIGN}", json=planted_body()).json()["cards"][0]
    item = {
        "card": issued["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2025-06-10T10:00:00Z",
    }
    response = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [item]})
    assert response.status_code == 200
    after = total(client.get("/metrics").text, "traction_feedback_total", outcome="overridden")
    assert after == before + 1


def test_every_label_value_comes_from_a_fixed_set(client: TestClient) -> None:
    client.post(f"/cds-services/{SIGN}", json=planted_body())
    client.request("BREW", "/healthz")
    text = client.get("/metrics").text
    # Route templates (OpenAPI paths and the few routes kept out of it), never a raw path.
    hidden = {"/metrics", "/docs", "/docs/assets", "unmatched"}
    app_routes = {*client.get("/openapi.json").json()["paths"], *hidden}
    # Routes kept out of the OpenAPI (the review app's) are templates too; the registry is per
    # process, so another test module may have counted them.
    app_routes |= {str(getattr(route, "path", "")) for route in review_app.router.routes}
    catalogue = set(client.app.state.traction.checker.knowledge.rules) | {"other"}  # type: ignore[attr-defined]
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            assert labels.get("route", "unmatched") in app_routes
            assert labels.get("method", "GET") in metrics.METHODS | {"other"}
            assert labels.get("rule", "other") in catalogue
            assert labels.get("service", SIGN).startswith("traction-97012-")
    assert total(text, "traction_http_requests_total", method="other") >= 1


def test_metrics_token_when_configured(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/feedback.db",
        auth_mode="off",
        metrics_token="scrape-me-7d1",
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.get("/metrics", headers=wrong).status_code == 401
        right = {"Authorization": "Bearer scrape-me-7d1"}
        assert client.get("/metrics", headers=right).status_code == 200


def test_metrics_are_not_in_the_openapi(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


# --- the multiprocess folder ------------------------------------------------------------------


def test_serve_folder_is_temporary_or_the_operators_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with multiprocess_dir() as made:
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(made) and made.is_dir()
    assert not made.exists() and "PROMETHEUS_MULTIPROC_DIR" not in os.environ

    given = tmp_path / "prom"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    (given / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    with multiprocess_dir() as used:
        assert used == given and not (given / "counter_123.db").exists()
    assert (given / "keep.txt").exists()


def test_dead_workers_live_gauges_are_swept(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"gauge_livesum_{gone.pid}.db"
    alive = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    other = tmp_path / f"counter_{gone.pid}.db"
    for file in (dead, alive, other):
        file.write_bytes(b"")
    metrics.sweep_dead_workers(tmp_path)
    assert not dead.exists() and alive.exists() and other.exists()


# --- two real workers -------------------------------------------------------------------------


@pytest.mark.e2e
def test_counters_sum_across_two_workers(tmp_path: Path) -> None:
    folder = tmp_path / "prom"
    service = start_service(tmp_path, {"PROMETHEUS_MULTIPROC_DIR": str(folder)}, workers=2)
    url = f"{service.base_url}/cds-services/{SIGN}"
    try:
        calls = 0
        # A fresh connection per call: keep-alive would pin every call to one worker.
        with httpx.Client(timeout=20) as http, ThreadPoolExecutor(8) as pool:

            def call(_: int) -> int:
                return httpx.post(url, json=planted_body(), timeout=20).status_code

            # Until both workers have answered hook calls (each writes its own counter file).
            while calls < 200:
                statuses = list(pool.map(call, range(24)))
                assert statuses == [200] * 24
                calls += 24
                if len({p.name.split("_")[-1] for p in folder.glob("counter_*.db")}) >= 2:
                    break
            assert len(list(folder.glob("counter_*.db"))) >= 2, "one worker took every call"

            timings = []
            for _ in range(6):  # each scrape lands on either worker; each must see the sum
                started = time.perf_counter()
                scrape = http.get(f"{service.base_url}/metrics")
                timings.append(time.perf_counter() - started)
                assert scrape.status_code == 200
                text = scrape.text
                route = "/cds-services/{service_id}"
                assert total(text, "traction_http_requests_total", route=route) == calls
                assert total(text, "traction_findings_total", rule=RULE) >= calls
                assert (
                    total(text, "traction_http_request_duration_seconds_count", route=route)
                    == calls
                )
                for secret in [*PLANTED, "Zelda"]:
                    assert secret not in text
            assert max(timings) < 1.0
    finally:
        service.stop()
    assert "Traceback" not in service.log()
