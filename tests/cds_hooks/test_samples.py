"""The shipped samples load, and each gives the findings its expected file lists."""

from __future__ import annotations

import orjson
import pytest

from cds_hooks.samples import SAMPLES, SAMPLES_BY_KEY
from plugin.claim_check import ClaimChecker
from tests.support.claims import expected_file


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.key)
def test_sample_is_a_bundle_holding_a_claim(sample):
    bundle = sample.bundle()
    assert bundle["resourceType"] == "Bundle"
    assert any(e["resource"]["resourceType"] == "Claim" for e in bundle["entry"])


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.key)
def test_sample_findings_match_the_expected_file(sample, checker: ClaimChecker):
    expected = orjson.loads(expected_file(sample.file).read_bytes())
    (report,) = checker.check_document(sample.bundle())
    rules = sorted(f.rule for f in report.findings)
    assert rules == sorted(f["rule"] for f in expected["expected"]["findings"])


def test_bundle_is_a_fresh_copy():
    first = SAMPLES_BY_KEY["seed-denial"].bundle()
    first["entry"].clear()
    assert SAMPLES_BY_KEY["seed-denial"].bundle()["entry"]
