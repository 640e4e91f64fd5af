"""Hook calls: conformance to CDS Hooks 2.0, the seed denial's card, errors as OperationOutcomes."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from tests.cds_hooks.card_validator import response_problems
from tests.cds_hooks.conftest import (
    DISCHARGE,
    HOOKS,
    SELECT,
    SIGN,
    hook_body,
    load,
    seed_bundle,
    traction_order,
)
from tests.support.claims import bundle_files, claim_file, expected_file


def post(client, service: str, body) -> tuple[int, dict]:
    response = client.post(f"/cds-services/{service}", json=body)
    return response.status_code, response.json()


def test_seed_denial_gets_one_warning_card_with_the_corrected_claim(client) -> None:
    status, body = post(client, SIGN, hook_body(claims_bundle=seed_bundle()))
    assert status == 200 and response_problems(body) == []
    (card,) = body["cards"]
    assert card["indicator"] == "warning"
    assert "97140" in card["summary"] and "XS" in card["summary"]
    (suggestion,) = card["suggestions"]
    assert suggestion["isRecommended"] is True
    (action,) = suggestion["actions"]
    claim = action["resource"]
    assert action["type"] == "update" and claim["id"] == "c08"
    codes = [m["coding"][0]["code"] for m in claim["item"][2]["modifier"]]
    assert codes == ["GP", "XS"]
    smart = next(link for link in card["links"] if link["type"] == "smart")
    assert json.loads(smart["appContext"])["claim"] == "Claim/c08"
    assert any(link["url"].endswith("/rules/NCCI-PTP-MOD-MISSING") for link in card["links"])


@pytest.mark.parametrize("fixture", [p.name for p in bundle_files()])
@pytest.mark.parametrize("service", [SIGN, DISCHARGE])
def test_every_fixture_gives_valid_cards(client, fixture: str, service: str) -> None:
    hook = "order-sign" if service == SIGN else "encounter-discharge"
    status, body = post(client, service, hook_body(hook, load(claim_file(fixture))))
    assert status == 200 and response_problems(body) == []
    expected = load(expected_file(fixture))["expected"]
    if expected["clean"]:
        assert [c for c in body["cards"] if c["indicator"] == "warning"] == []


def test_clean_claim_at_discharge_gets_no_card(client) -> None:
    bundle = load(claim_file("01-medicare-pt-clean-97012-97110.bundle.json"))
    status, body = post(client, DISCHARGE, hook_body("encounter-discharge", bundle))
    assert status == 200 and body == {"cards": []}


def test_incomplete_therapy_claim_gets_a_could_not_check_info_card(client) -> None:
    """Silence reads as clean: an incomplete claim says what was not checked (issue #15)."""
    bundle = load(claim_file("48-code-9714O-beside-97012.bundle.json"))
    status, body = post(client, DISCHARGE, hook_body("encounter-discharge", bundle))
    assert status == 200 and response_problems(body) == []
    (card,) = body["cards"]
    assert card["indicator"] == "info"
    assert card["summary"] == "Could not check: '9714O' is not a CPT or HCPCS code we know"
    assert "line 2" in card["detail"]


def test_out_of_scope_claim_gets_no_card(client) -> None:
    bundle = load(claim_file("43-pharmacy-claim-rxnorm.bundle.json"))
    status, body = post(client, DISCHARGE, hook_body("encounter-discharge", bundle))
    assert status == 200 and body == {"cards": []}


def test_several_fixes_come_with_per_fix_suggestions(client) -> None:
    bundle = seed_bundle()
    claim = bundle["entry"][0]["resource"]
    claim["item"][0]["quantity"]["value"] = 2
    del claim["item"][0]["modifier"]
    _, body = post(client, SIGN, hook_body(claims_bundle=bundle))
    card = body["cards"][0]
    assert response_problems(body) == []
    assert len(card["suggestions"]) == 4  # all fixes + one per fix
    one = card["suggestions"][1]["actions"][0]["resource"]
    assert one["item"][0]["quantity"]["value"] != 1 or "modifier" not in one["item"][0]


def test_many_fixes_come_as_one_suggestion_so_the_answer_stays_linear(client) -> None:
    """Each per-fix suggestion carries a whole Claim: past a handful, only "apply all" (and the
    review app, to pick) is offered, or a long claim's answer grows with its square."""
    bundle = seed_bundle()
    claim = bundle["entry"][0]["resource"]
    template = claim["item"][0]
    claim["item"] = []
    for sequence in range(1, 13):  # 12 lines of 97012 without GP: 12 fixes
        item = json.loads(json.dumps(template))
        item["sequence"] = sequence
        item.pop("modifier", None)
        item["servicedDate"] = f"2025-06-{sequence:02d}"
        claim["item"].append(item)
    response = client.post(f"/cds-services/{SIGN}", json=hook_body(claims_bundle=bundle))
    body = response.json()
    assert response_problems(body) == []
    (card,) = [c for c in body["cards"] if c.get("suggestions")]
    (suggestion,) = card["suggestions"]
    assert suggestion["label"] == "Apply all fixes"
    fixed = suggestion["actions"][0]["resource"]["item"]
    assert all(any(c["code"] == "GP" for m in i["modifier"] for c in m["coding"]) for i in fixed)
    assert any(link["type"] == "smart" for link in card["links"])
    assert len(response.content) < 8 * len(json.dumps(claim))


def test_units_as_system_actions_when_configured(client) -> None:
    bundle = seed_bundle()
    bundle["entry"][0]["resource"]["item"][0]["quantity"]["value"] = 3
    request = hook_body(
        "encounter-discharge",
        bundle,
        extension={"traction-cds.configuration": {"auto-correct-units": True}},
    )
    _, body = post(client, DISCHARGE, request)
    assert response_problems(body) == []
    (action,) = body["systemActions"]
    assert action["resource"]["item"][0]["quantity"]["value"] == 1
    # Only the unit fix is applied by the system: 97140's missing XS stays for a person.
    assert (
        action["resource"]["item"][2]["modifier"]
        == bundle["entry"][0]["resource"]["item"][2]["modifier"]
    )
    without = post(client, DISCHARGE, hook_body("encounter-discharge", bundle))[1]
    assert "systemActions" not in without


def test_draft_traction_order_for_two_units_gets_guidance(client) -> None:
    bundle = seed_bundle()
    request = hook_body(claims_bundle=bundle, draft_orders=[traction_order(quantity=2)])
    status, body = post(client, SIGN, request)
    assert status == 200 and response_problems(body) == []
    order_card = next(c for c in body["cards"] if c["summary"].startswith("Traction order"))
    resource = order_card["suggestions"][0]["actions"][0]["resource"]
    assert (
        resource["resourceType"] == "ServiceRequest" and resource["quantityQuantity"]["value"] == 1
    )


def test_draft_order_via_crd_billing_options(client) -> None:
    order = traction_order(quantity=3)
    order["code"] = {
        "text": "Mechanical traction",
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-billing-options",
                "valueCodeableConcept": {
                    "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97012"}]
                },
            }
        ],
    }
    status, body = post(
        client, SELECT, hook_body("order-select", seed_bundle(), draft_orders=[order])
    )
    assert status == 200
    assert any(c["summary"].startswith("Traction order") for c in body["cards"])


