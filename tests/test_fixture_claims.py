"""The shared claim fixtures give exactly their expected findings (rule, line, severity, fix),
status and unchecked items."""

from __future__ import annotations

import json

import pytest

from rules.engine import implemented_rule_ids
from tests.support.claims import bundle_files, claim_file, expected_file

CASES = [p.name.removesuffix(".bundle.json") for p in bundle_files()]


@pytest.mark.parametrize("name", CASES)
def test_fixture_gives_expected_findings(name: str, check) -> None:
    bundle = json.loads(claim_file(f"{name}.bundle.json").read_text())
    expected = json.loads(expected_file(f"{name}.bundle.json").read_text())["expected"]
    unbuilt = {f["rule"] for f in expected["findings"]} - implemented_rule_ids()
    assert not unbuilt, f"the fixture expects rules no check implements: {sorted(unbuilt)}"
    report = check(bundle)
    got = [(f.rule, f.line, f.severity.value, f.fix.to_json()) for f in report.findings]
    want = [(f["rule"], f["line"], f["severity"], f["fix"]) for f in expected["findings"]]
    assert got == want
    assert report.clean is expected["clean"]
    assert report.status.value == expected.get(
        "status", "clean" if expected["clean"] else "findings"
    )
    if "unchecked" in expected:
        assert [u.to_json() for u in report.unchecked] == expected["unchecked"]


@pytest.mark.parametrize("name", CASES)
def test_corrected_fixture_rechecks_clean(name: str, check) -> None:
    bundle = json.loads(claim_file(f"{name}.bundle.json").read_text())
    report = check(bundle)
    bundle["entry"][0]["resource"] = report.corrected_claim
    again = check(bundle)
    assert [f for f in again.findings if f.fix.automatic] == []
