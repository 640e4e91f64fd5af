"""ICD-10-CM validity: is a diagnosis code billable on the date of service, and what replaces it.

The bundled release (simple_icd_10_cm) describes one fiscal year. Codes added, deleted or
subdivided on a date are data (`icd10_changes.csv`) and win over the release on their dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

CANDIDATE_LIMIT = 6

_CODE_SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?")


class CodeSet(Protocol):
    """One ICD-10-CM release: which codes exist, which are billable (full length)."""

    def exists(self, code: str) -> bool: ...

    def billable(self, code: str) -> bool: ...

    def billable_under(self, code: str) -> tuple[str, ...]:
        """The billable codes below a category or subcategory, in tabular order."""
        ...


@dataclass(frozen=True, slots=True)
class CodeChange:
    """A dated window in which `code` is a billable code; outside it, `replacements` apply."""

    code: str
    valid_from: date | None
    valid_to: date | None
    replacements: tuple[str, ...]
    source: str
    confirmed: bool

    def covers(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_to is None or on <= self.valid_to
        )


@dataclass(frozen=True, slots=True)
class Validity:
    """`billable`, or why not (`reason`) and the billable codes to choose from."""

    billable: bool
    reason: str = ""
    candidates: tuple[str, ...] = ()
    known: bool = True  # False: not an ICD-10-CM code at all

    @property
    def replacement(self) -> str | None:
        """The one obvious replacement, when a known code has exactly one."""
        return self.candidates[0] if self.known and len(self.candidates) == 1 else None


@lru_cache(maxsize=1 << 16)  # hot: every diagnosis of every claim, many times per check
def dotted(code: str) -> str:
    """The tabular spelling: upper case, a dot after the category ("m5416" -> "M54.16")."""
    key = code.strip().upper().replace(".", "")
    return f"{key[:3]}.{key[3:]}" if len(key) > 3 else key


def is_code_shaped(code: str) -> bool:
    return _CODE_SHAPE.fullmatch(dotted(code)) is not None


class PackageCodeSet:
    """The release shipped with simple_icd_10_cm; the package loads its tables once, on import."""

    def __init__(self) -> None:
        import simple_icd_10_cm  # type: ignore[import-untyped]

        self._cm: Any = simple_icd_10_cm
        # The release never changes under a running process; a bulk scan asks the same few
        # hundred codes millions of times.
        self._exists: dict[str, bool] = {}
        self._billable: dict[str, bool] = {}

    def exists(self, code: str) -> bool:
        known = self._exists.get(code)
        if known is None:
            known = is_code_shaped(code) and bool(self._cm.is_valid_item(dotted(code)))
            self._exists[code] = known
        return known

    def billable(self, code: str) -> bool:
        known = self._billable.get(code)
        if known is None:
            known = self.exists(code) and bool(self._cm.is_leaf(dotted(code)))
            self._billable[code] = known
        return known

    def billable_under(self, code: str) -> tuple[str, ...]:
        if not self.exists(code):
            return ()
        return tuple(str(c) for c in self._cm.get_descendants(dotted(code)) if self._cm.is_leaf(c))


def validity(
    code: str,
    on: date | None,
    release: CodeSet,
    changes: Mapping[str, tuple[CodeChange, ...]],
) -> Validity:
    """Whether `code` is billable on `on`: the dated changes first, then the release."""
    key = dotted(code)
    windows = changes.get(key, ())
    if windows and on is not None:
        if any(w.covers(on) for w in windows):
            return Validity(True)
        ended = [w.valid_to for w in windows if w.valid_to is not None and w.valid_to < on]
        reason = (
            f"deleted after {max(ended).isoformat()}"
            if ended
            else f"not valid before {min(w.valid_from for w in windows if w.valid_from)}"
        )
        wanted = _unique(r for w in windows for r in w.replacements)
        return Validity(
            False, reason, tuple(r for r in wanted if _billable(r, on, release, changes))
        )
    if not release.exists(key):
        return Validity(False, "not an ICD-10-CM code", _nearest(key, release), known=False)
    if release.billable(key):
        return Validity(True)
    return Validity(False, "a category, not a billable code", release.billable_under(key))


def _billable(
    code: str, on: date, release: CodeSet, changes: Mapping[str, tuple[CodeChange, ...]]
) -> bool:
    windows = changes.get(dotted(code), ())
    if windows:
        return any(w.covers(on) for w in windows)
    return release.billable(code)


def _nearest(key: str, release: CodeSet) -> tuple[str, ...]:
    """Billable codes under the longest existing ancestor of a code that does not exist."""
    for end in range(len(key) - 1, 2, -1):
        parent = key[:end].rstrip(".")
        if release.exists(parent):
            return (parent,) if release.billable(parent) else release.billable_under(parent)
    return ()


def _unique(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))
