"""What the billing model reader keeps and reuses gives the very model a fresh read would."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from plugin.claim_check import ClaimChecker
from plugin.references import ResourceIndex
from rules.knowledge.load import load_knowledge
from rules.payers import effective_dates, resolve_payer
from tests.builders import ClaimBuilder

KNOWLEDGE = load_knowledge()
CHECKER = ClaimChecker(KNOWLEDGE)

# -- payer profiles, kept per Coverage and payer era ----------------------------------------------

AETNA = {"display": "Aetna"}  # aetna-commercial, in force from 2023-12-01


def _coverage(sopt: str) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": "cov1",
        "status": "active",
        "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": sopt}]},
        "payor": [AETNA],
    }


def _claim(created: date) -> dict[str, Any]:
    builder = ClaimBuilder(payer="5", dos=created.isoformat())
    builder.line("97110", ["GP"], units=1)
    claim = builder.build()
    claim["created"] = f"{created.isoformat()}T18:00:00Z"
    return claim


def test_a_coverage_read_on_each_side_of_every_effective_date_is_resolved_as_of_that_day() -> None:
    """The day before and the day an entry takes effect fall in different eras; claims of the
    same Coverage read in any order get what `resolve_payer` gives on their own date."""
    dates = effective_dates(KNOWLEDGE)
    assert date(2023, 12, 1) in dates
    index = ResourceIndex([(None, _coverage("5"))])
    days = [d + timedelta(days=shift) for d in dates for shift in (-1, 0, 1)]
    for on in [*days, *reversed(days)]:
        expected = resolve_payer(KNOWLEDGE, ["5"], [], ["Aetna"], on)
        assert CHECKER.builder.build(_claim(on), index).payer == expected, on
