"""The outcomes report: remittance joined to the findings of the same Claims, per rule."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plugin.remittance.reconcile import ImportNotes, StoredPayment, check_claims, reconcile
from rules.denial_reasons import load_denial_reasons
from rules.knowledge.model import Knowledge


def outcomes_report(
    payments: Sequence[StoredPayment],
    provider_adjustments: dict[str, Any],
    claims: Sequence[Path],
    knowledge: Knowledge,
    notes: ImportNotes | None = None,
) -> dict[str, Any]:
    """The report dict (docs/outcomes.md) for the Claims of a Bulk export against stored
    remittance. Raises ScanError for unreadable claim inputs, PackError for a bad
    denial_reasons.csv."""
    reasons = load_denial_reasons(knowledge.rules.keys())
    checked = check_claims(claims, knowledge)
    summaries = {rid: spec.summary for rid, spec in knowledge.rules.items()}
    report = reconcile(payments, checked, reasons, summaries, notes)
    report["remittance"]["provider_level_adjustments"] = provider_adjustments
    return report
