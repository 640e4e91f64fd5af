"""TIMED-*: the day the fast path lets through (`_within_minutes`) is one `_day` finds nothing
on; the allocation it hands on is the day's, and `_over_minutes` finds on that day what `_day`
finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rules.checks.timed_codes import (
    CMS_METHOD,
    EIGHT_MINUTES,
    TimedDay,
    _day,
    _over_minutes,
    _within_minutes,
)
from rules.engine import RuleContext, finding_order
from rules.model import ClaimLine
from tests.rules.test_properties import KNOWLEDGE

CODES = ["97110", "97112", "97140"]
EVERY_RULE = frozenset(KNOWLEDGE.rules)
lines = st.lists(
    st.tuples(
        st.sampled_from(CODES),
        st.sampled_from([(), ("GP",), ("GP", "59"), ("CQ",)]),
        st.none() | st.sampled_from([0, 1, 2, 3, 4, 1.5, -1]),
        st.none() | st.integers(min_value=0, max_value=60) | st.sampled_from([7.5, 22.5]),
    ),
    min_size=1,
    max_size=5,
)


@given(lines, st.sampled_from([CMS_METHOD, "ama"]), st.booleans())
def test_the_fast_path_agrees_with_the_day(
    drawn: list[tuple[str, tuple[str, ...], float | None, float | None]],
    method: str,
    eight_selected: bool,
) -> None:
    day_lines = [
        ClaimLine(i, i + 1, code, None, modifiers, units, None, minutes=minutes)
        for i, (code, modifiers, units, minutes) in enumerate(drawn)
    ]
    selected = EVERY_RULE if eight_selected else EVERY_RULE - {EIGHT_MINUTES}
    ctx = RuleContext(KNOWLEDGE, selected)
    per_unit = KNOWLEDGE.codes.minutes_per_unit
    day = TimedDay(None, tuple(day_lines), method, per_unit, KNOWLEDGE.codes.payment_modifiers)
    found = [f for f in _day(day, ctx) if f is not None]
    quick = _within_minutes(day_lines, method, per_unit, ctx)
    if quick is True:
        assert found == []
    elif quick:
        assert quick == day.allocation()
        over = _over_minutes(None, day_lines, quick, method, per_unit, ctx)
        # One finding a line: in the engine's order, the same findings.
        assert sorted(found, key=finding_order) == sorted(
            (f for f in over if f is not None), key=finding_order
        )
