"""The fetch observer (what metrics hear): one report per key read, with a fixed outcome."""

from __future__ import annotations

import asyncio

import httpx

from plugin.prefetch import FETCH_OUTCOMES, FetchOutcome, HttpFhirReader, resolve_hook_data
from tests.plugin.test_prefetch import CLAIM, CONTEXT, TEMPLATES, Script, fhir, searchset

__all__ = ["fhir"]


def observed(base: str, budget: float = 2.0) -> dict[str, tuple[FetchOutcome, float]]:
    heard: dict[str, tuple[FetchOutcome, float]] = {}

    def on_fetch(key: str, outcome: FetchOutcome, seconds: float) -> None:
        heard[key] = (outcome, seconds)

    async def run() -> None:
        # The client waits past the budget: a slow answer is the budget's, not a timeout.
        async with httpx.AsyncClient(timeout=budget + 1.0) as client:
            reader = HttpFhirReader(client, base, "secret-token")
            context = {**CONTEXT, "userId": "PractitionerRole/r1"}
            await resolve_hook_data(None, TEMPLATES, context, reader, budget, on_fetch=on_fetch)

    asyncio.run(run())
    return heard


def test_each_key_is_reported_with_its_outcome(fhir: tuple[str, Script]) -> None:
    base, script = fhir
    script.on("/fhir/Claim?encounter=e1", (200, searchset(CLAIM)))
    script.on("/fhir/Coverage?patient=p1&status=active", (503, None), (503, None))
    # A budget the quick answers meet on a busy machine (0.8 s once did not, under a full
    # parallel test run), and a slow answer well past it.
    script.on("/fhir/PractitionerRole?_id=r1", (200, searchset(), 4.5))
    heard = observed(base, budget=2.5)
    assert {k: v[0] for k, v in heard.items()} == {
        "claims": "ok",
        "coverage": "http_error",
        "practitionerRole": "budget",
    }
    assert 2.4 <= heard["practitionerRole"][1] < 4.4
    assert heard["claims"][1] < heard["practitionerRole"][1]


def test_bad_bodies_and_closed_ports(fhir: tuple[str, Script]) -> None:
    base, script = fhir
    script.on("/fhir/Claim?encounter=e1", (200, "not a bundle but JSON"))
    assert observed(base)["claims"][0] == "ok"
    assert {o for o, _ in observed("http://127.0.0.1:9/fhir").values()} == {"unreachable"}


def test_outcomes_are_a_fixed_set() -> None:
    assert set(FETCH_OUTCOMES) == {
        "ok",
        "timeout",
        "http_error",
        "unreachable",
        "invalid",
        "budget",
        "error",
    }
