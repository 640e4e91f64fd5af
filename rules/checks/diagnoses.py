"""Diagnoses: every line points to a real, billable ICD-10-CM code, and 97012 to one that
supports traction (and to none that contraindicates it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.icd10cm import CANDIDATE_LIMIT, Validity, validity
from rules.knowledge.model import DiagnosisGroupEntry, Knowledge
from rules.model import BillingClaim, ClaimLine, Diagnosis

SUPPORTING = ("traction_cervical", "traction_lumbar")
CONTRAINDICATION = "traction_contraindication"
MAX_POINTERS = 4  # 837P SV107 / CMS-1500 24E


def icd10cm_diagnoses(diagnoses: tuple[Diagnosis, ...], knowledge: Knowledge) -> list[Diagnosis]:
    """Only ICD-10-CM codings are judged: another system's code is not ours to read."""
    systems = knowledge.codes.icd10cm_systems
    return [d for d in diagnoses if d.system in systems]


def billable_on(dx: Diagnosis, on: date | None, claim: BillingClaim, ctx: RuleContext) -> bool:
    """The diagnosis, as DX-CODE-INVALID's automatic fix leaves it, is billable on the date.
    Codes of other systems are not ours to judge."""
    knowledge = ctx.knowledge
    release = knowledge.icd10_release
    if release is None or dx.system not in knowledge.codes.icd10cm_systems:
        return True
    judged = _judge(dx, claim, ctx)
    code = judged.fix.replacement if judged and judged.fix.replacement else dx.code
    return _validity(code, on, knowledge).billable


_VALIDITY_MEMO = 1 << 14  # codes and dates come from input: keep the memo bounded


def _validity(code: str, on: date | None, knowledge: Knowledge) -> Validity:
    """`validity` against the packs' release and changes, remembered per code and date."""
    memo = knowledge.derived.get(_validity)
    if not isinstance(memo, dict):
        memo = knowledge.derived[_validity] = {}
    found = memo.get((code, on))
    if found is None:
        if len(memo) >= _VALIDITY_MEMO:
            memo.clear()
        release = knowledge.icd10_release
        assert release is not None  # the callers judge ICD-10-CM only with a release
        found = memo[(code, on)] = validity(code, on, release, knowledge.icd10_changes)
    return found


def supporting_groups(claim: BillingClaim) -> tuple[str, ...]:
    """The diagnosis groups that support 97012 for the claim's payer (Cigna's are narrower)."""
    return tuple(claim.payer.settings.get("traction_dx_groups") or SUPPORTING)


def best_pointer(line: ClaimLine, claim: BillingClaim, ctx: RuleContext) -> Diagnosis | None:
    """97012: the first claim diagnosis that supports traction; any line: else the primary
    (diagnosis 1). Only diagnoses billable on the line's date qualify."""
    knowledge = ctx.knowledge
    usable = _usable(line, claim, ctx)
    if line.code == knowledge.codes.traction_code:
        for dx in icd10cm_diagnoses(tuple(usable), knowledge):
            if knowledge.in_dx_group(dx.code, *supporting_groups(claim)):
                return dx
    return usable[0] if usable else None


def _usable(line: ClaimLine, claim: BillingClaim, ctx: RuleContext) -> list[Diagnosis]:
    on = ctx.date_for(line)
    return [
        d
        for d in sorted(claim.diagnoses, key=lambda d: d.sequence)
        if billable_on(d, on, claim, ctx)
    ]


