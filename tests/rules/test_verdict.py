"""The scope of a claim: what `scope_of` keeps per code and code system gives what reading
each line afresh gives, whatever claims came before; `judged_scope` judges the same lines."""

from __future__ import annotations

from rules import verdict
from rules.model import BillingClaim, ClaimLine, PayerProfile
from rules.verdict import Scope, judged_scope, scope_of
from tests.builders import CPT, SNOMED
from tests.rules.test_properties import KNOWLEDGE

PAYER = PayerProfile("medicare", "medicare", "Medicare")
LINES = [
    ("97110", CPT),
    ("97110", SNOMED),  # the same code in another system: not read as CPT
    ("99213", CPT),  # billed beside therapy
    ("12345", CPT),  # neither
    ("", None),
    ("9711", CPT),  # not shaped like a CPT code
    ("G0283", None),
]


def claim_of(*lines: tuple[str, str | None]) -> BillingClaim:
    return BillingClaim(
        "c1",
        tuple(ClaimLine(i, i + 1, code, system) for i, (code, system) in enumerate(lines)),
        PAYER,
    )


def fresh_scope(claim: BillingClaim) -> Scope:
    KNOWLEDGE.derived.pop(verdict._CodeKinds, None)
    return scope_of(claim, KNOWLEDGE)


def test_kept_kinds_give_a_fresh_reading() -> None:
    for first in LINES:
        for second in LINES:
            scope_of(claim_of(first), KNOWLEDGE)  # what the first claim leaves kept
            claim = claim_of(second, ("97110", CPT))
            assert scope_of(claim, KNOWLEDGE) == fresh_scope(claim), (first, second)


def test_kinds_kept_are_bounded(monkeypatch) -> None:
    monkeypatch.setattr(verdict._CodeKinds, "LIMIT", 3)
    fresh_scope(claim_of(("97110", CPT)))
    for n in range(10):
        scope_of(claim_of((f"9{n}110", CPT), ("97110", CPT)), KNOWLEDGE)
        assert len(KNOWLEDGE.derive(verdict._CodeKinds).kinds) <= 3
    assert scope_of(claim_of(("97110", SNOMED)), KNOWLEDGE).out_of_scope


def test_judged_scope_is_the_scope_without_unchecked() -> None:
    for first in LINES:
        for second in LINES:
            claim = claim_of(first, second)
            scope = scope_of(claim, KNOWLEDGE)
            judged = judged_scope(claim, KNOWLEDGE)
            assert (judged.out_of_scope, judged.judged) == (scope.out_of_scope, scope.judged)
