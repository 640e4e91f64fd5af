from __future__ import annotations

from datetime import date

import pytest

from rules.icd10cm import CodeChange, validity
from rules.knowledge.load import parse_dx_groups, parse_icd10_changes
from rules.knowledge.model import PackError
from rules.model import Severity
from tests.builders import claim
from tests.conftest import rules_of
from tests.rules.corrected import recheck


def _dx_findings(report, rule):
    return [f for f in report.findings if f.rule == rule]


def _pointers(report, line: int) -> list[int]:
    item = next(it for it in report.corrected_claim["item"] if it["sequence"] == line)
    return item["diagnosisSequence"]


# -- DX-POINTER-MISSING ------------------------------------------------------------------------


def test_traction_without_pointer_points_to_first_supporting_diagnosis(check) -> None:
    builder = claim().line("97110", ["GP"], dx=["R26.89"], minutes=15)
    builder.dx("M51.16")
    builder.line("97012", ["GP"], dx=[])
    report = check(builder)
    (finding,) = report.findings
    assert (finding.rule, finding.line, finding.severity) == ("DX-POINTER-MISSING", 2, "error")
    assert finding.fix.to_json() == {"action": "add_diagnosis_pointer", "pointer": 2}
    assert "M51.16" in finding.message
    assert _pointers(report, 2) == [2]
    assert recheck(check, builder) == []


def test_guessed_pointer_into_another_region_is_left_to_a_person(check) -> None:
    builder = claim().line("97110", ["GP"], dx=["M25.561"], minutes=15)
    builder.dx("M51.16")
    builder.line("97012", ["GP"], dx=[])
    (finding,) = check(builder).findings
    assert (finding.rule, finding.line) == ("DX-POINTER-MISSING", 2)
    assert finding.fix.action.value == "review"
    assert finding.fix.candidates == ("M51.16", "M25.561")


def test_other_line_without_pointer_points_to_primary(check) -> None:
    builder = claim().line("97012", ["GP"], dx=["M51.16"]).line("97110", ["GP"], dx=[], minutes=15)
    builder.dx("M54.16")
    (finding,) = check(builder).findings
    assert (finding.rule, finding.line, finding.fix.pointer) == ("DX-POINTER-MISSING", 2, 1)


def test_dangling_pointer_is_replaced_not_kept(check) -> None:
    builder = claim().line("97012", ["GP"], dx=["M51.16"])
    builder.claim["item"][0]["diagnosisSequence"] = [7]
    report = check(builder)
    (finding,) = report.findings
    assert finding.rule == "DX-POINTER-MISSING" and "7" in finding.message
    assert finding.fix.pointer == 1
    assert _pointers(report, 1) == [1]
    assert recheck(check, builder) == []


def test_dangling_pointer_beside_a_good_one_is_dropped(check) -> None:
    builder = claim().line("97012", ["GP"], dx=["M51.16"])
    builder.claim["item"][0]["diagnosisSequence"] = [1, 9]
    report = check(builder)
    assert rules_of(report) == [("DX-POINTER-MISSING", 1)]
    assert _pointers(report, 1) == [1]


def test_more_than_four_pointers_asks_for_review(check) -> None:
    dx = ["M51.16", "M54.16", "M54.2", "M54.12", "M47.816"]
    (finding,) = check(claim().line("97012", ["GP"], dx=dx)).findings
    assert finding.rule == "DX-POINTER-MISSING"
    assert finding.fix.action.value == "review" and finding.fix.candidates == tuple(dx)


def test_claim_without_diagnoses_asks_for_review(check) -> None:
    (finding,) = check(claim().line("97012", ["GP"], dx=[])).findings
    assert finding.rule == "DX-POINTER-MISSING" and not finding.fix.automatic


def test_four_good_pointers_do_not_fire(check) -> None:
    dx = ["M51.16", "M54.16", "M54.2", "M54.12"]
    assert rules_of(check(claim().line("97012", ["GP"], dx=dx))) == []


# -- DX-CODE-INVALID ---------------------------------------------------------------------------


