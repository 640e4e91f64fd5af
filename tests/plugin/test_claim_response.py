"""ClaimResponse / ExplanationOfBenefit NDJSON into claim payments; refusals name line + path."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from plugin.remittance.claim_response import read_fhir
from plugin.remittance.model import REVERSAL, Adjustment, RemitError, UnmappedCategory, claim_key

FIXTURE = Path(__file__).parents[1] / "fixtures" / "outcomes" / "remittance.ndjson"


def resources() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def ndjson(*items: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


def test_claim_response_items_adjustments_and_remarks() -> None:
    remit = read_fhir(FIXTURE.name, FIXTURE.read_bytes())
    response, _ = remit.payments
    assert response.source == "ClaimResponse"
    assert response.keys == (("request", claim_key("c-1008")),)
    assert response.produced == date(2025, 7, 2)
    assert [ln.line for ln in response.lines] == [1, 2, 9]
    first, second, _ = response.lines
    assert (first.charge, first.paid, first.adjustments) == (
        40.0,
        32.0,
        (Adjustment("CO", "45", 8.0),),
    )
    assert second.adjustments == (Adjustment("CO", "96", 20.0),)
    assert second.remarks == ("N657",)
    assert first.code is None  # a ClaimResponse item names no code: the join supplies it
    assert response.position == "line 1"


def test_eob_lines_carry_code_modifiers_date_and_patient_share() -> None:
    remit = read_fhir(FIXTURE.name, FIXTURE.read_bytes())
    eob = remit.payments[1]
    assert eob.source == "ExplanationOfBenefit"
    assert eob.keys == (("pcn", claim_key("PCN1009")),)  # claim.identifier = our Claim.identifier
    line = eob.lines[0]
    assert (line.code, line.modifiers, line.units) == ("97012", ("GP", "51"), 1.0)
    assert line.service_date == date(2025, 6, 10)
    assert line.adjustments == (Adjustment("PR", "1", 40.0),)


def test_group_defaults_and_reversal() -> None:
    response = copy.deepcopy(resources()[0])
    del response["item"][0]["adjudication"][2]["category"]["coding"][0]["system"]
    response["status"] = "entered-in-error"
    payment = read_fhir("r.ndjson", ndjson(response)).payments[0]
    assert payment.status == REVERSAL
    # A category outside the X12 group codes: CO unless the CARC is the patient's share.
    assert payment.lines[0].adjustments == (Adjustment("CO", "45", 8.0),)


def _broken(change: str) -> dict[str, Any]:
    response = copy.deepcopy(resources()[0])
    if change == "sequence":
        del response["item"][1]["itemSequence"]
    elif change == "amount":
        response["item"][0]["adjudication"][1]["amount"]["value"] = "32.00"
    elif change == "request":
        del response["request"]
    elif change == "category":
        del response["item"][0]["adjudication"][0]["category"]
    return response


@pytest.mark.parametrize(
    ("change", "where", "reason"),
    [
        ("sequence", "line 2, ClaimResponse.item[1].itemSequence", "a positive integer"),
        ("amount", "line 2, ClaimResponse.item[0].adjudication[1].amount", "numeric value"),
        ("category", "line 2, ClaimResponse.item[0].adjudication[0].category", "a category"),
    ],
)
def test_refusals_name_line_and_path(change: str, where: str, reason: str) -> None:
    good = resources()[1]
    with pytest.raises(RemitError) as caught:
        read_fhir("bad.ndjson", ndjson(good, _broken(change)))
    assert where in str(caught.value)
    assert reason in str(caught.value)


def test_a_response_with_nothing_to_join_on_is_skipped_not_the_file() -> None:
    remit = read_fhir("one.ndjson", ndjson(resources()[1], _broken("request")))
    assert [p.position for p in remit.payments] == ["line 1"]
    (skipped,) = remit.skipped
    assert skipped.position == "line 2"
    assert "ClaimResponse: nothing to join on" in skipped.reason


def test_refuses_lines_that_are_not_responses() -> None:
    with pytest.raises(RemitError, match="line 2: not JSON"):
        read_fhir("bad.ndjson", ndjson(resources()[0]) + b"{oops\n")
    with pytest.raises(RemitError, match="line 1: not a ClaimResponse or ExplanationOfBenefit"):
        read_fhir("claims.ndjson", ndjson({"resourceType": "Claim", "id": "c"}))
    with pytest.raises(RemitError, match="no ClaimResponse"):
        read_fhir("empty.ndjson", b"\n")


def test_one_amount_with_two_reasons_is_adjusted_once() -> None:
    response = copy.deepcopy(resources()[0])
    item = response["item"][1]
    denial = next(a for a in item["adjudication"] if a.get("reason"))
    denial["reason"]["coding"].append(
        {"system": "https://x12.org/codes/claim-adjustment-reason-codes", "code": "4"}
    )
    line = read_fhir("two.ndjson", ndjson(response)).payments[0].lines[1]
    assert sum(a.amount for a in line.adjustments) == 20.0
    assert [a.reason for a in line.adjustments] == ["96", "4"]
    assert line.charge == 20.0 + line.paid


# --- the three conventions, from files written in each ----------------------------------------

FHIR = FIXTURE.parent / "fhir"


def test_carin_bb_professional_eob_joins_on_identifiers_only() -> None:
    remit = read_fhir("carin.json", (FHIR / "carin-bb-eob-searchset.json").read_bytes())
    assert remit.layout == "JSON searchset Bundle (1 other entry left out)"  # the Patient
    first, second = remit.payments
    # No EOB.claim: the patient account number (CLP01 = our Claim.identifier) comes first,
    # then the payer's unique claim id (`uc`).
    assert first.keys == (("pcn", claim_key("PCN1002")), ("payer", claim_key("PAYER-88001")))
    assert second.keys == (("payer", claim_key("PAYER-88002")),)
    denied, paid = first.lines
    # A denial-reason slice without an amount takes the noncovered amount.
    assert (denied.charge, denied.paid, denied.adjustments) == (
        40.0,
        0.0,
        (Adjustment("CO", "4", 40.0),),
    )
    # paidtoprovider (listed first in the data) wins over benefit; coinsurance is PR-2.
    assert (paid.charge, paid.paid, paid.adjustments) == (30.0, 20.0, (Adjustment("PR", "2", 5.0),))
    (skipped,) = remit.skipped
    assert skipped.position == "entry[2]"
    assert "nothing to join on" in skipped.reason
    assert remit.unmapped == (
        UnmappedCategory("https://payer.example/fhir/CodeSystem/adjudication", "withhold", 1, 1.5),
    )
    assert remit.lines_without_paid == 0


def test_blue_button_variable_eob_is_paid_not_zero() -> None:
    remit = read_fhir("bb.ndjson", (FHIR / "synthea-bb-eob.ndjson").read_bytes())
    assert remit.layout == "NDJSON"
    paid, denied = remit.payments
    assert paid.keys[0] == ("request", claim_key("c-1005"))
    assert round(paid.paid, 2) == 56.02  # line_prvdr_pmt_amt, not $0.00
    assert round(paid.charge, 2) == 70.02
    assert [a for ln in paid.lines for a in ln.adjustments] == [
        Adjustment("PR", "2", 8.000000000000002),
        Adjustment("PR", "1", 0.0),
        Adjustment("PR", "2", 6.0040000000000004),
        Adjustment("PR", "1", 0.0),
    ]
    assert denied.lines[0].adjustments == (Adjustment("CO", "4", 40.0),)
    assert (remit.unmapped, remit.skipped, remit.lines_without_paid) == ((), (), 0)


def test_hl7_core_claim_response_in_a_pretty_printed_array() -> None:
    remit = read_fhir("cr.json", (FHIR / "hl7-claimresponse-array.json").read_bytes())
    assert remit.layout == "JSON array"
    (response,) = remit.payments
    assert response.position == "[0]"
    units, other = response.lines
    assert (units.paid, units.adjustments) == (0.0, (Adjustment("CO", "151", 40.0),))
    assert (other.charge, other.paid) == (30.0, 15.0)
    assert other.adjustments == (
        Adjustment("PR", "1", 5.0),
        Adjustment("PR", "3", 5.0),
        Adjustment("CO", "45", 5.0),
    )


def test_one_resource_pretty_printed_and_a_collection_bundle() -> None:
    response = resources()[0]
    single = read_fhir("one.json", json.dumps(response, indent=2).encode())
    assert (single.layout, single.payments[0].position) == ("JSON resource", "resource")
    patient = {"resource": {"resourceType": "Patient", "id": "p1"}}
    collection = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [patient, {"resource": response}],
    }
    remit = read_fhir("c.json", json.dumps(collection, indent=1).encode())
    assert (remit.layout, remit.payments[0].position) == (
        "JSON collection Bundle (1 other entry left out)",
        "entry[1]",
    )
    assert remit.payments[0].lines == single.payments[0].lines


def test_a_claim_responses_own_identifier_is_not_a_claim_id() -> None:
    response = copy.deepcopy(resources()[0])
    response["identifier"] = [{"system": "urn:payer:response", "value": "R-1"}]
    eob = copy.deepcopy(resources()[1])
    eob["identifier"] = [{"system": "urn:payer:claim", "value": "R-1"}]
    remit = read_fhir("ids.ndjson", ndjson(response, eob))
    assert [kind for kind, _ in remit.payments[0].keys] == ["request"]
    assert [kind for kind, _ in remit.payments[1].keys] == ["pcn", "payer"]


def test_layout_refusals_name_the_place() -> None:
    with pytest.raises(RemitError, match=r"broken.json: \(file\): not JSON: .*line 3 column 3"):
        read_fhir("broken.json", b'{\n  "resourceType": "ClaimResponse"\n  "status": "active"\n}\n')
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    with pytest.raises(RemitError, match=r"Bundle\.type: a 'transaction' Bundle is not read"):
        read_fhir("t.json", json.dumps(transaction).encode())
    with pytest.raises(RemitError, match=r"entry\[0\], ClaimResponse.item\[0\].adjudication"):
        bad = copy.deepcopy(resources()[0])
        bad["item"][0]["adjudication"][0]["amount"] = {"value": "x"}
        bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": bad}]}
        read_fhir("b.json", json.dumps(bundle).encode())


def test_unmapped_categories_and_lines_without_a_paid_amount_are_counted() -> None:
    response = copy.deepcopy(resources()[0])
    item = response["item"][0]
    item["adjudication"] = [
        a for a in item["adjudication"] if a["category"]["coding"][0]["code"] != "benefit"
    ] + [
        {
            "category": {"coding": [{"system": "urn:payer", "code": "paid-net"}]},
            "amount": {"value": 32},
        },
        {
            "category": {"coding": [{"system": "urn:payer", "code": "paid-net"}]},
            "amount": {"value": 1},
        },
    ]
    remit = read_fhir("u.ndjson", ndjson(response))
    assert remit.unmapped == (UnmappedCategory("urn:payer", "paid-net", 2, 33.0),)
    assert remit.lines_without_paid == 1
    assert remit.payments[0].lines[0].paid == 0.0
