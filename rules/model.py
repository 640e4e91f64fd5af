"""The billing model: what a biller reads on a claim, with nothing FHIR-specific left in it."""

from __future__ import annotations

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
        performers = self.performers
        disciplines = frozenset(p.discipline for p in performers if p.discipline is not None)
        object.__setattr__(self, "disciplines", disciplines)
        refs = frozenset(p.reference for p in performers if p.reference)
        object.__setattr__(self, "performer_refs", refs)

    def has_modifier(self, *modifiers: str) -> bool:
        return any(m in self.modifiers for m in modifiers)


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

    def lines_with_code(self, *codes: str) -> Iterator[ClaimLine]:
        return (line for line in self.lines if line.code in codes)

    def line(self, sequence: int) -> ClaimLine | None:
        return next((ln for ln in self.lines if ln.sequence == sequence), None)

    @property
    def date_of_service(self) -> date | None:
        dates = [ln.date for ln in self.lines if ln.date is not None]
        return min(dates) if dates else None
