"""Timed codes and the 8-minute rule: the day's timed minutes fix its units, one line per code."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from math import ceil

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix, FixAction
from rules.model import BillingClaim, ClaimLine
from rules.service_days import by_date
from rules.timed import allocate_units, allocate_units_per_code, units_for_minutes

EIGHT_MINUTES = "TIMED-8MIN-UNITS"
UNDER_EIGHT = "TIMED-UNDER-8"
ONE_LINE = "TIMED-ONE-LINE"
UNITS_INVALID = "CLAIM-QTY-INVALID"
CMS_METHOD = "cms"


def whole_units(line: ClaimLine) -> int | None:
    """The line's units when they are a positive whole number (else CLAIM-QTY-INVALID speaks)."""
    units = line.units
    if units is None or units <= 0 or not float(units).is_integer():
        return None
    return int(units)


def trimmed_to_cap(lines: Sequence[ClaimLine], cap: int) -> Iterator[tuple[ClaimLine, int, Fix]]:
    """The lines whose units drop so the group bills no more than `cap`, earlier lines keeping
    theirs first: (line, units kept, set-quantity fix or remove-line when none is kept)."""
    left = cap
    for line in lines:
        units = whole_units(line) or 0
        keep = min(units, left)
        left -= keep
        if keep != units:
            yield line, keep, Fix.set_quantity(keep) if keep else Fix.remove_line()


@dataclass(frozen=True, slots=True)
class TimedDay:
    """The timed lines of one date of service, in claim order, and how the payer counts them."""

    day: date | None
    lines: tuple[ClaimLine, ...]
    method: str
    minutes_per_unit: int
    payment_modifiers: frozenset[str] = frozenset()
    # Derived from `lines` once: the day's rules ask for them many times.
    by_code: dict[str, list[ClaimLine]] = field(init=False, repr=False, compare=False)
    # Lines that bill as one: the same code with the same payment modifiers. A PT's units and
    # a PTA's (CQ) units of one code are separate lines, as are distinct (59/X) ones.
    by_billing_line: dict[tuple[str, frozenset[str]], list[ClaimLine]] = field(
        init=False, repr=False, compare=False
    )
    minutes_known: bool = field(init=False, repr=False, compare=False)
    total_minutes: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code: dict[str, list[ClaimLine]] = {}
        by_billing_line: dict[tuple[str, frozenset[str]], list[ClaimLine]] = {}
        payment = self.payment_modifiers
        known = True
        spent = []
        for line in self.lines:
            by_code.setdefault(line.code, []).append(line)
            key = (line.code, payment.intersection(line.modifiers))
            by_billing_line.setdefault(key, []).append(line)
            minutes = line.minutes
            known = known and minutes is not None
            spent.append(max(minutes or 0.0, 0.0))
        object.__setattr__(self, "by_code", by_code)
        object.__setattr__(self, "by_billing_line", by_billing_line)
        object.__setattr__(self, "minutes_known", known)
        object.__setattr__(self, "total_minutes", sum(spent))

    @property
    def when(self) -> str:
        return self.day.isoformat() if self.day else "the same day"

    def allocation(self, lines: Sequence[ClaimLine] | None = None) -> dict[str, int]:
        """Units per code: CMS pools the day's minutes, AMA counts each code alone."""
        chosen = self.lines if lines is None else lines
        return _allocation(chosen, self.method, self.minutes_per_unit)

    def most_units(self, minutes: float) -> int:
        """The most units a code with these minutes can earn, whatever the other codes ran."""
        if self.method == CMS_METHOD:
            return ceil(max(minutes, 0.0) / self.minutes_per_unit)
        return units_for_minutes(minutes, self.minutes_per_unit)


