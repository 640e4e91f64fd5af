"""The 8-minute arithmetic in rules/timed.py: invariants, and the worked examples CMS publishes."""

from __future__ import annotations

from math import floor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.timed import allocate_units, allocate_units_per_code, units_for_minutes

TIMED = ["97110", "97112", "97140", "97116", "97530", "97035"]

days = st.lists(
    st.tuples(
        st.sampled_from(TIMED),
        st.integers(min_value=0, max_value=120) | st.floats(min_value=0, max_value=120),
    ),
    max_size=6,
)


def _minutes_by_code(day: list[tuple[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for code, minutes in day:
        out[code] = out.get(code, 0.0) + minutes
    return out


@given(days)
def test_allocation_bills_exactly_the_units_the_total_minutes_allow(
    day: list[tuple[str, float]],
) -> None:
    units = allocate_units(day)
    assert sum(units.values()) == units_for_minutes(sum(m for _, m in day))


@given(days)
def test_every_code_keeps_its_full_fifteen_minute_units(day: list[tuple[str, float]]) -> None:
    units = allocate_units(day)
    for code, minutes in _minutes_by_code(day).items():
        assert units[code] >= floor(minutes / 15)
        assert units[code] <= floor(minutes / 15) + 1


@given(days)
def test_a_code_with_fifteen_minutes_gets_a_unit(day: list[tuple[str, float]]) -> None:
    units = allocate_units(day)
    for code, minutes in _minutes_by_code(day).items():
        if minutes >= 15:
            assert units[code] >= 1


@given(st.integers(min_value=0, max_value=600))
def test_unit_chart(minutes: int) -> None:
    """8-22 = 1, 23-37 = 2, 38-52 = 3 … +1 per 15 minutes (Pub 100-04 Ch.5 §20.2 chart)."""
    expected = 0 if minutes < 8 else (minutes - 8) // 15 + 1
    assert units_for_minutes(minutes) == expected


@given(days)
def test_ama_method_counts_each_code_alone(day: list[tuple[str, float]]) -> None:
    by_code = _minutes_by_code(day)
    units = allocate_units_per_code(by_code)
    assert units == {code: units_for_minutes(m) for code, m in by_code.items()}


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # Example 1: 24 min 97112 + 23 min 97110 = 47 min = 3 units; more to the longer code.
        ([("97112", 24), ("97110", 23)], {"97112": 2, "97110": 1}),
        # Example 2: 20 + 20 = 40 min = 3 units; each at least 1, either may take the second.
        ([("97112", 20), ("97110", 20)], {"97112": 2, "97110": 1}),
        # Example 3: 33 min 97110 + 7 min 97140 = 40 min = 3 units: 97110 x2, 97140 x1.
        ([("97110", 33), ("97140", 7)], {"97110": 2, "97140": 1}),
        # Example 4: 18 + 13 + 10 + 8 = 49 min = 3 units: 97110, 97140, 97116 x1; 97035 none.
        (
            [("97110", 18), ("97140", 13), ("97116", 10), ("97035", 8)],
            {"97110": 1, "97140": 1, "97116": 1, "97035": 0},
        ),
    ],
    ids=["example-1", "example-2", "example-3", "example-4"],
)
def test_cms_worked_examples(day: list[tuple[str, float]], expected: dict[str, int]) -> None:
    """Medicare Claims Processing Manual (Pub 100-04) Ch.5 §20.2, examples 1-4.

    Text of the examples as reproduced by findacode.com ("Documentation Requirements for Therapy
    Services", 2015-08-10: examples 1-3 in full, example 4's minutes) and physicaltherapy.com
    ("Billing example using 8 minute", the 33 + 7 minute case); example 4's answer (97110,
    97140 and 97116 one unit each, 97035 none) as quoted by a billing cheat sheet
    (register.tahoexc.org "therapy units cheat sheet"). First Coast's page
    medicare.fcso.com/Rehabilitation_services/0508065.asp carries the same chart and examples.
    """
    assert allocate_units(day) == expected


def test_two_services_under_eight_minutes_make_one_unit_for_the_longer() -> None:
    """§20.2: two timed services of 7 minutes or less totalling 8 or more bill one unit, for
    the service performed for the most minutes."""
    assert allocate_units([("97110", 3), ("97140", 7)]) == {"97110": 0, "97140": 1}


def test_a_lone_service_under_eight_minutes_earns_nothing() -> None:
    assert allocate_units([("97110", 7)]) == {"97110": 0}
