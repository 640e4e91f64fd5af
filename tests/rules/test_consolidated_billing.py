"""MCR-SNF-CB: therapy for a resident of a Medicare skilled nursing facility is billed by the
SNF (consolidated billing), not on a therapist's own professional claim."""

from __future__ import annotations

import pytest

from tests.builders import claim


def snf(report):
    return [f for f in report.findings if f.rule == "MCR-SNF-CB"]


def test_therapy_at_a_snf_fires(check) -> None:
    (finding,) = snf(check(claim().line("97012", ["GP"], pos="31")))
    assert finding.severity.value == "warning" and finding.line == 1
    assert finding.fix.action.value == "review" and "consolidated billing" in finding.message


def test_therapy_at_a_nursing_facility_is_advice(check) -> None:
    (finding,) = snf(check(claim().line("97110", ["GP"], pos="32", minutes=15)))
    assert finding.severity.value == "info"


@pytest.mark.parametrize("pos", ["13", "11", "12"])
def test_assisted_living_office_and_home_are_not_a_snf(check, pos: str) -> None:
    assert snf(check(claim().line("97012", ["GP"], pos=pos))) == []


def test_a_physicians_visit_at_the_snf_is_excluded_from_consolidated_billing(check) -> None:
    builder = claim().line("97012", ["GP"], pos="11").line("99213", by="MD", pos="31")
    assert snf(check(builder)) == []


def test_chiropractic_manipulation_is_a_physician_service_not_therapy(check) -> None:
    builder = claim().line("98940", ["AT"], by="DC", dx=["M99.03"], pos="31")
    assert snf(check(builder)) == []


@pytest.mark.parametrize("payer", ["11", "2", "5"])
def test_other_payers_are_not_judged(check, payer: str) -> None:
    assert snf(check(claim(payer=payer).line("97012", ["GP"], pos="31"))) == []


def test_rule_not_in_force_before_snf_pps(check) -> None:
    assert snf(check(claim(dos="1998-06-30").line("97012", ["GP"], pos="31"))) == []
