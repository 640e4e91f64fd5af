"""Therapy assistants: a service a PTA or OTA furnished in whole or in part carries CQ or CO."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim


@check("MCR-PTA-CQ")
def assistant_modifier(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Medicare pays assistants' therapy at 85% and knows it by CQ (PTA) or CO (OTA)."""
    codes = ctx.knowledge.codes
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
                f"{modifier} (paid at 85%).",
            )
