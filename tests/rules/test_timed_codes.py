"""TIMED-8MIN-UNITS, TIMED-UNDER-8 and TIMED-ONE-LINE: the day's timed minutes fix its units."""

from __future__ import annotations

from typing import Any

from tests.builders import ClaimBuilder, claim
from tests.conftest import rules_of

TIMED_RULES = ("TIMED-8MIN-UNITS", "TIMED-UNDER-8", "TIMED-ONE-LINE")


def timed(report: Any) -> list[tuple[str, int | None, dict[str, Any]]]:
    return [(f.rule, f.line, f.fix.to_json()) for f in report.findings if f.rule in TIMED_RULES]


def rechecks_clean(check: Any, builder: ClaimBuilder) -> None:
    bundle = builder.bundle()
    report = check(bundle)
    bundle["entry"][0]["resource"] = report.corrected_claim
    again = check(bundle)
    assert [f.rule for f in again.findings if f.fix.automatic] == []


# -- TIMED-8MIN-UNITS --------------------------------------------------------------------------


def test_units_over_the_minutes_are_reduced(check) -> None:
    builder = claim().line("97012", ["GP"]).line("97110", ["GP"], units=4, minutes=38)
    report = check(builder)
    assert timed(report) == [("TIMED-8MIN-UNITS", 2, {"action": "set_quantity", "quantity": 3})]
    assert "bill 97110 x3" in report.findings[0].message
    rechecks_clean(check, builder)


def test_units_within_the_total_minutes_are_fine(check) -> None:
    """43 minutes = 3 units = 97110 x2 + 97140 x1 (the seed denial's timed lines)."""
    report = check(
        claim()
        .line("97110", ["GP"], units=2, minutes=28)
        .line("97140", ["GP"], units=1, minutes=15, dx=["M54.12"])
    )
    assert timed(report) == []


def test_minutes_are_pooled_across_codes(check) -> None:
    """33 min 97110 + 7 min 97140 = 40 min = 3 units; 97110 x3 + 97140 x1 is one too many."""
    builder = (
        claim().line("97110", ["GP"], units=3, minutes=33).line("97140", ["GP"], units=1, minutes=7)
    )
    report = check(builder)
    assert timed(report) == [("TIMED-8MIN-UNITS", 1, {"action": "set_quantity", "quantity": 2})]
    rechecks_clean(check, builder)


def test_a_code_that_earns_no_unit_is_removed(check) -> None:
    builder = claim().line("97110", ["GP"], units=3, minutes=38).line("97140", ["GP"], minutes=5)
    report = check(builder)
    assert timed(report) == [("TIMED-8MIN-UNITS", 2, {"action": "remove_line"})]
    rechecks_clean(check, builder)


def test_removal_that_would_lose_pooled_minutes_is_left_to_a_person(check) -> None:
    """8 + 8 + 7 = 23 min = 2 units; without the 7-minute line only 1 would remain."""
    builder = (
        claim()
        .line("97110", ["GP"], minutes=8)
        .line("97112", ["GP"], minutes=8)
        .line("97140", ["GP"], minutes=7)
    )
    report = check(builder)
    assert timed(report) == [("TIMED-8MIN-UNITS", 3, {"action": "review"})]


def test_untimed_traction_minutes_never_count(check) -> None:
    builder = claim().line("97012", ["GP"], minutes=20).line("97110", ["GP"], units=2, minutes=10)
    assert timed(check(builder)) == [
        ("TIMED-8MIN-UNITS", 2, {"action": "set_quantity", "quantity": 1})
    ]


def test_missing_minutes_give_no_finding_when_nothing_is_provably_over(check) -> None:
    report = check(
        claim().line("97110", ["GP"], units=3, minutes=38).line("97140", ["GP"], units=2)
    )
    assert timed(report) == []


def test_missing_minutes_still_review_a_code_billed_past_its_own_minutes(check) -> None:
    report = check(
        claim().line("97110", ["GP"], units=4, minutes=20).line("97140", ["GP"], units=1)
    )
    assert timed(report) == [("TIMED-8MIN-UNITS", 1, {"action": "review"})]


