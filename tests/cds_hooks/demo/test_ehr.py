"""The demo EHR stand-in in-process: its FHIR reads, searches and If-Match updates, the SMART
sign-in (launch, authorize, token with PKCE S256 and the client secret) and what it refuses."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from cds_hooks.demo.authorization import AccessToken, LaunchContext, granted_scope
from cds_hooks.demo.ehr import DemoEhrConfig, create_demo_ehr
from cds_hooks.demo.fhir_store import FhirStore
from cds_hooks.samples import SAMPLES
from plugin.smart.oauth import Pkce, basic_auth

SERVICE = "http://127.0.0.1:8000"
EHR = "http://127.0.0.1:8001"
SECRET = "demo-secret-" + secrets.token_urlsafe(8)
CONFIG = DemoEhrConfig(base_url=EHR, service_url=SERVICE, client_secret=SECRET)
REDIRECT = f"{SERVICE}/smart/callback"
SCOPES = "launch openid fhirUser patient/Claim.rs patient/Coverage.r patient/Patient.r"


@pytest.fixture
def ehr() -> TestClient:
    return TestClient(create_demo_ehr(CONFIG), base_url=EHR, follow_redirects=False)


def launch(ehr: TestClient, claim: str = "Claim/c08", hook: str = "hook-1") -> str:
    app_context = json.dumps({"claim": claim, "hookInstance": hook})
    answer = ehr.get(
        "/launch", params={"app": f"{SERVICE}/smart/launch", "appContext": app_context}
    )
    assert answer.status_code == 302, answer.text
    target = urlsplit(answer.headers["location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{SERVICE}/smart/launch"
    assert query["iss"] == [CONFIG.iss]
    return query["launch"][0]


def authorize_query(pkce: Pkce, launch_id: str | None, scope: str = SCOPES, **over: str) -> str:
    params = {
        "response_type": "code",
        "client_id": CONFIG.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "state-1",
        "aud": CONFIG.iss,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **({"launch": launch_id} if launch_id else {}),
        **over,
    }
    return "/authorize?" + urlencode(params)


def sign_in(ehr: TestClient, pkce: Pkce, launch_id: str | None, scope: str = SCOPES) -> str:
    """The sign-in page, Allow, and back to the app's redirect_uri: the code."""
    page = ehr.get(authorize_query(pkce, launch_id, scope))
    assert page.status_code == 200, page.text
    assert "Demo EHR" in page.text and "not a real one" in page.text
    request_id = re.search(r'name="request" value="([^"]+)"', page.text)
    assert request_id
    back = ehr.post("/authorize", data={"request": request_id.group(1), "decision": "allow"})
    assert back.status_code == 303
    target = urlsplit(back.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
    query = parse_qs(target.query)
    assert query["state"] == ["state-1"]
    return query["code"][0]


def exchange(ehr: TestClient, code: str, verifier: str, secret: str = SECRET) -> Any:
    return ehr.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers={"Authorization": basic_auth(CONFIG.client_id, secret)},
    )


def token_for(ehr: TestClient, scope: str = SCOPES, claim: str = "Claim/c08") -> dict[str, Any]:
    pkce = Pkce.new()
    code = sign_in(ehr, pkce, launch(ehr, claim), scope)
    answer = exchange(ehr, code, pkce.verifier)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


# -- discovery -------------------------------------------------------------------------------
def test_metadata_names_the_oauth_endpoints_without_a_token(ehr: TestClient) -> None:
    answer = ehr.get("/fhir/metadata")
    assert answer.status_code == 200
    statement = answer.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    (security,) = statement["rest"][0]["security"]["extension"]
    assert security["url"].endswith("/oauth-uris")
    uris = {e["url"]: e["valueUri"] for e in security["extension"]}
    assert uris == {"authorize": f"{EHR}/authorize", "token": f"{EHR}/token"}


def test_smart_configuration_offers_pkce_s256_only(ehr: TestClient) -> None:
    config = ehr.get("/fhir/.well-known/smart-configuration").json()
    assert config["authorization_endpoint"] == f"{EHR}/authorize"
    assert config["token_endpoint"] == f"{EHR}/token"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert "launch-ehr" in config["capabilities"]


