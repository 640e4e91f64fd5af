"""MCR-TELEHEALTH: telehealth lines must be on the Medicare telehealth list on their date."""

from __future__ import annotations

import pytest

from tests.builders import claim


def telehealth(report):
    return [f for f in report.findings if f.rule == "MCR-TELEHEALTH"]


@pytest.mark.parametrize(
    ("pos", "mods"), [("02", ["GP"]), ("10", ["GP"]), ("11", ["GP", "95"]), ("11", ["GP", "GT"])]
)
def test_traction_billed_as_telehealth_is_flagged(check, pos, mods) -> None:
    (finding,) = telehealth(check(claim(dos="2025-03-04").line("97012", mods, pos=pos)))
    assert finding.severity.value == "error" and not finding.fix.automatic
    assert "not on the Medicare telehealth list" in finding.message
    # The telehealth marks are what is wrong, not choices: nothing is offered to "choose".
    assert finding.fix.candidates == () and finding.fix.describe() == "review"
    assert "UNCONFIRMED" in finding.citation


def test_exercise_by_telehealth_is_on_the_list(check) -> None:
    builder = claim(dos="2025-03-04").line("97110", ["GP", "95"], pos="10", minutes=30, units=2)
    assert telehealth(check(builder)) == []


def test_exercise_by_telehealth_before_the_list_had_it(check) -> None:
    builder = claim(dos="2019-06-04").line("97110", ["GP", "95"], pos="02", minutes=30, units=2)
    assert len(telehealth(check(builder))) == 1


def test_in_person_traction_is_not_telehealth(check) -> None:
    assert telehealth(check(claim().line("97012", ["GP"], pos="11"))) == []


def test_commercial_telehealth_is_not_judged_by_the_medicare_list(check) -> None:
    assert telehealth(check(claim(payer="5").line("97012", ["GP", "95"], pos="02"))) == []
