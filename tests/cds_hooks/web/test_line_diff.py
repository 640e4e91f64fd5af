"""The playground's line diff: right (the opcodes turn old into new) and bounded (difflib only
ever sees small gaps, whatever the input repeats)."""

from __future__ import annotations

import difflib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_hooks.web import line_diff

lines = st.lists(st.sampled_from(["{", "}", '"a": 1,', '"b": 2,', '"url": "x"', "]", "x"]))


def apply(old: list[str], new: list[str], codes: list[line_diff.Opcode]) -> list[str]:
    out: list[str] = []
    at_old = at_new = 0
    for tag, i1, i2, j1, j2 in codes:
        assert (i1, j1) == (at_old, at_new)  # contiguous, in order, covering both sides
        out += old[i1:i2] if tag == "equal" else new[j1:j2]
        if tag == "equal":
            assert old[i1:i2] == new[j1:j2]
        at_old, at_new = i2, j2
    assert (at_old, at_new) == (len(old), len(new))
    return out


@given(old=lines, new=lines)
def test_opcodes_turn_old_into_new(old: list[str], new: list[str]) -> None:
    assert apply(old, new, line_diff.opcodes(old, new)) == new


@given(old=st.lists(st.integers(0, 5).map(str), max_size=400))
def test_one_change_in_a_long_repetitive_text_is_found(old: list[str]) -> None:
    new = [*old[:3], "changed", *old[3:]]
    codes = line_diff.opcodes(old, new)
    assert apply(old, new, codes) == new
    changed = sum(j2 - j1 for tag, _, _, j1, j2 in codes if tag != "equal")
    assert changed >= 1


def test_difflib_only_sees_small_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    """40,000 equal extensions with changes at both ends: the old diff never finished."""
    seen: list[int] = []
    real = difflib.SequenceMatcher

    def spy(*args: Any, **kwargs: Any) -> difflib.SequenceMatcher[str]:
        matcher = real(*args, **kwargs)
        seen.append(len(matcher.a) * len(matcher.b))
        return matcher

    monkeypatch.setattr(line_diff.difflib, "SequenceMatcher", spy)
    body = ["{", '  "url": "http://example.org/x",', '  "valueString": "y"', "},"] * 40_000
    old = ['"id": "c1",', *body, '"total": 1']
    new = ['"id": "c2",', *body, '"total": 2', '"note": "x"']
    codes = line_diff.opcodes(old, new)
    assert apply(old, new, codes) == new
    assert seen and max(seen) <= line_diff.SMALL_GAP_CELLS
    assert [c[0] for c in codes] == ["replace", "equal", "replace"]


def test_grouped_hunks_keep_context() -> None:
    old = [str(n) for n in range(40)]
    new = [*old[:20], "x", *old[21:]]
    (hunk,) = line_diff.grouped(line_diff.opcodes(old, new), 2)
    assert hunk == [
        ("equal", 18, 20, 18, 20),
        ("replace", 20, 21, 20, 21),
        ("equal", 21, 23, 21, 23),
    ]