def test_non_traction_orders_get_no_order_card(client) -> None:
    request = hook_body(draft_orders=[traction_order(code="97110")], encounter_id=None)
    status, body = post(client, SIGN, request)
    assert status == 200 and body == {"cards": []}


def test_max_cards_option_limits_the_answer(client) -> None:
    request = hook_body(
        claims_bundle=seed_bundle(),
        draft_orders=[traction_order(quantity=2)],
        extension={"traction-cds.configuration": {"max-cards": 1}},
    )
    assert len(post(client, SIGN, request)[1]["cards"]) == 1


# --- conformance: real client requests -------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "cds-services__traction-order-sign.1.json",
        "cds-services__traction-order-sign.2.json",
        "cds-services__traction-order-select.1.json",
    ],
)
def test_sandbox_requests_are_accepted(client, name: str) -> None:
    capture = load(HOOKS / "sandbox" / name)
    body = capture["body"]
    body.pop("fhirServer", None)  # the capture's loopback FHIR server is not running here
    service = SELECT if body["hook"] == "order-select" else SIGN
    status, answer = post(client, service, body)
    assert status == 200 and response_problems(answer) == []


def test_inferno_order_sign_request_is_accepted(client) -> None:
    body = load(HOOKS / "inferno" / "order_sign_hook_request.json")
    body.pop("fhirServer"), body.pop("fhirAuthorization")
    status, answer = post(client, SIGN, body)
    assert status == 200 and response_problems(answer) == []


