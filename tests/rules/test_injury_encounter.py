"""DX-INJURY-7TH: therapy is the healing phase of an injury (7th character D), not the
encounter of active treatment (A) (ICD-10-CM guideline I.C.19.a)."""

from __future__ import annotations

from tests.builders import claim
from tests.rules.corrected import recheck


def injury(report):
    return [f for f in report.findings if f.rule == "DX-INJURY-7TH"]


def test_therapy_pointing_to_an_initial_encounter_sprain_is_advised(check) -> None:
    report = check(claim().line("97012", ["GP"], dx=["S13.4XXA"]))
    (finding,) = injury(report)
    assert finding.severity.value == "info" and finding.line == 1
    assert (finding.fix.diagnosis, finding.fix.replacement) == ("S13.4XXA", "S13.4XXD")
    assert "UNCONFIRMED" in finding.citation
    assert report.clean  # advice only


def test_the_corrected_claim_rechecks_without_it(check) -> None:
    builder = claim().line("97012", ["GP"], dx=["S33.5XXA"])
    builder.line("97110", ["GP"], dx=["S33.5XXA"], minutes=15)
    assert [f.line for f in injury(check(builder))] == [1]
    assert recheck(check, builder) == []


def test_subsequent_encounter_is_fine(check) -> None:
    assert injury(check(claim().line("97110", ["GP"], dx=["S13.4XXD"], minutes=15))) == []


def test_sequela_is_not_judged(check) -> None:
    assert injury(check(claim().line("97110", ["GP"], dx=["S13.4XXS"], minutes=15))) == []


def test_a_physicians_visit_on_the_same_diagnosis_may_be_active_treatment(check) -> None:
    builder = claim().line("97012", ["GP"], dx=["S13.4XXA"]).line("99213", by="MD", dx=["S13.4XXA"])
    assert injury(check(builder)) == []


def test_a_non_injury_code_ending_in_a_is_not_an_injury(check) -> None:
    """M80 (osteoporotic fracture) and H54.413A carry A but are not chapter 19 injury codes."""
    builder = claim().line("97110", ["GP"], dx=["M80.08XA"], minutes=15)
    assert injury(check(builder)) == []


def test_open_fracture_initial_character_is_left_alone(check) -> None:
    builder = claim().line("97110", ["GP"], dx=["S82.101B"], minutes=15)
    assert injury(check(builder)) == []


def test_the_rule_applies_to_every_payer(check) -> None:
    builder = claim(payer="5").line("97110", ["GP"], dx=["S33.5XXA"], minutes=15)
    assert [f.line for f in injury(check(builder))] == [1]
