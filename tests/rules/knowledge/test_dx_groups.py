"""Diagnosis groups are looked up per code once (every group at a time) and remembered: the
answers are those of a plain scan of the group's prefixes, and the memo stays bounded."""

from __future__ import annotations

import pytest

import rules.knowledge.model as model
from rules.icd10cm import dotted
from rules.knowledge.model import DiagnosisGroupEntry, Knowledge


def _scanned(knowledge: Knowledge, group: str, icd10: str) -> DiagnosisGroupEntry | None:
    code = dotted(icd10)
    hits = [e for e in knowledge.dx_groups.get(group, ()) if code.startswith(e.prefix)]
    return max(hits, key=lambda e: len(e.prefix)) if hits else None


def _codes(knowledge: Knowledge) -> list[str]:
    """Each listed prefix as written, below it, undotted and in lower case; and unlisted codes."""
    codes = ["Z00.00", "m5416", "", "S13.4XXA"]
    for entries in knowledge.dx_groups.values():
        for entry in entries:
            codes += [entry.prefix, entry.prefix + "9", entry.prefix.replace(".", "").lower()]
    return codes


def test_group_entries_are_the_longest_listed_prefix(knowledge) -> None:
    groups = [*knowledge.dx_groups, "no_such_group"]
    for code in _codes(knowledge):
        for group in groups:
            expected = _scanned(knowledge, group, code)
            assert knowledge.dx_group_entry(group, code) == expected, (group, code)
            assert knowledge.in_dx_group(code, group) == (expected is not None)
        in_any = any(_scanned(knowledge, g, code) is not None for g in groups)
        assert knowledge.in_dx_group(code, *groups) == in_any
        assert not knowledge.in_dx_group(code)  # no group named: in none


def test_group_memo_stays_bounded(knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "_MEMO_LIMIT", 4)
    for n in range(12):
        code = f"M51.2Q{n}"  # a code no other test asks for: new to the memo
        found = knowledge.dx_group_entry("traction_lumbar", code)
        assert found == _scanned(knowledge, "traction_lumbar", code)
        assert len(knowledge._dx_group_memo) <= 4
