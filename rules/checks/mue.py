"""Medically unlikely edits: no code billed past its MUE, per line or per day as its MAI says."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from rules.checks.timed_codes import trimmed_to_cap, whole_units
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.knowledge.model import MueLimit
from rules.model import BillingClaim, ClaimLine
from rules.service_days import by_date

PER_LINE = 1  # MAI 1: the claim line; MAI 2 (policy) and 3 (clinical): the date of service


@check("MUE-UNITS", reads={"units"})
def mue_units(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Units over a code's MUE deny the line (MAI 1) or the day's lines over it (MAI 2/3)."""
    knowledge = ctx.knowledge
    # 97012's MUE is spoken for by T97012-UNITS-ONE and T97012-DUP-DOS, with their own texts.
    own_rules = {knowledge.codes.traction_code}
    if not _over_on_claim(claim, knowledge.mue, own_rules):
        return
    for lines in by_date(claim.lines).values():
        by_code: dict[str, list[ClaimLine]] = {}
        for line in lines:
            limit = knowledge.mue.get(line.code)
            if limit is None or line.code in own_rules or whole_units(line) is None:
                continue
            on = ctx.date_for(line)
            if on is not None and on < limit.effective:
                continue
            by_code.setdefault(line.code, []).append(line)
        for code, group in by_code.items():
            limit = knowledge.mue[code]
            if limit.mai == PER_LINE:
                for line in group:
                    yield from _cap(line, [line], limit, ctx)
            else:
                yield from _cap(group[0], group, limit, ctx)


def _over_on_claim(claim: BillingClaim, mue: Mapping[str, MueLimit], skipped: set[str]) -> bool:
    """Some code's units on the whole claim pass its MUE. Units only add up, so when none does,
    no line or day can: most claims stop here, without grouping their lines by day."""
    billed: dict[str, int] = {}
    for line in claim.lines:
        if line.code not in mue or line.code in skipped:
            continue  # most therapy codes have no MUE in the pack
        units = whole_units(line)
        if units is not None:
            billed[line.code] = billed.get(line.code, 0) + units
    return any(units > mue[code].value for code, units in billed.items())


def _cap(
    first: ClaimLine, group: list[ClaimLine], limit: MueLimit, ctx: RuleContext
) -> Iterator[Finding | None]:
    """Keep the earlier lines' units up to the MUE; the 8-minute rule may cut a timed code
    further, so there a person sets the units."""
    total = sum(whole_units(line) or 0 for line in group)
    if total <= limit.value:
        return
    timed = first.code in ctx.knowledge.codes.timed and "TIMED-8MIN-UNITS" in ctx.selected
    scope = "per line" if limit.mai == PER_LINE else "per day"
    kind = {1: "line edit", 2: "date-of-service policy edit", 3: "date-of-service clinical edit"}
    for line, keep, fix in trimmed_to_cap(group, limit.value):
        yield ctx.finding(
            "MUE-UNITS",
            line,
            Fix.review() if timed else fix,
            f"{line.code} is billed x{total} {scope}; its MUE is {limit.value} "
            f"({kind[limit.mai]}, MAI {limit.mai}): units over it deny the line"
            + (f"; bill x{keep} here." if keep else "; remove this line."),
        )
