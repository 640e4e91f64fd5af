"""Which payer profile a claim is billed under: SOPT family plus the payer's own settings."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import date

from rules.knowledge.model import Knowledge, PayerEntry
from rules.model import PayerProfile


def family_for_sopt(knowledge: Knowledge, sopt_codes: Sequence[str]) -> str | None:
    """The family of the first SOPT code that matches, by its longest listed prefix."""
    prefixes = knowledge.payers.sopt_families
    for code in sopt_codes:
        for length in range(len(code), 0, -1):
            family = prefixes.get(code[:length])
            if family is not None:
                return family
    return None


def effective_dates(knowledge: Knowledge) -> tuple[date, ...]:
    """The payers' effective_from dates, in order: the only dates `resolve_payer` reads `on`
    against."""
    return tuple(sorted({e.effective_from for e in knowledge.payers.payers if e.effective_from}))


def payer_era(dates: tuple[date, ...], on: date | None) -> int:
    """How many of `dates` (`effective_dates`) `on` has reached: two dates of one era resolve
    to the same payer profile, so it keys a memo of them."""
    return len(dates) if on is None else bisect_right(dates, on)


def _matches(entry: PayerEntry, payer_ids: Sequence[str], payer_names: Sequence[str]) -> bool:
    if entry.payer_ids.intersection(payer_ids):
        return True
    lowered = [n.lower() for n in payer_names]
    return any(name in text for name in entry.names for text in lowered)


def resolve_payer(
    knowledge: Knowledge,
    sopt_codes: Sequence[str] = (),
    payer_ids: Sequence[str] = (),
    payer_names: Sequence[str] = (),
    on: date | None = None,
) -> PayerProfile:
    family = family_for_sopt(knowledge, sopt_codes)
    for entry in knowledge.payers.payers:
        if family is not None and entry.family != family:
            continue
        if entry.effective_from is not None and on is not None and on < entry.effective_from:
            continue
        if _matches(entry, payer_ids, payer_names):
            settings = {**knowledge.payers.family_settings[entry.family], **entry.settings}
            return PayerProfile(entry.id, entry.family, entry.label, settings)
    known = family is not None
    family = family or "other"
    return PayerProfile(
        family,
        family,
        knowledge.payers.family_labels.get(family, family),
        dict(knowledge.payers.family_settings[family]),
        known=known,
    )
