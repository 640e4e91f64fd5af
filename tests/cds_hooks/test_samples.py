"""The shipped samples are the test fixtures, byte for byte, and each says what the engine finds."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cds_hooks.samples import SAMPLES, SAMPLES_BY_KEY
from plugin.claim_check import ClaimChecker

FIXTURES = Path(__file__).parent.parent / "fixtures" / "claims"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.key)
def test_sample_is_the_fixture(sample):
    assert sample.bundle() == orjson.loads((FIXTURES / sample.file).read_bytes())


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.key)
def test_sample_findings_match_the_expected_file(sample, checker: ClaimChecker):
    expected = orjson.loads((FIXTURES / sample.file.replace(".bundle", ".expected")).read_bytes())
    (report,) = checker.check_document(sample.bundle())
    rules = sorted(f.rule for f in report.findings)
    assert rules == sorted(f["rule"] for f in expected["expected"]["findings"])


def test_bundle_is_a_fresh_copy():
    first = SAMPLES_BY_KEY["seed-denial"].bundle()
    first["entry"].clear()
    assert SAMPLES_BY_KEY["seed-denial"].bundle()["entry"]
