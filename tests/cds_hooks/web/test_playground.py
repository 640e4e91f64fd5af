"""The playground's API and the landing page: the same findings as the fixtures say, the same
cards as the order-sign hook, errors that say where, and nothing public when it is turned off."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_hooks.app import create_app
from cds_hooks.protocol.discovery import SERVICES
from cds_hooks.samples import SAMPLES, SAMPLES_BY_KEY, Sample
from cds_hooks.settings import Settings
from cds_hooks.web import playground
from cds_hooks.web.playground import claim_diff
from tests.cds_hooks.card_validator import response_problems
from tests.cds_hooks.conftest import SIGN, hook_body, load, seed_bundle
from tests.cds_hooks.protocol.test_fuzz import json_values, mutated
from tests.support.claims import claim_file, expected_file

STATIC = Path(__file__).parents[3] / "cds_hooks" / "web" / "static"


JSON = {"Content-Type": "application/json"}


def check(client: TestClient, document: Any) -> Any:
    return client.post("/playground/check", content=json.dumps(document), headers=JSON)


def expected_findings(sample: Sample) -> list[tuple[str, int, str]]:
    expected = load(expected_file(sample.file))["expected"]
    return sorted((f["rule"], f["line"], f["severity"]) for f in expected["findings"])


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def without_ids(cards: list[dict[str, Any]]) -> Any:
    """Cards with their uuids and hookInstance (in appContext) blanked: fresh per call."""
    return orjson.loads(_UUID.sub("<uuid>", orjson.dumps(cards).decode()))


# -- what the playground answers ----------------------------------------------------------
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.key)
def test_every_sample_gives_the_expected_findings(client, sample: Sample) -> None:
    response = check(client, sample.bundle())
    assert response.status_code == 200, response.text
    (claim,) = response.json()["claims"]
    found = sorted((f["rule"], f["line"], f["severity"]) for f in claim["findings"])
    assert found == expected_findings(sample)
    assert claim["clean"] is (not found)
    assert claim["status"] == ("findings" if found else "clean") and claim["unchecked"] == []


def test_an_incomplete_claim_shows_its_status_and_what_was_not_checked(client) -> None:
    bundle = orjson.loads(claim_file("48-code-9714O-beside-97012.bundle.json").read_bytes())
    (claim,) = check(client, bundle).json()["claims"]
    assert (claim["status"], claim["clean"]) == ("incomplete", False)
    assert claim["unchecked"] == [
        {"line": 2, "reason": "'9714O' is not a CPT or HCPCS code we know"}
    ]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.key)
def test_cards_are_the_order_sign_hooks_cards(client, sample: Sample) -> None:
    played = check(client, sample.bundle()).json()
    hook = client.post(f"/cds-services/{SIGN}", json=hook_body("order-sign", sample.bundle()))
    assert hook.status_code == 200
    assert without_ids(played["cards"]) == without_ids(hook.json()["cards"])
    assert played["hook_response"] == {"cards": played["cards"]}
    assert response_problems(played["hook_response"]) == []


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.key)
def test_the_request_shown_is_a_hook_request_that_gives_those_cards(client, sample) -> None:
    played = check(client, sample.bundle()).json()
    request = played["hook_request"]
    assert request["hook"] == "order-sign"
    assert set(request["prefetch"]) >= {"claims", "coverage", "practitionerRole"}
    assert "fhirServer" not in request  # no demo EHR: nothing to point at
    again = client.post(f"/cds-services/{SIGN}", json=request)
    assert again.status_code == 200
    assert without_ids(again.json()["cards"]) == without_ids(played["cards"])


def test_seed_denial_diff_adds_xs_to_97140(client) -> None:
    played = check(client, SAMPLES_BY_KEY["seed-denial"].bundle()).json()
    (claim,) = played["claims"]
    assert claim["changed"]
    added = [row["text"].strip() for row in claim["diff"] if row["op"] == "add"]
    assert '"code": "XS"' in added
    assert not [row for row in claim["diff"] if row["op"] == "del"]
    items = claim["corrected_claim"]["item"]
    assert [m["coding"][0]["code"] for m in items[2]["modifier"]][-1] == "XS"
    finding = claim["findings"][0]
    assert finding["code"] == "97140"
    assert finding["fix"] == "add modifier XS (or 59)"
    assert finding["citation"]
    assert finding["rule_url"] == "/rules/NCCI-PTP-MOD-MISSING"


def test_clean_claim_has_no_diff_and_no_cards(client) -> None:
    played = check(client, SAMPLES_BY_KEY["clean"].bundle()).json()
    (claim,) = played["claims"]
    assert claim["findings"] == [] and claim["diff"] == [] and not claim["changed"]
    assert played["cards"] == []


def test_a_lone_claim_is_checked_too(client) -> None:
    claim = next(
        e["resource"] for e in seed_bundle()["entry"] if e["resource"]["resourceType"] == "Claim"
    )
    played = check(client, claim).json()
    assert [c["claim"] for c in played["claims"]] == ["Claim/c08"]
    assert played["hook_request"]["context"]["patientId"] == "pat-1"


def test_diff_rows_number_both_sides() -> None:
    before = {"a": 1, "b": [1, 2, 3], "c": "x"}
    after = copy.deepcopy(before) | {"c": "y"}
    rows = claim_diff(before, after)
    assert {"op": "del", "old": 8, "text": '  "c": "x"'} in rows
    assert {"op": "add", "new": 8, "text": '  "c": "y"'} in rows
    assert claim_diff(before, before) == []


# -- errors where the user typed ----------------------------------------------------------
def test_bad_json_says_line_and_column(client) -> None:
    text = b'{\n  "resourceType": "Claim",\n  "id" "c1"\n}'
    response = client.post("/playground/check", content=text, headers=JSON)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["kind"] == "json"
    assert (error["line"], error["column"]) == (3, 8)
    assert "line 3" in error["message"]


def test_invalid_fhir_says_the_path(client) -> None:
    bundle = seed_bundle()
    bundle["entry"][0]["resource"]["item"][0]["quantity"]["value"] = "two"
    response = check(client, bundle)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["kind"] == "fhir"
    assert error["path"] == "Claim.item[0].quantity.value"
    assert error["where"] == "Bundle.entry[0]"


def test_bundle_without_a_claim_says_so(client) -> None:
    bundle = seed_bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Claim"]
    response = check(client, bundle)
    assert response.status_code == 400
    assert "holds no Claim" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"", "empty"), (b"[1, 2]", "fhir"), (b'{"resourceType": "Patient"}', "fhir")],
)
def test_other_input_errors_are_400(client, body: bytes, kind: str) -> None:
    response = client.post("/playground/check", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"]["kind"] == kind


def test_body_over_the_cap_is_413(tmp_path: Path) -> None:
    small = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/f.db", auth_mode="off", max_body_bytes=2000
    )
    with TestClient(create_app(small)) as client:
        response = check(client, seed_bundle())
    assert response.status_code == 413
    assert response.json()["error"]["kind"] == "too-large"


def test_answers_are_never_cached(client) -> None:
    assert check(client, seed_bundle()).headers["cache-control"] == "no-store"
    assert check(client, {"resourceType": "Patient"}).headers["cache-control"] == "no-store"


def test_deep_nesting_is_400_not_a_recursion_error(client) -> None:
    bundle = seed_bundle()
    nested: list[Any] = []
    for _ in range(150):  # 300 JSON levels: the FHIR models overflow the stack on it
        nested = [{"url": "http://example.org/x", "extension": nested}]
    bundle["entry"][0]["resource"]["extension"] = nested
    response = check(client, bundle)
    assert response.status_code == 400, response.text[:200]
    assert response.json()["error"]["kind"] == "too-complex"
    assert playground.size_of(bundle).depth > playground.MAX_DEPTH
    assert playground.size_of(seed_bundle()).depth <= playground.MAX_DEPTH


def test_a_claim_with_hundreds_of_lines_is_refused_quickly(client) -> None:
    """Each line's card suggestion carries the whole corrected Claim: 400 lines answered
    240 MB in 11 s, 1000 lines 1.5 GB in a minute, on a public endpoint."""
    bundle = seed_bundle()
    claim = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Claim")
    claim["item"] = [dict(copy.deepcopy(claim["item"][0]), sequence=n + 1) for n in range(400)]
    response = check(client, bundle)
    assert response.status_code == 400
    assert response.json()["error"]["kind"] == "too-complex"
    assert "400 service lines" in response.json()["error"]["message"]
    claim["item"] = claim["item"][: playground.MAX_LINES]
    assert check(client, bundle).status_code == 200


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=st.one_of(mutated(seed_bundle(), max_edits=3), json_values))
def test_never_a_5xx(client, body: Any) -> None:
    response = check(client, body)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"]["message"]


# -- demo EHR, switches, pages ----------------------------------------------------------------
def test_demo_ehr_is_named_but_never_called(tmp_path: Path) -> None:
    demo = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/f.db",
        auth_mode="off",
        demo_ehr_url="http://127.0.0.1:9/",  # nothing listens there: a fetch would fail
    )
    with TestClient(create_app(demo)) as client:
        played = check(client, SAMPLES_BY_KEY["seed-denial"].bundle()).json()
    assert played["hook_request"]["fhirServer"] == "http://127.0.0.1:9/fhir"
    assert played["demo_ehr_launch"] == "http://127.0.0.1:9/launch"
    assert len(played["cards"]) == 1


def test_turned_off_the_playground_is_404(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRACTION_PLAYGROUND", "false")
    off = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/f.db", auth_mode="off")
    assert off.playground is False
    with TestClient(create_app(off)) as client:
        assert client.get("/playground").status_code == 404
        assert client.get("/playground/samples/seed-denial").status_code == 404
        assert check(client, seed_bundle()).status_code == 404
        landing = client.get("/")
    assert landing.status_code == 200
    assert "/playground" not in landing.text


def test_samples_are_served(client) -> None:
    response = client.get("/playground/samples/seed-denial")
    assert response.json() == SAMPLES_BY_KEY["seed-denial"].bundle()
    assert client.get("/playground/samples/nope").status_code == 404


def test_playground_page_names_the_chosen_sample(client) -> None:
    page = client.get("/playground", params={"sample": "seed-denial"})
    assert page.status_code == 200
    assert 'data-sample="seed-denial"' in page.text
    for sample in SAMPLES:
        assert f'data-sample="{sample.key}"' in page.text
    assert 'data-sample=""' in client.get("/playground?sample=<script>").text


def test_landing_lists_the_services_and_links(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    for service in SERVICES:
        assert service["id"] in page.text
    assert "http://testserver/cds-services" in page.text
    for href in ("/docs", "/rules", "/playground", "/healthz"):
        assert f'href="{href}' in page.text


@pytest.mark.parametrize("path", ["/", "/playground"])
def test_pages_load_nothing_from_elsewhere(client, path: str) -> None:
    page = client.get(path)
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    for asset in re.findall(r"""(?:src|href)="(/assets/[^"]+)\"""", page.text):
        response = client.get(asset)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(("text/css", "text/javascript"))


HTML_PAGES = [
    "/",
    "/playground",
    "/playground?sample=clean",
    "/rules",
    "/rules/NCCI-PTP-MOD-MISSING",
]


@pytest.mark.parametrize("path", [*HTML_PAGES, "/rules/NOPE", "/docs"])
def test_every_page_has_a_csp_and_cannot_be_framed(client, path: str) -> None:
    page = client.get(path)
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "inline script"
    assert not re.search(r"<style|\sstyle=", page.text), "inline style"


@pytest.mark.parametrize("name", ["..%2Fsettings.py", "nope.css", "site.py", ".hidden.js"])
def test_only_shipped_assets_are_served(client, name: str) -> None:
    assert client.get(f"/assets/{name}").status_code == 404


def test_page_script_never_writes_html() -> None:
    script = (STATIC / "playground.js").read_text()
    assert "innerHTML" not in script and "outerHTML" not in script
    assert "insertAdjacentHTML" not in script and "document.write" not in script


@pytest.fixture
def quiet_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


class SpyLogger:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def test_nothing_is_recorded_for_a_playground_check(quiet_client, monkeypatch) -> None:
    state = quiet_client.app.state.traction  # type: ignore[attr-defined]
    recorded: list[Any] = []
    monkeypatch.setattr(state.issued, "add", lambda *args: recorded.append(args))
    spy = SpyLogger()
    monkeypatch.setattr(playground, "logger", spy)
    response = check(quiet_client, SAMPLES_BY_KEY["seed-denial"].bundle())
    assert response.status_code == 200
    assert recorded == []  # no issued cards: no EHR ever saw them
    assert spy.events == [
        ("playground checked", {"claims": 1, "rules": ["NCCI-PTP-MOD-MISSING"], "cards": 1})
    ]


# -- what one public request may cost (issue #21 item 1, 12) -----------------------------------
def heaviest_allowed() -> dict[str, Any]:
    """The seed bundle grown to the caps: 50 lines, long arrays of equal extensions (the shape
    that made the old difflib diff quadratic)."""
    bundle = seed_bundle()
    claim = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Claim")
    items = claim["item"]
    claim["item"] = [
        dict(copy.deepcopy(items[n % len(items)]), sequence=n + 1)
        for n in range(playground.MAX_LINES)
    ]
    claim["extension"] = [{"url": "http://example.org/x", "valueString": "y"}] * 190
    for item in claim["item"]:
        item["extension"] = [{"url": "http://example.org/x", "valueString": "y"}] * 40
    return bundle


def test_the_heaviest_allowed_claim_is_checked(client) -> None:
    bundle = heaviest_allowed()
    assert playground.too_costly(bundle) is None
    response = check(client, bundle)
    assert response.status_code == 200
    assert response.json()["claims"][0]["changed"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_only_json_is_taken(client, content_type: str) -> None:
    """A cross-site page can post text/plain or a form without a preflight; never JSON."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/playground/check", content=json.dumps(seed_bundle()), headers=headers)
    assert response.status_code == 415
    assert response.json()["error"]["kind"] == "media-type"
    fhir_json = {"Content-Type": "application/fhir+json; charset=utf-8"}
    assert client.post("/playground/check", content=json.dumps(seed_bundle()), headers=fhir_json)


