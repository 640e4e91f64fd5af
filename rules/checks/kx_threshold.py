"""The Medicare therapy threshold: past the year's PT+SLP amount, therapy lines carry KX."""

from __future__ import annotations

from collections.abc import Iterator

from rules.checks.chiropractic import statutorily_excluded
from rules.checks.therapy_modifiers import expected_therapy_modifier, therapy_plans
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim, ClaimLine, Discipline, Severity

KX = "KX"
PT_SLP = (Discipline.PT, Discipline.SLP)


def plan_of_care(line: ClaimLine, ctx: RuleContext) -> str | None:
    """The therapy modifier the line carries once the GP/GO/GN fixes are applied, if known."""
    codes = ctx.knowledge.codes
    present = list(dict.fromkeys(m for m in line.modifiers if m in codes.therapy_modifiers))
    expected = expected_therapy_modifier(line, codes)
    conflict_fixed = "THERAPY-MOD-CONFLICT" in ctx.selected
    if len(present) == 1:
        return expected if conflict_fixed and expected else present[0]
    if present:
        return expected if conflict_fixed and expected in present else None
    if "THERAPY-MOD-MISSING" not in ctx.selected or line.code not in codes.always_therapy:
        return None
    if expected is not None:
        return expected
    return None if therapy_plans(line, codes) else codes.default_therapy_modifier


def pt_slp_lines(claim: BillingClaim, ctx: RuleContext) -> list[ClaimLine]:
    """Lines that count toward the PT+SLP threshold: PT or SLP plan, not excluded by statute."""
    codes = ctx.knowledge.codes
    plans = {m for m, d in codes.therapy_modifiers.items() if d in PT_SLP}
    return [
        line
        for line in claim.lines
        if plan_of_care(line, ctx) in plans
        and codes.liability_modifiers.statutory_exclusion not in line.modifiers
        and not statutorily_excluded(line, codes)
    ]


def years_without_threshold(claim: BillingClaim, ctx: RuleContext) -> list[int]:
    """Years of the claim's PT/SLP lines that MCR-KX cannot judge: a year-to-date amount is on
    the claim but no KX threshold is known for the year (the claim is incomplete, not clean)."""
    if claim.therapy_ytd_pt_slp is None or "MCR-KX" not in ctx.selected:
        return []
    years = {day.year for line in pt_slp_lines(claim, ctx) if (day := ctx.date_for(line))}
    return sorted(y for y in years if ctx.knowledge.therapy_threshold("kx", y) is None)


@check(
    "MCR-KX",
    reads={"performers", "net"},
    reads_modifiers=lambda codes: {
        *codes.therapy_modifiers,
        codes.liability_modifiers.statutory_exclusion,
        KX,
    },
)
def kx_threshold(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """KX on every PT/SLP line once the year's incurred amount has reached the threshold.

    Incurred amounts are Medicare allowed amounts, not the charges on the claim: KX is added
    only when the amount before this claim has reached the threshold; a claim whose charges
    would carry it over gets a warning to review.
    """
    ytd = claim.therapy_ytd_pt_slp
    if ytd is None:
        return
    by_year: dict[int, list[ClaimLine]] = {}
    for line in pt_slp_lines(claim, ctx):
        day = ctx.date_for(line)
        if day is not None:
            by_year.setdefault(day.year, []).append(line)
    for year, lines in sorted(by_year.items()):
        threshold = ctx.knowledge.therapy_threshold("kx", year)
        if threshold is None:
            continue
        amount = threshold.amount
        charges = sum(line.net or 0.0 for line in lines)
        missing = [line for line in lines if KX not in line.modifiers]
        if ytd >= amount:
            for line in missing:
                yield ctx.finding(
                    "MCR-KX",
                    line,
                    Fix.add_modifier(KX),
                    f"{line.code}: PT+SLP spending this year (${ytd:,.0f}) has reached the "
                    f"{year} threshold (${amount:,.0f}): add KX if medically necessary, else "
                    "ABN + GA.",
                )
        elif missing and ytd + charges > amount:
            yield ctx.finding(
                "MCR-KX",
                None,
                Fix.review((KX,)),
                f"PT+SLP spending this year (${ytd:,.0f}) plus this claim's charges "
                f"(${charges:,.0f}) may pass the {year} threshold (${amount:,.0f}): add KX from "
                "the line that crosses it (allowed amounts count).",
                Severity.WARNING,
            )
        review = ctx.knowledge.therapy_threshold("targeted_review", year)
        if review is not None and ytd + charges > review.amount:
            yield ctx.finding(
                "MCR-KX",
                None,
                Fix.review(),
                f"PT+SLP spending this year passes ${review.amount:,.0f}: claims may be "
                "selected for targeted medical review; keep the plan of care and notes ready.",
                Severity.INFO,
            )
