"""Draft 97012 orders: order reasons keep their own code system (#15 item 4).

EHRs code order reasons in SNOMED CT; only ICD-10-CM reasons are judged as diagnoses, so a
SNOMED reason is never told "no spinal or radicular diagnosis"."""

from __future__ import annotations

import json

from plugin.draft_orders import order_guidance
from plugin.references import ResourceIndex
from tests.cds_hooks.conftest import traction_order
from tests.support.claims import claim_file

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def medicare_index() -> ResourceIndex:
    bundle = json.loads(claim_file("08-seed-denial-97012-97110-97140.bundle.json").read_text())
    coverage = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage"
    )
    return ResourceIndex([(None, coverage)])


def order_with_reason(system: str, code: str) -> dict[str, object]:
    order = traction_order()
    order["reasonCode"] = [{"coding": [{"system": system, "code": code}]}]
    return order


def draft(order: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}


def dx_findings(order: dict[str, object], checker) -> list[str]:
    (guidance,) = order_guidance(draft(order), medicare_index(), checker)
    return [f.message for f in guidance.findings if f.rule == "DX-SUPPORT-TRACTION"]


def test_a_snomed_order_reason_is_not_judged_as_icd10cm(checker) -> None:
    # 2415007 = lumbosacral radiculopathy (SNOMED CT): a reason for traction, not a bad code.
    assert dx_findings(order_with_reason(SNOMED, "2415007"), checker) == []


def test_a_non_spinal_icd10cm_order_reason_is_still_questioned(checker) -> None:
    # Near miss: the same order with an ICD-10-CM reason that does not support traction.
    messages = dx_findings(order_with_reason(ICD10CM, "J45.909"), checker)
    assert messages and "J45.909" in messages[0]


def test_a_spinal_icd10cm_order_reason_supports_traction(checker) -> None:
    assert dx_findings(order_with_reason(ICD10CM, "M54.16"), checker) == []