def test_m54_5_after_fy2022_needs_a_child(check) -> None:
    report = check(claim(dos="2022-01-01").line("97012", ["GP"], dx=["M54.5"]))
    (finding,) = report.findings
    assert (finding.rule, finding.line, finding.severity) == ("DX-CODE-INVALID", 1, "error")
    assert finding.fix.candidates == ("M54.50", "M54.51", "M54.59")
    assert "2022-01-01" in finding.message


def test_m54_5_before_fy2022_is_valid(check) -> None:
    assert rules_of(check(claim(dos="2021-06-01").line("97012", ["GP"], dx=["M54.5"]))) == []


def test_m54_50_before_it_existed_is_replaced_by_m54_5(check) -> None:
    builder = claim(dos="2021-06-01").line("97012", ["GP"], dx=["M54.50"])
    report = check(builder)
    (finding,) = report.findings
    assert finding.fix.to_json() == {
        "action": "replace_diagnosis",
        "diagnosis": "M54.50",
        "replacement": "M54.5",
    }
    coding = report.corrected_claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]
    assert coding["code"] == "M54.5"
    assert recheck(check, builder) == []


def test_as_of_decides_the_code_set(check) -> None:
    builder = claim(dos="2021-06-01").line("97012", ["GP"], dx=["M54.5"])
    assert rules_of(check(builder, as_of=date(2022, 1, 1))) == [("DX-CODE-INVALID", 1)]


@pytest.mark.parametrize(("dos", "fires"), [("2024-06-01", False), ("2025-06-10", True)])
def test_m51_36_subdivided_in_fy2025(check, dos: str, fires: bool) -> None:
    report = check(claim(dos=dos).line("97012", ["GP"], dx=["M51.36"]))
    assert bool(_dx_findings(report, "DX-CODE-INVALID")) is fires
    if fires:
        assert report.findings[0].fix.candidates == ("M51.360", "M51.361", "M51.362", "M51.369")


def test_category_lists_its_billable_codes(check) -> None:
    (finding,) = check(claim().line("97012", ["GP"], dx=["S33.5"])).findings
    assert finding.fix.candidates == ("S33.5XXA", "S33.5XXD", "S33.5XXS")


def test_single_billable_child_is_replaced(check) -> None:
    builder = claim().line("97110", ["GP"], dx=["H54.413"], minutes=15)
    (finding,) = check(builder).findings
    assert (finding.fix.diagnosis, finding.fix.replacement) == ("H54.413", "H54.413A")
    assert recheck(check, builder) == []


def test_unknown_code_offers_its_nearest_parent(check) -> None:
    (finding,) = check(claim().line("97110", ["GP"], dx=["M54.99"], minutes=15)).findings
    assert finding.rule == "DX-CODE-INVALID" and not finding.fix.automatic
    assert finding.fix.candidates == ("M54.9",)
    assert "not an ICD-10-CM code" in finding.message


def test_other_code_systems_are_not_judged(check) -> None:
    builder = claim().line("97012", ["GP"], dx=["M54.5"])
    coding = builder.claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]
    coding["system"] = "http://snomed.info/sct"
    assert "DX-CODE-INVALID" not in {f.rule for f in check(builder).findings}


def test_unpointed_invalid_diagnosis_is_left_to_a_person(check) -> None:
    builder = claim(dos="2021-06-01").line("97012", ["GP"], dx=["M54.16"])
    builder.dx("M54.50")
    (finding,) = check(builder).findings
    assert (finding.rule, finding.line) == ("DX-CODE-INVALID", None)
    assert finding.fix.action.value == "review" and finding.fix.candidates == ("M54.5",)


def test_diagnosis_valid_on_one_date_only_is_left_to_a_person(check) -> None:
    builder = claim(dos="2021-09-30").line("97012", ["GP"], dx=["M54.50"])
    builder.line("97012", ["GP"], dx=["M54.50"], date="2021-10-01")
    (finding,) = check(builder).findings
    assert (finding.rule, finding.line) == ("DX-CODE-INVALID", 1)
    assert finding.fix.action.value == "review" and finding.fix.candidates == ("M54.5",)


