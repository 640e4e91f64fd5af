"""T97012-PASSIVE-ONLY: Cigna pays traction only beside active therapy (advice)."""

from __future__ import annotations

from tests.builders import claim


def passive(report):
    return [f for f in report.findings if f.rule == "T97012-PASSIVE-ONLY"]


def cigna():
    return claim(payer="5").payer_id("62308", "Cigna")


def test_traction_alone_to_cigna_is_advised(check) -> None:
    (finding,) = passive(check(cigna().line("97012", ["GP"], dx=["M54.16"])))
    assert finding.severity.value == "info" and not finding.fix.automatic
    assert "UNCONFIRMED" in finding.citation


def test_traction_with_exercise_is_fine(check) -> None:
    builder = cigna().line("97012", ["GP"], dx=["M54.16"]).line("97110", ["GP"], minutes=15)
    assert passive(check(builder)) == []


def test_medicare_is_not_advised_by_default(check) -> None:
    assert passive(check(claim().line("97012", ["GP"]))) == []
