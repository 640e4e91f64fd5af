"""Units: 97012 is untimed (one unit, one line per day); every line bills whole units."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim, ClaimLine
from rules.service_days import by_date
from rules.timed import timed_units_by_line


def _whole(units: float | None) -> bool:
    return units is not None and units > 0 and float(units).is_integer()


@check("T97012-UNITS-ONE", reads={"units"})
def untimed_units(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """97012 is untimed: one unit per date of service, however long it ran."""
    codes = ctx.knowledge.codes
    per_session = codes.units_per_session
    for line in claim.lines_with_code(codes.traction_code):
        if line.units is not None and line.units > per_session and _whole(line.units):
            yield ctx.finding(
                "T97012-UNITS-ONE",
                line,
                Fix.set_quantity(per_session),
                f"97012 billed x{line.units:g}: traction is untimed, bill 97012 x1 per session.",
            )


@check("T97012-DUP-DOS", reads=())
def one_traction_line_per_day(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """A second 97012 line on the same day is denied by the date-of-service MUE."""
    code = ctx.knowledge.codes.traction_code
    traction = [line for line in claim.lines if line.code == code]
    if len(traction) < 2:
        return  # most claims: one 97012 line, no day to group
    for day, lines in by_date(traction).items():
        keep, *extra = lines
        for line in extra:
            when = day.isoformat() if day else "the same day"
            yield ctx.finding(
                "T97012-DUP-DOS",
                line,
                Fix.remove_line(),
                f"97012 is already billed on line {keep.sequence} for {when}: remove this line.",
            )


@check("CLAIM-QTY-INVALID", reads={"units", "minutes"})
def whole_units(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Units are a positive whole number; we say which number when the code or minutes tell."""
    if all(_whole(line.units) for line in claim.lines):
        return  # most claims: nothing to say, so no need to group the lines by day
    codes = ctx.knowledge.codes
    for day_lines in by_date(claim.lines).values():
        allowed: dict[int, int] | None = None
        for line in day_lines:
            if _whole(line.units):
                continue
            if allowed is None:
                method = str(claim.payer.settings.get("timed_units_method", "cms"))
                allowed = timed_units_by_line(day_lines, codes.timed, method) or {}
                if 0 in allowed.values():
                    # A timed line that earns no unit would be removed, and its minutes with it:
                    # the pooled allocation would no longer hold, so a person decides.
                    allowed = {}
            yield ctx.finding(
                "CLAIM-QTY-INVALID",
                line,
                _units_fix(line, codes.untimed, allowed, codes.units_per_session),
                _units_message(line),
            )


def _units_fix(
    line: ClaimLine, untimed: frozenset[str], allowed: dict[int, int], per_session: int
) -> Fix:
    if line.code in untimed:
        return Fix.set_quantity(per_session)
    units = allowed.get(line.sequence)
    if units is None:
        return Fix.review()
    return Fix.set_quantity(units) if units > 0 else Fix.remove_line()


def _units_message(line: ClaimLine) -> str:
    shown = "no units" if line.units is None else f"{line.units:g} units"
    return f"{line.code} is billed with {shown}: units must be a whole number of 1 or more."
