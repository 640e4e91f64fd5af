"""Place of service: every professional line says where it was furnished."""

from __future__ import annotations

from collections.abc import Iterator

from rules.code_shapes import POS
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim


@check("POS-MISSING", reads={"pos", "performers"})
def place_of_service_missing(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """A line without a POS is rejected; the claim's other lines usually tell which one."""
    if all(line.pos for line in claim.lines):
        return  # most claims: every line says where, nothing to look up
    codes = ctx.knowledge.codes
    elsewhere = {line.pos for line in claim.lines if line.pos and POS.match(line.pos)}
    for line in claim.lines:
        if line.pos:
            continue
        # A therapist in private practice bills office or home; hospital outpatient therapy
        # (19/22) goes on the hospital's institutional claim.
        by_therapists = bool(line.disciplines) and line.disciplines <= codes.therapist_disciplines
        suggestions = codes.therapist_pos if by_therapists else codes.pos_suggestions
        if len(elsewhere) == 1:
            (pos,) = elsewhere
            why = "as on the claim's other lines"
        else:
            pos = suggestions[0]
            why = "office assumed"
        alternatives = tuple(p for p in suggestions if p != pos)
        yield ctx.finding(
            "POS-MISSING",
            line,
            Fix.add_pos(pos, alternatives),
            f"{line.code} has no place of service: add POS {pos} ({why}).",
        )
