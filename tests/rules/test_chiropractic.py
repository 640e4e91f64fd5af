from __future__ import annotations

import pytest

from rules.model import Severity
from tests.builders import claim
from tests.rules.corrected import modifiers_of, recheck

CHIRO_RULES = {"MCR-CHIRO-GY", "MCR-CHIRO-AT", "ABN-MOD-CONFLICT"}


def chiro(report):
    return [f for f in report.findings if f.rule in CHIRO_RULES]


def test_chiropractor_traction_to_medicare_gets_gy_keeping_gp(check) -> None:
    builder = claim().line("98940", ["AT"], by="DC").line("97012", ["GP"], by="DC")
    report = check(builder)
    (finding,) = chiro(report)
    assert (finding.rule, finding.line, finding.severity) == ("MCR-CHIRO-GY", 2, Severity.ERROR)
    assert finding.fix.to_json() == {"action": "add_modifier", "modifier": "GY"}
    assert "GX" in finding.message and "keep GP" in finding.message
    assert modifiers_of(report.corrected_claim, 2) == ["GP", "GY"]
    assert recheck(check, builder) == []


def test_chiropractor_office_visit_is_excluded_too(check) -> None:
    report = check(claim().line("98940", ["AT"], by="DC").line("99213", by="DC"))
    (finding,) = chiro(report)
    assert finding.rule == "MCR-CHIRO-GY" and finding.line == 2
    assert "keep GP" not in finding.message


def test_chiropractor_office_visit_alone_is_out_of_scope(check) -> None:
    """No therapy code on the claim: not ours to judge, so no finding (issue #15)."""
    report = check(claim().line("99213", by="DC"))
    assert report.findings == () and report.status == "out-of-scope"


@pytest.mark.parametrize(
    "builder",
    [
        claim().line("97012", ["GP", "GY"], by="DC"),
        claim().line("98940", ["AT"], by="DC"),
        claim().line("97012", ["GP"], by="PT"),
        claim(payer="5").line("97012", ["GP"], by="DC"),
        claim(payer="111").line("97012", ["GP"], by="DC"),
    ],
    ids=["gy-present", "cmt", "pt", "commercial", "medicare-advantage"],
)
def test_no_gy_finding(check, builder) -> None:
    assert chiro(check(builder)) == []


def test_ga_on_excluded_service_becomes_gy(check) -> None:
    builder = claim().line("97012", ["GP", "GA"], by="DC")
    report = check(builder)
    (finding,) = chiro(report)
    assert finding.fix.to_json() == {
        "action": "replace_modifier",
        "modifier": "GA",
        "replacement": "GY",
    }
    assert modifiers_of(report.corrected_claim, 1) == ["GP", "GY"]
    assert recheck(check, builder) == []


def test_ga_and_gz_on_excluded_service_leave_gy(check) -> None:
    builder = claim().line("97012", ["GP", "GA", "GZ"], by="DC")
    report = check(builder)
    assert sorted((f.rule, f.fix.action.value, f.fix.modifier) for f in chiro(report)) == [
        ("ABN-MOD-CONFLICT", "remove_modifier", "GA"),
        ("ABN-MOD-CONFLICT", "remove_modifier", "GZ"),
        ("MCR-CHIRO-GY", "add_modifier", "GY"),
    ]
    assert modifiers_of(report.corrected_claim, 1) == ["GP", "GY"]
    assert recheck(check, builder) == []


def test_ga_beside_gy_on_excluded_service_is_removed(check) -> None:
    (finding,) = chiro(check(claim().line("97012", ["GP", "GA", "GY"], by="DC")))
    assert finding.rule == "ABN-MOD-CONFLICT" and finding.severity is Severity.ERROR
    assert finding.fix.to_json() == {"action": "remove_modifier", "modifier": "GA"}


def test_two_liability_modifiers_from_a_therapist_need_review(check) -> None:
    (finding,) = chiro(check(claim().line("97012", ["GP", "GA", "GZ"], by="PT")))
    assert finding.rule == "ABN-MOD-CONFLICT"
    assert not finding.fix.automatic and finding.fix.candidates == ("GA", "GZ")


def test_liability_conflict_is_medicare_only(check) -> None:
    assert chiro(check(claim(payer="5").line("97012", ["GP", "GA", "GZ"]))) == []


def test_manipulation_without_at_gets_at_or_ga(check) -> None:
    builder = claim().line("98941", by="DC")
    (finding,) = chiro(check(builder))
    assert (finding.rule, finding.severity) == ("MCR-CHIRO-AT", Severity.WARNING)
    assert finding.fix.to_json() == {
        "action": "add_modifier",
        "modifier": "AT",
        "alternatives": ["GA"],
    }
    assert recheck(check, builder) == []


@pytest.mark.parametrize(
    "builder",
    [
        claim().line("98940", ["GA"], by="DC"),
        claim().line("98942", ["AT"], by="DC"),
        claim().line("98943", ["GY"], by="DC"),
        claim(payer="5").line("98940", by="DC"),
    ],
    ids=["maintenance-with-abn", "at-present", "extraspinal", "commercial"],
)
def test_no_at_finding(check, builder) -> None:
    assert [f for f in chiro(check(builder)) if f.rule == "MCR-CHIRO-AT"] == []


@pytest.mark.parametrize("taxonomy", ["111NX0800X", "111NR0400X", "111NN0400X"])
def test_chiropractor_specialization_gets_gy(check, taxonomy) -> None:
    """Audit item 2: a DC with a NUCC specialization is a DC (GY not missed)."""
    report = check(claim().line("97012", ["GP"], by=taxonomy))
    assert [f.fix.to_json() for f in report.findings if f.rule == "MCR-CHIRO-GY"] == [
        {"action": "add_modifier", "modifier": "GY"}
    ]


def test_dual_eligible_managed_care_is_not_original_medicare(check) -> None:
    """Audit item 16: SOPT 14 (dual-eligible Medicare/Medicaid organization) is managed care."""
    assert chiro(check(claim(payer="14").line("97012", ["GP"], by="DC"))) == []
