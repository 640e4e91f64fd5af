"""The SMART review app for real: the service as a process, a loopback OAuth server that is also
the `iss` (proxying to the loopback FHIR server, which demands the issued token), Chromium driven
by Playwright. Launched like an EHR, the page shows the 97012 findings; two of three fixes are
applied and exactly those two reach the FHIR server. Refusals (wrong state, wrong PKCE verifier,
unknown iss) and the pages a user can act on are checked over plain HTTP."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from tests.builders import claim
from tests.support.auth_server import AuthServer, Client, new_id, new_rsa_key, private_pem, s256
from tests.support.browser import chromium
from tests.support.fhir_server import FhirServer
from tests.support.service import Service, start_service

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "review-app"
SECRET = "review-app-secret-3f9a"


# -- the world: FHIR server, auth server (= iss), service ------------------------------------
@pytest.fixture(scope="module")
def world(
    fhir_server: FhirServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AuthServer, Service, Path]]:
    auth = AuthServer(fhir_server.base_url).start()
    tmp = tmp_path_factory.mktemp("review")
    key = new_rsa_key()
    key_file = tmp / "client-key.pem"
    key_file.write_bytes(private_pem(key))
    clients = [
        {
            "iss": auth.iss("fhir"),
            "client_id": "traction-review",
            "client_secret": SECRET,
            "allow_writes": True,
        },
        {
            "iss": auth.iss("fhir-jwt"),
            "client_id": "traction-review-jwt",
            "private_key_file": str(key_file),
            "kid": "traction-1",
        },
        {"iss": auth.iss("fhir-no-pkce"), "client_id": "traction-review", "client_secret": SECRET},
    ]
    service = start_service(tmp, env={"TRACTION_SMART_CLIENTS": json.dumps(clients)})
    redirect = f"{service.base_url}/smart/callback"
    auth.add_client(Client("traction-review", secret=SECRET, redirect_uris=[redirect]))
    auth.add_client(
        Client("traction-review-jwt", public_key=key.public_key(), redirect_uris=[redirect])
    )
    try:
        yield auth, service, tmp
    finally:
        service.stop()
        auth.stop()


@pytest.fixture
def env(world, fresh_fhir: FhirServer):
    auth, service, tmp = world
    auth.reset()
    fresh_fhir.configure(required_token=auth.access_token)
    return auth, service, tmp, fresh_fhir


def three_fix_claim() -> dict[str, Any]:
    """97012 x2 without GP, and 97140 for another region without XS: three automatic fixes."""
    builder = (
        claim()
        .line("97012", mods=[], units=2, dx=["M51.16"])
        .line("97110", mods=["GP"], units=2, minutes=30, dx=["M51.16"])
        .line("97140", mods=["GP"], minutes=15, dx=["M54.2"])
    )
    return builder.bundle()


def load_claim(fhir: FhirServer) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"given": ["Rosa"], "family": "Delgado"}],
        "birthDate": "1956-03-14",
        "gender": "female",
    }
    resources = [e["resource"] for e in three_fix_claim()["entry"]]
    fhir.load([patient, *resources])


def ehr_launch(auth: AuthServer, service: Service, tenant: str = "fhir", **context: Any) -> str:
    context.setdefault("patient", "p1")
    launch = auth.add_launch(context)
    return f"{service.base_url}/smart/launch?" + urlencode(
        {"iss": auth.iss(tenant), "launch": launch}
    )


def app_context(claim_ref: str = "Claim/c1", hook: str | None = None) -> str:
    return json.dumps({"claim": claim_ref, "hookInstance": hook or new_id()})


def modifiers(item: dict[str, Any]) -> list[str]:
    return [m["coding"][0]["code"] for m in item.get("modifier", [])]


def review_cards(tmp: Path, hook: str) -> set[str]:
    """The review app's cards (one per finding decided) for the card whose hookInstance
    launched it."""
    with sqlite3.connect(tmp / "feedback.db") as db:
        rows = db.execute("select card_id from issued_cards where hook_instance = ?", (hook,))
        return {r[0] for r in rows}


def feedback_rows(tmp: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(tmp / "feedback.db") as db:
        return list(
            db.execute(
                "select service_id, card_id, outcome, accepted_suggestions from feedback "
                "where service_id = 'review-app' order by outcome, accepted_suggestions"
            )
        )


# -- the browser run -----------------------------------------------------------------------
def test_ehr_launch_shows_findings_and_applies_two_of_three_fixes(env) -> None:
    auth, service, tmp, fhir = env
    load_claim(fhir)
    hook = new_id()
    url = ehr_launch(auth, service, appContext=app_context(hook=hook), need_patient_banner=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 1500})
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("article.finding")
        launch_to_page = time.perf_counter() - started
        print(f"\nreview app: launch-to-page {launch_to_page * 1000:.0f} ms on loopback")
        page.screenshot(path=str(ARTIFACTS / "1-launched.png"))

        assert urlsplit(page.url).path == "/app/"
        banner = page.inner_text("section.banner")
        assert "Rosa Delgado" in banner and "1956-03-14" in banner
        assert page.locator("#lines tbody tr").count() == 3
        findings = page.locator("article.finding")
        rules = [findings.nth(i).get_attribute("data-rule") for i in range(findings.count())]
        assert sorted(rules) == [
            "NCCI-PTP-MOD-MISSING",
            "T97012-UNITS-ONE",
            "THERAPY-MOD-MISSING",
        ]
        assert page.locator('input[name="fix"]:checked').count() == 3
        first = page.locator('article[data-rule="T97012-UNITS-ONE"]')
        assert "bill 1 unit" in first.inner_text()
        assert first.locator(".diff .chg.before").inner_text().strip() == "2"
        assert first.locator(".diff .chg.after").inner_text().strip() == "1"
        link = first.locator(".cite a")
        assert link.get_attribute("href") == "/rules/T97012-UNITS-ONE"

        # Keyboard: focus the GP fix's checkbox and untick it with the space bar.
        gp = page.locator('article[data-rule="THERAPY-MOD-MISSING"] input[name="fix"]')
        gp.focus()
        page.keyboard.press("Space")
        assert not gp.is_checked()
        assert page.inner_text("#count") == "2"
        page.screenshot(path=str(ARTIFACTS / "2-two-of-three-ticked.png"), full_page=True)

        page.click("#apply")
        page.wait_for_selector("#notice")
        assert "Saved" in page.inner_text("#notice")
        page.screenshot(path=str(ARTIFACTS / "3-applied.png"), full_page=True)
        remaining = page.locator("article.finding")
        assert remaining.count() == 1
        assert remaining.first.get_attribute("data-rule") == "THERAPY-MOD-MISSING"

    stored = fhir.read("Claim", "c1")
    assert stored is not None
    assert stored["meta"]["versionId"] != "1"
    items = {i["sequence"]: i for i in stored["item"]}
    assert items[1]["quantity"]["value"] == 1  # T97012-UNITS-ONE applied
    assert "GP" not in modifiers(items[1])  # THERAPY-MOD-MISSING left as it was
    assert modifiers(items[3]) == ["GP", "XS"]  # NCCI-PTP-MOD-MISSING applied
    assert modifiers(items[2]) == ["GP"] and items[2]["quantity"]["value"] == 2
    # Every FHIR call carried the issued token (the FHIR server demands it) and the update
    # named the version it read.
    calls = fhir.requests()
    assert all(r.bearer for r in calls)
    assert [r.status for r in calls if r.method == "PUT"] == [200]
    # Each decision recorded, keyed by the card's hookInstance.
    rows = feedback_rows(tmp)
    decisions = sorted((r[2], json.loads(r[3])[0]) for r in rows if r[1] in review_cards(tmp, hook))
    assert decisions == [
        ("accepted", "NCCI-PTP-MOD-MISSING@3"),
        ("accepted", "T97012-UNITS-ONE@1"),
        ("overridden", "THERAPY-MOD-MISSING@1"),
    ]
    # PHI shown on the page never reaches the service's log.
    log = service.log()
    assert "Delgado" not in log and "1956-03-14" not in log and auth.access_token not in log


# -- over plain HTTP -------------------------------------------------------------------------
def browserless(follow: bool = True) -> httpx.Client:
    return httpx.Client(follow_redirects=follow, timeout=10.0)


def open_app(url: str) -> tuple[httpx.Client, httpx.Response]:
    client = browserless()
    response = client.get(url)
    return client, response


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf|claim|version)" value="([^"]*)"', html))


def test_stale_version_is_not_overwritten_and_the_user_is_told(env) -> None:
    auth, service, _tmp, fhir = env
    load_claim(fhir)
    client, page = open_app(ehr_launch(auth, service, appContext=app_context()))
    assert page.status_code == 200, page.text
    fields = form_fields(page.text)
    # Someone else saves the Claim meanwhile.
    current = fhir.read("Claim", "c1")
    assert current is not None
    current["status"] = "active"
    current.setdefault("extension", [])
    fhir.load(current)
    form = {**fields, "fix": ["T97012-UNITS-ONE@1"]}
    answer = client.post(f"{service.base_url}/app/apply", data=form)
    assert answer.status_code == 200
    assert "Someone changed this Claim" in answer.text
    stored = fhir.read("Claim", "c1")
    assert stored is not None and stored["item"][0]["quantity"]["value"] == 2
    assert not [r for r in fhir.requests() if r.method == "PUT"]


def test_read_only_token_gets_the_corrected_claim_as_a_download(env) -> None:
    """private_key_jwt client, no patient/Claim.u granted: download, nothing written, recorded."""
    auth, service, tmp, fhir = env
    load_claim(fhir)
    auth.grant_write = False
    hook = new_id()
    client, page = open_app(
        ehr_launch(auth, service, tenant="fhir-jwt", appContext=app_context(hook=hook))
    )
    assert page.status_code == 200, page.text
    assert "Download corrected Claim (JSON)" in page.text
    token_call = auth.token_requests[-1]
    assert token_call["client_assertion_type"].endswith("jwt-bearer")
    assert "client_secret" not in token_call
    form = {**form_fields(page.text), "fix": ["T97012-UNITS-ONE@1", "THERAPY-MOD-MISSING@1"]}
    answer = client.post(f"{service.base_url}/app/apply", data=form)
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    corrected = answer.json()
    assert corrected["item"][0]["quantity"]["value"] == 1
    assert modifiers(corrected["item"][0]) == ["GP"]
    assert "XS" not in modifiers(corrected["item"][2])
    assert not [r for r in fhir.requests() if r.method == "PUT"]
    outcomes = sorted(r[2] for r in feedback_rows(tmp) if r[1] in review_cards(tmp, hook))
    assert outcomes == ["accepted", "accepted", "overridden"]


def test_unknown_iss_is_refused(env) -> None:
    _auth, service, _tmp, _fhir = env
    answer = browserless(False).get(
        f"{service.base_url}/smart/launch",
        params={"iss": "http://127.0.0.1:9/fhir", "launch": "x"},
    )
    assert answer.status_code == 403
    assert "not registered" in answer.text and "Traceback" not in answer.text


def _authorize_redirect(client: httpx.Client, url: str) -> str:
    launched = client.get(url)
    assert launched.status_code == 302, launched.text
    return launched.headers["location"]


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_launch_asks_for_the_smart_scopes_with_pkce(env) -> None:
    auth, service, _tmp, _fhir = env
    client = browserless(False)
    target = _authorize_redirect(client, ehr_launch(auth, service))
    q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    assert target.startswith(f"{auth.origin}/authorize?")
    assert q["response_type"] == "code" and q["client_id"] == "traction-review"
    assert q["redirect_uri"] == f"{service.base_url}/smart/callback"
    assert q["aud"] == auth.iss("fhir") and q["code_challenge_method"] == "S256"
    assert q["scope"].split() == [
        "launch",
        "openid",
        "fhirUser",
        "patient/Claim.rs",
        "patient/Encounter.r",
        "patient/Coverage.r",
        "patient/Patient.r",
        "patient/Claim.u",
    ]
    cookie = client.cookies.jar
    (traction,) = [c for c in cookie if c.name == "traction_review_pending"]
    assert traction.has_nonstandard_attr("HttpOnly")


def test_wrong_state_is_refused(env) -> None:
    auth, service, _tmp, fhir = env
    load_claim(fhir)
    client = browserless(False)
    authorize = _authorize_redirect(client, ehr_launch(auth, service, appContext=app_context()))
    back = client.get(authorize).headers["location"]
    answer = client.get(_with_query(back, state="forged-state"))
    assert answer.status_code == 400
    assert "does not belong to your session" in answer.text
    assert not auth.token_requests  # the code was never exchanged


def test_wrong_pkce_verifier_is_refused(env) -> None:
    auth, service, _tmp, fhir = env
    load_claim(fhir)
    client = browserless(False)
    authorize = _authorize_redirect(client, ehr_launch(auth, service, appContext=app_context()))
    # An attacker's challenge: the service's verifier will not match it.
    tampered = _with_query(authorize, code_challenge=s256("not-the-service-verifier" * 2))
    back = client.get(tampered).headers["location"]
    answer = client.get(back)
    assert answer.status_code == 403
    assert "refused to grant access" in answer.text
    assert auth.token_requests and auth.token_requests[-1]["code_verifier"]


def test_pkce_s256_is_required_of_the_server(env) -> None:
    auth, service, _tmp, _fhir = env
    auth.pkce_methods = ["plain"]
    # An issuer launched only here, so its smart-configuration is read fresh.
    answer = browserless(False).get(ehr_launch(auth, service, tenant="fhir-no-pkce"))
    assert answer.status_code == 403 and "PKCE" in answer.text


def test_pages_a_user_can_act_on(env) -> None:
    auth, service, _tmp, fhir = env
    load_claim(fhir)
    # No session (or an expired one).
    gone = browserless().get(f"{service.base_url}/app/")
    assert gone.status_code == 401 and "session has ended" in gone.text
    # Claim not found.
    client, missing = open_app(ehr_launch(auth, service, appContext=app_context("Claim/nope")))
    assert missing.status_code == 404 and "Claim was not found" in missing.text
    # FHIR server down.
    client, page = open_app(ehr_launch(auth, service, appContext=app_context()))
    assert page.status_code == 200
    auth.fhir_down = True
    down = client.get(f"{service.base_url}/app/")
    assert down.status_code == 502 and "not answering" in down.text and "Try again" in down.text
    auth.fhir_down = False
    # Token refused by the FHIR server.
    fhir.configure(required_token="another-token")
    refused = client.get(f"{service.base_url}/app/")
    assert refused.status_code == 401 and "session has ended" in refused.text
    for answer in (gone, missing, down, refused):
        assert "Traceback" not in answer.text


def test_without_a_claim_in_context_the_encounter_or_a_list_picks_it(env) -> None:
    auth, service, _tmp, fhir = env
    load_claim(fhir)
    stored = fhir.read("Claim", "c1")
    assert stored is not None
    stored["item"][0]["encounter"] = [{"reference": "Encounter/e1"}]
    fhir.load(
        [
            {
                "resourceType": "Encounter",
                "id": "e1",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": "Patient/p1"},
            },
            stored,
        ]
    )
    _, by_encounter = open_app(ehr_launch(auth, service, encounter="e1"))
    assert by_encounter.status_code == 200 and "Claim/c1" in by_encounter.text
    assert 'data-rule="T97012-UNITS-ONE"' in by_encounter.text
    _, chooser = open_app(ehr_launch(auth, service, need_patient_banner=False))
    assert chooser.status_code == 200 and "Choose the claim to review" in chooser.text
    assert "/app/?claim=Claim/c1" in chooser.text.replace("%2F", "/")
    assert "Delgado" not in chooser.text  # need_patient_banner=false: no banner
