"""NCCI procedure-to-procedure edits and the 59/X{EPSU} modifiers that unbundle them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.knowledge.model import CodeFacts, Knowledge, NcciEdit
from rules.model import BillingClaim, ClaimLine, Severity
from rules.service_days import by_date

EITHER_CODE = "ncci_modifier_either_code"  # payer setting: CR 11168 (Medicare Part B)


@dataclass(frozen=True, slots=True)
class BundledPair:
    """A column-2 line billed the same day as its column-1 line, under an active edit."""

    column1: ClaimLine
    column2: ClaimLine
    edit: NcciEdit


def bundled_pairs(claim: BillingClaim, ctx: RuleContext) -> Iterator[BundledPair]:
    by_pair = ctx.knowledge.ncci_by_pair
    # A line whose code is in no edit pairs with nothing: only the others are grouped by day.
    column2_of = column2_codes(ctx.knowledge)
    paired = paired_codes(ctx.knowledge)
    candidates = [line for line in claim.lines if line.code in paired]
    if len(candidates) < 2:
        return
    for day, lines in by_date(candidates).items():
        for first in lines:
            partners = column2_of.get(first.code)
            if partners is None:
                continue  # column 2 only: its pairs are found from their column 1
            for second in lines:
                if first is second or second.code not in partners:
                    continue
                for edit in by_pair.get((first.code, second.code), ()):
                    if edit.modifier_indicator != "9" and edit.active_on(ctx.as_of or day):
                        yield BundledPair(first, second, edit)
                        break


def paired_codes(knowledge: Knowledge) -> frozenset[str]:
    """The codes that stand in some NCCI edit, either column (derived once per knowledge)."""
    return knowledge.derive(_paired_codes)


def _paired_codes(knowledge: Knowledge) -> frozenset[str]:
    return frozenset(code for pair in knowledge.ncci_by_pair for code in pair)


def column2_codes(knowledge: Knowledge) -> Mapping[str, frozenset[str]]:
    """The column-2 codes of each column-1 code's edits (derived once per knowledge)."""
    return knowledge.derive(_column2_codes)


def _column2_codes(knowledge: Knowledge) -> Mapping[str, frozenset[str]]:
    partners: dict[str, set[str]] = {}
    for column1, column2 in knowledge.ncci_by_pair:
        partners.setdefault(column1, set()).add(column2)
    return {code: frozenset(codes) for code, codes in partners.items()}


def _unbundling_modifiers(codes: CodeFacts) -> frozenset[str]:
    """59 and the X modifiers."""
    return codes.x_modifiers | {codes.distinct_service_modifiers.distinct_procedural}


def _unbundling(line: ClaimLine, ctx: RuleContext) -> list[str]:
    """The 59/X modifiers a line carries (the ones that can move to another line)."""
    codes = ctx.knowledge.codes
    generic = codes.distinct_service_modifiers.distinct_procedural
    return [m for m in line.modifiers if m == generic or m in codes.x_modifiers]


