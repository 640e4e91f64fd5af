"""Code choice: the code a line's own words say it is, and the code Medicare pays for it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

from rules.checks.chiropractic import statutorily_excluded
from rules.checks.timed_codes import timed_lines_left
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix, FixAction
from rules.knowledge.model import TextClue
from rules.model import BillingClaim, ClaimLine, Severity
from rules.service_days import by_date
from rules.timed import allocate_units, units_for_minutes

MANUAL = "T97012-MANUAL"
DECOMPRESSION = "T97012-DECOMP"
MEDICARE_CODE = "MCR-97014"
INTERSEGMENTAL = "T97012-ROLLER"
FLEXION_DISTRACTION = "T97012-FLEXDIST"
CMS_METHOD = "cms"
NCCI_RULES = frozenset({"NCCI-PTP-MOD-MISSING", "NCCI-PTP-MOD0"})


def bundled_partner(
    line: ClaimLine, code: str, day_lines: Sequence[ClaimLine], ctx: RuleContext
) -> ClaimLine | None:
    """A line of the same day that an active NCCI edit would deny beside `line` billed as `code`."""
    if ctx.selected.isdisjoint(NCCI_RULES):
        return None
    knowledge = ctx.knowledge
    associated = knowledge.codes.ncci_associated
    for other in day_lines:
        if other is line or other.code == line.code:
            continue  # further lines of the old code go with their own rules (T97012-DUP-DOS)
        on = ctx.as_of or other.date
        for column1, column2, col2_line in ((other.code, code, line), (code, other.code, other)):
            for edit in knowledge.ncci_edits(column1, column2):
                if edit.modifier_indicator == "9" or not edit.active_on(on):
                    continue
                if edit.modifier_indicator == "0" or not col2_line.has_modifier(*associated):
                    return other
    return None


@check(
    MANUAL,
    reads={"text", "minutes", "units"},
    reads_modifiers=lambda codes: codes.payment_modifiers | codes.ncci_associated,
)
def manual_traction(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Manual traction is a 97140 technique, billed by the minute; 97012 is mechanical."""
    codes = ctx.knowledge.codes
    manual, decompression = codes.manual_traction, codes.decompression
    if manual is None:
        return
    # Most lines carry no words: look for the clue before grouping the claim by day.
    if not any(manual.found_in(line.text) for line in claim.lines_with_code(codes.traction_code)):
        return
    method = str(claim.payer.settings.get("timed_units_method", CMS_METHOD))
    for lines in by_date(claim.lines).values():
        traction = [line for line in lines if line.code == codes.traction_code]
        for line in traction:
            if not manual.found_in(line.text):
                continue
            if decompression is not None and decompression.found_in(line.text):
                continue  # a decompression table is T97012-DECOMP's, not manual traction
            fix, why = _manual_fix(line, traction[0], lines, manual.replacement, method, ctx)
            yield ctx.finding(
                MANUAL,
                line,
                fix,
                f"97012 on line {line.sequence} is described as manual traction: {why}.",
            )


def _manual_fix(
    line: ClaimLine,
    first: ClaimLine,
    day_lines: list[ClaimLine],
    code: str,
    method: str,
    ctx: RuleContext,
) -> tuple[Fix, str]:
    review = Fix.review((code,))
    if line is not first:
        return review, f"97012 is already on line {first.sequence}; bill this as {code} by minutes"
    if line.minutes is None:
        return review, f"bill {code} in 15-minute units; the claim gives no minutes for it"
    units = units_for_minutes(line.minutes, ctx.knowledge.codes.minutes_per_unit)
    if units == 0:
        return review, f"{line.minutes:g} minutes earn no {code} unit on their own"
    # Judge the day as it will be billed: timed lines the unit fixes remove do not count.
    timed = timed_lines_left(day_lines, method, ctx)
    same = next((other for other in timed if other.code == code), None)
    if same is not None:
        return review, f"{code} is already on line {same.sequence}: add its minutes there"
    if method == CMS_METHOD and timed:
        return review, _pooled(line, code, day_lines, timed, ctx)
    partner = bundled_partner(line, code, day_lines, ctx)
    if partner is not None:
        return review, f"bill {code}, with an NCCI modifier beside {partner.code} if supported"
    return Fix.replace_code(code, units), f"bill {code} x{units} ({line.minutes:g} min)"


def _pooled(
    line: ClaimLine,
    code: str,
    day_lines: list[ClaimLine],
    timed: list[ClaimLine],
    ctx: RuleContext,
) -> str:
    """The 8-minute rule pools the day's timed minutes: say the units, let a person re-bill."""
    others = "/".join(dict.fromkeys(o.code for o in timed))
    if any(o.minutes is None for o in timed):
        return f"bill {code}; its units come from the day's timed minutes with {others}"
    pairs = [
        (code if o is line else o.code, float(o.minutes or 0.0))
        for o in day_lines
        if o is line or o.code in ctx.knowledge.codes.timed
    ]
    units = allocate_units(pairs, ctx.knowledge.codes.minutes_per_unit)
    total = sum(m for _, m in pairs)
    split = ", ".join(f"{c} x{n}" for c, n in units.items() if n)
    return f"bill {code}; the day's {total:g} timed minutes with {others} give {split}"