# -- the sign-in -----------------------------------------------------------------------------
def test_token_carries_the_launch_context(ehr: TestClient) -> None:
    token = token_for(ehr)
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    assert token["patient"] == "pat-1"
    assert token["encounter"] == "enc-1"
    assert json.loads(token["appContext"]) == {"claim": "Claim/c08", "hookInstance": "hook-1"}
    assert token["fhirContext"] == [{"reference": "Claim/c08"}]
    # Asked for openid fhirUser, but no id_token is issued, so they are not granted.
    assert token["scope"].split() == [
        "launch",
        "patient/Claim.rs",
        "patient/Coverage.r",
        "patient/Patient.r",
    ]


def test_wrong_pkce_verifier_is_refused_and_burns_the_code(ehr: TestClient) -> None:
    pkce = Pkce.new()
    code = sign_in(ehr, pkce, launch(ehr))
    wrong = exchange(ehr, code, Pkce.new().verifier)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert "PKCE" in wrong.json()["error_description"]
    again = exchange(ehr, code, pkce.verifier)
    assert again.status_code == 400  # a code is good for one try


def test_wrong_client_secret_is_refused(ehr: TestClient) -> None:
    pkce = Pkce.new()
    code = sign_in(ehr, pkce, launch(ehr))
    answer = exchange(ehr, code, pkce.verifier, secret="not-the-secret")
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_client_secret_post_is_accepted(ehr: TestClient) -> None:
    pkce = Pkce.new()
    code = sign_in(ehr, pkce, launch(ehr))
    answer = ehr.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": pkce.verifier,
            "client_id": CONFIG.client_id,
            "client_secret": SECRET,
        },
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"redirect_uri": "http://127.0.0.1:9/steal"}, "redirect_uri"),
        ({"redirect_uri": "https://evil.example/smart/callback"}, "redirect_uri"),
        ({"redirect_uri": "//evil.example/smart/callback"}, "redirect_uri"),
        ({"redirect_uri": "http://127.0.0.1:8000@evil.example/smart/callback"}, "redirect_uri"),
        ({"redirect_uri": f"{REDIRECT}/../../x"}, "redirect_uri"),
        ({"redirect_uri": f"{REDIRECT}?next=https://evil.example"}, "redirect_uri"),
        ({"redirect_uri": REDIRECT.upper()}, "redirect_uri"),
        ({"code_challenge_method": "plain"}, "PKCE"),
        ({"client_id": "someone-else"}, "client_id"),
        ({"aud": "http://127.0.0.1:9/fhir"}, "aud"),
        ({"launch": "made-up"}, "launch"),
    ],
)
def test_authorize_refuses_a_bad_request_on_its_own_page(
    ehr: TestClient, change: dict[str, str], says: str
) -> None:
    answer = ehr.get(authorize_query(Pkce.new(), launch(ehr), **change))
    assert answer.status_code == 400
    assert says in answer.text and "location" not in answer.headers


def test_a_launch_id_opens_one_sign_in(ehr: TestClient) -> None:
    launch_id = launch(ehr)
    sign_in(ehr, Pkce.new(), launch_id)
    page = ehr.get(authorize_query(Pkce.new(), launch_id))
    assert page.status_code == 400 and "launch" in page.text


def test_two_tabs_on_one_launch_get_one_code(ehr: TestClient) -> None:
    launch_id = launch(ehr)
    ids = []
    for _ in range(2):
        page = ehr.get(authorize_query(Pkce.new(), launch_id))
        found = re.search(r'name="request" value="([^"]+)"', page.text)
        assert found
        ids.append(found.group(1))
    first = ehr.post("/authorize", data={"request": ids[0], "decision": "allow"})
    assert first.status_code == 303 and "code=" in first.headers["location"]
    second = ehr.post("/authorize", data={"request": ids[1], "decision": "allow"})
    assert second.status_code == 400 and "location" not in second.headers
    assert "already used" in second.text


@pytest.mark.parametrize(
    "app",
    [
        "https://evil.example/smart/launch",
        f"//evil.example{SERVICE[len('http://127.0.0.1:8000') :]}/smart/launch",
        "http://127.0.0.1:8000@evil.example/smart/launch",
        "http://127.0.0.1:8000.evil.example/smart/launch",
        "javascript:alert(1)",
        "",
    ],
)
def test_launch_redirects_only_to_the_services_launch_url(ehr: TestClient, app: str) -> None:
    answer = ehr.get("/launch", params={"app": app, "appContext": '{"claim":"Claim/c08"}'})
    assert answer.status_code == 400 and "location" not in answer.headers
    ok = ehr.get("/launch", params={"app": f"{SERVICE}/smart/launch?x=https://evil.example/"})
    assert urlsplit(ok.headers["location"]).netloc == "127.0.0.1:8000"
    assert "evil" not in ok.headers["location"]


