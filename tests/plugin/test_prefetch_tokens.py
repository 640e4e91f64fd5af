"""#17.2: a prefetch value that cannot be right (its template needs a context value the call
lacks, or the client's search still holds an unfilled `{{token}}`) is set aside, never taken
for "no Claims"; what failed says why (against the scripted loopback server)."""

from __future__ import annotations

import asyncio

import httpx

from plugin.prefetch import HttpFhirReader, resolve_hook_data, unusable_prefetch
from tests.plugin.test_prefetch import CLAIM, CONTEXT, TEMPLATES, fhir, searchset

__all__ = ["fhir"]
ECHOED = "http://127.0.0.1:8081/Claim?encounter=%7B%7Bcontext.encounterId%7D%7D"


def echoed_empty_bundle() -> dict:
    """What the CDS Hooks Sandbox prefetches when it has no encounterId."""
    return {**searchset(), "total": 0, "link": [{"relation": "self", "url": ECHOED}]}


def resolve(base: str | None, prefetch: dict, context: dict):
    async def run():
        async with httpx.AsyncClient(timeout=1.0) as client:
            reader = HttpFhirReader(client, base, "t") if base else None
            return await resolve_hook_data(prefetch, TEMPLATES, context, reader, 2.0)

    return asyncio.run(run())


def test_a_prefetch_for_a_token_the_call_lacks_is_not_data(fhir) -> None:
    base, script = fhir
    context = {k: v for k, v in CONTEXT.items() if k != "encounterId"}
    data = resolve(base, {"claims": searchset(), "coverage": searchset()}, context)
    assert "context.encounterId" in data.ignored["claims"]
    assert data.skipped["claims"] == "needs {{context.encounterId}}"
    assert "claims" not in data.failed and data.claims == []
    assert not any(path.startswith("/fhir/Claim") for path, _ in script.seen)


def test_an_echoed_token_search_is_set_aside_and_read_from_the_fhir_server(fhir) -> None:
    base, script = fhir
    script.on("/fhir/Claim?encounter=e1", (200, searchset(CLAIM)))
    data = resolve(base, {"claims": echoed_empty_bundle(), "coverage": searchset()}, CONTEXT)
    assert "unfilled" in data.ignored["claims"]
    assert data.fetched == ["claims"]
    assert [c["id"] for _, c in data.claims] == ["c1"]


def test_a_search_with_its_tokens_filled_is_used_as_is() -> None:
    filled = {**searchset(CLAIM), "link": [{"relation": "self", "url": "Claim?encounter=e1"}]}
    assert unusable_prefetch(filled, TEMPLATES["claims"], CONTEXT, None) is None
    assert unusable_prefetch(echoed_empty_bundle(), TEMPLATES["claims"], CONTEXT, None)


def test_a_failed_read_keeps_its_real_reason(fhir) -> None:
    base, script = fhir
    script.on("/fhir/Claim?encounter=e1", (401, None))
    data = resolve(base, {"coverage": searchset()}, CONTEXT)
    assert data.failed == ["claims"]
    assert data.reasons["claims"] == "FHIR server answered 401"
    no_server = resolve(None, {"coverage": searchset()}, CONTEXT)
    assert "no fhirServer" in no_server.reasons["claims"]


def test_resources_prefetched_without_the_token_are_still_data() -> None:
    """A client that found the Claims some other way (the playground) sent real data."""
    context = {k: v for k, v in CONTEXT.items() if k != "encounterId"}
    data = resolve(None, {"claims": searchset(CLAIM), "coverage": searchset()}, context)
    assert [c["id"] for _, c in data.claims] == ["c1"] and data.ignored == {}
