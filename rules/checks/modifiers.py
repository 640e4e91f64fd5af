"""Modifiers themselves: real CPT/HCPCS modifiers, at most four a line, no 51 on therapy."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rules.code_shapes import shown
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.knowledge.model import Knowledge
from rules.model import BillingClaim, Severity

MULTIPLE_PROCEDURES = "51"
MODIFIER_SLOTS = 4  # 837P SV101-03..06 / CMS-1500 24D
NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Z]")
WELL_FORMED = re.compile(r"[0-9A-Z]{2}")


@check("MOD-INVALID", reads={"modifiers"})
def valid_modifiers(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Each modifier is a CPT or HCPCS Level II modifier; a line has room for four."""
    known = ctx.knowledge.modifiers
    listed = _listed(ctx.knowledge)
    for line in claim.lines:
        if len(line.modifiers) <= MODIFIER_SLOTS and listed.issuperset(line.modifiers):
            continue  # most lines: a few modifiers, all in our list
        valid: list[str] = []
        for modifier in dict.fromkeys(line.modifiers):
            if modifier in known:
                valid.append(modifier)
                continue
            if WELL_FORMED.fullmatch(modifier):
                # Shaped like a modifier but not in our list, which is not the full CMS file:
                # it may well be valid, so a person checks it; it is never an error.
                valid.append(modifier)
                yield ctx.finding(
                    "MOD-INVALID",
                    line,
                    Fix.review((modifier,)),
                    f"{modifier} on {line.code} is not in our modifier list (not the full HCPCS "
                    "file): check it is a current CPT or HCPCS modifier.",
                    Severity.INFO,
                )
                continue
            cleaned = NOT_ALPHANUMERIC.sub("", modifier)
            shaped = WELL_FORMED.fullmatch(cleaned)
            if cleaned != modifier and shaped and cleaned not in line.modifiers:
                valid.append(cleaned)
                fix = Fix.replace_modifier(modifier, cleaned)
                what = f"write it as {cleaned}"
            else:
                fix = Fix.remove_modifier(modifier)
                what = "remove it"
            yield ctx.finding(
                "MOD-INVALID",
                line,
                fix,
                f"'{shown(modifier)}' on {shown(line.code)} is not a CPT or HCPCS modifier: "
                f"{what}.",
            )
        distinct = list(dict.fromkeys(valid))
        if len(distinct) > MODIFIER_SLOTS:
            yield ctx.finding(
                "MOD-INVALID",
                line,
                Fix.review(tuple(distinct)),
                f"{line.code} carries {len(distinct)} modifiers ({'+'.join(distinct)}); the "
                f"claim has room for {MODIFIER_SLOTS}: keep the ones that decide payment.",
            )


@check("MOD-51-THERAPY", reads=(), reads_modifiers=lambda codes: (MULTIPLE_PROCEDURES,))
def no_multiple_procedure_on_therapy(
    claim: BillingClaim, ctx: RuleContext
) -> Iterator[Finding | None]:
    """Modifier 51 does not apply to physical medicine and rehabilitation codes."""
    codes = ctx.knowledge.codes
    for line in claim.lines:
        if MULTIPLE_PROCEDURES in line.modifiers and codes.is_physical_medicine(line.code):
            yield ctx.finding(
                "MOD-51-THERAPY",
                line,
                Fix.remove_modifier(MULTIPLE_PROCEDURES),
                f"{line.code} carries 51: Medicare applies the therapy multiple procedure payment "
                "reduction itself, without 51; remove 51.",
            )


def _listed(knowledge: Knowledge) -> frozenset[str]:
    """The modifiers in our list, as a set (derived once per knowledge)."""
    return knowledge.derive(_modifier_set)


def _modifier_set(knowledge: Knowledge) -> frozenset[str]:
    return frozenset(knowledge.modifiers)
