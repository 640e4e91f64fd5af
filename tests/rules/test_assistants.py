from __future__ import annotations

import pytest

from rules.model import Severity
from tests.builders import NUCC, claim
from tests.rules.corrected import modifiers_of, recheck


def cq(report):
    return [f for f in report.findings if f.rule == "MCR-PTA-CQ"]


def test_pta_line_gets_cq(check) -> None:
    builder = claim().line("97012", ["GP"], by="PTA")
    report = check(builder)
    (finding,) = cq(report)
    assert finding.severity is Severity.ERROR
    assert finding.fix.to_json() == {"action": "add_modifier", "modifier": "CQ"}
    assert "PTA" in finding.message
    assert modifiers_of(report.corrected_claim, 1) == ["GP", "CQ"]
    assert recheck(check, builder) == []


def test_ota_line_gets_co(check) -> None:
    (finding,) = cq(check(claim().line("97012", ["GO"], by="OTA")))
    assert finding.fix.modifier == "CO"


def test_therapist_with_assistant_in_part_gets_cq(check) -> None:
    (finding,) = cq(check(claim().line("97110", ["GP"], by=["PT", "PTA"], minutes=15)))
    assert finding.fix.modifier == "CQ"


@pytest.mark.parametrize(
    "builder",
    [
        claim().line("97012", ["GP", "CQ"], by="PTA"),
        claim().line("97012", ["GP"], by="PT"),
        claim(dos="2019-06-10").line("97012", ["GP"], by="PTA"),
        claim(payer="5").line("97012", ["GP"], by="PTA"),
        claim().line("99213", by="PTA"),
    ],
    ids=["cq-present", "therapist", "before-2020", "commercial", "not-therapy"],
)
def test_no_assistant_finding(check, builder) -> None:
    assert cq(check(builder)) == []


def _without_qualification(builder):
    member = builder.claim["careTeam"][0]
    del member["qualification"]
    return member


def test_assistant_found_through_practitioner_role_reference(check) -> None:
    builder = claim().line("97012", ["GP"], by="PTA")
    _without_qualification(builder)["provider"] = {"reference": "PractitionerRole/pta-role"}
    builder.extra.append(
        {
            "resourceType": "PractitionerRole",
            "id": "pta-role",
            "practitioner": {"reference": "Practitioner/pta"},
            "specialty": [{"coding": [{"system": NUCC, "code": "225200000X"}]}],
        }
    )
    (finding,) = cq(check(builder))
    assert finding.fix.modifier == "CQ"


def test_assistant_found_through_the_practitioners_role(check) -> None:
    builder = claim().line("97012", ["GP"], by="PTA")
    _without_qualification(builder)
    builder.extra += [
        {"resourceType": "Practitioner", "id": "pta"},
        {
            "resourceType": "PractitionerRole",
            "id": "r1",
            "practitioner": {"reference": "Practitioner/pta"},
            "specialty": [{"coding": [{"system": NUCC, "code": "225200000X"}]}],
        },
    ]
    (finding,) = cq(check(builder))
    assert finding.fix.modifier == "CQ"


def test_effective_date_is_read_per_line(check) -> None:
    builder = (
        claim(dos="2019-12-30")
        .line("97012", ["GP"], by="PTA")
        .line("97012", ["GP"], by="PTA", date="2020-01-02")
    )
    assert [f.line for f in cq(check(builder))] == [2]


def test_ota_specialization_taxonomy_gets_co(check) -> None:
    """Audit item 2: 224ZE0001X (environmental modification OTA) is an OTA."""
    (finding,) = cq(check(claim().line("97012", ["GO"], by="224ZE0001X")))
    assert finding.fix.modifier == "CO"


# Audit item 5: CQ/CO as a payer setting.
def test_aetna_commercial_pta_line_gets_cq_as_unconfirmed_warning(check) -> None:
    builder = (
        claim(payer="5", dos="2024-03-04")
        .payer_id("60054", "Aetna")
        .line("97110", ["GP"], by="PTA", minutes=15)
    )
    (finding,) = cq(check(builder))
    assert (finding.severity, finding.fix.modifier) == (Severity.WARNING, "CQ")
    assert "UNCONFIRMED" in finding.citation


def test_aetna_before_its_effective_date_needs_no_cq(check) -> None:
    builder = (
        claim(payer="5", dos="2023-11-30")
        .payer_id("60054", "Aetna")
        .line("97110", ["GP"], by="PTA", minutes=15)
    )
    assert cq(check(builder)) == []


def test_other_commercial_payer_needs_no_cq(check) -> None:
    builder = (
        claim(payer="5", dos="2024-03-04")
        .payer_id("99999", "Acme Health")
        .line("97110", ["GP"], by="PTA", minutes=15)
    )
    assert cq(check(builder)) == []


# New check (audit list 2, item 7): PTA/OTA/student as the rendering provider.
def rendering(report):
    return [f for f in report.findings if f.rule == "MCR-RENDERING-PTA"]


@pytest.mark.parametrize("who", ["PTA", "OTA", "390200000X"])
def test_assistant_or_student_alone_cannot_render(check, who) -> None:
    (finding,) = rendering(check(claim().line("97012", ["GP"], by=who)))
    assert finding.severity is Severity.ERROR and not finding.fix.automatic


def test_assistant_beside_the_therapist_is_fine(check) -> None:
    assert rendering(check(claim().line("97012", ["GP", "CQ"], by=["PT", "PTA"]))) == []


def test_assistant_alone_to_commercial_is_not_judged(check) -> None:
    assert rendering(check(claim(payer="5").line("97012", ["GP"], by="PTA"))) == []