def test_valid_billable_code_does_not_fire(check) -> None:
    # D: therapy is the healing phase (an A code here is DX-INJURY-7TH advice).
    assert rules_of(check(claim().line("97012", ["GP"], dx=["S33.5XXD"]))) == []


class _Release:
    """A fake release: only M54.16 exists and is billable."""

    def exists(self, code: str) -> bool:
        return code == "M54.16"

    def billable(self, code: str) -> bool:
        return code == "M54.16"

    def billable_under(self, code: str) -> tuple[str, ...]:
        return ()


def test_dated_rows_win_over_the_release() -> None:
    changes = {"X12.3": (CodeChange("X12.3", date(2020, 1, 1), None, ("M54.16",), "S", True),)}
    assert validity("X123", date(2021, 1, 1), _Release(), changes).billable
    old = validity("X12.3", date(2019, 1, 1), _Release(), changes)
    assert (old.billable, old.replacement) == (False, "M54.16")
    assert validity("M54.16", None, _Release(), changes).billable


def test_bad_change_rows_name_file_and_row() -> None:
    header = "code,valid_from,valid_to,replacements,source,confirmed\n"
    with pytest.raises(PackError) as exc:
        parse_icd10_changes(
            "icd10_changes.csv", header + "M54.5,,,M54.50,ICDLIST,true\n", {"ICDLIST": {}}
        )
    assert exc.value.key == "row 2"
    with pytest.raises(PackError) as exc:
        parse_icd10_changes(
            "icd10_changes.csv", header + "M54.5,,2021-09-30,9999,ICDLIST,true\n", {"ICDLIST": {}}
        )
    assert exc.value.key == "row 2.replacements"


def test_bad_group_rows_name_file_and_key() -> None:
    header = "group,prefix,label,source,confirmed\n"
    rows = "".join(
        f"{g},M54.16,x,CIGNA-275,false\n"
        for g in ("traction_cervical", "traction_lumbar", "traction_contraindication")
    )
    sources = {"CIGNA-275": {}}
    assert parse_dx_groups("dx_groups.csv", header + rows, sources)
    with pytest.raises(PackError) as exc:
        parse_dx_groups(
            "dx_groups.csv", header + rows + "traction_lumbar,97012,x,CIGNA-275,false\n", sources
        )
    assert exc.value.key == "row 5.prefix"
    with pytest.raises(PackError) as exc:
        parse_dx_groups("dx_groups.csv", header + rows.split("\n", 1)[1], sources)
    assert exc.value.key == "group"


# -- DX-SUPPORT-TRACTION -----------------------------------------------------------------------


def test_traction_for_knee_pain_only_needs_review(check) -> None:
    (finding,) = check(claim().line("97012", ["GP"], dx=["M25.561"])).findings
    assert (finding.rule, finding.severity) == ("DX-SUPPORT-TRACTION", Severity.WARNING)
    assert finding.fix.action.value == "review"
    assert "M25.561" in finding.message


def test_traction_is_repointed_to_a_supporting_claim_diagnosis(check) -> None:
    builder = claim().line("97110", ["GP"], dx=["M51.16"], minutes=15)
    builder.line("97012", ["GP"], dx=["M25.561"])
    report = check(builder)
    (finding,) = report.findings
    assert (finding.rule, finding.line) == ("DX-SUPPORT-TRACTION", 2)
    assert finding.fix.to_json() == {"action": "add_diagnosis_pointer", "pointer": 1}
    assert _pointers(report, 2) == [2, 1]
    assert recheck(check, builder) == []


def test_no_room_for_a_fifth_pointer_means_review(check) -> None:
    builder = claim().line("97110", ["GP"], dx=["M54.12"], minutes=15)
    builder.line("97012", ["GP"], dx=["M25.561", "M25.562", "M25.551", "M25.552"])
    (finding,) = check(builder).findings
    assert finding.fix.action.value == "review" and finding.fix.candidates == ("M54.12",)