def test_ama_method_payer_counts_each_code_alone(check, checker) -> None:
    """A payer with the 8-minute flag and the AMA method: 97140's 7 minutes earn nothing."""
    builder = (
        claim(payer="5")
        .payer_id("87726", "UnitedHealthcare")
        .line("97110", ["GP"], units=2, minutes=33)
        .line("97140", ["GP"], units=1, minutes=7)
    )
    report = check(builder)
    assert timed(report) == []  # UHC is set to the CMS method: 40 min = 3 units
    settings = checker.knowledge.payers.payers[0].settings
    assert settings["timed_units_method"] == "cms"


def test_commercial_payer_without_the_flag_is_not_checked(check) -> None:
    report = check(claim(payer="5").line("97110", units=4, minutes=38))
    assert timed(report) == []


def test_uhc_commercial_is_checked(check) -> None:
    report = check(
        claim(payer="5").payer_id("87726", "UnitedHealthcare").line("97110", ["GP"], 4, minutes=38)
    )
    assert ("TIMED-8MIN-UNITS", 1) in rules_of(report)


def test_medicare_advantage_is_checked_through_its_flag(check) -> None:
    report = check(claim(payer="111").line("97110", ["GP"], units=4, minutes=38))
    assert ("TIMED-8MIN-UNITS", 1) in rules_of(report)


# -- TIMED-UNDER-8 -----------------------------------------------------------------------------


def test_lone_timed_service_under_eight_minutes_is_removed(check) -> None:
    builder = claim().line("97012", ["GP"]).line("97110", ["GP"], minutes=7)
    report = check(builder)
    assert timed(report) == [("TIMED-UNDER-8", 2, {"action": "remove_line"})]
    rechecks_clean(check, builder)


def test_eight_minutes_is_billable(check) -> None:
    assert timed(check(claim().line("97110", ["GP"], minutes=8))) == []


def test_two_short_services_totalling_eight_bill_one_unit(check) -> None:
    """3 + 7 minutes: one unit, for 97140; 97110 goes, but its 3 minutes keep 97140 at 8+,
    so a person removes it and keeps the minutes in the record (not under 8 either way)."""
    builder = claim().line("97110", ["GP"], minutes=3).line("97140", ["GP"], minutes=7)
    report = check(builder)
    assert timed(report) == [("TIMED-8MIN-UNITS", 1, {"action": "review"})]
    rechecks_clean(check, builder)


def test_under_eight_is_silent_without_minutes(check) -> None:
    assert timed(check(claim().line("97110", ["GP"]))) == []


def test_under_eight_not_for_commercial(check) -> None:
    assert timed(check(claim(payer="5").line("97110", minutes=5))) == []


# -- TIMED-ONE-LINE ----------------------------------------------------------------------------


def test_split_timed_code_is_merged_into_the_first_line(check) -> None:
    builder = (
        claim()
        .line("97110", ["GP"], units=1, minutes=15)
        .line("97012", ["GP"])
        .line("97110", ["GP"], units=1, minutes=15)
    )
    report = check(builder)
    assert timed(report) == [
        ("TIMED-ONE-LINE", 1, {"action": "set_quantity", "quantity": 2}),
        ("TIMED-ONE-LINE", 3, {"action": "remove_line"}),
    ]
    merged = report.corrected_claim["item"][0]
    assert merged["quantity"]["value"] == 2 and len(merged["informationSequence"]) == 2
    rechecks_clean(check, builder)


def test_merged_units_are_capped_by_the_minutes(check) -> None:
    builder = (
        claim().line("97110", ["GP"], units=2, minutes=10).line("97110", ["GP"], 2, minutes=10)
    )
    report = check(builder)
    assert timed(report) == [
        ("TIMED-ONE-LINE", 1, {"action": "set_quantity", "quantity": 1}),
        ("TIMED-ONE-LINE", 2, {"action": "remove_line"}),
    ]
    rechecks_clean(check, builder)


def test_split_lines_without_minutes_are_merged_by_their_units(check) -> None:
    builder = claim().line("97110", ["GP"], units=1).line("97110", ["GP"], units=2)
    report = check(builder)
    assert timed(report) == [
        ("TIMED-ONE-LINE", 1, {"action": "set_quantity", "quantity": 3}),
        ("TIMED-ONE-LINE", 2, {"action": "remove_line"}),
    ]
    rechecks_clean(check, builder)


