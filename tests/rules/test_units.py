from __future__ import annotations

from tests.builders import claim
from tests.conftest import rules_of


def test_traction_billed_twice_units_is_set_to_one(check) -> None:
    report = check(claim().line("97012", ["GP"], units=2))
    (finding,) = report.findings
    assert (finding.rule, finding.line) == ("T97012-UNITS-ONE", 1)
    assert finding.fix.to_json() == {"action": "set_quantity", "quantity": 1}
    assert report.corrected_claim["item"][0]["quantity"]["value"] == 1


def test_traction_one_unit_is_fine(check) -> None:
    assert rules_of(check(claim().line("97012", ["GP"], units=1))) == []


def test_units_one_applies_to_commercial_too(check) -> None:
    report = check(claim(payer="5").line("97012", units=3))
    assert ("T97012-UNITS-ONE", 1) in rules_of(report)


def test_second_traction_line_same_day_is_removed(check) -> None:
    report = check(claim().line("97012", ["GP"]).line("97012", ["GP"]))
    assert rules_of(report) == [("T97012-DUP-DOS", 2)]
    assert [it["sequence"] for it in report.corrected_claim["item"]] == [1]


def test_traction_on_two_different_days_is_fine(check) -> None:
    report = check(claim().line("97012", ["GP"]).line("97012", ["GP"], date="2025-06-12"))
    assert rules_of(report) == []


def test_fractional_units_on_traction_set_to_one(check) -> None:
    report = check(claim().line("97012", ["GP"], units=1.5))
    assert rules_of(report) == [("CLAIM-QTY-INVALID", 1)]
    assert report.findings[0].fix.quantity == 1


def test_missing_units_on_timed_code_use_the_minutes(check) -> None:
    report = check(claim().line("97110", ["GP"], units=None, minutes=38))
    assert rules_of(report) == [("CLAIM-QTY-INVALID", 1)]
    assert report.findings[0].fix.to_json() == {"action": "set_quantity", "quantity": 3}


def test_zero_units_without_minutes_needs_review(check) -> None:
    report = check(claim().line("97110", ["GP"], units=0))
    (finding,) = report.findings
    assert finding.rule == "CLAIM-QTY-INVALID" and not finding.fix.automatic


def test_net_and_total_follow_the_new_quantity(check) -> None:
    builder = claim().line("97012", ["GP"], units=2, price=45)
    builder.claim["total"] = {"value": 90, "currency": "USD"}
    report = check(builder)
    item = report.corrected_claim["item"][0]
    assert item["net"]["value"] == 45
    assert report.corrected_claim["total"]["value"] == 45