@pytest.mark.parametrize("dx", ["M51.16", "M54.2", "M50.121", "S13.4XXD", "M51.360", "M48.062"])
def test_supporting_diagnosis_does_not_fire(check, dx: str) -> None:
    assert rules_of(check(claim().line("97012", ["GP"], dx=[dx]))) == []


def test_m54_5_supports_traction_while_it_was_valid(check) -> None:
    assert rules_of(check(claim(dos="2021-06-01").line("97012", ["GP"], dx=["M54.5"]))) == []


def test_other_codes_do_not_need_traction_support(check) -> None:
    assert rules_of(check(claim().line("97110", ["GP"], dx=["M25.561"], minutes=15))) == []


def test_pointed_contraindication_warns(check) -> None:
    report = check(claim().line("97012", ["GP"], dx=["M54.12", "M50.00"]))
    (finding,) = report.findings
    assert (finding.rule, finding.severity) == ("DX-SUPPORT-TRACTION", Severity.WARNING)
    assert "contraindicated" in finding.message and "M50.00" in finding.message
    assert not finding.fix.automatic


def test_contraindication_elsewhere_on_the_claim_warns(check) -> None:
    builder = claim().line("97110", ["GP"], dx=["M47.12"], minutes=15)
    builder.line("97012", ["GP"], dx=["M51.16"])
    (finding,) = check(builder).findings
    assert finding.line == 2 and "the claim lists M47.12" in finding.message


def test_contraindication_without_support_is_one_finding(check) -> None:
    (finding,) = check(claim().line("97012", ["GP"], dx=["M51.06"])).findings
    assert "contraindicated" in finding.message and "no spinal or radicular" in finding.message


def test_contraindication_beside_a_repoint_keeps_both(check) -> None:
    builder = claim().line("97110", ["GP"], dx=["M51.16"], minutes=15)
    builder.line("97012", ["GP"], dx=["M81.0"])
    fixes = [f.fix.action.value for f in check(builder).findings]
    assert sorted(fixes) == ["add_diagnosis_pointer", "review"]


def test_pointer_skips_a_diagnosis_not_billable_on_the_date(check) -> None:
    builder = claim(dos="2022-01-01").line("97110", ["GP"], dx=[], minutes=15)
    builder.dx("M54.5")
    builder.dx("M54.16")
    report = check(builder)
    assert rules_of(report) == [("DX-CODE-INVALID", None), ("DX-POINTER-MISSING", 1)]
    assert report.findings[1].fix.pointer == 2
    assert recheck(check, builder) == []


# Audit item 7: diagnosis groups are payer-scoped (Cigna CPG 275 vs the default heuristic).
def _support(report):
    return [f for f in report.findings if f.rule == "DX-SUPPORT-TRACTION"]


@pytest.mark.parametrize("dx", ["M54.2", "M54.50", "M47.816", "M51.14"])
def test_cigna_wants_radicular_non_thoracic_diagnoses(check, dx) -> None:
    builder = claim(payer="5").payer_id("62308", "Cigna").line("97012", ["GP"], dx=[dx])
    (finding,) = _support(check(builder))
    assert "Cigna" in finding.message


@pytest.mark.parametrize("dx", ["M54.12", "M51.16", "M54.41"])
def test_cigna_radicular_diagnosis_supports(check, dx) -> None:
    builder = claim(payer="5").payer_id("62308", "Cigna").line("97012", ["GP"], dx=[dx])
    assert _support(check(builder)) == []


@pytest.mark.parametrize("dx", ["M54.2", "M99.01", "M99.03", "M48.07", "M43.16", "M51.A0"])
def test_default_groups_hold_the_spinal_codes(check, dx) -> None:
    assert _support(check(claim().line("97012", ["GP"], dx=[dx]))) == []


def test_cord_compression_is_a_contraindication(check) -> None:
    """Audit item 16: G95.2x (cord compression) is in the contraindication group."""
    (finding,) = _support(check(claim().line("97012", ["GP"], dx=["M54.12", "G95.20"])))
    assert "contraindicated" in finding.message
