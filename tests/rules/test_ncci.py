from __future__ import annotations

from datetime import date

from tests.builders import claim
from tests.conftest import rules_of


def seed(**kw):
    """97012 lumbar + 97140 cervical, the seed denial's shape."""
    return (
        claim()
        .line("97012", ["GP"], dx=["M51.16"])
        .line("97140", ["GP"], dx=["M54.2"], minutes=15, **kw)
    )


def test_different_regions_get_xs_with_59_alternative(check) -> None:
    report = check(seed())
    (finding,) = report.findings
    assert (finding.rule, finding.line) == ("NCCI-PTP-MOD-MISSING", 2)
    assert finding.fix.to_json() == {
        "action": "add_modifier",
        "modifier": "XS",
        "alternatives": ["59"],
    }
    assert "cervical" in finding.message and "lumbar" in finding.message


def test_same_region_needs_review(check) -> None:
    report = check(
        claim()
        .line("97012", ["GP"], dx=["M51.16"])
        .line("97140", ["GP"], dx=["M54.16"], minutes=15)
    )
    (finding,) = report.findings
    assert finding.rule == "NCCI-PTP-MOD-MISSING" and not finding.fix.automatic
    assert finding.fix.candidates == ("XE", "XU", "59")


def test_body_site_wins_over_diagnosis_region(check) -> None:
    report = check(
        claim()
        .line("97012", ["GP"], dx=["M51.16"])
        .line("97140", ["GP"], dx=["M51.16"], minutes=15, body_site="Cervical spine")
    )
    assert report.findings[0].fix.modifier == "XS"


def test_different_practitioners_get_xp(check) -> None:
    builder = claim().line("97012", ["GP"], dx=["M51.16"])
    builder.line("97140", ["GP"], dx=["M51.16"], minutes=15)
    builder.claim["careTeam"].append(
        {
            "sequence": 2,
            "provider": {"reference": "Practitioner/b"},
            "qualification": builder.claim["careTeam"][0]["qualification"],
        }
    )
    builder.claim["item"][1]["careTeamSequence"] = [2]
    assert check(builder).findings[0].fix.modifier == "XP"


def test_column2_with_modifier_is_fine(check) -> None:
    assert (
        rules_of(check(claim().line("97012", ["GP"]).line("97140", ["GP", "XS"], minutes=15))) == []
    )
    assert (
        rules_of(check(claim().line("97012", ["GP"]).line("97140", ["GP", "59"], minutes=15))) == []
    )


def test_pair_on_different_days_is_fine(check) -> None:
    assert rules_of(check(seed(date="2025-06-11"))) == []


def test_edit_not_active_before_its_effective_date(check) -> None:
    assert (
        rules_of(
            check(claim(dos="2020-06-01").line("97012", ["GP"]).line("97140", ["GP"], minutes=15))
        )
        == []
    )


def test_as_of_reads_the_table_at_another_date(check) -> None:
    report = check(
        claim(dos="2020-06-01")
        .line("97012", ["GP"], dx=["M51.16"])
        .line("97140", ["GP"], dx=["M54.2"], minutes=15),
        as_of=date(2025, 1, 1),
    )
    assert ("NCCI-PTP-MOD-MISSING", 2) in rules_of(report)


def test_misplaced_59_on_medicare_is_advice_only(check) -> None:
    """Audit item 6 (CR 11168): Medicare Part B accepts 59/X on either code of the pair, so a
    modifier on the column-1 code is not a denial: info, and nothing is moved."""
    report = check(claim().line("97012", ["GP", "59"]).line("97140", ["GP"], minutes=15))
    (finding,) = [f for f in report.findings if f.rule.startswith("NCCI")]
    assert (finding.rule, finding.line, finding.severity.value) == (
        "NCCI-PTP-MOD-MISPLACED",
        2,
        "info",
    )
    assert not finding.fix.automatic
    assert report.clean


def test_medicare_column1_without_modifier_is_still_denied(check) -> None:
    """Near miss: with no 59/X on either code, Medicare still denies column 2."""
    report = check(claim().line("97012", ["GP"]).line("97140", ["GP"], minutes=15))
    assert ("NCCI-PTP-MOD-MISSING", 2) in rules_of(report)


def test_misplaced_59_moves_to_column2(check) -> None:
    """Payers without the CR 11168 setting (Medicaid here) want it on the column-2 code."""
    report = check(claim(payer="2").line("97012", ["GP", "59"]).line("97140", ["GP"], minutes=15))
    assert sorted(rules_of(report)) == [
        ("NCCI-PTP-MOD-MISPLACED", 1),
        ("NCCI-PTP-MOD-MISPLACED", 2),
    ]
    items = report.corrected_claim["item"]
    assert [m["coding"][0]["code"] for m in items[0]["modifier"]] == ["GP"]
    assert [m["coding"][0]["code"] for m in items[1]["modifier"]] == ["GP", "59"]
    assert items[1]["modifier"][1]["coding"][0]["system"] == "http://www.ama-assn.org/go/cpt"


def test_indicator_zero_pair_is_never_in_force_after_deletion(check) -> None:
    report = check(claim(dos="2023-01-01").line("97161", ["GP"]).line("97530", ["GP"], minutes=15))
    assert [r for r, _ in rules_of(report) if r.startswith("NCCI")] == []


def test_omt_with_em_suggests_25(check) -> None:
    report = check(claim(dos="2024-03-01").line("98925", by="MD").line("99213", by="MD"))
    finding = next(f for f in report.findings if f.rule == "NCCI-PTP-MOD-MISSING")
    assert finding.fix.to_json() == {"action": "add_modifier", "modifier": "25"}


def test_ncci_not_applied_to_unknown_payer(check) -> None:
    assert (
        rules_of(check(claim(payer="8").line("97012", ["GP"]).line("97140", ["GP"], minutes=15)))
        == []
    )


def test_59_with_x_keeps_x(check) -> None:
    report = check(claim().line("97012", ["GP"]).line("97140", ["GP", "59", "XS"], minutes=15))
    (finding,) = report.findings
    assert finding.rule == "MOD-59-X-DUP"
    assert finding.fix.to_json() == {"action": "remove_modifier", "modifier": "59"}


def test_two_x_modifiers_need_review(check) -> None:
    report = check(claim().line("97012", ["GP"]).line("97140", ["GP", "XS", "XU"], minutes=15))
    (finding,) = report.findings
    assert finding.rule == "MOD-59-X-DUP" and finding.fix.candidates == ("XS", "XU")


def test_single_x_is_fine(check) -> None:
    assert rules_of(check(claim().line("97140", ["GP", "XU"], minutes=15))) == []
