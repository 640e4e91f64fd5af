"""The verdict on a claim: `clean` only when it was checked and nothing was found.

`out-of-scope`: a claim type or use we do not judge, or no therapy code on it. `incomplete`:
something needed to judge it was missing or unknown (the payer, a code, the rules or tables for
the date, a performer, a diagnosis in another code system); `unchecked` says what.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from rules.findings import Finding
from rules.knowledge.model import Knowledge
from rules.model import BillingClaim, ClaimLine, Discipline, Severity, Unchecked


class Status(StrEnum):
    CLEAN = "clean"
    FINDINGS = "findings"
    INCOMPLETE = "incomplete"
    OUT_OF_SCOPE = "out-of-scope"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    unchecked: tuple[Unchecked, ...]

    @property
    def clean(self) -> bool:
        return self.status is Status.CLEAN


def status_of(findings: Iterable[Finding], scope: Scope) -> Status:
    """Out of scope first; then error or warning findings; then anything unchecked."""
    if scope.out_of_scope:
        return Status.OUT_OF_SCOPE
    if any(f.severity is not Severity.INFO for f in findings):
        return Status.FINDINGS
    return Status.INCOMPLETE if scope.unchecked else Status.CLEAN


@dataclass(frozen=True, slots=True)
class Scope:
    """What of a claim the engine judges: `judged` line indices, or why none (`out_of_scope`)."""

    out_of_scope: str | None
    judged: frozenset[int]
    unchecked: tuple[Unchecked, ...]


def is_therapy_code(code: str, knowledge: Knowledge) -> bool:
    codes = knowledge.codes
    return (
        code in codes.always_therapy
        or code in codes.timed
        or code in codes.untimed
        or codes.is_physical_medicine(code)
        or (knowledge.claim_scope is not None and knowledge.claim_scope.in_therapy_range(code))
    )


def _line_code_problem(line: ClaimLine, knowledge: Knowledge) -> tuple[str, bool] | None:
    """Why a line's procedure code cannot be read as CPT/HCPCS (and whether it is coded in
    another system), None when it can."""
    scope = knowledge.claim_scope
    codes = knowledge.codes
    ours = codes.cpt_systems | codes.hcpcs_systems
    if not line.code:
        return f"line {line.sequence} has no procedure code", False
    if line.code_system is not None and line.code_system not in ours:
        name = scope.system_name(line.code_system) if scope else line.code_system
        return f"{line.code} is coded in {name}, not CPT/HCPCS: not checked", True
    if scope is not None and not scope.is_procedure_code(line.code):
        return f"{line.code!r} is not a CPT or HCPCS code we know", False
    return None


def scope_of(claim: BillingClaim, knowledge: Knowledge, as_of: date | None = None) -> Scope:
    """Which lines are judged and what could not be; the reason when none are."""
    out, judged, unreadable = _judged(claim, knowledge)
    if out is not None:
        return out
    lines = [ln for ln in claim.lines if ln.index in judged]
    unchecked = [
        *claim.unread,
        *_payer(claim),
        *unreadable,
        *_dated(claim, lines, knowledge, as_of),
    ]
    unchecked += _performers(lines, knowledge)
    unchecked += _diagnoses(claim, lines, knowledge)
    return Scope(None, frozenset(judged), tuple(dict.fromkeys(unchecked)))


def judged_scope(claim: BillingClaim, knowledge: Knowledge) -> Scope:
    """`scope_of` without looking for what could not be checked (`unchecked` is empty): the
    lines judged, or why none, is all the engine reads of a scope."""
    out, judged, _ = _judged(claim, knowledge)
    return out if out is not None else Scope(None, frozenset(judged), ())


def _judged(
    claim: BillingClaim, knowledge: Knowledge
) -> tuple[Scope | None, set[int], list[Unchecked]]:
    """The scope of a claim out of scope, else the lines judged and the lines unreadable."""
    scope = knowledge.claim_scope
    if scope is not None:
        if claim.claim_type is not None and claim.claim_type not in scope.claim_types:
            reason = f"a {claim.claim_type} claim: only professional and institutional claims"
            return _out(reason), set(), []
        if claim.use is not None and claim.use not in scope.claim_uses:
            reason = f"Claim.use is {claim.use}: only claims for payment (use = claim)"
            return _out(reason), set(), []
    judged: set[int] = set()
    unreadable: list[Unchecked] = []
    other_systems = therapy = 0
    kinds = knowledge.derive(_CodeKinds)
    for line in claim.lines:
        kind = kinds.get(line.code, line.code_system)
        if kind is not None:
            therapy += kind is _THERAPY
            if kind is not _NOT_JUDGED:
                judged.add(line.index)
            continue
        problem = _line_code_problem(line, knowledge)
        if problem is not None:
            reason, other_system = problem
            other_systems += other_system
            unreadable.append(Unchecked(line.sequence, reason))
    if not therapy and len(unreadable) == other_systems:
        reason = "no therapy code on the claim (97xxx physical medicine, G0283...)"
        return _out(reason), set(), []
    return None, judged, unreadable


_THERAPY, _BESIDE, _NOT_JUDGED = "therapy", "beside", "not judged"


class _CodeKinds:
    """What `scope_of` makes of a line's code and code system (None: a code it cannot read),
    kept per Knowledge: claims repeat a few codes. Bounded, as the codes come from claims."""

    LIMIT = 4096

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.kinds: dict[tuple[str, str | None], str | None] = {}

    def get(self, code: str, system: str | None) -> str | None:
        key = (code, system)
        try:
            return self.kinds[key]
        except KeyError:
            pass
        knowledge, scope = self.knowledge, self.knowledge.claim_scope
        kind: str | None = None
        if _line_code_problem(ClaimLine(0, 0, code, system), knowledge) is None:
            if is_therapy_code(code, knowledge):
                kind = _THERAPY
            elif scope is None or scope.is_beside_code(code):
                kind = _BESIDE
            else:
                kind = _NOT_JUDGED
        if len(self.kinds) >= self.LIMIT:
            self.kinds.clear()
        self.kinds[key] = kind
        return kind


def _out(reason: str) -> Scope:
    return Scope(reason, frozenset(), (Unchecked(None, f"out of scope: {reason}"),))


def _payer(claim: BillingClaim) -> Iterator[Unchecked]:
    if not claim.payer.known:
        yield Unchecked(
            None,
            "the payer is unknown (no SOPT type or payer id we know): "
            "payer-specific rules not checked",
        )


def _dated(
    claim: BillingClaim, lines: list[ClaimLine], knowledge: Knowledge, as_of: date | None
) -> Iterator[Unchecked]:
    """Lines dated before the rules or the edit tables we hold begin."""
    first_rule, ncci_codes, first_ncci = knowledge.derive(_TableDates).facts
    for line in lines:
        on = as_of or line.date
        if on is None:
            yield Unchecked(line.sequence, "no date of service: rules in force not known")
            continue
        if first_rule is not None and on < first_rule:
            yield Unchecked(line.sequence, f"no rules known before {first_rule.isoformat()}")
            continue
        if first_ncci is not None and line.code in ncci_codes and on < first_ncci:
            yield Unchecked(line.sequence, f"no NCCI edits known before {first_ncci.isoformat()}")
        mue = knowledge.mue.get(line.code)
        if mue is not None and on < mue.effective:
            yield Unchecked(
                line.sequence, f"no MUE known for {line.code} before {mue.effective.isoformat()}"
            )
    kx = knowledge.rules.get("MCR-KX")
    if (
        kx is not None
        and claim.therapy_ytd_pt_slp is not None
        and kx.applies_to(claim.payer.family, claim.payer.settings)
    ):
        dates = [as_of or ln.date for ln in lines]
        for year in sorted({on.year for on in dates if on is not None}):
            if knowledge.therapy_threshold("kx", year) is None:
                yield Unchecked(None, f"no Medicare KX threshold known for {year}")


class _TableDates:
    """When the rules and the NCCI table we hold begin (computed once per Knowledge)."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.facts = (
            min((s.effective_from for s in knowledge.rules.values()), default=None),
            frozenset(c for pair in knowledge.ncci_by_pair for c in pair),
            min((e.effective for e in knowledge.ncci), default=None),
        )


