"""SNF consolidated billing: therapy for a resident of a Medicare skilled nursing facility is
billed by the facility, not on the therapist's own claim."""

from __future__ import annotations

from collections.abc import Iterator

from rules.checks.injury_encounter import therapy_line
from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim, Severity


@check("MCR-SNF-CB", review_only=True)
def snf_consolidated_billing(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """POS 31: the SNF bills the therapy; POS 32: it does if the bed is a certified SNF bed."""
    codes = ctx.knowledge.codes
    for line in claim.lines:
        if line.pos is None or not therapy_line(line, codes):
            continue
        if line.pos in codes.snf_pos:
            severity = None
            message = (
                f"{line.code} at POS {line.pos} (skilled nursing facility): therapy for a SNF "
                "resident is under consolidated billing, in a Part A stay or not; the SNF bills "
                "Medicare and pays the therapist. Do not bill it on this claim."
            )
        elif line.pos in codes.nursing_facility_pos:
            severity = Severity.INFO  # only a Medicare-certified SNF bed is subject
            message = (
                f"{line.code} at POS {line.pos} (nursing facility): if the patient lives in a "
                "Medicare-certified SNF bed, the therapy is under SNF consolidated billing and "
                "the facility bills it."
            )
        else:
            continue
        yield ctx.finding("MCR-SNF-CB", line, Fix.review(), message, severity)
