"""Telehealth: a line billed as telehealth must be on the Medicare telehealth list that day."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.knowledge.model import CodeFacts
from rules.model import BillingClaim, ClaimLine


def billed_as_telehealth(line: ClaimLine, codes: CodeFacts) -> list[str]:
    """What on the line says telehealth: its POS (02, 10) and modifiers (95, GT, FQ)."""
    marks = [f"POS {line.pos}"] if line.pos in codes.telehealth_pos else []
    return marks + [m for m in dict.fromkeys(line.modifiers) if m in codes.telehealth_modifiers]


@check("MCR-TELEHEALTH", review_only=True)
def telehealth_list(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Medicare pays telehealth only for codes on its list on the date of service."""
    knowledge = ctx.knowledge
    for line in claim.lines:
        marks = billed_as_telehealth(line, knowledge.codes)
        if not marks or knowledge.on_telehealth_list(line.code, ctx.date_for(line)):
            continue
        when = f" on {line.date.isoformat()}" if line.date else ""
        yield ctx.finding(
            "MCR-TELEHEALTH",
            line,
            Fix.review(),  # in person (which POS?) or not billable: a person knows
            f"{line.code} is billed as telehealth ({', '.join(marks)}) but is not on the Medicare "
            f"telehealth list{when}: if it was furnished in person, bill the in-person POS "
            "without the telehealth modifier; otherwise it cannot be billed.",
        )
