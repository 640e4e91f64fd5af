"""Therapy assistants: a service a PTA or OTA furnished in whole or in part carries CQ or CO."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim, Severity


@check("MCR-PTA-CQ")
def assistant_modifier(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Medicare pays assistants' therapy at 85% and knows it by CQ (PTA) or CO (OTA)."""
    codes = ctx.knowledge.codes
    spec = ctx.spec("MCR-PTA-CQ")
    # Statute for Original Medicare; for another payer its own setting, which we hold less surely.
    by_statute = spec.families is None or claim.payer.family in spec.families
    severity = None if by_statute else Severity.WARNING
    who = "" if by_statute else f" ({claim.payer.label} pays assistants' services at 85% with it)"
    for line in claim.lines:
        therapy = line.code in codes.always_therapy or line.has_modifier(*codes.therapy_modifiers)
        if not therapy:
            continue
        for discipline in sorted(line.disciplines):
            modifier = codes.assistant_modifiers.get(discipline)
            if modifier is None or line.has_modifier(modifier):
                continue
            yield ctx.finding(
                "MCR-PTA-CQ",
                line,
                Fix.add_modifier(modifier),
                f"{line.code} was furnished in whole or in part by a {discipline.value}: add "
                f"{modifier} (paid at 85%){who}.",
                severity,
            )
