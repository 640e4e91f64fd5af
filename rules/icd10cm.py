"""ICD-10-CM validity: is a diagnosis code billable on the date of service, and what replaces it.

The bundled release (simple_icd_10_cm) describes one fiscal year. Codes added, deleted or
subdivided on a date are data (`icd10_changes.csv`) and win over the release on their dates.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Protocol

CANDIDATE_LIMIT = 6

_CODE_SHAPE = re.compile(r"[A-Z][0-9A-Z][0-9A-Z](\.[0-9A-Z]{1,4})?")
_LIST_CODE = re.compile(r"[A-Z][0-9A-Z][0-9A-Z][0-9A-Z]{0,4}")


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


_BILLABLE = Validity(True)  # immutable: one shared verdict for the common case


@lru_cache(maxsize=1 << 16)  # hot: every diagnosis of every claim, many times per check
def dotted(code: str) -> str:
    """The tabular spelling: upper case, a dot after the category ("m5416" -> "M54.16")."""
    key = code.strip().upper().replace(".", "")
    return f"{key[:3]}.{key[3:]}" if len(key) > 3 else key


def is_code_shaped(code: str) -> bool:
    return _CODE_SHAPE.fullmatch(dotted(code)) is not None


class ReleaseCodeSet:
    """One ICD-10-CM release read from its code list, in tabular order.

    simple_icd_10_cm ships the CMS code list beside its tabular XML; importing the package
    parses the XML (seconds at every start). The list alone answers what the engine asks: a
    code exists if listed, is billable if no longer code follows it with its prefix (the list
    is the tabular tree in pre-order), and its descendants are the run of codes that do.
    `tests/rules/test_icd10cm.py` checks every code against the package's own tree.
    """

    def __init__(self, codes: Iterable[str]) -> None:
        # Codes without dots; chapters ("1") and blocks ("A00-A09") are not code-shaped.
        self._codes = [c for c in dict.fromkeys(codes) if _LIST_CODE.fullmatch(c)]
        self._index = {code: i for i, code in enumerate(self._codes)}
        self._billable: dict[str, bool] = {}

    @classmethod
    def bundled(cls) -> ReleaseCodeSet:
        """The release in the installed simple_icd_10_cm package (its newest code list)."""
        spec = importlib.util.find_spec("simple_icd_10_cm")  # located, not imported
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("simple_icd_10_cm is not installed")
        folder = Path(next(iter(spec.submodule_search_locations))) / "data"
        lists = sorted(folder.glob("code-list-*.txt"), key=lambda p: p.stat().st_mtime)
        if not lists:
            raise RuntimeError(f"no ICD-10-CM code list in {folder}")
        text = lists[-1].read_text(encoding="utf-8")
        return cls(line.split(" ", 1)[0] for line in text.splitlines())

    def _key(self, code: str) -> str | None:
        key = dotted(code).replace(".", "")
        return key if key in self._index else None

    def exists(self, code: str) -> bool:
        return is_code_shaped(code) and self._key(code) is not None

    def billable(self, code: str) -> bool:
        known = self._billable.get(code)
        if known is None:
            key = self._key(code) if is_code_shaped(code) else None
            known = key is not None and not self._has_children(key)
            self._billable[code] = known
        return known

    def billable_under(self, code: str) -> tuple[str, ...]:
        key = self._key(code) if is_code_shaped(code) else None
        if key is None:
            return ()
        leaves = []
        for below in self._run_below(key):
            if not self._has_children(below):
                leaves.append(dotted(below))
        return tuple(leaves)

    def _has_children(self, key: str) -> bool:
        following = self._index[key] + 1
        return following < len(self._codes) and self._codes[following].startswith(key)

    def _run_below(self, key: str) -> Iterator[str]:
        codes = self._codes
        for position in range(self._index[key] + 1, len(codes)):
            if not codes[position].startswith(key):
                return
            yield codes[position]


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
            return _BILLABLE
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
        return _BILLABLE
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
