from __future__ import annotations

import pytest

from rules.knowledge.load import parse_thresholds
from rules.knowledge.model import PackError
from rules.model import Severity
from tests.builders import claim
from tests.rules.corrected import modifiers_of, recheck


def kx(report):
    return [f for f in report.findings if f.rule == "MCR-KX"]


def test_past_threshold_every_pt_line_gets_kx(check) -> None:
    builder = claim().ytd(2500).line("97012", ["GP"]).line("97110", ["GP"], minutes=15)
    report = check(builder)
    assert [(f.line, f.severity, f.fix.to_json()) for f in kx(report)] == [
        (1, Severity.ERROR, {"action": "add_modifier", "modifier": "KX"}),
        (2, Severity.ERROR, {"action": "add_modifier", "modifier": "KX"}),
    ]
    assert "2,410" in kx(report)[0].message
    assert modifiers_of(report.corrected_claim, 1) == ["GP", "KX"]
    assert recheck(check, builder) == []


def test_threshold_reached_exactly_needs_kx(check) -> None:
    assert len(kx(check(claim().ytd(2410).line("97012", ["GP"])))) == 1


def test_threshold_follows_the_year_of_service(check) -> None:
    assert len(kx(check(claim(dos="2024-06-10").ytd(2400).line("97012", ["GP"])))) == 1
    assert kx(check(claim(dos="2025-06-10").ytd(2400).line("97012", ["GP"]))) == []


def test_slp_line_counts_with_pt(check) -> None:
    (finding,) = kx(check(claim().ytd(2500).line("97012", ["GN"], by="SLP")))
    assert finding.fix.modifier == "KX"


def test_line_about_to_get_gp_also_gets_kx(check) -> None:
    builder = claim().ytd(2500).line("97012")
    rules = {(f.rule, f.fix.modifier) for f in check(builder).findings}
    assert {("THERAPY-MOD-MISSING", "GP"), ("MCR-KX", "KX")} <= rules
    assert recheck(check, builder) == []


def test_claim_that_may_cross_the_threshold_is_a_warning_to_review(check) -> None:
    builder = claim().ytd(2400).line("97012", ["GP"], price=45)
    (finding,) = kx(check(builder))
    assert (finding.line, finding.severity) == (None, Severity.WARNING)
    assert not finding.fix.automatic and finding.fix.candidates == ("KX",)


def test_targeted_medical_review_level_is_info(check) -> None:
    report = check(claim().ytd(3100).line("97012", ["GP", "KX"]))
    (finding,) = kx(report)
    assert (finding.line, finding.severity, finding.fix.automatic) == (None, Severity.INFO, False)
    assert "3,000" in finding.message and report.clean


@pytest.mark.parametrize(
    "builder",
    [
        claim().line("97012", ["GP"]),
        claim().ytd(2000).line("97012", ["GP"]),
        claim().ytd(2500).line("97012", ["GP", "KX"]),
        claim(dos="2021-06-10").ytd(5000).line("97012", ["GP"]),
        claim().ytd(2500).line("97012", ["GO"], by="OT"),
        claim().ytd(2500).line("97012", ["GP"], by="DC"),
        claim().ytd(2500).line("97012", ["GP", "GY"]),
        claim(payer="5").ytd(2500).line("97012", ["GP"]),
        claim(payer="111").ytd(2500).line("97012", ["GP"]),
    ],
    ids=[
        "no-ytd",
        "under",
        "kx-present",
        "year-not-listed",
        "ot",
        "chiropractor-excluded",
        "gy",
        "commercial",
        "medicare-advantage",
    ],
)
def test_no_kx_finding(check, builder) -> None:
    assert kx(check(builder)) == []


HEADER = "year,kind,amount,source,confirmed\n"


@pytest.mark.parametrize(
    ("rows", "key"),
    [
        ("2025,cap,2410,NOR-KX,true\n", "row 2.kind"),
        ("2025,kx,lots,NOR-KX,true\n", "row 2"),
        ("2025,kx,2410,,true\n", "row 2.source"),
        ("2025,kx,2410,NOPE,true\n", "row 2.source"),
        ("2025,kx,2410,NOR-KX,true\n2025,kx,2400,NOR-KX,true\n", "row 3"),
    ],
)
def test_threshold_pack_is_validated(knowledge, rows: str, key: str) -> None:
    with pytest.raises(PackError) as error:
        parse_thresholds("kx_thresholds.csv", HEADER + rows, knowledge.sources)
    assert error.value.key == key


def test_shipped_thresholds(knowledge) -> None:
    confirmed = {
        y: (t.amount, t.confirmed)
        for (kind, y), t in knowledge.therapy_thresholds.items()
        if kind == "kx"
    }
    assert confirmed == {
        2022: (2150, True),
        2023: (2230, True),
        2024: (2330, True),
        2025: (2410, False),
        2026: (2480, False),
    }


# Audit item 15: a year with no known KX threshold is never a silent pass.
def _years_unknown(check, knowledge, builder):
    from rules.checks.kx_threshold import years_without_threshold
    from rules.engine import RuleContext, select_rules

    billing = check(builder).billing
    ctx = RuleContext(knowledge, select_rules(knowledge, billing, None), payer=billing.payer)
    return years_without_threshold(billing, ctx)


def test_a_year_without_a_threshold_is_named(check, knowledge) -> None:
    builder = claim(dos="2027-02-01").ytd(3100).line("97110", ["GP"], minutes=15)
    assert _years_unknown(check, knowledge, builder) == [2027]


def test_a_year_with_a_threshold_is_judged(check, knowledge) -> None:
    builder = claim(dos="2026-02-01").ytd(3100).line("97110", ["GP"], minutes=15)
    assert _years_unknown(check, knowledge, builder) == []


def test_without_a_year_to_date_amount_nothing_is_missing(check, knowledge) -> None:
    builder = claim(dos="2027-02-01").line("97110", ["GP"], minutes=15)
    assert _years_unknown(check, knowledge, builder) == []
