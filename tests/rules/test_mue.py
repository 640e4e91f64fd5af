"""MUE-UNITS: every code in the MUE table, per line (MAI 1) or per day (MAI 2/3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from plugin.claim_check import ClaimChecker
from rules.knowledge.model import MueLimit
from tests.builders import claim
from tests.rules.corrected import recheck


def mue(report):
    return [(f.line, f.fix.to_json()) for f in report.findings if f.rule == "MUE-UNITS"]


def test_untimed_code_over_its_mue_is_cut(check) -> None:
    builder = claim().line("97012", ["GP"]).line("97018", ["GP"], units=2)
    assert mue(check(builder)) == [(2, {"action": "set_quantity", "quantity": 1})]
    assert recheck(check, builder) == []


def test_date_of_service_mue_counts_every_line_of_the_day(check) -> None:
    """MAI 3: two 97024 lines of one unit each on one day are two units against an MUE of 1."""
    builder = claim().line("97024", ["GP"]).line("97024", ["GP"])
    assert mue(check(builder)) == [(2, {"action": "remove_line"})]


def test_mue_on_different_days_is_fine(check) -> None:
    builder = claim().line("97024", ["GP"]).line("97024", ["GP"], date="2025-06-11")
    assert mue(check(builder)) == []


def test_timed_code_over_its_mue_leaves_units_to_a_person(check) -> None:
    """97035 MUE 2; the 8-minute rule also cuts timed units, so the MUE does not set them."""
    (line, fix) = mue(check(claim().line("97035", ["GP"], units=3, minutes=45)))[0]
    assert (line, fix) == (1, {"action": "review"})


def test_code_within_its_mue_passes(check) -> None:
    assert mue(check(claim().line("97035", ["GP"], units=2, minutes=30))) == []


def test_traction_is_left_to_its_own_rules(check) -> None:
    report = check(claim().line("97012", ["GP"], units=2))
    assert mue(report) == [] and [f.rule for f in report.findings] == ["T97012-UNITS-ONE"]


def test_line_edit_mai_1_judges_each_line(knowledge) -> None:
    limits = dict(knowledge.mue)
    limits["97110"] = MueLimit("97110", 2, 1, date(2017, 1, 1), "FP-MUE", False)
    checker = ClaimChecker(replace(knowledge, mue=limits))
    builder = (
        claim(payer="2")
        .line("97110", ["GP"], units=2, minutes=30)
        .line("97110", ["GP"], units=2, minutes=30, date="2025-06-11")
    )
    (report,) = checker.check_document(builder.bundle())
    assert mue(report) == []
