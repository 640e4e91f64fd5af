"""The normalised remittance: one `ClaimPayment` per CLP loop or ClaimResponse/EOB, holding its
`AdjudicatedLine`s and claim-level `Adjustment`s. Frozen, format-independent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

GROUPS = frozenset({"CO", "PR", "OA", "PI", "CR"})
REVERSAL = "22"  # CLP02: reversal of a previous payment


class RemitError(ValueError):
    """A remittance file that is refused: which file, where in it, and why. Nothing is stored."""

    def __init__(self, file: str, where: str, reason: str) -> None:
        super().__init__(f"{file}: {where}: {reason}")
        self.file = file
        self.where = where
        self.reason = reason


def claim_key(value: str) -> str:
    """A one-way key for a claim identifier: the join works on it, the database never holds the
    identifier itself (patient control numbers are account numbers)."""
    return hashlib.sha256(f"traction-cds/claim-key/{value.strip()}".encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One CAS triplet (or a FHIR adjudication with a reason): group CO/PR/OA/PI/CR + CARC."""

    group: str
    reason: str
    amount: float
    quantity: float | None = None

    @property
    def label(self) -> str:
        return f"{self.group}-{self.reason}"


@dataclass(frozen=True, slots=True)
class AdjudicatedLine:
    """One service line as the payer adjudicated it."""

    line: int | None  # REF*6R / ClaimResponse.item.itemSequence, when the payer echoes it
    code: str | None  # SVC01-2 / EOB productOrService (None: ClaimResponse, taken from the join)
    modifiers: tuple[str, ...]
    units: float | None
    service_date: date | None
    charge: float
    paid: float
    adjustments: tuple[Adjustment, ...]
    remarks: tuple[str, ...]  # RARCs (LQ*HE, FHIR remark-code reasons)
    original_code: str | None = None  # SVC06: the code billed when the payer changed it


@dataclass(frozen=True, slots=True)
class ClaimPayment:
    """One adjudication of one claim: a CLP loop or a ClaimResponse/ExplanationOfBenefit."""

    key: str  # content hash: importing the same payment twice stores it once
    source: str  # "835", "ClaimResponse", "ExplanationOfBenefit"
    position: str  # where in its file ("segment 12", "line 3"), for unjoined reports
    keys: tuple[tuple[str, str], ...]  # (kind, claim_key(...)): pcn, claim-id, request
    status: str  # CLP02 (1 primary, 2 secondary, 4 denied, 22 reversal...) / FHIR outcome
    charge: float
    paid: float
    adjustments: tuple[Adjustment, ...]  # claim level
    remarks: tuple[str, ...]  # claim level (MOA/MIA, FHIR header reasons)
    lines: tuple[AdjudicatedLine, ...]
    produced: date | None  # BPR16 / DTM*405 / ClaimResponse.created: orders adjudications

    @property
    def reversal(self) -> bool:
        return self.status == REVERSAL


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    """PLB: a provider-level adjustment, recorded but never attributed to a claim line."""

    reason: str
    amount: float


@dataclass(frozen=True, slots=True)
class Skipped:
    """A resource left out of an import, and why (it names where, never what it held)."""

    position: str
    reason: str


@dataclass(frozen=True, slots=True)
class UnmappedCategory:
    """An adjudication category no row of adjudication_categories.csv knows, per file."""

    system: str
    code: str
    entries: int
    amount: float


@dataclass(frozen=True, slots=True)
class RemitFile:
    """One imported file: its payments in file order, and what of it was not read."""

    name: str
    digest: str  # sha256 of the file's bytes
    kind: str
    payments: tuple[ClaimPayment, ...]
    provider_adjustments: tuple[ProviderAdjustment, ...] = ()
    produced: date | None = None
    layout: str = "X12 835"  # how the file was read: "NDJSON", "JSON searchset Bundle"...
    skipped: tuple[Skipped, ...] = ()
    unmapped: tuple[UnmappedCategory, ...] = ()
    lines_without_paid: int = 0  # lines with no paid amount among their adjudications