def _grown(where: str) -> dict[str, Any]:
    bundle = seed_bundle()
    claim = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Claim")
    if where == "extensions":
        claim["extension"] = [{"url": "http://example.org/x", "valueString": "y"}] * 3000
    elif where == "diagnoses":
        claim["diagnosis"] = [copy.deepcopy(claim["diagnosis"][0]) for _ in range(3000)]
    elif where == "string":
        claim["extension"] = [{"url": "http://example.org/x", "valueString": "A" * 50_000}]
    elif where == "values":
        claim["extension"] = [
            {"url": "http://example.org/x", "extension": [{"url": "y", "valueInteger": n}] * 150}
            for n in range(150)
        ]
    return bundle


@pytest.mark.parametrize("where", ["extensions", "diagnoses", "string", "values"])
def test_inputs_that_drive_cost_are_refused_before_validation(client, monkeypatch, where) -> None:
    validated: list[Any] = []
    monkeypatch.setattr(playground, "claims_in", validated.append)
    response = check(client, _grown(where))
    assert response.status_code == 400
    assert response.json()["error"]["kind"] == "too-complex"
    assert validated == []
    assert len(response.content) < 1000  # the refusal never echoes the input


def test_ten_thousand_minimal_lines_are_refused_before_validation(client, monkeypatch) -> None:
    validated: list[Any] = []
    monkeypatch.setattr(playground, "claims_in", validated.append)
    claim = {"resourceType": "Claim", "item": [{"sequence": n} for n in range(10_000)]}
    response = check(client, claim)
    assert response.status_code == 400
    assert "10000 service lines" in response.json()["error"]["message"]
    assert validated == []


def test_a_multi_megabyte_string_is_not_echoed(client) -> None:
    bundle = _grown("string")
    bundle["entry"][0]["resource"]["extension"][0]["valueString"] = "A" * 4_900_000
    response = check(client, bundle)
    assert response.status_code == 413
    assert len(response.content) < 1000
    assert f"{playground.MAX_BODY_BYTES}" in response.json()["error"]["message"]


def test_the_page_states_the_playgrounds_own_cap(client) -> None:
    page = client.get("/playground").text
    assert f'data-max-bytes="{playground.MAX_BODY_BYTES}"' in page