@check(
    "DX-POINTER-MISSING", reads={"claim.diagnoses", "diagnosis_pointers", "diagnoses", "regions"}
)
def pointer_missing(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """A line points to 1-4 diagnoses that are on the claim, or the line is rejected."""
    listed_on_claim = {d.sequence for d in claim.diagnoses}
    for line in claim.lines:
        pointers = line.diagnosis_pointers
        if pointers and len(pointers) <= MAX_POINTERS and listed_on_claim.issuperset(pointers):
            continue
        dangling = [p for p in pointers if p not in listed_on_claim]
        if pointers and not dangling:
            codes = tuple(d.code for d in line.diagnoses)
            yield ctx.finding(
                "DX-POINTER-MISSING",
                line,
                Fix.review(codes),
                f"{line.code} has {len(pointers)} diagnosis pointers; a claim line carries at most "
                f"{MAX_POINTERS}: keep the ones it treats.",
            )
            continue
        target = best_pointer(line, claim, ctx)
        if target is None:
            on_claim = tuple(d.code for d in claim.diagnoses)
            why = "none is billable on its date" if on_claim else "the claim lists none"
            yield ctx.finding(
                "DX-POINTER-MISSING",
                line,
                Fix.review(on_claim),
                f"{line.code} has no diagnosis to point to ({why}): add the one it treats.",
            )
            continue
        kept = [d.sequence for d in line.diagnoses]
        if target.sequence not in kept and len(kept) >= MAX_POINTERS:
            target = line.diagnoses[0]
        if not pointers:
            problem = "has no diagnosis pointer"
        else:
            listed = ", ".join(map(str, dangling))
            problem = f"points to diagnosis {listed}, not on the claim"
        # A guessed pointer must not be what places a line in one region when the claim names
        # others: a different region is the evidence XS rests on, so a person picks.
        if not line.regions and _regions_disagree(claim, ctx.knowledge):
            choices = (target, *(d for d in _usable(line, claim, ctx) if d != target))
            yield ctx.finding(
                "DX-POINTER-MISSING",
                line,
                Fix.review(tuple(d.code for d in choices)),
                f"{line.code} {problem}: point it to the diagnosis it treated (the claim's "
                "diagnoses name more than one region).",
            )
            continue
        yield ctx.finding(
            "DX-POINTER-MISSING",
            line,
            Fix.add_diagnosis_pointer(target.sequence),
            f"{line.code} {problem}: point it to {target.sequence} ({target.code}).",
        )


def _regions_disagree(claim: BillingClaim, knowledge: Knowledge) -> bool:
    """The claim's diagnoses name anatomic regions that do not overlap (neck and low back)."""
    named = [r for d in claim.diagnoses if (r := knowledge.regions_for(d.code))]
    return any(a.isdisjoint(b) for i, a in enumerate(named) for b in named[i + 1 :])


@dataclass(frozen=True, slots=True)
class _Judgement:
    line: ClaimLine | None
    on: date | None
    verdict: Validity
    fix: Fix


def _judge(dx: Diagnosis, claim: BillingClaim, ctx: RuleContext) -> _Judgement | None:
    """DX-CODE-INVALID's verdict on one ICD-10-CM diagnosis, None when it is billable."""
    knowledge = ctx.knowledge
    release = knowledge.icd10_release
    if release is None or dx.system not in knowledge.codes.icd10cm_systems:
        return None
    users = [ln for ln in claim.lines if dx.sequence in ln.diagnosis_pointers]
    uses: list[tuple[ClaimLine | None, date | None]]
    if users:
        uses = [(ln, ctx.date_for(ln)) for ln in users]
    else:
        # An unpointed diagnosis is still on the claim: it must hold on every date of it.
        claim_dates = list(dict.fromkeys(ctx.date_for(ln) for ln in claim.lines)) or [ctx.as_of]
        uses = [(None, on) for on in claim_dates]
    verdicts: dict[date | None, Validity] = {}
    for _, on in uses:  # each date once: a claim's lines mostly share one
        if on not in verdicts:
            verdicts[on] = _validity(dx.code, on, knowledge)
    if all(verdict.billable for verdict in verdicts.values()):
        return None
    line, on = next((ln, on) for ln, on in uses if not verdicts[on].billable)
    verdict = verdicts[on]
    replacement = verdict.replacement
    # Automatic only for a pointed diagnosis whose one replacement holds wherever it is used;
    # an unpointed one is judged on dates that other fixes may remove, so a person decides.
    if (
        line is not None
        and replacement is not None
        and all(_validity(replacement, day, knowledge).billable for day in verdicts)
    ):
        return _Judgement(line, on, verdict, Fix.replace_diagnosis(dx.code, replacement))
    return _Judgement(line, on, verdict, Fix.review(verdict.candidates[:CANDIDATE_LIMIT]))


@check("DX-CODE-INVALID", reads={"claim.diagnoses", "diagnosis_pointers"})
def code_invalid(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """ICD-10-CM codes must be valid and billable (full length) on the date of service."""
    knowledge = ctx.knowledge
    if knowledge.icd10_release is None:
        return
    systems = knowledge.codes.icd10cm_systems
    # Most diagnoses are billable on every date of the claim, so on each date `_judge` would
    # read: said from the claim's dates (mostly one), without the lines that point to them.
    dates = {ctx.date_for(ln) for ln in claim.lines} or {ctx.as_of}
    for dx in claim.diagnoses:
        if dx.system not in systems:
            continue
        for on in dates:
            if not _validity(dx.code, on, knowledge).billable:
                break
        else:
            continue
        judged = _judge(dx, claim, ctx)
        if judged is not None:
            message = _invalid_message(dx, judged.on, judged.verdict, judged.fix)
            yield ctx.finding("DX-CODE-INVALID", judged.line, judged.fix, message)


def _invalid_message(dx: Diagnosis, on: date | None, verdict: Validity, fix: Fix) -> str:
    when = f" on {on.isoformat()}" if on else ""
    text = f"Diagnosis {dx.sequence} {dx.code} is {verdict.reason}{when}"
    if fix.replacement:
        return f"{text}: use {fix.replacement}."
    if not verdict.candidates:
        return f"{text}: code the diagnosis in full."
    shown = ", ".join(fix.candidates)
    more = (
        f" (first {len(fix.candidates)} of {len(verdict.candidates)})"
        if (len(verdict.candidates) > len(fix.candidates))
        else ""
    )
    return f"{text}: choose {shown}{more}."


@check("DX-SUPPORT-TRACTION", reads={"claim.diagnoses", "diagnosis_pointers", "diagnoses"})
def traction_support(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Traction is paid for cervical or lumbar radicular and disc conditions, not against
    cord compression, infection, malignancy, fracture or instability."""
    knowledge = ctx.knowledge
    code = knowledge.codes.traction_code
    traction = [line for line in claim.lines if line.code == code]
    if not traction:  # most claims: nothing sorted, no message begun
        return
    on_claim = sorted(icd10cm_diagnoses(claim.diagnoses, knowledge), key=lambda d: d.sequence)
    groups = supporting_groups(claim)
    for line in traction:
        if not line.diagnoses:
            continue  # DX-POINTER-MISSING speaks for a line that points to nothing
        pointed = icd10cm_diagnoses(line.diagnoses, knowledge)
        supported = any(knowledge.in_dx_group(d.code, *groups) for d in pointed)
        contraindicated = _contraindications(pointed, on_claim, knowledge)
        if supported:
            if contraindicated:
                yield ctx.finding("DX-SUPPORT-TRACTION", line, Fix.review(), contraindicated)
            continue
        if len(pointed) < len(line.diagnoses):
            # A diagnosis in another code system (SNOMED CT...) may be the support: not ours to
            # read, so the line is `unchecked` (rules/verdict.py), never called unsupported.
            if contraindicated:
                yield ctx.finding("DX-SUPPORT-TRACTION", line, Fix.review(), contraindicated)
            continue
        lacking = (
            "no spinal or radicular diagnosis"
            if groups == SUPPORTING
            else f"no diagnosis {claim.payer.label}'s traction policy accepts"
        )
        listed = "/".join(d.code for d in line.diagnoses)
        other = next(
            (
                d
                for d in on_claim
                if d.sequence not in line.diagnosis_pointers
                and knowledge.in_dx_group(d.code, *groups)
                and billable_on(d, ctx.date_for(line), claim, ctx)
            ),
            None,
        )
        if other is not None:
            room = len(line.diagnosis_pointers) < MAX_POINTERS
            fix = Fix.add_diagnosis_pointer(other.sequence) if room else Fix.review((other.code,))
            yield ctx.finding(
                "DX-SUPPORT-TRACTION",
                line,
                fix,
                f"97012 points to {listed}, {lacking}; the claim lists "
                f"{other.code}: point to it if documented.",
            )
            if contraindicated:
                yield ctx.finding("DX-SUPPORT-TRACTION", line, Fix.review(), contraindicated)
            continue
        message = (
            f"97012 points to {listed}, {lacking}: review medical necessity (ABN if not covered)."
        )
        yield ctx.finding(
            "DX-SUPPORT-TRACTION",
            line,
            Fix.review(),
            f"{contraindicated} Also: {message}" if contraindicated else message,
        )


def _contraindications(
    pointed: list[Diagnosis], on_claim: list[Diagnosis], knowledge: Knowledge
) -> str:
    """The contraindication message for a 97012 line ("" when none): pointed codes first."""
    where, hits = "97012 points to", _in_group(pointed, CONTRAINDICATION, knowledge)
    if not hits:
        where, hits = "the claim lists", _in_group(on_claim, CONTRAINDICATION, knowledge)
    if not hits:
        return ""
    named = ", ".join(f"{d.code} ({entry.label})" for d, entry in hits)
    return f"Traction may be contraindicated: {where} {named}; review before billing it."


def _in_group(
    diagnoses: list[Diagnosis], group: str, knowledge: Knowledge
) -> list[tuple[Diagnosis, DiagnosisGroupEntry]]:
    return [
        (d, entry)
        for d in diagnoses
        if (entry := knowledge.dx_group_entry(group, d.code)) is not None
    ]