@check(
    DECOMPRESSION,
    reads={"text", "performers"},
    reads_modifiers=lambda codes: codes.abn_modifiers | codes.ncci_associated,
)
def decompression(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Spinal decompression is not 97012: Medicare does not cover it, others pay its own code."""
    clue = ctx.knowledge.codes.decompression
    if clue is None:
        return
    noncovered = claim.payer.family in clue.noncovered_families
    days: dict[date | None, list[ClaimLine]] | None = None  # grouped only once a clue is found
    for line in claim.lines_with_code(ctx.knowledge.codes.traction_code):
        if not clue.found_in(line.text):
            continue
        if noncovered:
            yield _noncovered(line, ctx)
        else:
            if days is None:
                days = by_date(claim.lines)
            yield _own_code(line, clue, days[line.date], ctx)


def _noncovered(line: ClaimLine, ctx: RuleContext) -> Finding | None:
    codes = ctx.knowledge.codes
    liability = codes.liability_modifiers
    excluded, abn_on_file, no_abn = (
        liability.statutory_exclusion,
        liability.abn_on_file,
        liability.no_abn,
    )
    if line.has_modifier(abn_on_file, no_abn):
        return None  # the liability is declared: that is the resolution
    if "MCR-CHIRO-GY" in ctx.selected and statutorily_excluded(line, codes):
        return None  # from a chiropractor it is excluded by statute: GY, not GA/GZ
    if line.has_modifier(excluded):
        fix = Fix(
            FixAction.REPLACE_MODIFIER,
            modifier=excluded,
            replacement=abn_on_file,
            alternatives=(no_abn,),
        )
        how = f"replace {excluded} with {abn_on_file} (ABN on file), else {no_abn}"
    else:
        fix = Fix.add_modifier(abn_on_file, (no_abn,))
        how = f"add {abn_on_file} if an ABN is on file, else {no_abn}"
    return ctx.finding(
        DECOMPRESSION,
        line,
        fix,
        f"97012 on line {line.sequence} is described as spinal decompression, which Medicare "
        f"does not cover (NCD 160.16): {how}.",
    )


def _own_code(
    line: ClaimLine, clue: TextClue, day_lines: list[ClaimLine], ctx: RuleContext
) -> Finding | None:
    code = clue.replacement
    units = ctx.knowledge.codes.units_per_session
    partner = bundled_partner(line, code, day_lines, ctx)
    return ctx.finding(
        DECOMPRESSION,
        line,
        Fix.replace_code(code, units) if partner is None else Fix.review((code,)),
        f"97012 on line {line.sequence} is described as spinal decompression: bill {code} "
        f"x{units} unless the payer pays it as 97012.",
        Severity.WARNING,
    )


@check(INTERSEGMENTAL, reads={"text"})
def intersegmental_traction(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """A roller table is neither mechanical traction nor axial decompression: the payer says
    what it is billed as (payer setting intersegmental_traction_code)."""
    clue = ctx.knowledge.codes.intersegmental
    if clue is None:
        return
    code = str(claim.payer.settings.get("intersegmental_traction_code") or "")
    traction = ctx.knowledge.codes.traction_code
    if code == traction:
        return  # this payer takes it as 97012
    for line in claim.lines_with_code(traction):
        if not clue.found_in(line.text):
            continue
        if code:
            fix, how = Fix.replace_code(code, ctx.knowledge.codes.units_per_session), f"bill {code}"
        else:
            fix, how = Fix.review(), "check how the payer wants it billed (many do not pay it)"
        yield ctx.finding(
            INTERSEGMENTAL,
            line,
            fix,
            f"97012 on line {line.sequence} is described as a roller table / intersegmental "
            f"traction, which is not mechanical traction: {how}.",
        )


@check(FLEXION_DISTRACTION, review_only=True)
def flexion_distraction(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Flexion-distraction is a manipulation technique: CMT by regions, not 97012."""
    codes = ctx.knowledge.codes
    clue = codes.flexion_distraction
    if clue is None:
        return
    cmt = tuple(sorted(codes.medicare_chiropractor_covered))
    for line in claim.lines_with_code(codes.traction_code):
        if clue.found_in(line.text):
            yield ctx.finding(
                FLEXION_DISTRACTION,
                line,
                Fix.review(cmt),
                f"97012 on line {line.sequence} is described as flexion-distraction, a "
                f"manipulation technique: bill the CMT code for the regions treated "
                f"({'/'.join(cmt)}), not mechanical traction.",
            )


@check(MEDICARE_CODE, only_with=lambda codes: codes.medicare_replacements, reads=())
def medicare_code(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Medicare does not recognise 97014: unattended e-stim is G0283, one unit."""
    codes = ctx.knowledge.codes
    days = by_date(claim.lines)
    for line in claim.lines:
        code = codes.medicare_replacements.get(line.code)
        if code is None:
            continue
        partner = bundled_partner(line, code, days[line.date], ctx)
        yield ctx.finding(
            MEDICARE_CODE,
            line,
            Fix.replace_code(code, codes.units_per_session)
            if partner is None
            else Fix.review((code,)),
            f"Medicare does not recognise {line.code}: bill {code} x{codes.units_per_session} "
            "instead.",
        )
