"""ClaimResponse / ExplanationOfBenefit NDJSON into claim payments; refusals name line + path."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from plugin.remittance.claim_response import read_ndjson
from plugin.remittance.model import REVERSAL, Adjustment, RemitError, claim_key

FIXTURE = Path(__file__).parents[1] / "fixtures" / "outcomes" / "remittance.ndjson"


def resources() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def ndjson(*items: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


def test_claim_response_items_adjustments_and_remarks() -> None:
    remit = read_ndjson(FIXTURE.name, FIXTURE.read_bytes())
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
    remit = read_ndjson(FIXTURE.name, FIXTURE.read_bytes())
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
    payment = read_ndjson("r.ndjson", ndjson(response)).payments[0]
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
        ("request", "line 2, ClaimResponse.request", "nothing to join on"),
        ("category", "line 2, ClaimResponse.item[0].adjudication[0].category", "a category"),
    ],
)
def test_refusals_name_line_and_path(change: str, where: str, reason: str) -> None:
    good = resources()[1]
    with pytest.raises(RemitError) as caught:
        read_ndjson("bad.ndjson", ndjson(good, _broken(change)))
    assert where in str(caught.value)
    assert reason in str(caught.value)


def test_refuses_lines_that_are_not_responses() -> None:
    with pytest.raises(RemitError, match="line 2: not JSON"):
        read_ndjson("bad.ndjson", ndjson(resources()[0]) + b"{oops\n")
    with pytest.raises(RemitError, match="line 1: not a ClaimResponse or ExplanationOfBenefit"):
        read_ndjson("claims.ndjson", ndjson({"resourceType": "Claim", "id": "c"}))
    with pytest.raises(RemitError, match="no ClaimResponse"):
        read_ndjson("empty.ndjson", b"\n")


def test_one_amount_with_two_reasons_is_adjusted_once() -> None:
    response = copy.deepcopy(resources()[0])
    item = response["item"][1]
    denial = next(a for a in item["adjudication"] if a.get("reason"))
    denial["reason"]["coding"].append(
        {"system": "https://x12.org/codes/claim-adjustment-reason-codes", "code": "4"}
    )
    line = read_ndjson("two.ndjson", ndjson(response)).payments[0].lines[1]
    assert sum(a.amount for a in line.adjustments) == 20.0
    assert [a.reason for a in line.adjustments] == ["96", "4"]
    assert line.charge == 20.0 + line.paid
