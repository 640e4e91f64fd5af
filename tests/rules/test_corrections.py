"""The corrected copy of a plain claim (parsed by orjson), which shares what no fix edits, is
the deep copy's: the same JSON, the same unchanged items, and the original left as it was."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from plugin.claim_check import ClaimInput, claims_in
from rules.corrections import correct
from rules.engine import run_checks
from tests.rules.test_check_declarations import BUILDER, CHECKER, export_claims
from tests.rules.test_properties import KNOWLEDGE, claims
from tests.support.claims import bundle_files

ACTIONS: Counter[str] = Counter()


def assert_shared_copy_is_the_copy(claim_input: ClaimInput) -> None:
    claim = orjson.loads(orjson.dumps(claim_input.claim))
    before = orjson.dumps(claim)
    billing = BUILDER.read(claim, claim_input.index, claim_input.reference).billing
    first = run_checks(billing, KNOWLEDGE)
    final = list(
        CHECKER.check(ClaimInput(claim_input.reference, claim, claim_input.index)).findings
    )
    for findings in (first, final):
        ACTIONS.update(f.fix.action.value for f in findings if f.fix.automatic)
        shared = correct(claim, findings, KNOWLEDGE.codes, plain=True)
        copied = correct(claim, findings, KNOWLEDGE.codes)
        assert orjson.dumps(shared.claim) == orjson.dumps(copied.claim)
        assert (shared.sources, shared.diagnoses_changed) == (
            copied.sources,
            copied.diagnoses_changed,
        )
        assert orjson.dumps(claim) == before  # no fix edited what the copy shares


@pytest.mark.parametrize("path", bundle_files(), ids=lambda p: p.name)
def test_fixture_claims(path: Path) -> None:
    for claim_input in claims_in(json.loads(path.read_text()), validate=False):
        assert_shared_copy_is_the_copy(claim_input)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_generated_claims(bundle: dict[str, Any]) -> None:
    for claim_input in claims_in(bundle, validate=False):
        assert_shared_copy_is_the_copy(claim_input)


def test_generated_export(tmp_path: Path) -> None:
    ACTIONS.clear()
    for claim_input in export_claims(tmp_path, 400):
        assert_shared_copy_is_the_copy(claim_input)
    assert {"add_modifier", "set_quantity", "replace_code", "remove_line"} <= set(ACTIONS)


@pytest.mark.parametrize(
    ("prices", "net_after"),
    [
        ({"unitPrice": {"value": 40, "currency": "USD"}}, {"value": 40, "currency": "USD"}),
        (
            {"unitPrice": {"value": 40}, "net": {"value": 120, "currency": "USD"}},
            {"value": 40, "currency": "USD"},
        ),
        ({"unitPrice": {"value": 40}, "factor": 0.5}, {"value": 20}),
        # Shapes FHIR does not allow, which a bulk export may still hold (the scan does not
        # validate): the units are fixed, the net is left as it was, nothing raises.
        ({"unitPrice": 40, "net": 120}, 120),
        ({"unitPrice": {"value": 40}, "net": 120}, 120),
        ({"unitPrice": {"value": "forty"}, "net": {"value": 120}}, {"value": 120}),
        ({"unitPrice": {"value": True}}, None),
        ({"unitPrice": {"value": 40}, "factor": "half"}, None),
    ],
)
def test_a_units_fix_recomputes_the_net_only_from_readable_prices(
    prices: dict[str, Any], net_after: Any
) -> None:
    from rules.findings import Finding, Fix
    from rules.model import Severity

    item = {"sequence": 1, "productOrService": {"text": "x"}, "quantity": {"value": 3}, **prices}
    claim = {"resourceType": "Claim", "item": [item]}
    finding = Finding("T97012-UNITS", Severity.ERROR, 1, "m", "c", Fix.set_quantity(1))
    for plain in (False, True):
        fixed = correct(claim, [finding], KNOWLEDGE.codes, plain=plain).claim["item"][0]
        assert fixed["quantity"] == {"value": 1}
        assert fixed.get("net") == net_after