def test_deny_goes_back_with_access_denied(ehr: TestClient) -> None:
    page = ehr.get(authorize_query(Pkce.new(), launch(ehr)))
    request_id = re.search(r'name="request" value="([^"]+)"', page.text)
    assert request_id
    back = ehr.post("/authorize", data={"request": request_id.group(1), "decision": "deny"})
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query["error"] == ["access_denied"] and "code" not in query


def test_standalone_sign_in_gets_the_demo_patient(ehr: TestClient) -> None:
    pkce = Pkce.new()
    code = sign_in(ehr, pkce, None, "launch/patient patient/Claim.rs")
    token = exchange(ehr, code, pkce.verifier).json()
    assert token["patient"] == "pat-1" and "appContext" not in token


def test_launch_refuses_another_app_and_unknown_claims(ehr: TestClient) -> None:
    other = ehr.get("/launch", params={"app": "https://evil.example/launch", "appContext": "{}"})
    assert other.status_code == 400 and "location" not in other.headers
    unknown = ehr.get(
        "/launch",
        params={"app": f"{SERVICE}/smart/launch", "appContext": '{"claim":"Claim/nope"}'},
    )
    assert unknown.status_code == 400 and "not in this demo EHR" in unknown.text


# -- FHIR ------------------------------------------------------------------------------------
def test_fhir_wants_a_token_from_this_ehr(ehr: TestClient) -> None:
    missing = ehr.get("/fhir/Claim/c08")
    assert missing.status_code == 401
    assert missing.json()["resourceType"] == "OperationOutcome"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    forged = ehr.get("/fhir/Claim/c08", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401
    assert ehr.get("/fhir/Claim", params={"patient": "pat-1"}).status_code == 401


def test_read_and_update_with_if_match(ehr: TestClient) -> None:
    token = token_for(ehr, SCOPES + " patient/Claim.u")
    read = ehr.get("/fhir/Claim/c08", headers=bearer(token))
    assert read.status_code == 200
    assert read.headers["etag"] == 'W/"1"'
    assert read.headers["content-type"].startswith("application/fhir+json")
    claim = read.json()
    claim["item"][2]["modifier"].append({"coding": [{"code": "XS"}]})
    saved = ehr.put("/fhir/Claim/c08", json=claim, headers={**bearer(token), "If-Match": 'W/"1"'})
    assert saved.status_code == 200, saved.text
    assert saved.headers["etag"] == 'W/"2"' and saved.json()["meta"]["versionId"] == "2"
    stale = ehr.put("/fhir/Claim/c08", json=claim, headers={**bearer(token), "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["code"] == "conflict"
    after = ehr.get("/fhir/Claim/c08", headers=bearer(token)).json()
    assert after["meta"]["versionId"] == "2"
    assert after["item"][2]["modifier"][-1]["coding"][0]["code"] == "XS"


def test_update_needs_the_write_scope_and_a_matching_body(ehr: TestClient) -> None:
    reader = token_for(ehr)
    claim = ehr.get("/fhir/Claim/c08", headers=bearer(reader)).json()
    assert ehr.put("/fhir/Claim/c08", json=claim, headers=bearer(reader)).status_code == 403
    writer = token_for(ehr, SCOPES + " patient/Claim.u")
    wrong_id = ehr.put("/fhir/Claim/c01", json=claim, headers=bearer(writer))
    assert wrong_id.status_code == 400
    created = ehr.put("/fhir/Claim/new", json={**claim, "id": "new"}, headers=bearer(writer))
    assert created.status_code == 405
    garbage = ehr.put("/fhir/Claim/c08", content=b"{not json", headers=bearer(writer))
    assert garbage.status_code == 400


def test_searches_the_service_and_the_review_app_make(ehr: TestClient) -> None:
    token = token_for(ehr, SCOPES + " patient/Coverage.rs")
    headers = bearer(token)
    assert ehr.get("/fhir/Coverage", headers=bearer(token_for(ehr))).status_code == 403

    def ids(path: str, **params: str) -> list[str]:
        bundle = ehr.get(path, params=params, headers=headers).json()
        assert bundle["type"] == "searchset"
        return sorted(e["resource"]["id"] for e in bundle["entry"])

    assert ids("/fhir/Claim", encounter="enc-1", _count="50") == ["c08"]
    assert ids("/fhir/Claim", encounter="Encounter/enc-1-clean") == ["c01"]
    assert ids("/fhir/Claim", patient="pat-1") == ["c01", "c02", "c08", "c11", "c26"]
    assert ids("/fhir/Coverage", patient="pat-1", status="active") == ["cov-1"]
    patient = ehr.get("/fhir/Patient/pat-1", headers=headers).json()
    assert "synthetic" in patient["name"][0]["family"]
    assert ehr.get("/fhir/Patient/nobody", headers=headers).status_code == 404
    assert ehr.get("/fhir/Observation/x", headers=headers).status_code == 404


# -- the data and the pages --------------------------------------------------------------------
def test_every_sample_is_loaded_with_unique_ids() -> None:
    store = FhirStore.with_samples()
    assert [c.sample.key for c in store.claims] == [s.key for s in SAMPLES]
    # Two samples bring a different Encounter/enc-1: the second is renamed, references follow.
    assert store.read("Encounter", "enc-1") is not None
    renamed = store.read("Encounter", "enc-1-clean")
    assert renamed is not None and renamed["period"]["start"].startswith("2025-03-11")
    assert store.claim_encounter == {"c08": "enc-1", "c01": "enc-1-clean"}
    for demo in store.claims:
        claim = store.read("Claim", demo.claim_id)
        assert claim is not None
        coverage = claim["insurance"][0]["coverage"]["reference"]
        assert store.read(*coverage.split("/")) is not None


def test_home_lists_each_sample_with_its_playground_and_launch(ehr: TestClient) -> None:
    home = ehr.get("/")
    assert home.status_code == 200
    assert "not a real one" in home.text and "traction-cds demo" in home.text
    for sample in SAMPLES:
        assert f"{SERVICE}/playground?sample={sample.key}" in home.text
        assert sample.title in home.text
    assert CONFIG.launch_url("c08").replace("&", "&amp;") in home.text
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]


def test_scopes_v1_and_v2() -> None:
    context = LaunchContext(patient="pat-1")
    v2 = AccessToken("patient/Claim.rs patient/Claim.u", context, 0)
    assert v2.allows("Claim", "r") and v2.allows("Claim", "u") and not v2.allows("Claim", "d")
    v1 = AccessToken("patient/*.read", context, 0)
    assert v1.allows("Coverage", "s") and not v1.allows("Claim", "u")
    assert granted_scope("openid launch user/Claim.r patient/Claim.rs") == "launch patient/Claim.rs"


def test_expired_codes_and_tokens_are_refused_and_forgotten(ehr: TestClient) -> None:
    token = token_for(ehr)
    pkce = Pkce.new()
    code = sign_in(ehr, pkce, launch(ehr))
    auth = ehr.app.state.ehr.auth  # type: ignore[attr-defined]
    later = time.time() + 2 * 3600
    auth.clock = lambda: later
    assert exchange(ehr, code, pkce.verifier).status_code == 400
    assert ehr.get("/fhir/Claim/c08", headers=bearer(token)).status_code == 401
    launch(ehr)  # a new launch sweeps what has expired
    assert len(auth.tokens) == 0 and len(auth.grants) == 0 and len(auth.launches) == 1


def test_a_token_sees_only_its_patients_compartment() -> None:
    store = FhirStore.with_samples()
    store.put({"resourceType": "Patient", "id": "pat-2"})
    other = {
        "resourceType": "Claim",
        "id": "other",
        "status": "active",
        "patient": {"reference": "Patient/pat-2"},
    }
    store.put(other)
    ehr = TestClient(create_demo_ehr(CONFIG, store), base_url=EHR, follow_redirects=False)
    token = token_for(ehr, SCOPES + " patient/Claim.u")
    assert token["patient"] == "pat-1"
    assert ehr.get("/fhir/Claim/other", headers=bearer(token)).status_code == 404
    assert ehr.get("/fhir/Patient/pat-2", headers=bearer(token)).status_code == 404
    found = ehr.get("/fhir/Claim", params={"patient": "pat-2"}, headers=bearer(token)).json()
    assert found["total"] == 0
    everything = ehr.get("/fhir/Claim", headers=bearer(token)).json()
    assert "other" not in {e["resource"]["id"] for e in everything["entry"]}
    put = ehr.put("/fhir/Claim/other", json={**other, "status": "cancelled"}, headers=bearer(token))
    assert put.status_code == 404
    assert store.read("Claim", "other")["status"] == "active"  # type: ignore[index]
