"""How the checks see a claim's lines: grouped by date of service."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from rules.model import ClaimLine


def by_date(lines: Iterable[ClaimLine]) -> dict[date | None, list[ClaimLine]]:
    """Lines per date of service, in claim order (a line without a date groups with its kind)."""
    days: dict[date | None, list[ClaimLine]] = {}
    for line in lines:
        days.setdefault(line.date, []).append(line)
    return days
