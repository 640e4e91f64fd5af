"""#17 done-when: the service as a real process, JWT on, configured with documented settings
only (`TRACTION_TRUSTED_ISSUERS=[{"iss", "jwks_file"}]`, `TRACTION_CORS_ORIGINS`, and
`TRACTION_FHIR_ALLOWED_HTTP_HOSTS` for the loopback FHIR server), driven by
requests shaped exactly like the CDS Hooks Sandbox's (tests/fixtures/hooks/sandbox: the same
JWT header with its `kid` and `jku`, the same claims, `iat` a second ahead, the same bodies,
CORS preflights from its origin), with a real loopback FHIR server as `fhirServer`.

The sandbox's private key is not ours, so its public JWKS is stood in for by a real ES384 key
of ours under the sandbox's `kid`; `test_security` verifies the sandbox's own captured tokens
against its real JWKS with the same issuer setting.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cds_hooks.card_validator import response_problems
from tests.cds_hooks.conftest import HOOKS, SIGN, load, traction_order
from tests.e2e.test_fhir_fallback import ehr_resources
from tests.plugin.test_prefetch_tokens import echoed_empty_bundle
from tests.support.fhir_server import FhirServer
from tests.support.service import Service, start_service

pytestmark = pytest.mark.e2e
CAPTURES = HOOKS / "sandbox"
ORIGIN = "http://127.0.0.1:8080"
SELECT_ID = "traction-97012-order-select"


def capture(name: str) -> dict[str, Any]:
    return load(CAPTURES / f"{name}.json")


@pytest.fixture(scope="module")
def sandbox_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, sandbox_key) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("sandbox")
    (published,) = load(CAPTURES / "sandbox-public-jwks.json")["keys"]
    ours = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(sandbox_key.public_key()))
    (tmp / "sandbox-jwks.json").write_text(
        json.dumps({"keys": [{**ours, **{k: published[k] for k in ("kid", "use", "alg")}}]})
    )
    issuers = [
        {"iss": "https://sandbox.cds-hooks.org", "jwks_file": str(tmp / "sandbox-jwks.json")}
    ]
    (tmp / "issuers.json").write_text(json.dumps(issuers))
    running = start_service(
        tmp,
        {
            "TRACTION_AUTH_MODE": "jwt",
            "TRACTION_TRUSTED_ISSUERS": str(tmp / "issuers.json"),
            "TRACTION_CORS_ORIGINS": ORIGIN,
            # The FHIR server is on loopback here; in jwt mode loopback and private addresses
            # are refused unless allowlisted (#21 item 6), as a hospital's internal server is.
            "TRACTION_FHIR_ALLOWED_HTTP_HOSTS": "127.0.0.1",
        },
    )
    try:
        yield running
    finally:
        running.stop()


def sandbox_token(key: Any, url: str, template: str = "cds-services.1") -> str:
    """The sandbox's JWT for `url`: its header (alg, typ, kid, jku) and claims, fresh times."""
    shape = capture(template)
    now = int(time.time())
    claims = {**shape["jwt_claims"], "aud": url, "iat": now + 1, "exp": now + 301}
    claims["jti"] = str(uuid.uuid4())
    headers = {k: v for k, v in shape["jwt_header"].items() if k != "alg"}
    return jwt.encode(claims, key, algorithm=shape["jwt_header"]["alg"], headers=headers)


def call(service: Service, key: Any, method: str, path: str, body: Any = None) -> httpx.Response:
    url = service.base_url + path
    preflight = httpx.options(
        url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    headers = {"Authorization": f"Bearer {sandbox_token(key, url)}", "Origin": ORIGIN}
    response = httpx.request(method, url, json=body, headers=headers)
    assert response.headers.get("access-control-allow-origin") == ORIGIN
    return response


def body_of(name: str, fhir: FhirServer) -> dict[str, Any]:
    body = copy.deepcopy(capture(name)["body"])
    body["fhirServer"] = fhir.base_url
    return body


def test_discovery_with_the_sandbox_jwt_and_jku(service, sandbox_key) -> None:
    jku = capture("cds-services.1")["jwt_header"]["jku"]
    assert jku == "https://sandbox.cds-hooks.org/.well-known/jwks.json"
    response = call(service, sandbox_key, "GET", "/cds-services")
    assert response.status_code == 200, response.text
    assert SIGN in {s["id"] for s in response.json()["services"]}


def test_a_token_of_another_key_under_the_sandbox_kid_is_still_refused(service) -> None:
    forged = ec.generate_private_key(ec.SECP384R1())
    response = call(service, forged, "GET", "/cds-services")
    assert response.status_code == 401 and "signature" in response.text


def test_sandbox_order_select_and_order_sign_are_answered(service, sandbox_key, fresh_fhir) -> None:
    fresh_fhir.load(ehr_resources())
    select = call(
        service,
        sandbox_key,
        "POST",
        f"/cds-services/{SELECT_ID}",
        body_of("cds-services__traction-order-select.1", fresh_fhir),
    )
    assert select.status_code == 200, select.text
    assert response_problems(select.json()) == []
    sign = call(
        service,
        sandbox_key,
        "POST",
        f"/cds-services/{SIGN}",
        body_of("cds-services__traction-order-sign.2", fresh_fhir),
    )
    assert sign.status_code == 200 and sign.json() == {"cards": []}  # an aspirin order


def test_a_sandbox_traction_order_gets_its_card_and_feedback_is_stored(
    service, sandbox_key, fresh_fhir
) -> None:
    """The sandbox's order-sign with a 97012 order for 2 units, no encounterId and `claims`
    prefetched with the token left in: the order is judged, the echoed search is set aside
    (the log says so), the card's feedback (the sandbox's shape) is accepted."""
    fresh_fhir.load(ehr_resources())
    body = body_of("cds-services__traction-order-sign.2", fresh_fhir)
    order = traction_order(quantity=2)
    order["subject"] = {"reference": "Patient/pat-1"}
    body["context"]["patientId"] = "pat-1"
    body["context"]["draftOrders"]["entry"].append({"resource": order})
    body["prefetch"]["claims"] = echoed_empty_bundle()
    response = call(service, sandbox_key, "POST", f"/cds-services/{SIGN}", body)
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    assert response_problems(response.json()) == []
    assert "prefetch_ignored" in service.log() and "context.encounterId" in service.log()
    assert any(r.target.startswith("Coverage?patient=pat-1") for r in fresh_fhir.requests())

    feedback = copy.deepcopy(capture("cds-services__traction-order-sign__feedback.1")["body"])
    feedback["feedback"][0]["card"] = card["uuid"]
    feedback["feedback"][0]["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    stored = call(service, sandbox_key, "POST", f"/cds-services/{SIGN}/feedback", feedback)
    assert stored.status_code == 200, stored.text


def test_the_sandbox_with_nothing_to_read_gets_a_412_not_an_all_clear(service, sandbox_key) -> None:
    body = copy.deepcopy(capture("cds-services__traction-order-sign.2")["body"])
    body.pop("fhirServer")
    body["prefetch"] = {"patient": body["prefetch"]["patient"]}
    body["context"]["draftOrders"]["entry"].append({"resource": traction_order()})
    response = call(service, sandbox_key, "POST", f"/cds-services/{SIGN}", body)
    assert response.status_code == 412
    assert "Coverage could not be read" in response.json()["issue"][0]["diagnostics"]
