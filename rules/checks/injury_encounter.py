"""Injury codes on therapy lines: therapy is the healing phase (7th character D), not the
encounter of active treatment (A)."""

from __future__ import annotations

from collections.abc import Iterator

from rules.checks.diagnoses import icd10cm_diagnoses
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.icd10cm import validity
from rules.knowledge.model import CodeFacts
from rules.model import BillingClaim, ClaimLine, Diagnosis


def therapy_line(line: ClaimLine, codes: CodeFacts) -> bool:
    return line.code in codes.always_therapy or not codes.therapy_modifiers.keys().isdisjoint(
        line.modifiers
    )


def active_treatment_injury(dx: Diagnosis, codes: CodeFacts) -> bool:
    """A 7-character injury code (chapter 19) whose 7th character marks active treatment."""
    code = dx.code.replace(".", "").upper()
    return (
        len(code) == 7
        and code.startswith(codes.injury_prefixes)
        and code[-1] == codes.injury_active
    )


@check(
    "DX-INJURY-7TH",
    reads={"claim.diagnoses", "diagnosis_pointers"},
    reads_modifiers=lambda codes: codes.therapy_modifiers,
)
def injury_seventh_character(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Advise D on an injury code that only therapy lines point to and that carries A."""
    knowledge = ctx.knowledge
    codes = knowledge.codes
    for dx in icd10cm_diagnoses(claim.diagnoses, knowledge):
        if not active_treatment_injury(dx, codes):
            continue
        users = [ln for ln in claim.lines if dx.sequence in ln.diagnosis_pointers]
        if not users or not all(therapy_line(ln, codes) for ln in users):
            continue  # unpointed, or a physician's line may be the active treatment
        healing = dx.code[:-1] + codes.injury_healing
        release = knowledge.icd10_release
        billable = release is not None and all(
            validity(healing, ctx.date_for(ln), release, knowledge.icd10_changes).billable
            for ln in users
        )
        fix = Fix.replace_diagnosis(dx.code, healing) if billable else Fix.review()
        use = f"use {healing}" if billable else f"use the code's {codes.injury_healing} form"
        yield ctx.finding(
            "DX-INJURY-7TH",
            users[0],
            fix,
            f"Diagnosis {dx.sequence} {dx.code} is an injury coded for the initial encounter "
            f"({codes.injury_active}: active treatment); therapy is the healing or recovery "
            f"phase: {use} (subsequent encounter).",
        )
