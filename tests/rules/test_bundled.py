"""MCR-STATUS-B: a PFS status B code (97010) is never paid separately by Medicare."""

from __future__ import annotations

from tests.builders import claim
from tests.rules.corrected import recheck


def status_b(report):
    return [f for f in report.findings if f.rule == "MCR-STATUS-B"]


def test_hot_packs_beside_traction_to_medicare_are_removed(check) -> None:
    builder = claim().line("97012", ["GP"]).line("97010", ["GP"])
    report = check(builder)
    (finding,) = status_b(report)
    assert (finding.line, finding.severity.value) == (2, "error")
    assert finding.fix.to_json() == {"action": "remove_line"}
    assert [it["sequence"] for it in report.corrected_claim["item"]] == [1]
    assert recheck(check, builder) == []


def test_hot_packs_to_a_commercial_payer_are_not_judged(check) -> None:
    assert status_b(check(claim(payer="5").line("97012", ["GP"]).line("97010", ["GP"]))) == []


def test_payable_modality_is_not_bundled(check) -> None:
    assert status_b(check(claim().line("97012", ["GP"]).line("97018", ["GP"]))) == []
