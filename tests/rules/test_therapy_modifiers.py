from __future__ import annotations

from rules.model import Severity
from tests.builders import HCPCS_HTTPS, claim
from tests.conftest import rules_of


def test_medicare_traction_without_gp_gets_gp(check) -> None:
    report = check(claim().line("97012"))
    (finding,) = report.findings
    assert (finding.rule, finding.severity) == ("THERAPY-MOD-MISSING", Severity.ERROR)
    assert finding.fix.to_json() == {"action": "add_modifier", "modifier": "GP"}
    added = report.corrected_claim["item"][0]["modifier"][0]["coding"][0]
    assert added == {
        "system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "code": "GP",
    }


def test_ot_furnished_traction_gets_go(check) -> None:
    report = check(claim().line("97012", by="OT"))
    assert report.findings[0].fix.modifier == "GO"


def test_gp_written_with_https_system_counts(check) -> None:
    builder = claim().line("97012")
    builder.claim["item"][0]["modifier"] = [{"coding": [{"system": HCPCS_HTTPS, "code": "GP"}]}]
    assert rules_of(check(builder)) == []


def test_unknown_performer_assumes_pt_plan_with_alternatives(check) -> None:
    report = check(claim().line("97012", by=[]))
    fix = report.findings[0].fix
    assert (fix.modifier, fix.alternatives) == ("GP", ("GN", "GO"))


def test_commercial_default_does_not_require_therapy_modifier(check) -> None:
    assert rules_of(check(claim(payer="5").line("97012"))) == []


def test_uhc_commercial_requires_therapy_modifier(check) -> None:
    report = check(claim(payer="5").payer_id("87726", "UnitedHealthcare").line("97012"))
    assert report.billing.payer.id == "uhc-commercial"
    assert rules_of(report) == [("THERAPY-MOD-MISSING", 1)]


def test_anthem_matched_by_name(check) -> None:
    report = check(claim(payer="6").payer_id("00000", "Anthem Blue Cross").line("97012"))
    assert report.billing.payer.id == "anthem-commercial"
    assert rules_of(report) == [("THERAPY-MOD-MISSING", 1)]


def test_rule_not_in_force_before_2018(check) -> None:
    assert rules_of(check(claim(dos="2017-06-01").line("97012"))) == []


def test_cmt_is_not_always_therapy(check) -> None:
    # The subluxation first: Medicare wants it as the primary diagnosis (MCR-CMT-SUBLUX-PRIMARY).
    line = claim().line("98940", ["AT"], by="DC", dx=["M99.03", "M51.16"])
    assert rules_of(check(line)) == []


def test_gp_and_go_on_a_pt_line_keeps_gp(check) -> None:
    report = check(claim().line("97012", ["GP", "GO"]))
    (finding,) = report.findings
    assert finding.rule == "THERAPY-MOD-CONFLICT" and finding.severity is Severity.ERROR
    assert finding.fix.to_json() == {"action": "remove_modifier", "modifier": "GO"}


def test_gp_on_an_ot_line_is_replaced_with_go_as_warning(check) -> None:
    report = check(claim().line("97012", ["GP"], by="OT"))
    (finding,) = report.findings
    assert finding.severity is Severity.WARNING
    assert finding.fix.to_json() == {
        "action": "replace_modifier",
        "modifier": "GP",
        "replacement": "GO",
    }
    codes = [m["coding"][0]["code"] for m in report.corrected_claim["item"][0]["modifier"]]
    assert codes == ["GO"]


def test_gp_from_a_chiropractor_is_not_a_conflict(check) -> None:
    report = check(claim(payer="5").line("97012", ["GP"], by="DC"))
    assert rules_of(report) == []


def test_two_modifiers_unknown_performer_needs_review(check) -> None:
    report = check(claim().line("97012", ["GP", "GO"], by=[]))
    (finding,) = report.findings
    assert not finding.fix.automatic and finding.fix.candidates == ("GP", "GO")


# Audit 2026-12 item 2: NUCC taxonomy by classification, not by exact code.
def test_pt_specialization_taxonomy_is_a_pt(check) -> None:
    """2251X0800X (orthopedic PT) is a PT: GP, not 'performers of different disciplines'."""
    (finding,) = check(claim().line("97012", by="2251X0800X")).findings
    assert finding.rule == "THERAPY-MOD-MISSING"
    assert finding.fix.to_json() == {"action": "add_modifier", "modifier": "GP"}
    assert "different disciplines" not in finding.message


def test_ot_specialization_with_gp_conflicts(check) -> None:
    (finding,) = check(claim().line("97012", ["GP"], by="225XR0403X")).findings
    assert finding.rule == "THERAPY-MOD-CONFLICT"
    assert finding.fix.to_json() == {
        "action": "replace_modifier",
        "modifier": "GP",
        "replacement": "GO",
    }


def test_unlisted_taxonomy_is_not_a_therapist(check) -> None:
    """Near miss: a massage therapist's code (225700000X) starts with 225 but is no PT class."""
    (finding,) = check(claim().line("97012", by="225700000X")).findings
    assert finding.fix.modifier == "GP"
    assert "plan of care is not known" in finding.message


# Audit item 11: a physician can furnish therapy under an OT plan of care.
def test_physician_under_ot_plan_is_no_conflict(check) -> None:
    assert rules_of(check(claim().line("97012", ["GO"], by="MD"))) == []


def test_physician_with_ot_on_line_takes_go(check) -> None:
    (finding,) = check(claim().line("97012", by=["MD", "OT"])).findings
    assert finding.fix.modifier == "GO"


def test_physician_alone_defaults_to_gp_with_alternatives(check) -> None:
    (finding,) = check(claim().line("97012", by="MD")).findings
    assert finding.fix.to_json() == {
        "action": "add_modifier",
        "modifier": "GP",
        "alternatives": ["GN", "GO"],
    }
