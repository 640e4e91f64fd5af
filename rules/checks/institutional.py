"""Institutional therapy lines (UB-04 / 837I): the revenue code and the discipline modifier agree,
and a therapy code is billed under a therapy revenue code."""

from __future__ import annotations

from collections.abc import Iterator

from rules.checks.therapy_modifiers import expected_therapy_modifier
from rules.claim_scope import ClaimScope
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim

INSTITUTIONAL = "institutional"


def _institutional(claim: BillingClaim, ctx: RuleContext) -> ClaimScope | None:
    """The revenue code facts, when the claim is institutional (None otherwise)."""
    return ctx.knowledge.claim_scope if claim.claim_type == INSTITUTIONAL else None


@check(
    "INST-REV-MODIFIER",
    reads={"revenue", "performers"},
    reads_modifiers=lambda codes: codes.therapy_modifiers,
)
def revenue_code_modifier(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """042x is physical therapy (GP), 043x occupational (GO), 044x speech-language (GN)."""
    scope = _institutional(claim, ctx)
    if scope is None:
        return
    codes = ctx.knowledge.codes
    for line in claim.lines:
        wanted = scope.therapy_revenue_modifier(line.revenue)
        if wanted is None or line.has_modifier(wanted):
            continue
        present = [m for m in line.modifiers if m in codes.therapy_modifiers]
        if present and expected_therapy_modifier(line, codes) == present[0]:
            # Who furnished the line agrees with the modifier: the revenue code may be the error.
            other = next(p + "0" for p, m in scope.therapy_revenue.items() if m == present[0])
            fix = Fix.review((wanted, other))
            what = f"bill {wanted} under {line.revenue}, or keep {present[0]} under {other}"
        elif present:
            fix = Fix.replace_modifier(present[0], wanted)
            what = f"replace {present[0]} with {wanted}"
        elif line.code in codes.always_therapy:
            continue  # THERAPY-MOD-MISSING asks for the modifier
        else:
            fix = Fix.add_modifier(wanted)
            what = f"add {wanted}"
        yield ctx.finding(
            "INST-REV-MODIFIER",
            line,
            fix,
            f"{line.code} is billed under revenue code {line.revenue} "
            f"({codes.therapy_modifiers[wanted]}): {what}.",
        )


@check("INST-REV-MISSING", review_only=True)
def therapy_revenue_code(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """An always-therapy code on an institutional claim goes under revenue code 042x/043x/044x."""
    scope = _institutional(claim, ctx)
    if scope is None:
        return
    codes = ctx.knowledge.codes
    by_modifier = {m: prefix + "0" for prefix, m in scope.therapy_revenue.items()}
    for line in claim.lines:
        if line.code not in codes.always_therapy:
            continue
        if scope.therapy_revenue_modifier(line.revenue) is not None:
            continue
        modifiers = [m for m in line.modifiers if m in by_modifier]
        candidates = tuple(by_modifier[m] for m in modifiers) or tuple(sorted(by_modifier.values()))
        shown = f"revenue code {line.revenue}" if line.revenue else "no revenue code"
        yield ctx.finding(
            "INST-REV-MISSING",
            line,
            Fix.review(candidates),
            f"{line.code} is a therapy code billed with {shown}: bill it under "
            f"{' or '.join(candidates)}.",
        )
