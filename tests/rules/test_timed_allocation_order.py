"""allocate_units hands the units left after the full ones to the largest remainders, ties to
the code listed first: checked against the method written out step by step."""

from __future__ import annotations

from math import floor

from hypothesis import given
from hypothesis import strategies as st

from rules.timed import allocate_units, units_for_minutes

CODES = ["97110", "97112", "97140", "97116"]
# Whole and half minutes, so remainders tie often.
minutes = st.integers(min_value=-5, max_value=70) | st.sampled_from([7.5, 10.5, 22.5, 0.5])
days = st.lists(st.tuples(st.sampled_from(CODES), minutes), max_size=8)


def _step_by_step(day: list[tuple[str, float]], per_unit: int) -> dict[str, int]:
    by_code: dict[str, float] = {}
    for code, mins in day:
        by_code[code] = by_code.get(code, 0.0) + max(mins, 0.0)
    units = {code: floor(mins / per_unit) for code, mins in by_code.items()}
    left = units_for_minutes(sum(by_code.values()), per_unit) - sum(units.values())
    listed = list(by_code)
    while left > 0:
        remainders = {c: by_code[c] - units[c] * per_unit for c in listed}
        best = max((r, -listed.index(c), c) for c, r in remainders.items() if r > 0)[2]
        units[best] += 1
        listed.remove(best)  # one extra unit per code at most
        left -= 1
        if not any(by_code[c] - units[c] * per_unit > 0 for c in listed):
            break
    return units


@given(days, st.sampled_from([15, 10]))
def test_allocation_matches_the_method_step_by_step(
    day: list[tuple[str, float]], per_unit: int
) -> None:
    assert allocate_units(day, per_unit) == _step_by_step(day, per_unit)


def test_equal_remainders_go_to_the_code_listed_first() -> None:
    day = [("97140", 10), ("97110", 10), ("97112", 10)]  # 30 minutes = 2 units
    assert allocate_units(day) == {"97140": 1, "97110": 1, "97112": 0}


def test_full_units_only_need_no_ordering() -> None:
    assert allocate_units([("97110", 30), ("97140", 15)]) == {"97110": 2, "97140": 1}