@check(
    EIGHT_MINUTES,
    UNDER_EIGHT,
    ONE_LINE,
    reads={"minutes", "units"},
    reads_modifiers=lambda codes: codes.payment_modifiers,
)
def timed_units(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Per date of service: units no more than the timed minutes allow, each code on one line."""
    codes = ctx.knowledge.codes
    # Only the timed lines are grouped: most claims hold few, many none.
    timed_lines = [line for line in claim.lines if line.code in codes.timed]
    if not timed_lines:
        return
    method = str(claim.payer.settings.get("timed_units_method", CMS_METHOD))
    payment = codes.payment_modifiers
    for day, timed in by_date(timed_lines).items():
        # Most days bill within their minutes, one line per code: said without a TimedDay.
        quick = _within_minutes(timed, method, codes.minutes_per_unit, ctx)
        if quick is True:
            continue
        if quick:
            yield from _over_minutes(day, timed, quick, method, codes.minutes_per_unit, ctx)
            continue
        yield from _day(TimedDay(day, tuple(timed), method, codes.minutes_per_unit, payment), ctx)


def _allocation(lines: Sequence[ClaimLine], method: str, minutes_per_unit: int) -> dict[str, int]:
    pairs = [(line.code, float(line.minutes or 0.0)) for line in lines]
    if method == CMS_METHOD:
        return allocate_units(pairs, minutes_per_unit)
    per_code: dict[str, float] = {}
    for code, minutes in pairs:
        per_code[code] = per_code.get(code, 0.0) + max(minutes, 0.0)
    return allocate_units_per_code(per_code, minutes_per_unit)


def _within_minutes(
    lines: list[ClaimLine], method: str, minutes_per_unit: int, ctx: RuleContext
) -> dict[str, int] | bool:
    """True when `_day` has nothing to say about the day: every line with its minutes and whole
    units, each code on one line, and no more units than the minutes earn. Else False, or the
    day's allocation when that is all that is wrong (`_over_minutes` then says the day)."""
    spent = []
    billed = 0
    for line in lines:
        minutes = line.minutes
        units = line.units  # as `whole_units`, inline: this is every timed line of the scan
        if minutes is None or units is None or units <= 0 or not float(units).is_integer():
            return False
        spent.append(max(minutes, 0.0))
        billed += int(units)
    if len(lines) > 1 and len({line.code for line in lines}) != len(lines):
        return False
    if units_for_minutes(sum(spent), minutes_per_unit) == 0:
        return False  # TIMED-UNDER-8
    if EIGHT_MINUTES not in ctx.selected:
        return True
    allocation = _allocation(lines, method, minutes_per_unit)
    return True if billed <= sum(allocation.values()) else allocation


def _over_minutes(
    day: date | None,
    lines: list[ClaimLine],
    allocation: dict[str, int],
    method: str,
    minutes_per_unit: int,
    ctx: RuleContext,
) -> Iterator[Finding | None]:
    """What `_day` finds on a day `_within_minutes` worked out the allocation of (every line
    with its minutes and whole units, each code on one line, more units than the minutes
    earn), without grouping the day: a code over its units is reduced, or removed when it
    earns none. Most days of an export that bill over their minutes are such days."""
    allowed = sum(allocation.values())
    total = sum([max(line.minutes or 0.0, 0.0) for line in lines])
    excess = [line for line in lines if int(line.units or 0) > allocation[line.code]]
    unbillable = {line.code for line in excess if allocation[line.code] == 0}
    if unbillable:
        timed = TimedDay(day, tuple(lines), method, minutes_per_unit)
        yield from _unbillable(timed, unbillable, allocation, allowed, True, ctx)
    for line in excess:
        if cap := allocation[line.code]:
            yield from _reduce(total, [line], cap, allowed, True, ctx)


def _day(day: TimedDay, ctx: RuleContext) -> Iterator[Finding | None]:
    """The day's findings."""
    groups = day.by_code
    split = {key for key, group in day.by_billing_line.items() if len(group) > 1}
    invalid = [line for line in day.lines if whole_units(line) is None]
    # With bad units on a day whose codes are split, CLAIM-QTY-INVALID cannot say the units
    # either: nothing here is changed automatically until a person has fixed them.
    automatic = not (invalid and split)
    if not day.minutes_known:
        yield from _minutes_missing(day, ctx)
        yield from _merge(day, split, {}, not invalid, ctx)
        return
    # CLAIM-QTY-INVALID sets bad units to the allocation, and removes the lines that earn none:
    # judge the day as it will be billed, so the corrected claim reads the same.
    fixed_elsewhere = UNITS_INVALID in ctx.selected and not split
    as_billed = day.allocation()
    # Only a line with bad units can go (no bad units: nothing to look for).
    gone = _removed_for_units(day, ctx, as_billed) if invalid else []
    if gone:
        day = replace(day, lines=tuple(ln for ln in day.lines if all(ln is not g for g in gone)))
        groups = day.by_code
    if not day.lines:
        return
    if units_for_minutes(day.total_minutes, day.minutes_per_unit) == 0:
        yield from _under_eight(day, ctx)
        return

    allocation = day.allocation() if gone else as_billed
    allowed = sum(allocation.values())

    def billed(line: ClaimLine) -> int:
        units = whole_units(line)
        if units is not None:
            return units
        return as_billed[line.code] if fixed_elsewhere else 0

    over = EIGHT_MINUTES in ctx.selected and sum(map(billed, day.lines)) > allowed
    if not over and not split:
        return  # about half the days: units within the minutes, one line per code
    by_code = {code: sum(map(billed, group)) for code, group in groups.items()}
    excess = {code for code, units in by_code.items() if over and units > allocation[code]}
    unbillable = {code for code in excess if allocation[code] == 0}
    caps = {code: allocation[code] for code in excess - unbillable}

    yield from _unbillable(day, unbillable, allocation, allowed, automatic, ctx)
    merged_here = split if ONE_LINE in ctx.selected else set()
    # A capped code billed on one line-kind is capped by its merge; billed as several kinds
    # (PT and PTA lines), the reduction goes line by line and the merge is left to a person.
    merged_codes = _single_kind(day, merged_here) if caps else set()
    reduced = set()
    for code, cap in caps.items():
        if code not in merged_codes:
            reduced.add(code)
            yield from _reduce(day.total_minutes, groups[code], cap, allowed, automatic, ctx)
    kept = {key for key in merged_here if key[0] not in unbillable}
    merge_caps = {code: cap for code, cap in caps.items() if code in merged_codes}
    yield from _merge(day, kept, merge_caps, not invalid, ctx, reduced)


def _single_kind(day: TimedDay, split: set[tuple[str, frozenset[str]]]) -> set[str]:
    """The codes of `split` that the day bills as one line-kind only."""
    keys_per_code: dict[str, int] = {}
    for code, _ in day.by_billing_line:
        keys_per_code[code] = keys_per_code.get(code, 0) + 1
    return {code for code, _ in split if keys_per_code[code] == 1}


def timed_lines_left(lines: Sequence[ClaimLine], method: str, ctx: RuleContext) -> list[ClaimLine]:
    """One day's timed lines still billed once the unit fixes (8-minute rule, bad units) apply."""
    codes = ctx.knowledge.codes
    timed = tuple(line for line in lines if line.code in codes.timed)
    if not timed:
        return []
    day = TimedDay(None, timed, method, codes.minutes_per_unit, codes.payment_modifiers)
    removed = [
        finding.line
        for finding in _day(day, ctx)
        if finding is not None and finding.fix.action is FixAction.REMOVE_LINE
    ]
    gone = _removed_for_units(day, ctx)
    return [ln for ln in timed if ln.sequence not in removed and all(ln is not g for g in gone)]


def _removed_for_units(
    day: TimedDay, ctx: RuleContext, allocation: dict[str, int] | None = None
) -> list[ClaimLine]:
    """The lines CLAIM-QTY-INVALID removes: bad units and no unit under the allocation
    (`allocation`: the day's, when the caller has it)."""
    if UNITS_INVALID not in ctx.selected or not day.minutes_known:
        return []
    if any(len(group) > 1 for group in day.by_code.values()):
        return []
    if allocation is None:
        allocation = day.allocation()
    return [ln for ln in day.lines if whole_units(ln) is None and allocation[ln.code] == 0]


def _reduce(
    total_minutes: float,
    group: list[ClaimLine],
    cap: int,
    allowed: int,
    automatic: bool,
    ctx: RuleContext,
) -> Iterator[Finding | None]:
    """Keep the code's units within its allocation, earlier lines first."""
    for line, keep, fix in trimmed_to_cap(group, cap):
        yield ctx.finding(
            EIGHT_MINUTES,
            line,
            fix if automatic else Fix.review(),
            f"{total_minutes:g} timed minutes = {allowed} unit{'s' if allowed != 1 else ''}"
            f": bill {line.code} x{cap}"
            + ("." if len(group) == 1 else f" in all (this line x{keep})."),
        )


def _unbillable(
    day: TimedDay,
    codes: set[str],
    allocation: dict[str, int],
    allowed: int,
    automatic: bool,
    ctx: RuleContext,
) -> Iterator[Finding | None]:
    """Codes that earn no unit: their minutes count; the lines go if the rest holds without them."""
    if not codes:
        return
    dropped = [line for line in day.lines if line.code in codes]
    rest = [line for line in day.lines if line.code not in codes]
    after = day.allocation(rest) if rest else {}
    stable = automatic and all(after.get(line.code) == allocation[line.code] for line in rest)
    earners = "/".join(dict.fromkeys(c for c, n in allocation.items() if n)) or "other codes"
    for line in dropped:
        if whole_units(line) is None:
            continue
        yield ctx.finding(
            EIGHT_MINUTES,
            line,
            Fix.remove_line() if stable else Fix.review(),
            f"{day.total_minutes:g} timed minutes = {allowed} units, all earned by {earners}: "
            f"{line.code} ({line.minutes or 0:g} min) earns none; remove the line"
            + ("." if stable else " but keep its minutes with the day's record."),
        )


def _merge(
    day: TimedDay,
    split: set[tuple[str, frozenset[str]]],
    caps: dict[str, int],
    automatic: bool,
    ctx: RuleContext,
    reduced: set[str] | None = None,
) -> Iterator[Finding | None]:
    """One line per timed code, payment modifiers and day: the first takes the units."""
    groups = day.by_billing_line
    for key in sorted(split, key=lambda k: groups[k][0].index):
        code = key[0]
        first, *others = groups[key]
        total = sum(whole_units(line) or 0 for line in groups[key])
        # The merged line carries every line's minutes: a line without them would read as zero.
        known = {line.minutes is not None for line in groups[key]}
        fixable = automatic and len(known) == 1 and code not in (reduced or set())
        units = min(total, caps.get(code, total))
        capped = f" (the day's {day.total_minutes:g} timed minutes allow {units})" * (units < total)
        if whole_units(first) != units:
            yield ctx.finding(
                ONE_LINE,
                first,
                Fix.set_quantity(units) if fixable else Fix.review(),
                f"{code} is billed on {len(others) + 1} lines for {day.when}: bill it on this "
                f"line x{units}{capped}.",
            )
        for line in others:
            yield ctx.finding(
                ONE_LINE,
                line,
                Fix.remove_line() if fixable else Fix.review(),
                f"{code} is also billed on line {first.sequence} for {day.when}: bill it there "
                f"x{units}{capped} and remove this line.",
            )


def _under_eight(day: TimedDay, ctx: RuleContext) -> Iterator[Finding | None]:
    only = len(day.lines) == 1
    for line in day.lines:
        why = (
            f"{line.code} ran {line.minutes or 0:g} minutes, the only timed service billed on "
            f"{day.when}"
            if only
            else f"the timed services on {day.when} total {day.total_minutes:g} minutes"
        )
        yield ctx.finding(
            UNDER_EIGHT,
            line,
            Fix.remove_line(),
            f"{why}: under 8 minutes it cannot be billed; remove {line.code}.",
        )


def _minutes_missing(day: TimedDay, ctx: RuleContext) -> Iterator[Finding | None]:
    """Without every line's minutes only a code billed past its own minutes is provably over."""
    missing = ", ".join(str(ln.sequence) for ln in day.lines if ln.minutes is None)
    for code, group in day.by_code.items():
        if any(line.minutes is None for line in group):
            continue
        minutes = sum(max(line.minutes or 0.0, 0.0) for line in group)
        units = sum(whole_units(line) or 0 for line in group)
        most = day.most_units(minutes)
        if units > most:
            yield ctx.finding(
                EIGHT_MINUTES,
                group[0],
                Fix.review(),
                f"{code} x{units} but its {minutes:g} minutes earn at most {most}; minutes are "
                f"missing on line {missing}: check the day's units.",
            )
