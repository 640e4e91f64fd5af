"""Chiropractors and Medicare: spinal manipulation is the only benefit; anything else takes GY."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.knowledge.model import CodeFacts
from rules.model import BillingClaim, ClaimLine, Discipline

CHIROPRACTOR_ONLY = frozenset({Discipline.CHIROPRACTOR})


def by_chiropractor(line: ClaimLine) -> bool:
    """Every known performer of the line is a doctor of chiropractic."""
    return line.disciplines == CHIROPRACTOR_ONLY


def statutorily_excluded(line: ClaimLine, codes: CodeFacts) -> bool:
    """A chiropractor's service other than spinal manipulation (42 CFR 410.21(b))."""
    return (
        bool(line.code)
        and by_chiropractor(line)
        and line.code not in codes.medicare_chiropractor_covered
    )


@check(
    "MCR-CHIRO-GY",
    reads={"performers"},
    reads_modifiers=lambda codes: {
        *codes.abn_modifiers,
        *codes.discipline_therapy_modifier.values(),
    },
)
def chiropractor_excluded_service(
    claim: BillingClaim, ctx: RuleContext
) -> Iterator[Finding | None]:
    """Medicare pays a DC only for 98940-98942; everything else is excluded and carries GY."""
    codes = ctx.knowledge.codes
    excluded = codes.liability_modifiers.statutory_exclusion
    plan = codes.discipline_therapy_modifier.get(Discipline.CHIROPRACTOR, "")
    for line in claim.lines:
        if not statutorily_excluded(line, codes) or excluded in line.modifiers:
            continue
        denials = [m for m in dict.fromkeys(line.modifiers) if m in codes.abn_modifiers]
        if len(denials) == 1:
            fix = Fix.replace_modifier(denials[0], excluded)
            how = f"replace {denials[0]} with {excluded}"
        else:
            fix = Fix.add_modifier(excluded)
            kept = f" (keep {plan})" if plan and line.has_modifier(plan) else ""
            how = f"append {excluded}{kept}"
        yield ctx.finding(
            "MCR-CHIRO-GY",
            line,
            fix,
            f"{line.code} by a chiropractor is statutorily excluded by Medicare: {how}; the "
            "patient is liable (optional GX with a voluntary ABN).",
        )


@check(
    "MCR-CHIRO-AT",
    only_with=lambda codes: codes.medicare_chiropractor_covered,
    reads=(),
    reads_modifiers=lambda codes: {codes.active_treatment_modifier, *codes.abn_modifiers},
)
def active_treatment(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Medicare covers manipulation only as active/corrective treatment, shown by AT."""
    codes = ctx.knowledge.codes
    active, abn_on_file = codes.active_treatment_modifier, codes.liability_modifiers.abn_on_file
    for line in claim.lines:
        if line.code not in codes.medicare_chiropractor_covered:
            continue
        if active in line.modifiers or not codes.abn_modifiers.isdisjoint(line.modifiers):
            continue
        yield ctx.finding(
            "MCR-CHIRO-AT",
            line,
            Fix.add_modifier(active, (abn_on_file,)),
            f"{line.code} has no {active}: add {active} if the manipulation is active/corrective; "
            f"maintenance care is not covered (ABN on file: {abn_on_file}).",
        )


@check("ABN-MOD-CONFLICT", reads={"performers"}, reads_modifiers=lambda codes: codes.abn_modifiers)
def one_liability_modifier(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """GA, GY and GZ state different liabilities: a line carries one of them."""
    codes = ctx.knowledge.codes
    liability = codes.liability_modifiers
    for line in claim.lines:
        present = [m for m in dict.fromkeys(line.modifiers) if m in codes.abn_modifiers]
        if len(present) < 2:
            continue
        listed = "+".join(present)
        if statutorily_excluded(line, codes):
            for modifier in present:
                if modifier != liability.statutory_exclusion:
                    yield ctx.finding(
                        "ABN-MOD-CONFLICT",
                        line,
                        Fix.remove_modifier(modifier),
                        f"{line.code} carries {listed}: a chiropractor's {line.code} is "
                        f"statutorily excluded, keep {liability.statutory_exclusion} and "
                        f"remove {modifier}.",
                    )
        else:
            yield ctx.finding(
                "ABN-MOD-CONFLICT",
                line,
                Fix.review(tuple(present)),
                f"{line.code} carries {listed}: keep one ({liability.abn_on_file} with an ABN "
                f"on file, {liability.no_abn} without, {liability.statutory_exclusion} only if "
                "excluded by statute).",
            )
