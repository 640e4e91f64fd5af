"""The billing model read of a corrected Claim reuses what did not change: it must be the very
model a fresh read gives."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.claim_check import ClaimChecker, claims_in
from rules.corrections import apply_fixes, correct
from rules.engine import run_checks, select_rules
from rules.knowledge.load import load_knowledge
from tests.builders import ClaimBuilder
from tests.rules.test_properties import claims

KNOWLEDGE = load_knowledge()
CHECKER = ClaimChecker(KNOWLEDGE)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_reread_of_a_corrected_claim_is_a_fresh_read(bundle: dict[str, Any]) -> None:
    """Read again from the corrected Claim alone, or from the `Correction` that says which
    items are unchanged: the very model a fresh read gives."""
    (claim_input,) = claims_in(bundle, validate=False)
    builder = CHECKER.builder
    reading = builder.read(claim_input.claim, claim_input.index, claim_input.reference)
    findings = run_checks(reading.billing, KNOWLEDGE)
    correction = correct(claim_input.claim, findings, KNOWLEDGE.codes)
    fresh = builder.build(correction.claim, claim_input.index, claim_input.reference)
    for corrected in (correction.claim, correction):
        again = builder.reread(reading, corrected)
        assert again.billing == fresh
        assert [ln.index for ln in again.billing.lines] == [ln.index for ln in fresh.lines]


def test_a_correction_names_the_items_it_left_alone() -> None:
    builder = ClaimBuilder(payer="1")
    builder.line("97012", ["GP"], units=1)
    builder.line("97012", ["GP"], units=1)  # a second 97012 the same day: removed
    builder.line("97110", [], minutes=30, units=2)  # GP added
    builder.line("97112", ["GP"], minutes=30, units=2)
    (claim_input,) = claims_in(builder.bundle(), validate=False)
    billing = CHECKER.builder.build(claim_input.claim, claim_input.index)
    correction = correct(claim_input.claim, run_checks(billing, KNOWLEDGE), KNOWLEDGE.codes)
    assert correction.sources == (0, None, 3)
    assert not correction.diagnoses_changed


def test_reread_does_not_reuse_a_line_read_from_values_json_cannot_hold() -> None:
    """inf reads as units; the corrected copy (a JSON round trip) holds null there."""
    builder = ClaimBuilder(payer="1")
    builder.line("97012", ["GP"], units=2)
    builder.line("97110", ["GP"], minutes=23, units=2)
    bundle = builder.bundle()
    claim = bundle["entry"][0]["resource"]
    claim["item"][1]["quantity"] = {"value": float("inf")}
    (claim_input,) = claims_in(bundle, validate=False)
    reader = CHECKER.builder
    reading = reader.read(claim_input.claim, claim_input.index)
    findings = run_checks(reading.billing, KNOWLEDGE)
    corrected = apply_fixes(claim_input.claim, findings, KNOWLEDGE.codes)
    assert reader.reread(reading, corrected).billing == reader.build(corrected, claim_input.index)
    correction = correct(claim_input.claim, findings, KNOWLEDGE.codes)
    assert correction.sources is None
    assert reader.reread(reading, correction).billing == reader.build(corrected, claim_input.index)


def _naive_selection(bundle: dict[str, Any], as_of: date | None) -> frozenset[str]:
    """select_rules as it read before it was precomputed."""
    (claim_input,) = claims_in(bundle, validate=False)
    claim = CHECKER.builder.build(claim_input.claim, claim_input.index)
    dates: list[date | None] = [as_of] if as_of else [ln.date for ln in claim.lines if ln.date]
    dates = list(dict.fromkeys(dates)) or [None]
    family, payer_settings = claim.payer.family, claim.payer.settings
    return frozenset(
        spec.id
        for spec in KNOWLEDGE.rules.values()
        if any(spec.in_force(on) for on in dates)
        and spec.applies_to(family, payer_settings)
        and spec.for_claim_type(claim.claim_type)
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims(), st.sampled_from([None, "2017-12-31", "2018-01-01", "2025-06-10", "1990-01-01"]))
def test_rule_selection_is_the_rules_in_force_for_the_payer(
    bundle: dict[str, Any], as_of: str | None
) -> None:
    on = date.fromisoformat(as_of) if as_of else None
    (claim_input,) = claims_in(bundle, validate=False)
    claim = CHECKER.builder.build(claim_input.claim, claim_input.index)
    assert select_rules(KNOWLEDGE, claim, on) == _naive_selection(bundle, on)


def test_a_qualification_coding_whose_system_is_not_a_string_is_read_past() -> None:
    """The bulk scan does not validate FHIR: a coding's system may be a list or an object.
    It once raised (unhashable) while the taxonomy was looked for, which stops a scan."""
    builder = ClaimBuilder(payer="1")
    builder.line("97012", ["GP"], units=1, by="PT")
    bundle = builder.bundle()
    claim = bundle["entry"][0]["resource"]
    qualification = claim["careTeam"][0]["qualification"]
    nucc = {**qualification["coding"][0], "code": "local-pt"}  # no taxonomy's shape: NUCC's
    for odd in (["http://nucc.org/provider-taxonomy"], {"value": "x"}):
        qualification["coding"] = [{"system": odd, "code": "not-a-taxonomy"}, nucc]
        (claim_input,) = claims_in(bundle, validate=False)
        billing = CHECKER.builder.build(claim_input.claim, claim_input.index)
        assert billing.lines[0].performers[0].taxonomy == nucc["code"]
