"""The service as an EHR meets it: a real `traction-cds serve` process on loopback."""

from __future__ import annotations

import httpx
import pytest

from tests.cds_hooks.card_validator import response_problems
from tests.cds_hooks.conftest import SIGN, hook_body, seed_bundle
from tests.support.service import Service

pytestmark = pytest.mark.e2e


def test_seed_denial_over_real_http(live_service: Service) -> None:
    services = httpx.get(f"{live_service.base_url}/cds-services").json()["services"]
    assert SIGN in {s["id"] for s in services}
    response = httpx.post(
        f"{live_service.base_url}/cds-services/{SIGN}",
        json=hook_body(claims_bundle=seed_bundle()),
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    assert response_problems(body) == []
    assert "XS" in body["cards"][0]["summary"]


def test_rule_page_is_served(live_service: Service) -> None:
    page = httpx.get(f"{live_service.base_url}/rules/NCCI-PTP-MOD-MISSING")
    assert page.status_code == 200 and "column 2" in page.text


def test_logs_carry_no_claim_data(live_service: Service) -> None:
    bundle = seed_bundle()
    bundle["entry"][0]["resource"]["patient"] = {
        "reference": "Patient/pat-1",
        "display": "Zelda Quixote",
    }
    httpx.post(
        f"{live_service.base_url}/cds-services/{SIGN}",
        json=hook_body(claims_bundle=bundle),
        timeout=10,
    )
    assert "Zelda" not in live_service.log() and "M51.16" not in live_service.log()


PLANTED = [
    "Zelda Quixote",
    "1931-02-03",
    "MRN-778812",
    "ehr-secret-token-9931",
    "unhappy with her neighbour",
]


def test_planted_phi_and_tokens_never_reach_logs_or_error_bodies(live_service: Service) -> None:
    bundle = seed_bundle()
    claim = bundle["entry"][0]["resource"]
    claim["patient"] = {"reference": "Patient/pat-1", "display": PLANTED[0]}
    claim["identifier"] = [{"system": "urn:mrn", "value": PLANTED[2]}]
    patient = {
        "resourceType": "Patient",
        "id": "pat-1",
        "birthDate": PLANTED[1],
        "name": [{"text": PLANTED[0]}],
        "identifier": [{"value": PLANTED[2]}],
    }
    body = hook_body(claims_bundle=bundle)
    body["prefetch"]["patient"] = patient
    body["fhirServer"] = "http://127.0.0.1:9"  # nothing listens: the fallback fails
    body["fhirAuthorization"] = {
        "access_token": PLANTED[3],
        "token_type": "Bearer",
        "expires_in": 60,
        "scope": "x",
        "subject": "y",
    }
    del body["prefetch"]["coverage"]
    responses = [httpx.post(f"{live_service.base_url}/cds-services/{SIGN}", json=body, timeout=10)]
    broken = hook_body(claims_bundle=bundle)
    broken["prefetch"]["claims"]["entry"][0]["resource"]["item"][0]["quantity"] = {
        "value": PLANTED[4]
    }
    responses.append(
        httpx.post(f"{live_service.base_url}/cds-services/{SIGN}", json=broken, timeout=10)
    )
    feedback = {
        "feedback": [
            {
                "card": "c",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-26T10:00:00Z",
                "overrideReason": {"userComment": PLANTED[4]},
            }
        ]
    }
    responses.append(
        httpx.post(
            f"{live_service.base_url}/cds-services/{SIGN}/feedback", json=feedback, timeout=10
        )
    )
    assert [r.status_code for r in responses] == [200, 400, 200]
    log = live_service.log()
    assert '"event": "hook answered"' in log
    for secret in PLANTED:
        assert secret not in log
        assert all(secret not in r.text for r in responses[1:])
