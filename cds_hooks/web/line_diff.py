"""A line diff whose cost stays near-linear whatever the input repeats.

`difflib.SequenceMatcher` alone grows with the square (or worse) of runs of identical lines (a
Claim with 3,000 equal extensions took 8-21 s). Here the common head and tail are cut off in
linear time, lines that occur once on each side anchor the rest (patience diff: the longest
increasing run of anchors, O(n log n)), and difflib only ever sees gaps small enough that its
worst case is cheap. A gap with no anchor that is still too large is shown as replaced whole.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

Opcode = tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]

# difflib's worst case on a gap is about (old lines x new lines) comparisons per pass.
SMALL_GAP_CELLS = 40_000
MAX_PASSES = 8  # anchoring rounds before a gap is shown as replaced whole


def opcodes(old: Sequence[str], new: Sequence[str]) -> list[Opcode]:
    """`SequenceMatcher.get_opcodes()`-shaped opcodes turning `old` into `new`."""
    raw: list[Opcode] = []
    _diff(old, new, 0, len(old), 0, len(new), 0, raw)
    merged: list[Opcode] = []
    for tag, i1, i2, j1, j2 in raw:
        if i1 == i2 and j1 == j2:
            continue
        if merged and merged[-1][0] == tag:
            last = merged[-1]
            merged[-1] = (tag, last[1], i2, last[3], j2)
        else:
            merged.append((tag, i1, i2, j1, j2))
    return merged


def grouped(codes: list[Opcode], context: int) -> list[list[tuple[str, int, int, int, int]]]:
    """Hunks with `context` equal lines around each change (as `get_grouped_opcodes`)."""
    matcher = _Fixed(codes)
    return list(matcher.get_grouped_opcodes(context))


class _Fixed(difflib.SequenceMatcher[str]):
    """Reuses difflib's hunk grouping over opcodes computed elsewhere."""

    def __init__(self, codes: list[Opcode]) -> None:
        super().__init__(None, [], [], autojunk=False)
        self._codes = codes

    def get_opcodes(self) -> list[Opcode]:
        return list(self._codes) or [("equal", 0, 0, 0, 0)]


def _diff(
    old: Sequence[str],
    new: Sequence[str],
    i1: int,
    i2: int,
    j1: int,
    j2: int,
    passes: int,
    out: list[Opcode],
) -> None:
    head = 0
    while i1 + head < i2 and j1 + head < j2 and old[i1 + head] == new[j1 + head]:
        head += 1
    tail = 0
    while (
        i2 - tail > i1 + head and j2 - tail > j1 + head and old[i2 - tail - 1] == new[j2 - tail - 1]
    ):
        tail += 1
    out.append(("equal", i1, i1 + head, j1, j1 + head))
    a1, a2, b1, b2 = i1 + head, i2 - tail, j1 + head, j2 - tail
    if a1 == a2 or b1 == b2:
        out.append(("delete" if a1 < a2 else "insert", a1, a2, b1, b2))
    elif (a2 - a1) * (b2 - b1) <= SMALL_GAP_CELLS:
        matcher = difflib.SequenceMatcher(None, old[a1:a2], new[b1:b2], autojunk=False)
        for tag, x1, x2, y1, y2 in matcher.get_opcodes():
            out.append((tag, a1 + x1, a1 + x2, b1 + y1, b1 + y2))
    else:
        anchors = _anchors(old, new, a1, a2, b1, b2) if passes < MAX_PASSES else []
        at_old, at_new = a1, b1
        for i, j in anchors:
            _diff(old, new, at_old, i, at_new, j, passes + 1, out)
            out.append(("equal", i, i + 1, j, j + 1))
            at_old, at_new = i + 1, j + 1
        if anchors:
            _diff(old, new, at_old, a2, at_new, b2, passes + 1, out)
        else:
            out.append(("replace", a1, a2, b1, b2))
    out.append(("equal", a2, i2, b2, j2))


def _anchors(
    old: Sequence[str], new: Sequence[str], i1: int, i2: int, j1: int, j2: int
) -> list[tuple[int, int]]:
    """Lines found exactly once on each side, in the longest run that keeps their order; with
    none (a long run of equal extensions between two changes), lines found as often on each
    side, the k-th occurrence paired with the k-th."""
    in_old = Counter(old[i1:i2])
    in_new = Counter(new[j1:j2])
    pairs = _pairs(old, new, i1, i2, j1, j2, in_old, in_new, lambda n: n == 1)
    if not pairs:
        pairs = _pairs(old, new, i1, i2, j1, j2, in_old, in_new, lambda n: n > 0)
    return _longest_increasing(pairs)


def _pairs(
    old: Sequence[str],
    new: Sequence[str],
    i1: int,
    i2: int,
    j1: int,
    j2: int,
    in_old: Counter[str],
    in_new: Counter[str],
    wanted: Callable[[int], bool],
) -> list[tuple[int, int]]:
    def kept(line: str) -> bool:
        return in_old[line] == in_new[line] and wanted(in_old[line])

    where_new: dict[str, list[int]] = {}
    for j in range(j2 - 1, j1 - 1, -1):  # reversed: pop() hands them out in order
        if kept(new[j]):
            where_new.setdefault(new[j], []).append(j)
    return [(i, where_new[old[i]].pop()) for i in range(i1, i2) if kept(old[i])]


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of pairs increasing on both sides (patience sorting, O(n log n))."""
    tops: list[int] = []
    top_at: list[int] = []
    previous: list[int] = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        pile = bisect_left(tops, j)
        if pile == len(tops):
            tops.append(j)
            top_at.append(index)
        else:
            tops[pile] = j
            top_at[pile] = index
        previous[index] = top_at[pile - 1] if pile else -1
    chain: list[tuple[int, int]] = []
    index = top_at[-1] if top_at else -1
    while index >= 0:
        chain.append(pairs[index])
        index = previous[index]
    return chain[::-1]
