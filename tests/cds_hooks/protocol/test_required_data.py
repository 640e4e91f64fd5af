"""#17.3-4: a therapy order or a discharge whose data cannot be had is a 412 with the real
reason, never `200 {"cards": []}` (an empty all-clear); what the call cannot carry (no
encounterId on an order hook) is not missing, and an unfilled prefetch is not data."""

from __future__ import annotations

from tests.cds_hooks.conftest import DISCHARGE, SIGN, hook_body, seed_bundle, traction_order
from tests.cds_hooks.protocol.test_hooks import post
from tests.plugin.test_prefetch_tokens import echoed_empty_bundle


def test_a_traction_order_with_no_prefetch_and_no_fhir_server_is_412(client) -> None:
    status, answer = post(client, SIGN, hook_body(draft_orders=[traction_order()]))
    assert status == 412 and answer["resourceType"] == "OperationOutcome"
    diagnostics = answer["issue"][0]["diagnostics"]
    assert "Claims could not be read" in diagnostics and "no fhirServer" in diagnostics


def test_without_encounter_id_the_missing_coverage_is_named(client) -> None:
    body = hook_body(draft_orders=[traction_order()], encounter_id=None)
    status, answer = post(client, SIGN, body)
    assert status == 412
    diagnostics = answer["issue"][0]["diagnostics"]
    assert "Coverage could not be read" in diagnostics and "Claims" not in diagnostics


def test_an_order_that_is_not_therapy_needs_nothing(client) -> None:
    aspirin = {
        "resourceType": "MedicationRequest",
        "id": "request-123",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/pat-1"},
    }
    status, answer = post(client, SIGN, hook_body(draft_orders=[aspirin], encounter_id=None))
    assert status == 200 and answer == {"cards": []}


def test_sandbox_shaped_order_sign_checks_the_order_and_not_an_echoed_empty_search(
    client,
) -> None:
    """No encounterId, `claims` prefetched with the token left in: the order is still judged
    (2 units -> 1), and the empty search is not read as "the encounter has no Claims"."""
    body = hook_body(
        claims_bundle=seed_bundle(), draft_orders=[traction_order(quantity=2)], encounter_id=None
    )
    body["prefetch"]["claims"] = echoed_empty_bundle()
    status, answer = post(client, SIGN, body)
    assert status == 200
    (card,) = answer["cards"]
    assert card["suggestions"][0]["actions"][0]["resource"]["resourceType"] == "ServiceRequest"


def test_discharge_with_claims_in_prefetch_still_answers(client) -> None:
    body = hook_body("encounter-discharge", claims_bundle=seed_bundle())
    status, answer = post(client, DISCHARGE, body)
    assert status == 200 and answer["cards"]