def test_spec_order_select_context_is_accepted(client) -> None:
    context = load(HOOKS / "spec" / "order-select-01-example-r4.json")["context"]
    body = {"hook": "order-select", "hookInstance": str(uuid.uuid4()), "context": context}
    status, answer = post(client, SELECT, body)
    assert status == 200 and response_problems(answer) == []


def test_discharge_without_data_is_412(client) -> None:
    body = load(HOOKS / "inferno" / "encounter_discharge_hook_request.json")
    body.pop("fhirServer"), body.pop("fhirAuthorization")
    status, answer = post(client, DISCHARGE, body)
    assert status == 412 and answer["resourceType"] == "OperationOutcome"


# --- bad input -------------------------------------------------------------------------------


def _bad(change):
    body = hook_body(claims_bundle=seed_bundle())
    change(body)
    return body


BAD = {
    "wrong hook": (lambda b: b.update(hook="order-select"), "hook"),
    "no hookInstance": (lambda b: b.pop("hookInstance"), "hookInstance"),
    "hookInstance not a string": (lambda b: b.update(hookInstance=7), "hookInstance"),
    "no context": (lambda b: b.pop("context"), "context"),
    "no patientId": (lambda b: b["context"].pop("patientId"), "context.patientId"),
    "draftOrders not a Bundle": (
        lambda b: b["context"].update(draftOrders={"resourceType": "X"}),
        "context.draftOrders",
    ),
    "auth without server": (
        lambda b: b.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer"}),
        "fhirAuthorization",
    ),
    "fhirServer not a URL": (lambda b: b.update(fhirServer="ftp://x"), "fhirServer"),
    "plain http FHIR server": (
        lambda b: b.update(fhirServer="http://ehr.example.org/fhir"),
        "fhirServer",
    ),
    "prefetch a list": (lambda b: b.update(prefetch=[]), "prefetch"),
    "invalid claim": (
        lambda b: b["prefetch"]["claims"]["entry"][0]["resource"]["item"][0].update(
            quantity={"value": "two"}
        ),
        "Claim.item[0].quantity.value",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_request_is_400_with_operation_outcome(client, case: str) -> None:
    change, expression = BAD[case]
    status, answer = post(client, SIGN, _bad(change))
    assert status == 400
    assert answer["resourceType"] == "OperationOutcome"
    issue = answer["issue"][0]
    assert issue["severity"] == "error" and expression in issue["diagnostics"]


def test_not_json_is_400(client) -> None:
    response = client.post(
        f"/cds-services/{SIGN}", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and "not JSON" in response.json()["issue"][0]["diagnostics"]


def test_unknown_service_is_404(client) -> None:
    status, answer = post(client, "nope", hook_body())
    assert status == 404 and answer["issue"][0]["code"] == "not-found"


def test_prefetch_shapes_null_and_operation_outcome_are_legal(client) -> None:
    body = hook_body(claims_bundle=seed_bundle())
    body["prefetch"]["encounter"] = None
    body["prefetch"]["practitionerRole"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found"}],
    }
    status, answer = post(client, SIGN, body)
    assert status == 200 and len(answer["cards"]) == 1


def test_duplicate_claims_across_prefetch_keys_get_one_card(client) -> None:
    body = hook_body(claims_bundle=seed_bundle())
    body["prefetch"]["more"] = copy.deepcopy(body["prefetch"]["claims"])
    _, answer = post(client, SIGN, body)
    assert len(answer["cards"]) == 1


def test_therapy_order_with_unreadable_claims_is_412(client) -> None:
    body = hook_body(draft_orders=[traction_order(code="97110")])
    status, answer = post(client, SIGN, body)
    assert status == 412 and "Claims could not be read" in answer["issue"][0]["diagnostics"]


def test_a_deeply_nested_body_is_400_not_a_recursion_error(client) -> None:
    """300 levels of extension overflowed the FHIR models' recursion: a 500 from the hook and
    from Claim/$check (and the public playground)."""
    bundle = seed_bundle()
    nested: list = []
    for _ in range(150):
        nested = [{"url": "http://example.org/x", "extension": nested}]
    bundle["entry"][0]["resource"]["extension"] = nested
    status, body = post(client, SIGN, hook_body(claims_bundle=bundle))
    assert status == 400, body
    assert "nests more than" in body["issue"][0]["diagnostics"]
    checked = client.post("/fhir/Claim/$check", json=bundle)
    assert checked.status_code == 400, checked.text[:200]
