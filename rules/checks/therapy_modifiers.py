"""Therapy modifiers: one of GP/GO/GN on every always-therapy line, matching who furnished it."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.knowledge.model import CodeFacts
from rules.model import BillingClaim, ClaimLine, Severity


def therapy_plans(line: ClaimLine, codes: CodeFacts) -> frozenset[str]:
    """The plan-of-care modifiers the line's performers imply (see `CodeFacts.therapy_plans`)."""
    return codes.therapy_plans(line.disciplines).modifiers


def expected_therapy_modifier(line: ClaimLine, codes: CodeFacts) -> str | None:
    """The modifier of the performers' plan of care, or None when unknown or mixed."""
    return codes.therapy_plans(line.disciplines).expected


@check(
    "THERAPY-MOD-MISSING",
    reads={"performers"},
    reads_modifiers=lambda codes: codes.therapy_modifiers,
)
def therapy_modifier_missing(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Always-therapy codes need GP, GO or GN, or Medicare (and UHC, Anthem) returns the claim."""
    codes = ctx.knowledge.codes
    modifiers = codes.therapy_modifiers.keys()
    for line in claim.lines:
        if line.code not in codes.always_therapy or not modifiers.isdisjoint(line.modifiers):
            continue
        expected = expected_therapy_modifier(line, codes)
        any_plan = "/".join(codes.therapy_modifiers)
        if expected is not None:
            fix = Fix.add_modifier(expected)
            why = f"furnished under a {codes.therapy_modifiers[expected]} plan of care"
        elif therapy_plans(line, codes):
            fix = Fix.review(tuple(sorted(codes.therapy_modifiers)))
            why = "its performers belong to different disciplines; pick the plan of care"
        else:
            plan = codes.default_therapy_modifier
            others = [m for m in codes.therapy_modifiers if m != plan]
            fix = Fix.add_modifier(plan, tuple(sorted(others)))
            who = "performer unknown" if not line.disciplines else "the plan of care is not known"
            why = f"{who}, {codes.therapy_modifiers[plan]} plan of care assumed; " + ", ".join(
                f"{m} for {codes.therapy_modifiers[m]}" for m in sorted(others)
            )
        yield ctx.finding(
            "THERAPY-MOD-MISSING",
            line,
            fix,
            f"{line.code} has no therapy modifier: add {fix.modifier or any_plan} ({why}).",
        )


@check(
    "THERAPY-MOD-CONFLICT",
    reads={"performers"},
    reads_modifiers=lambda codes: codes.therapy_modifiers,
)
def therapy_modifier_conflict(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """One therapy modifier per line, and the one that matches the performer's discipline."""
    codes = ctx.knowledge.codes
    modifiers = codes.therapy_modifiers.keys()
    plans = codes.therapy_plans
    for line in claim.lines:
        if modifiers.isdisjoint(line.modifiers):  # no list to build for a line without one
            continue
        present = [m for m in line.modifiers if m in modifiers]
        expected = plans(line.disciplines).expected  # expected_therapy_modifier, inline: hot
        if len(present) > 1 and len(set(present)) > 1:
            yield from _several(line, present, expected, ctx)
        elif expected is not None and present[0] != expected:
            yield ctx.finding(
                "THERAPY-MOD-CONFLICT",
                line,
                Fix.replace_modifier(present[0], expected),
                f"{line.code} carries {present[0]} but was furnished by "
                f"{'/'.join(sorted(line.disciplines))}: use {expected}.",
                Severity.WARNING,
            )


def _several(
    line: ClaimLine, present: list[str], expected: str | None, ctx: RuleContext
) -> Iterator[Finding | None]:
    listed = "+".join(present)
    if expected is None or expected not in present:
        yield ctx.finding(
            "THERAPY-MOD-CONFLICT",
            line,
            Fix.review(tuple(dict.fromkeys(present))),
            f"{line.code} carries {listed}: keep only the plan of care it was furnished under.",
        )
        return
    for modifier in dict.fromkeys(present):
        if modifier != expected:
            yield ctx.finding(
                "THERAPY-MOD-CONFLICT",
                line,
                Fix.remove_modifier(modifier),
                f"{line.code} carries {listed}: keep {expected} (who furnished it), remove "
                f"{modifier}.",
            )
