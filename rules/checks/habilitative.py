"""Habilitative (96) or rehabilitative (97): payers that cover the two as separate benefits
want one of them on each therapy line."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim, Severity

FLAG = "habilitative_modifiers_required"


@check("THERAPY-MOD-HAB", review_only=True)
def habilitative_modifier(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """One of 96/97 on every always-therapy line, for a payer with the setting."""
    codes = ctx.knowledge.codes
    habilitative, rehabilitative = codes.habilitative_modifiers
    both = (habilitative, rehabilitative)
    # A payer setting we hold on secondary sources is advice, not a predicted denial.
    unconfirmed = FLAG in set(claim.payer.settings.get("unconfirmed") or ())
    severity = Severity.INFO if unconfirmed else None
    for line in claim.lines:
        if line.code not in codes.always_therapy:
            continue
        present = [m for m in both if line.has_modifier(m)]
        if len(present) == 1:
            continue
        if present:
            message = (
                f"{line.code} carries both {habilitative} and {rehabilitative}: a service is "
                f"habilitative or rehabilitative; keep the one the plan of care states."
            )
        else:
            message = (
                f"{line.code} has neither {habilitative} (habilitative: skills never developed) "
                f"nor {rehabilitative} (rehabilitative: function lost): {claim.payer.label} wants "
                "one on therapy lines."
            )
        yield ctx.finding("THERAPY-MOD-HAB", line, Fix.review(both), message, severity)
