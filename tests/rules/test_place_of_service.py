from __future__ import annotations

from rules.model import Severity
from tests.builders import claim
from tests.rules.corrected import recheck


def pos(report):
    return [f for f in report.findings if f.rule == "POS-MISSING"]


def test_therapist_line_without_pos_is_offered_office_or_home(check) -> None:
    """Audit item 12: a therapist in private practice bills office (11) or home (12); hospital
    outpatient therapy (19/22) is the hospital's institutional claim."""
    (finding,) = pos(check(claim(payer="5").line("97012", ["GP"], pos=None, by="PT")))
    assert finding.fix.to_json() == {"action": "add_pos", "pos": "11", "alternatives": ["12"]}


def test_line_without_pos_gets_office(check) -> None:
    """Near miss: a physician's line keeps every suggestion, hospital outpatient included."""
    builder = claim(payer="5").line("97012", ["GP"], pos=None, by="MD")
    report = check(builder)
    (finding,) = pos(report)
    assert (finding.line, finding.severity) == (1, Severity.ERROR)
    assert finding.fix.to_json() == {
        "action": "add_pos",
        "pos": "11",
        "alternatives": ["12", "49", "19", "22"],
    }
    location = report.corrected_claim["item"][0]["locationCodeableConcept"]
    assert location["coding"][0]["code"] == "11"
    assert recheck(check, builder) == []


def test_the_claims_one_other_pos_is_suggested(check) -> None:
    builder = claim().line("97012", ["GP"], pos="12").line("97110", ["GP"], minutes=15, pos=None)
    (finding,) = pos(check(builder))
    assert (finding.line, finding.fix.pos) == (2, "12")
    assert finding.fix.alternatives == ("11",)  # a PT: office or home only
    assert recheck(check, builder) == []


def test_mixed_pos_elsewhere_falls_back_to_office(check) -> None:
    builder = (
        claim()
        .line("97012", ["GP"], pos="12")
        .line("97110", ["GP"], minutes=15, pos="49")
        .line("97140", ["GP", "XS"], minutes=15, pos=None, dx=["M54.2"])
    )
    (finding,) = pos(check(builder))
    assert (finding.line, finding.fix.pos) == (3, "11")


def test_lines_with_pos_pass(check) -> None:
    assert pos(check(claim().line("97012", ["GP"]).line("97110", ["GP"], minutes=15))) == []
