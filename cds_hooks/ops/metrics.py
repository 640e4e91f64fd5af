"""Prometheus metrics at `/metrics`, summed over every uvicorn worker.

Every label value comes from a fixed set: route templates (never a raw path or query), HTTP
methods and status codes, service ids from discovery, rule ids from the catalogue, prefetch keys
from the discovery templates, and outcome enums. Nothing a caller sends can become a label, so
no PHI (and no unbounded series) can reach a scrape.

With `PROMETHEUS_MULTIPROC_DIR` set (by `traction-cds serve`), each worker writes its samples
to files there and a scrape sums them; workers that died are swept from the live gauges.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response

from cds_hooks.ops.metrics_dir import ENV as MULTIPROC_ENV
from cds_hooks.state import app_state
from plugin.claim_check import ClaimReport
from plugin.prefetch import FetchOutcome
from rules.knowledge.model import Knowledge

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "traction_http_requests",
    "HTTP requests answered, by route template and status code.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "traction_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
IN_PROGRESS = Gauge(
    "traction_http_requests_in_progress",
    "HTTP requests being answered now (live workers only).",
    multiprocess_mode="livesum",
)
FINDINGS = Counter(
    "traction_findings",
    "Findings the engine raised on hook calls, by service, rule id and severity.",
    ["service", "rule", "severity"],
)
FHIR_FETCHES = Counter(
    "traction_fhir_fetches",
    "FHIR fallback reads (one per missing prefetch key), by key and outcome.",
    ["key", "outcome"],
)
FHIR_FETCH_SECONDS = Histogram(
    "traction_fhir_fetch_duration_seconds",
    "Time a FHIR fallback read took (a read cut by the budget counts the budget).",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)
FEEDBACK = Counter(
    "traction_feedback",
    "Card feedback stored, by service and outcome.",
    ["service", "outcome"],
)

_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")
# prometheus_client's multiprocess helpers carry no annotations; these give them their types.
_mark_process_dead: Callable[[int, str], None] = multiprocess.mark_process_dead
_MultiProcessCollector: Callable[[CollectorRegistry, str], object] = (
    multiprocess.MultiProcessCollector
)


# --- what the routes report ----------------------------------------------------------------


def observe_findings(service: str, report: ClaimReport, knowledge: Knowledge) -> ClaimReport:
    """Count a checked claim's findings by rule (not in the catalogue: `other`); pass it on."""
    for finding in report.findings:
        rule = finding.rule if finding.rule in knowledge.rules else OTHER
        FINDINGS.labels(service, rule, finding.severity.value).inc()
    return report


def observe_fhir_fetch(key: str, outcome: FetchOutcome, seconds: float) -> None:
    """A `plugin.prefetch.FetchObserver`: keys come from the discovery templates."""
    FHIR_FETCHES.labels(key, outcome).inc()
    FHIR_FETCH_SECONDS.labels(outcome).observe(seconds)


def observe_feedback(service: str, outcomes: Iterable[str]) -> None:
    for outcome in outcomes:
        FEEDBACK.labels(service, outcome).inc()


# --- every request -------------------------------------------------------------------------


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count and time one request by its route template (never the raw path)."""
    method = method if method in METHODS else OTHER
    REQUESTS.labels(method, route, str(status)).inc()
    REQUEST_SECONDS.labels(method, route).observe(seconds)


# --- the scrape ----------------------------------------------------------------------------


def multiprocess_path() -> Path | None:
    given = os.environ.get(MULTIPROC_ENV, "").strip()
    return Path(given) if given else None


def sweep_dead_workers(path: Path) -> None:
    """Drop live-gauge files of worker processes that are gone (uvicorn restarts them)."""
    for file in path.glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.match(file.name)
        if match and not _alive(int(match.group(1))):
            _mark_process_dead(int(match.group(1)), str(path))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_exiting() -> None:
    """A worker's last word (lifespan shutdown): its live gauges no longer count."""
    path = multiprocess_path()
    if path is not None:
        _mark_process_dead(os.getpid(), str(path))


def exposition() -> bytes:
    path = multiprocess_path()
    if path is None:
        return generate_latest(REGISTRY)
    sweep_dead_workers(path)
    registry = CollectorRegistry()
    _MultiProcessCollector(registry, str(path))
    return generate_latest(registry)


router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format; behind a bearer token when TRACTION_METRICS_TOKEN is set."""
    token = app_state(request).settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return Response(
                "unauthorized\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="traction-cds-metrics"'},
            )
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
