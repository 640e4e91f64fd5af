"""What a check declares holds, so the engine may skip it: a `review_only` check never suggests
an automatic fix (the re-check of a corrected claim keeps only revealed automatic fixes), an
`only_with` check reports nothing on a claim without one of its codes. The reports are the
same as with every check run, in both rounds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from plugin.billing_model import BillingModelBuilder, claim_reference
from plugin.claim_check import ClaimChecker, ClaimInput, claims_in
from plugin.scan.files import discover, read_lines
from plugin.scan.index import load_references
from rules.engine import (
    RuleContext,
    RuleSelector,
    SelectedCheck,
    registered_checks,
    select_rules,
)
from rules.model import BillingClaim
from rules.verdict import scope_of
from tests.rules.test_properties import KNOWLEDGE, claims
from tests.support.bulk_export import write_generated_export
from tests.support.claims import bundle_files

CHECKER = ClaimChecker(KNOWLEDGE)
BUILDER = BillingModelBuilder(KNOWLEDGE)
EVERY_RULE = frozenset(KNOWLEDGE.rules)
REVIEW_ONLY = [c for c in registered_checks() if c.review_only]
ONLY_WITH = [
    (c, frozenset(c.only_with(KNOWLEDGE.codes))) for c in registered_checks() if c.only_with
]
CHECKS_FOR = RuleSelector.checks_for


def every_check(
    selector: RuleSelector, selected: frozenset[str], automatic_only: bool = False
) -> tuple[SelectedCheck, ...]:
    """`checks_for` without what the checks declare: every check runs, in the re-check too."""
    return tuple((function, None) for function, _ in CHECKS_FOR(selector, selected))


def contexts(billing: BillingClaim) -> list[RuleContext]:
    """The claim's rules, and every rule selected (and every line judged), so no selection
    hides a finding."""
    scope = scope_of(billing, KNOWLEDGE, None)
    return [
        RuleContext(
            KNOWLEDGE,
            select_rules(KNOWLEDGE, billing, None),
            payer=billing.payer,
            judged=scope.judged,
        ),
        RuleContext(KNOWLEDGE, EVERY_RULE, payer=billing.payer),
    ]


def automatic_from_review_only(billing: BillingClaim) -> list[str]:
    """Automatic fixes a review-only check suggests."""
    return [
        f"{registered.function.__name__}: {finding.rule} {finding.fix.to_json()}"
        for ctx in contexts(billing)
        for registered in REVIEW_ONLY
        for finding in registered.function(billing, ctx)
        if finding is not None and finding.fix.automatic
    ]


def reported_without_codes(billing: BillingClaim) -> list[str]:
    """Findings of an `only_with` check on a claim that holds none of its codes."""
    present = {line.code for line in billing.lines}
    return [
        f"{registered.function.__name__}: {finding.rule} line {finding.line}"
        for ctx in contexts(billing)
        for registered, needed in ONLY_WITH
        if present.isdisjoint(needed)
        for finding in registered.function(billing, ctx)
        if finding is not None
    ]


def assert_declarations_hold(claim_input: ClaimInput) -> None:
    """On the claim and on its corrected copy (what the re-check reads)."""
    report = CHECKER.check(claim_input)
    with mock.patch.object(RuleSelector, "checks_for", every_check):
        reference = CHECKER.check(claim_input)
    assert report.to_json() == reference.to_json()
    corrected = report.corrected_claim
    read = [BUILDER.read(claim_input.claim, claim_input.index, claim_input.reference)]
    if corrected is not claim_input.claim and corrected.get("item"):
        read.append(BUILDER.read(corrected, claim_input.index, claim_input.reference))
    for reading in read:
        assert automatic_from_review_only(reading.billing) == []
        assert reported_without_codes(reading.billing) == []


def test_some_checks_declare() -> None:
    assert {c.function.__name__ for c in REVIEW_ONLY} >= {"telehealth_list", "passive_only"}
    assert {c.function.__name__ for c, _ in ONLY_WITH} >= {"regions_fit_code", "medicare_code"}
    assert all(needed for _, needed in ONLY_WITH)


@pytest.mark.parametrize("path", bundle_files(), ids=lambda p: p.name)
def test_fixture_claims(path: Path) -> None:
    for claim_input in claims_in(json.loads(path.read_text()), validate=False):
        assert_declarations_hold(claim_input)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_generated_claims(bundle: dict[str, Any]) -> None:
    for claim_input in claims_in(bundle, validate=False):
        assert_declarations_hold(claim_input)


def export_claims(folder: Path, count: int) -> Iterator[ClaimInput]:
    write_generated_export(folder, count)
    files = discover([folder])
    index = load_references(files.references, [])
    for source in files.claims:
        for _, line in read_lines(source.path):
            claim = orjson.loads(line)
            yield ClaimInput(claim_reference(claim), claim, index)


def test_generated_export(tmp_path: Path) -> None:
    checked = 0
    for claim_input in export_claims(tmp_path, 400):
        assert_declarations_hold(claim_input)
        checked += 1
    assert checked == 400
