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
