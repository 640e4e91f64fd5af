"""What the review page shows and does: the Claim's lines, every finding with its fix as a
before/after of the line, and applying the fixes a person ticked (and only those)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from plugin.claim_check import ClaimChecker, ClaimReport
from plugin.references import Resource, type_and_id, unref
from plugin.smart.errors import ResourceNotFound
from plugin.smart.fhir import SmartFhirClient, Versioned
from rules.corrections import apply_fixes, modifier_codes
from rules.findings import Finding


@dataclass(frozen=True, slots=True)
class LineView:
    sequence: int | None
    code: str
    display: str
    modifiers: tuple[str, ...]
    units: str
    date: str
    diagnoses: tuple[str, ...]

    def differs(self, other: LineView) -> frozenset[str]:
        names = ("code", "modifiers", "units", "date", "diagnoses")
        return frozenset(n for n in names if getattr(self, n) != getattr(other, n))


@dataclass(frozen=True, slots=True)
class FindingView:
    key: str
    rule: str
    severity: str
    line: int | None
    line_code: str
    message: str
    citation: str
    fix_text: str
    automatic: bool
    candidates: tuple[str, ...]
    before: LineView | None
    after: LineView | None
    changed: frozenset[str]

    @property
    def removes_line(self) -> bool:
        return self.before is not None and self.after is None


@dataclass(frozen=True, slots=True)
class ReviewView:
    reference: str
    claim_id: str
    version: str | None
    lines: tuple[LineView, ...]
    findings: tuple[FindingView, ...]
    clean: bool
    status: str = "clean"
    unchecked: tuple[tuple[str, str], ...] = ()  # (where, reason)


@dataclass(frozen=True, slots=True)
class PatientBanner:
    """Shown on the page only: never logged, never stored."""

    name: str
    birth_date: str
    gender: str


@dataclass(frozen=True, slots=True)
class LoadedClaim:
    claim: Versioned
    report: ClaimReport
    view: ReviewView
    banner: PatientBanner | None


_CLAIM_REF = re.compile(r"^Claim/[A-Za-z0-9\-.]{1,64}$")  # a FHIR id
_HOOK_INSTANCE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # as the hook request accepts it


# -- the launch's claim -----------------------------------------------------------------------
def claim_from_context(
    app_context: Any, fhir_context: Iterable[dict[str, Any]]
) -> tuple[str | None, str | None]:
    """(Claim reference, hookInstance) from appContext (a JSON string or object) or fhirContext."""
    context = app_context
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except ValueError:
            context = None
    claim: str | None = None
    hook: str | None = None
    if isinstance(context, dict):
        raw = context.get("claim")
        claim = _claim_ref(raw if isinstance(raw, str) else unref(raw))
        hook_value = context.get("hookInstance")
        hook = (
            hook_value if isinstance(hook_value, str) and _HOOK_INSTANCE.match(hook_value) else None
        )
    if claim is None:
        for item in fhir_context:
            claim = _claim_ref(item.get("reference"))
            if claim:
                break
    return claim, hook


def _claim_ref(value: Any) -> str | None:
    """`Claim/<id>` when the value names a Claim by a FHIR id, else None (validated on read)."""
    if not isinstance(value, str):
        return None
    short = type_and_id(value)
    return short if short and _CLAIM_REF.match(short) else None


# -- viewing ----------------------------------------------------------------------------------
def _first_coding(concept: Any) -> dict[str, Any]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    first = codings[0] if isinstance(codings, list) and codings else None
    return first if isinstance(first, dict) else {}


def line_view(claim: Resource, item: Resource) -> LineView:
    coding = _first_coding(item.get("productOrService"))
    quantity = item.get("quantity")
    value = quantity.get("value") if isinstance(quantity, dict) else None
    units = "—" if value is None else (str(int(value)) if float(value).is_integer() else str(value))
    period = item.get("servicedPeriod")
    date = item.get("servicedDate") or (period.get("start") if isinstance(period, dict) else "")
    by_sequence = {
        d.get("sequence"): _first_coding(d.get("diagnosisCodeableConcept")).get("code", "?")
        for d in claim.get("diagnosis") or []
        if isinstance(d, dict)
    }
    pointers = item.get("diagnosisSequence") or []
    sequence = item.get("sequence")
    return LineView(
        sequence=sequence if isinstance(sequence, int) else None,
        code=str(coding.get("code", "?")),
        display=str(coding.get("display") or item.get("productOrService", {}).get("text") or ""),
        modifiers=tuple(modifier_codes(item)),
        units=units,
        date=str(date or "")[:10],
        diagnoses=tuple(str(by_sequence.get(p, f"#{p}")) for p in pointers),
    )


def _item(claim: Resource, sequence: int | None) -> Resource | None:
    for item in claim.get("item") or []:
        if isinstance(item, dict) and sequence is not None and item.get("sequence") == sequence:
            return item
    return None


def finding_keys(findings: Sequence[Finding]) -> list[str]:
    """Stable keys for the form: `RULE@line`, `#n` added when one repeats."""
    keys: list[str] = []
    for f in findings:
        key = f"{f.rule}@{f.line if f.line is not None else 'claim'}"
        n = 1
        while (candidate := key if n == 1 else f"{key}#{n}") in keys:
            n += 1
        keys.append(candidate)
    return keys


def build_view(report: ClaimReport, claim: Versioned, checker: ClaimChecker) -> ReviewView:
    resource = claim.resource
    codes = checker.knowledge.codes
    lines = tuple(
        line_view(resource, item) for item in resource.get("item") or [] if isinstance(item, dict)
    )
    views = []
    for key, finding in zip(finding_keys(report.findings), report.findings, strict=True):
        item = _item(resource, finding.line)
        before = line_view(resource, item) if item is not None else None
        after: LineView | None = before
        if before is not None and finding.fix.automatic:
            fixed = apply_fixes(resource, [finding], codes)
            fixed_item = _item(fixed, finding.line)
            after = line_view(fixed, fixed_item) if fixed_item is not None else None
        changed = before.differs(after) if before and after else frozenset()
        views.append(
            FindingView(
                key=key,
                rule=finding.rule,
                severity=finding.severity.value,
                line=finding.line,
                line_code=before.code if before else "claim",
                message=finding.message,
                citation=finding.citation,
                fix_text=finding.fix.describe(),
                automatic=finding.fix.automatic,
                candidates=finding.fix.candidates or finding.fix.alternatives,
                before=before,
                after=after,
                changed=changed,
            )
        )
    return ReviewView(
        reference=report.reference,
        claim_id=str(resource.get("id")),
        version=claim.version,
        lines=lines,
        findings=tuple(views),
        clean=report.clean,
        status=report.status.value,
        unchecked=tuple(
            ("claim" if u.line is None else f"line {u.line}", u.reason) for u in report.unchecked
        ),
    )


def banner_of(patient: Resource | None) -> PatientBanner | None:
    if patient is None:
        return None
    names = patient.get("name") or []
    name = names[0] if names and isinstance(names[0], dict) else {}
    text = (
        name.get("text")
        or " ".join(
            [*(str(g) for g in name.get("given") or []), str(name.get("family") or "")]
        ).strip()
    )
    return PatientBanner(
        name=text or "(no name on record)",
        birth_date=str(patient.get("birthDate") or "unknown"),
        gender=str(patient.get("gender") or ""),
    )


# -- loading and checking -----------------------------------------------------------------------
async def _optional(fhir: SmartFhirClient, reference: str | None) -> Resource | None:
    if not reference or not type_and_id(reference):
        return None
    try:
        return (await fhir.read_reference(type_and_id(reference) or reference)).resource
    except ResourceNotFound:
        return None


def _focal_coverage(claim: Resource) -> str | None:
    insurance = [i for i in claim.get("insurance") or [] if isinstance(i, dict)]
    focal = next((i for i in insurance if i.get("focal")), insurance[0] if insurance else None)
    return unref(focal.get("coverage")) if focal else None


async def load_claim(
    fhir: SmartFhirClient,
    checker: ClaimChecker,
    reference: str,
    *,
    patient: str | None,
    banner: bool,
) -> LoadedClaim:
    """Read the Claim (with its version), its focal Coverage and the Patient; check it."""
    claim = await fhir.read_reference(reference)
    subject = unref(claim.resource.get("patient"))
    # Fail closed: the launch names a patient and the Claim names that same patient on this
    # server (no patient, a display-only one or another server's is never shown or saved).
    if not patient or not subject or not fhir.is_own_reference(subject, f"Patient/{patient}"):
        raise ResourceNotFound("the Claim is not the launch patient's")
    coverage, person = await asyncio.gather(
        _optional(fhir, _focal_coverage(claim.resource)),
        _optional(fhir, subject if banner else None),
    )
    report = check(checker, claim.resource, coverage)
    return LoadedClaim(claim, report, build_view(report, claim, checker), banner_of(person))


def check(checker: ClaimChecker, claim: Resource, coverage: Resource | None) -> ClaimReport:
    entries = [{"fullUrl": f"Claim/{claim.get('id')}", "resource": claim}]
    if coverage is not None:
        entries.append({"fullUrl": f"Coverage/{coverage.get('id')}", "resource": coverage})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    (report,) = checker.check_document(bundle, validate=False)
    return report


def chosen(report: ClaimReport, keys: Iterable[str]) -> tuple[list[Finding], list[Finding]]:
    """(accepted, overridden): the automatic findings whose keys were ticked, and the rest."""
    wanted = set(keys)
    accepted: list[Finding] = []
    overridden: list[Finding] = []
    for key, finding in zip(finding_keys(report.findings), report.findings, strict=True):
        if not finding.fix.automatic:
            continue
        (accepted if key in wanted else overridden).append(finding)
    return accepted, overridden


def corrected(claim: Resource, accepted: Sequence[Finding], checker: ClaimChecker) -> Resource:
    """The Claim with only the accepted fixes applied (its id and meta kept for the update)."""
    return apply_fixes(claim, accepted, checker.knowledge.codes)
