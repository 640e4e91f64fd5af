"""Therapy assistants: a service a PTA or OTA furnished in whole or in part carries CQ or CO."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim, Severity


@check(
    "MCR-PTA-CQ",
    reads={"performers"},
    reads_modifiers=lambda codes: {*codes.therapy_modifiers, *codes.assistant_modifiers.values()},
)
def assistant_modifier(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Medicare pays assistants' therapy at 85% and knows it by CQ (PTA) or CO (OTA)."""
    codes = ctx.knowledge.codes
    assisting = codes.assistant_modifiers.keys()
    # Most claims: no line an assistant furnished, and no message begun.
    assisted = [line for line in claim.lines if not assisting.isdisjoint(line.disciplines)]
    if not assisted:
        return
    spec = ctx.spec("MCR-PTA-CQ")
    # Statute for Original Medicare; for another payer its own setting, which we hold less surely.
    by_statute = spec.families is None or claim.payer.family in spec.families
    severity = None if by_statute else Severity.WARNING
    who = "" if by_statute else f" ({claim.payer.label} pays assistants' services at 85% with it)"
    therapy_modifiers = codes.therapy_modifiers.keys()
    for line in assisted:
        therapy = line.code in codes.always_therapy or not therapy_modifiers.isdisjoint(
            line.modifiers
        )
        if not therapy:
            continue
        for discipline in sorted(line.disciplines):
            modifier = codes.assistant_modifiers.get(discipline)
            if modifier is None or modifier in line.modifiers:
                continue
            yield ctx.finding(
                "MCR-PTA-CQ",
                line,
                Fix.add_modifier(modifier),
                f"{line.code} was furnished in whole or in part by a {discipline.value}: add "
                f"{modifier} (paid at 85%){who}.",
                severity,
            )


@check("MCR-RENDERING-PTA", review_only=True)
def assistant_rendering(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """A PTA, OTA or student cannot enroll as a Medicare provider: the line is billed under the
    supervising therapist, who must be on it."""
    codes = ctx.knowledge.codes
    for line in claim.lines:
        if not line.disciplines or not line.disciplines <= codes.non_rendering:
            continue
        who = "/".join(sorted(d.value for d in line.disciplines))
        yield ctx.finding(
            "MCR-RENDERING-PTA",
            line,
            Fix.review(),
            f"{line.code} names only a {who} as its performer: an assistant or student cannot be "
            "the rendering provider; bill it under the supervising therapist (with CQ/CO for an "
            "assistant).",
        )
