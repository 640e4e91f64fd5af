"""Bundled codes: a PFS status B service is never paid on its own line."""

from __future__ import annotations

from collections.abc import Iterator

from rules.engine import RuleContext, check
from rules.findings import Finding, Fix
from rules.model import BillingClaim


@check("MCR-STATUS-B", only_with=lambda codes: codes.pfs_status_b, reads=())
def status_b(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
    """Status B codes (97010 hot/cold packs) are paid inside the day's other services only."""
    bundled = ctx.knowledge.codes.pfs_status_b
    for line in claim.lines:
        if line.code in bundled:
            yield ctx.finding(
                "MCR-STATUS-B",
                line,
                Fix.remove_line(),
                f"{line.code} is a bundled service (PFS status B): it is never paid separately "
                "and the patient cannot be billed for it; remove the line (bill it only if the "
                "patient asks for a denial for a secondary payer).",
            )
