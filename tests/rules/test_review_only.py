"""Checks declared `review_only` never suggest an automatic fix, so the re-check of a corrected
claim, which keeps only revealed automatic fixes, may skip them: its reports are the same as
with every check run again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

import plugin.claim_check
from plugin.billing_model import BillingModelBuilder, claim_reference
from plugin.claim_check import ClaimChecker, ClaimInput, claims_in
from plugin.scan.files import discover, read_lines
from plugin.scan.index import load_references
from rules.engine import RuleContext, registered_checks, run_checks, select_rules
from rules.model import BillingClaim
from rules.verdict import scope_of
from tests.rules.test_properties import KNOWLEDGE, claims
from tests.support.bulk_export import write_generated_export
from tests.support.claims import bundle_files

CHECKER = ClaimChecker(KNOWLEDGE)
BUILDER = BillingModelBuilder(KNOWLEDGE)
EVERY_RULE = frozenset(KNOWLEDGE.rules)
REVIEW_ONLY = [c for c in registered_checks() if c.review_only]


def full_recheck(*args: Any, automatic_only: bool = False, **kwargs: Any) -> Any:
    """`run_checks` as it was: every check, in the re-check too."""
    return run_checks(*args, **kwargs)


def automatic_from_review_only(billing: BillingClaim) -> list[str]:
    """Automatic fixes a review-only check suggests, with the claim's rules and with every
    rule selected (and every line judged), so no selection hides one."""
    scope = scope_of(billing, KNOWLEDGE, None)
    contexts = [
        RuleContext(
            KNOWLEDGE,
            select_rules(KNOWLEDGE, billing, None),
            payer=billing.payer,
            judged=scope.judged,
        ),
        RuleContext(KNOWLEDGE, EVERY_RULE, payer=billing.payer),
    ]
    return [
        f"{registered.function.__name__}: {finding.rule} {finding.fix.to_json()}"
        for ctx in contexts
        for registered in REVIEW_ONLY
        for finding in registered.function(billing, ctx)
        if finding is not None and finding.fix.automatic
    ]


def assert_review_only_sound(claim_input: ClaimInput) -> None:
    """On the claim and on its corrected copy (what the re-check reads)."""
    report = CHECKER.check(claim_input)
    with mock.patch.object(plugin.claim_check, "run_checks", full_recheck):
        reference = CHECKER.check(claim_input)
    assert report.to_json() == reference.to_json()
    corrected = report.corrected_claim
    read = [BUILDER.read(claim_input.claim, claim_input.index, claim_input.reference)]
    if corrected is not claim_input.claim and corrected.get("item"):
        read.append(BUILDER.read(corrected, claim_input.index, claim_input.reference))
    for reading in read:
        assert automatic_from_review_only(reading.billing) == []


def test_some_checks_are_review_only() -> None:
    assert {c.function.__name__ for c in REVIEW_ONLY} >= {"telehealth_list", "passive_only"}


@pytest.mark.parametrize("path", bundle_files(), ids=lambda p: p.name)
def test_fixture_claims(path: Path) -> None:
    for claim_input in claims_in(json.loads(path.read_text()), validate=False):
        assert_review_only_sound(claim_input)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_generated_claims(bundle: dict[str, Any]) -> None:
    for claim_input in claims_in(bundle, validate=False):
        assert_review_only_sound(claim_input)


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
        assert_review_only_sound(claim_input)
        checked += 1
    assert checked == 400
