"""Modifiers themselves: real CPT/HCPCS modifiers, at most four a line, no 51 on therapy."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rules.code_shapes import shown
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim

MULTIPLE_PROCEDURES = "51"
MODIFIER_SLOTS = 4  # 837P SV101-03..06 / CMS-1500 24D
NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Z]")


@check("MOD-INVALID")
def valid_modifiers(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Each modifier is a CPT or HCPCS Level II modifier; a line has room for four."""
    known = ctx.knowledge.modifiers
    for line in claim.lines:
        valid: list[str] = []
        for modifier in dict.fromkeys(line.modifiers):
            if modifier in known:
                valid.append(modifier)
                continue
            cleaned = NOT_ALPHANUMERIC.sub("", modifier)
            if cleaned != modifier and cleaned in known and cleaned not in line.modifiers:
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


@check("MOD-51-THERAPY")
def no_multiple_procedure_on_therapy(
    claim: BillingClaim, ctx: RuleContext
) -> Iterator[Finding | None]:
    """Modifier 51 does not apply to physical medicine and rehabilitation codes."""
    codes = ctx.knowledge.codes
    for line in claim.lines:
        if line.has_modifier(MULTIPLE_PROCEDURES) and codes.is_physical_medicine(line.code):
            yield ctx.finding(
                "MOD-51-THERAPY",
                line,
                Fix.remove_modifier(MULTIPLE_PROCEDURES),
                f"{line.code} carries 51: physical medicine codes take no multiple-procedure "
                "modifier, remove 51.",
            )