def test_pt_and_pta_units_of_one_code_stay_on_separate_lines(check) -> None:
    """Audit item 1 (CMS CQ/CO billing examples): the PT's units and the PTA's units of one
    code are billed on separate lines, CQ only on the assistant's; they are not merged."""
    builder = (
        claim()
        .line("97110", ["GP"], units=2, minutes=30, by="PT")
        .line("97110", ["GP", "CQ"], units=1, minutes=15, by="PTA")
    )
    assert timed(check(builder)) == []


def test_two_pta_lines_of_one_code_are_still_merged(check) -> None:
    """Near miss: the same code with the same payment modifiers on two lines is one line."""
    builder = (
        claim()
        .line("97110", ["GP", "CQ"], units=1, minutes=15, by="PTA")
        .line("97110", ["GP", "CQ"], units=1, minutes=15, by="PTA")
    )
    assert [(r, ln) for r, ln, _ in timed(check(builder))] == [
        ("TIMED-ONE-LINE", 1),
        ("TIMED-ONE-LINE", 2),
    ]


def test_one_line_rule_is_a_warning_from_one_contractor(check) -> None:
    """Audit item 1: the one-line rule rests on First Coast alone, so it warns."""
    builder = claim().line("97110", ["GP"], units=1).line("97110", ["GP"], units=1)
    assert {f.severity.value for f in check(builder).findings if f.rule == "TIMED-ONE-LINE"} == {
        "warning"
    }


def test_same_code_on_different_days_is_fine(check) -> None:
    report = check(
        claim()
        .line("97110", ["GP"], minutes=15)
        .line("97110", ["GP"], minutes=15, date="2025-06-12")
    )
    assert timed(report) == []


def test_one_line_starts_2021_04_19(check) -> None:
    report = check(
        ClaimBuilder("1", "2021-04-18")
        .line("97110", ["GP"], units=1, minutes=15)
        .line("97110", ["GP"], units=1, minutes=15)
    )
    assert timed(report) == []


def test_before_2021_over_billed_split_lines_are_reduced_line_by_line(check) -> None:
    builder = (
        ClaimBuilder("1", "2020-06-10")
        .line("97110", ["GP"], units=2, minutes=10)
        .line("97110", ["GP"], units=2, minutes=10)
    )
    report = check(builder)
    assert timed(report) == [
        ("TIMED-8MIN-UNITS", 1, {"action": "set_quantity", "quantity": 1}),
        ("TIMED-8MIN-UNITS", 2, {"action": "remove_line"}),
    ]
    rechecks_clean(check, builder)


def test_one_line_is_medicare_only(check) -> None:
    report = check(
        claim(payer="5")
        .payer_id("87726", "UnitedHealthcare")
        .line("97110", ["GP"], units=1, minutes=15)
        .line("97110", ["GP"], units=1, minutes=15)
    )
    assert timed(report) == []


def test_over_billed_pt_and_pta_lines_are_cut_line_by_line(check) -> None:
    """23 timed minutes earn 2 units: billed as a PT line and a PTA line (two line-kinds), the
    units are cut from the later line, not merged into the first."""
    builder = (
        claim()
        .line("97110", ["GP"], units=2, minutes=15, by="PT")
        .line("97110", ["GP", "CQ"], units=2, minutes=8, by="PTA")
    )
    assert timed(check(builder)) == [("TIMED-8MIN-UNITS", 2, {"action": "remove_line"})]


def test_over_billed_lines_of_one_kind_are_capped_by_their_merge(check) -> None:
    """Near miss: the same 23 minutes on two PTA lines are one line-kind: merged, capped at 2."""
    builder = (
        claim()
        .line("97110", ["GP", "CQ"], units=3, minutes=15, by="PTA")
        .line("97110", ["GP", "CQ"], units=1, minutes=8, by="PTA")
    )
    assert timed(check(builder)) == [
        ("TIMED-ONE-LINE", 1, {"action": "set_quantity", "quantity": 2}),
        ("TIMED-ONE-LINE", 2, {"action": "remove_line"}),
    ]
