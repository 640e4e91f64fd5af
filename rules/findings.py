"""Findings and their machine-readable fixes: the public contract of the engine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from rules.code_shapes import shown
from rules.model import Severity, unguarded


class FixAction(StrEnum):
    ADD_MODIFIER = "add_modifier"
    REMOVE_MODIFIER = "remove_modifier"
    REPLACE_MODIFIER = "replace_modifier"
    SET_QUANTITY = "set_quantity"
    REMOVE_LINE = "remove_line"
    REPLACE_CODE = "replace_code"
    REPLACE_DIAGNOSIS = "replace_diagnosis"
    ADD_DIAGNOSIS_POINTER = "add_diagnosis_pointer"
    ADD_POS = "add_pos"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class Fix:
    """What to change on the claim; `review` means a person must decide among `candidates`."""

    action: FixAction
    modifier: str | None = None
    replacement: str | None = None
    quantity: int | None = None
    code: str | None = None
    pointer: int | None = None
    pos: str | None = None
    diagnosis: str | None = None
    candidates: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()

    @property
    def automatic(self) -> bool:
        return self.action is not FixAction.REVIEW

    def describe(self) -> str:
        """The fix in a biller's words: "add modifier XS (or 59)". Values that came from the
        Claim (a modifier to remove, a diagnosis to replace) are `shown`, never pasted."""
        modifier, replacement = _shown(self.modifier), _shown(self.replacement)
        code, diagnosis, pos = _shown(self.code), _shown(self.diagnosis), _shown(self.pos)
        text = {
            FixAction.ADD_MODIFIER: f"add modifier {modifier}",
            FixAction.REMOVE_MODIFIER: f"remove modifier {modifier}",
            FixAction.REPLACE_MODIFIER: f"replace modifier {modifier} with {replacement}",
            FixAction.SET_QUANTITY: f"bill {self.quantity} unit{'s' if self.quantity != 1 else ''}",
            FixAction.REMOVE_LINE: "remove the line",
            FixAction.REPLACE_CODE: f"bill {code} instead"
            + (f" x{self.quantity}" if self.quantity is not None else ""),
            FixAction.REPLACE_DIAGNOSIS: f"replace diagnosis {diagnosis} with {replacement}",
            FixAction.ADD_DIAGNOSIS_POINTER: f"point the line to diagnosis {self.pointer}",
            FixAction.ADD_POS: f"add place of service {pos}",
            FixAction.REVIEW: "review"
            + (f": choose {', '.join(map(shown, self.candidates))}" if self.candidates else ""),
        }[self.action]
        if self.alternatives:
            text += f" (or {', '.join(map(shown, self.alternatives))})"
        return text

    def to_json(self) -> dict[str, Any]:
        # `_value_`, not `.value`: the same string, without the Python-level descriptor of
        # `enum.property`; and the fields one by one, in their order, not by `getattr`: the
        # scan writes the fix of every finding.
        out: dict[str, Any] = {"action": self.action._value_}
        if self.modifier is not None:
            out["modifier"] = self.modifier
        if self.replacement is not None:
            out["replacement"] = self.replacement
        if self.quantity is not None:
            out["quantity"] = self.quantity
        if self.code is not None:
            out["code"] = self.code
        if self.pointer is not None:
            out["pointer"] = self.pointer
        if self.pos is not None:
            out["pos"] = self.pos
        if self.diagnosis is not None:
            out["diagnosis"] = self.diagnosis
        if self.candidates:
            out["candidates"] = list(self.candidates)
        if self.alternatives:
            out["alternatives"] = list(self.alternatives)
        return out

    # The constructors below hand out one Fix per distinct value (`_memo`): a Fix is frozen, so
    # a shared one is as good as a new one, and building a frozen dataclass of ten fields costs
    # ten `object.__setattr__` calls; the scan builds one for each finding a check reports.
    @classmethod
    def add_modifier(cls, modifier: str, alternatives: tuple[str, ...] = ()) -> Fix:
        key = (cls, "add_modifier", modifier, alternatives)
        return _FIXES.get(key) or _memo(
            key, cls(FixAction.ADD_MODIFIER, modifier=modifier, alternatives=alternatives)
        )

    @classmethod
    def remove_modifier(cls, modifier: str) -> Fix:
        key = (cls, "remove_modifier", modifier)
        return _FIXES.get(key) or _memo(key, cls(FixAction.REMOVE_MODIFIER, modifier=modifier))

    @classmethod
    def replace_modifier(cls, modifier: str, replacement: str) -> Fix:
        key = (cls, "replace_modifier", modifier, replacement)
        return _FIXES.get(key) or _memo(
            key, cls(FixAction.REPLACE_MODIFIER, modifier=modifier, replacement=replacement)
        )

    @classmethod
    def set_quantity(cls, quantity: int) -> Fix:
        key = (cls, "set_quantity", quantity, type(quantity))
        return _FIXES.get(key) or _memo(key, cls(FixAction.SET_QUANTITY, quantity=quantity))

    @classmethod
    def remove_line(cls) -> Fix:
        key = (cls, "remove_line")
        return _FIXES.get(key) or _memo(key, cls(FixAction.REMOVE_LINE))

    @classmethod
    def replace_code(cls, code: str, quantity: int | None = None) -> Fix:
        key = (cls, "replace_code", code, quantity, type(quantity))
        return _FIXES.get(key) or _memo(
            key, cls(FixAction.REPLACE_CODE, code=code, quantity=quantity)
        )

    @classmethod
    def replace_diagnosis(cls, diagnosis: str, replacement: str) -> Fix:
        key = (cls, "replace_diagnosis", diagnosis, replacement)
        return _FIXES.get(key) or _memo(
            key, cls(FixAction.REPLACE_DIAGNOSIS, diagnosis=diagnosis, replacement=replacement)
        )

    @classmethod
    def add_diagnosis_pointer(cls, pointer: int) -> Fix:
        key = (cls, "add_diagnosis_pointer", pointer, type(pointer))
        return _FIXES.get(key) or _memo(key, cls(FixAction.ADD_DIAGNOSIS_POINTER, pointer=pointer))

    @classmethod
    def add_pos(cls, pos: str, alternatives: tuple[str, ...] = ()) -> Fix:
        key = (cls, "add_pos", pos, alternatives)
        return _FIXES.get(key) or _memo(
            key, cls(FixAction.ADD_POS, pos=pos, alternatives=alternatives)
        )

    @classmethod
    def review(cls, candidates: tuple[str, ...] = ()) -> Fix:
        key = (cls, "review", candidates)
        return _FIXES.get(key) or _memo(key, cls(FixAction.REVIEW, candidates=candidates))


_FIXES: dict[tuple[Any, ...], Fix] = {}
_MAX_FIXES = 4096  # distinct fixes; a real export suggests a few hundred


def _memo(key: tuple[Any, ...], fix: Fix) -> Fix:
    """Keep `fix` for the next constructor call with the same values. The key starts with the
    class and a plain string for the action (an enum member hashes in Python code); a number
    comes with its type, as 1, 1.0 and True are equal keys but not the same JSON."""
    if len(_FIXES) >= _MAX_FIXES:
        _FIXES.clear()
    _FIXES[key] = fix
    return fix


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem on one line (or the claim, `line=None`), with the fix we suggest."""

    rule: str
    severity: Severity
    line: int | None
    message: str
    citation: str
    fix: Fix

    @staticmethod
    def make(
        rule: str, severity: Severity, line: int | None, message: str, citation: str, fix: Fix
    ) -> Finding:
        """`Finding(...)` for the engine, which builds one per issue reported: a frozen
        dataclass stores each field through `object.__setattr__`; `_DraftFinding` has the same
        slots without the frozen guard (`rules.model.unguarded`), so these are plain slot
        stores, and the finished object becomes a `Finding` (same layout), as frozen as any
        other."""
        finding: Any = object.__new__(_DraftFinding)
        finding.rule = rule
        finding.severity = severity
        finding.line = line
        finding.message = message
        finding.citation = citation
        finding.fix = fix
        finding.__class__ = Finding
        return cast(Finding, finding)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity._value_,  # `.value` without its descriptor
            "line": self.line,
            "message": self.message,
            "citation": self.citation,
            "fix": self.fix.to_json(),
        }


_DraftFinding = unguarded(Finding)  # a `Finding` while `Finding.make` fills it in


def _shown(value: str | None) -> str | None:
    return None if value is None else shown(value)
