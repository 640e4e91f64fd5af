"""The billing model: what a biller reads on a claim, with nothing FHIR-specific left in it."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How sure we are that the payer acts on it: error = will deny or reject."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Discipline(StrEnum):
    """Who furnished a line, as the therapy and chiropractic rules see it."""

    PT = "PT"
    PTA = "PTA"
    OT = "OT"
    OTA = "OTA"
    SLP = "SLP"
    CHIROPRACTOR = "DC"
    PHYSICIAN = "MD"
    STUDENT = "student"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Performer:
    """A member of the claim's care team who furnished a line."""

    reference: str | None
    taxonomy: str | None
    discipline: Discipline | None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    sequence: int
    code: str
    system: str | None


@dataclass(frozen=True, slots=True)
class ClaimLine:
    """One `Claim.item`: `index` is its position in the array, `sequence` its FHIR id."""

    index: int
    sequence: int
    code: str
    code_system: str | None
    modifiers: tuple[str, ...] = ()
    units: float | None = None
    date: date | None = None
    pos: str | None = None
    diagnosis_pointers: tuple[int, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    performers: tuple[Performer, ...] = ()
    minutes: float | None = None
    regions: frozenset[str] = frozenset()
    text: str = ""
    net: float | None = None
    encounter: str | None = None
    revenue: str | None = None  # NUBC revenue code (institutional claims)
    # Derived from `performers` once: the checks ask for them many times per claim.
    disciplines: frozenset[Discipline] = field(init=False, repr=False, compare=False)
    performer_refs: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        disciplines, refs = performer_sets(self.performers)
        object.__setattr__(self, "disciplines", disciplines)
        object.__setattr__(self, "performer_refs", refs)

    def has_modifier(self, *modifiers: str) -> bool:
        return any(m in self.modifiers for m in modifiers)

    @staticmethod
    def assemble(
        *,
        index: int,
        sequence: int,
        code: str,
        code_system: str | None,
        modifiers: tuple[str, ...],
        units: float | None,
        date: datetime.date | None,
        pos: str | None,
        diagnosis_pointers: tuple[int, ...],
        diagnoses: tuple[Diagnosis, ...],
        performers: tuple[Performer, ...],
        minutes: float | None,
        regions: frozenset[str],
        text: str,
        net: float | None,
        encounter: str | None,
        revenue: str | None,
        performing: tuple[frozenset[Discipline], frozenset[str]],
    ) -> ClaimLine:
        """`ClaimLine(...)` for the bulk reader, with `performing` = `performer_sets(performers)`.

        Why it is fast: a frozen dataclass's __init__ stores each of the 19 fields through
        `object.__setattr__` (~1.5k instructions each on CPython 3.11), the scan builds about
        7 lines per claim, and that was a tenth of the scan's check time. `_DraftClaimLine` has
        the very same slots without the frozen guard, so its fields are plain slot stores; the
        finished object is then made a `ClaimLine` (same layout, so `__class__` may change), and
        from there on it is as frozen as any other. Every field must be set here: the tests in
        tests/plugin/test_billing_model_fast_paths.py compare it with `ClaimLine(...)`.
        """
        line: Any = object.__new__(_DraftClaimLine)  # Any: mypy would see frozen fields
        line.index = index
        line.sequence = sequence
        line.code = code
        line.code_system = code_system
        line.modifiers = modifiers
        line.units = units
        line.date = date
        line.pos = pos
        line.diagnosis_pointers = diagnosis_pointers
        line.diagnoses = diagnoses
        line.performers = performers
        line.minutes = minutes
        line.regions = regions
        line.text = text
        line.net = net
        line.encounter = encounter
        line.revenue = revenue
        line.disciplines, line.performer_refs = performing
        line.__class__ = ClaimLine
        return line  # type: ignore[no-any-return]  # not cast(): a call for each line

    def revised(self, **changes: Any) -> ClaimLine:
        """This line with `changes` (any fields but `performers`), as `dataclasses.replace`
        would make it, without its ~19 frozen stores (see `assemble`): the reader of a
        corrected copy revises a line for each item a fix edited."""
        if "performers" in changes:
            raise TypeError("revised() keeps the performers: assemble a new line")
        line: Any = object.__new__(_DraftClaimLine)
        line.index = self.index
        line.sequence = self.sequence
        line.code = self.code
        line.code_system = self.code_system
        line.modifiers = self.modifiers
        line.units = self.units
        line.date = self.date
        line.pos = self.pos
        line.diagnosis_pointers = self.diagnosis_pointers
        line.diagnoses = self.diagnoses
        line.performers = self.performers
        line.minutes = self.minutes
        line.regions = self.regions
        line.text = self.text
        line.net = self.net
        line.encounter = self.encounter
        line.revenue = self.revenue
        line.disciplines = self.disciplines
        line.performer_refs = self.performer_refs
        for name, value in changes.items():
            if name not in _REVISABLE:
                raise TypeError(f"revised() got an unexpected field {name!r}")
            setattr(line, name, value)
        line.__class__ = ClaimLine
        return line  # type: ignore[no-any-return]  # not cast(): a call for each line


def unguarded(cls: type) -> type:
    """A subclass of the frozen slots dataclass `cls` whose instances are filled in with plain
    slot stores, then made a `cls` (`obj.__class__ = cls`), from there on as frozen as any
    other: the frozen guard lifted (both methods, or CPython keeps the slow attribute path), no
    slots added (so the layout is the same and `__class__` may change). Why: see
    `ClaimLine.assemble`."""
    return type(
        f"_Draft{cls.__name__}",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )


_DraftClaimLine = unguarded(ClaimLine)

_REVISABLE = frozenset(f for f in ClaimLine.__dataclass_fields__ if f != "performers") - {
    "disciplines",
    "performer_refs",
}


def performer_sets(
    performers: tuple[Performer, ...],
) -> tuple[frozenset[Discipline], frozenset[str]]:
    """The disciplines and the references of a line's performers."""
    if len(performers) == 1:  # the usual line: no generators for one performer
        only = performers[0]
        return (
            frozenset((only.discipline,)) if only.discipline is not None else frozenset(),
            frozenset((only.reference,)) if only.reference else frozenset(),
        )
    return (
        frozenset(p.discipline for p in performers if p.discipline is not None),
        frozenset(p.reference for p in performers if p.reference),
    )


@dataclass(frozen=True, slots=True)
class PayerProfile:
    """The payer family (which rules apply) plus the payer's own settings."""

    id: str
    family: str
    label: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    known: bool = True  # False: no Coverage resolved, or neither its SOPT type nor payer matched

    def flag(self, name: str) -> bool:
        return bool(self.settings.get(name, False))


@dataclass(frozen=True, slots=True)
class Unchecked:
    """Something needed to judge a line (or the claim, `line=None`) that was missing or unknown."""

    line: int | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class BillingClaim:
    id: str
    lines: tuple[ClaimLine, ...]
    payer: PayerProfile
    diagnoses: tuple[Diagnosis, ...] = ()
    therapy_ytd_pt_slp: float | None = None
    claim_type: str | None = None  # Claim.type code: professional, institutional, pharmacy...
    use: str | None = None  # Claim.use: claim, preauthorization, predetermination
    type_of_bill: str | None = None  # NUBC type of bill (institutional claims)
    # What the reader could not read (a Coverage that does not resolve, an item of the wrong shape).
    unread: tuple[Unchecked, ...] = ()

    @staticmethod
    def assemble(
        *,
        id: str,
        lines: tuple[ClaimLine, ...],
        payer: PayerProfile,
        diagnoses: tuple[Diagnosis, ...],
        therapy_ytd_pt_slp: float | None,
        claim_type: str | None,
        use: str | None,
        type_of_bill: str | None,
        unread: tuple[Unchecked, ...],
    ) -> BillingClaim:
        """`BillingClaim(...)` for the bulk reader, which reads one for each claim and each
        corrected copy: plain slot stores, as `ClaimLine.assemble` makes a line."""
        claim: Any = object.__new__(_DraftBillingClaim)
        claim.id = id
        claim.lines = lines
        claim.payer = payer
        claim.diagnoses = diagnoses
        claim.therapy_ytd_pt_slp = therapy_ytd_pt_slp
        claim.claim_type = claim_type
        claim.use = use
        claim.type_of_bill = type_of_bill
        claim.unread = unread
        claim.__class__ = BillingClaim
        return claim  # type: ignore[no-any-return]

    def with_lines(self, lines: tuple[ClaimLine, ...]) -> BillingClaim:
        """This claim with other lines (a corrected copy's), all else the same."""
        return BillingClaim.assemble(
            id=self.id,
            lines=lines,
            payer=self.payer,
            diagnoses=self.diagnoses,
            therapy_ytd_pt_slp=self.therapy_ytd_pt_slp,
            claim_type=self.claim_type,
            use=self.use,
            type_of_bill=self.type_of_bill,
            unread=self.unread,
        )

    def lines_with_code(self, *codes: str) -> Iterator[ClaimLine]:
        return (line for line in self.lines if line.code in codes)

    def line(self, sequence: int) -> ClaimLine | None:
        return next((ln for ln in self.lines if ln.sequence == sequence), None)

    @property
    def date_of_service(self) -> date | None:
        dates = [ln.date for ln in self.lines if ln.date is not None]
        return min(dates) if dates else None


_DraftBillingClaim = unguarded(BillingClaim)