def _performers(lines: list[ClaimLine], knowledge: Knowledge) -> Iterator[Unchecked]:
    for line in lines:
        for performer in line.performers:
            if performer.discipline is Discipline.OTHER and performer.taxonomy:
                yield Unchecked(
                    line.sequence,
                    f"performer taxonomy {performer.taxonomy} is not one we know: "
                    "discipline rules not checked",
                )


def _diagnoses(
    claim: BillingClaim, lines: list[ClaimLine], knowledge: Knowledge
) -> Iterator[Unchecked]:
    """Diagnoses in another code system than ICD-10-CM are not judged, and said so."""
    systems = knowledge.codes.icd10cm_systems
    scope = knowledge.claim_scope
    pointed: set[int] = set()
    for line in lines:
        for dx in line.diagnoses:
            pointed.add(dx.sequence)
            if dx.system not in systems:
                name = scope.system_name(dx.system) if scope else str(dx.system)
                yield Unchecked(
                    line.sequence,
                    f"diagnosis {dx.sequence} ({dx.code}) is coded in {name}, not ICD-10-CM: "
                    "not checked",
                )
    for dx in claim.diagnoses:
        if dx.sequence not in pointed and dx.system not in systems:
            name = scope.system_name(dx.system) if scope else str(dx.system)
            yield Unchecked(
                None, f"diagnosis {dx.sequence} ({dx.code}) is coded in {name}, not ICD-10-CM"
            )