@check(
    "NCCI-PTP-MOD-MISSING",
    "NCCI-PTP-MOD0",
    "NCCI-PTP-MOD-MISPLACED",
    reads={"regions", "encounter", "performers"},
    reads_modifiers=lambda codes: codes.ncci_associated | _unbundling_modifiers(codes),
)
def ncci_pairs(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Column 2 of an active pair is denied unless an NCCI-associated modifier unbundles it."""
    codes = ctx.knowledge.codes
    by_column2: dict[int, list[BundledPair]] = {}
    for pair in bundled_pairs(claim, ctx):
        by_column2.setdefault(pair.column2.index, []).append(pair)
    column2_lines = set(by_column2)

    for pairs in by_column2.values():
        line = pairs[0].column2
        never = [p for p in pairs if p.edit.modifier_indicator == "0"]
        if never:
            partner = never[0].column1
            yield ctx.finding(
                "NCCI-PTP-MOD0",
                line,
                Fix.remove_line(),
                f"{line.code} is never paid beside {partner.code} on the same day (NCCI "
                f"indicator 0): remove line {line.sequence}.",
            )
            continue
        if not codes.ncci_associated.isdisjoint(line.modifiers):
            continue
        misplaced = [
            (p.column1, m)
            for p in pairs
            for m in _unbundling(p.column1, ctx)
            if p.column1.index not in column2_lines
        ]
        if misplaced and claim.payer.flag(EITHER_CODE):
            yield _accepted_on_column1(line, misplaced, ctx)
        elif misplaced:
            yield from _misplaced(line, misplaced, ctx)
        else:
            yield _missing(line, pairs, ctx)


def _accepted_on_column1(
    line: ClaimLine, misplaced: list[tuple[ClaimLine, str]], ctx: RuleContext
) -> Finding | None:
    """The payer reads 59/X on either code of the pair: no denial, only the convention."""
    column1, modifier = misplaced[0]
    return ctx.finding(
        "NCCI-PTP-MOD-MISPLACED",
        line,
        Fix.review((modifier,)),
        f"{modifier} is on {column1.code} (column 1), not on {line.code} (column 2): this payer "
        "accepts it on either code (CR 11168); column 2 is the usual place.",
        Severity.INFO,
    )


def _misplaced(
    line: ClaimLine, misplaced: list[tuple[ClaimLine, str]], ctx: RuleContext
) -> Iterator[Finding | None]:
    modifier = misplaced[0][1]
    yield ctx.finding(
        "NCCI-PTP-MOD-MISPLACED",
        line,
        Fix.add_modifier(modifier),
        f"{modifier} is on {misplaced[0][0].code} (column 1) but belongs on {line.code} "
        "(column 2): move it.",
    )
    for column1, mod in misplaced:
        yield ctx.finding(
            "NCCI-PTP-MOD-MISPLACED",
            column1,
            Fix.remove_modifier(mod),
            f"{mod} on {column1.code} (column 1) does not unbundle {line.code}: move it to "
            f"line {line.sequence}.",
        )


def _missing(line: ClaimLine, pairs: list[BundledPair], ctx: RuleContext) -> Finding | None:
    partners = [p.column1 for p in pairs]
    named = "/".join(dict.fromkeys(p.code for p in partners))
    suggested = next((p.edit.suggested_modifier for p in pairs if p.edit.suggested_modifier), None)
    x = ctx.knowledge.codes.distinct_service_modifiers
    xe, xp, xs, xu = (
        x.separate_encounter,
        x.different_practitioner,
        x.separate_structure,
        x.unusual_non_overlapping,
    )
    generic = x.distinct_procedural
    if suggested:
        fix = Fix.add_modifier(suggested)
        why = f"append {suggested} if the record supports a separately identifiable service"
    elif all(_other_encounter(line, p) for p in partners):
        fix = Fix.add_modifier(xe, (generic,))
        why = f"append {xe}: it was furnished at a separate encounter"
    elif all(_other_practitioner(line, p) for p in partners):
        fix = Fix.add_modifier(xp, (generic,))
        why = f"append {xp}: a different practitioner furnished it"
    elif all(_other_region(line, p) for p in partners):
        fix = Fix.add_modifier(xs, (generic,))
        why = (
            f"append {xs}: {line.code} treated the {_regions(line)} region, {named} the "
            f"{'/'.join(_regions(p) for p in partners)} region"
        )
    elif line.regions and all(p.regions for p in partners):
        fix = Fix.review((xe, xu, generic))
        why = (
            f"same region: {xe} if separate encounter, {xu} if it did not overlap in time, "
            f"otherwise do not bill {line.code} separately"
        )
    else:
        fix = Fix.review((xs, xe, xu, generic))
        why = "the treated regions are not on the claim: choose the modifier the record supports"
    return ctx.finding(
        "NCCI-PTP-MOD-MISSING",
        line,
        fix,
        f"{line.code} is column 2 to {named} the same day and will be denied as bundled: {why}.",
    )


def _other_region(line: ClaimLine, other: ClaimLine) -> bool:
    return bool(line.regions) and bool(other.regions) and line.regions.isdisjoint(other.regions)


def _other_encounter(line: ClaimLine, other: ClaimLine) -> bool:
    return line.encounter is not None and other.encounter not in (None, line.encounter)


def _other_practitioner(line: ClaimLine, other: ClaimLine) -> bool:
    mine, theirs = line.performer_refs, other.performer_refs
    return bool(mine) and bool(theirs) and mine.isdisjoint(theirs)


def _regions(line: ClaimLine) -> str:
    return "/".join(sorted(line.regions)).replace("_", " ")


@check("MOD-59-X-DUP", reads=(), reads_modifiers=_unbundling_modifiers)
def one_unbundling_modifier(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """59 is the generic form of X{EPSU}: a line carries 59 or one X modifier, never more."""
    codes = ctx.knowledge.codes
    generic = codes.distinct_service_modifiers.distinct_procedural
    x_modifiers = codes.x_modifiers
    for line in claim.lines:
        if x_modifiers.isdisjoint(line.modifiers):
            continue  # most lines: without an X modifier there is nothing to keep apart
        xs = list(dict.fromkeys(m for m in line.modifiers if m in x_modifiers))
        if generic in line.modifiers and xs:
            yield ctx.finding(
                "MOD-59-X-DUP",
                line,
                Fix.remove_modifier(generic),
                f"{line.code} carries {generic} and {xs[0]}: keep the more specific {xs[0]}, "
                f"remove {generic}.",
            )
        elif len(xs) > 1:
            yield ctx.finding(
                "MOD-59-X-DUP",
                line,
                Fix.review(tuple(xs)),
                f"{line.code} carries {'+'.join(xs)}: keep the one the record supports.",
            )
