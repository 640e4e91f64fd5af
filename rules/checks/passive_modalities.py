"""Passive modalities: traction is an adjunct to active therapy, not a visit on its own."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim
from rules.service_days import by_date


@check("T97012-PASSIVE-ONLY", review_only=True)
def passive_only(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Advise when 97012 is the day's therapy without an active code beside it."""
    active = ctx.knowledge.codes.active_therapy
    for lines in by_date(claim.lines).values():
        if any(line.code in active for line in lines):
            continue
        for line in lines:
            if line.code == ctx.knowledge.codes.traction_code:
                yield ctx.finding(
                    "T97012-PASSIVE-ONLY",
                    line,
                    Fix.review(tuple(sorted(active))),
                    "97012 is the day's only therapy: passive modalities are paid as an adjunct "
                    f"to active treatment ({'/'.join(sorted(active))}); make sure the record "
                    "shows the active plan.",
                )
