"""The CMS 8-minute rule (Pub 100-04 Ch.5 §20.2) as pure arithmetic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import floor

from rules.model import ClaimLine

MINUTES_PER_UNIT = 15
MINIMUM_MINUTES = 8


def units_for_minutes(total_minutes: float, minutes_per_unit: int = MINUTES_PER_UNIT) -> int:
    """8-22 min = 1 unit, 23-37 = 2, 38-52 = 3 … (+1 per 15); under 8 = 0."""
    if total_minutes < MINIMUM_MINUTES:
        return 0
    return floor((total_minutes + minutes_per_unit // 2) / minutes_per_unit)


def allocate_units(
    minutes: Sequence[tuple[str, float]], minutes_per_unit: int = MINUTES_PER_UNIT
) -> dict[str, int]:
    """Units per timed code for one day, CMS method.

    The day's total timed minutes fix the number of units; each code first gets its full
    15-minute units, and the units left go to the codes with the largest remaining minutes
    (ties to the code listed first).
    """
    by_code: dict[str, float] = {}
    for code, mins in minutes:
        by_code[code] = by_code.get(code, 0.0) + max(mins, 0.0)
    units = {}
    full = 0
    for code, mins in by_code.items():
        units[code] = whole = floor(mins / minutes_per_unit)
        full += whole
    left = units_for_minutes(sum(by_code.values()), minutes_per_unit) - full
    if left <= 0:  # the full units use up the day's: none to hand out, nothing to sort
        return units
    remaining = {code: mins - units[code] * minutes_per_unit for code, mins in by_code.items()}
    # A stable sort, reverse or not, keeps equal remainders in listed order (the tie-break).
    for code in sorted(remaining, key=remaining.__getitem__, reverse=True):
        if left <= 0:
            break
        if remaining[code] > 0:
            units[code] += 1
            left -= 1
    return units


def allocate_units_per_code(
    minutes: Mapping[str, float], minutes_per_unit: int = MINUTES_PER_UNIT
) -> dict[str, int]:
    """Units per timed code when a payer applies the rule to each code alone (AMA method)."""
    return {code: units_for_minutes(m, minutes_per_unit) for code, m in minutes.items()}


def timed_units_by_line(
    lines: Sequence[ClaimLine], timed_codes: frozenset[str], method: str = "cms"
) -> dict[int, int] | None:
    """Units each timed line of one day may bill, by line sequence.

    None when the answer is unknowable: a timed line without minutes, or a timed code split
    over several lines (the allocation is per code, not per line).
    """
    timed = [ln for ln in lines if ln.code in timed_codes]
    codes = [ln.code for ln in timed]
    if any(ln.minutes is None for ln in timed) or len(set(codes)) != len(codes):
        return None
    pairs = [(ln.code, float(ln.minutes or 0.0)) for ln in timed]
    per_code = allocate_units(pairs) if method == "cms" else allocate_units_per_code(dict(pairs))
    return {ln.sequence: per_code[ln.code] for ln in timed}
