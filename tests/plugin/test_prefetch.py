"""Data resolution: every prefetch shape, and fallback reads against a scripted loopback server
(paging, one retry on 5xx, timeouts inside the budget, no token to another origin)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from plugin.prefetch import (
    FhirFetchError,
    HttpFhirReader,
    render_template,
    resolve_hook_data,
    resources_of,
)

TEMPLATES = {
    "claims": "Claim?encounter={{context.encounterId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "practitionerRole": "PractitionerRole?_id={{userPractitionerRoleId}}",
}
CONTEXT = {"patientId": "p1", "encounterId": "e1", "userId": "Practitioner/u1"}
CLAIM = {"resourceType": "Claim", "id": "c1", "item": [{"sequence": 1}]}


def searchset(*resources: dict, next_url: str | None = None) -> dict:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


class Script:
    """What the loopback server answers, per path+query, and what it was asked."""

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[int, Any, float]]] = {}
        self.seen: list[tuple[str, str | None]] = []

    def on(self, path: str, *answers: tuple[int, Any] | tuple[int, Any, float]) -> None:
        self.routes[path] = [(a[0], a[1], a[2] if len(a) > 2 else 0.0) for a in answers]


@pytest.fixture
def fhir() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            script.seen.append((self.path, self.headers.get("Authorization")))
            answers = script.routes.get(self.path) or [(404, None, 0.0)]
            status, body, delay = answers.pop(0) if len(answers) > 1 else answers[0]
            time.sleep(delay)
            if status in (301, 302):
                self.send_response(status)
                self.send_header("Location", body)
                self.end_headers()
                return
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/fhir", script
    finally:
        server.shutdown()
        server.server_close()


def resolve(
    base: str | None,
    prefetch: dict | None,
    token: str | None = "secret-token",
    budget: float = 2.0,
    timeout: float = 1.0,
):
    async def run():
        async with httpx.AsyncClient(timeout=timeout) as client:
            reader = HttpFhirReader(client, base, token) if base else None
            return await resolve_hook_data(prefetch, TEMPLATES, CONTEXT, reader, budget)

    return asyncio.run(run())


def test_templates_render_context_and_user_tokens() -> None:
    assert render_template(TEMPLATES["claims"], CONTEXT, None) == "Claim?encounter=e1"
    assert render_template(TEMPLATES["practitionerRole"], CONTEXT, "Practitioner/u1") is None
    assert (
        render_template(TEMPLATES["practitionerRole"], CONTEXT, "PractitionerRole/r9")
        == "PractitionerRole?_id=r9"
    )
    assert render_template(TEMPLATES["claims"], {"patientId": "p1"}, None) is None


def test_prefetch_value_shapes() -> None:
    assert resources_of(None) is None
    assert resources_of({"resourceType": "OperationOutcome"}) is None
    assert resources_of(CLAIM) == [(None, CLAIM)]
    assert resources_of(searchset(CLAIM)) == [(None, CLAIM)]
    assert resources_of(searchset()) == []
    assert resources_of([CLAIM]) is None


def test_full_prefetch_makes_no_fhir_call(fhir) -> None:
    base, script = fhir
    data = resolve(
        base, {"claims": searchset(CLAIM), "coverage": searchset(), "practitionerRole": None}
    )
    assert [c["id"] for _, c in data.claims] == ["c1"]
    assert script.seen == [] and data.fetched == []


def test_missing_keys_are_fetched_with_the_token(fhir) -> None:
    base, script = fhir
    script.on("/fhir/Claim?encounter=e1", (200, searchset(CLAIM)))
    script.on("/fhir/Coverage?patient=p1&status=active", (200, searchset()))
    data = resolve(base, {"coverage": {"resourceType": "OperationOutcome"}})
    assert sorted(data.fetched) == ["claims", "coverage"]
    assert [c["id"] for _, c in data.claims] == ["c1"]
    assert {auth for _, auth in script.seen} == {"Bearer secret-token"}


def test_paged_searchsets_are_followed(fhir) -> None:
    base, script = fhir
    page2 = f"{base}/Claim?encounter=e1&page=2"
    script.on("/fhir/Claim?encounter=e1", (200, searchset(CLAIM, next_url=page2)))
    script.on("/fhir/Claim?encounter=e1&page=2", (200, searchset({**CLAIM, "id": "c2"})))
    data = resolve(base, {"coverage": searchset()})
    assert [c["id"] for _, c in data.claims] == ["c1", "c2"]


def test_a_5xx_is_retried_once(fhir) -> None:
    base, script = fhir
    script.on("/fhir/Claim?encounter=e1", (503, None), (200, searchset(CLAIM)))
    data = resolve(base, {"coverage": searchset()})
    assert data.fetched == ["claims"] and len(script.seen) == 2


def test_a_slow_server_fails_inside_the_budget(fhir) -> None:
    base, script = fhir
    script.on("/fhir/Claim?encounter=e1", (200, searchset(CLAIM), 2.0))
    start = time.perf_counter()
    data = resolve(base, {"coverage": searchset()}, budget=0.5, timeout=0.3)
    assert time.perf_counter() - start < 1.5
    assert data.failed == ["claims"] and data.claims == []


def test_redirects_are_not_followed(fhir) -> None:
    base, script = fhir
    script.on("/fhir/Claim?encounter=e1", (302, "http://evil.example/steal"))
    data = resolve(base, {"coverage": searchset()})
    assert data.failed == ["claims"]


def test_next_link_to_another_origin_is_not_followed(fhir) -> None:
    base, script = fhir
    script.on(
        "/fhir/Claim?encounter=e1",
        (200, searchset(CLAIM, next_url="http://evil.example/fhir/Claim?page=2")),
    )
    data = resolve(base, {"coverage": searchset()})
    assert [c["id"] for _, c in data.claims] == ["c1"] and len(script.seen) == 1


def test_no_server_and_no_prefetch_marks_keys_failed() -> None:
    data = resolve(None, None)
    assert sorted(data.failed) == ["claims", "coverage"]


def test_errors_never_carry_the_token(fhir) -> None:
    base, script = fhir
    script.on("/fhir/x", (401, {"issue": "secret-token"}))

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            await HttpFhirReader(client, base, "secret-token").search("x")

    with pytest.raises(FhirFetchError) as exc:
        asyncio.run(run())
    assert "secret-token" not in str(exc.value)
