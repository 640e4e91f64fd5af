"""Chiropractic manipulative treatment: the code fits the spinal regions the subluxation
diagnoses name, and Medicare sees the subluxation first."""

from __future__ import annotations

from collections.abc import Iterator

from rules.checks.chiropractic import by_chiropractor
from rules.checks.diagnoses import icd10cm_diagnoses
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim, ClaimLine, Diagnosis

# Payer setting: only subluxation (M99.0x) diagnoses name the regions manipulated (Medicare).
SUBLUXATIONS_ONLY = "cmt_regions_by_subluxation"


def named_regions(claim: BillingClaim, ctx: RuleContext) -> list[str]:
    """The spinal regions the claim's diagnoses name, in the order listed: by subluxation codes,
    and by the other spinal diagnoses unless the payer counts subluxations only (Medicare)."""
    knowledge = ctx.knowledge
    codes = knowledge.codes
    spinal = frozenset(codes.subluxation_regions.values())
    subluxations_only = claim.payer.flag(SUBLUXATIONS_ONLY)
    found: list[str] = []
    for dx in sorted_icd10cm(claim, ctx):
        region = codes.subluxation_region(dx.code)
        if region is not None:
            found.append(region)
        elif not subluxations_only:
            found += sorted(knowledge.regions_for(dx.code) & spinal)
    return list(dict.fromkeys(found))


def sorted_icd10cm(claim: BillingClaim, ctx: RuleContext) -> list[Diagnosis]:
    """The claim's ICD-10-CM diagnoses by sequence (the first is the primary)."""
    return sorted(icd10cm_diagnoses(claim.diagnoses, ctx.knowledge), key=lambda d: d.sequence)


@check("CMT-REGIONS", review_only=True, only_with=lambda codes: codes.cmt_regions)
def regions_fit_code(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """98940 covers 1-2 spinal regions, 98941 3-4, 98942 5: the diagnoses name them."""
    spans = ctx.knowledge.codes.cmt_regions
    regions = named_regions(claim, ctx)
    if not regions:
        return  # nothing names a spinal region (MCR-CMT-SUBLUX-PRIMARY speaks for Medicare)
    count = len(regions)
    which = "subluxation diagnoses" if claim.payer.flag(SUBLUXATIONS_ONLY) else "diagnoses"
    for line in claim.lines:
        span = spans.get(line.code)
        if span is None or count >= span[0]:
            continue
        fits = tuple(code for code, (low, high) in spans.items() if low <= count <= high)
        instead = f", else bill {'/'.join(fits)}" if fits else ""
        yield ctx.finding(
            "CMT-REGIONS",
            line,
            Fix.review(fits),
            f"{line.code} is billed for {_span(span)} spinal regions but the claim's {which} "
            f"name {count} ({', '.join(regions)}): list the diagnosis (M99.0x subluxation) of "
            f"each other region treated{instead}.",
        )


def _span(span: tuple[int, int]) -> str:
    low, high = span
    return str(low) if low == high else f"{low}-{high}"


def chiropractic_claim_line(line: ClaimLine) -> bool:
    """Furnished by a chiropractor, or by nobody the claim names."""
    return not line.disciplines or by_chiropractor(line)


@check(
    "MCR-CMT-SUBLUX-PRIMARY",
    review_only=True,
    only_with=lambda codes: codes.medicare_chiropractor_covered,
)
def subluxation_primary(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Medicare covers manipulation to correct a subluxation: the claim lists it first."""
    codes = ctx.knowledge.codes
    diagnoses = sorted(claim.diagnoses, key=lambda d: d.sequence)
    if diagnoses and diagnoses[0].system not in codes.icd10cm_systems:
        return  # a primary diagnosis in another code system is not ours to read
    if diagnoses and codes.subluxation_region(diagnoses[0].code) is not None:
        return
    listed = next(
        (d for d in sorted_icd10cm(claim, ctx) if codes.subluxation_region(d.code) is not None),
        None,
    )
    low, high = min(codes.subluxation_regions), max(codes.subluxation_regions)
    for line in claim.lines:
        if line.code not in codes.medicare_chiropractor_covered:
            continue
        if not chiropractic_claim_line(line):
            continue
        primary = f"{diagnoses[0].code} as primary diagnosis" if diagnoses else "no diagnosis"
        if listed is not None:
            fix = Fix.review((listed.code,))
            how = f"list {listed.code} (diagnosis {listed.sequence}) first"
        else:
            fix = Fix.review()
            how = f"add the subluxation level treated ({low}-{high}) as the first diagnosis"
        yield ctx.finding(
            "MCR-CMT-SUBLUX-PRIMARY",
            line,
            fix,
            f"{line.code} to Medicare lists {primary}: Medicare pays manipulation only to correct "
            f"a subluxation, listed as the primary diagnosis; {how}.",
        )
