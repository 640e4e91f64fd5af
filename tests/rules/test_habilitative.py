"""THERAPY-MOD-HAB: a payer that covers habilitative and rehabilitative therapy as separate
benefits wants 96 or 97 (never both) on each therapy line. No payer is on by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin.claim_check import ClaimChecker
from rules.knowledge.load import load_knowledge
from tests.builders import claim

OPERATOR_FILE = """
payers:
  - id: hab-plan
    label: Habilitative Health Plan
    family: commercial
    match: {payer_ids: ["99901"], names: []}
    settings: {habilitative_modifiers_required: true}
  - id: hab-plan-reported
    label: Reported Health Plan
    family: commercial
    match: {payer_ids: ["99902"], names: []}
    settings: {habilitative_modifiers_required: true, unconfirmed: [habilitative_modifiers_required]}
"""


@pytest.fixture(scope="module")
def check_with_plan(tmp_path_factory):
    path: Path = tmp_path_factory.mktemp("payers") / "payers.yaml"
    path.write_text(OPERATOR_FILE, encoding="utf-8")
    checker = ClaimChecker(load_knowledge(str(path)))

    def run(builder):
        (report,) = checker.check_document(builder.bundle())
        return report

    return run


def hab(report):
    return [f for f in report.findings if f.rule == "THERAPY-MOD-HAB"]


def plan(payer_id: str = "99901"):
    return claim(payer="5").payer_id(payer_id, "Plan")


def test_therapy_line_without_96_or_97_fires_for_a_payer_that_requires_them(check_with_plan):
    (finding,) = hab(check_with_plan(plan().line("97012", ["GP"])))
    assert finding.severity.value == "warning" and finding.fix.candidates == ("96", "97")
    assert "Habilitative Health Plan" in finding.message


def test_both_96_and_97_fire(check_with_plan) -> None:
    (finding,) = hab(check_with_plan(plan().line("97012", ["GP", "96", "97"])))
    assert "both" in finding.message


@pytest.mark.parametrize("modifier", ["96", "97"])
def test_one_of_them_is_fine(check_with_plan, modifier: str) -> None:
    assert hab(check_with_plan(plan().line("97012", ["GP", modifier]))) == []


def test_a_code_that_is_not_therapy_is_not_judged(check_with_plan) -> None:
    builder = plan().line("97012", ["GP", "97"]).line("99213", by="MD")
    assert hab(check_with_plan(builder)) == []


def test_an_unconfirmed_setting_is_advice_and_says_so(check_with_plan) -> None:
    (finding,) = hab(check_with_plan(plan("99902").line("97012", ["GP"])))
    assert finding.severity.value == "info"
    assert "setting UNCONFIRMED: habilitative_modifiers_required" in finding.citation


@pytest.mark.parametrize("payer", ["1", "5", "2"])
def test_no_shipped_payer_is_switched_on(check, payer: str) -> None:
    assert hab(check(claim(payer=payer).line("97012", ["GP"]))) == []


def test_uhc_is_not_switched_on_on_a_vendor_blog(check) -> None:
    builder = claim(payer="5").payer_id("87726", "UnitedHealthcare").line("97012", ["GP"])
    assert hab(check(builder)) == []
