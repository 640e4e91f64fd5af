"""Order-sign against a real FHIR server on loopback (@medplum/fhir-router): no prefetch, the
service reads the encounter's Claims, Coverage and PractitionerRole itself with the bearer token;
with client-filled prefetch it makes no FHIR call at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_hooks.app import create_app
from cds_hooks.settings import Settings
from tests.cds_hooks.card_validator import response_problems
from tests.cds_hooks.conftest import SIGN, bundle_resources, hook_body, seed_bundle, traction_order
from tests.support.fhir_server import FhirServer

pytestmark = pytest.mark.e2e
TOKEN = "ehr-access-token-0f3c"


def ehr_resources() -> list[dict[str, Any]]:
    bundle = seed_bundle()
    found = bundle_resources(bundle)
    claim = found["Claim"][0]
    for item in claim["item"]:
        item["encounter"] = [{"reference": "Encounter/enc-1"}]
    role = {
        "resourceType": "PractitionerRole",
        "id": "role-ana",
        "practitioner": {"reference": "Practitioner/pt-ana"},
        "specialty": [
            {"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "225100000X"}]}
        ],
    }
    patient = {"resourceType": "Patient", "id": "pat-1"}
    return [patient, *found["Encounter"], *found["Coverage"], claim, role]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        auth_mode="off",
        public_base_url="http://testserver",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/f.db",
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def call(client: TestClient, fhir: FhirServer, prefetch: dict | None = None) -> dict:
    body = hook_body(encounter_id="enc-1")
    body["context"]["userId"] = "PractitionerRole/role-ana"
    body["fhirServer"] = fhir.base_url
    body["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Claim.rs",
        "subject": "traction-cds",
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    response = client.post(f"/cds-services/{SIGN}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_order_sign_reads_the_fhir_server_and_finds_the_ncci_fix(client, fresh_fhir) -> None:
    fresh_fhir.load(ehr_resources())
    fresh_fhir.configure(required_token=TOKEN)
    body = call(client, fresh_fhir)
    assert response_problems(body) == []
    (card,) = body["cards"]
    claim = card["suggestions"][0]["actions"][0]["resource"]
    assert [m["coding"][0]["code"] for m in claim["item"][2]["modifier"]] == ["GP", "XS"]
    targets = sorted(r.target for r in fresh_fhir.requests())
    assert any(t.startswith("Claim?encounter=enc-1") for t in targets)
    assert any(t.startswith("Coverage?patient=pat-1") for t in targets)
    assert any(t.startswith("PractitionerRole?_id=role-ana") for t in targets)
    assert all(r.bearer for r in fresh_fhir.requests())


def test_full_prefetch_makes_no_fhir_call(client, fresh_fhir) -> None:
    resources = ehr_resources()
    by_type = {r["resourceType"]: r for r in resources}
    prefetch = {
        "encounter": by_type["Encounter"],
        "claims": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": by_type["Claim"]}],
        },
        "coverage": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": by_type["Coverage"]}],
        },
        "practitionerRole": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": by_type["PractitionerRole"]}],
        },
    }
    body = call(client, fresh_fhir, prefetch)
    assert "XS" in body["cards"][0]["summary"]
    assert fresh_fhir.requests() == []


def test_a_wrong_token_means_no_claims_and_412(client, fresh_fhir) -> None:
    fresh_fhir.load(ehr_resources())
    fresh_fhir.configure(required_token="another-token")
    body = hook_body("encounter-discharge", encounter_id="enc-1")
    body["fhirServer"] = fresh_fhir.base_url
    body["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "x",
        "subject": "y",
    }
    response = client.post("/cds-services/traction-97012-encounter-discharge", json=body)
    assert response.status_code == 412
    assert TOKEN not in response.text


@pytest.mark.parametrize("hook", ["order-sign", "encounter-discharge"])
def test_a_rejected_fhir_token_is_a_412_that_says_401_not_an_empty_all_clear(
    client, fresh_fhir, hook: str
) -> None:
    """#17.3: every read answered 401; a 97012 order-sign answered `200 {"cards": []}` and the
    discharge's 412 said the FHIR server "did not answer"."""
    fresh_fhir.load(ehr_resources())
    fresh_fhir.configure(required_token="another-token")
    orders = [traction_order()] if hook == "order-sign" else None
    body = hook_body(hook, draft_orders=orders, encounter_id="enc-1")
    body["fhirServer"] = fresh_fhir.base_url
    body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer"}
    service = SIGN if hook == "order-sign" else "traction-97012-encounter-discharge"
    response = client.post(f"/cds-services/{service}", json=body)
    assert response.status_code == 412
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "Claims could not be read (FHIR server answered 401)" in diagnostics
    assert TOKEN not in response.text
    assert {r.status for r in fresh_fhir.requests()} == {401}
