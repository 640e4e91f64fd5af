"""`POST /fhir/Claim/$check`: Parameters with an OperationOutcome per claim and the corrected Claim."""

from __future__ import annotations

from tests.cds_hooks.conftest import load, seed_bundle
from tests.support.claims import claim_file


def params(body: dict) -> list[tuple[str, dict]]:
    return [(p["name"], p.get("resource", p)) for p in body["parameter"]]


def test_check_a_bundle(client) -> None:
    response = client.post("/fhir/Claim/$check", json=seed_bundle())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "Parameters"
    (outcome_name, outcome), (claim_name, claim), (clean_name, clean), (status_name, status) = (
        params(body)
    )
    assert (outcome_name, claim_name, clean_name) == ("outcome", "correctedClaim", "clean")
    assert (status_name, status["valueCode"]) == ("status", "findings")
    (issue,) = outcome["issue"]
    assert issue["severity"] == "error" and issue["expression"] == ["Claim.item[2]"]
    assert issue["details"]["coding"][0]["code"] == "NCCI-PTP-MOD-MISSING"
    assert claim["resourceType"] == "Claim" and clean["valueBoolean"] is False


def test_check_a_clean_bundle(client) -> None:
    bundle = load(claim_file("01-medicare-pt-clean-97012-97110.bundle.json"))
    body = client.post("/fhir/Claim/$check", json=bundle).json()
    outcome = body["parameter"][0]["resource"]
    assert outcome["issue"][0]["severity"] == "information"
    assert body["parameter"][2]["valueBoolean"] is True
    assert body["parameter"][3]["valueCode"] == "clean"


def test_a_bare_claim_whose_coverage_does_not_resolve_is_incomplete_not_clean(client) -> None:
    """Issue #15: without its Bundle the payer is unknown; say so, never "clean"."""
    claim = load(claim_file("01-medicare-pt-clean-97012-97110.bundle.json"))["entry"][0]["resource"]
    body = client.post("/fhir/Claim/$check", json=claim).json()
    outcome = body["parameter"][0]["resource"]
    assert body["parameter"][2]["valueBoolean"] is False
    assert body["parameter"][3]["valueCode"] == "incomplete"
    issue = outcome["issue"][0]
    assert (issue["severity"], issue["code"]) == ("warning", "incomplete")
    assert issue["diagnostics"].startswith("Could not check: the Coverage")


def test_out_of_scope_claim_is_information_not_an_error(client) -> None:
    bundle = load(claim_file("44-preauthorization-97012-x3.bundle.json"))
    body = client.post("/fhir/Claim/$check", json=bundle).json()
    (issue,) = body["parameter"][0]["resource"]["issue"]
    assert (issue["severity"], issue["code"]) == ("information", "not-supported")
    assert body["parameter"][3]["valueCode"] == "out-of-scope"


def test_check_accepts_parameters_in(client) -> None:
    claim = seed_bundle()["entry"][0]["resource"]
    request = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": claim}]}
    assert client.post("/fhir/Claim/$check", json=request).status_code == 200


def test_invalid_claim_is_400_with_the_path(client) -> None:
    claim = seed_bundle()["entry"][0]["resource"]
    claim["item"][1]["quantity"]["value"] = "two"
    response = client.post("/fhir/Claim/$check", json=claim)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Claim.item[1].quantity.value"]


def test_not_a_claim_is_400(client) -> None:
    response = client.post("/fhir/Claim/$check", json={"resourceType": "Patient", "id": "p"})
    assert response.status_code == 400
